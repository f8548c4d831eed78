//! Helpers the end-to-end test files share beyond the agent itself: the repository's
//! example job files, curl, the running allocation of a group, the host's address
//! for containers, and whether the docker seeds can run here.

use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

use super::{Agent, summarize_allocs, wait_for};

pub fn repo_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn read_example(rel: &str) -> String {
    let path = repo_dir().join("examples").join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// `text` with `from` replaced by `to`, failing the test if `from` is not there once.
#[track_caller]
pub fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(text.matches(from).count(), 1, "{from:?} once in:\n{text}");
    text.replace(from, to)
}

/// `curl URL`: the status code and the body.
pub fn curl(url: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "5", "-w", "\n%{http_code}", url])
        .output()
        .expect("run curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", &text));
    (code.trim().parse().unwrap_or(0), body.to_owned())
}

/// The running allocation of `group` in `job`.
#[track_caller]
pub fn alloc_of(agent: &Agent, job: &str, group: &str) -> Value {
    let id = wait_for(&format!("a running {group} allocation"), |last| {
        let allocs = agent.job_allocs(job);
        *last = summarize_allocs(&allocs);
        allocs
            .iter()
            .find(|a| {
                a["TaskGroup"] == group
                    && a["DesiredStatus"] == "run"
                    && a["ClientStatus"] == "running"
            })
            .and_then(|a| a["ID"].as_str().map(str::to_owned))
    });
    agent.alloc(&id)
}

/// The `DEMO_REDIS_ADDR` values of the app's rendered file, sorted.
pub fn rendered_addrs(text: &str) -> Vec<String> {
    let mut addrs: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("DEMO_REDIS_ADDR="))
        .map(str::to_owned)
        .collect();
    addrs.sort();
    addrs
}

/// Why the docker seeds cannot run here, if they cannot: no docker, its images
/// missing (`scripts/build-images` makes them; `e2e_docker.rs` builds them when
/// missing).
pub fn docker_seed_skip_reason() -> Option<String> {
    static REASON: OnceLock<Option<String>> = OnceLock::new();
    REASON
        .get_or_init(|| {
            let answers = Command::new("docker")
                .arg("info")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !answers {
                return Some("no Docker Engine answers here".to_owned());
            }
            let images = Command::new("docker")
                .args(["image", "inspect", "redis:7", "mrkaran/hello-app:1.0.0"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            (!images).then(|| "the images are missing (run scripts/build-images)".to_owned())
        })
        .clone()
}

/// The host's own address on its default route (no packet is sent), if it has one:
/// containers reach the host's published ports there, not on 127.0.0.1. Two
/// documentation networks are tried, since the host may sit in one of them (where the
/// first's broadcast address cannot be connected to).
pub fn host_ipv4() -> Option<Ipv4Addr> {
    ["192.0.2.255:9", "198.51.100.1:9"]
        .iter()
        .find_map(|target| {
            let socket = UdpSocket::bind("0.0.0.0:0").ok()?;
            socket.connect(target).ok()?;
            match socket.local_addr().ok()?.ip() {
                IpAddr::V4(ip) if !ip.is_loopback() && !ip.is_unspecified() => Some(ip),
                _ => None,
            }
        })
}
