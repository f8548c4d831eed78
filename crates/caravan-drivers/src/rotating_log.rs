//! A log file that rotates by size: `<base>.0`, `<base>.1`, ...; the highest index is
//! written, and only the newest `max_files` are kept.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// The rotated files of `base` that exist, oldest (lowest index) first.
pub fn log_files(base: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let (Some(dir), Some(prefix)) = (base.parent(), base.file_name()) else {
        return Ok(Vec::new());
    };
    let prefix = format!("{}.", prefix.to_string_lossy());
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name();
        let index = name
            .to_str()
            .and_then(|n| n.strip_prefix(&prefix))
            .filter(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|rest| rest.parse::<u64>().ok());
        if let Some(index) = index {
            files.push((index, entry.path()));
        }
    }
    files.sort();
    Ok(files)
}

/// The writing end of one stream's log files. Writes go straight to the file (no
/// buffer), so a reader sees a line as soon as it is written.
#[derive(Debug)]
pub struct RotatingLog {
    base: PathBuf,
    max_files: u64,
    max_bytes: u64,
    index: u64,
    size: u64,
    file: File,
}

impl RotatingLog {
    /// Opens the newest existing file of `base` for appending (a restarted task goes
    /// on where it left off), or `<base>.0`.
    pub fn open(base: &Path, max_files: u32, max_bytes: u64) -> io::Result<Self> {
        let index = log_files(base)?.last().map_or(0, |(i, _)| *i);
        let path = Self::path_of(base, index);
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let size = file.metadata()?.len();
        let log = Self {
            base: base.to_path_buf(),
            max_files: u64::from(max_files.max(1)),
            max_bytes: max_bytes.max(1),
            index,
            size,
            file,
        };
        log.purge()?;
        Ok(log)
    }

    /// The file being written now.
    pub fn current_path(&self) -> PathBuf {
        Self::path_of(&self.base, self.index)
    }

    /// Appends `buf`, filling the current file up to the limit and continuing in new
    /// files as needed.
    pub fn write(&mut self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            if self.size >= self.max_bytes {
                self.rotate()?;
            }
            let room = self.max_bytes - self.size;
            let n = usize::try_from(room).map_or(buf.len(), |room| room.min(buf.len()));
            self.file.write_all(&buf[..n])?;
            self.size += n as u64;
            buf = &buf[n..];
        }
        Ok(())
    }

    /// Sets the current file's modification time, e.g. to the time the source
    /// stamped the last line written, so that the time can be read back after a
    /// restart.
    pub fn set_modified(&self, time: SystemTime) -> io::Result<()> {
        self.file.set_modified(time)
    }

    fn rotate(&mut self) -> io::Result<()> {
        let next = self.index + 1;
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(Self::path_of(&self.base, next))?;
        self.index = next;
        self.size = 0;
        self.purge()
    }

    /// Deletes the files older than the newest `max_files`.
    fn purge(&self) -> io::Result<()> {
        let oldest_kept = (self.index + 1).saturating_sub(self.max_files);
        for (index, path) in log_files(&self.base)? {
            if index < oldest_kept {
                match std::fs::remove_file(&path) {
                    Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                    _ => {}
                }
            }
        }
        Ok(())
    }

    fn path_of(base: &Path, index: u64) -> PathBuf {
        let mut name = base.as_os_str().to_owned();
        name.push(format!(".{index}"));
        PathBuf::from(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TempRoot;

    fn sizes(base: &Path) -> Vec<(u64, u64)> {
        log_files(base)
            .expect("list logs")
            .into_iter()
            .map(|(i, p)| (i, std::fs::metadata(p).expect("stat").len()))
            .collect()
    }

    #[test]
    fn rotates_exactly_at_the_size_limit() {
        let root = TempRoot::new("rotate-size");
        let base = root.path().join("t.stdout");
        let mut log = RotatingLog::open(&base, 10, 10).expect("open");
        log.write(b"12345678").expect("write");
        assert_eq!(sizes(&base), vec![(0, 8)]);
        // This write fills .0 to 10 bytes and spills the rest into .1 and .2.
        log.write(b"abcdefghijklmnop").expect("write");
        assert_eq!(sizes(&base), vec![(0, 10), (1, 10), (2, 4)]);
        let all: Vec<u8> = log_files(&base)
            .expect("list")
            .into_iter()
            .flat_map(|(_, p)| std::fs::read(p).expect("read"))
            .collect();
        assert_eq!(all, b"12345678abcdefghijklmnop");
        assert_eq!(log.current_path(), root.path().join("t.stdout.2"));
    }

    #[test]
    fn keeps_only_the_newest_max_files() {
        let root = TempRoot::new("rotate-keep");
        let base = root.path().join("t.stderr");
        let mut log = RotatingLog::open(&base, 3, 4).expect("open");
        for _ in 0..6 {
            log.write(b"xxxx").expect("write");
        }
        // 24 bytes in files of 4: .0 to .5 were written; .3, .4, .5 remain.
        assert_eq!(sizes(&base), vec![(3, 4), (4, 4), (5, 4)]);
        log.write(b"y").expect("write");
        assert_eq!(sizes(&base), vec![(4, 4), (5, 4), (6, 1)]);
    }

    #[test]
    fn reopening_appends_to_the_newest_file_and_ignores_strangers() {
        let root = TempRoot::new("rotate-reopen");
        let base = root.path().join("t.stdout");
        {
            let mut log = RotatingLog::open(&base, 5, 6).expect("open");
            log.write(b"aaaaaabb").expect("write");
        }
        std::fs::write(root.path().join("t.stdout.old"), b"not ours").expect("write");
        std::fs::write(root.path().join("t.stdoutx.9"), b"not ours").expect("write");
        let mut log = RotatingLog::open(&base, 5, 6).expect("reopen");
        log.write(b"cc").expect("write");
        assert_eq!(sizes(&base), vec![(0, 6), (1, 4)]);
        assert_eq!(
            std::fs::read(root.path().join("t.stdout.1")).expect("read"),
            b"bbcc"
        );
    }

    #[test]
    fn reopening_with_fewer_files_allowed_purges_at_once() {
        let root = TempRoot::new("rotate-shrink");
        let base = root.path().join("t.stdout");
        {
            let mut log = RotatingLog::open(&base, 10, 1).expect("open");
            log.write(b"abcde").expect("write");
        }
        let _log = RotatingLog::open(&base, 2, 1).expect("reopen");
        assert_eq!(sizes(&base), vec![(3, 1), (4, 1)]);
    }
}
