//! pause: the process that holds an allocation's network namespace in bridge mode.
//!
//! It does nothing until SIGTERM or SIGINT, then exits 0 at once, so `docker stop` takes
//! milliseconds rather than the stop timeout (PID 1 of a container gets no default signal
//! action: without a handler SIGTERM would be ignored until docker's SIGKILL).
//!
//! std only, no crates: the two libc functions it needs are declared here; std links libc
//! anyway. Built by scripts/build-images with
//! `rustc -O -C panic=abort -C target-feature=+crt-static`, so it runs in a `FROM scratch`
//! image.

use std::ffi::c_int;

const SIGINT: c_int = 2;
const SIGTERM: c_int = 15;

unsafe extern "C" {
    fn signal(signum: c_int, handler: extern "C" fn(c_int)) -> usize;
    fn _exit(status: c_int) -> !;
}

/// Async-signal-safe: only `_exit`.
extern "C" fn on_stop(_signum: c_int) {
    // SAFETY: _exit is async-signal-safe and takes any status.
    unsafe { _exit(0) }
}

fn main() {
    for signum in [SIGINT, SIGTERM] {
        // SAFETY: installs a handler that only calls an async-signal-safe function.
        unsafe { signal(signum, on_stop) };
    }
    loop {
        std::thread::park();
    }
}
