//! Validation: one test per rule, each asserting the exact path and a message fragment.

mod common;

use caravan_model::{
    Affinity, CheckRestart, ConnectUpstream, Constraint, Duration, Job, JobId, Lifecycle,
    ParameterizedJobConfig, PeriodicConfig, Resources, ScalingPolicy, Segment, Spread,
    SpreadTarget, TaskGroup, Template, UpdateStrategy, ValidationError,
};
use common::{canonical_sample, field, group, indexed, port, service_seg, task, task_seg};

/// The canonical sample, changed by `edit`.
fn edited(edit: impl FnOnce(&mut Job)) -> Job {
    let mut job = canonical_sample();
    edit(&mut job);
    job
}

fn errors(job: &Job) -> Vec<ValidationError> {
    job.validate().err().map(|e| e.0).unwrap_or_default()
}

/// Asserts that `job` has an error at exactly `path` whose message contains `fragment`.
#[track_caller]
fn assert_error(job: &Job, path: &[Segment], fragment: &str) {
    let errors = errors(job);
    let found = errors
        .iter()
        .any(|e| e.path == path && e.message.contains(fragment));
    let listed: Vec<String> = errors
        .iter()
        .map(|e| format!("{:?}: {}", e.path, e.message))
        .collect();
    assert!(
        found,
        "no error at {path:?} containing {fragment:?}; got:\n{}",
        listed.join("\n")
    );
}

#[track_caller]
fn assert_valid(job: &Job) {
    if let Err(e) = job.validate() {
        panic!("expected a valid job, got {e}");
    }
}

fn app() -> Segment {
    group("app")
}

fn server() -> [Segment; 2] {
    [app(), task_seg("server")]
}

fn web_check() -> Vec<Segment> {
    vec![app(), service_seg("web"), indexed("check", 0)]
}

fn server_template() -> Vec<Segment> {
    vec![app(), task_seg("server"), indexed("template", 0)]
}

fn app_mut(job: &mut Job) -> &mut TaskGroup {
    &mut job.task_groups[0]
}

fn template_mut(job: &mut Job) -> &mut Template {
    &mut job.task_groups[0].tasks[0].templates[0]
}

#[test]
fn the_sample_job_is_valid() {
    assert_valid(&canonical_sample());
}

#[test]
fn missing_job_id() {
    let job = edited(|j| j.id = JobId::new(""));
    assert_error(&job, &[], "missing job id");
}

#[test]
fn job_id_and_name_without_spaces() {
    let job = edited(|j| {
        j.id = JobId::new("my job");
        j.name = "my job".into();
    });
    assert_error(&job, &[], "job id \"my job\" contains a space");
    assert_error(
        &job,
        &[field("name")],
        "job name \"my job\" contains a space",
    );
}

#[test]
fn job_id_at_most_128_characters() {
    let job = edited(|j| j.id = JobId::new("a".repeat(129)));
    assert_error(&job, &[], "129 characters long, above 128");
    assert_valid(&edited(|j| j.id = JobId::new("a".repeat(128))));
}

#[test]
fn unknown_job_type_names_the_allowed_ones() {
    let job = edited(|j| j.job_type = Some("daemon".into()));
    assert_error(&job, &[field("type")], "unknown job type \"daemon\"");
    assert_error(&job, &[field("type")], "service, batch, system, sysbatch");
}

#[test]
fn priority_in_1_to_100() {
    for bad in [0, 101, -5] {
        let job = edited(|j| j.priority = Some(bad));
        assert_error(
            &job,
            &[field("priority")],
            &format!("priority {bad} is out of range 1..=100"),
        );
    }
    assert_valid(&edited(|j| j.priority = Some(100)));
}

#[test]
fn job_needs_a_group() {
    let job = edited(|j| j.task_groups.clear());
    assert_error(&job, &[], "job has no groups");
}

#[test]
fn duplicate_group_names() {
    let job = edited(|j| j.task_groups.push(j.task_groups[0].clone()));
    assert_error(&job, &[app()], "duplicate group name \"app\"");
}

#[test]
fn duplicate_task_names() {
    let job = edited(|j| {
        let redis = app_mut(j).tasks[1].clone();
        app_mut(j).tasks.push(redis);
    });
    assert_error(
        &job,
        &[app(), task_seg("redis")],
        "duplicate task name \"redis\" in group \"app\"",
    );
}

