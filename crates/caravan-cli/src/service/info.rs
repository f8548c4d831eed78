//! `caravan service info [-verbose] [-json] NAME`: the instances of a service, with the
//! health our catalog keeps for each (a column Nomad does not have).

use std::process::ExitCode;

use anyhow::{Context, anyhow};
use serde_json::Value;

use super::format_tags;
use crate::client::{Client, with_param};
use crate::fields::{Fields, enc, id_len};
use crate::table::{Table, kv};
use crate::ui::Ctx;

#[derive(Debug, clap::Args)]
pub(crate) struct InfoArgs {
    /// Print the agent's JSON.
    #[arg(long)]
    json: bool,
    /// Every field of each instance, and its checks.
    #[arg(long)]
    verbose: bool,
    /// The service's name, or a unique prefix of it.
    #[arg(value_name = "NAME")]
    name: String,
}

impl InfoArgs {
    pub(crate) fn run(self, ctx: &mut Ctx<'_>) -> anyhow::Result<ExitCode> {
        let client = ctx.client()?;
        let (namespace, name) = resolve_service(&client, &self.name)?;
        let path = with_param(
            &format!("/v1/service/{}", enc(&name)),
            "namespace",
            &namespace,
        );
        let instances = client
            .get(&path)
            .with_context(|| format!("reading service {name:?}"))?;
        let list = instances.as_array().map(Vec::as_slice).unwrap_or_default();
        if list.is_empty() {
            ctx.ui.out("No service registrations found");
        } else if self.json {
            ctx.ui.out(serde_json::to_string_pretty(&instances)?);
        } else {
            ctx.ui.outs(service_info(list, self.verbose));
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// The namespace and full name of the service `prefix` names: an exact name wins, else
/// the one service whose name starts with it.
fn resolve_service(client: &Client, prefix: &str) -> anyhow::Result<(String, String)> {
    let path = with_param("/v1/services", "prefix", prefix);
    let list = client.get(&path).context("listing service registrations")?;
    pick_service(&list, prefix).context("finding the service")
}

fn pick_service(list: &Value, prefix: &str) -> anyhow::Result<(String, String)> {
    let found: Vec<(&str, &str)> = list
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .flat_map(|ns| {
            ns.arr_at("Services")
                .iter()
                .map(move |s| (ns.str_at("Namespace"), s.str_at("ServiceName")))
        })
        .filter(|(_, name)| name.starts_with(prefix))
        .collect();
    let exact: Vec<(&str, &str)> = found
        .iter()
        .copied()
        .filter(|(_, name)| *name == prefix)
        .collect();
    let candidates = if exact.is_empty() { found } else { exact };
    match candidates.as_slice() {
        [] => Err(anyhow!("no service registrations with prefix {prefix:?}")),
        [(ns, name)] => Ok(((*ns).to_owned(), (*name).to_owned())),
        many => {
            let names: Vec<String> = many
                .iter()
                .map(|(ns, name)| format!("{name} (namespace {ns})"))
                .collect();
            Err(anyhow!(
                "prefix {prefix:?} matches several services: {}",
                names.join(", ")
            ))
        }
    }
}

/// The instances as a table (`Job ID  Address  Tags  Node ID  Alloc ID  Health`), or
/// with `verbose` each instance's fields and checks; ordered by job id.
pub(crate) fn service_info(instances: &[Value], verbose: bool) -> Vec<String> {
    let mut sorted: Vec<&Value> = instances.iter().collect();
    sorted.sort_by(|a, b| a.str_at("JobID").cmp(b.str_at("JobID")));
    if verbose {
        return sorted.into_iter().flat_map(instance_detail).collect();
    }
    let mut t = Table::new(&["Job ID", "Address", "Tags", "Node ID", "Alloc ID", "Health"]);
    for r in sorted {
        t.row([
            r.str_at("JobID").to_owned(),
            address(r),
            format_tags(r.arr_at("Tags")),
            id_len(r.str_at("NodeID"), false).to_owned(),
            id_len(r.str_at("AllocID"), false).to_owned(),
            r.str_at("Health").to_owned(),
        ]);
    }
    t.lines()
}

/// One instance's fields, its checks, and a blank line.
fn instance_detail(r: &Value) -> Vec<String> {
    let mut lines = kv(&[
        ("ID", r.str_at("ID").to_owned()),
        ("Service Name", r.str_at("ServiceName").to_owned()),
        ("Namespace", r.str_at("Namespace").to_owned()),
        ("Job ID", r.str_at("JobID").to_owned()),
        ("Alloc ID", r.str_at("AllocID").to_owned()),
        ("Node ID", r.str_at("NodeID").to_owned()),
        ("Datacenter", r.str_at("Datacenter").to_owned()),
        ("Address", address(r)),
        ("Tags", format_tags(r.arr_at("Tags"))),
        ("Provider", r.str_at("Provider").to_owned()),
        ("Health", r.str_at("Health").to_owned()),
    ]);
    let checks = r.arr_at("Checks");
    if !checks.is_empty() {
        lines.push(String::new());
        let mut t = Table::new(&["Check", "Type", "Status", "Output"]);
        for c in checks {
            let status = if c.i64_at("Timestamp") == 0 {
                "pending".to_owned()
            } else {
                c.str_at("Status").to_owned()
            };
            t.row([
                c.str_at("Name").to_owned(),
                c.str_at("Type").to_owned(),
                status,
                c.str_at("Output").lines().next().unwrap_or("").to_owned(),
            ]);
        }
        lines.extend(t.lines());
    }
    lines.push(String::new());
    lines
}

/// `address:port` (`[v6]:port`), or the address alone without a port.
fn address(r: &Value) -> String {
    let address = r.str_at("Address");
    match r.u64_at("Port") {
        0 => address.to_owned(),
        port if address.contains(':') => format!("[{address}]:{port}"),
        port => format!("{address}:{port}"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn instances() -> Vec<Value> {
        vec![
            json!({"ID": "_nomad-task-9a1b2c3d-aaaa-redis-redis-db", "ServiceName": "redis",
            "Namespace": "default", "NodeID": "171a583b-0000-1111", "Datacenter": "dc1",
            "JobID": "zeta", "AllocID": "9a1b2c3d-aaaa", "Tags": ["db"], "Address": "fd00::5",
            "Port": 23457, "Provider": "nomad", "Health": "critical",
            "Checks": [
                {"Name": "alive", "Type": "tcp", "Status": "critical",
                 "Output": "connection refused\nmore", "Timestamp": 5},
                {"Name": "ready", "Type": "http", "Status": "critical", "Output": "", "Timestamp": 0},
            ]}),
            json!({"ID": "_nomad-task-5f8e1e2a-bbbb-redis-redis-db", "ServiceName": "redis",
                   "Namespace": "default", "NodeID": "171a583b-0000-1111", "Datacenter": "dc1",
                   "JobID": "example", "AllocID": "5f8e1e2a-bbbb", "Tags": ["cache", "db"],
                   "Address": "10.0.0.5", "Port": 23456, "Provider": "nomad", "Health": "passing",
                   "Checks": []}),
        ]
    }

    #[test]
    fn table_sorted_by_job_with_health() {
        assert_eq!(
            service_info(&instances(), false),
            [
                "Job ID   Address          Tags        Node ID   Alloc ID  Health",
                "example  10.0.0.5:23456   [cache,db]  171a583b  5f8e1e2a  passing",
                "zeta     [fd00::5]:23457  [db]        171a583b  9a1b2c3d  critical",
            ]
        );
    }

    #[test]
    fn verbose_lists_fields_and_checks() {
        let lines = service_info(&instances(), true);
        let expected_first = [
            "ID           = _nomad-task-5f8e1e2a-bbbb-redis-redis-db",
            "Service Name = redis",
            "Namespace    = default",
            "Job ID       = example",
            "Alloc ID     = 5f8e1e2a-bbbb",
            "Node ID      = 171a583b-0000-1111",
            "Datacenter   = dc1",
            "Address      = 10.0.0.5:23456",
            "Tags         = [cache,db]",
            "Provider     = nomad",
            "Health       = passing",
            "",
        ];
        assert_eq!(&lines[..expected_first.len()], expected_first);
        let rest = &lines[expected_first.len()..];
        assert!(
            rest.contains(&"Health       = critical".to_owned()),
            "{rest:#?}"
        );
        let checks: Vec<&String> = rest
            .iter()
            .skip_while(|l| !l.starts_with("Check"))
            .collect();
        assert_eq!(
            checks,
            [
                "Check  Type  Status    Output",
                "alive  tcp   critical  connection refused",
                "ready  http  pending",
                "",
            ]
        );
    }

    #[test]
    fn an_address_without_a_port_prints_alone() {
        assert_eq!(
            address(&json!({"Address": "10.0.0.1", "Port": 0})),
            "10.0.0.1"
        );
    }

    #[test]
    fn exact_name_wins_then_unique_prefix() {
        let list = json!([
            {"Namespace": "default", "Services": [{"ServiceName": "redis"}, {"ServiceName": "redis-cache"}, {"ServiceName": "web"}]},
            {"Namespace": "prod", "Services": [{"ServiceName": "web"}]},
        ]);
        let pick = |p: &str| pick_service(&list, p).map_err(|e| e.to_string());
        assert_eq!(pick("redis"), Ok(("default".into(), "redis".into())));
        assert_eq!(pick("redis-"), Ok(("default".into(), "redis-cache".into())));
        assert_eq!(
            pick("re"),
            Err(r#"prefix "re" matches several services: redis (namespace default), redis-cache (namespace default)"#.into())
        );
        assert!(
            pick("web")
                .expect_err("two namespaces")
                .contains("namespace prod")
        );
        assert_eq!(
            pick("x"),
            Err(r#"no service registrations with prefix "x""#.into())
        );
    }
}
