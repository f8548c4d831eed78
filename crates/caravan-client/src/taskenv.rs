//! The task's runtime environment: every `NOMAD_*` variable Nomad gives a task, the
//! task's own `env` (interpolated), and `${...}` interpolation of strings and driver
//! config against that environment and the node's attributes.
//!
//! Pure: everything comes in through [`TaskEnvInputs`]; nothing here reads the
//! process environment, the clock or the file system.
//!
//! Precedence when building the map (later wins), as in the digest, section 2.1:
//! computed `NOMAD_*` < `NOMAD_META_*` < host env (only where absent) < task `env`
//! (values interpolated) < hook env < template `env = true` output. Last, keys with
//! the prefixes `NOMAD_ADDR_`, `NOMAD_IP_`, `NOMAD_PORT_`, `NOMAD_HOST_PORT_` and
//! `NOMAD_META_` are cleaned (every byte outside `[A-Za-z0-9_.]` becomes `_`); other
//! keys are kept as they are, which is Nomad's quirk: label `my-port` gives
//! `NOMAD_PORT_my_port` but `NOMAD_HOST_ADDR_my-port`.
//!
//! Not handled here: legacy task-level `resources { network {} }` ports (digest 2.3),
//! Connect upstream variables (2.4), workload identity and Vault tokens, and the
//! `env["key"]` HCL form inside driver config (such references are left as they are).

use std::collections::BTreeMap;
use std::path::Path;

use caravan_model::{
    AllocNetworkStatus, AllocatedPortMapping, Allocation, Job, Node, Task, TaskGroup,
};

/// Keys with these prefixes are cleaned after the map is built.
const CLEANED_PREFIXES: [&str; 5] = [
    "NOMAD_ADDR_",
    "NOMAD_IP_",
    "NOMAD_PORT_",
    "NOMAD_HOST_PORT_",
    "NOMAD_META_",
];

/// Everything the task environment is computed from.
#[derive(Debug, Clone)]
pub struct TaskEnvInputs<'a> {
    pub alloc: &'a Allocation,
    pub job: &'a Job,
    pub group: &'a TaskGroup,
    pub task: &'a Task,
    pub node: &'a Node,
    /// The agent's region (`NOMAD_REGION`, `${node.region}`).
    pub region: &'a str,
    /// The allocation directory on the host: `<data_dir>/alloc/<alloc_id>`.
    pub alloc_dir: &'a Path,
    /// Whether the driver isolates the file system (docker, exec): then the task sees
    /// `/alloc`, `/local` and `/secrets`; otherwise (raw_exec) the host paths.
    pub isolated: bool,
    /// The allocation's own namespace, in bridge mode; `None` in host mode.
    pub network_status: Option<&'a AllocNetworkStatus>,
    /// The agent's environment, for drivers that inherit it; only fills absent keys.
    pub host_env: BTreeMap<String, String>,
    /// Variables set by hooks (devices, ...), over the task's `env`.
    pub hook_env: BTreeMap<String, String>,
    /// The output of templates with `env = true`: the highest precedence.
    pub template_env: BTreeMap<String, String>,
}

impl<'a> TaskEnvInputs<'a> {
    /// Inputs with the job's region (or "global"), a non-isolated driver, the
    /// allocation's own network status and no host, hook or template variables.
    pub fn new(
        alloc: &'a Allocation,
        job: &'a Job,
        group: &'a TaskGroup,
        task: &'a Task,
        node: &'a Node,
        alloc_dir: &'a Path,
    ) -> Self {
        Self {
            alloc,
            job,
            group,
            task,
            node,
            region: job
                .region
                .as_deref()
                .filter(|r| !r.is_empty())
                .unwrap_or("global"),
            alloc_dir,
            isolated: false,
            network_status: alloc.network_status.as_ref(),
            host_env: BTreeMap::new(),
            hook_env: BTreeMap::new(),
            template_env: BTreeMap::new(),
        }
    }
}

/// A task's environment, and the node values `${...}` may also refer to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskEnv {
    env: BTreeMap<String, String>,
    node_values: BTreeMap<String, String>,
}

