//! Nomad's defaults, asserted field by field.

mod common;

use caravan_model::{
    Affinity, CheckRestart, Connect, Constraint, Duration, EphemeralDisk, Job, JobId, Lifecycle,
    LogConfig, MigrateStrategy, NetworkResource, ParameterizedJobConfig, PeriodicConfig, Port,
    ReschedulePolicy, Resources, RestartPolicy, ScalingPolicy, Service, SidecarService, Spread,
    Task, TaskArtifact, TaskGroup, Template, UpdateStrategy,
};
use common::{canonical_sample, http_check, port, sample_job, task};

fn secs(s: i64) -> Option<Duration> {
    Some(Duration::from_secs(s))
}

fn job_of_type(kind: &str, group: TaskGroup) -> Job {
    let mut job = Job {
        id: JobId::new("j"),
        job_type: Some(kind.into()),
        task_groups: vec![group],
        ..Job::default()
    };
    job.canonicalize();
    job
}

fn one_task_group() -> TaskGroup {
    TaskGroup {
        name: "g".into(),
        tasks: vec![task("t", &[])],
        ..TaskGroup::default()
    }
}

#[test]
fn service_job_gets_nomads_defaults() {
    let job = canonical_sample();
    assert_eq!(job.name, "web");
    assert_eq!(job.namespace.as_deref(), Some("default"));
    assert_eq!(job.region.as_deref(), Some("global"));
    assert_eq!(job.job_type.as_deref(), Some("service"));
    assert_eq!(job.priority, Some(50));
    assert_eq!(job.all_at_once, Some(false));
    assert_eq!(job.node_pool.as_deref(), Some("default"));
    assert_eq!(job.datacenters, ["dc1"], "explicit datacenters are kept");
    assert_eq!(job.constraints[0].operand, "=");
    assert_eq!(job.affinities[0].operand, "=");
    assert_eq!(job.affinities[0].weight, Some(50));
    assert_eq!(job.spreads[0].weight, Some(50));
    let update = UpdateStrategy {
        stagger: secs(30),
        max_parallel: Some(2),
        health_check: Some("checks".into()),
        min_healthy_time: secs(10),
        healthy_deadline: Some(Duration::from_mins(5)),
        progress_deadline: Some(Duration::from_mins(10)),
        canary: Some(0),
        auto_revert: Some(false),
        auto_promote: Some(false),
    };
    assert_eq!(job.update.as_ref(), Some(&update));

    let g = &job.task_groups[0];
    assert_eq!(g.count, Some(1));
    assert_eq!(
        g.update.as_ref(),
        Some(&update),
        "the group inherits the job's update"
    );
    assert_eq!(
        g.ephemeral_disk,
        Some(EphemeralDisk {
            sticky: Some(false),
            migrate: Some(false),
            size_mb: Some(300)
        })
    );
    assert_eq!(
        g.migrate,
        Some(MigrateStrategy {
            max_parallel: Some(1),
            health_check: Some("checks".into()),
            min_healthy_time: secs(10),
            healthy_deadline: Some(Duration::from_mins(5)),
        })
    );
    assert_eq!(
        g.reschedule_policy,
        Some(ReschedulePolicy {
            attempts: Some(0),
            interval: Some(Duration::ZERO),
            delay: secs(30),
            delay_function: Some("exponential".into()),
            max_delay: Some(Duration::from_hours(1)),
            unlimited: Some(true),
        })
    );
    let group_restart = RestartPolicy {
        attempts: Some(5),
        interval: Some(Duration::from_mins(30)),
        delay: secs(15),
        mode: Some("fail".into()),
        render_templates: Some(false),
    };
    assert_eq!(g.restart_policy.as_ref(), Some(&group_restart));

    let net = &g.networks[0];
    assert_eq!(net.mode, "bridge");
    let svc = &g.services[0];
    assert_eq!(svc.name, "web");
    assert_eq!(svc.provider, "consul");
    assert_eq!(svc.address_mode, "auto");
    assert_eq!(svc.on_update, "require_healthy");
    let check = &svc.checks[0];
    assert_eq!(check.name, "service: \"web\" check");
    assert_eq!(check.method, "GET");
    assert_eq!(check.protocol, "http");
    assert_eq!(check.address_mode, "host");
    assert_eq!(check.on_update, "require_healthy");
    let connect = svc.connect.as_ref().expect("connect kept");
    let sidecar_task = connect
        .sidecar_task
        .as_ref()
        .expect("sidecar task defaulted");
    assert_eq!(sidecar_task.name, "connect-proxy-web");
    assert_eq!(sidecar_task.driver, "docker");
    assert_eq!(sidecar_task.kill_timeout, secs(5));
    assert_eq!(sidecar_task.shutdown_delay, secs(5));
    let proxy = connect
        .sidecar_service
        .as_ref()
        .and_then(|s| s.proxy.as_ref());
    assert_eq!(
        proxy.map(|p| p.local_service_address.as_str()),
        Some("127.0.0.1")
    );

    let server = &g.tasks[0];
    assert_eq!(server.kill_timeout, secs(5));
    assert_eq!(
        server.log_config,
        Some(LogConfig {
            max_files: Some(10),
            max_file_size_mb: Some(10),
            disabled: Some(false)
        })
    );
    let resources = server.resources.as_ref().expect("resources defaulted");
    assert_eq!(resources.cpu, Some(100));
    assert_eq!(resources.cores, Some(0));
    assert_eq!(resources.memory_mb, Some(256), "explicit memory is kept");
    assert_eq!(resources.memory_max_mb, None);
    assert_eq!(
        server.restart_policy.as_ref(),
        Some(&group_restart),
        "tasks inherit the group's"
    );
    let tmpl = &server.templates[0];
    assert_eq!(tmpl.change_mode.as_deref(), Some("restart"));
    assert_eq!(tmpl.change_signal, None);
    assert_eq!(tmpl.perms.as_deref(), Some("0644"));
    assert_eq!(tmpl.splay, secs(5));
    assert_eq!(tmpl.left_delim.as_deref(), Some("{{"));
    assert_eq!(tmpl.right_delim.as_deref(), Some("}}"));
    assert_eq!(tmpl.envvars, Some(true), "explicit env is kept");
    assert_eq!(tmpl.err_missing_key, Some(false));
    assert_eq!(tmpl.once, Some(false));
    let task_svc = &server.services[0];
    assert_eq!(task_svc.name, "web-app-server");
    assert_eq!(task_svc.checks[0].name, "service: \"web-app-server\" check");
    assert_eq!(
        task_svc.checks[0].method, "",
        "method is for http checks only"
    );
    assert_eq!(task_svc.checks[0].protocol, "");

    let redis = &g.tasks[1];
    assert_eq!(
        redis.restart_policy,
        Some(RestartPolicy {
            delay: secs(1),
            ..group_restart.clone()
        }),
        "the task's own fields win over the group's"
    );
    assert_eq!(
        redis.resources.as_ref().and_then(|r| r.memory_mb),
        Some(300)
    );
}

