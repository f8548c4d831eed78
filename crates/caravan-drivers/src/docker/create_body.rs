//! The container to create for a task: a pure function of the task's spec, its
//! parsed config and the agent's options, so every mapping is unit-tested without a
//! daemon.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};

use bollard::models::{
    ContainerCreateBody, HostConfig, HostConfigLogConfig, Mount, MountBindOptions,
    MountBindOptionsPropagationEnum, MountTmpfsOptions, MountType, MountVolumeOptions,
    MountVolumeOptionsDriverConfig, PortBinding, PortMap, ResourcesUlimits,
};

use super::config::DockerConfig;
use super::mount::{MountConfig, MountKind};
use super::options::DockerOptions;
use super::{LABEL_ALLOC_ID, LABEL_NODE_ID, LABEL_TASK};
use crate::{DriverError, MB, TaskSpec};

/// Docker keeps its own copy of the output, which the driver streams into the
/// allocation's log files; this bounds it as Nomad's default `logging` does.
const DOCKER_LOG_MAX_SIZE: &str = "2m";
const DOCKER_LOG_MAX_FILE: &str = "2";
/// Docker's bounds on `CpuShares`.
const MIN_CPU_SHARES: i64 = 2;
const MAX_CPU_SHARES: i64 = 262_144;

/// Nomad's name for a task's container: `<task>-<alloc id>`, with what docker does
/// not accept in a name replaced.
pub fn container_name(spec: &TaskSpec) -> String {
    let raw = format!("{}-{}", spec.task_name, spec.alloc_id.as_str());
    let mut name: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        name.insert(0, 'c');
    }
    name
}

/// The create request's body for the task.
pub fn create_body(
    spec: &TaskSpec,
    config: &DockerConfig,
    options: &DockerOptions,
) -> Result<ContainerCreateBody, DriverError> {
    let invalid = |key: &str, reason: String| DriverError::InvalidConfig {
        task: spec.task_name.clone(),
        key: key.to_owned(),
        reason,
    };
    if config.privileged && !options.allow_privileged {
        return Err(invalid(
            "privileged",
            "privileged containers are not allowed on this node (the docker driver's \
             allow_privileged option is off)"
                .to_owned(),
        ));
    }
    let network_mode = network_mode(spec, config)?;
    let (exposed_ports, port_bindings) = if publishes_ports(&network_mode) {
        ports(spec, config)?
    } else {
        (Vec::new(), HashMap::new())
    };

    let mut mounts = vec![
        bind(&spec.dirs.alloc_dir, "/alloc"),
        bind(&spec.dirs.local_dir, "/local"),
        bind(&spec.dirs.secrets_dir, "/secrets"),
    ];
    for m in &config.mounts {
        mounts.push(mount(spec, options, m)?);
    }
    let binds = config
        .volumes
        .iter()
        .map(|v| volume_bind(spec, options, v))
        .collect::<Result<Vec<_>, _>>()?;

    let mut labels: HashMap<String, String> = config
        .labels
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    labels.insert(LABEL_ALLOC_ID.to_owned(), spec.alloc_id.as_str().to_owned());
    labels.insert(LABEL_TASK.to_owned(), spec.task_name.clone());
    if let Some(node) = &options.node_id {
        labels.insert(LABEL_NODE_ID.to_owned(), node.clone());
    }

    let log_config = if spec.logs.disabled {
        HostConfigLogConfig {
            typ: Some("none".to_owned()),
            config: None,
        }
    } else {
        HostConfigLogConfig {
            typ: Some("json-file".to_owned()),
            config: Some(HashMap::from([
                ("max-size".to_owned(), DOCKER_LOG_MAX_SIZE.to_owned()),
                ("max-file".to_owned(), DOCKER_LOG_MAX_FILE.to_owned()),
            ])),
        }
    };

    let (memory, memory_reservation) = memory(spec);
    let host_config = HostConfig {
        network_mode: Some(network_mode),
        port_bindings: (!port_bindings.is_empty()).then_some(port_bindings),
        mounts: Some(mounts),
        binds: (!binds.is_empty()).then_some(binds),
        log_config: Some(log_config),
        memory,
        memory_reservation,
        // No swap beyond the memory limit, as Nomad.
        memory_swap: memory,
        cpu_shares: cpu_shares(spec.resources.cpu_mhz),
        privileged: config.privileged.then_some(true),
        init: config.init.then_some(true),
        cap_add: non_empty(&config.cap_add),
        cap_drop: non_empty(&config.cap_drop),
        dns: non_empty(&config.dns_servers),
        dns_search: non_empty(&config.dns_search_domains),
        dns_options: non_empty(&config.dns_options),
        extra_hosts: non_empty(&config.extra_hosts),
        ulimits: (!config.ulimits.is_empty()).then(|| {
            config
                .ulimits
                .iter()
                .map(|(name, (soft, hard))| ResourcesUlimits {
                    name: Some(name.clone()),
                    soft: Some(*soft),
                    hard: Some(*hard),
                })
                .collect()
        }),
        ..HostConfig::default()
    };

    Ok(ContainerCreateBody {
        image: Some(config.image.clone()),
        cmd: config.cmd(),
        entrypoint: config.entrypoint.clone(),
        env: Some(spec.env.iter().map(|(k, v)| format!("{k}={v}")).collect()),
        user: spec.user.clone().filter(|u| !u.is_empty()),
        working_dir: config.work_dir.clone(),
        hostname: config.hostname.clone(),
        labels: Some(labels),
        exposed_ports: (!exposed_ports.is_empty()).then_some(exposed_ports),
        attach_stdin: Some(false),
        attach_stdout: Some(false),
        attach_stderr: Some(false),
        tty: Some(false),
        open_stdin: Some(false),
        host_config: Some(host_config),
        ..ContainerCreateBody::default()
    })
}

