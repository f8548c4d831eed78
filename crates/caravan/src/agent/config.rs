//! The agent configuration file (`caravan agent -config FILE`).
//!
//! HCL shaped like Nomad's agent configuration (a `.json` file, or text starting with
//! `{`, is read as HCL's JSON syntax). Decoding is strict, like job files: an unknown
//! block or attribute, a wrong type or a bad value is an error at its file:line:col,
//! and every error of a file is reported, not only the first. Values are literals: no
//! variables, functions or interpolation.
//!
//! Several files (several `-config` flags, or a directory's `*.hcl` and `*.json` in
//! name order) combine with [`AgentConfig::merge`]: a later file wins for every value
//! it sets.
#![allow(dead_code)] // Not wired into `agent` yet.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::ops::{Range, RangeInclusive};
use std::path::{Path, PathBuf};
use std::time::Duration;

use caravan_jobspec::Diagnostic;
use caravan_net::Ipv4Subnet;
use hcl::edit::expr::{Expression, ObjectKey, UnaryOperator};
use hcl::edit::structure::{Body, Structure};
use hcl::edit::template::{Element, Template};

/// The port `retry_join` and `client.servers` entries use when they name none.
pub const DEFAULT_RPC_PORT: u16 = 4647;
/// The port of `dns.recursors` entries that name none.
pub const DEFAULT_DNS_PORT: u16 = 53;

/// One agent configuration file, or several merged. `None` and empty collections mean
/// "not set here": the agent's flags and defaults apply.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AgentConfig {
    /// The node's name.
    pub name: Option<String>,
    pub datacenter: Option<String>,
    pub region: Option<String>,
    /// Resolved against the file's directory when relative.
    pub data_dir: Option<PathBuf>,
    /// Where every listener binds unless `addresses` says otherwise.
    pub bind_addr: Option<IpAddr>,
    pub log_level: Option<tracing::Level>,
    /// What other agents are told to reach: host or host:port, checked by [`parse_host_port`].
    pub advertise: Addrs,
    /// Bind overrides per listener: IP addresses.
    pub addresses: Addrs,
    pub ports: Ports,
    pub server: ServerBlock,
    pub client: ClientBlock,
    pub tls: TlsBlock,
    pub dns: DnsBlock,
}

/// One address per listener (`advertise {}` and `addresses {}`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Addrs {
    pub http: Option<String>,
    pub rpc: Option<String>,
    pub serf: Option<String>,
}

/// A listener that may be turned off (`-1` in the file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PortSetting {
    Off,
    /// 0 means any free port.
    Port(u16),
}

/// `ports {}`. 0 means any free port.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ports {
    pub http: Option<u16>,
    pub rpc: Option<u16>,
    pub serf: Option<u16>,
    /// Consul's HTTP API (our extension).
    pub consul: Option<PortSetting>,
    /// The DNS interface (our extension).
    pub dns: Option<PortSetting>,
}

/// `server {}`, with `server_join {}` flattened into it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerBlock {
    pub enabled: Option<bool>,
    pub bootstrap_expect: Option<u32>,
    pub num_schedulers: Option<usize>,
    pub heartbeat_grace: Option<Duration>,
    pub min_heartbeat_ttl: Option<Duration>,
    /// host, host:port or [ipv6]:port entries, as written; [`parse_host_port`] accepts each.
    pub retry_join: Vec<String>,
    pub retry_interval: Option<Duration>,
    /// 0 means retry forever.
    pub retry_max: Option<u32>,
}

/// `client {}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientBlock {
    pub enabled: Option<bool>,
    /// host[:port] entries, as written; [`parse_host_port`] accepts each.
    pub servers: Vec<String>,
    pub node_class: Option<String>,
    pub meta: BTreeMap<String, String>,
    pub reserved: Reserved,
    /// In the order written; names are unique.
    pub host_networks: Vec<HostNetwork>,
    pub network_interface: Option<String>,
    pub bridge_network_name: Option<String>,
    pub bridge_network_subnet: Option<Ipv4Subnet>,
    pub options: BTreeMap<String, String>,
}

/// `client { reserved {} }`: what the node keeps for itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reserved {
    /// MHz.
    pub cpu: Option<u64>,
    /// MB.
    pub memory: Option<u64>,
    /// MB.
    pub disk: Option<u64>,
    /// Nomad's port list, e.g. `22,80,8000-8100`; checked by [`parse_port_ranges`].
    pub reserved_ports: Option<String>,
}

/// `client { host_network "name" {} }`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostNetwork {
    pub name: String,
    pub cidr: Option<String>,
    pub interface: Option<String>,
    pub reserved_ports: Option<String>,
}

/// `tls {}`. Paths are resolved against the file's directory when relative.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsBlock {
    pub http: Option<bool>,
    pub rpc: Option<bool>,
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub verify_server_hostname: Option<bool>,
    pub verify_https_client: Option<bool>,
}

/// `dns {}` (our extension): the Consul-style DNS interface.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsBlock {
    /// host[:port] entries (port 53 by default), as written.
    pub recursors: Vec<String>,
    pub service_ttl: Option<Duration>,
    pub node_ttl: Option<Duration>,
    pub allow_stale: Option<bool>,
    pub only_passing: Option<bool>,
    pub domain: Option<String>,
}

/// Every problem found in one or more configuration files, in file and source order.
/// A problem without a position (a file that cannot be read) has line 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub diagnostics: Vec<Diagnostic>,
}

impl ConfigError {
    fn without_position(path: &Path, message: impl Into<String>) -> Self {
        Self {
            diagnostics: vec![Diagnostic::without_position(
                path.display().to_string(),
                message,
            )],
        }
    }

    /// One `file:line:col: message` line per problem, without the excerpts.
    pub fn lines(&self) -> Vec<String> {
        self.diagnostics.iter().map(headline).collect()
    }
}

fn headline(d: &Diagnostic) -> String {
    if d.line == 0 {
        format!("{}: {}", d.file, d.message)
    } else {
        format!("{}:{}:{}: {}", d.file, d.line, d.col, d.message)
    }
}

impl fmt::Display for ConfigError {
    /// `file:line:col: message`, then the line with a caret under the problem.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}", headline(d))?;
            if d.line == 0 {
                continue;
            }
            let number = d.line.to_string();
            let pad = " ".repeat(number.len());
            // Keep tabs so that the caret lines up under tab-indented source.
            let indent: String = d
                .source_line
                .chars()
                .take(d.col.saturating_sub(1))
                .map(|c| if c == '\t' { '\t' } else { ' ' })
                .collect();
            write!(
                f,
                "\n{number} | {}\n{pad} | {indent}{}",
                d.source_line,
                "^".repeat(d.width.max(1))
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

impl AgentConfig {
    /// Parses one file: HCL, or HCL's JSON syntax for a `.json` file (or text that
    /// starts with `{`). `path` names the file in errors, and relative paths in `tls {}`
    /// and `data_dir` are resolved against its directory.
    pub fn parse(path: &Path, text: &str) -> Result<AgentConfig, ConfigError> {
        let src = Source::new(path.display().to_string(), text);
        let json = path.extension().is_some_and(|e| e == "json") || looks_like_json(text);
        let entries = read_tree(&src, json).map_err(|d| ConfigError {
            diagnostics: vec![d],
        })?;
        let mut decoder = Decoder {
            src: &src,
            base_dir: path.parent().unwrap_or(Path::new("")),
            diags: Vec::new(),
        };
        let mut config = AgentConfig::default();
        decoder.top(&entries, &mut config);
        if decoder.diags.is_empty() {
            return Ok(config);
        }
        let mut diagnostics = decoder.diags;
        diagnostics.sort_by_key(|d| (d.line, d.col));
        diagnostics.dedup();
        Err(ConfigError { diagnostics })
    }

    /// Reads and parses a file, or a directory's `*.hcl` and `*.json` files (not hidden
    /// ones) in name order, merged. The errors of every file are reported together.
    pub fn load(path: &Path) -> Result<AgentConfig, ConfigError> {
        let meta = std::fs::metadata(path)
            .map_err(|e| ConfigError::without_position(path, format!("cannot read: {e}")))?;
        if !meta.is_dir() {
            return load_file(path);
        }
        let entries = std::fs::read_dir(path).map_err(|e| {
            ConfigError::without_position(path, format!("cannot list the directory: {e}"))
        })?;
        let mut files = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| {
                ConfigError::without_position(path, format!("cannot list the directory: {e}"))
            })?;
            let file = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            let wanted = !name.starts_with('.')
                && (name.ends_with(".hcl") || name.ends_with(".json"))
                && file.is_file();
            if wanted {
                files.push(file);
            }
        }
        files.sort();
        Self::load_all(&files)
    }

    /// Loads several files or directories (repeated `-config` flags) and merges them in
    /// order. The errors of every file are reported together.
    pub fn load_all(paths: &[PathBuf]) -> Result<AgentConfig, ConfigError> {
        let mut merged = AgentConfig::default();
        let mut diagnostics = Vec::new();
        for path in paths {
            match Self::load(path) {
                Ok(config) => merged = merged.merge(config),
                Err(e) => diagnostics.extend(e.diagnostics),
            }
        }
        if diagnostics.is_empty() {
            Ok(merged)
        } else {
            Err(ConfigError { diagnostics })
        }
    }

