//! The seeds' job files: each parses and validates, with the values the scenarios
//! depend on.

mod common;

use caravan_jobspec::{ParseOptions, parse_and_validate};
use caravan_model::{Job, Port, Service, Task, TaskGroup};
use common::{must_parse_file, read, seeds};

fn seed(name: &str) -> Job {
    must_parse_file(&common::crate_dir().join("../../examples/seeds").join(name))
}

fn group<'a>(job: &'a Job, name: &str) -> &'a TaskGroup {
    job.group(name)
        .unwrap_or_else(|| panic!("group {name:?} in {}", job.id))
}

fn task<'a>(group: &'a TaskGroup, name: &str) -> &'a Task {
    group
        .task(name)
        .unwrap_or_else(|| panic!("task {name:?} in group {}", group.name))
}

fn port(label: &str, value: i64, to: i64) -> Port {
    Port {
        label: label.into(),
        value,
        to,
        ..Port::default()
    }
}

fn service(group: &TaskGroup) -> &Service {
    assert_eq!(
        group.services.len(),
        1,
        "one service in group {}",
        group.name
    );
    &group.services[0]
}

#[test]
fn every_seed_parses_and_validates() {
    for path in seeds() {
        let file = read(&path);
        if let Err(e) = parse_and_validate(&file, &ParseOptions::default()) {
            panic!("{} should validate:\n{e}", path.display());
        }
    }
}

#[test]
fn s1_dynamic_port_maps_to_6379() {
    let job = seed("s1-dynamic-port.nomad");
    assert_eq!(job.id.as_str(), "redis");
    assert_eq!(job.name, "redis");
    assert_eq!(job.datacenters, ["dc1"]);
    assert_eq!(job.job_type.as_deref(), Some("service"));
    let g = group(&job, "redis");
    assert_eq!(g.count, Some(1));
    let net = g.network().expect("a network");
    assert_eq!(net.mode, "host");
    assert_eq!(net.dynamic_ports, [port("redis", 0, 6379)]);
    let t = task(g, "redis");
    assert_eq!(t.driver, "docker");
    assert_eq!(t.config["image"], "redis:7");
    assert_eq!(t.config_ports(), ["redis"]);
    let res = t.resources.as_ref().expect("resources");
    assert_eq!((res.cores, res.memory_mb), (Some(1), Some(256)));
}

#[test]
fn s1_static_port_is_reserved_after_canonicalize() {
    let mut job = seed("s1-static-port.nomad");
    // As written, every port is dynamic; canonicalization moves the static one.
    assert_eq!(
        group(&job, "redis").networks[0].dynamic_ports,
        [port("redis", 6379, 6379)]
    );
    job.canonicalize();
    let net = &group(&job, "redis").networks[0];
    assert_eq!(net.reserved_ports, [port("redis", 6379, 6379)]);
    assert!(net.dynamic_ports.is_empty());
}

#[test]
fn s2_keeps_runtime_addresses_literally() {
    let job = seed("s2-same-group.nomad");
    let g = group(&job, "app");
    assert_eq!(g.tasks.len(), 2);
    let app = task(g, "app");
    assert_eq!(app.env["DEMO_REDIS_ADDR"], "${NOMAD_ADDR_redis}");
    assert_eq!(app.config["network_mode"], "host");
    assert_eq!(app.config["image"], "mrkaran/hello-app:1.0.0");
    assert_eq!(app.config_ports(), ["app"]);
    let net = g.network().expect("a network");
    assert_eq!(
        net.dynamic_ports,
        [port("app", 8080, 8080), port("redis", 6379, 6379)]
    );
    assert_eq!(task(g, "redis").config["network_mode"], "host");
}

#[test]
fn s3_two_groups_use_static_ports() {
    let job = seed("s3-two-groups.nomad");
    assert_eq!(
        job.task_groups
            .iter()
            .map(|g| g.name.as_str())
            .collect::<Vec<_>>(),
        ["app", "redis"]
    );
    assert_eq!(
        task(group(&job, "app"), "app").env["DEMO_REDIS_ADDR"],
        "localhost:6379"
    );
    assert_eq!(
        group(&job, "redis").networks[0].dynamic_ports,
        [port("redis", 6379, 6379)]
    );
}