/// The config's own `network_mode` wins; then the group's network container; a task
/// of a group with a network namespace but no container to join cannot be placed in
/// it by docker, which is refused rather than silently run elsewhere.
fn network_mode(spec: &TaskSpec, config: &DockerConfig) -> Result<String, DriverError> {
    if let Some(mode) = &config.network_mode {
        return Ok(mode.clone());
    }
    if let Some(container) = spec.network_container.as_deref().filter(|c| !c.is_empty()) {
        return Ok(format!("container:{container}"));
    }
    if spec.no_network {
        return Ok("none".to_owned());
    }
    if let Some(netns) = &spec.netns_path {
        return Err(DriverError::InvalidConfig {
            task: spec.task_name.clone(),
            key: "network_mode".to_owned(),
            reason: format!(
                "the group's network namespace {} can only be joined through a container \
                 holding it, and none was given",
                netns.display()
            ),
        });
    }
    Ok("bridge".to_owned())
}

/// Ports are published only where the container has its own network stack that
/// docker wires: not in the host's, none, or another container's.
fn publishes_ports(network_mode: &str) -> bool {
    !matches!(network_mode, "host" | "none") && !network_mode.starts_with("container:")
}

/// Each label's host port to its `to` port (the same port when `to` is unset),
/// TCP and UDP, on the mapping's host address.
fn ports(spec: &TaskSpec, config: &DockerConfig) -> Result<(Vec<String>, PortMap), DriverError> {
    let mut exposed = Vec::new();
    let mut bindings = PortMap::new();
    for label in &config.ports {
        let mapping = spec
            .ports
            .iter()
            .find(|p| &p.label == label)
            .ok_or_else(|| DriverError::InvalidConfig {
                task: spec.task_name.clone(),
                key: "ports".to_owned(),
                reason: format!("port label {label:?} is not in the group's network block"),
            })?;
        let inner = u16::try_from(mapping.to)
            .ok()
            .filter(|p| *p > 0)
            .unwrap_or(mapping.value);
        for proto in ["tcp", "udp"] {
            let key = format!("{inner}/{proto}");
            if !exposed.contains(&key) {
                exposed.push(key.clone());
            }
            bindings
                .entry(key)
                .or_insert_with(|| Some(Vec::new()))
                .get_or_insert_with(Vec::new)
                .push(PortBinding {
                    host_ip: Some(mapping.host_ip.clone()).filter(|ip| !ip.is_empty()),
                    host_port: Some(mapping.value.to_string()),
                });
        }
    }
    Ok((exposed, bindings))
}

fn bind(source: &Path, target: &str) -> Mount {
    Mount {
        typ: Some(MountType::BIND),
        source: Some(source.to_string_lossy().into_owned()),
        target: Some(target.to_owned()),
        read_only: Some(false),
        ..Mount::default()
    }
}