    /// `other` (a later file) wins for every value it sets. Maps merge key by key;
    /// lists it sets replace ours, except `server.retry_join` and `client.servers`,
    /// which append without duplicates. Host networks merge by name; `reserved {}`
    /// merges field by field.
    #[must_use]
    pub fn merge(self, other: AgentConfig) -> AgentConfig {
        AgentConfig {
            name: other.name.or(self.name),
            datacenter: other.datacenter.or(self.datacenter),
            region: other.region.or(self.region),
            data_dir: other.data_dir.or(self.data_dir),
            bind_addr: other.bind_addr.or(self.bind_addr),
            log_level: other.log_level.or(self.log_level),
            advertise: self.advertise.merge(other.advertise),
            addresses: self.addresses.merge(other.addresses),
            ports: self.ports.merge(other.ports),
            server: self.server.merge(other.server),
            client: self.client.merge(other.client),
            tls: self.tls.merge(other.tls),
            dns: self.dns.merge(other.dns),
        }
    }

    /// Settings that are allowed but probably not meant, for the agent to log once all
    /// files are merged (a later file may supply what an earlier one lacks).
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        let server = self.server.enabled == Some(true);
        if !server && self.server.bootstrap_expect.is_some() {
            warnings.push(
                "server.bootstrap_expect is set but the server is not enabled (server.enabled = true)"
                    .to_owned(),
            );
        }
        if !server && !self.server.retry_join.is_empty() {
            warnings.push(
                "server.server_join.retry_join is set but the server is not enabled".to_owned(),
            );
        }
        if self.client.enabled != Some(true) && !self.client.servers.is_empty() {
            warnings.push("client.servers is set but the client is not enabled".to_owned());
        }
        warnings
    }
}

fn load_file(path: &Path) -> Result<AgentConfig, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError::without_position(path, format!("cannot read: {e}")))?;
    AgentConfig::parse(path, &text)
}

impl Addrs {
    fn merge(self, other: Addrs) -> Addrs {
        Addrs {
            http: other.http.or(self.http),
            rpc: other.rpc.or(self.rpc),
            serf: other.serf.or(self.serf),
        }
    }
}

impl Ports {
    fn merge(self, other: Ports) -> Ports {
        Ports {
            http: other.http.or(self.http),
            rpc: other.rpc.or(self.rpc),
            serf: other.serf.or(self.serf),
            consul: other.consul.or(self.consul),
            dns: other.dns.or(self.dns),
        }
    }
}

impl ServerBlock {
    fn merge(self, other: ServerBlock) -> ServerBlock {
        ServerBlock {
            enabled: other.enabled.or(self.enabled),
            bootstrap_expect: other.bootstrap_expect.or(self.bootstrap_expect),
            num_schedulers: other.num_schedulers.or(self.num_schedulers),
            heartbeat_grace: other.heartbeat_grace.or(self.heartbeat_grace),
            min_heartbeat_ttl: other.min_heartbeat_ttl.or(self.min_heartbeat_ttl),
            retry_join: append_unique(self.retry_join, other.retry_join),
            retry_interval: other.retry_interval.or(self.retry_interval),
            retry_max: other.retry_max.or(self.retry_max),
        }
    }
}

impl ClientBlock {
    fn merge(self, other: ClientBlock) -> ClientBlock {
        let mut host_networks = self.host_networks;
        for network in other.host_networks {
            match host_networks.iter_mut().find(|n| n.name == network.name) {
                Some(ours) => *ours = network,
                None => host_networks.push(network),
            }
        }
        ClientBlock {
            enabled: other.enabled.or(self.enabled),
            servers: append_unique(self.servers, other.servers),
            node_class: other.node_class.or(self.node_class),
            meta: merge_maps(self.meta, other.meta),
            reserved: Reserved {
                cpu: other.reserved.cpu.or(self.reserved.cpu),
                memory: other.reserved.memory.or(self.reserved.memory),
                disk: other.reserved.disk.or(self.reserved.disk),
                reserved_ports: other
                    .reserved
                    .reserved_ports
                    .or(self.reserved.reserved_ports),
            },
            host_networks,
            network_interface: other.network_interface.or(self.network_interface),
            bridge_network_name: other.bridge_network_name.or(self.bridge_network_name),
            bridge_network_subnet: other.bridge_network_subnet.or(self.bridge_network_subnet),
            options: merge_maps(self.options, other.options),
        }
    }
}

impl TlsBlock {
    fn merge(self, other: TlsBlock) -> TlsBlock {
        TlsBlock {
            http: other.http.or(self.http),
            rpc: other.rpc.or(self.rpc),
            ca_file: other.ca_file.or(self.ca_file),
            cert_file: other.cert_file.or(self.cert_file),
            key_file: other.key_file.or(self.key_file),
            verify_server_hostname: other.verify_server_hostname.or(self.verify_server_hostname),
            verify_https_client: other.verify_https_client.or(self.verify_https_client),
        }
    }
}

impl DnsBlock {
    fn merge(self, other: DnsBlock) -> DnsBlock {
        DnsBlock {
            recursors: replace_unless_empty(self.recursors, other.recursors),
            service_ttl: other.service_ttl.or(self.service_ttl),
            node_ttl: other.node_ttl.or(self.node_ttl),
            allow_stale: other.allow_stale.or(self.allow_stale),
            only_passing: other.only_passing.or(self.only_passing),
            domain: other.domain.or(self.domain),
        }
    }
}

fn append_unique(mut ours: Vec<String>, theirs: Vec<String>) -> Vec<String> {
    for item in theirs {
        if !ours.contains(&item) {
            ours.push(item);
        }
    }
    ours
}

fn replace_unless_empty(ours: Vec<String>, theirs: Vec<String>) -> Vec<String> {
    if theirs.is_empty() { ours } else { theirs }
}

fn merge_maps(
    mut ours: BTreeMap<String, String>,
    theirs: BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    ours.extend(theirs);
    ours
}

/// Splits `host`, `host:port`, `[ipv6]:port`, `[ipv6]` or a bare IPv6 address into a
/// host and a port (`default_port` when none is written).
pub fn parse_host_port(s: &str, default_port: u16) -> Result<(String, u16), String> {
    if s.is_empty() {
        return Err("empty address".to_owned());
    }
    let (host, port) = if let Some(rest) = s.strip_prefix('[') {
        let Some((host, after)) = rest.split_once(']') else {
            return Err(format!("{s:?}: missing `]` after the IPv6 address"));
        };
        if host.parse::<Ipv6Addr>().is_err() {
            return Err(format!("{s:?}: {host:?} is not an IPv6 address"));
        }
        match after {
            "" => (host, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (host, Some(port)),
                None => return Err(format!("{s:?}: expected `:port` after `]`")),
            },
        }
    } else if s.matches(':').count() > 1 {
        if s.parse::<Ipv6Addr>().is_err() {
            return Err(format!(
                "{s:?} is not an address; an IPv6 address with a port is written [::1]:4647"
            ));
        }
        (s, None)
    } else {
        match s.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (s, None),
        }
    };
    let valid_host = !host.is_empty()
        && (host.parse::<IpAddr>().is_ok()
            || host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')));
    if !valid_host {
        return Err(format!("{s:?}: {host:?} is not a host name or IP address"));
    }
    let port = match port {
        None => default_port,
        Some(p) => match p.parse::<u16>() {
            Ok(port) if port != 0 => port,
            _ => return Err(format!("{s:?}: {p:?} is not a port (1-65535)")),
        },
    };
    Ok((host.to_owned(), port))
}

/// Parses Nomad's port list (`22,80,8000-8100`; spaces allowed, empty for none).
pub fn parse_port_ranges(spec: &str) -> Result<Vec<RangeInclusive<u16>>, String> {
    let mut ranges = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || format!("{part:?} is not a port or a range of ports (low-high)");
        let (low, high) = match part.split_once('-') {
            Some((low, high)) => (low.trim(), high.trim()),
            None => (part, part),
        };
        let low: u16 = low.parse().map_err(|_| bad())?;
        let high: u16 = high.parse().map_err(|_| bad())?;
        if low > high || low == 0 {
            return Err(bad());
        }
        ranges.push(low..=high);
    }
    Ok(ranges)
}

fn check_cidr(s: &str) -> Result<(), String> {
    let bad = || format!("{s:?} is not a CIDR such as 10.0.0.0/24");
    let (addr, len) = s.split_once('/').ok_or_else(bad)?;
    let addr: IpAddr = addr.parse().map_err(|_| bad())?;
    let len: u8 = len.parse().map_err(|_| bad())?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    if len > max {
        return Err(bad());
    }
    Ok(())
}

