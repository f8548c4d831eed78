//! Named network namespaces, kept the way `ip netns` keeps them: an empty file under
//! a shared-mount directory, with the namespace bind-mounted onto it.
//!
//! Creating or entering a namespace changes the namespace of the calling thread
//! only: these functions run on the crate's short-lived worker threads, never on a
//! tokio worker.

use std::fs;
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use nix::errno::Errno;
use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, setns, unshare};
use nix::sys::statfs::{NSFS_MAGIC, statfs};

use crate::NetError;

/// Directories already made shared mounts by this process.
static PREPARED: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

const NO_PATH: Option<&str> = None;

/// Creates `dir` and makes it a shared mount (bind-mounting it onto itself first if
/// it is not a mount point), as `ip netns add` does, so that removing a namespace's
/// mount there also removes its copies in mount namespaces created meanwhile.
pub(crate) fn prepare_dir(dir: &Path) -> Result<(), NetError> {
    let mut prepared = PREPARED
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if prepared.iter().any(|d| d == dir) {
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(|e| NetError::io("create", dir, e))?;
    let share = || {
        mount(
            NO_PATH,
            dir,
            NO_PATH,
            MsFlags::MS_SHARED | MsFlags::MS_REC,
            NO_PATH,
        )
    };
    match share() {
        Ok(()) => {}
        Err(Errno::EINVAL) => {
            mount(
                Some(dir),
                dir,
                NO_PATH,
                MsFlags::MS_BIND | MsFlags::MS_REC,
                NO_PATH,
            )
            .map_err(|e| NetError::sys("bind-mount", dir, e))?;
            share().map_err(|e| NetError::sys("make shared", dir, e))?;
        }
        Err(e) => return Err(NetError::sys("make shared", dir, e)),
    }
    prepared.push(dir.to_path_buf());
    Ok(())
}

/// Whether `path` holds a mounted network namespace (not a leftover empty file).
pub(crate) fn is_mounted(path: &Path) -> bool {
    statfs(path).is_ok_and(|s| s.filesystem_type() == NSFS_MAGIC)
}

/// Moves the calling thread into the namespace at `path`, creating and
/// bind-mounting a new one there first unless one is mounted already.
pub(crate) fn create_and_enter(path: &Path) -> Result<(), NetError> {
    if is_mounted(path) {
        return enter(path);
    }
    // An empty file left by a crash between creating it and mounting onto it.
    match fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(NetError::io("remove stale", path, e)),
    }
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o444)
        .open(path)
        .map_err(|e| NetError::io("create", path, e))?;
    let made = unshare(CloneFlags::CLONE_NEWNET)
        .map_err(|e| NetError::sys("unshare network namespace for", path, e))
        .and_then(|()| {
            // The thread's own namespace: /proc/self would name the main thread's.
            mount(
                Some("/proc/thread-self/ns/net"),
                path,
                NO_PATH,
                MsFlags::MS_BIND,
                NO_PATH,
            )
            .map_err(|e| NetError::sys("bind-mount network namespace on", path, e))
        });
    if made.is_err() {
        let _ = fs::remove_file(path);
    }
    made
}

/// Bind-mounts the namespace at `source` (a `/proc/<pid>/ns/net` of a process that
/// holds it) at `target`, naming it as `ip netns attach` does. A mount of another
/// namespace already at `target` (its holder was replaced) is replaced.
pub(crate) fn bind_existing(source: &Path, target: &Path) -> Result<(), NetError> {
    if is_mounted(target) {
        if same_file(source, target) {
            return Ok(());
        }
        umount2(target, MntFlags::MNT_DETACH)
            .map_err(|e| NetError::sys("unmount a replaced namespace", target, e))?;
    }
    match fs::remove_file(target) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(NetError::io("remove stale", target, e)),
    }
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o444)
        .open(target)
        .map_err(|e| NetError::io("create", target, e))?;
    let bound = mount(Some(source), target, NO_PATH, MsFlags::MS_BIND, NO_PATH)
        .map_err(|e| NetError::sys("bind-mount network namespace on", target, e));
    if bound.is_err() {
        let _ = fs::remove_file(target);
    }
    bound
}

/// Whether two paths name the same namespace (device and inode of nsfs).
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (fs::metadata(a), fs::metadata(b)) {
        (Ok(a), Ok(b)) => a.dev() == b.dev() && a.ino() == b.ino(),
        _ => false,
    }
}

/// Moves the calling thread into the network namespace at `path`.
pub(crate) fn enter(path: &Path) -> Result<(), NetError> {
    let file = fs::File::open(path).map_err(|e| NetError::io("open", path, e))?;
    setns(&file, CloneFlags::CLONE_NEWNET).map_err(|e| NetError::sys("enter", path, e))
}

/// Unmounts and removes a named namespace; `false` when there was none. The kernel
/// frees the namespace (and the veth peer in it) once no process is left inside.
pub(crate) fn remove(path: &Path) -> Result<bool, NetError> {
    match umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(Errno::EINVAL | Errno::ENOENT) => {}
        Err(e) => return Err(NetError::sys("unmount", path, e)),
    }
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(NetError::io("remove", path, e)),
    }
}

/// The names under `dir` that start with `prefix`.
pub(crate) fn list(dir: &Path, prefix: &str) -> Result<Vec<String>, NetError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(NetError::io("list", dir, e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| NetError::io("list", dir, e))?;
        if let Some(name) = entry.file_name().to_str()
            && name.starts_with(prefix)
        {
            names.push(name.to_owned());
        }
    }
    names.sort();
    Ok(names)
}