#[test]
fn batch_job_defaults() {
    let job = job_of_type("batch", one_task_group());
    assert_eq!(job.job_type.as_deref(), Some("batch"));
    assert_eq!(job.datacenters, ["*"]);
    assert_eq!(job.update, None, "batch jobs have no update strategy");
    let g = &job.task_groups[0];
    assert_eq!(g.update, None);
    assert_eq!(g.migrate, None, "migrate defaults are for service jobs");
    assert_eq!(
        g.restart_policy,
        Some(RestartPolicy {
            attempts: Some(3),
            interval: Some(Duration::from_hours(24)),
            delay: secs(15),
            mode: Some("fail".into()),
            render_templates: Some(false),
        })
    );
    assert_eq!(
        g.reschedule_policy,
        Some(ReschedulePolicy {
            attempts: Some(1),
            interval: Some(Duration::from_hours(24)),
            delay: secs(5),
            delay_function: Some("constant".into()),
            max_delay: Some(Duration::ZERO),
            unlimited: Some(false),
        })
    );
    assert_eq!(g.tasks[0].restart_policy, g.restart_policy);
    assert_eq!(g.tasks[0].kill_timeout, secs(5));
}

#[test]
fn system_and_sysbatch_jobs_are_not_rescheduled() {
    let system = job_of_type("system", one_task_group());
    let g = &system.task_groups[0];
    assert_eq!(g.reschedule_policy, None);
    assert!(
        g.update.is_some(),
        "system jobs roll out with an update strategy"
    );
    assert_eq!(g.restart_policy.as_ref().and_then(|p| p.attempts), Some(2));
    assert_eq!(g.migrate, None);

    let sysbatch = job_of_type("sysbatch", one_task_group());
    let g = &sysbatch.task_groups[0];
    assert_eq!(g.reschedule_policy, None);
    assert_eq!(g.update, None);
    assert_eq!(g.restart_policy.as_ref().and_then(|p| p.attempts), Some(3));
}