#[test]
fn group_needs_a_task() {
    let job = edited(|j| {
        app_mut(j).tasks.clear();
        app_mut(j).services.clear();
    });
    assert_error(&job, &[app()], "group \"app\" has no tasks");
}

#[test]
fn negative_count() {
    let job = edited(|j| app_mut(j).count = Some(-1));
    assert_error(
        &job,
        &[app(), field("count")],
        "count -1 must not be negative",
    );
}

#[test]
fn count_within_scaling_bounds() {
    let scaled = |count| {
        edited(|j| {
            app_mut(j).count = Some(count);
            app_mut(j).scaling = Some(ScalingPolicy {
                min: Some(2),
                max: Some(4),
                ..ScalingPolicy::default()
            });
        })
    };
    assert_error(
        &scaled(5),
        &[app(), field("count")],
        "count 5 is above scaling max 4",
    );
    assert_error(
        &scaled(1),
        &[app(), field("count")],
        "count 1 is below scaling min 2",
    );
    assert_valid(&scaled(3));
}

#[test]
fn missing_driver() {
    let job = edited(|j| app_mut(j).tasks[1].driver.clear());
    assert_error(
        &job,
        &[app(), task_seg("redis"), field("driver")],
        "missing driver",
    );
    let e = errors(&job)
        .into_iter()
        .find(|e| e.message == "missing driver")
        .expect("error");
    assert_eq!(
        e.to_string(),
        "group \"app\" -> task \"redis\" -> driver: missing driver"
    );
}

#[test]
fn at_most_one_network() {
    let job = edited(|j| {
        let extra = app_mut(j).networks[0].clone();
        app_mut(j).networks.push(caravan_model::NetworkResource {
            mode: extra.mode,
            ..Default::default()
        });
    });
    assert_error(
        &job,
        &[app(), indexed("network", 1)],
        "at most one network block, found 2",
    );
}

#[test]
fn network_mode_is_known() {
    for bad in ["overlay", "cni/", "Bridge"] {
        let job = edited(|j| app_mut(j).networks[0].mode = bad.into());
        assert_error(
            &job,
            &[app(), field("network"), field("mode")],
            &format!("unknown network mode {bad:?}; expected host, bridge, none or cni/<name>"),
        );
    }
    for good in ["host", "bridge", "none", "cni/mynet"] {
        assert_valid(&edited(|j| app_mut(j).networks[0].mode = good.into()));
    }
}

#[test]
fn duplicate_port_labels() {
    let job = edited(|j| {
        app_mut(j).networks[0]
            .dynamic_ports
            .push(port("http", 0, 0))
    });
    assert_error(
        &job,
        &[
            app(),
            field("network"),
            Segment::Labeled("port", "http".into()),
        ],
        "duplicate port label \"http\"",
    );
}

#[test]
fn port_numbers_in_range() {
    let job = edited(|j| {
        let net = &mut app_mut(j).networks[0];
        net.reserved_ports[0].value = 70000;
        net.dynamic_ports[0].to = -2;
    });
    let redis = [
        app(),
        field("network"),
        Segment::Labeled("port", "redis".into()),
    ];
    assert_error(
        &job,
        &[redis.as_slice(), &[field("static")]].concat(),
        "static port 70000 is out of range 0..=65535",
    );
    let http = [
        app(),
        field("network"),
        Segment::Labeled("port", "http".into()),
        field("to"),
    ];
    assert_error(&job, &http, "port to -2 is out of range -1..=65535");
    assert_valid(&edited(|j| app_mut(j).networks[0].dynamic_ports[0].to = -1));
}

#[test]
fn static_port_used_once_per_group() {
    let job = edited(|j| {
        app_mut(j).networks[0]
            .reserved_ports
            .push(port("cache", 6379, 0))
    });
    assert_error(
        &job,
        &[
            app(),
            field("network"),
            Segment::Labeled("port", "cache".into()),
            field("static"),
        ],
        "static port 6379 is also used by port \"redis\"",
    );
}

