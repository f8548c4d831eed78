//! `caravan alloc status ID`: the allocation's header, its addresses, and for each task
//! its state, resources and events.

use std::process::ExitCode;

use anyhow::Context;
use serde_json::Value;

use super::alloc_tasks;
use crate::alloc_list::job_version;
use crate::fields::{Fields, enc, id_len};
use crate::prefix::{Kind, resolve};
use crate::table::{Table, kv};
use crate::timefmt::{now_ns, reformat_rfc3339, relative, rfc3339};
use crate::ui::Ctx;
use crate::units;

/// Events shown per task unless -verbose.
const RECENT_EVENTS: usize = 10;

#[derive(Debug, clap::Args)]
pub(crate) struct StatusArgs {
    /// Print the agent's JSON.
    #[arg(long)]
    json: bool,
    /// Full ids and every task event.
    #[arg(long)]
    verbose: bool,
    /// The allocation's id, or a unique prefix of it.
    #[arg(value_name = "ID")]
    id: String,
}

impl StatusArgs {
    pub(crate) fn run(self, ctx: &mut Ctx<'_>) -> anyhow::Result<ExitCode> {
        let client = ctx.client()?;
        let id = resolve(&client, Kind::Alloc, &self.id)?;
        let alloc = client
            .get(&format!("/v1/allocation/{}", enc(&id)))
            .with_context(|| format!("reading allocation {id:?}"))?;
        if self.json {
            ctx.ui.out(serde_json::to_string_pretty(&alloc)?);
            return Ok(ExitCode::SUCCESS);
        }
        // Usage figures are a bonus: an agent without them still gets a status.
        let stats = if alloc.str_at("ClientStatus") == "running" {
            client
                .get(&format!("/v1/client/allocation/{}/stats", enc(&id)))
                .ok()
        } else {
            None
        };
        ctx.ui
            .outs(render_alloc(&alloc, stats.as_ref(), now_ns(), self.verbose));
        Ok(ExitCode::SUCCESS)
    }
}

/// Everything `alloc status` prints.
pub(crate) fn render_alloc(
    alloc: &Value,
    stats: Option<&Value>,
    now: i64,
    verbose: bool,
) -> Vec<String> {
    let id = |key: &str| id_len(alloc.str_at(key), verbose).to_owned();
    let mut header = vec![
        ("ID", id("ID")),
        ("Eval ID", id("EvalID")),
        ("Name", alloc.str_at("Name").to_owned()),
        ("Node ID", id("NodeID")),
        ("Node Name", alloc.str_at("NodeName").to_owned()),
        ("Job ID", alloc.str_at("JobID").to_owned()),
        ("Job Version", job_version(alloc).to_string()),
        ("Client Status", alloc.str_at("ClientStatus").to_owned()),
        (
            "Client Description",
            alloc.str_at("ClientDescription").to_owned(),
        ),
        ("Desired Status", alloc.str_at("DesiredStatus").to_owned()),
        (
            "Desired Description",
            alloc.str_at("DesiredDescription").to_owned(),
        ),
        ("Created", relative(alloc.i64_at("CreateTime"), now)),
        ("Modified", relative(alloc.i64_at("ModifyTime"), now)),
    ];
    if !alloc.str_at("DeploymentID").is_empty() {
        header.push(("Deployment ID", id("DeploymentID")));
        let health = match alloc["DeploymentStatus"]
            .get("Healthy")
            .and_then(Value::as_bool)
        {
            Some(true) => "healthy",
            Some(false) => "unhealthy",
            None => "unset",
        };
        header.push(("Deployment Health", health.to_owned()));
    }
    if !alloc.str_at("NextAllocation").is_empty() {
        header.push(("Replacement Alloc ID", id("NextAllocation")));
    }
    let mut lines = kv(&header);

    let addresses = address_lines(alloc);
    if !addresses.is_empty() {
        lines.push(String::new());
        lines.extend(addresses);
    }
    let ns = &alloc["NetworkStatus"];
    if !ns.str_at("Address").is_empty() {
        lines.push(String::new());
        lines.push("Network Status:".to_owned());
        lines.extend(kv(&[
            ("Interface", ns.str_at("InterfaceName").to_owned()),
            ("Address", ns.str_at("Address").to_owned()),
        ]));
    }

    for task in alloc_tasks(alloc) {
        lines.push(String::new());
        lines.extend(task_lines(alloc, stats, &task, verbose));
    }
    lines
}

