//! `caravan service list [-json]`: every service with the tags of its instances.

use std::process::ExitCode;

use anyhow::Context;
use serde_json::Value;

use super::format_tags;
use crate::fields::Fields;
use crate::table::Table;
use crate::ui::Ctx;

#[derive(Debug, clap::Args)]
pub(crate) struct ListArgs {
    /// Print the agent's JSON.
    #[arg(long)]
    json: bool,
}

impl ListArgs {
    pub(crate) fn run(self, ctx: &mut Ctx<'_>) -> anyhow::Result<ExitCode> {
        let client = ctx.client()?;
        let list = client
            .get("/v1/services")
            .context("listing service registrations")?;
        let namespaces = list.as_array().map(Vec::as_slice).unwrap_or_default();
        if namespaces.is_empty() {
            ctx.ui.out("No service registrations found");
        } else if self.json {
            ctx.ui.out(serde_json::to_string_pretty(&list)?);
        } else {
            let all_namespaces = client.namespace() == Some("*");
            ctx.ui.outs(service_list(namespaces, all_namespaces));
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// `Service Name  [Namespace]  Tags`, by namespace then name; the namespace column
/// only when every namespace was asked for.
pub(crate) fn service_list(namespaces: &[Value], all_namespaces: bool) -> Vec<String> {
    let mut rows: Vec<(&str, &str, String)> = namespaces
        .iter()
        .flat_map(|ns| {
            ns.arr_at("Services").iter().map(move |s| {
                let mut tags: Vec<Value> = s.arr_at("Tags").to_vec();
                tags.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
                (
                    ns.str_at("Namespace"),
                    s.str_at("ServiceName"),
                    format_tags(&tags),
                )
            })
        })
        .collect();
    rows.sort();
    let mut header = vec!["Service Name"];
    if all_namespaces {
        header.push("Namespace");
    }
    header.push("Tags");
    let mut t = Table::new(&header);
    for (ns, name, tags) in rows {
        if all_namespaces {
            t.row([name.to_owned(), ns.to_owned(), tags]);
        } else {
            t.row([name.to_owned(), tags]);
        }
    }
    t.lines()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fixture() -> Value {
        json!([
            {"Namespace": "prod", "Services": [{"ServiceName": "api", "Tags": []}]},
            {"Namespace": "default", "Services": [
                {"ServiceName": "redis", "Tags": ["db", "cache"]},
                {"ServiceName": "app", "Tags": ["http"]},
            ]},
        ])
    }

    #[test]
    fn one_namespace() {
        let list = json!([{"Namespace": "default", "Services": [
            {"ServiceName": "redis", "Tags": ["db", "cache"]},
            {"ServiceName": "app", "Tags": ["http"]},
        ]}]);
        assert_eq!(
            service_list(list.as_array().expect("array"), false),
            [
                "Service Name  Tags",
                "app           [http]",
                "redis         [cache,db]",
            ]
        );
    }

    #[test]
    fn every_namespace_adds_its_column() {
        assert_eq!(
            service_list(fixture().as_array().expect("array"), true),
            [
                "Service Name  Namespace  Tags",
                "app           default    [http]",
                "redis         default    [cache,db]",
                "api           prod       []",
            ]
        );
    }
}