#[test]
fn driver_config_ports_are_defined() {
    let job = edited(|j| {
        app_mut(j).tasks[0]
            .config
            .insert("ports".into(), serde_json::json!(["http", "grpc"]));
    });
    assert_error(
        &job,
        &[server().as_slice(), &[field("config"), field("ports")]].concat(),
        "port label \"grpc\" is not defined in the group network",
    );
}

#[test]
fn service_port_is_a_label_or_a_number() {
    let job = edited(|j| {
        app_mut(j).services[0].port_label = "admin".into();
        app_mut(j).tasks[0].services[0].port_label = "nope".into();
    });
    assert_error(
        &job,
        &[app(), service_seg("web"), field("port")],
        "port \"admin\" is neither a port label of the group network nor a number",
    );
    assert_error(
        &job,
        &[
            server().as_slice(),
            &[service_seg("web-app-server"), field("port")],
        ]
        .concat(),
        "port \"nope\"",
    );
    assert_valid(&edited(|j| {
        app_mut(j).tasks[0].services[0].port_label = "8080".into()
    }));
    assert_valid(&edited(|j| {
        app_mut(j).tasks[0].services[0].port_label = "redis".into()
    }));
}

#[test]
fn one_provider_per_group() {
    let job = edited(|j| app_mut(j).tasks[0].services[0].provider = "nomad".into());
    assert_error(
        &job,
        &[
            server().as_slice(),
            &[service_seg("web-app-server"), field("provider")],
        ]
        .concat(),
        "provider \"nomad\" differs from \"consul\" used by service \"web\"",
    );
}

#[test]
fn service_name_is_a_dns_label() {
    for bad in ["web_front", "-web", "web-", &"a".repeat(64)] {
        let job = edited(|j| app_mut(j).services[0].name = bad.into());
        assert_error(
            &job,
            &[app(), service_seg(bad), field("name")],
            &format!("service name {bad:?} is not valid"),
        );
    }
    for good in ["Web-1", "${NOMAD_JOB_NAME}_web", &"a".repeat(63)] {
        assert_valid(&edited(|j| app_mut(j).services[0].name = good.into()));
    }
}

#[test]
fn check_type_is_known() {
    let job = edited(|j| app_mut(j).services[0].checks[0].check_type = "ping".into());
    assert_error(
        &job,
        &[web_check().as_slice(), &[field("type")]].concat(),
        "unknown check type \"ping\"; expected one of http, tcp, script, grpc",
    );
}

#[test]
fn http_check_needs_a_path() {
    let job = edited(|j| app_mut(j).services[0].checks[0].path.clear());
    assert_error(
        &job,
        &[web_check().as_slice(), &[field("path")]].concat(),
        "http check needs a path",
    );
}

#[test]
fn check_interval_and_timeout_at_least_1s() {
    let job = edited(|j| {
        let check = &mut app_mut(j).services[0].checks[0];
        check.interval = Duration::from_millis(500);
        check.timeout = Duration::ZERO;
    });
    assert_error(
        &job,
        &[web_check().as_slice(), &[field("interval")]].concat(),
        "interval 500ms is below the 1s minimum",
    );
    assert_error(
        &job,
        &[web_check().as_slice(), &[field("timeout")]].concat(),
        "timeout 0s is below the 1s minimum",
    );
}

#[test]
fn nomad_checks_are_http_or_tcp() {
    let job = edited(|j| {
        let service = &mut app_mut(j).services[0];
        service.provider = "nomad".into();
        service.checks[0].check_type = "script".into();
        service.checks[0].command = "/bin/true".into();
    });
    assert_error(
        &job,
        &[web_check().as_slice(), &[field("type")]].concat(),
        "check type \"script\" is not supported by the nomad provider",
    );
}

