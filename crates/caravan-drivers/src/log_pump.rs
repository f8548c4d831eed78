//! Copies a task's output pipe into its rotating log files.

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::RotatingLog;

/// Reads `pipe` until every writer has closed it, writing each chunk to `log` at once.
///
/// A failing write loses that chunk but reading goes on: a full disk must not block
/// the task on a full pipe.
pub async fn pump_log(mut pipe: impl AsyncRead + Unpin, mut log: RotatingLog) {
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) => return,
            Ok(n) => {
                // Writing to a local file does not block for long; a blocking-pool
                // hop per chunk would cost more than it saves.
                let _lost = log.write(&buf[..n]);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}