impl TaskEnv {
    /// Computes the environment with Nomad's semantics and precedence.
    pub fn build(inputs: &TaskEnvInputs<'_>) -> TaskEnv {
        let node_values = node_values(inputs.node, inputs.region);
        let mut env = BTreeMap::new();
        add_identity(&mut env, inputs);
        add_resources(&mut env, inputs);
        add_dirs(&mut env, inputs);
        add_ports(&mut env, inputs);
        add_meta(&mut env, inputs);
        for (k, v) in &inputs.host_env {
            env.entry(k.clone()).or_insert_with(|| v.clone());
        }
        // Task env values see the map as it stands before any of them is applied, so
        // the result does not depend on the order of the task's keys. Cleaned aliases
        // are visible too, so `${NOMAD_PORT_my_port}` resolves as well as the raw key.
        let lookup = TaskEnv {
            env: with_cleaned_aliases(&env),
            node_values: node_values.clone(),
        };
        for (k, v) in &inputs.task.env {
            env.insert(k.clone(), lookup.interpolate(v));
        }
        env.extend(inputs.hook_env.iter().map(|(k, v)| (k.clone(), v.clone())));
        env.extend(
            inputs
                .template_env
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        TaskEnv {
            env: clean_keys(env),
            node_values,
        }
    }

    /// The variables the task is started with.
    pub fn env(&self) -> &BTreeMap<String, String> {
        &self.env
    }

    pub fn into_env(self) -> BTreeMap<String, String> {
        self.env
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.env.get(key).map(String::as_str)
    }

    /// The `${node.*}`, `${attr.*}` and `${meta.*}` values.
    pub fn node_values(&self) -> &BTreeMap<String, String> {
        &self.node_values
    }

    /// The value of a `${name}` reference: the env first, then node values.
    pub fn lookup(&self, name: &str) -> Option<&str> {
        self.env
            .get(name)
            .or_else(|| self.node_values.get(name))
            .map(String::as_str)
    }

    /// Replaces every `${name}` (name: `[a-zA-Z0-9_\-.]+`) with its value; an unknown
    /// reference is left as it is, as Nomad does.
    pub fn interpolate(&self, input: &str) -> String {
        let mut out = String::with_capacity(input.len());
        let mut rest = input;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let name_len = after.bytes().take_while(|&b| is_name_byte(b)).count();
            if name_len > 0 && after.as_bytes().get(name_len) == Some(&b'}') {
                let name = &after[..name_len];
                match self.lookup(name) {
                    Some(value) => out.push_str(value),
                    None => out.push_str(&rest[start..start + 3 + name_len]),
                }
                rest = &after[name_len + 1..];
            } else {
                // Not a reference here; a match may still start at the next byte, as
                // in `$${a}` or `${${a}}`.
                out.push('$');
                rest = &rest[start + 1..];
            }
        }
        out.push_str(rest);
        out
    }

    /// Interpolates every string in a JSON tree (driver config): values in arrays and
    /// objects, and object keys.
    pub fn interpolate_json(&self, value: &serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        match value {
            Value::String(s) => Value::String(self.interpolate(s)),
            Value::Array(items) => {
                Value::Array(items.iter().map(|v| self.interpolate_json(v)).collect())
            }
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (self.interpolate(k), self.interpolate_json(v)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// Interpolates a driver config map (as [`Task::config`] holds it).
    pub fn interpolate_config(
        &self,
        config: &BTreeMap<String, serde_json::Value>,
    ) -> BTreeMap<String, serde_json::Value> {
        config
            .iter()
            .map(|(k, v)| (self.interpolate(k), self.interpolate_json(v)))
            .collect()
    }
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.')
}

/// Every byte outside `[A-Za-z0-9_.]` becomes `_` (bytes, not chars: `é` gives `__`).
pub fn clean_env_key(key: &str) -> String {
    key.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b == b'_' || b == b'.' {
                b as char
            } else {
                '_'
            }
        })
        .collect()
}

fn needs_cleaning(key: &str) -> bool {
    CLEANED_PREFIXES.iter().any(|p| key.starts_with(p))
}

/// Cleans the prefixed keys. When two keys clean to the same one, a key that was
/// already clean wins, so the result does not depend on iteration order.
fn clean_keys(env: BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut dirty = Vec::new();
    for (k, v) in env {
        if needs_cleaning(&k) {
            let cleaned = clean_env_key(&k);
            if cleaned != k {
                dirty.push((cleaned, v));
                continue;
            }
        }
        out.insert(k, v);
    }
    for (k, v) in dirty {
        out.entry(k).or_insert(v);
    }
    out
}

fn with_cleaned_aliases(env: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut out = env.clone();
    for (k, v) in env {
        if needs_cleaning(k) {
            out.entry(clean_env_key(k)).or_insert_with(|| v.clone());
        }
    }
    out
}

fn node_values(node: &Node, region: &str) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    let pool = if node.node_pool.is_empty() {
        "default"
    } else {
        node.node_pool.as_str()
    };
    for (k, v) in [
        ("node.unique.id", node.id.as_str()),
        ("node.unique.name", node.name.as_str()),
        ("node.datacenter", node.datacenter.as_str()),
        ("node.region", region),
        ("node.class", node.node_class.as_str()),
        ("node.pool", pool),
    ] {
        values.insert(k.to_owned(), v.to_owned());
    }
    for (k, v) in &node.attributes {
        values.insert(format!("attr.{k}"), v.clone());
        values.insert(format!("node.attr.{k}"), v.clone());
    }
    for (k, v) in &node.meta {
        values.insert(format!("meta.{k}"), v.clone());
        values.insert(format!("node.meta.{k}"), v.clone());
    }
    values
}