#[test]
fn durations_are_not_negative() {
    const MINUS: Duration = Duration::from_secs(-1);
    type Edit = fn(&mut Job);
    let cases: Vec<(Edit, Vec<Segment>, &str)> = vec![
        (
            (|j| app_mut(j).tasks[0].kill_timeout = Some(MINUS)),
            vec![app(), task_seg("server"), field("kill_timeout")],
            "kill_timeout -1s",
        ),
        (
            (|j| app_mut(j).tasks[0].shutdown_delay = MINUS),
            vec![app(), task_seg("server"), field("shutdown_delay")],
            "shutdown_delay -1s",
        ),
        (
            (|j| app_mut(j).shutdown_delay = Some(MINUS)),
            vec![app(), field("shutdown_delay")],
            "shutdown_delay -1s",
        ),
        (
            (|j| set(&mut app_mut(j).restart_policy).interval = Some(MINUS)),
            vec![app(), field("restart"), field("interval")],
            "interval -1s",
        ),
        (
            (|j| set(&mut app_mut(j).restart_policy).delay = Some(MINUS)),
            vec![app(), field("restart"), field("delay")],
            "delay -1s",
        ),
        (
            (|j| set(&mut app_mut(j).update).min_healthy_time = Some(MINUS)),
            vec![app(), field("update"), field("min_healthy_time")],
            "min_healthy_time -1s",
        ),
        (
            (|j| set(&mut j.update).stagger = Some(MINUS)),
            vec![field("update"), field("stagger")],
            "stagger -1s",
        ),
        (
            (|j| set(&mut app_mut(j).reschedule_policy).delay = Some(MINUS)),
            vec![app(), field("reschedule"), field("delay")],
            "delay -1s",
        ),
        (
            (|j| set(&mut app_mut(j).reschedule_policy).max_delay = Some(MINUS)),
            vec![app(), field("reschedule"), field("max_delay")],
            "max_delay -1s",
        ),
        (
            (|j| template_mut(j).splay = Some(MINUS)),
            [server_template().as_slice(), &[field("splay")]].concat(),
            "splay -1s",
        ),
        (
            (|j| {
                app_mut(j).services[0].check_restart = Some(CheckRestart {
                    grace: Some(MINUS),
                    ..Default::default()
                })
            }),
            vec![
                app(),
                service_seg("web"),
                field("check_restart"),
                field("grace"),
            ],
            "grace -1s",
        ),
    ];
    for (edit, path, fragment) in cases {
        let job = edited(edit);
        assert_error(&job, &path, &format!("{fragment} must not be negative"));
    }
}

fn set<T: Default>(slot: &mut Option<T>) -> &mut T {
    slot.get_or_insert_with(T::default)
}

#[test]
fn restart_mode_is_fail_or_delay() {
    let job = edited(|j| set(&mut app_mut(j).restart_policy).mode = Some("retry".into()));
    assert_error(
        &job,
        &[app(), field("restart"), field("mode")],
        "unknown restart mode \"retry\"; expected one of fail, delay",
    );
    assert_eq!(
        errors(&job).len(),
        1,
        "tasks inherit the mode; it is reported where it is written"
    );

    let job = edited(|j| set(&mut app_mut(j).tasks[1].restart_policy).mode = Some("again".into()));
    assert_error(
        &job,
        &[app(), task_seg("redis"), field("restart"), field("mode")],
        "\"again\"",
    );
}

#[test]
fn update_health_check_is_known() {
    let job = edited(|j| set(&mut j.update).health_check = Some("ping".into()));
    assert_error(
        &job,
        &[field("update"), field("health_check")],
        "unknown health_check \"ping\"; expected one of checks, task_states, manual",
    );
    assert_eq!(
        errors(&job).len(),
        1,
        "the group inherits it; it is reported once"
    );

    let job = edited(|j| set(&mut app_mut(j).update).health_check = Some("pong".into()));
    assert_error(
        &job,
        &[app(), field("update"), field("health_check")],
        "\"pong\"",
    );
}

#[test]
fn reschedule_delay_function_is_known() {
    let job =
        edited(|j| set(&mut app_mut(j).reschedule_policy).delay_function = Some("linear".into()));
    assert_error(
        &job,
        &[app(), field("reschedule"), field("delay_function")],
        "unknown delay_function \"linear\"; expected one of constant, exponential, fibonacci",
    );
}

#[test]
fn lifecycle_hook_is_known() {
    let job = edited(|j| {
        app_mut(j).tasks[1].lifecycle = Some(Lifecycle {
            hook: "prestop".into(),
            sidecar: false,
        });
    });
    assert_error(
        &job,
        &[app(), task_seg("redis"), field("lifecycle"), field("hook")],
        "unknown lifecycle hook \"prestop\"",
    );
}