fn parse_level(s: &str) -> Option<tracing::Level> {
    match s.to_ascii_lowercase().as_str() {
        "trace" => Some(tracing::Level::TRACE),
        "debug" => Some(tracing::Level::DEBUG),
        "info" => Some(tracing::Level::INFO),
        "warn" => Some(tracing::Level::WARN),
        "error" => Some(tracing::Level::ERROR),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------
// Source positions.

type Span = Range<usize>;

/// A file's text with its line starts, to turn byte offsets into line:column.
struct Source<'a> {
    name: String,
    text: &'a str,
    line_starts: Vec<usize>,
}

impl<'a> Source<'a> {
    fn new(name: String, text: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(
            text.bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        Self {
            name,
            text,
            line_starts,
        }
    }

    /// The 1-based line and column (in characters) of a byte offset.
    fn position(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line_starts.partition_point(|&s| s <= offset).max(1);
        let start = self.line_starts[line - 1];
        let col = self
            .text
            .get(start..offset)
            .map_or(0, |s| s.chars().count())
            + 1;
        (line, col)
    }

    fn line_text(&self, line: usize) -> &'a str {
        let Some(&start) = self.line_starts.get(line.wrapping_sub(1)) else {
            return "";
        };
        let end = self
            .line_starts
            .get(line)
            .copied()
            .unwrap_or(self.text.len());
        self.text
            .get(start..end)
            .unwrap_or("")
            .trim_end_matches(['\n', '\r'])
    }

    fn diagnostic(&self, span: &Span, message: String) -> Diagnostic {
        let (line, col) = self.position(span.start);
        let source_line = self.line_text(line).to_owned();
        let end = if span.end > span.start {
            match self.position(span.end) {
                (end_line, end_col) if end_line == line => end_col,
                _ => source_line.chars().count() + 1,
            }
        } else {
            col + 1
        };
        Diagnostic {
            file: self.name.clone(),
            line,
            col,
            message,
            source_line,
            width: end.saturating_sub(col).max(1),
            notes: Vec::new(),
        }
    }
}

// ---------------------------------------------------------------------------------
// One tree for both syntaxes: HCL blocks and attributes, and JSON objects, become
// entries; the decoder below reads entries against the schema.

#[derive(Debug)]
struct Node {
    span: Span,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    List(Vec<Node>),
    Map(Vec<Entry>),
    /// Anything that would need evaluating: a variable, a function call, an interpolation.
    Unsupported,
}

#[derive(Debug)]
struct Entry {
    key: String,
    key_span: Span,
    /// Block labels (HCL only: in JSON a label is one more object level).
    labels: Vec<(String, Span)>,
    /// Written as an HCL block rather than an attribute.
    block: bool,
    value: Node,
}

fn looks_like_json(text: &str) -> bool {
    text.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
        .starts_with('{')
}

fn read_tree(src: &Source<'_>, json: bool) -> Result<Vec<Entry>, Diagnostic> {
    // A byte-order mark becomes three spaces, so that byte offsets stay the same.
    let blanked;
    let text = match src.text.strip_prefix('\u{feff}') {
        Some(rest) => {
            blanked = format!("   {rest}");
            blanked.as_str()
        }
        None => src.text,
    };
    if !json {
        let body = hcl::edit::parser::parse_body(text).map_err(|e| {
            let offset = e.location().offset();
            src.diagnostic(&(offset..offset), format!("syntax error: {}", e.message()))
        })?;
        return Ok(from_body(&body));
    }
    // serde_json first, for JSON's own syntax errors; then HCL's expression parser, which
    // reads JSON as an HCL object and keeps byte spans.
    if let Err(e) = serde_json::from_str::<serde_json::Value>(text) {
        let full = e.to_string();
        let message = full.split(" at line ").next().unwrap_or(&full);
        let line = e.line().max(1);
        let offset = src.line_starts.get(line - 1).copied().unwrap_or(0) + e.column().max(1) - 1;
        return Err(src.diagnostic(&(offset..offset), format!("JSON syntax error: {message}")));
    }
    let expr = hcl::edit::parser::parse_expr(text).map_err(|e| {
        let offset = e.location().offset();
        src.diagnostic(
            &(offset..offset),
            format!("unsupported JSON: {}", e.message()),
        )
    })?;
    let node = from_expr(&expr);
    match node.kind {
        Kind::Map(entries) => Ok(entries),
        _ => Err(src.diagnostic(
            &node.span,
            "a JSON configuration must be an object".to_owned(),
        )),
    }
}

fn span_of(x: &impl hcl::edit::Span) -> Span {
    x.span().unwrap_or(0..0)
}

fn from_body(body: &Body) -> Vec<Entry> {
    body.iter()
        .map(|structure| match structure {
            Structure::Attribute(attr) => Entry {
                key: attr.key.as_str().to_owned(),
                key_span: span_of(&attr.key),
                labels: Vec::new(),
                block: false,
                value: from_expr(&attr.value),
            },
            Structure::Block(block) => Entry {
                key: block.ident.as_str().to_owned(),
                key_span: span_of(&block.ident),
                labels: block
                    .labels
                    .iter()
                    .map(|l| (l.as_str().to_owned(), span_of(l)))
                    .collect(),
                block: true,
                value: Node {
                    span: span_of(block),
                    kind: Kind::Map(from_body(&block.body)),
                },
            },
        })
        .collect()
}

fn literal_text(template: &Template) -> Option<String> {
    let mut text = String::new();
    for element in template.iter() {
        match element {
            Element::Literal(literal) => text.push_str(literal),
            _ => return None,
        }
    }
    Some(text)
}

fn from_expr(expr: &Expression) -> Node {
    let span = span_of(expr);
    let kind = match expr {
        Expression::Null(_) => Kind::Null,
        Expression::Bool(b) => Kind::Bool(*b.value()),
        Expression::Number(n) => {
            let n = n.value();
            match n.as_i64() {
                Some(i) => Kind::Int(i),
                None => Kind::Float(n.as_f64().unwrap_or(f64::NAN)),
            }
        }
        Expression::String(s) => Kind::Str(s.value().clone()),
        Expression::Array(items) => Kind::List(items.iter().map(from_expr).collect()),
        Expression::Object(object) => Kind::Map(
            object
                .iter()
                .map(|(key, value)| {
                    let (key, key_span) = match key {
                        ObjectKey::Ident(ident) => (ident.as_str().to_owned(), span_of(ident)),
                        ObjectKey::Expression(e) => match from_expr(e) {
                            Node {
                                kind: Kind::Str(s),
                                span,
                            } => (s, span),
                            other => (e.to_string(), other.span),
                        },
                    };
                    Entry {
                        key,
                        key_span,
                        labels: Vec::new(),
                        block: false,
                        value: from_expr(value.expr()),
                    }
                })
                .collect(),
        ),
        Expression::StringTemplate(t) => literal_text(t).map_or(Kind::Unsupported, Kind::Str),
        Expression::HeredocTemplate(h) => {
            literal_text(&h.template).map_or(Kind::Unsupported, Kind::Str)
        }
        Expression::Parenthesis(p) => from_expr(p.inner()).kind,
        Expression::UnaryOp(op) if matches!(op.operator.value(), UnaryOperator::Neg) => {
            match from_expr(&op.expr).kind {
                Kind::Int(i) => Kind::Int(-i),
                Kind::Float(f) => Kind::Float(-f),
                _ => Kind::Unsupported,
            }
        }
        _ => Kind::Unsupported,
    };
    Node { span, kind }
}

fn describe(kind: &Kind) -> String {
    match kind {
        Kind::Null => "null".to_owned(),
        Kind::Bool(b) => format!("bool {b}"),
        Kind::Int(i) => format!("number {i}"),
        Kind::Float(f) => format!("number {f}"),
        Kind::Str(s) => format!("string {s:?}"),
        Kind::List(_) => "a list".to_owned(),
        Kind::Map(_) => "a block".to_owned(),
        Kind::Unsupported => {
            "an expression (the agent configuration takes literal values only)".to_owned()
        }
    }
}

// ---------------------------------------------------------------------------------
// The schema.

/// "Did you mean ...?": the known name closest to `name`, if within a third of its length.
fn closest<'k>(name: &str, known: &[&'k str]) -> Option<&'k str> {
    fn distance(a: &str, b: &str) -> usize {
        let b: Vec<char> = b.chars().collect();
        let mut previous: Vec<usize> = (0..=b.len()).collect();
        for (i, ca) in a.chars().enumerate() {
            let mut current = vec![i + 1; b.len() + 1];
            for (j, &cb) in b.iter().enumerate() {
                let cost = usize::from(ca != cb);
                current[j + 1] = (previous[j] + cost)
                    .min(previous[j + 1] + 1)
                    .min(current[j] + 1);
            }
            previous = current;
        }
        previous[b.len()]
    }
    let lower = name.to_lowercase();
    let limit = (name.chars().count() / 3).max(1);
    known
        .iter()
        .map(|&k| (distance(&lower, k), k))
        .filter(|&(d, _)| d <= limit)
        .min_by_key(|&(d, _)| d)
        .map(|(_, k)| k)
}

/// The largest value of a `u32` field.
const U32_MAX: i64 = u32::MAX as i64;

