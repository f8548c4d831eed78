//! Nomad-shaped JSON round trips, and properties of canonicalization over generated jobs.

mod common;

use std::collections::BTreeMap;

use caravan_model::{
    ChangeScript, CheckRestart, CniConfig, ConnectExpose, DispatchPayloadConfig, DnsConfig,
    Duration, ExposePath, Job, JobId, Lifecycle, MeshGateway, NetworkResource,
    ParameterizedJobConfig, PeriodicConfig, Port, RequestedDevice, ReschedulePolicy, Resources,
    RestartPolicy, ScalingPolicy, Service, ServiceCheck, ServiceWeights, Task, TaskArtifact,
    TaskGroup, Template, UpdateStrategy, VolumeMount, VolumeRequest, WaitConfig, job_from_json,
};
use common::{port, sample_job};
use proptest::prelude::*;
use serde_json::json;

/// The sample with every optional part of the model filled in.
fn fully_populated() -> Job {
    let mut job = sample_job();
    job.periodic = Some(PeriodicConfig {
        specs: vec!["@daily".into()],
        ..Default::default()
    });
    job.parameterized = Some(ParameterizedJobConfig {
        payload: "required".into(),
        meta_required: vec!["input".into()],
        meta_optional: vec!["mode".into()],
    });
    job.reschedule = Some(ReschedulePolicy {
        attempts: Some(4),
        ..Default::default()
    });
    job.multiregion = Some(json!({"Strategy": {"MaxParallel": 1}, "Regions": [{"Name": "east"}]}));
    job.ui = Some(json!({"Description": "demo"}));
    job.vault_token = Some("v".into());
    job.consul_token = Some("c".into());
    job.parent_id = Some("parent".into());
    job.dispatched = true;
    job.payload = Some("aGVsbG8=".into());
    job.stop = Some(false);
    job.status = Some("running".into());
    job.status_description = Some("ok".into());
    job.stable = Some(true);
    job.version = Some(3);
    job.submit_time = Some(1_700_000_000_000_000_000);
    job.create_index = Some(10);
    job.modify_index = Some(12);
    job.job_modify_index = Some(11);

    let g = &mut job.task_groups[0];
    g.volumes = BTreeMap::from([(
        "data".into(),
        VolumeRequest {
            name: "data".into(),
            volume_type: "host".into(),
            source: "data".into(),
            read_only: true,
            ..Default::default()
        },
    )]);
    g.scaling = Some(ScalingPolicy {
        min: Some(1),
        max: Some(3),
        enabled: Some(true),
        policy: BTreeMap::from([("cooldown".into(), json!("1m"))]),
    });
    g.shutdown_delay = Some(Duration::from_secs(2));
    g.stop_after_client_disconnect = Some(Duration::from_mins(1));
    g.max_client_disconnect = Some(Duration::from_mins(2));
    g.prevent_reschedule_on_lost = Some(true);
    g.consul = Some(json!({"Namespace": "ns"}));
    g.disconnect = Some(json!({"LostAfter": 60_000_000_000i64}));
    g.meta = BTreeMap::from([("tier".into(), "front".into())]);
    let net = &mut g.networks[0];
    net.hostname = "web-${NOMAD_ALLOC_INDEX}".into();
    net.mbits = Some(10);
    net.dns = Some(DnsConfig {
        servers: vec!["1.1.1.1".into()],
        searches: vec!["svc".into()],
        options: vec!["ndots:2".into()],
    });
    net.cni = Some(CniConfig {
        args: BTreeMap::from([("k".into(), "v".into())]),
    });

    let svc = &mut g.services[0];
    svc.canary_tags = vec!["canary".into()];
    svc.meta = BTreeMap::from([("version".into(), "1".into())]);
    svc.canary_meta = BTreeMap::from([("version".into(), "2".into())]);
    svc.tagged_addresses = BTreeMap::from([("lan".into(), "10.0.0.1".into())]);
    svc.weights = Some(ServiceWeights {
        passing: 3,
        warning: 1,
    });
    svc.check_restart = Some(CheckRestart {
        limit: 3,
        grace: Some(Duration::from_secs(5)),
        ignore_warnings: true,
    });
    svc.identity = Some(json!({"Aud": ["consul.io"]}));
    let check = &mut svc.checks[0];
    check.header = BTreeMap::from([("X-Trace".into(), vec!["1".into(), "2".into()])]);
    check.body = "{}".into();
    check.tls_skip_verify = true;
    check.success_before_passing = 2;
    let connect = svc.connect.as_mut().expect("sample has connect");
    connect.gateway = Some(json!({"Ingress": {"Listeners": []}}));
    let sidecar = connect
        .sidecar_service
        .as_mut()
        .expect("sample has a sidecar");
    sidecar.tags = vec!["mesh".into()];
    let proxy = sidecar.proxy.as_mut().expect("sample has a proxy");
    proxy.config = BTreeMap::from([("protocol".into(), json!("http"))]);
    proxy.expose = Some(ConnectExpose {
        paths: vec![ExposePath {
            path: "/health".into(),
            protocol: "http".into(),
            local_path_port: 8080,
            listener_port: "expose".into(),
        }],
    });
    proxy.upstreams[0].mesh_gateway = Some(MeshGateway {
        mode: "local".into(),
    });
    proxy.upstreams[0].datacenter = "dc2".into();

    let t = &mut g.tasks[0];
    t.user = "nobody".into();
    t.meta = BTreeMap::from([("m".into(), "1".into())]);
    t.kill_signal = "SIGTERM".into();
    t.leader = true;
    t.kind = "connect-native:web".into();
    t.lifecycle = Some(Lifecycle {
        hook: "prestart".into(),
        sidecar: true,
    });
    t.dispatch_payload = Some(DispatchPayloadConfig {
        file: "input.json".into(),
    });
    t.vault = Some(json!({"Policies": ["p"]}));
    t.identity = Some(json!({"Env": true}));
    t.consul = Some(json!({"Cluster": "default"}));
    t.csi_plugin_config = Some(json!({"ID": "csi"}));
    t.artifacts = vec![TaskArtifact {
        getter_source: Some("https://example.test/a.tgz".into()),
        getter_options: BTreeMap::from([("archive".into(), "false".into())]),
        getter_headers: BTreeMap::from([("Auth".into(), "x".into())]),
        getter_mode: Some("any".into()),
        relative_dest: Some("local/".into()),
    }];
    t.volume_mounts = vec![VolumeMount {
        volume: Some("data".into()),
        destination: Some("/data".into()),
        read_only: Some(true),
        propagation_mode: Some("private".into()),
    }];
    let resources = t
        .resources
        .as_mut()
        .expect("canonical tasks have resources");
    resources.memory_max_mb = Some(512);
    resources.disk_mb = Some(100);
    resources.devices = vec![RequestedDevice {
        name: "nvidia/gpu".into(),
        count: Some(1),
        ..Default::default()
    }];
    let tmpl = &mut t.templates[0];
    tmpl.uid = Some(1000);
    tmpl.gid = Some(1000);
    tmpl.vault_grace = Some(Duration::from_secs(15));
    tmpl.wait = Some(WaitConfig {
        min: Some(Duration::from_secs(1)),
        max: Some(Duration::from_secs(4)),
    });
    tmpl.change_script = Some(ChangeScript {
        command: Some("/bin/reload".into()),
        args: vec!["-q".into()],
        timeout: Some(Duration::from_secs(5)),
        fail_on_error: Some(true),
    });
    job.canonicalize();
    job
}