#[test]
fn template_has_data_or_source() {
    let neither = edited(|j| template_mut(j).embedded_tmpl = None);
    assert_error(
        &neither,
        &server_template(),
        "template needs data or source",
    );
    let both = edited(|j| template_mut(j).source_path = Some("local/in.tpl".into()));
    assert_error(
        &both,
        &server_template(),
        "template has both data and source",
    );
}

#[test]
fn template_has_a_destination() {
    let job = edited(|j| template_mut(j).dest_path = None);
    assert_error(
        &job,
        &[server_template().as_slice(), &[field("destination")]].concat(),
        "missing destination",
    );
}

#[test]
fn template_paths_stay_in_the_task_dir() {
    let dest = [server_template().as_slice(), &[field("destination")]].concat();
    for bad in [
        "/etc/passwd",
        "..",
        "../../x",
        "local/../../x",
        "../other-task/local/x",
        "/alloc/../../x",
    ] {
        let job = edited(|j| template_mut(j).dest_path = Some(bad.into()));
        assert_error(
            &job,
            &dest,
            &format!("destination {bad:?} escapes the task directory"),
        );
    }
    for good in [
        "local/app.conf",
        "./secrets/x.env",
        "alloc/data",
        "../alloc/shared.conf",
        "local/../secrets/x",
        "/local/app.conf",
        "/secrets/x",
        "/alloc/x",
        "${NOMAD_SECRETS_DIR}/config.env",
        "${NOMAD_ALLOC_DIR}/x",
        "${NOMAD_TASK_DIR}/x",
        "${NOMAD_META_dir}/x",
    ] {
        assert_valid(&edited(|j| template_mut(j).dest_path = Some(good.into())));
    }
    let job = edited(|j| {
        template_mut(j).embedded_tmpl = None;
        template_mut(j).source_path = Some("../../../etc/shadow".into());
    });
    assert_error(
        &job,
        &[server_template().as_slice(), &[field("source")]].concat(),
        "source \"../../../etc/shadow\" escapes",
    );
}

#[test]
fn template_env_cannot_signal() {
    let job = edited(|j| {
        template_mut(j).change_mode = Some("signal".into());
        template_mut(j).change_signal = Some("SIGHUP".into());
    });
    assert_error(
        &job,
        &[server_template().as_slice(), &[field("env")]].concat(),
        "env = true cannot be used with change_mode \"signal\"",
    );
}

#[test]
fn template_change_mode_is_known() {
    let job = edited(|j| template_mut(j).change_mode = Some("reload".into()));
    assert_error(
        &job,
        &[server_template().as_slice(), &[field("change_mode")]].concat(),
        "unknown change_mode \"reload\"; expected one of noop, restart, signal, script",
    );
}

#[test]
fn template_signal_mode_needs_a_signal() {
    let job = edited(|j| {
        template_mut(j).envvars = Some(false);
        template_mut(j).change_mode = Some("signal".into());
        template_mut(j).change_signal = Some(String::new());
    });
    assert_error(
        &job,
        &[server_template().as_slice(), &[field("change_signal")]].concat(),
        "change_mode \"signal\" needs a change_signal",
    );
}

#[test]
fn template_perms_are_octal() {
    let perms = [server_template().as_slice(), &[field("perms")]].concat();
    for bad in ["rw-r--r--", "0648", "", "17777"] {
        let job = edited(|j| template_mut(j).perms = Some(bad.into()));
        assert_error(
            &job,
            &perms,
            &format!("perms {bad:?} is not an octal file mode"),
        );
    }
    for good in ["644", "0600", "0755", "7777"] {
        assert_valid(&edited(|j| template_mut(j).perms = Some(good.into())));
    }
}

fn with_constraint(c: Constraint) -> Job {
    edited(|j| j.constraints = vec![c])
}

fn constraint(attribute: &str, operand: &str, value: &str) -> Constraint {
    Constraint {
        l_target: attribute.into(),
        operand: operand.into(),
        r_target: value.into(),
    }
}

#[test]
fn constraint_operator_is_known() {
    let job = with_constraint(constraint("${attr.os.name}", "~=", "linux"));
    assert_error(
        &job,
        &[indexed("constraint", 0), field("operator")],
        "unknown operator \"~=\"; expected one of =, ==",
    );
}