const TOP: &[&str] = &[
    "name",
    "datacenter",
    "region",
    "data_dir",
    "bind_addr",
    "log_level",
    "advertise",
    "addresses",
    "ports",
    "server",
    "client",
    "tls",
    "dns",
];
const ADDRS: &[&str] = &["http", "rpc", "serf"];
const PORTS: &[&str] = &["http", "rpc", "serf", "consul", "dns"];
const SERVER: &[&str] = &[
    "enabled",
    "bootstrap_expect",
    "num_schedulers",
    "heartbeat_grace",
    "min_heartbeat_ttl",
    "server_join",
    "retry_join",
    "retry_interval",
    "retry_max",
];
const SERVER_JOIN: &[&str] = &["retry_join", "retry_interval", "retry_max"];
const CLIENT: &[&str] = &[
    "enabled",
    "servers",
    "node_class",
    "meta",
    "reserved",
    "host_network",
    "network_interface",
    "bridge_network_name",
    "bridge_network_subnet",
    "options",
];
const RESERVED: &[&str] = &["cpu", "memory", "disk", "reserved_ports"];
const HOST_NETWORK: &[&str] = &["cidr", "interface", "reserved_ports"];
const TLS: &[&str] = &[
    "http",
    "rpc",
    "ca_file",
    "cert_file",
    "key_file",
    "verify_server_hostname",
    "verify_https_client",
];
const DNS: &[&str] = &[
    "recursors",
    "service_ttl",
    "node_ttl",
    "allow_stale",
    "only_passing",
    "domain",
];

/// Sets `slot` when `value` is `Some`: a repeated block adds to what came before.
fn set<T>(slot: &mut Option<T>, value: Option<T>) {
    if value.is_some() {
        *slot = value;
    }
}

/// `path.key`, or `key` at the top level.
fn qualify(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

struct Decoder<'a> {
    src: &'a Source<'a>,
    base_dir: &'a Path,
    diags: Vec<Diagnostic>,
}

