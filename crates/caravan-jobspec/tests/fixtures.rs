//! Broad, real-world-like job files, with the model values they must decode to.

mod common;

use std::collections::BTreeMap;

use caravan_jobspec::{ParseOptions, SourceFile, parse, parse_and_validate};
use caravan_model::{
    Affinity, ChangeScript, CheckRestart, Constraint, DnsConfig, Duration, ExposePath, Job,
    LogConfig, MeshGateway, Port, RequestedDevice, RestartPolicy, Spread, SpreadTarget, Task,
    TaskArtifact, TaskGroup, UpdateStrategy, VolumeMount, VolumeRequest, WaitConfig,
};
use common::{fixture_path, fixtures, must_parse_file, read};
use serde_json::json;

fn fixture(name: &str) -> Job {
    must_parse_file(&fixture_path(name))
}

fn only_task(group: &TaskGroup) -> &Task {
    assert_eq!(group.tasks.len(), 1, "group {}", group.name);
    &group.tasks[0]
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn secs(s: i64) -> Option<Duration> {
    Some(Duration::from_secs(s))
}

fn constraint(l: &str, operand: &str, r: &str) -> Constraint {
    Constraint {
        l_target: l.into(),
        r_target: r.into(),
        operand: operand.into(),
    }
}

#[test]
fn every_fixture_parses_and_validates() {
    for path in fixtures() {
        let file = read(&path);
        let opts = common::fixture_options(&path);
        if let Err(e) = parse_and_validate(&file, &opts) {
            panic!("{} should validate:\n{e}", path.display());
        }
    }
}

#[test]
fn docker_connect_job_and_group() {
    let job = fixture("docker-connect.nomad");
    assert_eq!(job.datacenters, ["dc1", "dc2"]);
    assert_eq!(job.priority, Some(70));
    assert_eq!(
        job.update,
        Some(UpdateStrategy {
            stagger: secs(45),
            max_parallel: Some(2),
            health_check: Some("checks".into()),
            min_healthy_time: secs(15),
            healthy_deadline: Some(Duration::from_mins(3)),
            progress_deadline: Some(Duration::from_mins(10)),
            canary: Some(1),
            auto_revert: Some(true),
            auto_promote: Some(false),
        })
    );
    let g = &job.task_groups[0];
    assert_eq!(g.count, Some(3));
    let net = g.network().expect("network");
    assert_eq!(net.mode, "bridge");
    assert_eq!(net.hostname, "web-${NOMAD_ALLOC_INDEX}");
    assert_eq!(
        net.dynamic_ports,
        [
            Port {
                label: "http".into(),
                to: 8080,
                ..Port::default()
            },
            Port {
                label: "metrics".into(),
                value: 9102,
                to: -1,
                host_network: "internal".into(),
                ..Port::default()
            },
        ]
    );
    assert_eq!(
        net.dns,
        Some(DnsConfig {
            servers: vec!["10.0.0.2".into(), "10.0.0.3".into()],
            searches: vec!["service.consul".into()],
            options: vec!["ndots:2".into()],
        })
    );
    assert_eq!(
        g.restart_policy,
        Some(RestartPolicy {
            attempts: Some(5),
            interval: Some(Duration::from_mins(30)),
            delay: secs(25),
            mode: Some("delay".into()),
            render_templates: None,
        })
    );
    let rs = g.reschedule_policy.as_ref().expect("reschedule");
    assert_eq!(
        (rs.attempts, rs.delay_function.as_deref(), rs.max_delay),
        (Some(10), Some("exponential"), Some(Duration::from_mins(10)))
    );
    assert_eq!(rs.unlimited, Some(false));
    let migrate = g.migrate.as_ref().expect("migrate");
    assert_eq!(
        (migrate.max_parallel, migrate.healthy_deadline),
        (Some(1), Some(Duration::from_mins(5)))
    );
    let disk = g.ephemeral_disk.as_ref().expect("disk");
    assert_eq!(
        (disk.size_mb, disk.sticky, disk.migrate),
        (Some(500), Some(true), Some(true))
    );
    assert_eq!(
        g.volumes["certs"],
        VolumeRequest {
            name: "certs".into(),
            volume_type: "host".into(),
            source: "certs".into(),
            read_only: true,
            ..VolumeRequest::default()
        }
    );
    let scaling = g.scaling.as_ref().expect("scaling");
    assert_eq!(
        (scaling.min, scaling.max, scaling.enabled),
        (Some(2), Some(10), Some(true))
    );
    assert_eq!(scaling.policy["cooldown"], "1m");
    assert_eq!(
        scaling.policy["check"],
        json!({"cpu": {"source": "nomad-apm", "query": "avg_cpu", "strategy": {"target-value": {"target": 70}}}})
    );
}

#[test]
fn docker_connect_service_check_and_mesh() {
    let job = fixture("docker-connect.nomad");
    let s = &job.task_groups[0].services[0];
    assert_eq!(s.name, "web");
    assert_eq!(s.port_label, "http");
    assert_eq!(s.tags, ["urlprefix-/web", "v1"]);
    assert_eq!(s.canary_tags, ["canary"]);
    assert_eq!(s.address_mode, "auto");
    assert_eq!(s.on_update, "require_healthy");
    assert_eq!(s.meta, map(&[("version", "1.2.3")]));
    assert_eq!(s.canary_meta, map(&[("stage", "canary")]));
    assert_eq!(s.tagged_addresses, map(&[("lan", "10.0.0.10")]));
    let w = s.weights.expect("weights");
    assert_eq!((w.passing, w.warning), (10, 1));

    let check = &s.checks[0];
    assert_eq!(check.name, "web-health");
    assert_eq!(
        (check.check_type.as_str(), check.path.as_str()),
        ("http", "/health")
    );
    assert_eq!(
        (check.interval, check.timeout),
        (Duration::from_secs(10), Duration::from_secs(2))
    );
    assert_eq!(
        (check.method.as_str(), check.body.as_str(), check.expose),
        ("POST", "{}", true)
    );
    assert_eq!(check.header["Authorization"], ["Bearer x"]);
    assert_eq!(check.header["X-Trace"], ["1", "2"]);
    assert_eq!(
        check.check_restart,
        Some(CheckRestart {
            limit: 3,
            grace: secs(90),
            ignore_warnings: true
        })
    );

    let connect = s.connect.as_ref().expect("connect");
    let sidecar = connect.sidecar_service.as_ref().expect("sidecar_service");
    assert_eq!(
        (sidecar.tags.as_slice(), sidecar.port.as_str()),
        (&["mesh".to_owned()][..], "20000")
    );
    let proxy = sidecar.proxy.as_ref().expect("proxy");
    assert_eq!(
        (
            proxy.local_service_address.as_str(),
            proxy.local_service_port
        ),
        ("127.0.0.1", 8080)
    );
    assert_eq!(proxy.config["protocol"], "http");
    assert_eq!(proxy.upstreams.len(), 2);
    assert_eq!(
        (
            proxy.upstreams[0].destination_name.as_str(),
            proxy.upstreams[0].local_bind_port
        ),
        ("redis", 6379)
    );
    let api = &proxy.upstreams[1];
    assert_eq!(
        (
            api.destination_name.as_str(),
            api.local_bind_port,
            api.local_bind_address.as_str(),
            api.datacenter.as_str()
        ),
        ("api", 9090, "127.0.0.2", "dc2")
    );
    assert_eq!(api.destination_type, "service");
    assert_eq!(
        api.mesh_gateway,
        Some(MeshGateway {
            mode: "local".into()
        })
    );
    assert_eq!(api.config["connect_timeout_ms"], 5000);
    assert_eq!(
        proxy.expose.as_ref().expect("expose").paths,
        [ExposePath {
            path: "/health".into(),
            protocol: "http".into(),
            local_path_port: 8080,
            listener_port: "http".into()
        }]
    );
    let st = connect.sidecar_task.as_ref().expect("sidecar_task");
    assert_eq!((st.driver.as_str(), st.kill_timeout), ("docker", secs(10)));
    let res = st.resources.as_ref().expect("sidecar resources");
    assert_eq!((res.cpu, res.memory_mb), (Some(50), Some(64)));
    assert_eq!(
        st.log_config,
        Some(LogConfig {
            max_files: Some(2),
            max_file_size_mb: Some(5),
            disabled: None
        })
    );
}

#[test]
fn docker_connect_task_config_blocks_become_json() {
    let job = fixture("docker-connect.nomad");
    let t = only_task(&job.task_groups[0]);
    assert_eq!(t.config["image"], "example/web:1.2.3");
    assert_eq!(t.config["ports"], json!(["http", "metrics"]));
    assert_eq!(
        t.config["args"],
        json!(["--listen", "0.0.0.0:${NOMAD_PORT_http}"])
    );
    // A nested block is an object; a repeated one an array; nesting is kept.
    assert_eq!(
        t.config["logging"],
        json!({"type": "json-file", "config": {"max-size": "10m"}})
    );
    assert_eq!(
        t.config["mount"],
        json!([{"type": "bind", "source": "local/a", "target": "/a"}, {"type": "tmpfs", "target": "/tmp"}])
    );
    assert_eq!(t.config["port_map"], json!({"http": 8080}));
    assert_eq!(
        t.env,
        map(&[
            ("REDIS_ADDR", "${NOMAD_UPSTREAM_ADDR_redis}"),
            ("NODE", "${node.unique.name}")
        ])
    );
    assert_eq!(
        t.volume_mounts,
        [VolumeMount {
            volume: Some("certs".into()),
            destination: Some("/etc/certs".into()),
            read_only: Some(true),
            propagation_mode: None,
        }]
    );
    let res = t.resources.as_ref().expect("resources");
    assert_eq!(
        (res.cpu, res.memory_mb, res.memory_max_mb),
        (Some(500), Some(256), Some(512))
    );
}

#[test]
fn raw_exec_artifacts_templates_and_lifecycle() {
    let job = fixture("raw-exec-artifacts.nomad");
    assert_eq!(
        (job.namespace.as_deref(), job.region.as_deref()),
        (Some("tools"), Some("eu"))
    );
    let g = &job.task_groups[0];
    assert_eq!(g.shutdown_delay, secs(5));
    assert_eq!(
        g.networks[0].dynamic_ports,
        [Port {
            label: "api".into(),
            ..Port::default()
        }]
    );

    let init = g.task("init").expect("init task");
    let lifecycle = init.lifecycle.as_ref().expect("lifecycle");
    assert_eq!(
        (lifecycle.hook.as_str(), lifecycle.sidecar),
        ("prestart", false)
    );
    assert_eq!(
        init.config["args"],
        json!(["-c", "mkdir -p ${NOMAD_ALLOC_DIR}/data"])
    );

    let t = g.task("server").expect("server task");
    assert_eq!(
        (t.driver.as_str(), t.user.as_str(), t.leader),
        ("raw_exec", "nobody", true)
    );
    assert_eq!(
        (t.kill_timeout, t.kill_signal.as_str()),
        (secs(20), "SIGTERM")
    );
    assert_eq!(t.shutdown_delay, Duration::from_secs(2));
    assert_eq!(t.meta, map(&[("owner", "team-a")]));
    assert_eq!(
        t.artifacts,
        [
            TaskArtifact {
                getter_source: Some("https://example.com/fetcher-1.0.tar.gz".into()),
                getter_options: map(&[("checksum", "sha256:abcd")]),
                getter_headers: map(&[("User-Agent", "caravan")]),
                getter_mode: Some("any".into()),
                relative_dest: Some("local/".into()),
            },
            TaskArtifact {
                getter_source: Some("https://example.com/fetcher.conf".into()),
                getter_mode: Some("file".into()),
                relative_dest: Some("local/fetcher.conf".into()),
                ..TaskArtifact::default()
            },
        ]
    );
    let tmpl = &t.templates[0];
    assert_eq!(tmpl.source_path.as_deref(), Some("local/fetcher.conf"));
    assert_eq!(tmpl.dest_path.as_deref(), Some("local/fetcher.rendered"));
    assert_eq!(tmpl.embedded_tmpl, None);
    assert_eq!(
        (tmpl.change_mode.as_deref(), tmpl.perms.as_deref()),
        (Some("script"), Some("0600"))
    );
    assert_eq!(
        (tmpl.uid, tmpl.gid, tmpl.splay),
        (Some(1000), Some(1000), secs(10))
    );
    assert_eq!(
        (tmpl.left_delim.as_deref(), tmpl.right_delim.as_deref()),
        (Some("[["), Some("]]"))
    );
    assert_eq!((tmpl.err_missing_key, tmpl.once), (Some(true), Some(false)));
    assert_eq!(
        tmpl.change_script,
        Some(ChangeScript {
            command: Some("/bin/reload".into()),
            args: vec!["-now".into()],
            timeout: secs(30),
            fail_on_error: Some(true),
        })
    );
    assert_eq!(
        tmpl.wait,
        Some(WaitConfig {
            min: secs(2),
            max: secs(10)
        })
    );
    let env_tmpl = &t.templates[1];
    assert_eq!(
        env_tmpl.embedded_tmpl.as_deref(),
        Some("PORT={{ env \"NOMAD_PORT_api\" }}\n")
    );
    assert_eq!(
        (env_tmpl.envvars, env_tmpl.change_mode.as_deref()),
        (Some(true), Some("noop"))
    );
    assert_eq!(
        t.log_config,
        Some(LogConfig {
            max_files: Some(5),
            max_file_size_mb: Some(20),
            disabled: Some(false)
        })
    );
    assert_eq!(
        t.restart_policy,
        Some(RestartPolicy {
            attempts: Some(1),
            delay: secs(5),
            render_templates: Some(true),
            ..RestartPolicy::default()
        })
    );
    let res = t.resources.as_ref().expect("resources");
    assert_eq!(
        (res.cpu, res.memory_mb, res.cores),
        (Some(250), Some(128), Some(0))
    );
    assert_eq!(
        res.devices,
        [RequestedDevice {
            name: "nvidia/gpu".into(),
            count: Some(2),
            constraints: vec![constraint("${device.attr.memory}", ">=", "2 GiB")],
            affinities: vec![Affinity {
                l_target: "${device.model}".into(),
                r_target: "Tesla K80".into(),
                operand: String::new(),
                weight: Some(50),
            }],
        }]
    );
}

#[test]
fn batch_periodic_with_a_task_under_the_job() {
    let job = fixture("batch-periodic.nomad");
    assert_eq!(job.job_type.as_deref(), Some("batch"));
    let p = job.periodic.as_ref().expect("periodic");
    assert_eq!(p.specs, ["0 2 * * *", "30 14 * * 1-5"]);
    assert_eq!(p.spec.as_deref(), Some("0 2 * * *"));
    assert_eq!(p.spec_type.as_deref(), Some("cron"));
    assert_eq!((p.prohibit_overlap, p.enabled), (Some(true), Some(true)));
    assert_eq!(p.time_zone.as_deref(), Some("Europe/Paris"));
    let rs = job.reschedule.as_ref().expect("job reschedule");
    assert_eq!(
        (rs.unlimited, rs.delay),
        (Some(true), Some(Duration::from_mins(1)))
    );
    // The task became a group of the same name.
    assert_eq!(job.task_groups.len(), 1);
    let g = &job.task_groups[0];
    assert_eq!(g.name, "backup");
    let t = only_task(g);
    assert_eq!((t.name.as_str(), t.driver.as_str()), ("backup", "exec"));
    assert_eq!(
        t.config["args"],
        json!(["--target", "s3://bucket/${NOMAD_JOB_ID}"])
    );
    assert_eq!(
        t.restart_policy.as_ref().and_then(|r| r.interval),
        Some(Duration::from_hours(24))
    );
}

#[test]
fn parameterized_dispatch_job() {
    let job = fixture("parameterized.nomad");
    let p = job.parameterized.as_ref().expect("parameterized");
    assert_eq!(p.payload, "required");
    assert_eq!(p.meta_required, ["input"]);
    assert_eq!(p.meta_optional, ["profile", "priority"]);
    assert_eq!(job.meta, map(&[("profile", "default")]));
    let t = only_task(&job.task_groups[0]);
    assert_eq!(
        t.dispatch_payload.as_ref().map(|d| d.file.as_str()),
        Some("input.json")
    );
    assert_eq!(
        t.config["args"],
        json!([
            "-i",
            "${NOMAD_META_input}",
            "-profile",
            "${NOMAD_META_profile}"
        ])
    );
}

#[test]
fn system_job_placement_rules() {
    let job = fixture("system-constraints.nomad");
    assert_eq!(job.job_type.as_deref(), Some("system"));
    assert_eq!(
        (job.node_pool.as_deref(), job.priority, job.all_at_once),
        (Some("all"), Some(90), Some(false))
    );
    assert_eq!(
        (job.vault_token.as_deref(), job.consul_token.as_deref()),
        (Some("s.token"), Some("c.token"))
    );
    // Non-string meta values are stringified; dotted keys need the map form.
    assert_eq!(
        job.meta,
        map(&[
            ("team.name", "platform"),
            ("tier", "1"),
            ("enabled", "true")
        ])
    );
    assert_eq!(
        job.constraints,
        [
            constraint("${attr.kernel.name}", "", "linux"),
            constraint("${attr.os.version}", "version", ">= 20.04"),
            constraint("${attr.kernel.version}", "semver", ">= 5.4.0"),
            constraint("${node.class}", "regexp", "^(web|api)$"),
            constraint("${meta.roles}", "set_contains", "metrics"),
            constraint("${meta.zones}", "set_contains_any", "a,b"),
            constraint("${meta.features}", "set_contains_all", "x,y"),
            constraint("", "distinct_hosts", "true"),
            // `distinct_hosts = false` is no constraint at all.
            constraint("${meta.rack}", "distinct_property", "2"),
            constraint("${meta.gpu}", "is_not_set", ""),
            constraint("${attr.driver.docker}", "is_set", ""),
        ]
    );
    assert_eq!(
        job.affinities,
        [
            Affinity {
                l_target: "${node.datacenter}".into(),
                r_target: "dc1".into(),
                operand: String::new(),
                weight: Some(80)
            },
            Affinity {
                l_target: "${meta.rack}".into(),
                r_target: "r1".into(),
                operand: "!=".into(),
                weight: Some(-30)
            },
        ]
    );
    assert_eq!(
        job.spreads,
        [Spread {
            attribute: "${node.datacenter}".into(),
            weight: Some(100),
            spread_target: vec![
                SpreadTarget {
                    value: "dc1".into(),
                    percent: 50
                },
                SpreadTarget {
                    value: "dc2".into(),
                    percent: 30
                },
            ],
        }]
    );
    assert_eq!(
        job.ui,
        Some(
            json!({"description": "exports node metrics", "link": {"label": "docs", "url": "https://example.com"}})
        )
    );
    let t = only_task(&job.task_groups[0]);
    assert_eq!(
        t.constraints,
        [constraint("${attr.cpu.arch}", "=", "amd64")]
    );
    // The job's vault block is every task's default.
    assert_eq!(
        t.vault,
        Some(json!({"policies": ["metrics"], "change_mode": "restart"}))
    );
    assert_eq!(t.identity, Some(json!({"env": true, "file": false})));
    assert_eq!(t.consul, Some(json!({"namespace": "infra"})));
    let s = &job.task_groups[0].services[0];
    assert_eq!(
        (s.provider.as_str(), s.checks[0].path.as_str()),
        ("nomad", "/metrics")
    );
}

#[test]
fn heredocs_escapes_and_directives() {
    let job = fixture("heredoc.nomad");
    let t = only_task(&job.task_groups[0]);
    assert_eq!(
        t.config["args"],
        json!(["-c", "echo \"${HOME}\" hello\nexec sleep infinity\n"])
    );
    let data: Vec<&str> = t
        .templates
        .iter()
        .map(|t| t.embedded_tmpl.as_deref().expect("data"))
        .collect();
    assert_eq!(data[0], "  indented {{ .Key }}\n    more\n");
    assert_eq!(
        data[1],
        "{{ range nomadService \"redis\" }}\nserver {{ .Address }}:{{ .Port }}\n{{ end }}\n  nested hello\n\
         literal ${NOMAD_TASK_DIR} and ${NOMAD_ALLOC_ID}\npercent %{ not a directive }\nbackslash \\n stays\n"
    );
    assert_eq!(data[2], "greeted");
}

#[test]
fn maps_with_dotted_keys_and_legacy_network() {
    let job = fixture("maps.nomad");
    assert_eq!(
        job.meta,
        map(&[("build.sha", "abc123"), ("build.num", "42")])
    );
    let g = &job.task_groups[0];
    assert_eq!(g.meta, map(&[("owner", "ops"), ("on", "true")]));
    let t = only_task(g);
    assert_eq!(t.config["image"], "busybox:1");
    assert_eq!(t.config["labels"], json!({"com.example.team": "ops"}));
    assert_eq!(
        t.env,
        map(&[
            ("app.name", "maps"),
            ("JAVA_OPTS", "-Xmx512m"),
            ("RETRIES", "3"),
            ("VERBOSE", "true"),
            ("PI", "3.14"),
            ("NODE", "${attr.unique.hostname}"),
            ("RACK", "${meta.rack}"),
            ("ANY_ENV", "${env[\"HOME\"]}"),
        ])
    );
    assert_eq!(t.meta, map(&[("k8s.io/name", "maps")]));
    let res = t.resources.as_ref().expect("resources");
    assert_eq!(res.networks.len(), 1);
    assert_eq!(res.networks[0].mbits, Some(10));
    assert_eq!(
        res.networks[0].dynamic_ports,
        [Port {
            label: "legacy".into(),
            ..Port::default()
        }]
    );
}

fn variables_job(opts: &ParseOptions) -> Result<Job, caravan_jobspec::Diagnostics> {
    parse(&read(&fixture_path("variables.nomad")), opts)
}

fn with_var(name: &str, value: &str) -> ParseOptions {
    ParseOptions {
        vars: vec![(name.into(), value.into())],
        ..ParseOptions::default()
    }
}

#[test]
fn variables_defaults_and_locals() {
    let job = variables_job(&with_var("image_tag", "1.0")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(job.region.as_deref(), Some("eu"));
    assert_eq!(job.datacenters, ["dc1"]);
    let g = &job.task_groups[0];
    assert_eq!(g.count, Some(1));
    assert_eq!(g.networks[0].dynamic_ports[0].to, 8080);
    let t = only_task(g);
    assert_eq!(t.config["image"], "registry.eu.example.com/app:1.0");
    assert_eq!(
        t.env,
        map(&[
            ("DEBUG", "false"),
            ("TEAM", "a"),
            ("LISTEN", "0.0.0.0:8080"),
            ("ALLOC_ADDR", "${NOMAD_ADDR_http}")
        ])
    );
}

#[test]
fn variables_precedence_default_env_file_flag() {
    let mut opts = with_var("image_tag", "3.0");
    opts.env.insert("NOMAD_VAR_region".into(), "us".into());
    opts.env
        .insert("NOMAD_VAR_image_tag".into(), "from-env".into());
    opts.env.insert("NOMAD_VAR_replicas".into(), "2".into());
    opts.env
        .insert("NOMAD_VAR_ports".into(), "[9000, 9001]".into());
    opts.env.insert("NOMAD_VAR_debug".into(), "true".into());
    opts.env
        .insert("NOMAD_VAR_undeclared".into(), "ignored".into());
    let var_file = std::fs::read_to_string(fixture_path("variables.vars.hcl")).expect("var file");
    opts.var_files
        .push(SourceFile::new("variables.vars.hcl", var_file));
    opts.vars.push(("region".into(), "ap".into()));

    let job = variables_job(&opts).unwrap_or_else(|e| panic!("{e}"));
    // -var beats the environment.
    assert_eq!(job.region.as_deref(), Some("ap"));
    let g = &job.task_groups[0];
    // The var file beats the environment.
    assert_eq!(g.count, Some(3));
    assert_eq!(g.networks[0].dynamic_ports[0].to, 9000);
    let t = only_task(g);
    // -var beats the var file, which beats the environment.
    assert_eq!(t.config["image"], "registry.ap.example.com/app:3.0");
    assert_eq!(t.env["DEBUG"], "true");
    assert_eq!(t.env["TEAM"], "b");
}

#[test]
fn variables_json_var_file() {
    let mut opts = ParseOptions::default();
    opts.var_files.push(SourceFile::new(
        "vars.json",
        r#"{"image_tag": "4.0", "labels": {"team": "c"}}"#,
    ));
    let job = variables_job(&opts).unwrap_or_else(|e| panic!("{e}"));
    let t = only_task(&job.task_groups[0]);
    assert_eq!(t.config["image"], "registry.eu.example.com/app:4.0");
    assert_eq!(t.env["TEAM"], "c");
}

#[test]
fn variables_errors() {
    // No value at all.
    let diags = variables_job(&ParseOptions::default())
        .expect_err("image_tag is required")
        .0;
    common::assert_error(
        &diags,
        "variable `image_tag` has no default and no value",
        8,
        1,
    );
    assert_eq!(
        diags.len(),
        1,
        "no cascade of errors after a missing variable"
    );

    // An unknown -var, a value of the wrong type, and a failing validation.
    let mut opts = with_var("image_tag", "1");
    opts.vars.push(("imagetag".into(), "2".into()));
    opts.vars.push(("replicas".into(), "many".into()));
    let diags = variables_job(&opts).expect_err("bad vars").0;
    let unknown = diags
        .iter()
        .find(|d| d.message.contains("undefined variable `imagetag`"))
        .expect("unknown -var");
    assert!(
        unknown.message.contains("did you mean `image_tag`?"),
        "{}",
        unknown.message
    );
    assert_eq!(
        (unknown.file.as_str(), unknown.line),
        ("-var imagetag=2", 0)
    );
    assert!(diags.iter().any(|d| {
        d.message
            .contains("invalid value for variable `replicas`: a number is required")
    }));

    let diags = variables_job(&{
        let mut o = with_var("image_tag", "1");
        o.vars.push(("replicas".into(), "11".into()));
        o
    })
    .expect_err("validation")
    .0;
    common::assert_error(
        &diags,
        "invalid value for variable `replicas`: replicas must be between 1 and 10",
        16,
        3,
    );

    // A var file naming an undeclared variable points into the var file.
    let mut opts = with_var("image_tag", "1");
    opts.var_files.push(SourceFile::new(
        "extra.hcl",
        "image_tag = \"x\"\n\nnope = 1\n",
    ));
    let diags = variables_job(&opts).expect_err("undeclared").0;
    let d = diags
        .iter()
        .find(|d| d.message.contains("undefined variable `nope`"))
        .expect("undeclared");
    assert_eq!((d.file.as_str(), d.line, d.col), ("extra.hcl", 3, 1));
}
