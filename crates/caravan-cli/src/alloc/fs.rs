//! `caravan alloc fs ID [PATH]`: list a directory of an allocation (`Mode  Size
//! Modified Time  Name`) or print a file, through `/v1/client/fs/{stat,ls,cat}`.

use std::io::Read;
use std::process::ExitCode;

use anyhow::Context;
use serde_json::Value;

use crate::client::with_param;
use crate::fields::{Fields, enc};
use crate::prefix::{Kind, resolve};
use crate::table::Table;
use crate::timefmt::reformat_rfc3339;
use crate::ui::Ctx;
use crate::units;

#[derive(Debug, clap::Args)]
pub(crate) struct FsArgs {
    /// Sizes in KiB/MiB rather than bytes.
    #[arg(short = 'H')]
    human: bool,
    /// Show the file's or directory's own entry instead of its contents.
    #[arg(long)]
    stat: bool,
    /// Print the agent's JSON for a directory or -stat.
    #[arg(long)]
    json: bool,
    /// The allocation's id, or a unique prefix of it.
    #[arg(value_name = "ID")]
    id: String,
    /// A path inside the allocation directory (default: its root).
    #[arg(value_name = "PATH", default_value = "/")]
    path: String,
}

impl FsArgs {
    pub(crate) fn run(self, ctx: &mut Ctx<'_>) -> anyhow::Result<ExitCode> {
        let client = ctx.client()?;
        let id = resolve(&client, Kind::Alloc, &self.id)?;
        let what = || format!("reading {:?} in allocation {id:?}", self.path);
        let query = |op: &str| {
            with_param(
                &format!("/v1/client/fs/{op}/{}", enc(&id)),
                "path",
                &self.path,
            )
        };
        let stat = client.get(&query("stat")).with_context(what)?;
        if self.stat {
            if self.json {
                ctx.ui.out(serde_json::to_string_pretty(&stat)?);
            } else {
                ctx.ui
                    .outs(file_table(std::slice::from_ref(&stat), self.human));
            }
            return Ok(ExitCode::SUCCESS);
        }
        if stat.bool_at("IsDir") {
            let entries = client.get(&query("ls")).with_context(what)?;
            if self.json {
                ctx.ui.out(serde_json::to_string_pretty(&entries)?);
            } else {
                ctx.ui.outs(file_table(
                    entries.as_array().map(Vec::as_slice).unwrap_or_default(),
                    self.human,
                ));
            }
            return Ok(ExitCode::SUCCESS);
        }
        let mut resp = client
            .stream(&query("cat"), Some(std::time::Duration::from_secs(60)))
            .with_context(what)?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = resp.body.read(&mut buf).with_context(what)?;
            if n == 0 || ctx.ui.raw(&buf[..n]).is_err() {
                break;
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// `Mode  Size  Modified Time  Name`; directories first, then by name, with a `/` after
/// directory names.
pub(crate) fn file_table(entries: &[Value], human: bool) -> Vec<String> {
    let mut sorted: Vec<&Value> = entries.iter().collect();
    sorted.sort_by(|a, b| {
        b.bool_at("IsDir")
            .cmp(&a.bool_at("IsDir"))
            .then_with(|| a.str_at("Name").cmp(b.str_at("Name")))
    });
    let mut t = Table::new(&["Mode", "Size", "Modified Time", "Name"]);
    for e in sorted {
        let size = e.u64_at("Size");
        let name = if e.bool_at("IsDir") {
            format!("{}/", e.str_at("Name"))
        } else {
            e.str_at("Name").to_owned()
        };
        t.row([
            e.str_at("FileMode").to_owned(),
            if human {
                units::bytes(size)
            } else {
                size.to_string()
            },
            reformat_rfc3339(e.get("ModTime").and_then(Value::as_str)),
            name,
        ]);
    }
    t.lines()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn directory_listing() {
        let entries = [
            json!({"Name": "redis.stdout.0", "IsDir": false, "Size": 5120, "FileMode": "-rw-r--r--", "ModTime": "2024-05-01T10:00:00.25+00:00"}),
            json!({"Name": "alloc", "IsDir": true, "Size": 4096, "FileMode": "drwxrwxrwx", "ModTime": "2024-05-01T09:00:00Z"}),
        ];
        assert_eq!(
            file_table(&entries, false),
            [
                "Mode        Size  Modified Time         Name",
                "drwxrwxrwx  4096  2024-05-01T09:00:00Z  alloc/",
                "-rw-r--r--  5120  2024-05-01T10:00:00Z  redis.stdout.0",
            ]
        );
        assert!(file_table(&entries, true)[2].contains("5.0 KiB"));
    }
}
