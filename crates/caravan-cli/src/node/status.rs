//! `caravan node status [ID]`: the node list, or one node's header, resources and
//! allocations.

use std::process::ExitCode;

use anyhow::Context;
use serde_json::Value;

use super::node_id;
use crate::alloc_list::alloc_table;
use crate::fields::{Fields, enc, id_len};
use crate::table::{Table, kv};
use crate::timefmt::now_ns;
use crate::ui::Ctx;
use crate::units;

#[derive(Debug, clap::Args)]
pub(crate) struct StatusArgs {
    /// Print the agent's JSON.
    #[arg(long)]
    json: bool,
    /// Full ids, and every attribute and meta entry.
    #[arg(long)]
    verbose: bool,
    /// Show the node of the agent the CLI talks to.
    #[arg(long = "self")]
    self_: bool,
    /// The node's id, or a unique prefix of it; without it, list every node.
    #[arg(value_name = "ID")]
    id: Option<String>,
}

impl StatusArgs {
    pub(crate) fn run(self, ctx: &mut Ctx<'_>) -> anyhow::Result<ExitCode> {
        let client = ctx.client()?;
        if self.id.is_none() && !self.self_ {
            let nodes = client.get("/v1/nodes").context("listing nodes")?;
            if self.json {
                ctx.ui.out(serde_json::to_string_pretty(&nodes)?);
            } else {
                ctx.ui.outs(node_list(
                    nodes.as_array().map(Vec::as_slice).unwrap_or_default(),
                    self.verbose,
                ));
            }
            return Ok(ExitCode::SUCCESS);
        }
        let id = node_id(&client, self.id.as_deref(), self.self_)?;
        let path = format!("/v1/node/{}", enc(&id));
        let what = || format!("reading node {id:?}");
        let node = client.get(&path).with_context(what)?;
        if self.json {
            ctx.ui.out(serde_json::to_string_pretty(&node)?);
            return Ok(ExitCode::SUCCESS);
        }
        let allocs = client
            .get(&format!("{path}/allocations"))
            .with_context(what)?;
        let allocs = allocs.as_array().map(Vec::as_slice).unwrap_or_default();
        ctx.ui
            .outs(render_node(&node, allocs, now_ns(), self.verbose));
        Ok(ExitCode::SUCCESS)
    }
}

/// `ID  Node Pool  DC  Name  Class  Drain  Eligibility  Status`.
pub(crate) fn node_list(nodes: &[Value], verbose: bool) -> Vec<String> {
    if nodes.is_empty() {
        return vec!["No nodes registered".to_owned()];
    }
    let mut sorted: Vec<&Value> = nodes.iter().collect();
    sorted.sort_by(|a, b| {
        a.str_at("Name")
            .cmp(b.str_at("Name"))
            .then_with(|| a.str_at("ID").cmp(b.str_at("ID")))
    });
    let mut t = Table::new(&[
        "ID",
        "Node Pool",
        "DC",
        "Name",
        "Class",
        "Drain",
        "Eligibility",
        "Status",
    ]);
    for n in sorted {
        t.row([
            id_len(n.str_at("ID"), verbose).to_owned(),
            n.str_at("NodePool").to_owned(),
            n.str_at("Datacenter").to_owned(),
            n.str_at("Name").to_owned(),
            or_none(n.str_at("NodeClass")),
            n.bool_at("Drain").to_string(),
            n.str_at("SchedulingEligibility").to_owned(),
            n.str_at("Status").to_owned(),
        ]);
    }
    t.lines()
}

fn or_none(s: &str) -> String {
    if s.is_empty() {
        "<none>".to_owned()
    } else {
        s.to_owned()
    }
}

