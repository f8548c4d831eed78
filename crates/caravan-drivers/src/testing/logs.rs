//! Reading a task's rotated logs back, for assertions.

use std::path::Path;
use std::time::Duration;

use crate::log_files;

/// Everything still kept of a stream's logs, oldest file first.
pub fn read_log(base: &Path) -> String {
    let files = log_files(base).unwrap_or_default();
    files
        .into_iter()
        .filter_map(|(_, path)| std::fs::read(path).ok())
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
        .collect()
}

/// Polls the logs of `base` until they contain `needle`; panics after `timeout`.
pub async fn wait_for_log(base: &Path, needle: &str, timeout: Duration) {
    let found = tokio::time::timeout(timeout, async {
        loop {
            if read_log(base).contains(needle) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(
        found.is_ok(),
        "{needle:?} did not appear in {} within {timeout:?}; it holds {:?}",
        base.display(),
        read_log(base)
    );
}