/// A host path of a volume or bind mount: relative paths are in the task directory;
/// paths outside the allocation directory need the agent's permission.
fn host_path(
    spec: &TaskSpec,
    options: &DockerOptions,
    key: &str,
    path: &str,
) -> Result<PathBuf, DriverError> {
    let resolved = normalize(&spec.dirs.task_dir.join(path));
    if !resolved.starts_with(normalize(&spec.dirs.alloc_root)) && !options.allow_host_volumes {
        return Err(DriverError::InvalidConfig {
            task: spec.task_name.clone(),
            key: key.to_owned(),
            reason: format!(
                "host path {} is outside the allocation directory and the docker driver's \
                 volumes are not enabled on this node",
                resolved.display()
            ),
        });
    }
    Ok(resolved)
}

/// `a/./b/../c` is `a/c`, without asking the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// `host:container[:mode]` as a docker bind string with the host path resolved.
fn volume_bind(
    spec: &TaskSpec,
    options: &DockerOptions,
    volume: &str,
) -> Result<String, DriverError> {
    let invalid = |reason: String| DriverError::InvalidConfig {
        task: spec.task_name.clone(),
        key: "volumes".to_owned(),
        reason,
    };
    let parts: Vec<&str> = volume.split(':').collect();
    let (host, container, mode) = match parts.as_slice() {
        [host, container] => (*host, *container, None),
        [host, container, mode] => (*host, *container, Some(*mode)),
        _ => return Err(invalid(format!("{volume:?} is not host:container[:mode]"))),
    };
    if host.is_empty() || !container.starts_with('/') {
        return Err(invalid(format!(
            "{volume:?} needs a host path and an absolute container path"
        )));
    }
    let host = host_path(spec, options, "volumes", host)?;
    let mut bind = format!("{}:{container}", host.display());
    if let Some(mode) = mode {
        bind.push(':');
        bind.push_str(mode);
    }
    Ok(bind)
}

fn mount(spec: &TaskSpec, options: &DockerOptions, m: &MountConfig) -> Result<Mount, DriverError> {
    let mut out = Mount {
        target: Some(m.target.clone()),
        read_only: Some(m.readonly),
        ..Mount::default()
    };
    match m.kind {
        MountKind::Bind => {
            let source = host_path(spec, options, "mount.source", &m.source)?;
            out.typ = Some(MountType::BIND);
            out.source = Some(source.to_string_lossy().into_owned());
            if let Some(p) = &m.propagation {
                let propagation = p.parse::<MountBindOptionsPropagationEnum>().map_err(|_| {
                    DriverError::InvalidConfig {
                        task: spec.task_name.clone(),
                        key: "mount.bind_options.propagation".to_owned(),
                        reason: format!("{p:?} is not a mount propagation"),
                    }
                })?;
                out.bind_options = Some(MountBindOptions {
                    propagation: Some(propagation),
                    ..MountBindOptions::default()
                });
            }
        }
        MountKind::Volume => {
            out.typ = Some(MountType::VOLUME);
            out.source = Some(m.source.clone()).filter(|s| !s.is_empty());
            out.volume_options = Some(MountVolumeOptions {
                no_copy: Some(m.no_copy),
                labels: (!m.volume_labels.is_empty()).then(|| to_hash(&m.volume_labels)),
                driver_config: m.volume_driver.as_ref().map(|name| {
                    MountVolumeOptionsDriverConfig {
                        name: Some(name.clone()),
                        options: Some(to_hash(&m.volume_driver_options)),
                    }
                }),
                ..MountVolumeOptions::default()
            });
        }
        MountKind::Tmpfs => {
            out.typ = Some(MountType::TMPFS);
            out.tmpfs_options = Some(MountTmpfsOptions {
                size_bytes: m.tmpfs_size,
                mode: m.tmpfs_mode,
                ..MountTmpfsOptions::default()
            });
        }
    }
    Ok(out)
}

/// `(Memory, MemoryReservation)`: `memory` is the limit, unless `memory_max` is set
/// above it, which makes `memory_max` the limit and `memory` the reservation.
fn memory(spec: &TaskSpec) -> (Option<i64>, Option<i64>) {
    let bytes = |mb: u64| i64::try_from(mb.saturating_mul(MB)).ok().filter(|b| *b > 0);
    let r = spec.resources;
    if r.memory_max_mb > r.memory_mb {
        (bytes(r.memory_max_mb), bytes(r.memory_mb))
    } else {
        (bytes(r.memory_mb), None)
    }
}