/// Everything `node status ID` prints.
pub(crate) fn render_node(node: &Value, allocs: &[Value], now: i64, verbose: bool) -> Vec<String> {
    let drivers: Vec<&str> = node
        .keys_at("Drivers")
        .into_iter()
        .filter(|d| {
            node["Drivers"][*d].bool_at("Detected") && node["Drivers"][*d].bool_at("Healthy")
        })
        .collect();
    let attributes = node
        .get("Attributes")
        .and_then(Value::as_object)
        .map_or(0, |m| m.len());
    let mut lines = kv(&[
        ("ID", id_len(node.str_at("ID"), verbose).to_owned()),
        ("Name", node.str_at("Name").to_owned()),
        ("Node Pool", node.str_at("NodePool").to_owned()),
        ("Class", node.str_at("NodeClass").to_owned()),
        ("DC", node.str_at("Datacenter").to_owned()),
        ("Address", node.str_at("HTTPAddr").to_owned()),
        ("Drain", node.bool_at("Drain").to_string()),
        (
            "Eligibility",
            node.str_at("SchedulingEligibility").to_owned(),
        ),
        ("Status", node.str_at("Status").to_owned()),
        ("Drivers", drivers.join(",")),
        (
            "Attributes",
            format!(
                "{attributes}{}",
                if verbose {
                    ""
                } else {
                    " (-verbose lists them)"
                }
            ),
        ),
    ]);

    lines.push(String::new());
    lines.push("Allocated Resources".to_owned());
    let live: Vec<&Value> = allocs.iter().filter(|a| is_live(a)).collect();
    let (mut cpu, mut mem, mut disk) = (0i64, 0i64, 0i64);
    for a in &live {
        let res = &a["AllocatedResources"];
        for task in res.keys_at("Tasks") {
            cpu += res["Tasks"][task]["Cpu"].i64_at("CpuShares");
            mem += res["Tasks"][task]["Memory"].i64_at("MemoryMB");
        }
        disk += res["Shared"].i64_at("DiskMB");
    }
    let total = &node["NodeResources"];
    let reserved = &node["ReservedResources"];
    let capacity = |key: &str, field: &str| total[key].i64_at(field) - reserved[key].i64_at(field);
    let mut t = Table::new(&["CPU", "Memory", "Disk"]);
    t.row([
        format!("{cpu}/{} MHz", capacity("Cpu", "CpuShares")),
        format!(
            "{}/{}",
            units::megabytes(mem),
            units::megabytes(capacity("Memory", "MemoryMB"))
        ),
        format!(
            "{}/{}",
            units::megabytes(disk),
            units::megabytes(capacity("Disk", "DiskMB"))
        ),
    ]);
    lines.extend(t.lines());

    lines.push(String::new());
    lines.push("Allocations".to_owned());
    if allocs.is_empty() {
        lines.push("No allocations placed".to_owned());
    } else {
        lines.extend(alloc_table(allocs, now, verbose));
    }

    if verbose {
        for (title, key) in [("Attributes", "Attributes"), ("Meta", "Meta")] {
            let pairs: Vec<(&str, String)> = node
                .keys_at(key)
                .into_iter()
                .map(|k| (k, node[key].str_at(k).to_owned()))
                .collect();
            if !pairs.is_empty() {
                lines.push(String::new());
                lines.push(title.to_owned());
                lines.extend(kv(&pairs));
            }
        }
    }
    lines
}

/// Whether an allocation still holds its resources on the node.
fn is_live(alloc: &Value) -> bool {
    !matches!(alloc.str_at("ClientStatus"), "complete" | "failed" | "lost")
        && matches!(alloc.str_at("DesiredStatus"), "run" | "")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn node_list_table() {
        let nodes = [
            json!({"ID": "171a583b-aaaa", "NodePool": "default", "Datacenter": "dc1", "Name": "dev",
                            "NodeClass": "", "Drain": false, "SchedulingEligibility": "eligible", "Status": "ready"}),
        ];
        assert_eq!(
            node_list(&nodes, false),
            [
                "ID        Node Pool  DC   Name  Class   Drain  Eligibility  Status",
                "171a583b  default    dc1  dev   <none>  false  eligible     ready",
            ]
        );
        assert_eq!(node_list(&[], false), ["No nodes registered"]);
    }

    #[test]
    fn node_detail_sums_live_allocations() {
        let node = json!({
            "ID": "171a583b-aaaa", "Name": "dev", "NodePool": "default", "NodeClass": "", "Datacenter": "dc1",
            "HTTPAddr": "127.0.0.1:4646", "Drain": false, "SchedulingEligibility": "eligible", "Status": "ready",
            "Drivers": {"raw_exec": {"Detected": true, "Healthy": true}, "docker": {"Detected": false, "Healthy": false}},
            "Attributes": {"kernel.name": "linux", "cpu.arch": "amd64"},
            "NodeResources": {"Cpu": {"CpuShares": 4000}, "Memory": {"MemoryMB": 8192}, "Disk": {"DiskMB": 10000}},
            "ReservedResources": {"Cpu": {"CpuShares": 0}, "Memory": {"MemoryMB": 0}, "Disk": {"DiskMB": 0}}
        });
        let res = json!({"Tasks": {"redis": {"Cpu": {"CpuShares": 500}, "Memory": {"MemoryMB": 256}}}, "Shared": {"DiskMB": 300}});
        let allocs = [
            json!({"ID": "aaaaaaaa-1", "NodeID": "171a583b-aaaa", "TaskGroup": "cache", "DesiredStatus": "run",
                   "ClientStatus": "running", "AllocatedResources": res.clone()}),
            json!({"ID": "bbbbbbbb-1", "NodeID": "171a583b-aaaa", "TaskGroup": "cache", "DesiredStatus": "stop",
                   "ClientStatus": "complete", "AllocatedResources": res}),
        ];
        let lines = render_node(&node, &allocs, 0, false);
        assert!(
            lines.contains(&"Drivers     = raw_exec".to_owned()),
            "{lines:#?}"
        );
        assert!(
            lines.contains(&"Attributes  = 2 (-verbose lists them)".to_owned()),
            "{lines:#?}"
        );
        assert!(
            lines.contains(&"500/4000 MHz  256 MiB/8.0 GiB  300 MiB/9.8 GiB".to_owned()),
            "{lines:#?}"
        );
        let verbose = render_node(&node, &allocs, 0, true);
        assert!(
            verbose.contains(&"kernel.name = linux".to_owned()),
            "{verbose:#?}"
        );
    }
}
