//! A scratch directory for driver tests, removed when dropped.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use caravan_model::AllocId;
use serde_json::Value;

use crate::TaskSpec;

/// Makes every directory name unique within this process; the pid and clock make it
/// unique across processes.
static NEXT: AtomicU64 = AtomicU64::new(0);

/// The `PATH` test tasks get.
pub const TEST_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// A unique directory under the system temp dir; each [`TempRoot::spec`] makes a new
/// allocation directory inside it.
#[derive(Debug)]
pub struct TempRoot {
    path: PathBuf,
}

impl TempRoot {
    /// Creates `<tmp>/caravan-drivers-<label>-<pid>-<n>-<nanos>`.
    pub fn new(label: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!(
            "caravan-drivers-{label}-{}-{n}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&path).expect("create temp root");
        Self { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A spec for `task` with `config`, in a new allocation directory whose whole
    /// layout exists, with `PATH` as its only environment variable.
    pub fn spec(&self, task: &str, config: BTreeMap<String, Value>) -> TaskSpec {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let alloc_id = AllocId::new(format!("alloc-{n}"));
        let mut spec = TaskSpec::new(alloc_id.clone(), task, self.path.join(alloc_id.as_str()));
        spec.dirs.create_all().expect("create task dirs");
        spec.driver_config = config;
        spec.env = BTreeMap::from([("PATH".to_owned(), TEST_PATH.to_owned())]);
        spec
    }
}

impl Drop for TempRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
