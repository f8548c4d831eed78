//! A task's `template` blocks: rendered before the task starts (it starts only once
//! every template has been written, so once every catalog query has answered),
//! written atomically inside the task directory with their permissions, loaded into
//! the task's environment with `env = true`, and rendered again when the catalog or
//! the KV store changes, with their `change_mode` carried out.
//!
//! Not supported: `uid`/`gid` (files belong to the agent's user), Vault and Nomad
//! variables (the template crate has no such functions).

mod catalog_context;
mod changes;
mod destination;
mod error;
mod task_templates;
mod template_watch;

pub use catalog_context::{CatalogContext, instance, watched_kv, watched_name};
pub use changes::TemplateChanges;
pub use destination::{Destination, parse_perms};
pub use error::TemplateError;
pub use task_templates::{ChangeMode, RenderReport, TaskTemplates, TemplateInputs};
pub use template_watch::{TemplateAction, TemplateWatch};