impl Decoder<'_> {
    fn error(&mut self, span: &Span, message: String) {
        self.diags.push(self.src.diagnostic(span, message));
    }

    fn expected(&mut self, node: &Node, name: &str, what: &str) {
        let found = describe(&node.kind);
        self.error(
            &node.span,
            format!("{name}: expected {what}, found {found}"),
        );
    }

    /// The entries whose keys the schema knows, without nulls (a null is "not set");
    /// reports unknown keys. (A repeated attribute is already a syntax error in HCL, and
    /// the last one wins in JSON.)
    fn known<'e>(&mut self, entries: &'e [Entry], path: &str, known: &[&str]) -> Vec<&'e Entry> {
        let mut out = Vec::new();
        for entry in entries {
            if !known.contains(&entry.key.as_str()) {
                let what = if entry.block { "block" } else { "attribute" };
                let mut message = format!("unknown {what} {:?}", entry.key);
                if !path.is_empty() {
                    message.push_str(&format!(" in {path}"));
                }
                if let Some(suggestion) = closest(&entry.key, known) {
                    message.push_str(&format!("; did you mean {suggestion:?}?"));
                }
                self.error(&entry.key_span, message);
                continue;
            }
            if !matches!(entry.value.kind, Kind::Null) {
                out.push(entry);
            }
        }
        out
    }

    fn string(&mut self, entry: &Entry, name: &str) -> Option<String> {
        match &entry.value.kind {
            Kind::Str(s) if s.is_empty() => {
                self.error(&entry.value.span, format!("{name}: must not be empty"));
                None
            }
            Kind::Str(s) => Some(s.clone()),
            _ => {
                self.expected(&entry.value, name, "a string");
                None
            }
        }
    }

    /// A string checked by `check`, whose error follows `name: `.
    fn checked(
        &mut self,
        entry: &Entry,
        name: &str,
        check: impl FnOnce(&str) -> Result<(), String>,
    ) -> Option<String> {
        let s = self.string(entry, name)?;
        match check(&s) {
            Ok(()) => Some(s),
            Err(e) => {
                self.error(&entry.value.span, format!("{name}: {e}"));
                None
            }
        }
    }

    fn path(&mut self, entry: &Entry, name: &str) -> Option<PathBuf> {
        self.string(entry, name).map(|p| self.base_dir.join(p))
    }

    fn boolean(&mut self, entry: &Entry, name: &str) -> Option<bool> {
        match entry.value.kind {
            Kind::Bool(b) => Some(b),
            _ => {
                self.expected(&entry.value, name, "true or false");
                None
            }
        }
    }

    fn integer(&mut self, entry: &Entry, name: &str, min: i64, max: i64) -> Option<i64> {
        match entry.value.kind {
            Kind::Int(i) if (min..=max).contains(&i) => Some(i),
            Kind::Int(i) => {
                self.error(
                    &entry.value.span,
                    format!("{name}: {i} is out of range ({min} to {max})"),
                );
                None
            }
            _ => {
                self.expected(&entry.value, name, "a whole number");
                None
            }
        }
    }

    /// A whole number in `min..=max`, as the field's type.
    fn whole<T: TryFrom<i64>>(
        &mut self,
        entry: &Entry,
        name: &str,
        min: i64,
        max: i64,
    ) -> Option<T> {
        self.integer(entry, name, min, max)
            .and_then(|i| T::try_from(i).ok())
    }

    fn port(&mut self, entry: &Entry, name: &str) -> Option<u16> {
        self.integer(entry, name, 0, i64::from(u16::MAX))
            .and_then(|i| u16::try_from(i).ok())
    }

    fn port_setting(&mut self, entry: &Entry, name: &str) -> Option<PortSetting> {
        match self.integer(entry, name, -1, i64::from(u16::MAX))? {
            -1 => Some(PortSetting::Off),
            i => u16::try_from(i).ok().map(PortSetting::Port),
        }
    }

    fn duration(&mut self, entry: &Entry, name: &str) -> Option<Duration> {
        let Kind::Str(s) = &entry.value.kind else {
            self.expected(&entry.value, name, "a duration such as \"5s\"");
            return None;
        };
        match caravan_model::Duration::parse(s) {
            Ok(d) if d.0 < 0 => {
                self.error(
                    &entry.value.span,
                    format!("{name}: {s:?} is negative; a duration here must not be"),
                );
                None
            }
            Ok(d) => Some(d.to_std()),
            Err(e) => {
                self.error(
                    &entry.value.span,
                    format!("{name}: invalid duration {s:?}: {e}"),
                );
                None
            }
        }
    }

    /// A list of strings, each checked by `check`.
    fn strings(
        &mut self,
        entry: &Entry,
        name: &str,
        check: impl Fn(&str) -> Result<(), String>,
    ) -> Option<Vec<String>> {
        let Kind::List(items) = &entry.value.kind else {
            self.expected(&entry.value, name, "a list of strings");
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        for (i, item) in items.iter().enumerate() {
            let item_name = format!("{name}[{i}]");
            match &item.kind {
                Kind::Str(s) => match check(s) {
                    Ok(()) => out.push(s.clone()),
                    Err(e) => {
                        self.error(&item.span, format!("{item_name}: {e}"));
                        ok = false;
                    }
                },
                _ => {
                    self.expected(item, &item_name, "a string");
                    ok = false;
                }
            }
        }
        ok.then_some(out)
    }

    /// `key = { k = "v" }` or `key { k = "v" }`; numbers and bools become text.
    fn string_map(&mut self, entry: &Entry, name: &str) -> Option<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        for body in self.bodies(entry, name) {
            for item in body {
                let item_name = format!("{name}.{}", item.key);
                let text = match &item.value.kind {
                    Kind::Null => continue,
                    Kind::Str(s) => s.clone(),
                    Kind::Int(i) => i.to_string(),
                    Kind::Float(f) => f.to_string(),
                    Kind::Bool(b) => b.to_string(),
                    _ => {
                        self.expected(&item.value, &item_name, "a string");
                        continue;
                    }
                };
                out.insert(item.key.clone(), text);
            }
        }
        Some(out)
    }

    /// The bodies of an unlabelled block: `name { }` or `name = { }` in HCL; an object
    /// or a list of objects in JSON.
    fn bodies<'e>(&mut self, entry: &'e Entry, name: &str) -> Vec<&'e [Entry]> {
        if let Some((_, span)) = entry.labels.first() {
            self.error(span, format!("{name}: this block takes no labels"));
            return Vec::new();
        }
        self.bodies_of(&entry.value, name)
    }

    fn bodies_of<'e>(&mut self, node: &'e Node, name: &str) -> Vec<&'e [Entry]> {
        match &node.kind {
            Kind::Map(entries) => vec![entries.as_slice()],
            Kind::List(items) => {
                let mut out = Vec::new();
                for item in items {
                    match &item.kind {
                        Kind::Map(entries) => out.push(entries.as_slice()),
                        _ => self.expected(item, name, "a block"),
                    }
                }
                out
            }
            _ => {
                self.expected(node, name, "a block");
                Vec::new()
            }
        }
    }

    /// The bodies of a block with one label: `name "label" { }` in HCL, or
    /// `"name": {"label": { }}` in JSON.
    fn labeled<'e>(&mut self, entry: &'e Entry, name: &str) -> Vec<(String, Span, &'e [Entry])> {
        match entry.labels.as_slice() {
            [(label, span)] => self
                .bodies_of(&entry.value, name)
                .into_iter()
                .map(|body| (label.clone(), span.clone(), body))
                .collect(),
            [] if entry.block => {
                self.error(
                    &entry.key_span,
                    format!("{name}: this block needs a name: {name} \"NAME\" {{ ... }}"),
                );
                Vec::new()
            }
            [] => {
                let mut out = Vec::new();
                for outer in self.bodies_of(&entry.value, name) {
                    for inner in outer {
                        let inner_name = format!("{name} {:?}", inner.key);
                        for body in self.bodies_of(&inner.value, &inner_name) {
                            out.push((inner.key.clone(), inner.key_span.clone(), body));
                        }
                    }
                }
                out
            }
            [_, (_, span), ..] => {
                self.error(span, format!("{name}: this block takes one label"));
                Vec::new()
            }
        }
    }

    fn top(&mut self, entries: &[Entry], config: &mut AgentConfig) {
        for e in self.known(entries, "", TOP) {
            let name = e.key.as_str();
            match name {
                "name" => set(&mut config.name, self.string(e, name)),
                "datacenter" => set(&mut config.datacenter, self.string(e, name)),
                "region" => set(&mut config.region, self.string(e, name)),
                "data_dir" => set(&mut config.data_dir, self.path(e, name)),
                "bind_addr" => {
                    let addr = self.checked(e, name, |s| {
                        s.parse::<IpAddr>()
                            .map(drop)
                            .map_err(|_| format!("{s:?} is not an IP address"))
                    });
                    set(&mut config.bind_addr, addr.and_then(|s| s.parse().ok()));
                }
                "log_level" => {
                    let level = self.checked(e, name, |s| {
                        parse_level(s).map(drop).ok_or_else(|| {
                            format!(
                                "unknown level {s:?}; expected trace, debug, info, warn or error"
                            )
                        })
                    });
                    set(
                        &mut config.log_level,
                        level.as_deref().and_then(parse_level),
                    );
                }
                "advertise" => {
                    for body in self.bodies(e, name) {
                        self.addrs(body, name, &mut config.advertise, |s| {
                            parse_host_port(s, 1).map(drop)
                        });
                    }
                }
                "addresses" => {
                    for body in self.bodies(e, name) {
                        self.addrs(body, name, &mut config.addresses, |s| {
                            s.parse::<IpAddr>()
                                .map(drop)
                                .map_err(|_| format!("{s:?} is not an IP address"))
                        });
                    }
                }
                "ports" => {
                    for body in self.bodies(e, name) {
                        self.ports(body, &mut config.ports);
                    }
                }
                "server" => {
                    for body in self.bodies(e, name) {
                        self.server(body, &mut config.server);
                    }
                }
                "client" => {
                    for body in self.bodies(e, name) {
                        self.client(body, &mut config.client);
                    }
                }
                "tls" => {
                    for body in self.bodies(e, name) {
                        self.tls(body, &mut config.tls);
                    }
                }
                "dns" => {
                    for body in self.bodies(e, name) {
                        self.dns(body, &mut config.dns);
                    }
                }
                _ => {}
            }
        }
    }

    fn addrs(
        &mut self,
        body: &[Entry],
        path: &str,
        out: &mut Addrs,
        check: impl Fn(&str) -> Result<(), String>,
    ) {
        for e in self.known(body, path, ADDRS) {
            let name = qualify(path, &e.key);
            let value = self.checked(e, &name, &check);
            match e.key.as_str() {
                "http" => set(&mut out.http, value),
                "rpc" => set(&mut out.rpc, value),
                "serf" => set(&mut out.serf, value),
                _ => {}
            }
        }
    }

    fn ports(&mut self, body: &[Entry], out: &mut Ports) {
        for e in self.known(body, "ports", PORTS) {
            let name = qualify("ports", &e.key);
            match e.key.as_str() {
                "http" => set(&mut out.http, self.port(e, &name)),
                "rpc" => set(&mut out.rpc, self.port(e, &name)),
                "serf" => set(&mut out.serf, self.port(e, &name)),
                "consul" => set(&mut out.consul, self.port_setting(e, &name)),
                "dns" => set(&mut out.dns, self.port_setting(e, &name)),
                _ => {}
            }
        }
    }

    fn server(&mut self, body: &[Entry], out: &mut ServerBlock) {
        for e in self.known(body, "server", SERVER) {
            let name = qualify("server", &e.key);
            match e.key.as_str() {
                "enabled" => set(&mut out.enabled, self.boolean(e, &name)),
                "bootstrap_expect" => {
                    set(&mut out.bootstrap_expect, self.whole(e, &name, 1, U32_MAX));
                }
                "num_schedulers" => set(&mut out.num_schedulers, self.whole(e, &name, 0, U32_MAX)),
                "heartbeat_grace" => set(&mut out.heartbeat_grace, self.duration(e, &name)),
                "min_heartbeat_ttl" => set(&mut out.min_heartbeat_ttl, self.duration(e, &name)),
                "server_join" => {
                    for join in self.bodies(e, &name) {
                        self.server_join(join, &name, out);
                    }
                }
                // Nomad's older form, directly in `server {}`.
                _ => self.join_attribute(e, &name, out),
            }
        }
    }

    fn server_join(&mut self, body: &[Entry], path: &str, out: &mut ServerBlock) {
        for e in self.known(body, path, SERVER_JOIN) {
            let name = qualify(path, &e.key);
            self.join_attribute(e, &name, out);
        }
    }

    fn join_attribute(&mut self, e: &Entry, name: &str, out: &mut ServerBlock) {
        match e.key.as_str() {
            "retry_join" => {
                if let Some(addrs) = self.strings(e, name, check_join_address) {
                    out.retry_join = append_unique(std::mem::take(&mut out.retry_join), addrs);
                }
            }
            "retry_interval" => set(&mut out.retry_interval, self.duration(e, name)),
            "retry_max" => set(&mut out.retry_max, self.whole(e, name, 0, U32_MAX)),
            _ => {}
        }
    }

    fn client(&mut self, body: &[Entry], out: &mut ClientBlock) {
        for e in self.known(body, "client", CLIENT) {
            let name = qualify("client", &e.key);
            match e.key.as_str() {
                "enabled" => set(&mut out.enabled, self.boolean(e, &name)),
                "servers" => {
                    if let Some(servers) =
                        self.strings(e, &name, |s| parse_host_port(s, DEFAULT_RPC_PORT).map(drop))
                    {
                        out.servers = append_unique(std::mem::take(&mut out.servers), servers);
                    }
                }
                "node_class" => set(&mut out.node_class, self.string(e, &name)),
                "meta" => {
                    if let Some(meta) = self.string_map(e, &name) {
                        out.meta.extend(meta);
                    }
                }
                "options" => {
                    if let Some(options) = self.string_map(e, &name) {
                        out.options.extend(options);
                    }
                }
                "reserved" => {
                    for reserved in self.bodies(e, &name) {
                        self.reserved(reserved, &mut out.reserved);
                    }
                }
                "host_network" => {
                    for (label, span, network) in self.labeled(e, &name) {
                        if out.host_networks.iter().any(|n| n.name == label) {
                            self.error(&span, format!("{name}: duplicate host network {label:?}"));
                            continue;
                        }
                        let network = self.host_network(network, label);
                        out.host_networks.push(network);
                    }
                }
                "network_interface" => set(&mut out.network_interface, self.string(e, &name)),
                "bridge_network_name" => set(&mut out.bridge_network_name, self.string(e, &name)),
                "bridge_network_subnet" => {
                    let subnet =
                        self.string(e, &name)
                            .and_then(|s| match s.parse::<Ipv4Subnet>() {
                                Ok(subnet) => Some(subnet),
                                Err(err) => {
                                    let err = err.to_string();
                                    self.error(&e.value.span, format!("{name}: {err}"));
                                    None
                                }
                            });
                    set(&mut out.bridge_network_subnet, subnet);
                }
                _ => {}
            }
        }
    }

    fn reserved(&mut self, body: &[Entry], out: &mut Reserved) {
        let path = "client.reserved";
        for e in self.known(body, path, RESERVED) {
            let name = qualify(path, &e.key);
            match e.key.as_str() {
                "cpu" => set(&mut out.cpu, self.whole(e, &name, 0, i64::MAX)),
                "memory" => set(&mut out.memory, self.whole(e, &name, 0, i64::MAX)),
                "disk" => set(&mut out.disk, self.whole(e, &name, 0, i64::MAX)),
                "reserved_ports" => set(
                    &mut out.reserved_ports,
                    self.checked(e, &name, |s| parse_port_ranges(s).map(drop)),
                ),
                _ => {}
            }
        }
    }

    fn host_network(&mut self, body: &[Entry], label: String) -> HostNetwork {
        let path = format!("client.host_network {label:?}");
        let mut out = HostNetwork {
            name: label,
            ..HostNetwork::default()
        };
        for e in self.known(body, &path, HOST_NETWORK) {
            let name = qualify(&path, &e.key);
            match e.key.as_str() {
                "cidr" => set(&mut out.cidr, self.checked(e, &name, check_cidr)),
                "interface" => set(&mut out.interface, self.string(e, &name)),
                "reserved_ports" => set(
                    &mut out.reserved_ports,
                    self.checked(e, &name, |s| parse_port_ranges(s).map(drop)),
                ),
                _ => {}
            }
        }
        out
    }

    fn tls(&mut self, body: &[Entry], out: &mut TlsBlock) {
        for e in self.known(body, "tls", TLS) {
            let name = qualify("tls", &e.key);
            match e.key.as_str() {
                "http" => set(&mut out.http, self.boolean(e, &name)),
                "rpc" => set(&mut out.rpc, self.boolean(e, &name)),
                "ca_file" => set(&mut out.ca_file, self.path(e, &name)),
                "cert_file" => set(&mut out.cert_file, self.path(e, &name)),
                "key_file" => set(&mut out.key_file, self.path(e, &name)),
                "verify_server_hostname" => {
                    set(&mut out.verify_server_hostname, self.boolean(e, &name));
                }
                "verify_https_client" => set(&mut out.verify_https_client, self.boolean(e, &name)),
                _ => {}
            }
        }
    }

    fn dns(&mut self, body: &[Entry], out: &mut DnsBlock) {
        for e in self.known(body, "dns", DNS) {
            let name = qualify("dns", &e.key);
            match e.key.as_str() {
                "recursors" => {
                    if let Some(recursors) =
                        self.strings(e, &name, |s| parse_host_port(s, DEFAULT_DNS_PORT).map(drop))
                    {
                        out.recursors = recursors;
                    }
                }
                "service_ttl" => set(&mut out.service_ttl, self.duration(e, &name)),
                "node_ttl" => set(&mut out.node_ttl, self.duration(e, &name)),
                "allow_stale" => set(&mut out.allow_stale, self.boolean(e, &name)),
                "only_passing" => set(&mut out.only_passing, self.boolean(e, &name)),
                "domain" => set(&mut out.domain, self.string(e, &name)),
                _ => {}
            }
        }
    }
}