fn set(env: &mut BTreeMap<String, String>, key: impl Into<String>, value: impl ToString) {
    env.insert(key.into(), value.to_string());
}

fn add_identity(env: &mut BTreeMap<String, String>, inputs: &TaskEnvInputs<'_>) {
    let alloc = inputs.alloc;
    let job = inputs.job;
    set(env, "NOMAD_ALLOC_ID", &alloc.id);
    set(env, "NOMAD_SHORT_ALLOC_ID", alloc.id.short());
    set(env, "NOMAD_ALLOC_NAME", &alloc.name);
    set(env, "NOMAD_ALLOC_INDEX", alloc.index());
    set(env, "NOMAD_JOB_ID", &job.id);
    let job_name = if job.name.is_empty() {
        job.id.as_str()
    } else {
        job.name.as_str()
    };
    set(env, "NOMAD_JOB_NAME", job_name);
    if let Some(parent) = job.parent_id.as_deref().filter(|p| !p.is_empty()) {
        set(env, "NOMAD_JOB_PARENT_ID", parent);
    }
    set(env, "NOMAD_GROUP_NAME", &inputs.group.name);
    set(env, "NOMAD_TASK_NAME", &inputs.task.name);
    set(env, "NOMAD_DC", &inputs.node.datacenter);
    set(env, "NOMAD_REGION", inputs.region);
    let namespace = [Some(alloc.namespace.as_str()), job.namespace.as_deref()]
        .into_iter()
        .flatten()
        .find(|n| !n.is_empty())
        .unwrap_or("default");
    set(env, "NOMAD_NAMESPACE", namespace);
}

/// From the allocated resources; when the allocation carries none for the task (an
/// allocation made by hand, in tests), from the task's own `resources` block.
fn add_resources(env: &mut BTreeMap<String, String>, inputs: &TaskEnvInputs<'_>) {
    let allocated = inputs
        .alloc
        .allocated_resources
        .tasks
        .get(&inputs.task.name);
    let asked = inputs.task.resources.as_ref();
    let (cpu, cores, memory, memory_max) = match allocated {
        Some(r) => (
            r.cpu.cpu_shares,
            r.cpu.reserved_cores.clone(),
            r.memory.memory_mb,
            r.memory.memory_max_mb,
        ),
        None => (
            asked.and_then(|r| r.cpu).unwrap_or(0),
            Vec::new(),
            asked.and_then(|r| r.memory_mb).unwrap_or(0),
            asked.and_then(|r| r.memory_max_mb).unwrap_or(0),
        ),
    };
    if allocated.is_some() || asked.is_some() {
        set(env, "NOMAD_CPU_LIMIT", cpu);
        set(env, "NOMAD_MEMORY_LIMIT", memory);
    }
    if memory_max > 0 {
        set(env, "NOMAD_MEMORY_MAX_LIMIT", memory_max);
    }
    if !cores.is_empty() {
        set(env, "NOMAD_CPU_CORES", cpuset_list(&cores));
    }
}

/// `[0, 1, 2, 7]` -> `"0-2,7"`.
pub fn cpuset_list(cores: &[u16]) -> String {
    let mut sorted = cores.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut parts: Vec<String> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let first = sorted[i];
        let mut last = first;
        while i + 1 < sorted.len() && sorted[i + 1] == last + 1 {
            i += 1;
            last = sorted[i];
        }
        parts.push(if first == last {
            first.to_string()
        } else {
            format!("{first}-{last}")
        });
        i += 1;
    }
    parts.join(",")
}

