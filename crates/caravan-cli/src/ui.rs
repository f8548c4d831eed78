//! Where a command's output goes, and what every command that talks to an agent needs:
//! the global API flags and the means to build a [`Client`].

use std::io::{self, Write};

use crate::client::{Address, Client, resolve_address};

/// Flags every command accepts (Nomad's `-address`, `-namespace`, `-region`, `-token`).
#[derive(Debug, Clone, Default, clap::Args)]
pub(crate) struct ApiArgs {
    /// The agent's HTTP API address [default: $CARAVAN_ADDR, $NOMAD_ADDR, http://127.0.0.1:4646].
    #[arg(long, global = true, value_name = "ADDR")]
    pub address: Option<String>,
    /// The namespace to work in [default: $CARAVAN_NAMESPACE, $NOMAD_NAMESPACE, "default"].
    #[arg(long, global = true, value_name = "NS")]
    pub namespace: Option<String>,
    /// The region to send requests to [default: $NOMAD_REGION, the agent's].
    #[arg(long, global = true, value_name = "REGION")]
    pub region: Option<String>,
    /// An ACL token [default: $CARAVAN_TOKEN, $NOMAD_TOKEN].
    #[arg(long, global = true, value_name = "TOKEN")]
    pub token: Option<String>,
}

/// The output streams of one command run.
pub(crate) struct Ui<'a> {
    out: &'a mut dyn Write,
    err: &'a mut dyn Write,
}

impl std::fmt::Debug for Ui<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ui")
    }
}

impl<'a> Ui<'a> {
    pub(crate) fn new(out: &'a mut dyn Write, err: &'a mut dyn Write) -> Self {
        Self { out, err }
    }

    /// One line to standard output. A closed pipe is not an error worth reporting.
    pub(crate) fn out(&mut self, line: impl AsRef<str>) {
        let _ = writeln!(self.out, "{}", line.as_ref());
    }

    /// Several lines to standard output.
    pub(crate) fn outs<I, S>(&mut self, lines: I)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        for line in lines {
            self.out(line);
        }
    }

    /// One line to standard error.
    pub(crate) fn err(&mut self, line: impl AsRef<str>) {
        let _ = writeln!(self.err, "{}", line.as_ref());
    }

    /// Raw bytes to standard output, flushed (log and file contents); fails on a closed pipe
    /// so that a follow loop can stop.
    pub(crate) fn raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.out.flush()
    }

    pub(crate) fn flush(&mut self) {
        let _ = self.out.flush();
        let _ = self.err.flush();
    }
}

/// What a command gets: output streams and the API flags.
#[derive(Debug)]
pub(crate) struct Ctx<'a> {
    pub ui: Ui<'a>,
    pub api: ApiArgs,
}

impl Ctx<'_> {
    /// A client for the agent the flags and environment point at.
    pub(crate) fn client(&self) -> anyhow::Result<Client> {
        let env = |k: &str| std::env::var(k).ok();
        let first_env =
            |names: &[&str]| names.iter().find_map(|n| env(n).filter(|v| !v.is_empty()));
        let url = resolve_address(self.api.address.as_deref(), env);
        let addr = Address::parse(&url)?;
        let token = self
            .api
            .token
            .clone()
            .or_else(|| first_env(&["CARAVAN_TOKEN", "NOMAD_TOKEN"]));
        let namespace = self
            .api
            .namespace
            .clone()
            .or_else(|| first_env(&["CARAVAN_NAMESPACE", "NOMAD_NAMESPACE"]));
        let region = self
            .api
            .region
            .clone()
            .or_else(|| first_env(&["CARAVAN_REGION", "NOMAD_REGION"]));
        Ok(Client::new(addr, token, namespace, region))
    }
}