#[test]
fn constraint_needs_an_attribute() {
    let job = with_constraint(constraint("", "=", "linux"));
    assert_error(
        &job,
        &[indexed("constraint", 0), field("attribute")],
        "operator \"=\" needs an attribute",
    );
    assert_valid(&with_constraint(constraint("", "distinct_hosts", "true")));
}

#[test]
fn constraint_values_fit_the_operator() {
    let value = [indexed("constraint", 0), field("value")];
    assert_error(
        &with_constraint(constraint("${attr.os.name}", "regexp", "")),
        &value,
        "operator \"regexp\" needs a value",
    );
    assert_error(
        &with_constraint(constraint("${meta.gpu}", "is_set", "yes")),
        &value,
        "operator \"is_set\" takes no value",
    );
    assert_error(
        &with_constraint(constraint("${meta.rack}", "distinct_property", "two")),
        &value,
        "distinct_property limit \"two\"",
    );
    assert_valid(&with_constraint(constraint(
        "${meta.rack}",
        "distinct_property",
        "2",
    )));
    assert_valid(&with_constraint(constraint("${meta.gpu}", "is_set", "")));
}

#[test]
fn affinity_weight_nonzero_within_100() {
    for bad in [0, 101, -101] {
        let job = edited(|j| j.affinities[0].weight = Some(bad));
        assert_error(
            &job,
            &[indexed("affinity", 0), field("weight")],
            &format!("weight {bad} must be non-zero and within -100..=100"),
        );
    }
    assert_valid(&edited(|j| j.affinities[0].weight = Some(-100)));
    let job = edited(|j| {
        j.task_groups[0].tasks[0].affinities = vec![Affinity {
            weight: Some(0),
            ..j.affinities[0].clone()
        }]
    });
    assert_error(
        &job,
        &[
            server().as_slice(),
            &[indexed("affinity", 0), field("weight")],
        ]
        .concat(),
        "weight 0",
    );
}

#[test]
fn spread_weight_and_percents() {
    let job = edited(|j| j.spreads[0].weight = Some(101));
    assert_error(
        &job,
        &[indexed("spread", 0), field("weight")],
        "weight 101 is out of range 0..=100",
    );
    let job = edited(|j| {
        app_mut(j).spreads = vec![Spread {
            attribute: "${node.datacenter}".into(),
            weight: Some(50),
            spread_target: vec![
                SpreadTarget {
                    value: "dc1".into(),
                    percent: 70,
                },
                SpreadTarget {
                    value: "dc2".into(),
                    percent: 40,
                },
            ],
        }];
    });
    assert_error(
        &job,
        &[app(), indexed("spread", 0)],
        "spread target percents sum to 110, above 100",
    );
}

fn batch_job(edit: impl FnOnce(&mut Job)) -> Job {
    let mut job = Job {
        id: JobId::new("nightly"),
        job_type: Some("batch".into()),
        task_groups: vec![TaskGroup {
            name: "run".into(),
            tasks: vec![task("t", &[])],
            ..TaskGroup::default()
        }],
        ..Job::default()
    };
    edit(&mut job);
    job.canonicalize();
    job
}

#[test]
fn periodic_needs_a_spec() {
    let job = batch_job(|j| j.periodic = Some(PeriodicConfig::default()));
    assert_error(
        &job,
        &[field("periodic"), field("crons")],
        "periodic block has an empty cron spec",
    );
    let job = batch_job(|j| {
        j.periodic = Some(PeriodicConfig {
            specs: vec!["@daily".into(), " ".into()],
            ..Default::default()
        })
    });
    assert_error(
        &job,
        &[field("periodic"), field("crons")],
        "empty cron spec",
    );
    assert_valid(&batch_job(|j| {
        j.periodic = Some(PeriodicConfig {
            spec: Some("@daily".into()),
            ..Default::default()
        })
    }));
}

#[test]
fn periodic_and_parameterized_jobs_are_batch() {
    let job = edited(|j| {
        j.periodic = Some(PeriodicConfig {
            specs: vec!["@daily".into()],
            ..Default::default()
        });
        j.parameterized = Some(ParameterizedJobConfig {
            payload: "optional".into(),
            ..Default::default()
        });
    });
    assert_error(
        &job,
        &[field("periodic")],
        "a periodic job must be batch or sysbatch, not \"service\"",
    );
    assert_error(
        &job,
        &[field("parameterized")],
        "a parameterized job must be batch or sysbatch",
    );
}

