//! A test image for docker tasks, made here (no registry is reachable): a static,
//! std-only program that prints a line and sleeps, compiled with rustc and
//! `docker import`ed alone into `caravan-test/client-sleeper:latest`.

use std::process::Command;
use std::sync::OnceLock;

pub const SLEEPER_IMAGE: &str = "caravan-test/client-sleeper:latest";

const SOURCE: &str = r#"
fn main() {
    println!("sleeping");
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}
"#;

static BUILT: OnceLock<Result<(), String>> = OnceLock::new();

/// Builds the image once per test process, unless it is there already.
pub fn sleeper_image() -> Result<(), String> {
    BUILT.get_or_init(build).clone()
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn build() -> Result<(), String> {
    if run(Command::new("docker").args(["image", "inspect", SLEEPER_IMAGE])).is_ok() {
        return Ok(());
    }
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let root = dir.path().join("root");
    std::fs::create_dir_all(&root).map_err(|e| e.to_string())?;
    let source = dir.path().join("sleeper.rs");
    std::fs::write(&source, SOURCE).map_err(|e| e.to_string())?;
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    run(Command::new(rustc)
        .args([
            "--edition",
            "2021",
            "-O",
            "-C",
            "target-feature=+crt-static",
        ])
        .args(["-C", "panic=abort", "-o"])
        .arg(root.join("sleeper"))
        .arg(&source))?;
    let tar = dir.path().join("sleeper.tar");
    run(Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg("sleeper"))?;
    run(Command::new("docker")
        .args(["import", "--change", r#"CMD ["/sleeper"]"#])
        .arg(&tar)
        .arg(SLEEPER_IMAGE))
}

/// The ids of the containers labelled with `alloc`, running or not.
pub fn containers_of(alloc: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args(["ps", "-a", "-q", "--no-trunc", "--filter"])
        .arg(format!("label=caravan.alloc_id={alloc}"))
        .output();
    match out {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// Whether the container runs.
pub fn container_runs(id: &str) -> bool {
    Command::new("docker")
        .args(["inspect", "--format", "{{.State.Running}}", id])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "true")
}