/// The group's mode as the job gives it ("host" when unset).
fn network_mode(alloc: &Value) -> String {
    let group = alloc.str_at("TaskGroup");
    let mode = alloc["Job"]
        .arr_at("TaskGroups")
        .iter()
        .find(|g| g.str_at("Name") == group)
        .and_then(|g| g.arr_at("Networks").first())
        .map(|n| n.str_at("Mode"))
        .unwrap_or_default();
    if mode.is_empty() {
        "host".to_owned()
    } else {
        mode.to_owned()
    }
}

/// Labels the job reserves statically (everything else was picked dynamically).
fn static_labels(alloc: &Value) -> Vec<String> {
    let group = alloc.str_at("TaskGroup");
    alloc["Job"]
        .arr_at("TaskGroups")
        .iter()
        .filter(|g| g.str_at("Name") == group)
        .flat_map(|g| g.arr_at("Networks"))
        .flat_map(|n| n.arr_at("ReservedPorts"))
        .map(|p| p.str_at("Label").to_owned())
        .collect()
}

/// `Allocation Addresses (mode = "host"):` and the `Label  Dynamic  Address` table,
/// dynamic labels marked with `*`; nothing when the allocation has no ports.
pub(crate) fn address_lines(alloc: &Value) -> Vec<String> {
    let shared = &alloc["AllocatedResources"]["Shared"];
    // label, host ip, host port, inner port, dynamic?
    let mut ports: Vec<(String, String, i64, i64, Option<bool>)> = shared
        .arr_at("Ports")
        .iter()
        .map(|p| {
            (
                p.str_at("Label").to_owned(),
                p.str_at("HostIP").to_owned(),
                p.i64_at("Value"),
                p.i64_at("To"),
                None,
            )
        })
        .collect();
    if ports.is_empty() {
        // The older shape: ports listed on the shared network resources.
        for net in shared.arr_at("Networks") {
            for (key, dynamic) in [("ReservedPorts", false), ("DynamicPorts", true)] {
                for p in net.arr_at(key) {
                    let ip = net.str_at("IP").to_owned();
                    ports.push((
                        p.str_at("Label").to_owned(),
                        ip,
                        p.i64_at("Value"),
                        p.i64_at("To"),
                        Some(dynamic),
                    ));
                }
            }
        }
    }
    if ports.is_empty() {
        return Vec::new();
    }
    let statics = static_labels(alloc);
    let mut t = Table::new(&["Label", "Dynamic", "Address"]);
    for (label, ip, value, to, dynamic) in ports {
        let dynamic = dynamic.unwrap_or_else(|| !statics.contains(&label));
        let mut address = format!("{ip}:{value}");
        if to > 0 && to != value {
            address.push_str(&format!(" -> {to}"));
        }
        let label = if dynamic { format!("*{label}") } else { label };
        t.row([
            label,
            if dynamic { "yes" } else { "no" }.to_owned(),
            address,
        ]);
    }
    let mut lines = vec![format!(
        "Allocation Addresses (mode = {:?}):",
        network_mode(alloc)
    )];
    lines.extend(t.lines());
    lines
}

