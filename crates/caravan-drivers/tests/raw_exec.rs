//! raw_exec against real processes: the driver battery, then what only a host
//! process driver promises (process groups, no orphans, env, cwd, log rotation,
//! recovery by pid and start time, users, network namespaces).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use caravan_drivers::testing::{
    self, PATIENCE, READY, Scenario, TEST_PATH, TempRoot, read_log, start, start_ready,
    wait_for_log, within,
};
use caravan_drivers::{
    DriverError, LogSpec, ProcStat, RawExecDriver, TaskDriver, TaskSpec, log_files,
};
use serde_json::{Value, json};

fn driver() -> Arc<dyn TaskDriver> {
    Arc::new(RawExecDriver::new())
}

fn config(v: Value) -> BTreeMap<String, Value> {
    serde_json::from_value(v).expect("config object")
}

fn sh(script: &str) -> BTreeMap<String, Value> {
    config(json!({ "command": "sh", "args": ["-c", script] }))
}

/// Polls until `cond` holds; panics after [`PATIENCE`].
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    within(
        async {
            while !cond() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        },
        what,
    )
    .await;
}

fn pid_of(h: &caravan_drivers::TaskHandle) -> u32 {
    h.state().pid.expect("raw_exec records a pid")
}

fn group_alive(pgid: u32) -> Vec<u32> {
    ProcStat::group_members(pgid).expect("scan /proc")
}

// The battery, one test per check so they run in parallel and fail one by one.

macro_rules! battery_check {
    ($name:ident, $check:ident) => {
        #[tokio::test]
        async fn $name() {
            let root = TempRoot::new(stringify!($name));
            let make = |s: Scenario| root.spec(s.as_str(), s.command_config());
            testing::$check(&*driver(), &make).await;
        }
    };
}

battery_check!(battery_exit_codes, check_exit_codes);
battery_check!(battery_logs, check_logs);
battery_check!(battery_signal, check_signal);
battery_check!(battery_stop, check_stop);
battery_check!(battery_stop_timeout, check_stop_timeout);
battery_check!(battery_concurrent_wait, check_concurrent_wait);
battery_check!(battery_destroy, check_destroy);
battery_check!(battery_bad_config, check_bad_config);

#[tokio::test]
async fn battery_fingerprint() {
    testing::check_fingerprint(&*driver()).await;
    let fp = driver().fingerprint().await;
    assert_eq!(
        fp.attributes.get("driver.raw_exec").map(String::as_str),
        Some("1")
    );
}

#[tokio::test]
async fn battery_recover_with_a_new_driver() {
    let root = TempRoot::new("recover");
    let make = |s: Scenario| root.spec(s.as_str(), s.command_config());
    testing::check_recover(&*driver(), &*driver(), &make).await;
}

#[tokio::test]
async fn the_whole_battery_at_once() {
    let root = TempRoot::new("battery");
    testing::run_battery(driver, |s| root.spec(s.as_str(), s.command_config())).await;
}

// Stop and process groups.

#[tokio::test]
async fn stop_leaves_no_orphans() {
    let root = TempRoot::new("orphans");
    let d = driver();
    // A background sleep ignores SIGINT in a non-interactive sh: only the group kill
    // after the leader's exit can end it.
    let spec = root.spec(
        "orphans",
        sh(&format!("sleep 1000 & echo {READY}; sleep 1000")),
    );
    let (h, _) = start_ready(&*d, spec).await;
    let pgid = pid_of(&h);
    eventually("sh and both sleeps to run", || group_alive(pgid).len() >= 3).await;

    within(d.stop(&h, "", PATIENCE), "stop")
        .await
        .expect("stop");
    let exit = within(d.wait(&h), "wait").await;
    assert_eq!(
        exit.signal,
        Some(2),
        "the default kill signal is SIGINT: {exit:?}"
    );
    eventually("every process of the group to be gone", || {
        group_alive(pgid).is_empty()
    })
    .await;
}