#[test]
fn parameterized_payload_is_known() {
    let job = batch_job(|j| {
        j.parameterized = Some(ParameterizedJobConfig {
            payload: "sometimes".into(),
            ..Default::default()
        })
    });
    assert_error(
        &job,
        &[field("parameterized"), field("payload")],
        "unknown payload requirement \"sometimes\"; expected one of optional, required, forbidden",
    );
    assert_valid(&batch_job(|j| {
        j.parameterized = Some(ParameterizedJobConfig::default())
    }));
}

#[test]
fn memory_max_not_below_memory() {
    let job = edited(|j| set(&mut app_mut(j).tasks[0].resources).memory_max_mb = Some(100));
    assert_error(
        &job,
        &[
            server().as_slice(),
            &[field("resources"), field("memory_max")],
        ]
        .concat(),
        "memory_max 100 MB is below memory 256 MB",
    );
    assert_valid(&edited(|j| {
        set(&mut app_mut(j).tasks[0].resources).memory_max_mb = Some(1024)
    }));
}

#[test]
fn cores_and_cpu_are_exclusive() {
    let job = edited(|j| {
        app_mut(j).tasks[0].resources = Some(Resources {
            cpu: Some(500),
            cores: Some(2),
            ..Resources::default()
        });
    });
    assert_error(
        &job,
        &[server().as_slice(), &[field("resources"), field("cores")]].concat(),
        "cores 2 and cpu 500 are exclusive",
    );
}

fn upstreams_mut(job: &mut Job) -> &mut Vec<ConnectUpstream> {
    let connect = app_mut(job).services[0]
        .connect
        .as_mut()
        .expect("sample has connect");
    let sidecar = connect
        .sidecar_service
        .as_mut()
        .expect("sample has a sidecar");
    &mut sidecar
        .proxy
        .as_mut()
        .expect("sample has a proxy")
        .upstreams
}

fn upstream_path(index: usize, name: &'static str) -> Vec<Segment> {
    vec![
        app(),
        service_seg("web"),
        field("connect"),
        field("sidecar_service"),
        field("proxy"),
        indexed("upstreams", index),
        field(name),
    ]
}

#[test]
fn upstreams_need_a_destination_and_a_port() {
    let job = edited(|j| {
        upstreams_mut(j)[0].destination_name.clear();
        upstreams_mut(j)[0].local_bind_port = 0;
    });
    assert_error(
        &job,
        &upstream_path(0, "destination_name"),
        "missing destination_name",
    );
    assert_error(
        &job,
        &upstream_path(0, "local_bind_port"),
        "local_bind_port 0 is out of range 1..=65535",
    );
    let job = edited(|j| upstreams_mut(j)[0].local_bind_port = 70000);
    assert_error(&job, &upstream_path(0, "local_bind_port"), "70000");
}

#[test]
fn upstreams_bind_distinct_ports() {
    let job = edited(|j| {
        let mut second = upstreams_mut(j)[0].clone();
        second.destination_name = "cache".into();
        upstreams_mut(j).push(second);
    });
    assert_error(
        &job,
        &upstream_path(1, "local_bind_port"),
        "local_bind_port 6379 is already bound by upstream \"redis\"",
    );
}

#[test]
fn connect_only_on_group_services() {
    let job = edited(|j| {
        let connect = app_mut(j).services[0].connect.clone();
        app_mut(j).tasks[0].services[0].connect = connect;
    });
    assert_error(
        &job,
        &[
            server().as_slice(),
            &[service_seg("web-app-server"), field("connect")],
        ]
        .concat(),
        "connect is only allowed on group services",
    );
}

#[test]
fn one_leader_per_group() {
    let job = edited(|j| app_mut(j).tasks.iter_mut().for_each(|t| t.leader = true));
    assert_error(
        &job,
        &[app(), task_seg("redis"), field("leader")],
        "task \"server\" already is",
    );
}

