//! Read load: requests per second from keep-alive connections, and `wrk` as the peer.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::Res;
use super::http::Http;

/// Calls `read` in a loop on `threads` keep-alive connections to `addr` for `duration`:
/// how many calls were made, and how many per second. `read` gets its thread's
/// connection, the thread's number and how many calls that thread has made.
pub fn read_rate(
    addr: SocketAddr,
    threads: usize,
    duration: Duration,
    read: impl Fn(&mut Http, usize, u64) -> Res<()> + Sync,
) -> Res<(u64, f64)> {
    let start = Instant::now();
    let until = start + duration;
    let read = &read;
    let total = std::thread::scope(|scope| {
        let threads: Vec<_> = (0..threads)
            .map(|t| {
                scope.spawn(move || -> Res<u64> {
                    let mut http = Http::new(addr);
                    let mut done = 0;
                    while Instant::now() < until {
                        read(&mut http, t, done)?;
                        done += 1;
                    }
                    Ok(done)
                })
            })
            .collect();
        let mut total = 0;
        for thread in threads {
            total += thread
                .join()
                .map_err(|_| "a reader thread panicked".to_owned())??;
        }
        Ok::<_, String>(total)
    })?;
    Ok((total, total as f64 / start.elapsed().as_secs_f64()))
}

/// `wrk -t2 -c16 -d3s` against `url`: its `Requests/sec`.
pub fn wrk_rate(wrk: &Path, url: &str) -> Res<String> {
    let out = Command::new(wrk)
        .args(["-t2", "-c16", "-d3s", url])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running wrk: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "wrk failed ({}): {stdout}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    if let Some(line) = stdout.lines().find(|l| l.contains("Non-2xx")) {
        return Err(format!("wrk: {}", line.trim()));
    }
    stdout
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .map(|rate| rate.trim().to_owned())
        .ok_or_else(|| format!("no Requests/sec in wrk's output: {stdout}"))
}

pub fn find_in_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}