#[tokio::test]
async fn a_natural_exit_leaves_no_orphans() {
    let root = TempRoot::new("natural-exit");
    let d = driver();
    let spec = root.spec("leaver", sh("sleep 1000 & echo $! > bg.pid"));
    let task_dir = spec.dirs.task_dir.clone();
    let h = start(&*d, spec).await;
    let pgid = pid_of(&h);
    let exit = within(d.wait(&h), "wait").await;
    assert!(exit.successful(), "{exit:?}");
    let bg: u32 = std::fs::read_to_string(task_dir.join("bg.pid"))
        .expect("bg.pid")
        .trim()
        .parse()
        .expect("a pid");
    eventually("the background sleep to be killed", || {
        !ProcStat::read(bg)
            .ok()
            .flatten()
            .is_some_and(|s| s.is_alive() && s.pgrp == pgid)
    })
    .await;
}

#[tokio::test]
async fn default_kill_signal_is_sigint() {
    let root = TempRoot::new("sigint");
    let d = driver();
    let (h, _) = start_ready(&*d, root.spec("t", Scenario::LongRunning.command_config())).await;
    within(d.stop(&h, "", PATIENCE), "stop")
        .await
        .expect("stop");
    assert_eq!(within(d.wait(&h), "wait").await.signal, Some(2));
}

#[tokio::test]
async fn the_task_leads_its_own_process_group() {
    let root = TempRoot::new("pgrp");
    let d = driver();
    let (h, _) = start_ready(&*d, root.spec("t", Scenario::LongRunning.command_config())).await;
    let pid = pid_of(&h);
    let stat = ProcStat::read(pid).expect("read").expect("running");
    assert_eq!(stat.pgrp, pid);
    assert_eq!(h.state().start_ticks, Some(stat.start_ticks));
    d.destroy(&h).await.expect("destroy");
}

// Environment, directories, command resolution, config errors.

#[tokio::test]
async fn the_env_is_exactly_the_given_one() {
    let root = TempRoot::new("env");
    let d = driver();
    let mut spec = root.spec("env", config(json!({ "command": "env" })));
    spec.env
        .insert("DEMO_REDIS_ADDR".into(), "127.0.0.1:6379".into());
    let stdout = spec.logs.stdout_base.clone();
    let h = start(&*d, spec).await;
    assert!(within(d.wait(&h), "wait").await.successful());
    let mut lines: Vec<String> = read_log(&stdout).lines().map(str::to_owned).collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "DEMO_REDIS_ADDR=127.0.0.1:6379".to_owned(),
            format!("PATH={TEST_PATH}")
        ]
    );
}

#[tokio::test]
async fn runs_in_the_task_dir_and_finds_relative_commands() {
    let root = TempRoot::new("cwd");
    let d = driver();
    let spec = root.spec(
        "app",
        config(json!({ "command": "local/run.sh", "args": ["a b"] })),
    );
    std::fs::write(
        spec.dirs.local_dir.join("run.sh"),
        "#!/bin/sh\npwd\necho \"arg=$1\"\n",
    )
    .expect("script");
    Command::new("chmod")
        .args(["+x"])
        .arg(spec.dirs.local_dir.join("run.sh"))
        .status()
        .expect("chmod");
    let task_dir = spec.dirs.task_dir.clone();
    let stdout = spec.logs.stdout_base.clone();
    let h = start(&*d, spec).await;
    assert!(within(d.wait(&h), "wait").await.successful());
    assert_eq!(
        read_log(&stdout),
        format!("{}\narg=a b\n", task_dir.display())
    );
}

