//! Where a task's files live.

use std::io;
use std::path::{Path, PathBuf};

/// The directories of one task inside its allocation, in Nomad's layout:
///
/// ```text
/// <alloc root>/alloc/          shared by the group's tasks   (NOMAD_ALLOC_DIR)
/// <alloc root>/alloc/logs/     every task's log files
/// <alloc root>/<task>/         the task's working directory
/// <alloc root>/<task>/local/   the task's own files           (NOMAD_TASK_DIR)
/// <alloc root>/<task>/secrets/ the task's secrets             (NOMAD_SECRETS_DIR)
/// ```
///
/// The client creates them (its alloc dir hook); drivers only use them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskDirs {
    /// The allocation's root directory.
    pub alloc_root: PathBuf,
    /// `<alloc root>/alloc`, shared by all tasks of the allocation.
    pub alloc_dir: PathBuf,
    /// `<alloc root>/alloc/logs`.
    pub log_dir: PathBuf,
    /// `<alloc root>/<task>`: the working directory of the task's process.
    pub task_dir: PathBuf,
    /// `<alloc root>/<task>/local`.
    pub local_dir: PathBuf,
    /// `<alloc root>/<task>/secrets`.
    pub secrets_dir: PathBuf,
}

impl TaskDirs {
    /// The layout for `task` under `alloc_root`.
    pub fn new(alloc_root: impl Into<PathBuf>, task: &str) -> Self {
        let alloc_root = alloc_root.into();
        let alloc_dir = alloc_root.join("alloc");
        let task_dir = alloc_root.join(task);
        Self {
            log_dir: alloc_dir.join("logs"),
            local_dir: task_dir.join("local"),
            secrets_dir: task_dir.join("secrets"),
            alloc_dir,
            task_dir,
            alloc_root,
        }
    }

    /// Creates every directory of the layout (idempotent).
    pub fn create_all(&self) -> io::Result<()> {
        for dir in [&self.log_dir, &self.local_dir, &self.secrets_dir] {
            std::fs::create_dir_all(dir)?;
        }
        Ok(())
    }

    /// The allocation root.
    pub fn root(&self) -> &Path {
        &self.alloc_root
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_matches_nomad() {
        let d = TaskDirs::new("/a", "web");
        assert_eq!(d.alloc_dir, Path::new("/a/alloc"));
        assert_eq!(d.log_dir, Path::new("/a/alloc/logs"));
        assert_eq!(d.task_dir, Path::new("/a/web"));
        assert_eq!(d.local_dir, Path::new("/a/web/local"));
        assert_eq!(d.secrets_dir, Path::new("/a/web/secrets"));
    }
}
