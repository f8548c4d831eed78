//! Service registration: what an allocation advertises in the catalog and with what
//! health. [`plan_services`] works out each `service` block's registration (pure),
//! its address resolved as Nomad does ([`AddressInputs`]); the [`ServiceRegistrar`]
//! keeps the catalog equal to what runs.

mod address;
mod planned;
mod registrar;

pub use address::{AddressError, AddressInputs};
pub use planned::{PlanInputs, PlannedCheck, PlannedService, plan_services};
pub use registrar::{RegistrarDeps, ServiceRegistrar};