#[tokio::test]
async fn config_errors_name_the_task() {
    let root = TempRoot::new("config-errors");
    let d = driver();
    let err = d
        .start(root.spec("redis", config(json!({}))))
        .await
        .expect_err("no command");
    assert!(matches!(
        err,
        DriverError::MissingConfig { key: "command", .. }
    ));
    assert!(err.to_string().contains("\"redis\""), "{err}");

    let err = d
        .start(root.spec(
            "redis",
            config(json!({ "command": "/nonexistent/redis-server" })),
        ))
        .await
        .expect_err("missing program");
    assert!(matches!(err, DriverError::Spawn { .. }), "{err}");

    let mut spec = root.spec("redis", Scenario::ExitZero.command_config());
    spec.dirs.task_dir = root.path().join("no-such-dir");
    let err = d.start(spec).await.expect_err("missing task dir");
    assert!(matches!(err, DriverError::MissingDir { .. }), "{err}");

    let mut spec = root.spec("redis", Scenario::ExitZero.command_config());
    spec.user = Some("no-such-user-caravan".into());
    let err = d.start(spec).await.expect_err("unknown user");
    assert!(matches!(err, DriverError::UnknownUser { .. }), "{err}");
}

// Logs.

#[tokio::test]
async fn a_line_is_readable_while_the_task_still_runs() {
    let root = TempRoot::new("prompt-log");
    let d = driver();
    let spec = root.spec("t", sh("echo first; read never"));
    let stdout = spec.logs.stdout_base.clone();
    let h = start(&*d, spec).await;
    wait_for_log(&stdout, "first\n", PATIENCE).await;
    d.destroy(&h).await.expect("destroy");
}

#[tokio::test]
async fn logs_rotate_at_max_file_size_and_keep_max_files() {
    let root = TempRoot::new("rotation");
    let d = driver();
    let mut spec = root.spec("big", sh("head -c 3670016 /dev/zero"));
    spec.logs.max_file_size_mb = 1;
    spec.logs.max_files = 2;
    let stdout = spec.logs.stdout_base.clone();
    let h = start(&*d, spec).await;
    assert!(within(d.wait(&h), "wait").await.successful());
    // 3.5 MB in files of 1 MB: .0 to .3 were written, the newest two are kept.
    let sizes: Vec<(u64, u64)> = log_files(&stdout)
        .expect("list")
        .into_iter()
        .map(|(i, p)| (i, std::fs::metadata(p).expect("stat").len()))
        .collect();
    assert_eq!(sizes, vec![(2, 1 << 20), (3, 1 << 19)]);
}

#[tokio::test]
async fn a_restarted_task_appends_to_its_logs() {
    let root = TempRoot::new("append");
    let d = driver();
    let first = root.spec("t", sh("echo one"));
    let mut second: TaskSpec = first.clone();
    second.driver_config = sh("echo two");
    for spec in [first, second.clone()] {
        let h = start(&*d, spec).await;
        assert!(within(d.wait(&h), "wait").await.successful());
    }
    assert_eq!(read_log(&second.logs.stdout_base), "one\ntwo\n");
}

#[tokio::test]
async fn disabled_logs_write_nothing() {
    let root = TempRoot::new("no-logs");
    let d = driver();
    let mut spec = root.spec("t", Scenario::PrintLogs.command_config());
    spec.logs = LogSpec {
        disabled: true,
        ..spec.logs
    };
    let stdout = spec.logs.stdout_base.clone();
    let h = start(&*d, spec).await;
    assert!(within(d.wait(&h), "wait").await.successful());
    assert!(log_files(&stdout).expect("list").is_empty());
}

// Recovery.

#[tokio::test]
async fn a_recovered_task_is_stopped_for_real() {
    let root = TempRoot::new("recover-stop");
    let (h, _) = start_ready(
        &*driver(),
        root.spec("t", Scenario::IgnoresTerm.command_config()),
    )
    .await;
    let state = h.state().clone();
    drop(h);
    let restarted = driver();
    let h = restarted.recover(&state).await.expect("recover");
    let pid = pid_of(&h);
    within(
        restarted.stop(&h, "SIGTERM", Duration::from_millis(300)),
        "stop",
    )
    .await
    .expect("stop");
    let exit = within(restarted.wait(&h), "wait").await;
    assert_eq!(exit.exit_code, None, "not our child any more: {exit:?}");
    eventually("the recovered process to be gone", || {
        group_alive(pid).is_empty()
    })
    .await;
}