#[test]
fn fully_populated_job_round_trips() {
    let job = fully_populated();
    let mut again = job.clone();
    again.canonicalize();
    assert!(job == again, "the populated job is canonical");

    let value = serde_json::to_value(&job).expect("serializes");
    assert_eq!(job_from_json(value.clone()).expect("reads back"), job);
    assert_eq!(
        job_from_json(json!({ "Job": value })).expect("reads the API wrapper"),
        job
    );
    let text = serde_json::to_string_pretty(&job).expect("serializes");
    let parsed: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(job_from_json(parsed).expect("reads back"), job);
}

#[test]
fn json_uses_nomads_names() {
    let value = serde_json::to_value(fully_populated()).expect("serializes");
    let group = &value["TaskGroups"][0];
    assert_eq!(value["ID"], "web");
    assert_eq!(value["Type"], "service");
    assert_eq!(value["ParameterizedJob"]["Payload"], "required");
    assert_eq!(
        group["RestartPolicy"]["Interval"],
        json!(30 * 60_000_000_000i64)
    );
    assert_eq!(group["EphemeralDisk"]["SizeMB"], 300);
    assert_eq!(group["Networks"][0]["ReservedPorts"][0]["Label"], "redis");
    assert_eq!(group["Networks"][0]["DynamicPorts"][0]["To"], 8080);
    assert_eq!(group["Services"][0]["PortLabel"], "http");
    assert_eq!(group["Services"][0]["Checks"][0]["Type"], "http");
    assert_eq!(group["Tasks"][0]["KillTimeout"], json!(5_000_000_000i64));
    assert_eq!(group["Tasks"][0]["LogConfig"]["MaxFileSizeMB"], 10);
    assert_eq!(group["Tasks"][0]["Resources"]["MemoryMB"], 256);
    assert_eq!(
        group["Tasks"][0]["Templates"][0]["DestPath"],
        "secrets/config.env"
    );
    assert_eq!(group["Tasks"][0]["Templates"][0]["Envvars"], true);
}

