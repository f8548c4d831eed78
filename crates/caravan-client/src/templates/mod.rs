//! A task's `template` blocks: rendered before the task starts (it starts only once
//! every template has been written, so once every catalog query has answered),
//! written atomically inside the task directory with their permissions, loaded into
//! the task's environment with `env = true`, and rendered again when the catalog
//! changes, with their `change_mode` carried out.
//!
//! Not supported: `uid`/`gid` (files belong to the agent's user), Vault and Nomad
//! variables (the template crate has no such functions), and KV (see
//! [`CatalogContext`]).

mod catalog_context;
mod destination;
mod error;
mod task_templates;
mod template_watch;

pub use catalog_context::{CatalogContext, instance, watched_name};
pub use destination::{Destination, parse_perms};
pub use error::TemplateError;
pub use task_templates::{ChangeMode, RenderReport, TaskTemplates, TemplateInputs};
pub use template_watch::{TemplateAction, TemplateWatch};