#[test]
fn every_problem_is_reported() {
    let mut job = Job {
        id: JobId::new("bad job"),
        job_type: Some("daemon".into()),
        priority: Some(0),
        update: Some(UpdateStrategy {
            health_check: Some("ping".into()),
            ..Default::default()
        }),
        task_groups: vec![
            TaskGroup {
                name: "empty".into(),
                ..TaskGroup::default()
            },
            TaskGroup {
                name: "app".into(),
                tasks: vec![task("a", &["web"]), task("a", &[])],
                ..TaskGroup::default()
            },
        ],
        ..Job::default()
    };
    job.task_groups[1].tasks[0].driver.clear();
    job.canonicalize();
    let got: Vec<String> = errors(&job).iter().map(ToString::to_string).collect();
    assert_eq!(
        got,
        [
            "job id \"bad job\" contains a space",
            "name: job name \"bad job\" contains a space",
            "type: unknown job type \"daemon\"; expected one of service, batch, system, sysbatch",
            "priority: priority 0 is out of range 1..=100",
            "update -> health_check: unknown health_check \"ping\"; expected one of checks, task_states, manual",
            "group \"empty\": group \"empty\" has no tasks",
            "group \"app\" -> task \"a\" -> driver: missing driver",
            "group \"app\" -> task \"a\" -> config -> ports: port label \"web\" is not defined in the group network",
            "group \"app\" -> task \"a\": duplicate task name \"a\" in group \"app\"",
        ]
    );
    let all = job.validate().expect_err("invalid");
    assert!(
        all.to_string()
            .starts_with("9 errors occurred:\n\t* job id")
    );
}

#[test]
fn update_deadlines_are_ordered() {
    let job = edited(|j| set(&mut j.update).min_healthy_time = Some(Duration::from_mins(6)));
    assert_error(
        &job,
        &[field("update"), field("min_healthy_time")],
        "min_healthy_time 6m0s must be below healthy_deadline 5m0s",
    );
    assert_eq!(
        errors(&job).len(),
        1,
        "the group inherits both values and is not blamed"
    );

    let job =
        edited(|j| set(&mut app_mut(j).update).healthy_deadline = Some(Duration::from_mins(11)));
    assert_error(
        &job,
        &[app(), field("update"), field("healthy_deadline")],
        "healthy_deadline 11m0s must be below progress_deadline 10m0s",
    );
}

#[test]
fn scaling_min_not_above_max() {
    let job = edited(|j| {
        app_mut(j).count = Some(3);
        app_mut(j).scaling = Some(ScalingPolicy {
            min: Some(3),
            max: Some(2),
            ..Default::default()
        });
    });
    assert_error(
        &job,
        &[app(), field("scaling"), field("min")],
        "scaling min 3 is above max 2",
    );
}

#[test]
fn service_modes_are_known() {
    let job = edited(|j| {
        app_mut(j).services[0].address_mode = "public".into();
        app_mut(j).services[0].on_update = "never".into();
        app_mut(j).services[0].checks[0].address_mode = "auto".into();
    });
    let web = [app(), service_seg("web")];
    assert_error(
        &job,
        &[web.as_slice(), &[field("address_mode")]].concat(),
        "unknown address_mode \"public\"",
    );
    assert_error(
        &job,
        &[web.as_slice(), &[field("on_update")]].concat(),
        "unknown on_update \"never\"",
    );
    assert_error(
        &job,
        &[web_check().as_slice(), &[field("address_mode")]].concat(),
        "unknown check address_mode \"auto\"",
    );
}

#[test]
fn script_check_needs_a_command() {
    let job = edited(|j| app_mut(j).services[0].checks[0].check_type = "script".into());
    assert_error(
        &job,
        &[web_check().as_slice(), &[field("command")]].concat(),
        "script check needs a command",
    );
}

#[test]
fn affinities_and_spreads_need_an_attribute() {
    let job = edited(|j| {
        j.affinities[0].l_target.clear();
        j.spreads[0].attribute.clear();
    });
    assert_error(
        &job,
        &[indexed("affinity", 0), field("attribute")],
        "affinity needs an attribute",
    );
    assert_error(
        &job,
        &[indexed("spread", 0), field("attribute")],
        "spread needs an attribute",
    );
}

#[test]
fn template_script_mode_needs_a_command() {
    let job = edited(|j| template_mut(j).change_mode = Some("script".into()));
    assert_error(
        &job,
        &[server_template().as_slice(), &[field("change_script")]].concat(),
        "change_mode \"script\" needs a change_script with a command",
    );
}