fn add_dirs(env: &mut BTreeMap<String, String>, inputs: &TaskEnvInputs<'_>) {
    let (alloc, local, secrets) = if inputs.isolated {
        (
            "/alloc".to_owned(),
            "/local".to_owned(),
            "/secrets".to_owned(),
        )
    } else {
        let task_dir = inputs.alloc_dir.join(&inputs.task.name);
        (
            inputs.alloc_dir.join("alloc").display().to_string(),
            task_dir.join("local").display().to_string(),
            task_dir.join("secrets").display().to_string(),
        )
    };
    set(env, "NOMAD_ALLOC_DIR", alloc);
    set(env, "NOMAD_TASK_DIR", local);
    set(env, "NOMAD_SECRETS_DIR", secrets);
}

fn add_meta(env: &mut BTreeMap<String, String>, inputs: &TaskEnvInputs<'_>) {
    let mut meta = inputs.job.meta.clone();
    meta.extend(inputs.group.meta.clone());
    meta.extend(inputs.task.meta.clone());
    for (k, v) in meta {
        set(env, format!("NOMAD_META_{}", k.to_uppercase()), &v);
        set(env, format!("NOMAD_META_{k}"), v);
    }
}

/// The group's ports, each with its host address (the node's when the allocation
/// names none): what `NOMAD_*` port variables and drivers' port publishing use.
pub(crate) fn group_ports(alloc: &Allocation, node: &Node) -> Vec<AllocatedPortMapping> {
    let mut ports = allocated_ports(alloc);
    // An allocation should always name the host IP; fall back to the node's first
    // address rather than produce ":23456".
    let fallback_ip = node
        .node_resources
        .networks
        .first()
        .map(|n| n.ip.clone())
        .unwrap_or_default();
    for p in &mut ports {
        if p.host_ip.is_empty() {
            p.host_ip = fallback_ip.clone();
        }
    }
    ports
}

/// The group's ports as granted. Nomad reads `AllocatedResources.Shared.Ports`; when
/// an allocation carries only the older `Shared.Networks` form, its ports are used.
pub(crate) fn allocated_ports(alloc: &Allocation) -> Vec<AllocatedPortMapping> {
    let shared = &alloc.allocated_resources.shared;
    let mut ports = shared.ports.clone();
    if ports.is_empty() {
        for net in &shared.networks {
            for p in net.ports() {
                ports.push(AllocatedPortMapping {
                    label: p.label.clone(),
                    value: u16::try_from(p.value).unwrap_or(0),
                    to: p.to,
                    host_ip: net.ip.clone(),
                });
            }
        }
    }
    ports
}

fn join_host_port(ip: &str, port: impl std::fmt::Display) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

