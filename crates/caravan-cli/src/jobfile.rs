//! Reading a job file and its variables from the command line.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use caravan_jobspec::{ParseOptions, SourceFile};

/// The flags every command that reads a job file takes.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct JobFileArgs {
    /// A variable for the job file, as NAME=VALUE (repeatable; overrides -var-file and NOMAD_VAR_*).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    vars: Vec<String>,
    /// A file of variable values in HCL (repeatable).
    #[arg(long = "var-file", value_name = "FILE")]
    var_files: Vec<PathBuf>,
    /// The job file (HCL2 or JSON); `-` reads standard input.
    #[arg(value_name = "FILE")]
    pub(crate) file: String,
}

impl JobFileArgs {
    /// Reads the job file, the var files and the environment.
    pub(crate) fn load(&self) -> anyhow::Result<(SourceFile, ParseOptions)> {
        let source = if self.file == "-" {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("reading the job from standard input")?;
            SourceFile {
                name: "<stdin>".into(),
                text,
            }
        } else {
            read_source(Path::new(&self.file))?
        };
        let mut vars = Vec::with_capacity(self.vars.len());
        for var in &self.vars {
            let Some((name, value)) = var.split_once('=') else {
                bail!("-var {var:?} must be NAME=VALUE");
            };
            vars.push((name.trim().to_owned(), value.to_owned()));
        }
        let var_files = self
            .var_files
            .iter()
            .map(|p| read_source(p))
            .collect::<Result<_, _>>()?;
        let base_dir = match self.file.as_str() {
            "-" => std::env::current_dir().ok(),
            file => Path::new(file).parent().map(Path::to_path_buf),
        };
        let env: BTreeMap<String, String> = std::env::vars()
            .filter(|(k, _)| k.starts_with("NOMAD_VAR_"))
            .collect();
        let opts = ParseOptions {
            vars,
            var_files,
            env,
            allow_fs: true,
            base_dir,
        };
        Ok((source, opts))
    }
}

fn read_source(path: &Path) -> anyhow::Result<SourceFile> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(SourceFile {
        name: path.display().to_string(),
        text,
    })
}
