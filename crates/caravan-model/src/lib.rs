//! Caravan's domain model: jobs and everything in them, nodes, allocations,
//! evaluations, plans and service registrations (with rendezvous [`choose`]), with
//! Nomad's JSON shape (PascalCase, durations in nanoseconds), Nomad's defaults
//! ([`Job::canonicalize`]) and validation that reports every problem at once with its
//! path ([`Job::validate`]).
//!
//! This crate does no I/O, reads no clock and knows no runtime: it is shared by the
//! job file parser, the server, the scheduler and the client alike.

mod alloc;
mod canonicalize;
mod check_status;
mod choose;
mod connect;
mod constraint;
mod duration;
mod eval;
mod group;
mod health;
mod hex;
mod ids;
mod job;
mod json;
mod network;
mod node;
mod policy;
mod registration;
mod service;
mod task;
mod template;
mod validate;

pub use alloc::*;
pub use check_status::{CheckMode, CheckStatus};
pub use choose::{Choose, ChooseError, choose};
pub use connect::*;
pub use constraint::*;
pub use duration::{Duration, ParseDurationError};
pub use eval::*;
pub use group::*;
pub use health::{HealthStatus, ParseHealthError};
pub use ids::*;
pub use job::*;
pub use json::{JobJsonError, job_from_json, strip_nulls};
pub use network::*;
pub use node::*;
pub use policy::*;
pub use registration::{
    NOMAD_CHECK_ID_PREFIX, NOMAD_ID_SPACE, REGISTRATION_ID_PREFIX, SERVICE_MAINTENANCE_PREFIX,
    ServiceProvider, ServiceRegistration,
};
pub use service::*;
pub use task::*;
pub use template::*;
pub use validate::{Segment, ValidationError, ValidationErrors};