#[test]
fn s3_nomad_services_and_the_template() {
    let job = seed("s3-nomad-service.nomad");
    let app = group(&job, "app");
    let s = service(app);
    assert_eq!(
        (s.name.as_str(), s.provider.as_str(), s.port_label.as_str()),
        ("app", "nomad", "app")
    );
    let s = service(group(&job, "redis"));
    assert_eq!(
        (s.name.as_str(), s.provider.as_str(), s.port_label.as_str()),
        ("redis", "nomad", "redis")
    );
    let t = task(app, "app");
    assert_eq!(t.templates.len(), 1);
    let tmpl = &t.templates[0];
    assert_eq!(
        tmpl.embedded_tmpl.as_deref(),
        Some(
            "{{ range nomadService \"redis\" }}\nDEMO_REDIS_ADDR={{ .Address }}:{{ .Port }}\n{{ end }}\n"
        )
    );
    assert_eq!(tmpl.dest_path.as_deref(), Some("secrets/config.env"));
    assert_eq!(tmpl.envvars, Some(true));
}

#[test]
fn s3_consul_services_and_the_template() {
    let job = seed("s3-consul-service.nomad");
    let app = group(&job, "app");
    assert_eq!(service(app).provider, "consul");
    assert_eq!(service(group(&job, "redis")).port_label, "redis");
    let tmpl = &task(app, "app").templates[0];
    assert_eq!(
        tmpl.embedded_tmpl.as_deref(),
        Some(
            "{{ range service \"redis\" }}\nDEMO_REDIS_ADDR={{ .Address }}:{{ .Port }}\n{{ end }}\n"
        )
    );
    assert_eq!(tmpl.envvars, Some(true));
}

#[test]
fn s4_connect_upstreams() {
    let job = seed("s4-connect.nomad");
    let app = group(&job, "app");
    assert_eq!(app.networks[0].mode, "bridge");
    let s = service(app);
    assert_eq!(
        (s.name.as_str(), s.provider.as_str(), s.port_label.as_str()),
        ("app", "consul", "app")
    );
    let proxy = s
        .connect
        .as_ref()
        .and_then(|c| c.sidecar_service.as_ref())
        .and_then(|ss| ss.proxy.as_ref())
        .expect("connect.sidecar_service.proxy");
    assert_eq!(proxy.upstreams.len(), 1);
    assert_eq!(proxy.upstreams[0].destination_name, "redis");
    assert_eq!(proxy.upstreams[0].local_bind_port, 6379);

    let redis = service(group(&job, "redis"));
    assert_eq!(redis.port_label, "6379");
    let sidecar = redis
        .connect
        .as_ref()
        .and_then(|c| c.sidecar_service.as_ref())
        .expect("an empty sidecar");
    assert!(sidecar.proxy.is_none());
    assert!(
        task(group(&job, "redis"), "redis")
            .config_ports()
            .is_empty()
    );
}

#[test]
fn s5_system_job_on_static_ports_with_a_check() {
    let mut job = seed("s5-ingress.nomad");
    assert_eq!(job.job_type.as_deref(), Some("system"));
    assert_eq!(job.datacenters, ["*"]);
    let g = group(&job, "ingress");
    assert_eq!(g.count, None, "no count is written");
    let s = service(g);
    assert_eq!(s.tags, ["ingress"]);
    assert_eq!(s.checks.len(), 1);
    let check = &s.checks[0];
    assert_eq!(check.check_type, "tcp");
    assert_eq!(check.interval, caravan_model::Duration::from_secs(10));
    assert_eq!(check.timeout, caravan_model::Duration::from_secs(2));
    let t = task(g, "haproxy");
    assert_eq!(
        t.config["volumes"],
        serde_json::json!(["local/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg"])
    );
    let tmpl = &t.templates[0];
    assert_eq!(tmpl.change_mode.as_deref(), Some("signal"));
    assert_eq!(tmpl.change_signal.as_deref(), Some("SIGUSR2"));
    // `<<-` removed the common indentation and kept the rest, Go template included.
    let data = tmpl.embedded_tmpl.as_deref().expect("data");
    assert!(data.starts_with("defaults\n  mode http\n"), "{data}");
    assert!(
        data.contains("  bind *:{{ env \"NOMAD_PORT_http\" }}\n"),
        "{data}"
    );
    assert!(
        data.contains("backend app\n{{- range nomadService \"app\" }}\n"),
        "{data}"
    );
    assert!(data.ends_with("{{- end }}\n"), "{data}");

    job.canonicalize();
    let net = &group(&job, "ingress").networks[0];
    assert_eq!(
        net.reserved_ports,
        [port("http", 80, 0), port("https", 443, 0)]
    );
}
