//! `caravan alloc logs [-f] [-stderr] [-tail] [-n N] ID [TASK]`: a task's output through
//! `/v1/client/fs/logs/:alloc`, decoded from the framed stream (or passed through when
//! the agent answers in plain text), followed until interrupted with `-f`.

use std::io::Read;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, anyhow};

use super::{alloc_tasks, choose_task};
use crate::client::{Client, with_param};
use crate::fields::enc;
use crate::logframe::{Frame, FrameDecoder};
use crate::prefix::{Kind, resolve};
use crate::ui::{Ctx, Ui};

/// Lines shown by `-tail` without `-n`.
const DEFAULT_TAIL_LINES: usize = 10;
/// Bytes fetched from the end per line wanted, before cutting to whole lines.
const BYTES_PER_LINE: u64 = 512;
const READ_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, clap::Args)]
pub(crate) struct LogsArgs {
    /// Show standard error instead of standard output.
    #[arg(long)]
    stderr: bool,
    /// Show standard output (the default).
    #[arg(long, conflicts_with = "stderr")]
    stdout: bool,
    /// Keep printing as the task writes, until interrupted.
    #[arg(short = 'f')]
    follow: bool,
    /// Start at the end of the log rather than the beginning.
    #[arg(long)]
    tail: bool,
    /// How many lines to show from the end (implies -tail).
    #[arg(short = 'n', value_name = "LINES")]
    lines: Option<usize>,
    /// The task (same as the TASK argument).
    #[arg(long = "task", value_name = "TASK")]
    task_flag: Option<String>,
    /// The allocation's id, or a unique prefix of it.
    #[arg(value_name = "ID")]
    id: String,
    /// The task; may be left out when the group has one task.
    #[arg(value_name = "TASK")]
    task: Option<String>,
}