/// The task's MHz as relative CPU weight, as Nomad; docker's bounds applied.
fn cpu_shares(mhz: u64) -> Option<i64> {
    (mhz > 0).then(|| {
        i64::try_from(mhz).map_or(MAX_CPU_SHARES, |m| m.clamp(MIN_CPU_SHARES, MAX_CPU_SHARES))
    })
}

fn non_empty(items: &[String]) -> Option<Vec<String>> {
    (!items.is_empty()).then(|| items.to_vec())
}

fn to_hash(map: &BTreeMap<String, String>) -> HashMap<String, String> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TaskResources;
    use caravan_model::{AllocId, AllocatedPortMapping};
    use serde_json::{Value, json};

    fn spec() -> TaskSpec {
        let mut s = TaskSpec::new(AllocId::new("a1"), "redis", "/data/alloc/a1");
        s.env = BTreeMap::from([("A".into(), "1".into())]);
        s.ports = vec![
            AllocatedPortMapping {
                label: "redis".into(),
                value: 23456,
                to: 6379,
                host_ip: "10.0.0.5".into(),
            },
            AllocatedPortMapping {
                label: "same".into(),
                value: 8080,
                to: -1,
                host_ip: String::new(),
            },
        ];
        s
    }

    fn config(v: Value) -> DockerConfig {
        DockerConfig::parse("redis", &serde_json::from_value(v).expect("object")).expect("config")
    }

    fn body(spec: &TaskSpec, v: Value) -> Result<ContainerCreateBody, DriverError> {
        create_body(spec, &config(v), &DockerOptions::default())
    }

    fn host(b: &ContainerCreateBody) -> HostConfig {
        b.host_config.clone().unwrap_or_default()
    }

    #[test]
    fn names_follow_nomad_and_stay_valid() {
        assert_eq!(container_name(&spec()), "redis-a1");
        let odd = TaskSpec::new(AllocId::new("a/1"), "_web app", "/x");
        assert_eq!(container_name(&odd), "c_web_app-a_1");
    }

    #[test]
    fn the_seed_config_publishes_tcp_and_udp_on_the_host_ip() -> Result<(), DriverError> {
        let b = body(
            &spec(),
            json!({"image": "redis:7", "ports": ["redis", "same"]}),
        )?;
        let h = host(&b);
        assert_eq!(h.network_mode.as_deref(), Some("bridge"));
        let mut exposed = b.exposed_ports.clone().unwrap_or_default();
        exposed.sort();
        assert_eq!(exposed, ["6379/tcp", "6379/udp", "8080/tcp", "8080/udp"]);
        let bindings = h.port_bindings.unwrap_or_default();
        let tcp = bindings
            .get("6379/tcp")
            .cloned()
            .flatten()
            .unwrap_or_default();
        assert_eq!(
            tcp,
            [PortBinding {
                host_ip: Some("10.0.0.5".into()),
                host_port: Some("23456".into())
            }]
        );
        let same = bindings
            .get("8080/udp")
            .cloned()
            .flatten()
            .unwrap_or_default();
        assert_eq!(same[0].host_port.as_deref(), Some("8080"));
        assert_eq!(same[0].host_ip, None);
        Ok(())
    }

    #[test]
    fn nothing_is_published_without_ports_or_in_host_mode() -> Result<(), DriverError> {
        let b = body(&spec(), json!({"image": "x"}))?;
        assert_eq!(host(&b).port_bindings, None);
        assert_eq!(b.exposed_ports, None);
        let b = body(
            &spec(),
            json!({"image": "x", "ports": ["redis"], "network_mode": "host"}),
        )?;
        assert_eq!(host(&b).network_mode.as_deref(), Some("host"));
        assert_eq!(host(&b).port_bindings, None);
        Ok(())
    }

    #[test]
    fn a_group_without_network_gets_docker_none_unless_the_task_says_otherwise()
    -> Result<(), DriverError> {
        let mut none = spec();
        none.no_network = true;
        let b = body(&none, json!({"image": "x", "ports": ["redis"]}))?;
        assert_eq!(host(&b).network_mode.as_deref(), Some("none"));
        assert_eq!(host(&b).port_bindings, None, "nothing to publish into");
        let b = body(&none, json!({"image": "x", "network_mode": "host"}))?;
        assert_eq!(host(&b).network_mode.as_deref(), Some("host"));
        Ok(())
    }

    #[test]
    fn an_unknown_port_label_is_refused() {
        let err = body(&spec(), json!({"image": "x", "ports": ["nope"]}))
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some(
                "task \"redis\": driver config key `ports` is invalid: port label \"nope\" is not in the group's network block"
            )
        );
    }

    #[test]
    fn bridge_groups_join_the_network_container() -> Result<(), DriverError> {
        let mut s = spec();
        s.network_container = Some("pause123".into());
        s.netns_path = Some("/var/run/netns/x".into());
        let b = body(&s, json!({"image": "x", "ports": ["redis"]}))?;
        assert_eq!(host(&b).network_mode.as_deref(), Some("container:pause123"));
        assert_eq!(host(&b).port_bindings, None);

        s.network_container = None;
        assert!(
            body(&s, json!({"image": "x"})).is_err(),
            "a netns path alone cannot be joined"
        );
        Ok(())
    }

    #[test]
    fn task_dirs_are_mounted_and_labels_set() -> Result<(), DriverError> {
        let b = body(
            &spec(),
            json!({"image": "x", "labels": {"team": "a", "caravan.task": "spoof"}}),
        )?;
        let mounts = host(&b).mounts.unwrap_or_default();
        let pairs: Vec<(String, String)> = mounts
            .iter()
            .map(|m| {
                (
                    m.source.clone().unwrap_or_default(),
                    m.target.clone().unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            pairs,
            [
                ("/data/alloc/a1/alloc".into(), "/alloc".into()),
                ("/data/alloc/a1/redis/local".into(), "/local".into()),
                ("/data/alloc/a1/redis/secrets".into(), "/secrets".into()),
            ]
        );
        let labels = b.labels.unwrap_or_default();
        assert_eq!(
            labels.get("caravan.alloc_id").map(String::as_str),
            Some("a1")
        );
        assert_eq!(
            labels.get("caravan.task").map(String::as_str),
            Some("redis")
        );
        assert_eq!(labels.get("team").map(String::as_str), Some("a"));
        assert_eq!(b.env, Some(vec!["A=1".to_owned()]));
        Ok(())
    }

    #[test]
    fn volumes_resolve_in_the_task_dir_and_stay_in_the_alloc_dir() -> Result<(), DriverError> {
        let b = body(
            &spec(),
            json!({"image": "x", "volumes": ["local/haproxy.cfg:/etc/h.cfg", "../alloc/data:/d:ro"]}),
        )?;
        assert_eq!(
            host(&b).binds,
            Some(vec![
                "/data/alloc/a1/redis/local/haproxy.cfg:/etc/h.cfg".to_owned(),
                "/data/alloc/a1/alloc/data:/d:ro".to_owned(),
            ])
        );
        for outside in ["/etc:/host-etc", "../../../etc:/e"] {
            let err = body(&spec(), json!({"image": "x", "volumes": [outside]}));
            assert!(err.is_err(), "{outside} was allowed");
        }
        let allowed = create_body(
            &spec(),
            &config(json!({"image": "x", "volumes": ["/etc:/host-etc"]})),
            &DockerOptions {
                allow_host_volumes: true,
                ..DockerOptions::default()
            },
        )?;
        assert_eq!(
            host(&allowed).binds,
            Some(vec!["/etc:/host-etc".to_owned()])
        );
        assert!(body(&spec(), json!({"image": "x", "volumes": ["nocolon"]})).is_err());
        assert!(body(&spec(), json!({"image": "x", "volumes": ["a:relative"]})).is_err());
        Ok(())
    }

    #[test]
    fn mounts_map_to_docker_mounts() -> Result<(), DriverError> {
        let b = body(
            &spec(),
            json!({"image": "x", "mount": [
                {"type": "bind", "source": "local/conf", "target": "/conf", "readonly": true,
                 "bind_options": {"propagation": "rprivate"}},
                {"type": "volume", "source": "cache", "target": "/cache"},
                {"type": "tmpfs", "target": "/tmp", "tmpfs_options": {"size": 1048576}},
            ]}),
        )?;
        let mounts = host(&b).mounts.unwrap_or_default();
        assert_eq!(mounts.len(), 6);
        assert_eq!(mounts[3].typ, Some(MountType::BIND));
        assert_eq!(
            mounts[3].source.as_deref(),
            Some("/data/alloc/a1/redis/local/conf")
        );
        assert_eq!(mounts[3].read_only, Some(true));
        assert_eq!(mounts[4].typ, Some(MountType::VOLUME));
        assert_eq!(
            mounts[5].tmpfs_options.as_ref().and_then(|t| t.size_bytes),
            Some(1 << 20)
        );
        assert!(
            body(
                &spec(),
                json!({"image": "x", "mount": {"type": "bind", "source": "/etc", "target": "/e"}})
            )
            .is_err()
        );
        Ok(())
    }

    #[test]
    fn resources_become_limits() -> Result<(), DriverError> {
        let mut s = spec();
        s.resources = TaskResources {
            cpu_mhz: 500,
            memory_mb: 256,
            memory_max_mb: 0,
        };
        let h = host(&body(&s, json!({"image": "x"}))?);
        assert_eq!(h.memory, Some(256 << 20));
        assert_eq!(h.memory_swap, Some(256 << 20));
        assert_eq!(h.memory_reservation, None);
        assert_eq!(h.cpu_shares, Some(500));

        s.resources.memory_max_mb = 512;
        s.resources.cpu_mhz = 1;
        let h = host(&body(&s, json!({"image": "x"}))?);
        assert_eq!(h.memory, Some(512 << 20));
        assert_eq!(h.memory_reservation, Some(256 << 20));
        assert_eq!(h.cpu_shares, Some(2));

        let h = host(&body(&spec(), json!({"image": "x"}))?);
        assert_eq!((h.memory, h.cpu_shares), (None, None));
        Ok(())
    }

    #[test]
    fn privileged_needs_the_agents_permission() -> Result<(), DriverError> {
        let err = body(&spec(), json!({"image": "x", "privileged": true}));
        assert!(
            matches!(err, Err(DriverError::InvalidConfig { ref key, .. }) if key == "privileged")
        );
        let b = create_body(
            &spec(),
            &config(json!({"image": "x", "privileged": true})),
            &DockerOptions {
                allow_privileged: true,
                ..DockerOptions::default()
            },
        )?;
        assert_eq!(host(&b).privileged, Some(true));
        Ok(())
    }

    #[test]
    fn the_rest_of_the_config_is_passed_on() -> Result<(), DriverError> {
        let mut s = spec();
        s.user = Some("redis".into());
        s.logs.disabled = true;
        let b = body(
            &s,
            json!({"image": "x", "entrypoint": ["/e"], "command": "c", "args": ["a"],
                   "work_dir": "/w", "hostname": "h", "dns_servers": ["1.1.1.1"],
                   "extra_hosts": ["db:10.0.0.1"], "cap_add": ["NET_ADMIN"], "cap_drop": ["MKNOD"],
                   "ulimit": {"nofile": "100:200"}, "init": true}),
        )?;
        assert_eq!(b.entrypoint, Some(vec!["/e".to_owned()]));
        assert_eq!(b.cmd, Some(vec!["c".to_owned(), "a".to_owned()]));
        assert_eq!(b.user.as_deref(), Some("redis"));
        assert_eq!(b.working_dir.as_deref(), Some("/w"));
        assert_eq!(b.hostname.as_deref(), Some("h"));
        let h = host(&b);
        assert_eq!(h.dns, Some(vec!["1.1.1.1".to_owned()]));
        assert_eq!(h.extra_hosts, Some(vec!["db:10.0.0.1".to_owned()]));
        assert_eq!(h.cap_add, Some(vec!["NET_ADMIN".to_owned()]));
        assert_eq!(h.cap_drop, Some(vec!["MKNOD".to_owned()]));
        assert_eq!(h.init, Some(true));
        assert_eq!(h.log_config.and_then(|l| l.typ).as_deref(), Some("none"));
        let ulimits = h.ulimits.unwrap_or_default();
        assert_eq!((ulimits[0].soft, ulimits[0].hard), (Some(100), Some(200)));
        Ok(())
    }
}