#[test]
fn explicit_name_is_kept() {
    let mut job = sample_job();
    job.name = "Web front".into();
    job.canonicalize();
    assert_eq!(job.name, "Web front");
    assert_eq!(
        job.task_groups[0].tasks[0].services[0].name,
        "Web front-app-server"
    );
}

#[test]
fn count_comes_from_scaling_min() {
    let mut group = one_task_group();
    group.scaling = Some(ScalingPolicy {
        min: Some(3),
        max: Some(10),
        ..ScalingPolicy::default()
    });
    let job = job_of_type("service", group);
    let g = &job.task_groups[0];
    assert_eq!(g.count, Some(3));
    assert_eq!(g.scaling.as_ref().and_then(|s| s.enabled), Some(true));

    let mut group = one_task_group();
    group.count = Some(4);
    group.scaling = Some(ScalingPolicy {
        max: Some(10),
        ..ScalingPolicy::default()
    });
    let job = job_of_type("service", group);
    let g = &job.task_groups[0];
    assert_eq!(g.count, Some(4), "an explicit count wins");
    assert_eq!(
        g.scaling.as_ref().and_then(|s| s.min),
        Some(4),
        "scaling min defaults to count"
    );
}

#[test]
fn update_merges_job_under_group() {
    let mut group = one_task_group();
    group.update = Some(UpdateStrategy {
        canary: Some(1),
        ..UpdateStrategy::default()
    });
    let mut job = Job {
        id: JobId::new("j"),
        update: Some(UpdateStrategy {
            max_parallel: Some(3),
            canary: Some(2),
            ..UpdateStrategy::default()
        }),
        task_groups: vec![group],
        ..Job::default()
    };
    job.canonicalize();
    let u = job.task_groups[0].update.as_ref().expect("update");
    assert_eq!(u.canary, Some(1), "group wins");
    assert_eq!(
        u.max_parallel,
        Some(3),
        "job fills what the group leaves unset"
    );
    assert_eq!(
        u.health_check.as_deref(),
        Some("checks"),
        "defaults fill the rest"
    );
}

#[test]
fn reschedule_layers_defaults_job_group() {
    let mut group = one_task_group();
    group.reschedule_policy = Some(ReschedulePolicy {
        attempts: Some(7),
        ..ReschedulePolicy::default()
    });
    let mut job = Job {
        id: JobId::new("j"),
        job_type: Some("batch".into()),
        reschedule: Some(ReschedulePolicy {
            attempts: Some(2),
            delay: secs(9),
            ..ReschedulePolicy::default()
        }),
        task_groups: vec![group, one_task_group()],
        ..Job::default()
    };
    job.task_groups[1].name = "h".into();
    job.canonicalize();
    let own = job.task_groups[0]
        .reschedule_policy
        .as_ref()
        .expect("reschedule");
    assert_eq!(own.attempts, Some(7));
    assert_eq!(own.delay, secs(9));
    assert_eq!(own.delay_function.as_deref(), Some("constant"));
    let inherited = job.task_groups[1]
        .reschedule_policy
        .as_ref()
        .expect("reschedule");
    assert_eq!(inherited.attempts, Some(2));
    assert_eq!(inherited.interval, Some(Duration::from_hours(24)));
}

#[test]
fn migrate_layers_defaults_job_group() {
    let mut group = one_task_group();
    group.migrate = Some(MigrateStrategy {
        max_parallel: Some(4),
        ..MigrateStrategy::default()
    });
    let mut job = Job {
        id: JobId::new("j"),
        migrate: Some(MigrateStrategy {
            health_check: Some("task_states".into()),
            max_parallel: Some(2),
            ..MigrateStrategy::default()
        }),
        task_groups: vec![group],
        ..Job::default()
    };
    job.canonicalize();
    let m = job.task_groups[0].migrate.as_ref().expect("migrate");
    assert_eq!(m.max_parallel, Some(4));
    assert_eq!(m.health_check.as_deref(), Some("task_states"));
    assert_eq!(m.min_healthy_time, secs(10));
}

#[test]
fn restart_precedence_job_type_group_task() {
    let mut group = one_task_group();
    group.restart_policy = Some(RestartPolicy {
        attempts: Some(9),
        mode: Some("delay".into()),
        ..RestartPolicy::default()
    });
    group.tasks[0].restart_policy = Some(RestartPolicy {
        mode: Some("fail".into()),
        ..RestartPolicy::default()
    });
    let job = job_of_type("batch", group);
    let t = job.task_groups[0].tasks[0]
        .restart_policy
        .as_ref()
        .expect("restart");
    assert_eq!(t.mode.as_deref(), Some("fail"), "task wins");
    assert_eq!(t.attempts, Some(9), "group next");
    assert_eq!(
        t.interval,
        Some(Duration::from_hours(24)),
        "batch default last"
    );
}