// ---- generated jobs ----

fn duration() -> impl Strategy<Value = Duration> {
    (-5i64..3600).prop_map(Duration::from_secs)
}

fn maybe<T: std::fmt::Debug>(s: impl Strategy<Value = T>) -> impl Strategy<Value = Option<T>> {
    proptest::option::of(s)
}

fn label() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9]{0,5}"
}

fn any_port() -> impl Strategy<Value = Port> {
    (label(), prop_oneof![Just(0i64), 1i64..65536], -1i64..70000)
        .prop_map(|(label, value, to)| port(&label, value, to))
}

fn network() -> impl Strategy<Value = NetworkResource> {
    (
        prop::sample::select(vec!["", "host", "bridge", "none", "cni/x"]),
        prop::collection::vec(any_port(), 0..5),
        prop::collection::vec(any_port(), 0..2),
    )
        .prop_map(|(mode, dynamic_ports, reserved_ports)| NetworkResource {
            mode: mode.into(),
            dynamic_ports,
            reserved_ports,
            ..Default::default()
        })
}

fn check() -> impl Strategy<Value = ServiceCheck> {
    (
        prop::sample::select(vec!["http", "tcp", "script", "grpc", "bogus"]),
        "(/[a-z]{0,4})?",
        0i64..20,
        maybe(duration()),
        prop::sample::select(vec!["", "ignore", "require_healthy"]),
    )
        .prop_map(|(kind, path, interval, grace, on_update)| ServiceCheck {
            check_type: kind.into(),
            path,
            interval: Duration::from_secs(interval),
            timeout: Duration::from_secs(1),
            on_update: on_update.into(),
            check_restart: grace.map(|grace| CheckRestart {
                grace: Some(grace),
                ..Default::default()
            }),
            ..Default::default()
        })
}

fn service() -> impl Strategy<Value = Service> {
    (
        "([a-z][a-z0-9-]{0,6})?",
        "([a-z]{1,5}|[0-9]{1,5})?",
        prop::sample::select(vec!["", "consul", "nomad"]),
        prop::collection::vec(check(), 0..3),
        prop::sample::select(vec!["", "10.0.0.1"]),
    )
        .prop_map(|(name, port_label, provider, checks, address)| Service {
            name,
            port_label,
            provider: provider.into(),
            checks,
            address: address.into(),
            ..Default::default()
        })
}

fn restart() -> impl Strategy<Value = RestartPolicy> {
    (
        maybe(0i64..5),
        maybe(duration()),
        maybe(prop::sample::select(vec!["fail", "delay"])),
    )
        .prop_map(|(attempts, delay, mode)| RestartPolicy {
            attempts,
            delay,
            mode: mode.map(Into::into),
            ..Default::default()
        })
}

fn template() -> impl Strategy<Value = Template> {
    (
        maybe("[a-z ]{0,8}"),
        maybe("(\\.\\./|/)?(local|secrets|alloc|etc)/[a-z]{1,4}"),
        maybe(prop::sample::select(vec![
            "noop", "restart", "signal", "script",
        ])),
        maybe("(sig)?(hup|usr1)"),
        maybe(any::<bool>()),
        maybe(duration()),
    )
        .prop_map(|(data, dest, mode, signal, env, splay)| Template {
            embedded_tmpl: data,
            dest_path: dest,
            change_mode: mode.map(Into::into),
            change_signal: signal,
            envvars: env,
            splay,
            ..Default::default()
        })
}

