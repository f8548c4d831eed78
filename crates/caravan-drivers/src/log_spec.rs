//! Where a task's output goes and how much of it is kept.

use std::path::{Path, PathBuf};

use caravan_model::LogConfig;

/// Nomad's default `logs { max_files }`.
pub const DEFAULT_MAX_FILES: u32 = 10;
/// Nomad's default `logs { max_file_size }`, in MB.
pub const DEFAULT_MAX_FILE_SIZE_MB: u64 = 10;
/// One MB as Nomad counts it for `max_file_size`.
pub const MB: u64 = 1024 * 1024;

/// The log files of one task: `<base>.0`, `<base>.1`, ... for stdout and for stderr,
/// each rotated at `max_file_size_mb`, keeping the newest `max_files`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSpec {
    /// `<alloc root>/alloc/logs/<task>.stdout`; files get `.0`, `.1`, ... appended.
    pub stdout_base: PathBuf,
    /// `<alloc root>/alloc/logs/<task>.stderr`.
    pub stderr_base: PathBuf,
    /// How many files of each stream to keep (at least 1).
    pub max_files: u32,
    /// The size at which a file is rotated, in MB (at least 1).
    pub max_file_size_mb: u64,
    /// `logs { disabled = true }`: output is discarded.
    pub disabled: bool,
}

impl LogSpec {
    /// The log files of `task` in `log_dir`, with the job's `logs` block if any.
    pub fn new(log_dir: &Path, task: &str, config: Option<&LogConfig>) -> Self {
        let positive = |v: Option<i64>| v.and_then(|v| u64::try_from(v).ok()).filter(|v| *v > 0);
        let max_files = config
            .and_then(|c| positive(c.max_files))
            .map_or(DEFAULT_MAX_FILES, |v| u32::try_from(v).unwrap_or(u32::MAX));
        let max_file_size_mb = config
            .and_then(|c| positive(c.max_file_size_mb))
            .unwrap_or(DEFAULT_MAX_FILE_SIZE_MB);
        Self {
            stdout_base: log_dir.join(format!("{task}.stdout")),
            stderr_base: log_dir.join(format!("{task}.stderr")),
            max_files,
            max_file_size_mb,
            disabled: config.and_then(|c| c.disabled).unwrap_or(false),
        }
    }

    /// The rotation size in bytes.
    pub fn max_file_bytes(&self) -> u64 {
        self.max_file_size_mb.max(1).saturating_mul(MB)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_nomads() {
        let s = LogSpec::new(Path::new("/a/alloc/logs"), "web", None);
        assert_eq!(s.stdout_base, Path::new("/a/alloc/logs/web.stdout"));
        assert_eq!(s.stderr_base, Path::new("/a/alloc/logs/web.stderr"));
        assert_eq!((s.max_files, s.max_file_size_mb), (10, 10));
        assert!(!s.disabled);
    }

    #[test]
    fn config_overrides_and_nonsense_falls_back() {
        let c = LogConfig {
            max_files: Some(3),
            max_file_size_mb: Some(-1),
            disabled: Some(true),
        };
        let s = LogSpec::new(Path::new("/l"), "t", Some(&c));
        assert_eq!((s.max_files, s.max_file_size_mb, s.disabled), (3, 10, true));
    }
}
