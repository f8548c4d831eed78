//! What the client keeps on disk so that a restarted agent (even one that was
//! SIGKILLed) finds its allocations and their running tasks again: per allocation,
//! the allocation as last received, each task's state and driver handle (what
//! [`TaskDriver::recover`] needs), the allocation's network and which prerun hooks
//! have completed.
//!
//! One JSON file per allocation under `<data_dir>/client/allocs/`, rewritten whole
//! (temp file, fsync, rename) whenever it changes, so a reader never sees half of
//! one; removed when the allocation is destroyed.
//!
//! [`TaskDriver::recover`]: caravan_drivers::TaskDriver::recover

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use caravan_drivers::TaskHandleState;
use caravan_model::{AllocId, AllocNetworkStatus, AllocatedPortMapping, Allocation, TaskState};
use serde::{Deserialize, Serialize};

/// The version of the file's shape; a file of another version is not restored.
const FORMAT_VERSION: u32 = 1;

/// Why the client's state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum ClientStateError {
    #[error("client state {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("client state {path}: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("client state {path}: format version {found}, this agent reads {FORMAT_VERSION}")]
    Version { path: PathBuf, found: u32 },
    #[error("allocation id {0:?} cannot name a state file")]
    BadAllocId(String),
}

/// The allocation's network as its hooks left it: what a restored runner gives its
/// tasks instead of setting the network up again.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PersistedNetwork {
    pub ports: Vec<AllocatedPortMapping>,
    pub network_status: Option<AllocNetworkStatus>,
    pub netns_path: Option<PathBuf>,
    pub network_container: Option<String>,
}

/// Everything kept about one allocation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PersistedAlloc {
    pub version: u32,
    /// The allocation as last received from the servers.
    pub alloc: Allocation,
    /// Each task's state (restarts, events, started and finished times).
    pub task_states: BTreeMap<String, TaskState>,
    /// The driver handle of each task running now.
    pub handles: BTreeMap<String, TaskHandleState>,
    /// The names of the prerun hooks that completed, in order.
    pub hooks_done: Vec<String>,
    pub network: PersistedNetwork,
}

/// The client's state directory: one file per allocation.
#[derive(Debug, Clone)]
pub struct ClientState {
    dir: PathBuf,
}

impl ClientState {
    /// The state under `<data_dir>/client/allocs` (made on first write).
    pub fn new(data_dir: &Path) -> Self {
        Self {
            dir: data_dir.join("client").join("allocs"),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every allocation kept, in id order. A file that cannot be read is skipped
    /// with a warning: one bad file must not keep the others from being restored.
    pub fn load_all(&self) -> Vec<PersistedAlloc> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
            Err(e) => {
                tracing::warn!(dir = %self.dir.display(), error = %e, "cannot list the client state");
                return Vec::new();
            }
        };
        let mut paths: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        paths.sort();
        paths
            .iter()
            .filter_map(|path| match read_file(path) {
                Ok(alloc) => Some(alloc),
                Err(e) => {
                    tracing::warn!(error = %e, "skipping an unreadable allocation state");
                    None
                }
            })
            .collect()
    }

    /// The file of a new allocation, written at once with `alloc`.
    pub fn create(&self, alloc: &Allocation) -> Result<Arc<AllocState>, ClientStateError> {
        let persisted = PersistedAlloc {
            version: FORMAT_VERSION,
            alloc: alloc.clone(),
            ..PersistedAlloc::default()
        };
        self.open(persisted)
    }

    /// The file of an allocation read back by [`ClientState::load_all`].
    pub fn open(&self, persisted: PersistedAlloc) -> Result<Arc<AllocState>, ClientStateError> {
        let path = self.path_of(&persisted.alloc.id)?;
        let state = Arc::new(AllocState {
            path,
            inner: Mutex::new(Inner {
                data: persisted,
                written: None,
                removed: false,
            }),
        });
        state.update(|_| {})?;
        Ok(state)
    }

    /// Deletes the file of `alloc`, if there is one.
    pub fn forget(&self, alloc: &AllocId) -> Result<(), ClientStateError> {
        remove_if_present(&self.path_of(alloc)?)
    }

    fn path_of(&self, alloc: &AllocId) -> Result<PathBuf, ClientStateError> {
        let id = alloc.as_str();
        let plain = !id.is_empty()
            && id != "."
            && id != ".."
            && !id.contains(['/', '\\', '\0'])
            && !id.starts_with('.');
        if !plain {
            return Err(ClientStateError::BadAllocId(id.to_owned()));
        }
        Ok(self.dir.join(format!("{id}.json")))
    }
}