fn task_lines(alloc: &Value, stats: Option<&Value>, task: &str, verbose: bool) -> Vec<String> {
    let state = &alloc["TaskStates"][task];
    let status = match state.str_at("State") {
        "" => "pending",
        s => s,
    };
    let mut lines = vec![format!("Task {task:?} is {status:?}")];

    lines.push("Task Resources:".to_owned());
    let granted = &alloc["AllocatedResources"]["Tasks"][task];
    let cpu = granted["Cpu"].i64_at("CpuShares");
    let mem = granted["Memory"].i64_at("MemoryMB");
    let usage = stats
        .map(|s| &s["Tasks"][task]["ResourceUsage"])
        .filter(|u| u.is_object());
    let (cpu_text, mem_text) = match usage {
        Some(u) => (
            format!(
                "{:.0}/{cpu} MHz",
                u["CpuStats"]
                    .get("TotalTicks")
                    .and_then(Value::as_f64)
                    .unwrap_or(0.0)
            ),
            format!(
                "{}/{}",
                units::bytes(u["MemoryStats"].u64_at("RSS")),
                units::megabytes(mem)
            ),
        ),
        None => (format!("{cpu} MHz"), units::megabytes(mem)),
    };
    let mut t = Table::new(&["CPU", "Memory"]);
    t.row([cpu_text, mem_text]);
    lines.extend(t.lines());

    lines.push(String::new());
    lines.push("Task Events:".to_owned());
    lines.extend(kv(&[
        (
            "Started At",
            reformat_rfc3339(state.get("StartedAt").and_then(Value::as_str)),
        ),
        (
            "Finished At",
            reformat_rfc3339(state.get("FinishedAt").and_then(Value::as_str)),
        ),
        ("Total Restarts", state.u64_at("Restarts").to_string()),
        (
            "Last Restart",
            reformat_rfc3339(state.get("LastRestart").and_then(Value::as_str)),
        ),
    ]));
    lines.push(String::new());
    lines.push("Recent Events:".to_owned());
    lines.extend(event_table(
        state.arr_at("Events"),
        if verbose { usize::MAX } else { RECENT_EVENTS },
    ));
    lines
}

/// `Time  Type  Description`, newest first, at most `limit` rows.
pub(crate) fn event_table(events: &[Value], limit: usize) -> Vec<String> {
    let mut sorted: Vec<&Value> = events.iter().collect();
    sorted.sort_by_key(|e| std::cmp::Reverse(e.i64_at("Time")));
    let mut t = Table::new(&["Time", "Type", "Description"]);
    for e in sorted.into_iter().take(limit) {
        t.row([
            rfc3339(e.i64_at("Time")),
            e.str_at("Type").to_owned(),
            describe(e),
        ]);
    }
    t.lines()
}