fn task() -> impl Strategy<Value = Task> {
    (
        label(),
        prop::sample::select(vec!["", "docker", "exec", "raw_exec"]),
        prop::collection::vec(label(), 0..3),
        maybe(duration()),
        prop::collection::vec(service(), 0..2),
        prop::collection::vec(template(), 0..2),
        maybe(restart()),
        maybe((maybe(0i64..4), maybe(0i64..2000), maybe(0i64..4000))),
    )
        .prop_map(
            |(name, driver, ports, kill_timeout, services, templates, restart, res)| {
                let mut t =
                    common::task(&name, &ports.iter().map(String::as_str).collect::<Vec<_>>());
                t.driver = driver.into();
                t.kill_timeout = kill_timeout;
                t.services = services;
                t.templates = templates;
                t.restart_policy = restart;
                t.resources = res.map(|(cores, cpu, memory_mb)| Resources {
                    cores,
                    cpu,
                    memory_mb,
                    ..Default::default()
                });
                t
            },
        )
}

fn update() -> impl Strategy<Value = UpdateStrategy> {
    (
        maybe(0i64..4),
        maybe(prop::sample::select(vec!["checks", "manual", "nope"])),
        maybe(duration()),
    )
        .prop_map(
            |(max_parallel, health_check, min_healthy_time)| UpdateStrategy {
                max_parallel,
                health_check: health_check.map(Into::into),
                min_healthy_time,
                ..Default::default()
            },
        )
}

fn group() -> impl Strategy<Value = TaskGroup> {
    (
        label(),
        maybe(-1i64..5),
        prop::collection::vec(task(), 0..3),
        prop::collection::vec(network(), 0..2),
        prop::collection::vec(service(), 0..2),
        maybe(restart()),
        maybe(update()),
        maybe((maybe(0i64..3), maybe(0i64..6))),
    )
        .prop_map(
            |(name, count, tasks, networks, services, restart, update, scaling)| TaskGroup {
                name,
                count,
                tasks,
                networks,
                services,
                restart_policy: restart,
                update,
                scaling: scaling.map(|(min, max)| ScalingPolicy {
                    min,
                    max,
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
}

fn job() -> impl Strategy<Value = Job> {
    (
        "[a-z][a-z0-9 -]{0,10}",
        maybe(prop::sample::select(vec![
            "service", "batch", "system", "sysbatch", "odd",
        ])),
        maybe(-1i64..120),
        prop::collection::vec(group(), 0..3),
        maybe(update()),
        maybe((
            maybe(0i64..4),
            maybe(prop::sample::select(vec!["constant", "exponential"])),
        )),
        maybe(prop::collection::vec("@(daily|hourly)", 0..2)),
    )
        .prop_map(
            |(id, kind, priority, task_groups, update, reschedule, periodic)| Job {
                id: JobId::new(id),
                job_type: kind.map(Into::into),
                priority,
                task_groups,
                update,
                reschedule: reschedule.map(|(attempts, f)| ReschedulePolicy {
                    attempts,
                    delay_function: f.map(Into::into),
                    ..Default::default()
                }),
                periodic: periodic.map(|specs| PeriodicConfig {
                    specs,
                    ..Default::default()
                }),
                ..Default::default()
            },
        )
}

fn round_trip(job: &Job) -> Job {
    job_from_json(serde_json::to_value(job).expect("serializes")).expect("reads back")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn json_round_trip_is_identity(job in job()) {
        prop_assert_eq!(&round_trip(&job), &job);
    }

    #[test]
    fn canonicalize_is_idempotent(job in job()) {
        let mut once = job.clone();
        once.canonicalize();
        let mut twice = once.clone();
        twice.canonicalize();
        prop_assert_eq!(&twice, &once);
        prop_assert_eq!(&round_trip(&once), &once);
    }

    #[test]
    fn canonicalize_keeps_every_port_and_no_static_stays_dynamic(job in job()) {
        let mut canonical = job.clone();
        canonical.canonicalize();
        for (before, after) in job.task_groups.iter().zip(&canonical.task_groups) {
            for (b, a) in before.networks.iter().zip(&after.networks) {
                prop_assert_eq!(b.ports().count(), a.ports().count());
                prop_assert!(a.dynamic_ports.iter().all(|p| p.value == 0));
                prop_assert!(!a.mode.is_empty());
            }
        }
    }

    #[test]
    fn validation_is_deterministic_and_paths_are_rooted(job in job()) {
        let mut canonical = job;
        canonical.canonicalize();
        let first = canonical.validate();
        prop_assert_eq!(&first, &canonical.validate());
        if let Err(errors) = first {
            prop_assert!(!errors.is_empty());
            for e in &errors {
                prop_assert!(!e.message.is_empty());
                prop_assert!(e.message.chars().next().is_some_and(|c| !c.is_uppercase()), "{}", e);
            }
        }
    }
}