fn read_file(path: &Path) -> Result<PersistedAlloc, ClientStateError> {
    let text = std::fs::read(path).map_err(|source| ClientStateError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let alloc: PersistedAlloc =
        serde_json::from_slice(&text).map_err(|source| ClientStateError::Json {
            path: path.to_path_buf(),
            source,
        })?;
    if alloc.version != FORMAT_VERSION {
        return Err(ClientStateError::Version {
            path: path.to_path_buf(),
            found: alloc.version,
        });
    }
    Ok(alloc)
}

/// One allocation's file, shared by its runner and task runners: every change goes
/// through [`AllocState::update`], which writes the file when its text changed.
#[derive(Debug)]
pub struct AllocState {
    path: PathBuf,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    data: PersistedAlloc,
    /// The text last written, to skip writes that change nothing.
    written: Option<Vec<u8>>,
    /// Once removed, nothing writes the file again (a late task update must not
    /// bring a destroyed allocation back).
    removed: bool,
}

impl AllocState {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A copy of what is kept now.
    pub fn snapshot(&self) -> PersistedAlloc {
        self.lock().data.clone()
    }

    /// Changes what is kept and writes it, atomically, if that changed the text.
    pub fn update(&self, change: impl FnOnce(&mut PersistedAlloc)) -> Result<(), ClientStateError> {
        let mut inner = self.lock();
        if inner.removed {
            return Ok(());
        }
        change(&mut inner.data);
        let text = serde_json::to_vec(&inner.data).map_err(|source| ClientStateError::Json {
            path: self.path.clone(),
            source,
        })?;
        if inner.written.as_ref() == Some(&text) {
            return Ok(());
        }
        write_atomically(&self.path, &text).map_err(|source| ClientStateError::Io {
            path: self.path.clone(),
            source,
        })?;
        inner.written = Some(text);
        Ok(())
    }

    /// [`AllocState::update`], with a failure logged: the allocation keeps
    /// running, it just could not be restored after an agent restart.
    pub fn record(&self, change: impl FnOnce(&mut PersistedAlloc)) {
        if let Err(e) = self.update(change) {
            tracing::warn!(error = %e, "could not save the allocation's state");
        }
    }

    /// Deletes the file; later updates are ignored.
    pub fn remove(&self) -> Result<(), ClientStateError> {
        let mut inner = self.lock();
        inner.removed = true;
        remove_if_present(&self.path)
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

fn remove_if_present(path: &Path) -> Result<(), ClientStateError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(ClientStateError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Writes `text` to a temp file beside `path`, syncs it and renames it over `path`.
fn write_atomically(path: &Path, text: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("a state file has a directory"))?;
    std::fs::create_dir_all(dir)?;
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(text)?;
        file.sync_data()?;
    }
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn alloc(id: &str) -> Allocation {
        Allocation {
            id: AllocId::new(id),
            desired_status: "run".into(),
            ..Allocation::default()
        }
    }

    #[test]
    fn an_allocation_round_trips_and_is_removed() {
        let dir = tempfile::tempdir().unwrap();
        let db = ClientState::new(dir.path());
        assert!(db.load_all().is_empty(), "nothing kept yet");
        let file = db.create(&alloc("a1")).unwrap();
        file.update(|p| {
            p.task_states.insert(
                "web".into(),
                TaskState {
                    state: "running".into(),
                    restarts: 2,
                    ..TaskState::default()
                },
            );
            p.handles.insert(
                "web".into(),
                TaskHandleState {
                    driver: "raw_exec".into(),
                    pid: Some(42),
                    ..TaskHandleState::default()
                },
            );
            p.hooks_done.push("alloc_dir".into());
        })
        .unwrap();
        let back = db.load_all();
        assert_eq!(back, vec![file.snapshot()]);
        assert_eq!(back[0].task_states["web"].restarts, 2);

        file.remove().unwrap();
        assert!(db.load_all().is_empty());
        file.record(|p| p.hooks_done.push("late".into()));
        assert!(!file.path().exists(), "a removed state stays removed");
    }

    #[test]
    fn bad_files_are_skipped_and_bad_ids_refused() {
        let dir = tempfile::tempdir().unwrap();
        let db = ClientState::new(dir.path());
        db.create(&alloc("good")).unwrap();
        std::fs::write(db.dir().join("torn.json"), b"{\"Vers").unwrap();
        std::fs::write(db.dir().join("old.json"), b"{\"version\": 99}").unwrap();
        let ids: Vec<String> = db
            .load_all()
            .iter()
            .map(|p| p.alloc.id.as_str().to_owned())
            .collect();
        assert_eq!(ids, ["good"]);
        assert!(matches!(
            db.create(&alloc("../escape")),
            Err(ClientStateError::BadAllocId(_))
        ));
    }
}