#[tokio::test]
async fn a_reused_pid_is_never_signalled() {
    // A stranger holds the pid now: same pid, other start time.
    let mut stranger = Command::new("sleep").arg("1000").spawn().expect("spawn");
    let pid = stranger.id();
    let ticks = ProcStat::read(pid)
        .expect("read")
        .expect("running")
        .start_ticks;
    let state = caravan_drivers::TaskHandleState {
        driver: "raw_exec".into(),
        task_name: "t".into(),
        pid: Some(pid),
        start_ticks: Some(ticks + 1),
        ..Default::default()
    };
    let d = driver();
    let h = d.recover(&state).await.expect("recover");
    assert_eq!(within(d.wait(&h), "wait").await.exit_code, None);
    d.stop(&h, "SIGKILL", Duration::from_millis(10))
        .await
        .expect("stop is a no-op");
    assert!(matches!(
        d.signal(&h, "SIGKILL").await,
        Err(DriverError::NotRunning { .. })
    ));
    assert!(
        stranger.try_wait().expect("try_wait").is_none(),
        "the stranger was killed"
    );
    stranger.kill().expect("kill");
    stranger.wait().expect("reap");
}

#[tokio::test]
async fn corrupt_states_are_refused() {
    let d = driver();
    for pid in [None, Some(0), Some(1), Some(u32::MAX)] {
        let state = caravan_drivers::TaskHandleState {
            driver: "raw_exec".into(),
            task_name: "t".into(),
            pid,
            start_ticks: Some(1),
            ..Default::default()
        };
        assert!(d.recover(&state).await.is_err(), "pid {pid:?} accepted");
    }
}

// Users and namespaces (need root and the tools; skipped without them).

fn is_root() -> bool {
    nix_geteuid() == 0
}

fn nix_geteuid() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1).and_then(|e| e.parse().ok()))
        })
        .unwrap_or(u32::MAX)
}

#[tokio::test]
async fn runs_as_the_given_user() {
    if !is_root() {
        eprintln!("skipped: needs root to switch users");
        return;
    }
    let root = TempRoot::new("user");
    let d = driver();
    let mut spec = root.spec("t", config(json!({ "command": "id", "args": ["-u"] })));
    spec.user = Some("nobody".into());
    let stdout = spec.logs.stdout_base.clone();
    let h = start(&*d, spec).await;
    let exit = within(d.wait(&h), "wait").await;
    assert!(
        exit.successful(),
        "{exit:?}: {}",
        read_log(&stdout.with_extension("stderr"))
    );
    assert_eq!(read_log(&stdout).trim(), "65534");
}

/// A network namespace made with `ip netns`, deleted on drop.
struct Netns(String);

impl Netns {
    fn create() -> Option<Self> {
        let name = format!("caravan-drv-{}-{}", std::process::id(), rand_suffix());
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Self(name))
    }

    fn path(&self) -> std::path::PathBuf {
        Path::new("/var/run/netns").join(&self.0)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        let _ = std::fs::remove_dir_all(Path::new("/etc/netns").join(&self.0));
    }
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
}

