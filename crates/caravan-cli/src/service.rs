//! `caravan service ...`: list, info, delete: the catalog of service instances.

mod delete;
mod info;
mod list;

use std::process::ExitCode;

use serde_json::Value;

use crate::ui::Ctx;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum ServiceCommand {
    /// List the registered services, with their tags.
    List(list::ListArgs),
    /// Show the instances of a service: job, address, tags, node, allocation, health.
    Info(info::InfoArgs),
    /// Remove one instance of a service from the catalog.
    Delete(delete::DeleteArgs),
}

impl ServiceCommand {
    pub(crate) fn run(self, ctx: &mut Ctx<'_>) -> anyhow::Result<ExitCode> {
        match self {
            ServiceCommand::List(args) => args.run(ctx),
            ServiceCommand::Info(args) => args.run(ctx),
            ServiceCommand::Delete(args) => args.run(ctx),
        }
    }
}

/// Tags as Nomad prints them: `[cache,db]`.
pub(crate) fn format_tags(tags: &[Value]) -> String {
    let tags: Vec<&str> = tags.iter().filter_map(Value::as_str).collect();
    format!("[{}]", tags.join(","))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn tags_in_brackets() {
        assert_eq!(format_tags(&[json!("cache"), json!("db")]), "[cache,db]");
        assert_eq!(format_tags(&[]), "[]");
    }
}
