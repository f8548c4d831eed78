//! Kernel parameters, through /proc/sys (of the calling thread's network namespace).

use std::fs;
use std::path::PathBuf;

use crate::NetError;

/// Sets `/proc/sys/<key>` to `value` unless it already is.
pub(crate) fn set(key: &str, value: &str) -> Result<(), NetError> {
    let path = PathBuf::from("/proc/sys").join(key);
    let current = fs::read_to_string(&path).map_err(|e| NetError::io("read", &path, e))?;
    if current.trim() == value {
        return Ok(());
    }
    fs::write(&path, value).map_err(|e| NetError::io("write", &path, e))
}