impl LogsArgs {
    pub(crate) fn run(self, ctx: &mut Ctx<'_>) -> anyhow::Result<ExitCode> {
        let client = ctx.client()?;
        let id = resolve(&client, Kind::Alloc, &self.id)?;
        let alloc = client
            .get(&format!("/v1/allocation/{}", enc(&id)))
            .with_context(|| format!("reading allocation {id:?}"))?;
        let asked = self.task.as_deref().or(self.task_flag.as_deref());
        let task = choose_task(&id, &alloc_tasks(&alloc), asked, "view logs for")
            .map_err(|e| anyhow!(e))
            .context("choosing the task")?;
        let kind = if self.stderr { "stderr" } else { "stdout" };
        let base = with_param(&format!("/v1/client/fs/logs/{}", enc(&id)), "task", &task);
        let base = with_param(&base, "type", kind);
        let what = || format!("reading the {kind} of task {task:?}");

        let tail_lines = match (self.tail, self.lines) {
            (_, Some(n)) => Some(n),
            (true, None) => Some(DEFAULT_TAIL_LINES),
            (false, None) => None,
        };
        if let Some(n) = tail_lines {
            let offset = (n as u64)
                .saturating_mul(BYTES_PER_LINE)
                .max(BYTES_PER_LINE * 8);
            let path = with_param(
                &with_param(&with_param(&base, "follow", "false"), "origin", "end"),
                "offset",
                &offset.to_string(),
            );
            let mut bytes = Vec::new();
            pump(&client, &path, Some(READ_TIMEOUT), &mut |chunk| {
                bytes.extend_from_slice(chunk);
                Ok(())
            })
            .with_context(what)?;
            let _ = ctx.ui.raw(last_lines(&bytes, n));
            if !self.follow {
                return Ok(ExitCode::SUCCESS);
            }
            // Go on from the end of what was printed.
            let path = with_param(
                &with_param(&with_param(&base, "follow", "true"), "origin", "end"),
                "offset",
                "0",
            );
            follow(&client, &path, &mut ctx.ui).with_context(what)?;
            return Ok(ExitCode::SUCCESS);
        }
        let path = with_param(&with_param(&base, "origin", "start"), "offset", "0");
        if self.follow {
            follow(&client, &with_param(&path, "follow", "true"), &mut ctx.ui)
                .with_context(what)?;
        } else {
            let ui = &mut ctx.ui;
            pump(
                &client,
                &with_param(&path, "follow", "false"),
                Some(READ_TIMEOUT),
                &mut |chunk| ui.raw(chunk),
            )
            .with_context(what)?;
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn follow(client: &Client, path: &str, ui: &mut Ui<'_>) -> anyhow::Result<()> {
    // No read timeout: the agent sends heartbeats, and the user ends it with Ctrl-C.
    pump(client, path, None, &mut |chunk| ui.raw(chunk))
}

/// Streams the log body, handing decoded bytes to `sink` as they arrive. A sink error
/// (the reader went away) ends the stream quietly.
fn pump(
    client: &Client,
    path: &str,
    timeout: Option<Duration>,
    sink: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
) -> anyhow::Result<()> {
    let mut resp = client.stream(path, timeout)?;
    let mut decoder = LogDecoder::default();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = resp.body.read(&mut buf).context("reading the log stream")?;
        if n == 0 {
            break;
        }
        for piece in decoder.push(&buf[..n]).map_err(|e| anyhow!(e))? {
            if sink(&piece).is_err() {
                return Ok(());
            }
        }
    }
    decoder.finish().map_err(|e| anyhow!(e))
}

/// Framed JSON or plain text, decided by the first byte that is not white space.
#[derive(Debug, Default)]
pub(crate) struct LogDecoder {
    framed: Option<bool>,
    /// White space seen before the kind of stream is known.
    undecided: Vec<u8>,
    frames: FrameDecoder,
}

impl LogDecoder {
    /// The log bytes carried by `bytes`.
    pub(crate) fn push(&mut self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, String> {
        let mut bytes = bytes.to_vec();
        if self.framed.is_none() {
            match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
                Some(b) => self.framed = Some(*b == b'{'),
                None => {
                    self.undecided.extend_from_slice(&bytes);
                    return Ok(Vec::new());
                }
            }
            let mut all = std::mem::take(&mut self.undecided);
            all.append(&mut bytes);
            bytes = all;
        }
        if self.framed == Some(false) {
            return Ok(vec![bytes]);
        }
        Ok(self
            .frames
            .push(&bytes)?
            .into_iter()
            .filter_map(|f| match f {
                Frame::Data { data, .. } if !data.is_empty() => Some(data),
                _ => None,
            })
            .collect())
    }

    pub(crate) fn finish(&self) -> Result<(), String> {
        if self.framed == Some(true) {
            self.frames.finish()
        } else {
            Ok(())
        }
    }
}

/// The last `n` lines of `data` (a final line without a newline counts as a line).
pub(crate) fn last_lines(data: &[u8], n: usize) -> &[u8] {
    if n == 0 {
        return &data[data.len()..];
    }
    let body = data.strip_suffix(b"\n").unwrap_or(data);
    let mut seen = 0;
    for (i, b) in body.iter().enumerate().rev() {
        if *b == b'\n' {
            seen += 1;
            if seen == n {
                return &data[i + 1..];
            }
        }
    }
    data
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_lines() {
        assert_eq!(last_lines(b"a\nb\nc\n", 2), b"b\nc\n");
        assert_eq!(last_lines(b"a\nb\nc", 2), b"b\nc");
        assert_eq!(last_lines(b"a\nb\n", 5), b"a\nb\n");
        assert_eq!(last_lines(b"a\nb\n", 0), b"");
        assert_eq!(last_lines(b"", 3), b"");
    }

    #[test]
    fn framed_and_plain_streams() {
        let mut framed = LogDecoder::default();
        let out = framed
            .push(br#"  {"File":"x","Offset":0,"Data":"aGk="}{}"#)
            .expect("framed");
        assert_eq!(out, [b"hi".to_vec()]);
        framed.finish().expect("complete");
        let mut plain = LogDecoder::default();
        assert!(plain.push(b"  ").expect("undecided").is_empty());
        assert_eq!(
            plain.push(b"plain text\n").expect("plain"),
            [b"  plain text\n".to_vec()]
        );
        plain.finish().expect("plain ends anywhere");
    }
}