/// The event's own message, else one made from its details.
fn describe(event: &Value) -> String {
    let shown = event.str_at("DisplayMessage");
    if !shown.is_empty() {
        return shown.to_owned();
    }
    let mut parts = Vec::new();
    if let Some(code) = event.get("ExitCode").and_then(Value::as_i64) {
        parts.push(format!("Exit Code: {code}"));
    }
    if let Some(signal) = event
        .get("Signal")
        .and_then(Value::as_i64)
        .filter(|s| *s != 0)
    {
        parts.push(format!("Signal: {signal}"));
    }
    for key in event.keys_at("Details") {
        parts.push(format!("{key}: {}", event["Details"].str_at(key)));
    }
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    const S: i64 = 1_000_000_000;
    const NOW: i64 = 1_714_557_600 * S;

    fn fixture() -> Value {
        json!({
            "ID": "8ba85cef-1111-2222-3333-444455556666",
            "EvalID": "61b0b423-0000",
            "Name": "example.cache[0]",
            "NodeID": "171a583b-0000",
            "NodeName": "dev",
            "JobID": "example",
            "Job": {"Version": 2, "TaskGroups": [{"Name": "cache",
                "Networks": [{"Mode": "host", "ReservedPorts": [{"Label": "admin", "Value": 8080}],
                              "DynamicPorts": [{"Label": "redis", "To": 6379}]}],
                "Tasks": [{"Name": "redis"}]}]},
            "TaskGroup": "cache",
            "ClientStatus": "running",
            "ClientDescription": "Tasks are running",
            "DesiredStatus": "run",
            "DesiredDescription": "",
            "CreateTime": NOW - 62 * S,
            "ModifyTime": NOW - 3 * S,
            "AllocatedResources": {
                "Tasks": {"redis": {"Cpu": {"CpuShares": 500}, "Memory": {"MemoryMB": 256}}},
                "Shared": {"Ports": [
                    {"Label": "redis", "Value": 23456, "To": 6379, "HostIP": "127.0.0.1"},
                    {"Label": "admin", "Value": 8080, "To": 0, "HostIP": "127.0.0.1"}]}
            },
            "TaskStates": {"redis": {
                "State": "running", "Restarts": 0, "StartedAt": "2024-05-01T09:59:00.5Z", "FinishedAt": null,
                "Events": [
                    {"Type": "Received", "Time": NOW - 61 * S, "DisplayMessage": "Task received by client"},
                    {"Type": "Started", "Time": NOW - 60 * S, "DisplayMessage": "Task started by client"},
                    {"Type": "Task Setup", "Time": NOW - 61 * S + 1, "DisplayMessage": "Building Task Directory"}
                ]}}
        })
    }

    #[test]
    fn address_table_marks_dynamic_ports() {
        assert_eq!(
            address_lines(&fixture()),
            [
                "Allocation Addresses (mode = \"host\"):",
                "Label   Dynamic  Address",
                "*redis  yes      127.0.0.1:23456 -> 6379",
                "admin   no       127.0.0.1:8080",
            ]
        );
        assert!(
            address_lines(&json!({"AllocatedResources": {"Shared": {"Ports": []}}})).is_empty()
        );
    }

    #[test]
    fn address_table_from_legacy_networks() {
        let alloc = json!({"AllocatedResources": {"Shared": {"Networks": [{"IP": "10.0.0.5",
            "ReservedPorts": [{"Label": "http", "Value": 80}],
            "DynamicPorts": [{"Label": "db", "Value": 25000, "To": 5432}]}]}}});
        assert_eq!(
            address_lines(&alloc)[1..],
            [
                "Label  Dynamic  Address",
                "http   no       10.0.0.5:80",
                "*db    yes      10.0.0.5:25000 -> 5432"
            ]
        );
    }

    #[test]
    fn full_status() {
        let text = render_alloc(&fixture(), None, NOW, false).join("\n");
        let expected = "\
ID                  = 8ba85cef
Eval ID             = 61b0b423
Name                = example.cache[0]
Node ID             = 171a583b
Node Name           = dev
Job ID              = example
Job Version         = 2
Client Status       = running
Client Description  = Tasks are running
Desired Status      = run
Desired Description = <none>
Created             = 1m2s ago
Modified            = 3s ago

Allocation Addresses (mode = \"host\"):
Label   Dynamic  Address
*redis  yes      127.0.0.1:23456 -> 6379
admin   no       127.0.0.1:8080

Task \"redis\" is \"running\"
Task Resources:
CPU      Memory
500 MHz  256 MiB

Task Events:
Started At     = 2024-05-01T09:59:00Z
Finished At    = N/A
Total Restarts = 0
Last Restart   = N/A

Recent Events:
Time                  Type        Description
2024-05-01T09:59:00Z  Started     Task started by client
2024-05-01T09:58:59Z  Task Setup  Building Task Directory
2024-05-01T09:58:59Z  Received    Task received by client";
        assert_eq!(text, expected);
    }

    #[test]
    fn usage_from_stats_and_event_fallbacks() {
        let stats = json!({"Tasks": {"redis": {"ResourceUsage": {
            "CpuStats": {"TotalTicks": 12.4}, "MemoryStats": {"RSS": 26_214_400}}}}});
        let lines = render_alloc(&fixture(), Some(&stats), NOW, false);
        assert!(
            lines.contains(&"12/500 MHz  25.0 MiB/256 MiB".to_owned()),
            "{lines:#?}"
        );
        let e = json!({"Type": "Terminated", "Time": NOW, "ExitCode": 1, "Details": {"oom_killed": "false"}});
        assert_eq!(describe(&e), "Exit Code: 1, oom_killed: false");
        assert_eq!(event_table(&[e.clone(), e], 1).len(), 2);
    }
}