fn check_join_address(s: &str) -> Result<(), String> {
    if s.contains("provider=") {
        return Err(format!("{s:?}: cloud auto-join is not supported"));
    }
    parse_host_port(s, DEFAULT_RPC_PORT).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
name       = "server1"
datacenter = "dc1"
region     = "global"
data_dir   = "/var/lib/caravan"
bind_addr  = "0.0.0.0"
log_level  = "INFO"
advertise {
  http = "10.0.0.1"
  rpc  = "10.0.0.1:4647"
  serf = "10.0.0.1"
}
addresses {
  http = "127.0.0.1"
  rpc  = "10.0.0.1"
}
ports {
  http   = 4646
  rpc    = 4647
  serf   = 4648
  consul = 8500
  dns    = -1
}
server {
  enabled           = true
  bootstrap_expect  = 3
  num_schedulers    = 2
  heartbeat_grace   = "5s"
  min_heartbeat_ttl = "10s"
  server_join {
    retry_join     = ["10.0.0.2", "10.0.0.3:4647", "servers.example"]
    retry_interval = "15s"
    retry_max      = 0
  }
}
client {
  enabled    = true
  servers    = ["10.0.0.1:4647", "[::1]:4647"]
  node_class = "web"
  meta       = { zone = "a" }
  reserved {
    cpu            = 500
    memory         = 256
    disk           = 1024
    reserved_ports = "22,80,8000-8100"
  }
  host_network "public" {
    cidr           = "10.0.0.0/24"
    interface      = "eth0"
    reserved_ports = "22"
  }
  host_network "private" {
    cidr = "192.168.0.0/16"
  }
  network_interface     = "eth0"
  bridge_network_name   = "caravan0"
  bridge_network_subnet = "172.26.64.0/20"
  options = { "driver.raw_exec.enable" = "1" }
}
tls {
  http                   = false
  rpc                    = true
  ca_file                = "/etc/caravan/ca.pem"
  cert_file              = "/etc/caravan/server.pem"
  key_file               = "/etc/caravan/server-key.pem"
  verify_server_hostname = true
  verify_https_client    = false
}
dns {
  recursors    = ["1.1.1.1:53", "9.9.9.9"]
  service_ttl  = "0s"
  node_ttl     = "30s"
  allow_stale  = true
  only_passing = true
  domain       = "consul"
}
"#;

    fn parse(name: &str, text: &str) -> Result<AgentConfig, ConfigError> {
        AgentConfig::parse(Path::new(name), text)
    }

    fn parse_ok(text: &str) -> AgentConfig {
        match parse("agent.hcl", text) {
            Ok(config) => config,
            Err(e) => panic!("expected the file to parse:\n{e}"),
        }
    }

    fn errors(text: &str) -> Vec<String> {
        match parse("server.hcl", text) {
            Ok(config) => panic!("expected errors, parsed {config:?}"),
            Err(e) => e.lines(),
        }
    }

    fn secs(s: u64) -> Option<Duration> {
        Some(Duration::from_secs(s))
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    fn map(items: &[(&str, &str)]) -> BTreeMap<String, String> {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn full_expected() -> AgentConfig {
        AgentConfig {
            name: Some("server1".into()),
            datacenter: Some("dc1".into()),
            region: Some("global".into()),
            data_dir: Some("/var/lib/caravan".into()),
            bind_addr: Some(IpAddr::from([0, 0, 0, 0])),
            log_level: Some(tracing::Level::INFO),
            advertise: Addrs {
                http: Some("10.0.0.1".into()),
                rpc: Some("10.0.0.1:4647".into()),
                serf: Some("10.0.0.1".into()),
            },
            addresses: Addrs {
                http: Some("127.0.0.1".into()),
                rpc: Some("10.0.0.1".into()),
                serf: None,
            },
            ports: Ports {
                http: Some(4646),
                rpc: Some(4647),
                serf: Some(4648),
                consul: Some(PortSetting::Port(8500)),
                dns: Some(PortSetting::Off),
            },
            server: ServerBlock {
                enabled: Some(true),
                bootstrap_expect: Some(3),
                num_schedulers: Some(2),
                heartbeat_grace: secs(5),
                min_heartbeat_ttl: secs(10),
                retry_join: strings(&["10.0.0.2", "10.0.0.3:4647", "servers.example"]),
                retry_interval: secs(15),
                retry_max: Some(0),
            },
            client: ClientBlock {
                enabled: Some(true),
                servers: strings(&["10.0.0.1:4647", "[::1]:4647"]),
                node_class: Some("web".into()),
                meta: map(&[("zone", "a")]),
                reserved: Reserved {
                    cpu: Some(500),
                    memory: Some(256),
                    disk: Some(1024),
                    reserved_ports: Some("22,80,8000-8100".into()),
                },
                host_networks: vec![
                    HostNetwork {
                        name: "public".into(),
                        cidr: Some("10.0.0.0/24".into()),
                        interface: Some("eth0".into()),
                        reserved_ports: Some("22".into()),
                    },
                    HostNetwork {
                        name: "private".into(),
                        cidr: Some("192.168.0.0/16".into()),
                        ..HostNetwork::default()
                    },
                ],
                network_interface: Some("eth0".into()),
                bridge_network_name: Some("caravan0".into()),
                bridge_network_subnet: Some("172.26.64.0/20".parse().expect("subnet")),
                options: map(&[("driver.raw_exec.enable", "1")]),
            },
            tls: TlsBlock {
                http: Some(false),
                rpc: Some(true),
                ca_file: Some("/etc/caravan/ca.pem".into()),
                cert_file: Some("/etc/caravan/server.pem".into()),
                key_file: Some("/etc/caravan/server-key.pem".into()),
                verify_server_hostname: Some(true),
                verify_https_client: Some(false),
            },
            dns: DnsBlock {
                recursors: strings(&["1.1.1.1:53", "9.9.9.9"]),
                service_ttl: secs(0),
                node_ttl: secs(30),
                allow_stale: Some(true),
                only_passing: Some(true),
                domain: Some("consul".into()),
            },
        }
    }

    #[test]
    fn full_file_parses_to_every_field() {
        assert_eq!(parse_ok(FULL), full_expected());
    }

    #[test]
    fn empty_file_sets_nothing() {
        assert_eq!(parse_ok(""), AgentConfig::default());
        assert_eq!(parse_ok("# only a comment\n"), AgentConfig::default());
    }

    #[test]
    fn json_file_parses_like_hcl() {
        let json = r#"{
  "name": "server1",
  "log_level": "debug",
  "ports": {"http": 4646, "dns": -1},
  "server": {"enabled": true, "server_join": {"retry_join": ["10.0.0.2"]}},
  "client": {
    "meta": {"zone": "a"},
    "host_network": {"public": {"cidr": "10.0.0.0/24"}},
    "options": {"driver.raw_exec.enable": "1"}
  },
  "tls": [{"ca_file": "ca.pem"}]
}"#;
        let config = AgentConfig::parse(Path::new("/etc/caravan/agent.json"), json)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.name.as_deref(), Some("server1"));
        assert_eq!(config.log_level, Some(tracing::Level::DEBUG));
        assert_eq!(config.ports.http, Some(4646));
        assert_eq!(config.ports.dns, Some(PortSetting::Off));
        assert_eq!(config.server.enabled, Some(true));
        assert_eq!(config.server.retry_join, strings(&["10.0.0.2"]));
        assert_eq!(config.client.meta, map(&[("zone", "a")]));
        assert_eq!(config.client.host_networks[0].name, "public");
        assert_eq!(
            config.client.host_networks[0].cidr.as_deref(),
            Some("10.0.0.0/24")
        );
        assert_eq!(
            config.client.options,
            map(&[("driver.raw_exec.enable", "1")])
        );
        assert_eq!(config.tls.ca_file, Some("/etc/caravan/ca.pem".into()));
    }

    #[test]
    fn json_errors_have_positions() {
        let lines = match parse("agent.json", "{\n  \"server\": {\"enabld\": true}\n}") {
            Err(e) => e.lines(),
            Ok(c) => panic!("parsed {c:?}"),
        };
        assert_eq!(
            lines,
            ["agent.json:2:14: unknown attribute \"enabld\" in server; did you mean \"enabled\"?"]
        );
        let lines = match parse("agent.json", "{\n  \"name\": \"x\",\n}") {
            Err(e) => e.lines(),
            Ok(c) => panic!("parsed {c:?}"),
        };
        assert_eq!(lines.len(), 1);
        assert!(
            lines[0].starts_with("agent.json:3:1: JSON syntax error"),
            "{lines:?}"
        );
    }

    #[test]
    fn older_retry_join_form_in_server() {
        let config = parse_ok(
            r#"
server {
  enabled        = true
  retry_join     = ["10.0.0.2", "10.0.0.3"]
  retry_interval = "30s"
  retry_max      = 5
}
"#,
        );
        assert_eq!(config.server.retry_join, strings(&["10.0.0.2", "10.0.0.3"]));
        assert_eq!(config.server.retry_interval, secs(30));
        assert_eq!(config.server.retry_max, Some(5));
    }

    #[test]
    fn both_retry_join_forms_append() {
        let config = parse_ok(
            r#"
server {
  retry_join = ["a.example", "b.example"]
  server_join {
    retry_join = ["b.example", "c.example"]
  }
}
"#,
        );
        assert_eq!(
            config.server.retry_join,
            strings(&["a.example", "b.example", "c.example"])
        );
    }

    #[test]
    fn meta_as_attribute_or_block() {
        let attr = parse_ok("client {\n  meta = { zone = \"a\", rack = 7 }\n}\n");
        let block = parse_ok("client {\n  meta {\n    zone = \"a\"\n    rack = \"7\"\n  }\n}\n");
        let expected = map(&[("rack", "7"), ("zone", "a")]);
        assert_eq!(attr.client.meta, expected);
        assert_eq!(block.client.meta, expected);
    }

    #[test]
    fn nulls_and_repeated_blocks() {
        let config = parse_ok(
            "name = null\nserver {\n  enabled = true\n}\nserver {\n  bootstrap_expect = 1\n}\n",
        );
        assert_eq!(config.name, None);
        assert_eq!(config.server.enabled, Some(true));
        assert_eq!(config.server.bootstrap_expect, Some(1));
    }

    #[test]
    fn merge_later_wins_maps_merge_joins_append() {
        let first = parse_ok(
            r#"
name      = "a"
region    = "eu"
log_level = "info"
server {
  enabled = true
  server_join {
    retry_join = ["10.0.0.1", "10.0.0.2"]
  }
}
client {
  servers = ["10.0.0.1"]
  meta    = { zone = "a", rack = "1" }
  host_network "public" {
    cidr = "10.0.0.0/24"
  }
}
dns {
  recursors = ["1.1.1.1"]
}
"#,
        );
        let second = parse_ok(
            r#"
name      = "b"
log_level = "debug"
server {
  server_join {
    retry_join = ["10.0.0.2", "10.0.0.3"]
  }
}
client {
  servers = ["10.0.0.1", "10.0.0.9"]
  meta    = { zone = "b" }
  host_network "public" {
    cidr = "10.1.0.0/24"
  }
  host_network "private" {
    cidr = "10.2.0.0/24"
  }
}
dns {
  recursors = ["9.9.9.9"]
}
"#,
        );
        let merged = first.merge(second);
        assert_eq!(merged.name.as_deref(), Some("b"), "scalars: later wins");
        assert_eq!(merged.region.as_deref(), Some("eu"), "unset keeps ours");
        assert_eq!(merged.log_level, Some(tracing::Level::DEBUG));
        assert_eq!(merged.server.enabled, Some(true));
        assert_eq!(
            merged.server.retry_join,
            strings(&["10.0.0.1", "10.0.0.2", "10.0.0.3"])
        );
        assert_eq!(merged.client.servers, strings(&["10.0.0.1", "10.0.0.9"]));
        assert_eq!(merged.client.meta, map(&[("rack", "1"), ("zone", "b")]));
        let cidrs: Vec<_> = merged
            .client
            .host_networks
            .iter()
            .map(|n| (n.name.as_str(), n.cidr.as_deref()))
            .collect();
        assert_eq!(
            cidrs,
            [
                ("public", Some("10.1.0.0/24")),
                ("private", Some("10.2.0.0/24"))
            ]
        );
        assert_eq!(merged.dns.recursors, strings(&["9.9.9.9"]), "lists replace");
    }

    #[test]
    fn merge_with_default_is_identity() {
        let full = full_expected();
        assert_eq!(full.clone().merge(AgentConfig::default()), full);
        assert_eq!(AgentConfig::default().merge(full.clone()), full);
    }

    #[test]
    fn unknown_attribute_with_suggestion() {
        let text = "server {\n  enabled = true\n  boostrap_expect = 3\n}\n";
        assert_eq!(
            errors(text),
            [
                "server.hcl:3:3: unknown attribute \"boostrap_expect\" in server; did you mean \"bootstrap_expect\"?"
            ]
        );
    }

    #[test]
    fn unknown_block_and_top_level_attribute() {
        assert_eq!(
            errors("servr {\n  enabled = true\n}\nfoo = 1\n"),
            [
                "server.hcl:1:1: unknown block \"servr\"; did you mean \"server\"?",
                "server.hcl:4:1: unknown attribute \"foo\"",
            ]
        );
    }

    #[test]
    fn wrong_types() {
        assert_eq!(
            errors("server {\n  bootstrap_expect = \"three\"\n  enabled = 1\n}\n"),
            [
                "server.hcl:2:22: server.bootstrap_expect: expected a whole number, found string \"three\"",
                "server.hcl:3:13: server.enabled: expected true or false, found number 1",
            ]
        );
        assert_eq!(
            errors("client {\n  servers = \"10.0.0.1\"\n}\n"),
            [
                "server.hcl:2:13: client.servers: expected a list of strings, found string \"10.0.0.1\""
            ]
        );
        assert_eq!(
            errors("server = 3\n"),
            ["server.hcl:1:10: server: expected a block, found number 3"]
        );
    }

    #[test]
    fn expressions_are_refused() {
        assert_eq!(
            errors("name = \"${env.HOST}\"\nregion = var.region\n"),
            [
                "server.hcl:1:8: name: expected a string, found an expression (the agent configuration takes literal values only)",
                "server.hcl:2:10: region: expected a string, found an expression (the agent configuration takes literal values only)",
            ]
        );
    }

    #[test]
    fn bad_durations() {
        assert_eq!(
            errors("server {\n  heartbeat_grace = \"5 seconds\"\n  min_heartbeat_ttl = \"-5s\"\n}\n"),
            [
                "server.hcl:2:21: server.heartbeat_grace: invalid duration \"5 seconds\": ".to_owned()
                    + &caravan_model::Duration::parse("5 seconds")
                        .expect_err("not a duration")
                        .to_string(),
                "server.hcl:3:23: server.min_heartbeat_ttl: \"-5s\" is negative; a duration here must not be".to_owned(),
            ]
        );
    }

    #[test]
    fn bad_addresses() {
        assert_eq!(
            errors("bind_addr = \"0.0.0.300\"\naddresses {\n  http = \"localhost\"\n}\n"),
            [
                "server.hcl:1:13: bind_addr: \"0.0.0.300\" is not an IP address",
                "server.hcl:3:10: addresses.http: \"localhost\" is not an IP address",
            ]
        );
        let lines = errors(
            "server {\n  retry_join = [\"ok.example\", \"10.0.0.1:99999\", \"provider=aws tag_key=x\"]\n}\n",
        );
        assert_eq!(lines.len(), 2, "{lines:?}");
        assert!(
            lines[0].starts_with("server.hcl:2:31: server.retry_join[1]: \"10.0.0.1:99999\""),
            "{lines:?}"
        );
        assert!(
            lines[1].starts_with("server.hcl:2:49: server.retry_join[2]:")
                && lines[1].contains("cloud auto-join is not supported"),
            "{lines:?}"
        );
    }

    #[test]
    fn ports_out_of_range() {
        assert_eq!(
            errors("ports {\n  http = 70000\n  rpc = -1\n  dns = -2\n  consul = -1\n}\n"),
            [
                "server.hcl:2:10: ports.http: 70000 is out of range (0 to 65535)",
                "server.hcl:3:9: ports.rpc: -1 is out of range (0 to 65535)",
                "server.hcl:4:9: ports.dns: -2 is out of range (-1 to 65535)",
            ]
        );
    }

    #[test]
    fn bad_log_level() {
        assert_eq!(
            errors("log_level = \"verbose\"\n"),
            [
                "server.hcl:1:13: log_level: unknown level \"verbose\"; expected trace, debug, info, warn or error"
            ]
        );
        assert_eq!(
            parse_ok("log_level = \"WARN\"").log_level,
            Some(tracing::Level::WARN)
        );
    }

    #[test]
    fn bad_client_values() {
        let lines = errors(
            r#"client {
  reserved {
    reserved_ports = "22,80-70"
  }
  host_network "public" {
    cidr = "10.0.0.0/33"
  }
  host_network "public" {
    cidr = "10.0.0.0/8"
  }
  bridge_network_subnet = "fd00::/64"
  host_network {
    cidr = "10.0.0.0/8"
  }
}
"#,
        );
        assert_eq!(lines.len(), 5, "{lines:?}");
        assert_eq!(
            lines[0],
            "server.hcl:3:22: client.reserved.reserved_ports: \"80-70\" is not a port or a range of ports (low-high)"
        );
        assert_eq!(
            lines[1],
            "server.hcl:6:12: client.host_network \"public\".cidr: \"10.0.0.0/33\" is not a CIDR such as 10.0.0.0/24"
        );
        assert_eq!(
            lines[2],
            "server.hcl:8:16: client.host_network: duplicate host network \"public\""
        );
        assert!(lines[3].starts_with("server.hcl:11:27: client.bridge_network_subnet: "));
        assert!(
            lines[4].starts_with("server.hcl:12:3: client.host_network: this block needs a name")
        );
    }

    #[test]
    fn crlf_heredoc_and_byte_order_mark() {
        let text = "\u{feff}name = <<EOT\r\nnode-1\r\nEOT\r\nserver {\r\n  enabled = true\r\n  bootstrap_expect = \"x\"\r\n}\r\n";
        let err = parse("agent.hcl", text).expect_err("bad bootstrap_expect");
        assert_eq!(
            err.lines(),
            [
                "agent.hcl:6:22: server.bootstrap_expect: expected a whole number, found string \"x\""
            ]
        );
        assert_eq!(err.diagnostics[0].source_line, "  bootstrap_expect = \"x\"");
        let config = parse_ok(&text.replace("\"x\"", "1"));
        assert!(
            config
                .name
                .as_deref()
                .is_some_and(|n| n.trim_end() == "node-1")
        );
        assert_eq!(config.server.bootstrap_expect, Some(1));
    }

    #[test]
    fn duplicate_attribute() {
        // hcl-edit refuses it while parsing.
        let lines = errors("name = \"a\"\nname = \"b\"\n");
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].starts_with("server.hcl:2:1: syntax error") && lines[0].contains("redefined"),
            "{lines:?}"
        );
    }

    #[test]
    fn syntax_error_has_position() {
        let lines = errors("server {\n  enabled = true\n  retry_join = [\"a\"\n}\n");
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].starts_with("server.hcl:4:1: syntax error"),
            "{lines:?}"
        );
    }

    #[test]
    fn several_errors_together_in_source_order() {
        let text = r#"log_level = "loud"
server {
  enabled          = "yes"
  bootstrap_expect = 0
}
ports {
  htp = 1
}
"#;
        assert_eq!(
            errors(text),
            [
                "server.hcl:1:13: log_level: unknown level \"loud\"; expected trace, debug, info, warn or error",
                "server.hcl:3:22: server.enabled: expected true or false, found string \"yes\"",
                "server.hcl:4:22: server.bootstrap_expect: 0 is out of range (1 to 4294967295)",
                "server.hcl:7:3: unknown attribute \"htp\" in ports; did you mean \"http\"?",
            ]
        );
    }

    #[test]
    fn error_renders_with_a_caret() {
        let err = parse("server.hcl", "server {\n  boostrap_expect = 3\n}\n")
            .expect_err("unknown attribute");
        assert_eq!(
            err.to_string(),
            "server.hcl:2:3: unknown attribute \"boostrap_expect\" in server; did you mean \"bootstrap_expect\"?\n\
             2 |   boostrap_expect = 3\n  |   ^^^^^^^^^^^^^^^"
        );
    }

    #[test]
    fn relative_paths_resolve_against_the_file() {
        let text = "data_dir = \"data\"\ntls {\n  ca_file = \"ca.pem\"\n  cert_file = \"/abs/cert.pem\"\n  key_file = \"../keys/key.pem\"\n}\n";
        let config = AgentConfig::parse(Path::new("/etc/caravan/agent.hcl"), text)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.data_dir, Some("/etc/caravan/data".into()));
        assert_eq!(config.tls.ca_file, Some("/etc/caravan/ca.pem".into()));
        assert_eq!(config.tls.cert_file, Some("/abs/cert.pem".into()));
        assert_eq!(
            config.tls.key_file,
            Some("/etc/caravan/../keys/key.pem".into())
        );
    }

    #[test]
    fn directory_loads_in_name_order() {
        let dir = tempfile::tempdir().expect("temp dir");
        let write = |name: &str, text: &str| {
            std::fs::write(dir.path().join(name), text).expect("write config");
        };
        write(
            "10-base.hcl",
            "name = \"base\"\nregion = \"eu\"\nserver {\n  retry_join = [\"a\"]\n}\n",
        );
        write(
            "20-over.json",
            r#"{"name": "over", "server": {"retry_join": ["b"]}}"#,
        );
        write("30-last.hcl", "datacenter = \"dc2\"\n");
        write("notes.txt", "this is not configuration");
        write(".hidden.hcl", "bogus = 1");
        let config = AgentConfig::load(dir.path()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.name.as_deref(), Some("over"));
        assert_eq!(config.region.as_deref(), Some("eu"));
        assert_eq!(config.datacenter.as_deref(), Some("dc2"));
        assert_eq!(config.server.retry_join, strings(&["a", "b"]));
    }

    #[test]
    fn directory_reports_every_file_errors() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("a.hcl"), "nme = \"x\"\n").expect("write");
        std::fs::write(dir.path().join("b.hcl"), "region = 1\n").expect("write");
        let err = AgentConfig::load(dir.path()).expect_err("two bad files");
        let a = dir.path().join("a.hcl").display().to_string();
        let b = dir.path().join("b.hcl").display().to_string();
        assert_eq!(
            err.lines(),
            [
                format!("{a}:1:1: unknown attribute \"nme\"; did you mean \"name\"?"),
                format!("{b}:1:10: region: expected a string, found number 1"),
            ]
        );
    }

    #[test]
    fn missing_file_is_an_error_without_position() {
        let dir = tempfile::tempdir().expect("temp dir");
        let missing = dir.path().join("nope.hcl");
        let err = AgentConfig::load(&missing).expect_err("missing file");
        assert_eq!(err.diagnostics.len(), 1);
        assert_eq!(err.diagnostics[0].line, 0);
        assert!(
            err.to_string()
                .starts_with(&format!("{}: cannot read: ", missing.display())),
            "{err}"
        );
    }

    #[test]
    fn load_all_merges_in_flag_order() {
        let dir = tempfile::tempdir().expect("temp dir");
        let one = dir.path().join("one.hcl");
        let two = dir.path().join("two.hcl");
        std::fs::write(&one, "name = \"one\"\nregion = \"r1\"\n").expect("write");
        std::fs::write(&two, "name = \"two\"\n").expect("write");
        let config = AgentConfig::load_all(&[one, two]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(config.name.as_deref(), Some("two"));
        assert_eq!(config.region.as_deref(), Some("r1"));
    }

    #[test]
    fn warnings_after_merge() {
        let config = parse_ok("server {\n  bootstrap_expect = 3\n}\n");
        assert_eq!(
            config.warnings(),
            [
                "server.bootstrap_expect is set but the server is not enabled (server.enabled = true)"
            ]
        );
        let enabled = config.merge(parse_ok("server {\n  enabled = true\n}\n"));
        assert!(enabled.warnings().is_empty());
    }

    #[test]
    fn host_port_forms() {
        assert_eq!(
            parse_host_port("10.0.0.2", 4647),
            Ok(("10.0.0.2".into(), 4647))
        );
        assert_eq!(
            parse_host_port("10.0.0.2:5000", 4647),
            Ok(("10.0.0.2".into(), 5000))
        );
        assert_eq!(parse_host_port("[::1]:4647", 1), Ok(("::1".into(), 4647)));
        assert_eq!(parse_host_port("[::1]", 4647), Ok(("::1".into(), 4647)));
        assert_eq!(
            parse_host_port("fe80::1", 4647),
            Ok(("fe80::1".into(), 4647))
        );
        assert_eq!(
            parse_host_port("servers.example", 4647),
            Ok(("servers.example".into(), 4647))
        );
        for bad in [
            "",
            ":4647",
            "host:",
            "host:0",
            "host:x",
            "[::1",
            "[::1]x",
            "[nope]:1",
            "a:b:c",
            "two words",
            "host/path",
        ] {
            assert!(
                parse_host_port(bad, 4647).is_err(),
                "{bad:?} should be refused"
            );
        }
    }

    #[test]
    fn port_ranges() {
        assert_eq!(
            parse_port_ranges("22, 80,8000-8100"),
            Ok(vec![22..=22, 80..=80, 8000..=8100])
        );
        assert_eq!(parse_port_ranges(""), Ok(vec![]));
        assert_eq!(parse_port_ranges("65535"), Ok(vec![65535..=65535]));
        for bad in ["0", "x", "10-5", "1-2-3", "70000"] {
            assert!(parse_port_ranges(bad).is_err(), "{bad:?} should be refused");
        }
    }
}
