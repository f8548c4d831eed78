//! The allocation directory on the host:
//!
//! ```text
//! <data_dir>/alloc/<alloc_id>/
//!   alloc/{data,logs,tmp}          shared by every task of the group (NOMAD_ALLOC_DIR)
//!   <task>/{local,secrets,tmp}     per task (NOMAD_TASK_DIR, NOMAD_SECRETS_DIR 0700)
//! ```
//!
//! Building is idempotent (a restarted agent builds again over what exists), and
//! `destroy` removes the whole tree.

use std::fs;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use caravan_model::AllocId;

/// Names that would escape the allocation directory or collide with the shared dir.
#[derive(Debug, thiserror::Error)]
pub enum AllocDirError {
    #[error("invalid {what} {name:?} for a directory name")]
    InvalidName { what: &'static str, name: String },
    #[error("allocation directory {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// The paths of one task inside the allocation directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskDir {
    /// `<alloc_dir>/<task>`.
    pub dir: PathBuf,
    /// `<alloc_dir>/<task>/local`: NOMAD_TASK_DIR.
    pub local: PathBuf,
    /// `<alloc_dir>/<task>/secrets`: NOMAD_SECRETS_DIR, mode 0700.
    pub secrets: PathBuf,
    /// `<alloc_dir>/<task>/tmp`.
    pub tmp: PathBuf,
}

/// An allocation's directory tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AllocDir {
    root: PathBuf,
}

impl AllocDir {
    /// The directory of `alloc_id` under `data_dir` (nothing is created yet).
    pub fn new(data_dir: &Path, alloc_id: &AllocId) -> Result<Self, AllocDirError> {
        check_name("allocation id", alloc_id.as_str())?;
        Ok(Self {
            root: data_dir.join("alloc").join(alloc_id.as_str()),
        })
    }

    /// `<data_dir>/alloc/<alloc_id>`.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// `<alloc_dir>/alloc`: NOMAD_ALLOC_DIR, shared by the group's tasks.
    pub fn shared_dir(&self) -> PathBuf {
        self.root.join("alloc")
    }

    /// `<alloc_dir>/alloc/logs`: where drivers write `<task>.stdout.N`.
    pub fn logs_dir(&self) -> PathBuf {
        self.shared_dir().join("logs")
    }

    pub fn task_dir(&self, task: &str) -> TaskDir {
        let dir = self.root.join(task);
        TaskDir {
            local: dir.join("local"),
            secrets: dir.join("secrets"),
            tmp: dir.join("tmp"),
            dir,
        }
    }

    /// Creates the shared directories and each task's; safe to call again.
    pub fn build<'t>(&self, tasks: impl IntoIterator<Item = &'t str>) -> Result<(), AllocDirError> {
        let tasks: Vec<&str> = tasks.into_iter().collect();
        for task in &tasks {
            check_name("task name", task)?;
            if *task == "alloc" {
                return Err(AllocDirError::InvalidName {
                    what: "task name",
                    name: (*task).to_owned(),
                });
            }
        }
        let shared = self.shared_dir();
        for sub in ["data", "logs", "tmp"] {
            create(&shared.join(sub))?;
        }
        for task in tasks {
            let dirs = self.task_dir(task);
            create(&dirs.local)?;
            create(&dirs.tmp)?;
            create(&dirs.secrets)?;
            fs::set_permissions(&dirs.secrets, fs::Permissions::from_mode(0o700)).map_err(
                |source| AllocDirError::Io {
                    path: dirs.secrets.clone(),
                    source,
                },
            )?;
        }
        Ok(())
    }

    /// Removes the whole tree; a tree already gone is not an error.
    pub fn destroy(&self) -> Result<(), AllocDirError> {
        match fs::remove_dir_all(&self.root) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(AllocDirError::Io {
                path: self.root.clone(),
                source: e,
            }),
            _ => Ok(()),
        }
    }
}

fn create(path: &Path) -> Result<(), AllocDirError> {
    fs::create_dir_all(path).map_err(|source| AllocDirError::Io {
        path: path.to_owned(),
        source,
    })
}

fn check_name(what: &'static str, name: &str) -> Result<(), AllocDirError> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
        return Err(AllocDirError::InvalidName {
            what,
            name: name.to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).expect("exists").permissions().mode() & 0o777
    }

    #[test]
    fn builds_the_layout_idempotently_and_destroys_it() {
        let data = tempfile::tempdir().expect("temp dir");
        let dir = AllocDir::new(data.path(), &AllocId::new("a1")).expect("valid id");
        assert_eq!(dir.path(), data.path().join("alloc/a1"));

        dir.build(["redis", "app"]).expect("build");
        for p in [
            "alloc/data",
            "alloc/logs",
            "alloc/tmp",
            "redis/local",
            "redis/secrets",
            "redis/tmp",
            "app/local",
        ] {
            assert!(dir.path().join(p).is_dir(), "{p}");
        }
        assert_eq!(mode(&dir.task_dir("app").secrets), 0o700);

        // A file written by a task survives a second build: the agent restarted.
        fs::write(dir.task_dir("app").local.join("state"), "x").expect("write");
        dir.build(["redis", "app"]).expect("second build");
        assert!(dir.task_dir("app").local.join("state").is_file());

        dir.destroy().expect("destroy");
        assert!(!dir.path().exists());
        dir.destroy().expect("destroying twice is fine");
    }

    #[test]
    fn refuses_names_that_escape_or_collide() {
        let data = tempfile::tempdir().expect("temp dir");
        assert!(AllocDir::new(data.path(), &AllocId::new("../x")).is_err());
        assert!(AllocDir::new(data.path(), &AllocId::new("")).is_err());
        let dir = AllocDir::new(data.path(), &AllocId::new("a2")).expect("valid id");
        for bad in ["..", "a/b", "alloc", ""] {
            assert!(dir.build([bad]).is_err(), "{bad:?}");
        }
        assert!(
            !dir.path().exists(),
            "nothing is created when a name is bad"
        );
    }
}