fn add_ports(env: &mut BTreeMap<String, String>, inputs: &TaskEnvInputs<'_>) {
    for p in group_ports(inputs.alloc, inputs.node) {
        let l = &p.label;
        let host_port = p.value;
        // `to = -1` means "same as the host port"; the scheduler normally rewrites it,
        // but an allocation that still carries it must not produce port -1.
        let port = if p.to > 0 { p.to } else { i64::from(host_port) };
        set(env, format!("NOMAD_IP_{l}"), &p.host_ip);
        set(env, format!("NOMAD_HOST_IP_{l}"), &p.host_ip);
        set(
            env,
            format!("NOMAD_ADDR_{l}"),
            join_host_port(&p.host_ip, host_port),
        );
        set(
            env,
            format!("NOMAD_HOST_ADDR_{l}"),
            join_host_port(&p.host_ip, host_port),
        );
        set(env, format!("NOMAD_HOST_PORT_{l}"), host_port);
        set(env, format!("NOMAD_PORT_{l}"), port);
        set(env, format!("NOMAD_ALLOC_PORT_{l}"), port);
        if let Some(ns) = inputs.network_status {
            set(env, format!("NOMAD_ALLOC_IP_{l}"), &ns.address);
            set(
                env,
                format!("NOMAD_ALLOC_ADDR_{l}"),
                join_host_port(&ns.address, port),
            );
            set(
                env,
                format!("NOMAD_ALLOC_INTERFACE_{l}"),
                &ns.interface_name,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use caravan_model::{AllocId, AllocatedCpu, AllocatedMemory, AllocatedTaskResources, NodeId};

    use super::*;

    struct Fixture {
        alloc: Allocation,
        job: Job,
        group: TaskGroup,
        task: Task,
        node: Node,
        dir: PathBuf,
    }

    /// The digest's worked example: node IP 10.0.0.5, `port "http" { to = 8080 }`,
    /// host port 23456, plus a redis port and meta at every level.
    fn fixture() -> Fixture {
        let task = Task {
            name: "app".into(),
            driver: "raw_exec".into(),
            meta: BTreeMap::from([("tier".into(), "task".into())]),
            ..Task::default()
        };
        let group = TaskGroup {
            name: "web".into(),
            meta: BTreeMap::from([
                ("tier".into(), "group".into()),
                ("zone-name".into(), "a".into()),
            ]),
            tasks: vec![task.clone()],
            ..TaskGroup::default()
        };
        let job = Job {
            id: "demo".into(),
            name: "demo".into(),
            meta: BTreeMap::from([
                ("owner".into(), "ops".into()),
                ("tier".into(), "job".into()),
            ]),
            task_groups: vec![group.clone()],
            ..Job::default()
        };
        let mut alloc = Allocation {
            id: AllocId::new("5f2b7c1e-aaaa-bbbb-cccc-000000000001"),
            namespace: "default".into(),
            name: "demo.web[2]".into(),
            job_id: "demo".into(),
            task_group: "web".into(),
            ..Allocation::default()
        };
        alloc.allocated_resources.shared.ports = vec![
            AllocatedPortMapping {
                label: "http".into(),
                value: 23456,
                to: 8080,
                host_ip: "10.0.0.5".into(),
            },
            AllocatedPortMapping {
                label: "redis".into(),
                value: 24000,
                to: 0,
                host_ip: "10.0.0.5".into(),
            },
        ];
        alloc.allocated_resources.tasks.insert(
            "app".into(),
            AllocatedTaskResources {
                cpu: AllocatedCpu {
                    cpu_shares: 500,
                    reserved_cores: vec![],
                },
                memory: AllocatedMemory {
                    memory_mb: 256,
                    memory_max_mb: 0,
                },
            },
        );
        let node = Node {
            id: NodeId::new("node-1111"),
            name: "worker-1".into(),
            datacenter: "dc1".into(),
            node_class: "fast".into(),
            attributes: BTreeMap::from([("kernel.name".into(), "linux".into())]),
            meta: BTreeMap::from([("rack".into(), "r1".into())]),
            ..Node::default()
        };
        Fixture {
            alloc,
            job,
            group,
            task,
            node,
            dir: PathBuf::from("/data/alloc/5f2b7c1e"),
        }
    }

    impl Fixture {
        fn inputs(&self) -> TaskEnvInputs<'_> {
            TaskEnvInputs::new(
                &self.alloc,
                &self.job,
                &self.group,
                &self.task,
                &self.node,
                &self.dir,
            )
        }
    }

    fn get<'a>(env: &'a TaskEnv, key: &str) -> Option<&'a str> {
        env.get(key)
    }

    #[test]
    fn worked_example_host_mode() {
        let f = fixture();
        let env = TaskEnv::build(&f.inputs());
        let want = [
            ("NOMAD_IP_http", "10.0.0.5"),
            ("NOMAD_HOST_IP_http", "10.0.0.5"),
            ("NOMAD_ADDR_http", "10.0.0.5:23456"),
            ("NOMAD_HOST_ADDR_http", "10.0.0.5:23456"),
            ("NOMAD_HOST_PORT_http", "23456"),
            ("NOMAD_PORT_http", "8080"),
            ("NOMAD_ALLOC_PORT_http", "8080"),
            // Without `to` every port value is the host port.
            ("NOMAD_PORT_redis", "24000"),
            ("NOMAD_ALLOC_PORT_redis", "24000"),
            ("NOMAD_ADDR_redis", "10.0.0.5:24000"),
        ];
        for (k, v) in want {
            assert_eq!(get(&env, k), Some(v), "{k}");
        }
        for k in [
            "NOMAD_ALLOC_ADDR_http",
            "NOMAD_ALLOC_IP_http",
            "NOMAD_ALLOC_INTERFACE_http",
        ] {
            assert_eq!(get(&env, k), None, "{k} is bridge-only");
        }
    }

    #[test]
    fn worked_example_bridge_mode() {
        let f = fixture();
        let status = AllocNetworkStatus {
            interface_name: "eth0".into(),
            address: "172.26.64.7".into(),
            dns: None,
        };
        let mut inputs = f.inputs();
        inputs.network_status = Some(&status);
        let env = TaskEnv::build(&inputs);
        let want = [
            ("NOMAD_IP_http", "10.0.0.5"),
            ("NOMAD_HOST_IP_http", "10.0.0.5"),
            ("NOMAD_ADDR_http", "10.0.0.5:23456"),
            ("NOMAD_HOST_ADDR_http", "10.0.0.5:23456"),
            ("NOMAD_HOST_PORT_http", "23456"),
            ("NOMAD_PORT_http", "8080"),
            ("NOMAD_ALLOC_PORT_http", "8080"),
            ("NOMAD_ALLOC_IP_http", "172.26.64.7"),
            ("NOMAD_ALLOC_ADDR_http", "172.26.64.7:8080"),
            ("NOMAD_ALLOC_INTERFACE_http", "eth0"),
            ("NOMAD_ALLOC_ADDR_redis", "172.26.64.7:24000"),
        ];
        for (k, v) in want {
            assert_eq!(get(&env, k), Some(v), "{k}");
        }
    }

    #[test]
    fn identity_resources_and_host_dirs() {
        let f = fixture();
        let env = TaskEnv::build(&f.inputs());
        let want = [
            ("NOMAD_ALLOC_ID", "5f2b7c1e-aaaa-bbbb-cccc-000000000001"),
            ("NOMAD_SHORT_ALLOC_ID", "5f2b7c1e"),
            ("NOMAD_ALLOC_NAME", "demo.web[2]"),
            ("NOMAD_ALLOC_INDEX", "2"),
            ("NOMAD_JOB_ID", "demo"),
            ("NOMAD_JOB_NAME", "demo"),
            ("NOMAD_GROUP_NAME", "web"),
            ("NOMAD_TASK_NAME", "app"),
            ("NOMAD_DC", "dc1"),
            ("NOMAD_REGION", "global"),
            ("NOMAD_NAMESPACE", "default"),
            ("NOMAD_CPU_LIMIT", "500"),
            ("NOMAD_MEMORY_LIMIT", "256"),
            ("NOMAD_ALLOC_DIR", "/data/alloc/5f2b7c1e/alloc"),
            ("NOMAD_TASK_DIR", "/data/alloc/5f2b7c1e/app/local"),
            ("NOMAD_SECRETS_DIR", "/data/alloc/5f2b7c1e/app/secrets"),
        ];
        for (k, v) in want {
            assert_eq!(get(&env, k), Some(v), "{k}");
        }
        for k in [
            "NOMAD_JOB_PARENT_ID",
            "NOMAD_MEMORY_MAX_LIMIT",
            "NOMAD_CPU_CORES",
        ] {
            assert_eq!(get(&env, k), None, "{k} is set only when there is a value");
        }
    }

    #[test]
    fn optional_identity_and_resources_when_set() {
        let mut f = fixture();
        f.job.parent_id = Some("demo-periodic".into());
        f.job.region = Some("eu".into());
        let r = f
            .alloc
            .allocated_resources
            .tasks
            .get_mut("app")
            .expect("fixture has app");
        r.cpu.reserved_cores = vec![7, 1, 0, 2];
        r.memory.memory_max_mb = 1024;
        let env = TaskEnv::build(&f.inputs());
        assert_eq!(get(&env, "NOMAD_JOB_PARENT_ID"), Some("demo-periodic"));
        assert_eq!(get(&env, "NOMAD_CPU_CORES"), Some("0-2,7"));
        assert_eq!(get(&env, "NOMAD_MEMORY_MAX_LIMIT"), Some("1024"));
        assert_eq!(get(&env, "NOMAD_REGION"), Some("eu"));
    }

    #[test]
    fn isolated_drivers_see_fixed_dirs() {
        let f = fixture();
        let mut inputs = f.inputs();
        inputs.isolated = true;
        let env = TaskEnv::build(&inputs);
        assert_eq!(get(&env, "NOMAD_ALLOC_DIR"), Some("/alloc"));
        assert_eq!(get(&env, "NOMAD_TASK_DIR"), Some("/local"));
        assert_eq!(get(&env, "NOMAD_SECRETS_DIR"), Some("/secrets"));
    }

    #[test]
    fn cpuset_lists() {
        assert_eq!(cpuset_list(&[]), "");
        assert_eq!(cpuset_list(&[3]), "3");
        assert_eq!(cpuset_list(&[0, 1, 2, 7]), "0-2,7");
        assert_eq!(cpuset_list(&[5, 4, 9, 10, 11, 1]), "1,4-5,9-11");
    }

    #[test]
    fn meta_merges_levels_and_sets_both_cases() {
        let f = fixture();
        let env = TaskEnv::build(&f.inputs());
        assert_eq!(get(&env, "NOMAD_META_tier"), Some("task"), "task meta wins");
        assert_eq!(get(&env, "NOMAD_META_TIER"), Some("task"));
        assert_eq!(get(&env, "NOMAD_META_owner"), Some("ops"));
        assert_eq!(get(&env, "NOMAD_META_OWNER"), Some("ops"));
        assert_eq!(get(&env, "NOMAD_META_zone_name"), Some("a"), "dash cleaned");
        assert_eq!(get(&env, "NOMAD_META_ZONE_NAME"), Some("a"));
        assert_eq!(get(&env, "NOMAD_META_zone-name"), None);
    }

    #[test]
    fn only_some_prefixes_are_cleaned() {
        let mut f = fixture();
        f.alloc.allocated_resources.shared.ports = vec![AllocatedPortMapping {
            label: "my-port".into(),
            value: 23000,
            to: 0,
            host_ip: "10.0.0.5".into(),
        }];
        let env = TaskEnv::build(&f.inputs());
        for k in [
            "NOMAD_PORT_my_port",
            "NOMAD_ADDR_my_port",
            "NOMAD_IP_my_port",
            "NOMAD_HOST_PORT_my_port",
        ] {
            assert!(get(&env, k).is_some(), "{k} is cleaned");
        }
        for k in [
            "NOMAD_HOST_ADDR_my-port",
            "NOMAD_ALLOC_PORT_my-port",
            "NOMAD_HOST_IP_my-port",
        ] {
            assert!(get(&env, k).is_some(), "{k} keeps its dash");
        }
        assert_eq!(get(&env, "NOMAD_PORT_my-port"), None);
    }

    #[test]
    fn to_minus_one_is_the_host_port() {
        let mut f = fixture();
        f.alloc.allocated_resources.shared.ports[0].to = -1;
        let env = TaskEnv::build(&f.inputs());
        assert_eq!(get(&env, "NOMAD_PORT_http"), Some("23456"));
    }

    #[test]
    fn ipv6_addresses_are_bracketed() {
        let mut f = fixture();
        f.alloc.allocated_resources.shared.ports[0].host_ip = "fd00::5".into();
        let env = TaskEnv::build(&f.inputs());
        assert_eq!(get(&env, "NOMAD_ADDR_http"), Some("[fd00::5]:23456"));
        assert_eq!(get(&env, "NOMAD_IP_http"), Some("fd00::5"));
    }

    #[test]
    fn precedence_task_env_over_host_over_computed_and_template_over_all() {
        let mut f = fixture();
        f.task.env = BTreeMap::from([
            ("DEMO_REDIS_ADDR".into(), "${NOMAD_ADDR_redis}".into()),
            ("SHARED".into(), "task".into()),
            ("NOMAD_DC".into(), "overridden".into()),
        ]);
        let mut inputs = f.inputs();
        inputs.host_env = BTreeMap::from([
            ("PATH".into(), "/usr/bin".into()),
            ("SHARED".into(), "host".into()),
            ("NOMAD_TASK_NAME".into(), "host-must-not-win".into()),
        ]);
        inputs.hook_env = BTreeMap::from([("HOOKED".into(), "hook".into())]);
        inputs.template_env = BTreeMap::from([("HOOKED".into(), "template".into())]);
        let env = TaskEnv::build(&inputs);
        assert_eq!(get(&env, "DEMO_REDIS_ADDR"), Some("10.0.0.5:24000"));
        assert_eq!(get(&env, "SHARED"), Some("task"));
        assert_eq!(get(&env, "PATH"), Some("/usr/bin"));
        assert_eq!(
            get(&env, "NOMAD_TASK_NAME"),
            Some("app"),
            "host env only fills gaps"
        );
        assert_eq!(
            get(&env, "NOMAD_DC"),
            Some("overridden"),
            "task env overrides computed"
        );
        assert_eq!(get(&env, "HOOKED"), Some("template"));
    }

    #[test]
    fn task_env_sees_node_values_and_cleaned_port_names() {
        let mut f = fixture();
        f.alloc.allocated_resources.shared.ports[1].label = "my-redis".into();
        f.task.env = BTreeMap::from([
            ("A".into(), "${NOMAD_PORT_my_redis}".into()),
            ("B".into(), "${NOMAD_PORT_my-redis}".into()),
            ("C".into(), "${attr.kernel.name}-${node.unique.name}".into()),
            ("D".into(), "${NOMAD_META_owner}".into()),
            ("E".into(), "${UNKNOWN}".into()),
        ]);
        let env = TaskEnv::build(&f.inputs());
        assert_eq!(get(&env, "A"), Some("24000"));
        assert_eq!(get(&env, "B"), Some("24000"));
        assert_eq!(get(&env, "C"), Some("linux-worker-1"));
        assert_eq!(get(&env, "D"), Some("ops"));
        assert_eq!(get(&env, "E"), Some("${UNKNOWN}"));
    }

    #[test]
    fn interpolate_cases() {
        let f = fixture();
        let env = TaskEnv::build(&f.inputs());
        let cases = [
            ("plain", "plain"),
            ("", ""),
            ("${NOMAD_PORT_http}", "8080"),
            ("x${NOMAD_PORT_http}y${NOMAD_DC}z", "x8080ydc1z"),
            ("${node.unique.id}", "node-1111"),
            ("${node.unique.name}", "worker-1"),
            ("${node.datacenter}/${node.region}", "dc1/global"),
            ("${node.class}:${node.pool}", "fast:default"),
            ("${attr.kernel.name}", "linux"),
            ("${meta.rack}", "r1"),
            ("${nope}", "${nope}"),
            ("${}", "${}"),
            ("${a b}", "${a b}"),
            ("$${NOMAD_DC}", "$dc1"),
            ("${${NOMAD_DC}}", "${dc1}"),
            ("${NOMAD_DC", "${NOMAD_DC"),
            ("$NOMAD_DC", "$NOMAD_DC"),
            ("${env[\"x\"]}", "${env[\"x\"]}"),
            ("é${NOMAD_DC}é", "édc1é"),
        ];
        for (input, want) in cases {
            assert_eq!(env.interpolate(input), want, "{input:?}");
        }
    }

    #[test]
    fn interpolate_json_walks_arrays_objects_and_keys() {
        let f = fixture();
        let env = TaskEnv::build(&f.inputs());
        let config = serde_json::json!({
            "command": "/bin/redis-server",
            "args": ["--port", "${NOMAD_PORT_redis}", 3, true, null],
            "nested": { "${NOMAD_TASK_NAME}": ["${node.unique.name}"] }
        });
        let want = serde_json::json!({
            "command": "/bin/redis-server",
            "args": ["--port", "24000", 3, true, null],
            "nested": { "app": ["worker-1"] }
        });
        assert_eq!(env.interpolate_json(&config), want);
    }

    #[test]
    fn ports_fall_back_to_shared_networks() {
        let mut f = fixture();
        f.alloc.allocated_resources.shared.ports.clear();
        f.alloc.allocated_resources.shared.networks = vec![caravan_model::NetworkResource {
            ip: "10.0.0.9".into(),
            dynamic_ports: vec![caravan_model::Port {
                label: "db".into(),
                value: 25000,
                to: 5432,
                ..caravan_model::Port::default()
            }],
            ..caravan_model::NetworkResource::default()
        }];
        let env = TaskEnv::build(&f.inputs());
        assert_eq!(get(&env, "NOMAD_ADDR_db"), Some("10.0.0.9:25000"));
        assert_eq!(get(&env, "NOMAD_PORT_db"), Some("5432"));
    }

    #[test]
    fn key_cleaning_collisions_prefer_the_clean_key() {
        let env = clean_keys(BTreeMap::from([
            ("NOMAD_META_a-b".to_owned(), "dirty".to_owned()),
            ("NOMAD_META_a_b".to_owned(), "clean".to_owned()),
            ("OTHER-KEY".to_owned(), "kept".to_owned()),
        ]));
        assert_eq!(env.get("NOMAD_META_a_b").map(String::as_str), Some("clean"));
        assert_eq!(env.get("OTHER-KEY").map(String::as_str), Some("kept"));
        assert_eq!(env.len(), 2);
    }
}