#[test]
fn static_ports_move_to_reserved_in_order() {
    let mut group = one_task_group();
    group.networks = vec![NetworkResource {
        reserved_ports: vec![port("admin", 9000, 0)],
        dynamic_ports: vec![
            port("a", 0, 80),
            port("b", 8080, 0),
            port("c", 0, -1),
            port("d", 443, 443),
        ],
        ..NetworkResource::default()
    }];
    let job = job_of_type("service", group);
    let net = &job.task_groups[0].networks[0];
    assert_eq!(net.mode, "host");
    let labels = |ports: &[Port]| ports.iter().map(|p| p.label.clone()).collect::<Vec<_>>();
    assert_eq!(labels(&net.reserved_ports), ["admin", "b", "d"]);
    assert_eq!(labels(&net.dynamic_ports), ["a", "c"]);
    assert_eq!(net.port("d"), Some(&port("d", 443, 443)));
}

#[test]
fn cores_leave_cpu_at_zero() {
    let mut group = one_task_group();
    group.tasks[0].resources = Some(Resources {
        cores: Some(2),
        ..Resources::default()
    });
    let job = job_of_type("service", group);
    let r = job.task_groups[0].tasks[0]
        .resources
        .as_ref()
        .expect("resources");
    assert_eq!((r.cores, r.cpu, r.memory_mb), (Some(2), Some(0), Some(300)));
}

#[test]
fn template_signal_defaults() {
    let mut group = one_task_group();
    group.tasks[0].templates = vec![
        Template {
            change_mode: Some("signal".into()),
            ..Template::default()
        },
        Template {
            change_mode: Some("signal".into()),
            change_signal: Some("sigusr1".into()),
            ..Template::default()
        },
    ];
    let job = job_of_type("service", group);
    let t = &job.task_groups[0].tasks[0].templates;
    assert_eq!(t[0].change_signal.as_deref(), Some("SIGHUP"));
    assert_eq!(t[1].change_signal.as_deref(), Some("SIGUSR1"));
}

#[test]
fn check_inherits_service_settings() {
    let mut group = one_task_group();
    let mut own = http_check("/b");
    own.on_update = "ignore".into();
    own.address_mode = "driver".into();
    own.check_restart = Some(CheckRestart {
        limit: 5,
        ..CheckRestart::default()
    });
    group.services = vec![
        Service {
            on_update: "ignore_warnings".into(),
            task_name: "t".into(),
            check_restart: Some(CheckRestart {
                limit: 3,
                grace: secs(10),
                ignore_warnings: false,
            }),
            checks: vec![http_check("/a"), own],
            ..Service::default()
        },
        Service {
            name: "custom".into(),
            address: "10.0.0.1".into(),
            checks: vec![http_check("/c")],
            ..Service::default()
        },
    ];
    let job = job_of_type("service", group);
    let services = &job.task_groups[0].services;
    assert_eq!(services[0].name, "j-g");
    let [inherited, own] = &services[0].checks[..] else {
        panic!("two checks")
    };
    assert_eq!(inherited.name, "service: \"j-g\" check");
    assert_eq!(inherited.on_update, "ignore_warnings");
    assert_eq!(inherited.task_name, "t");
    assert_eq!(
        inherited.check_restart,
        Some(CheckRestart {
            limit: 3,
            grace: secs(10),
            ignore_warnings: false
        })
    );
    assert_eq!(own.on_update, "ignore");
    assert_eq!(own.address_mode, "driver");
    assert_eq!(
        own.check_restart,
        Some(CheckRestart {
            limit: 5,
            grace: secs(10),
            ignore_warnings: false
        })
    );
    assert_eq!(
        services[1].checks[0].address_mode, "",
        "with a custom service address the check keeps its mode unset, to check that address"
    );
}

