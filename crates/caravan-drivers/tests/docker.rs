//! The docker driver against the local Docker Engine: the driver battery, then what
//! only a container driver promises (published ports, mounted directories, images
//! that are absent, labels, resources, recovery of containers and their output,
//! cleanup of leftovers).
//!
//! No registry is reachable, so the one test image, `caravan-test/tool:latest`, is
//! built here: a static std-only program (`fixtures/tool.rs`) compiled with rustc and
//! `docker import`ed alone into an image. Every test skips (prints a line and
//! passes) when no Docker Engine answers.

use std::collections::BTreeMap;
use std::io::Read;
use std::net::{TcpStream, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use caravan_drivers::testing::{
    self, PATIENCE, READY, STDERR_LINE, STDOUT_LINE, Scenario, TempRoot, read_log, start,
    start_ready, wait_for_log, within,
};
use caravan_drivers::{
    DockerDriver, DockerOptions, DriverError, TaskDriver, TaskHandle, TaskResources, TaskSpec,
};
use caravan_model::{AllocId, AllocatedPortMapping};
use serde_json::{Value, json};

const IMAGE: &str = "caravan-test/tool:latest";
const SOURCE: &str = include_str!("fixtures/tool.rs");
/// The label carrying a hash of the tool's source: an image with the same hash is
/// reused, so only a changed tool is rebuilt.
const SOURCE_LABEL: &str = "caravan-test.source";
/// Test allocations are called `drvtest-<pid>-<n>`, so leftovers of dead test runs can
/// be told apart and removed.
const ALLOC_PREFIX: &str = "drvtest-";

static IMAGE_BUILT: OnceLock<Result<(), String>> = OnceLock::new();
static NEXT_ALLOC: AtomicU64 = AtomicU64::new(0);

// Setup.

/// A driver for the local Engine with the test image in place, or `None` (after
/// saying so) when no Engine answers here.
async fn engine() -> Option<DockerDriver> {
    engine_with(DockerOptions::default()).await
}

async fn engine_with(options: DockerOptions) -> Option<DockerDriver> {
    let driver = DockerDriver::new(options);
    let fp = driver.fingerprint().await;
    if !fp.healthy {
        eprintln!(
            "skipped: no Docker Engine answers here ({})",
            fp.description
        );
        return None;
    }
    // Blocks this test's thread only; the others wait for the same build.
    if let Err(e) = IMAGE_BUILT.get_or_init(build_image) {
        panic!("cannot build the test image {IMAGE}: {e}");
    }
    Some(driver)
}

fn driver_arc(d: &DockerDriver) -> Arc<dyn TaskDriver> {
    Arc::new(d.clone())
}

/// Runs the docker CLI; its stdout when it succeeds.
fn docker(args: &[&str]) -> Result<String, String> {
    let out = Command::new("docker")
        .args(args)
        .output()
        .map_err(|e| format!("docker {args:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "docker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn build_image() -> Result<(), String> {
    remove_leftovers();
    let hash = {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        SOURCE.hash(&mut h);
        format!("{:016x}", h.finish())
    };
    let format = format!("{{{{index .Config.Labels \"{SOURCE_LABEL}\"}}}}");
    if docker(&["image", "inspect", "--format", &format, IMAGE]).is_ok_and(|l| l.trim() == hash) {
        return Ok(());
    }
    let dir = std::env::temp_dir().join(format!("caravan-test-tool-{}", std::process::id()));
    let root = dir.join("root");
    std::fs::create_dir_all(&root).map_err(|e| e.to_string())?;
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tool.rs");
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let built = Command::new(rustc)
        .args([
            "--edition",
            "2024",
            "-O",
            "-C",
            "target-feature=+crt-static",
        ])
        .args(["-C", "panic=abort", "-C", "strip=symbols", "-o"])
        .arg(root.join("tool"))
        .arg(&source)
        .status()
        .map_err(|e| format!("rustc: {e}"))?;
    if !built.success() {
        return Err(format!("rustc could not compile {}", source.display()));
    }
    let tar = dir.join("tool.tar");
    let packed = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg("tool")
        .status()
        .map_err(|e| format!("tar: {e}"))?;
    if !packed.success() {
        return Err("tar failed".to_owned());
    }
    let label = format!("LABEL {SOURCE_LABEL}={hash}");
    let imported = docker(&[
        "import",
        "--change",
        &label,
        "--change",
        r#"CMD ["/tool", "out=hello"]"#,
        &tar.to_string_lossy(),
        IMAGE,
    ]);
    let _ = std::fs::remove_dir_all(&dir);
    imported.map(drop)
}

/// Removes the containers that test runs which died left behind.
fn remove_leftovers() {
    let Ok(list) = docker(&[
        "ps",
        "-a",
        "--filter",
        "label=caravan.alloc_id",
        "--format",
        "{{.ID}} {{.Label \"caravan.alloc_id\"}}",
    ]) else {
        return;
    };
    for line in list.lines() {
        let Some((id, alloc)) = line.split_once(' ') else {
            continue;
        };
        let pid = alloc
            .strip_prefix(ALLOC_PREFIX)
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok());
        if let Some(pid) = pid
            && pid != std::process::id()
            && !std::path::Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = docker(&["rm", "-f", "-v", id]);
        }
    }
}

fn config(v: Value) -> BTreeMap<String, Value> {
    serde_json::from_value(v).expect("config object")
}

/// A config running the tool with `steps` under docker's init.
fn tool(steps: &[&str]) -> BTreeMap<String, Value> {
    config(json!({ "image": IMAGE, "command": "/tool", "args": steps, "init": true }))
}

fn scenario(s: Scenario) -> BTreeMap<String, Value> {
    let ready = format!("out={READY}");
    match s {
        Scenario::ExitZero => tool(&["exit=0"]),
        Scenario::ExitCode3 => tool(&["exit=3"]),
        Scenario::PrintLogs => {
            tool(&[&format!("out={STDOUT_LINE}"), &format!("err={STDERR_LINE}")])
        }
        // With init as pid 1, the tool is an ordinary process: unhandled signals
        // have their default action.
        Scenario::LongRunning => tool(&[&ready, "sleep=inf"]),
        Scenario::IgnoresTerm => tool(&["ignore=TERM,INT", &ready, "sleep=inf"]),
        Scenario::BadConfig => config(json!({ "command": "/tool" })),
    }
}

/// A spec in a fresh allocation directory with an allocation id unique to this run.
fn spec(root: &TempRoot, task: &str, config: BTreeMap<String, Value>) -> TaskSpec {
    let mut spec = root.spec(task, config);
    let n = NEXT_ALLOC.fetch_add(1, Ordering::Relaxed);
    spec.alloc_id = AllocId::new(format!("{ALLOC_PREFIX}{}-{n}", std::process::id()));
    spec
}

fn container_id(h: &TaskHandle) -> String {
    h.state()
        .driver_state
        .get("container_id")
        .and_then(Value::as_str)
        .expect("docker records the container id")
        .to_owned()
}

fn container_exists(id: &str) -> bool {
    docker(&["container", "inspect", "--format", "{{.Id}}", id]).is_ok()
}

/// A field of `docker inspect`, as JSON.
fn inspect(id: &str, field: &str) -> Value {
    let out = docker(&[
        "container",
        "inspect",
        "--format",
        &format!("{{{{json {field}}}}}"),
        id,
    ])
    .expect("inspect");
    serde_json::from_str(&out).expect("json")
}

/// Polls until `cond` holds; panics after [`PATIENCE`].
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    within(
        async {
            while !cond() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        },
        what,
    )
    .await;
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

// The battery, one test per check so they run in parallel and fail one by one.

macro_rules! battery_check {
    ($name:ident, $check:ident) => {
        #[tokio::test]
        async fn $name() {
            let Some(d) = engine().await else { return };
            let root = TempRoot::new(stringify!($name));
            let make = |s: Scenario| spec(&root, s.as_str(), scenario(s));
            testing::$check(&d, &make).await;
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
    let Some(d) = engine().await else { return };
    testing::check_fingerprint(&d).await;
    let fp = d.fingerprint().await;
    assert_eq!(
        fp.attributes.get("driver.docker").map(String::as_str),
        Some("1")
    );
    assert!(
        fp.attributes
            .get("driver.docker.version")
            .is_some_and(|v| !v.is_empty()),
        "{fp:?}"
    );
    assert_eq!(
        fp.attributes
            .get("driver.docker.privileged.enabled")
            .map(String::as_str),
        Some("false")
    );
}

#[tokio::test]
async fn battery_recover_with_a_new_driver() {
    let Some(d) = engine().await else { return };
    let root = TempRoot::new("docker-recover");
    let make = |s: Scenario| spec(&root, s.as_str(), scenario(s));
    testing::check_recover(&d, &DockerDriver::default(), &make).await;
}

#[tokio::test]
async fn the_whole_battery_at_once() {
    let Some(d) = engine().await else { return };
    let root = TempRoot::new("docker-battery");
    testing::run_battery(|| driver_arc(&d), |s| spec(&root, s.as_str(), scenario(s))).await;
}

#[tokio::test]
async fn a_missing_engine_is_undetected_not_an_error() {
    let d = DockerDriver::new(DockerOptions {
        socket: "/nonexistent/docker.sock".into(),
        ..DockerOptions::default()
    });
    let fp = d.fingerprint().await;
    assert!(!fp.detected && !fp.healthy, "{fp:?}");
    assert!(
        fp.description.contains("/nonexistent/docker.sock"),
        "{fp:?}"
    );
}

// Images.

#[tokio::test]
async fn a_missing_image_that_cannot_be_pulled_is_a_clear_error() {
    let Some(d) = engine().await else { return };
    let root = TempRoot::new("docker-missing-image");
    let image = "caravan-test/never-built:7";
    let err = d
        .start(spec(&root, "redis", config(json!({ "image": image }))))
        .await
        .expect_err("no such image anywhere");
    assert!(matches!(err, DriverError::ImageUnavailable { .. }), "{err}");
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!(
            "task \"redis\": image \"{image}\" not found locally and could not be pulled: "
        )),
        "{msg}"
    );
    assert!(msg.len() > 90, "the reason is given: {msg}");
}

// Output, environment, directories.

#[tokio::test]
async fn the_env_is_the_given_one() {
    let Some(d) = engine().await else { return };
    let root = TempRoot::new("docker-env");
    let mut s = spec(&root, "env", tool(&["env"]));
    s.env
        .insert("DEMO_REDIS_ADDR".into(), "127.0.0.1:6379".into());
    let stdout = s.logs.stdout_base.clone();
    let h = start(&d, s).await;
    assert!(within(d.wait(&h), "wait").await.successful());
    let env = read_log(&stdout);
    assert!(
        env.lines().any(|l| l == "DEMO_REDIS_ADDR=127.0.0.1:6379"),
        "{env}"
    );
    assert!(env.lines().any(|l| l.starts_with("PATH=")), "{env}");
}

#[tokio::test]
async fn the_alloc_dir_and_volumes_are_mounted() {
    let Some(d) = engine().await else { return };
    let root = TempRoot::new("docker-mounts");
    let mut s = spec(
        &root,
        "files",
        tool(&[
            "write=/alloc/from-task:shared",
            "write=/secrets/token:secret",
            "cat=/local/input",
            "cat=/data/input",
            "pwd",
            "hostname",
        ]),
    );
    s.driver_config
        .insert("volumes".into(), json!(["local/vol:/data:ro"]));
    s.driver_config.insert("work_dir".into(), json!("/local"));
    s.driver_config.insert("hostname".into(), json!("box"));
    std::fs::write(s.dirs.local_dir.join("input"), "from local\n").expect("write");
    std::fs::create_dir_all(s.dirs.local_dir.join("vol")).expect("mkdir");
    std::fs::write(s.dirs.local_dir.join("vol/input"), "from a volume\n").expect("write");
    let (dirs, stdout, stderr) = (
        s.dirs.clone(),
        s.logs.stdout_base.clone(),
        s.logs.stderr_base.clone(),
    );
    let h = start(&d, s).await;
    let exit = within(d.wait(&h), "wait").await;
    assert!(exit.successful(), "{exit:?}: {}", read_log(&stderr));
    assert_eq!(
        read_log(&stdout),
        "from local\nfrom a volume\n/local\nbox\n"
    );
    assert_eq!(
        std::fs::read_to_string(dirs.alloc_dir.join("from-task")).expect("read"),
        "shared\n"
    );
    assert_eq!(
        std::fs::read_to_string(dirs.secrets_dir.join("token")).expect("read"),
        "secret\n"
    );
}

#[tokio::test]
async fn a_read_only_volume_cannot_be_written() {
    let Some(d) = engine().await else { return };
    let root = TempRoot::new("docker-ro");
    let mut s = spec(&root, "ro", tool(&["write=/data/x:no"]));
    s.driver_config
        .insert("volumes".into(), json!(["local:/data:ro"]));
    let stderr = s.logs.stderr_base.clone();
    let h = start(&d, s).await;
    let exit = within(d.wait(&h), "wait").await;
    assert_eq!(exit.exit_code, Some(100), "{exit:?}");
    assert!(
        read_log(&stderr).contains("Read-only file system"),
        "{}",
        read_log(&stderr)
    );
}

#[tokio::test]
async fn host_paths_outside_the_alloc_dir_are_refused() {
    let Some(d) = engine().await else { return };
    let root = TempRoot::new("docker-host-path");
    let mut s = spec(&root, "t", tool(&["exit=0"]));
    s.driver_config
        .insert("volumes".into(), json!(["/etc:/host-etc"]));
    let err = d.start(s).await.expect_err("host volumes are off");
    assert!(matches!(err, DriverError::InvalidConfig { .. }), "{err}");
}

#[tokio::test]
async fn privileged_is_refused_unless_allowed() {
    let Some(d) = engine().await else { return };
    let root = TempRoot::new("docker-privileged");
    let mut s = spec(&root, "t", tool(&["exit=0"]));
    s.driver_config.insert("privileged".into(), json!(true));
    let err = d.start(s.clone()).await.expect_err("not allowed");
    assert!(err.to_string().contains("allow_privileged"), "{err}");

    let Some(allowed) = engine_with(DockerOptions {
        allow_privileged: true,
        ..DockerOptions::default()
    })
    .await
    else {
        return;
    };
    // Allowed, the driver asks for it; whether the Engine can grant it depends on
    // the host (a nested one may lack the capabilities).
    match allowed.start(s).await {
        Ok(h) => {
            assert_eq!(
                inspect(&container_id(&h), ".HostConfig.Privileged"),
                json!(true)
            );
            assert!(within(allowed.wait(&h), "wait").await.successful());
        }
        Err(e @ DriverError::Docker { .. }) => {
            eprintln!("the Engine could not run a privileged container here: {e}");
        }
        Err(e) => panic!("refused although allowed: {e}"),
    }
}

// Networking.

#[tokio::test]
async fn ports_are_published_tcp_and_udp() {
    let Some(d) = engine().await else { return };
    let root = TempRoot::new("docker-ports");
    let host_port = free_port();
    let mut s = spec(
        &root,
        "web",
        tool(&["listen=8080", &format!("out={READY}"), "sleep=inf"]),
    );
    s.driver_config.insert("ports".into(), json!(["http"]));
    s.ports = vec![AllocatedPortMapping {
        label: "http".into(),
        value: host_port,
        to: 8080,
        host_ip: "127.0.0.1".into(),
    }];
    let (h, _) = start_ready(&d, s).await;

    // The proxy may accept before the container's socket is reachable: retry.
    let mut reply = String::new();
    eventually("the published TCP port to answer", || {
        reply.clear();
        TcpStream::connect(("127.0.0.1", host_port))
            .and_then(|mut c| c.read_to_string(&mut reply))
            .is_ok()
            && reply == "tcp 8080\n"
    })
    .await;

    let udp = UdpSocket::bind("127.0.0.1:0").expect("udp socket");
    udp.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let mut buf = [0u8; 64];
    eventually("the published UDP port to answer", || {
        udp.send_to(b"ping", ("127.0.0.1", host_port)).is_ok()
            && udp
                .recv(&mut buf)
                .is_ok_and(|n| &buf[..n] == b"udp 8080 ping")
    })
    .await;

    let published = inspect(&container_id(&h), ".HostConfig.PortBindings");
    assert_eq!(
        published["8080/tcp"][0]["HostIp"],
        json!("127.0.0.1"),
        "{published}"
    );
    within(d.destroy(&h), "destroy").await.expect("destroy");
}

#[tokio::test]
async fn a_task_joins_the_network_container_and_reaches_it_on_localhost() {
    let Some(d) = engine().await else { return };
    let root = TempRoot::new("docker-join");
    let holder = spec(
        &root,
        "holder",
        tool(&["listen=9000", &format!("out={READY}"), "sleep=inf"]),
    );
    let (holder, _) = start_ready(&d, holder).await;
    let mut sibling = spec(&root, "sibling", tool(&["connect=127.0.0.1:9000"]));
    sibling.network_container = Some(container_id(&holder));
    let (stdout, stderr) = (
        sibling.logs.stdout_base.clone(),
        sibling.logs.stderr_base.clone(),
    );
    let h = start(&d, sibling).await;
    let exit = within(d.wait(&h), "wait").await;
    assert!(exit.successful(), "{exit:?}: {}", read_log(&stderr));
    assert_eq!(read_log(&stdout), "tcp 9000\n");
    within(d.destroy(&holder), "destroy")
        .await
        .expect("destroy");
}

#[tokio::test]
async fn network_mode_none_has_no_network() {
    let Some(d) = engine().await else { return };
    let root = TempRoot::new("docker-none");
    let mut s = spec(&root, "t", tool(&["connect=1.1.1.1:53"]));
    s.driver_config.insert("network_mode".into(), json!("none"));
    let stderr = s.logs.stderr_base.clone();
    let h = start(&d, s).await;
    let exit = within(d.wait(&h), "wait").await;
    assert_eq!(exit.exit_code, Some(100), "{exit:?}");
    assert!(
        read_log(&stderr).contains("unreachable"),
        "{}",
        read_log(&stderr)
    );
}

// What the container is made of.

#[tokio::test]
async fn labels_resources_and_limits_are_applied() {
    let Some(d) = engine().await else { return };
    let root = TempRoot::new("docker-labels");
    let mut s = spec(&root, "web", scenario(Scenario::LongRunning));
    s.driver_config
        .insert("labels".into(), json!([{ "team": "core" }]));
    s.driver_config
        .insert("ulimit".into(), json!({ "nofile": "1024:2048" }));
    s.driver_config.insert("cap_drop".into(), json!(["MKNOD"]));
    s.driver_config
        .insert("extra_hosts".into(), json!(["db.internal:10.1.2.3"]));
    s.resources = TaskResources {
        cpu_mhz: 300,
        memory_mb: 64,
        memory_max_mb: 128,
    };
    let alloc = s.alloc_id.clone();
    let (h, _) = start_ready(&d, s).await;
    let id = container_id(&h);
    let labels = inspect(&id, ".Config.Labels");
    assert_eq!(labels["caravan.alloc_id"], json!(alloc.as_str()));
    assert_eq!(labels["caravan.task"], json!("web"));
    assert_eq!(labels["team"], json!("core"));
    let host = inspect(&id, ".HostConfig");
    assert_eq!(host["Memory"], json!(128 << 20));
    assert_eq!(host["MemoryReservation"], json!(64 << 20));
    assert_eq!(host["CpuShares"], json!(300));
    assert_eq!(host["Init"], json!(true));
    assert_eq!(host["CapDrop"], json!(["MKNOD"]));
    assert_eq!(host["ExtraHosts"], json!(["db.internal:10.1.2.3"]));
    assert_eq!(
        host["Ulimits"],
        json!([{ "Name": "nofile", "Soft": 1024, "Hard": 2048 }])
    );
    assert_eq!(
        inspect(&id, ".Name"),
        json!(format!("/web-{}", alloc.as_str()))
    );
    within(d.destroy(&h), "destroy").await.expect("destroy");
}

#[tokio::test]
async fn an_oom_kill_is_reported() {
    let Some(d) = engine().await else { return };
    let root = TempRoot::new("docker-oom");
    let mut s = spec(&root, "hog", tool(&["hog=512"]));
    s.resources.memory_mb = 32;
    let h = start(&d, s).await;
    let exit = within(d.wait(&h), "wait").await;
    assert!(exit.oom_killed, "{exit:?}");
    assert_eq!(exit.signal, Some(9), "{exit:?}");
    assert!(!exit.successful());
}

// The container's life.

#[tokio::test]
async fn containers_are_removed_when_their_task_ends() {
    let Some(d) = engine().await else { return };
    let root = TempRoot::new("docker-removed");
    let h = start(&d, spec(&root, "done", scenario(Scenario::ExitZero))).await;
    let id = container_id(&h);
    assert!(within(d.wait(&h), "wait").await.successful());
    assert!(!container_exists(&id), "an exited container stays");

    let (h, _) = start_ready(&d, spec(&root, "long", scenario(Scenario::IgnoresTerm))).await;
    let id = container_id(&h);
    assert!(container_exists(&id));
    within(d.destroy(&h), "destroy").await.expect("destroy");
    assert!(!container_exists(&id), "a destroyed container stays");
}

#[tokio::test]
async fn stop_uses_the_given_signal_and_sigterm_by_default() {
    let Some(d) = engine().await else { return };
    let root = TempRoot::new("docker-stop-default");
    let (h, _) = start_ready(&d, spec(&root, "t", scenario(Scenario::LongRunning))).await;
    within(d.stop(&h, "", PATIENCE), "stop")
        .await
        .expect("stop");
    assert_eq!(within(d.wait(&h), "wait").await.signal, Some(15));

    let (h, _) = start_ready(&d, spec(&root, "t", scenario(Scenario::LongRunning))).await;
    within(d.stop(&h, "SIGHUP", PATIENCE), "stop")
        .await
        .expect("stop");
    assert_eq!(within(d.wait(&h), "wait").await.signal, Some(1));
}

#[tokio::test]
async fn a_leftover_container_of_the_same_task_is_replaced() {
    let Some(d) = engine().await else { return };
    let root = TempRoot::new("docker-replace");
    let s = spec(&root, "t", scenario(Scenario::LongRunning));
    let (first, _) = start_ready(&d, s.clone()).await;
    let old = container_id(&first);
    // The agent "dies": nobody watches or removes the container any more.
    drop(first);
    let second = start(&d, s).await;
    assert_ne!(container_id(&second), old);
    assert!(!container_exists(&old), "the leftover was not removed");
    within(d.destroy(&second), "destroy")
        .await
        .expect("destroy");
}

#[tokio::test]
async fn recovery_resumes_the_logs_without_gaps_or_repeats() {
    let Some(d) = engine().await else { return };
    let root = TempRoot::new("docker-recover-logs");
    let s = spec(&root, "ticker", tool(&["tick=50"]));
    let stdout = s.logs.stdout_base.clone();
    let h = start(&d, s).await;
    wait_for_log(&stdout, "tick 3\n", PATIENCE).await;
    let state = h.state().clone();
    // The agent goes away for a while; the container goes on ticking.
    drop(h);
    tokio::time::sleep(Duration::from_millis(600)).await;
    let restarted = DockerDriver::default();
    let h = within(restarted.recover(&state), "recover")
        .await
        .expect("recover");
    let seen_before = read_log(&stdout).lines().count();
    wait_for_log(&stdout, &format!("tick {}\n", seen_before + 20), PATIENCE).await;
    within(restarted.stop(&h, "SIGTERM", PATIENCE), "stop")
        .await
        .expect("stop");
    assert_eq!(within(restarted.wait(&h), "wait").await.signal, Some(15));
    let log = read_log(&stdout);
    for (n, line) in log.lines().enumerate() {
        assert_eq!(line, format!("tick {n}"), "gap or repeat in:\n{log}");
    }
}

#[tokio::test]
async fn a_container_that_exited_while_the_agent_was_away_reports_its_code() {
    let Some(d) = engine().await else { return };
    let root = TempRoot::new("docker-exited-away");
    let s = spec(&root, "t", tool(&["out=bye", "sleep=0.5", "exit=7"]));
    let stdout = s.logs.stdout_base.clone();
    let h = start(&d, s).await;
    let (id, state) = (container_id(&h), h.state().clone());
    drop(h);
    eventually("the container to exit", || {
        inspect(&id, ".State.Running") == json!(false)
    })
    .await;
    let restarted = DockerDriver::default();
    let h = within(restarted.recover(&state), "recover")
        .await
        .expect("recover");
    let exit = within(restarted.wait(&h), "wait").await;
    assert_eq!(exit.exit_code, Some(7), "{exit:?}");
    assert_eq!(read_log(&stdout), "bye\n", "each line once");
    assert!(!container_exists(&id), "the exited container stays");
}

#[tokio::test]
async fn a_recorded_container_of_another_allocation_is_not_touched() {
    let Some(d) = engine().await else { return };
    let root = TempRoot::new("docker-not-ours");
    let (h, _) = start_ready(&d, spec(&root, "t", scenario(Scenario::LongRunning))).await;
    let mut state = h.state().clone();
    state.alloc_id = AllocId::new("someone-else");
    let other = within(d.recover(&state), "recover").await.expect("recover");
    assert_eq!(within(d.wait(&other), "wait").await.exit_code, None);
    d.stop(&other, "SIGKILL", Duration::from_millis(10))
        .await
        .expect("a no-op");
    assert!(matches!(
        d.signal(&other, "SIGKILL").await,
        Err(DriverError::NotRunning { .. })
    ));
    d.destroy(&other).await.expect("a no-op");
    assert!(
        container_exists(&container_id(&h)),
        "a stranger was stopped"
    );
    within(d.destroy(&h), "destroy").await.expect("destroy");
}

#[tokio::test]
async fn reconcile_removes_the_containers_of_gone_allocations_only() {
    let node = format!("reconcile-test-{}", std::process::id());
    let Some(d) = engine_with(DockerOptions {
        node_id: Some(node),
        ..DockerOptions::default()
    })
    .await
    else {
        return;
    };
    let root = TempRoot::new("docker-reconcile");
    let kept = spec(&root, "kept", scenario(Scenario::LongRunning));
    let gone = spec(&root, "gone", scenario(Scenario::LongRunning));
    let kept_alloc = kept.alloc_id.clone();
    let (kept, _) = start_ready(&d, kept).await;
    let (gone, _) = start_ready(&d, gone).await;
    // The agent dies: the containers are left alone.
    let (kept_id, gone_id) = (container_id(&kept), container_id(&gone));
    drop((kept, gone));

    // Another node's reconcile (and a test's plain driver) never sees these.
    let removed = within(d.reconcile(|alloc| *alloc == kept_alloc), "reconcile")
        .await
        .expect("reconcile");
    assert_eq!(removed, std::slice::from_ref(&gone_id));
    assert!(!container_exists(&gone_id));
    assert!(container_exists(&kept_id));
    let removed = within(d.reconcile(|_| false), "reconcile")
        .await
        .expect("reconcile");
    assert_eq!(removed, std::slice::from_ref(&kept_id));
    assert!(!container_exists(&kept_id));
}

#[tokio::test]
async fn a_signal_after_the_exit_is_not_running() {
    let Some(d) = engine().await else { return };
    let root = TempRoot::new("docker-signal-late");
    let s = spec(&root, "t", scenario(Scenario::ExitZero));
    let h = start(&d, s).await;
    within(d.wait(&h), "wait").await;
    assert!(matches!(
        d.signal(&h, "SIGHUP").await,
        Err(DriverError::NotRunning { .. })
    ));
}

// The seeds' image, when `scripts/build-images` has made it.

#[tokio::test]
async fn the_seed_redis_task_answers_on_its_published_port() {
    let Some(d) = engine().await else { return };
    if docker(&["image", "inspect", "redis:7"]).is_err() {
        eprintln!("skipped: no redis:7 image here (scripts/build-images makes it)");
        return;
    }
    let root = TempRoot::new("docker-redis");
    let mut s = spec(
        &root,
        "redis",
        config(json!({ "image": "redis:7", "ports": ["redis"] })),
    );
    let host_port = free_port();
    s.ports = vec![AllocatedPortMapping {
        label: "redis".into(),
        value: host_port,
        to: 6379,
        host_ip: "127.0.0.1".into(),
    }];
    s.resources.memory_mb = 256;
    let stdout = s.logs.stdout_base.clone();
    let h = start(&d, s).await;
    wait_for_log(&stdout, "Ready to accept connections", PATIENCE).await;
    let mut reply = [0u8; 7];
    eventually("redis to answer PING", || {
        TcpStream::connect(("127.0.0.1", host_port))
            .and_then(|mut c| {
                std::io::Write::write_all(&mut c, b"PING\r\n")?;
                c.read_exact(&mut reply)
            })
            .is_ok_and(|()| &reply == b"+PONG\r\n")
    })
    .await;
    // redis-server saves and exits 0 on SIGTERM.
    within(d.stop(&h, "SIGTERM", PATIENCE), "stop")
        .await
        .expect("stop");
    let exit = within(d.wait(&h), "wait").await;
    assert!(exit.successful(), "{exit:?}");
}