#[tokio::test]
async fn runs_inside_the_given_network_namespace() {
    let Some(netns) = Netns::create() else {
        eprintln!("skipped: cannot create a network namespace here");
        return;
    };
    let root = TempRoot::new("netns");
    let d = driver();
    let mut spec = root.spec(
        "t",
        sh(&format!(
            "readlink /proc/self/ns/net; echo {READY}; exec sleep 1000"
        )),
    );
    spec.netns_path = Some(netns.path());
    let stdout = spec.logs.stdout_base.clone();
    let (h, _) = start_ready(&*d, spec).await;
    let theirs = read_log(&stdout);
    let ours = std::fs::read_link("/proc/self/ns/net").expect("readlink");
    assert_ne!(
        theirs.lines().next(),
        Some(ours.to_string_lossy().as_ref()),
        "still in our namespace"
    );
    let ino =
        std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(netns.path()).expect("stat netns"));
    assert_eq!(theirs.lines().next(), Some(format!("net:[{ino}]").as_str()));
    // The pid is the task's own, not a wrapper's: stopping it ends the task.
    assert_eq!(
        ProcStat::read(pid_of(&h)).expect("read").map(|s| s.pgrp),
        Some(pid_of(&h))
    );
    within(d.stop(&h, "SIGTERM", PATIENCE), "stop")
        .await
        .expect("stop");
    assert_eq!(within(d.wait(&h), "wait").await.signal, Some(15));
}

#[tokio::test]
async fn a_named_namespace_gets_its_own_resolv_conf() {
    let Some(netns) = Netns::create() else {
        eprintln!("skipped: cannot create a network namespace here");
        return;
    };
    // What caravan-net writes for the allocation's namespace.
    let etc = Path::new("/etc/netns").join(&netns.0);
    std::fs::create_dir_all(&etc).expect("mkdir /etc/netns/<name>");
    let text = "nameserver 192.0.2.53\nsearch svc.example\n";
    std::fs::write(etc.join("resolv.conf"), text).expect("write resolv.conf");
    let root = TempRoot::new("netns-resolv");
    let d = driver();
    let mut spec = root.spec("t", sh("cat /etc/resolv.conf"));
    spec.netns_path = Some(netns.path());
    let stdout = spec.logs.stdout_base.clone();
    let h = start(&*d, spec).await;
    assert_eq!(within(d.wait(&h), "wait").await.exit_code, Some(0));
    assert_eq!(read_log(&stdout), text);
    // The host's file is untouched: only the task's mount namespace saw it.
    assert_ne!(
        std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
        text
    );
}

#[tokio::test]
async fn a_namespace_by_proc_path_is_entered_with_nsenter() {
    let Some(netns) = Netns::create() else {
        eprintln!("skipped: cannot create a network namespace here");
        return;
    };
    // A process holding the namespace, as a docker pause container does.
    let mut holder = Command::new("ip")
        .args(["netns", "exec", &netns.0, "sleep", "1000"])
        .spawn()
        .expect("spawn holder");
    let held = std::path::PathBuf::from(format!("/proc/{}/ns/net", holder.id()));
    let want = std::fs::metadata(netns.path()).expect("stat netns");
    eventually("the holder enters the namespace", || {
        std::fs::metadata(&held).is_ok_and(|m| {
            std::os::unix::fs::MetadataExt::ino(&m) == std::os::unix::fs::MetadataExt::ino(&want)
        })
    })
    .await;
    let root = TempRoot::new("netns-proc");
    let d = driver();
    let mut spec = root.spec("t", sh("readlink /proc/self/ns/net"));
    spec.netns_path = Some(held);
    let stdout = spec.logs.stdout_base.clone();
    let h = start(&*d, spec).await;
    assert_eq!(within(d.wait(&h), "wait").await.exit_code, Some(0));
    let ino = std::os::unix::fs::MetadataExt::ino(&want);
    assert_eq!(read_log(&stdout).trim(), format!("net:[{ino}]"));
    let _ = holder.kill();
    let _ = holder.wait();
}

#[tokio::test]
async fn a_missing_network_namespace_is_an_error() {
    let root = TempRoot::new("netns-missing");
    let mut spec = root.spec("t", Scenario::ExitZero.command_config());
    spec.netns_path = Some("/var/run/netns/caravan-no-such-ns".into());
    let err = driver().start(spec).await.expect_err("missing netns");
    assert!(matches!(err, DriverError::MissingNetns { .. }), "{err}");
}