#[test]
fn periodic_and_parameterized_defaults() {
    let mut job = Job {
        id: JobId::new("cron"),
        job_type: Some("batch".into()),
        periodic: Some(PeriodicConfig {
            specs: vec!["@daily".into(), "@hourly".into()],
            ..PeriodicConfig::default()
        }),
        parameterized: Some(ParameterizedJobConfig::default()),
        task_groups: vec![one_task_group()],
        ..Job::default()
    };
    job.canonicalize();
    let p = job.periodic.as_ref().expect("periodic");
    assert_eq!(p.enabled, Some(true));
    assert_eq!(p.spec.as_deref(), Some("@daily"));
    assert_eq!(p.spec_type.as_deref(), Some("cron"));
    assert_eq!(p.prohibit_overlap, Some(false));
    assert_eq!(p.time_zone.as_deref(), Some("UTC"));
    assert_eq!(
        job.parameterized.as_ref().map(|p| p.payload.as_str()),
        Some("optional")
    );

    let mut single = PeriodicConfig {
        spec: Some("*/5 * * * *".into()),
        ..PeriodicConfig::default()
    };
    job.periodic = Some(single.clone());
    job.canonicalize();
    single.specs = vec!["*/5 * * * *".into()];
    assert_eq!(job.periodic.as_ref().map(|p| &p.specs), Some(&single.specs));
}

#[test]
fn placement_defaults_at_every_level() {
    let mut group = one_task_group();
    group.constraints = vec![Constraint::default()];
    group.affinities = vec![Affinity {
        weight: Some(-20),
        ..Affinity::default()
    }];
    group.spreads = vec![Spread::default()];
    group.tasks[0].constraints = vec![Constraint {
        operand: "regexp".into(),
        ..Constraint::default()
    }];
    group.tasks[0].affinities = vec![Affinity::default()];
    let job = job_of_type("service", group);
    let g = &job.task_groups[0];
    assert_eq!(g.constraints[0].operand, "=");
    assert_eq!(g.affinities[0].weight, Some(-20));
    assert_eq!(g.spreads[0].weight, Some(50));
    assert_eq!(g.tasks[0].constraints[0].operand, "regexp");
    assert_eq!(g.tasks[0].affinities[0].weight, Some(50));
}

#[test]
fn artifacts_and_lifecycle() {
    let mut group = one_task_group();
    group.tasks[0].artifacts = vec![
        TaskArtifact {
            getter_source: Some("https://x.test/a.tgz".into()),
            ..TaskArtifact::default()
        },
        TaskArtifact {
            getter_source: Some("https://x.test/bin/tool?checksum=sha256:00".into()),
            getter_mode: Some("file".into()),
            ..TaskArtifact::default()
        },
    ];
    group.tasks[0].lifecycle = Some(Lifecycle::default());
    let job = job_of_type("service", group);
    let t = &job.task_groups[0].tasks[0];
    assert_eq!(t.artifacts[0].getter_mode.as_deref(), Some("any"));
    assert_eq!(t.artifacts[0].relative_dest.as_deref(), Some("local/"));
    assert_eq!(t.artifacts[1].relative_dest.as_deref(), Some("local/tool"));
    assert_eq!(t.lifecycle, None, "an empty lifecycle block means none");
}

#[test]
fn sidecar_task_defaults_need_a_sidecar_service() {
    let mut group = one_task_group();
    group.services = vec![
        Service {
            name: "native".into(),
            connect: Some(Connect {
                native: true,
                ..Connect::default()
            }),
            ..Service::default()
        },
        Service {
            name: "api".into(),
            connect: Some(Connect {
                sidecar_service: Some(SidecarService::default()),
                ..Connect::default()
            }),
            ..Service::default()
        },
    ];
    let job = job_of_type("service", group);
    let s = &job.task_groups[0].services;
    assert_eq!(
        s[0].connect.as_ref().and_then(|c| c.sidecar_task.as_ref()),
        None
    );
    let sidecar = s[1]
        .connect
        .as_ref()
        .and_then(|c| c.sidecar_task.as_ref())
        .expect("sidecar");
    assert_eq!(sidecar.name, "connect-proxy-api");
}

#[test]
fn canonicalize_is_idempotent() {
    let once = canonical_sample();
    let mut twice = once.clone();
    twice.canonicalize();
    assert_eq!(once, twice);

    for kind in ["batch", "system", "sysbatch"] {
        let once = job_of_type(kind, one_task_group());
        let mut twice = once.clone();
        twice.canonicalize();
        assert_eq!(once, twice, "{kind}");
    }
}

#[test]
fn empty_task_gets_every_task_default() {
    let job = job_of_type(
        "service",
        TaskGroup {
            name: "g".into(),
            tasks: vec![Task {
                name: "t".into(),
                ..Task::default()
            }],
            ..TaskGroup::default()
        },
    );
    let t = &job.task_groups[0].tasks[0];
    assert_eq!(t.kill_timeout, secs(5));
    assert!(t.log_config.is_some());
    assert_eq!(t.resources.as_ref().and_then(|r| r.cpu), Some(100));
    assert!(job.task_groups[0].services.is_empty());
}
