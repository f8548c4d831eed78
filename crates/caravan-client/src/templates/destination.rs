//! Where a template's file goes: a path inside the task directory or the
//! allocation's shared directory (`../alloc/`), read as the job validation reads it
//! (`${NOMAD_TASK_DIR}` is `local`, `${NOMAD_SECRETS_DIR}` `secrets`,
//! `${NOMAD_ALLOC_DIR}` `../alloc`; an absolute path is what a containerized task
//! sees, so `/local`, `/secrets` and `/alloc` are inside and anything else is out).
//! `..` may not climb out, nor may a symbolic link lead out. Files are written
//! atomically (a temporary file in the same directory, then a rename) with the
//! template's permissions.

use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use super::error::TemplateError;

/// A file a template writes, inside its task directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    path: PathBuf,
}

impl Destination {
    /// `relative` (the job's `destination`, or `source`) for task `task_dir` (whose
    /// parent is the allocation directory); `what` names it in the error.
    pub fn resolve(
        task_dir: &Path,
        relative: &str,
        what: &'static str,
    ) -> Result<Self, TemplateError> {
        let escapes = || TemplateError::Escapes {
            what,
            path: relative.to_owned(),
        };
        let alloc_dir = task_dir.parent().ok_or_else(escapes)?;
        let task = task_dir.file_name().ok_or_else(escapes)?;
        let path = relative
            .replace("${NOMAD_TASK_DIR}", "local")
            .replace("${NOMAD_SECRETS_DIR}", "secrets")
            .replace("${NOMAD_ALLOC_DIR}", "../alloc");
        let path = match path.strip_prefix('/') {
            None => path,
            Some(absolute) => match absolute.split('/').next() {
                Some("local" | "secrets") => absolute.to_owned(),
                Some("alloc") => format!("../{absolute}"),
                _ => return Err(escapes()),
            },
        };
        // From the allocation directory, starting in the task's.
        let mut parts: Vec<&std::ffi::OsStr> = vec![task];
        for part in Path::new(&path).components() {
            match part {
                Component::Normal(p) => parts.push(p),
                Component::ParentDir => {
                    if parts.pop().is_none() {
                        return Err(escapes());
                    }
                }
                Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
            }
        }
        let shared = std::ffi::OsStr::new("alloc");
        let allowed = match parts.first() {
            Some(first) if *first == task => task_dir.to_path_buf(),
            Some(first) if *first == shared => alloc_dir.join(shared),
            _ => return Err(escapes()),
        };
        if parts.len() < 2 {
            // The directory itself is no file.
            return Err(escapes());
        }
        let path: PathBuf = std::iter::once(alloc_dir.as_os_str())
            .chain(parts.iter().copied())
            .collect();
        // A symbolic link on the way may point anywhere: what exists of the path
        // must still be inside once resolved.
        if let Ok(root) = allowed.canonicalize() {
            let mut existing = path.as_path();
            while !existing.exists() {
                match existing.parent() {
                    Some(parent) => existing = parent,
                    None => break,
                }
            }
            if let Ok(real) = existing.canonicalize()
                && !real.starts_with(&root)
            {
                return Err(escapes());
            }
        }
        Ok(Self { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `text` with `mode`, atomically: readers see the old file or the new
    /// one, never a part.
    pub fn write(&self, text: &str, mode: u32) -> Result<(), TemplateError> {
        let failed = |source| TemplateError::Write {
            path: self.path.clone(),
            source,
        };
        let dir = self.path.parent().unwrap_or(Path::new("/"));
        fs::create_dir_all(dir).map_err(failed)?;
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
        let written = (|| {
            let mut file = fs::File::create(&tmp)?;
            file.write_all(text.as_bytes())?;
            file.set_permissions(fs::Permissions::from_mode(mode))?;
            file.sync_all()?;
            fs::rename(&tmp, &self.path)
        })();
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written.map_err(failed)
    }
}

/// Reads `perms` ("0644", "600"): an octal mode.
pub fn parse_perms(perms: &str) -> Result<u32, TemplateError> {
    let digits = perms.trim();
    let digits = digits.strip_prefix("0o").unwrap_or(digits);
    u32::from_str_radix(digits, 8)
        .ok()
        .filter(|m| *m <= 0o7777 && !digits.is_empty())
        .ok_or_else(|| TemplateError::Perms(perms.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_task_dir_or_the_shared_alloc_dir() {
        let dir = tempfile::tempdir().expect("tempdir");
        let alloc = dir.path();
        let task = alloc.join("web");
        let ok = |rel: &str| {
            Destination::resolve(&task, rel, "destination")
                .map(|d| d.path().to_path_buf())
                .map_err(|e| e.to_string())
        };
        assert_eq!(ok("local/app.env"), Ok(task.join("local/app.env")));
        assert_eq!(ok("./secrets/x"), Ok(task.join("secrets/x")));
        assert_eq!(ok("x"), Ok(task.join("x")));
        assert_eq!(ok("/local/x"), Ok(task.join("local/x")));
        assert_eq!(ok("local/../secrets/x"), Ok(task.join("secrets/x")));
        assert_eq!(ok("${NOMAD_SECRETS_DIR}/x"), Ok(task.join("secrets/x")));
        assert_eq!(ok("../alloc/data/x"), Ok(alloc.join("alloc/data/x")));
        assert_eq!(ok("/alloc/x"), Ok(alloc.join("alloc/x")));
        assert_eq!(ok("${NOMAD_ALLOC_DIR}/x"), Ok(alloc.join("alloc/x")));
        assert_eq!(
            ok("../../etc/x"),
            Err("destination escapes the task directory (\"../../etc/x\")".to_owned())
        );
        for out in [
            "..",
            "",
            "local/..",
            "../sibling/x",
            "/etc/passwd",
            "../alloc",
        ] {
            assert!(ok(out).is_err(), "{out:?}");
        }
    }

    #[test]
    fn a_symlink_out_is_an_escape() {
        let dir = tempfile::tempdir().expect("tempdir");
        let task = dir.path().join("web");
        fs::create_dir_all(&task).expect("task dir");
        let outside = tempfile::tempdir().expect("tempdir");
        std::os::unix::fs::symlink(outside.path(), task.join("local")).expect("symlink");
        assert!(Destination::resolve(&task, "local/x", "destination").is_err());
    }

    #[test]
    fn writes_atomically_with_the_mode() {
        let dir = tempfile::tempdir().expect("tempdir");
        let task = dir.path().join("web");
        let dest =
            Destination::resolve(&task, "secrets/deep/app.env", "destination").expect("inside");
        dest.write("A=1\n", 0o600).expect("written");
        dest.write("A=2\n", 0o640).expect("rewritten");
        assert_eq!(fs::read_to_string(dest.path()).expect("read"), "A=2\n");
        let mode = fs::metadata(dest.path())
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o7777, 0o640);
        let names: Vec<_> = fs::read_dir(dest.path().parent().expect("parent"))
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names.len(), 1, "no temporary file left: {names:?}");
    }

    #[test]
    fn perms_are_octal() {
        assert_eq!(parse_perms("0644").ok(), Some(0o644));
        assert_eq!(parse_perms("600").ok(), Some(0o600));
        assert!(parse_perms("0999").is_err());
        assert!(parse_perms("rw").is_err());
        assert!(parse_perms("").is_err());
    }
}
