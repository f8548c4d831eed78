//! Jobs shared by the integration tests.

#![allow(dead_code)]

use std::collections::BTreeMap;

use caravan_model::{
    Affinity, ConnectProxy, ConnectUpstream, Constraint, Duration, Job, JobId, NetworkResource,
    Port, Resources, RestartPolicy, Segment, Service, ServiceCheck, SidecarService, Spread,
    SpreadTarget, Task, TaskGroup, Template, UpdateStrategy,
};
use serde_json::json;

pub fn port(label: &str, static_port: i64, to: i64) -> Port {
    Port {
        label: label.into(),
        value: static_port,
        to,
        ..Port::default()
    }
}

pub fn http_check(path: &str) -> ServiceCheck {
    ServiceCheck {
        check_type: "http".into(),
        path: path.into(),
        interval: Duration::from_secs(10),
        timeout: Duration::from_secs(2),
        ..ServiceCheck::default()
    }
}

pub fn task(name: &str, ports: &[&str]) -> Task {
    Task {
        name: name.into(),
        driver: "docker".into(),
        config: BTreeMap::from([
            ("image".into(), json!(format!("{name}:latest"))),
            ("ports".into(), json!(ports)),
        ]),
        ..Task::default()
    }
}

/// A service job as a user writes it: two tasks sharing a bridge network, a group service
/// in the mesh, a task service, a template, and policies at every level.
pub fn sample_job() -> Job {
    let web = Service {
        name: "web".into(),
        port_label: "http".into(),
        tags: vec!["urlprefix-/".into()],
        checks: vec![http_check("/health")],
        connect: Some(caravan_model::Connect {
            sidecar_service: Some(SidecarService {
                proxy: Some(ConnectProxy {
                    upstreams: vec![ConnectUpstream {
                        destination_name: "redis".into(),
                        local_bind_port: 6379,
                        ..ConnectUpstream::default()
                    }],
                    ..ConnectProxy::default()
                }),
                ..SidecarService::default()
            }),
            ..caravan_model::Connect::default()
        }),
        ..Service::default()
    };
    let mut server = task("server", &["http", "metrics"]);
    server.env = BTreeMap::from([("DEMO_REDIS_ADDR".into(), "${NOMAD_ADDR_redis}".into())]);
    server.templates = vec![Template {
        embedded_tmpl: Some(
            "{{ range nomadService \"redis\" }}ADDR={{ .Address }}{{ end }}".into(),
        ),
        dest_path: Some("secrets/config.env".into()),
        envvars: Some(true),
        ..Template::default()
    }];
    server.services = vec![Service {
        port_label: "metrics".into(),
        checks: vec![ServiceCheck {
            check_type: "tcp".into(),
            interval: Duration::from_secs(5),
            timeout: Duration::from_secs(1),
            ..ServiceCheck::default()
        }],
        ..Service::default()
    }];
    server.resources = Some(Resources {
        memory_mb: Some(256),
        ..Resources::default()
    });
    let mut redis = task("redis", &["redis"]);
    redis.restart_policy = Some(RestartPolicy {
        delay: Some(Duration::from_secs(1)),
        ..RestartPolicy::default()
    });

    Job {
        id: JobId::new("web"),
        datacenters: vec!["dc1".into()],
        constraints: vec![Constraint {
            l_target: "${attr.kernel.name}".into(),
            r_target: "linux".into(),
            ..Constraint::default()
        }],
        affinities: vec![Affinity {
            l_target: "${node.datacenter}".into(),
            r_target: "dc1".into(),
            ..Affinity::default()
        }],
        spreads: vec![Spread {
            attribute: "${node.datacenter}".into(),
            spread_target: vec![SpreadTarget {
                value: "dc1".into(),
                percent: 70,
            }],
            ..Spread::default()
        }],
        update: Some(UpdateStrategy {
            max_parallel: Some(2),
            ..UpdateStrategy::default()
        }),
        meta: BTreeMap::from([("owner".into(), "team-a".into())]),
        task_groups: vec![TaskGroup {
            name: "app".into(),
            networks: vec![NetworkResource {
                mode: "bridge".into(),
                dynamic_ports: vec![
                    port("http", 0, 8080),
                    port("redis", 6379, 6379),
                    port("metrics", 0, 9100),
                ],
                ..NetworkResource::default()
            }],
            services: vec![web],
            restart_policy: Some(RestartPolicy {
                attempts: Some(5),
                ..RestartPolicy::default()
            }),
            tasks: vec![server, redis],
            ..TaskGroup::default()
        }],
        ..Job::default()
    }
}

pub fn canonical_sample() -> Job {
    let mut job = sample_job();
    job.canonicalize();
    job
}

pub fn group(name: &str) -> Segment {
    Segment::Labeled("group", name.into())
}

pub fn task_seg(name: &str) -> Segment {
    Segment::Labeled("task", name.into())
}

pub fn service_seg(name: &str) -> Segment {
    Segment::Labeled("service", name.into())
}

pub fn field(name: &'static str) -> Segment {
    Segment::Field(name)
}

pub fn indexed(kind: &'static str, index: usize) -> Segment {
    Segment::Indexed(kind, index)
}
