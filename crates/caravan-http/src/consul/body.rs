//! Consul's request bodies: service and check definitions, read as Go's
//! `encoding/json` reads them (field names in any case, `snake_case` too), durations
//! in Go's syntax (`"10s"`) or as nanoseconds.

use std::collections::BTreeMap;

use caravan_model::{CheckStatus, Duration, HealthStatus, ServiceRegistration, ServiceWeights};
use serde_json::{Map, Value};

use crate::ApiError;

/// A JSON object whose members are found by name in any case, with or without `_`.
#[derive(Debug, Default)]
pub(super) struct Fields {
    /// Where the object sits in the body, for error messages (`Check`, `Checks[1]`).
    path: String,
    members: BTreeMap<String, Value>,
}

fn fold(name: &str) -> String {
    name.chars()
        .filter(|c| *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

impl Fields {
    /// The body of a request, which must be a JSON object.
    pub fn from_body(bytes: &[u8]) -> Result<Self, ApiError> {
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_request("request body is empty"));
        }
        let value: Value = serde_json::from_slice(bytes)
            .map_err(|e| ApiError::bad_request(format!("Request decode failed: {e}")))?;
        Self::from_value(String::new(), value)
    }

    fn from_value(path: String, value: Value) -> Result<Self, ApiError> {
        match value {
            Value::Object(map) => Ok(Self::from_map(path, map)),
            _ => Err(ApiError::bad_request(format!(
                "Request decode failed: {} must be a JSON object",
                if path.is_empty() { "the body" } else { &path }
            ))),
        }
    }

    fn from_map(path: String, map: Map<String, Value>) -> Self {
        let members = map
            .into_iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(k, v)| (fold(&k), v))
            .collect();
        Self { path, members }
    }

    fn name(&self, field: &str) -> String {
        if self.path.is_empty() {
            field.to_owned()
        } else {
            format!("{}.{field}", self.path)
        }
    }

    fn bad(&self, field: &str, what: &str) -> ApiError {
        ApiError::bad_request(format!(
            "Request decode failed: {} {what}",
            self.name(field)
        ))
    }

    fn get(&self, field: &str) -> Option<&Value> {
        self.members.get(&fold(field))
    }

    pub fn string(&self, field: &str) -> Result<String, ApiError> {
        match self.get(field) {
            None => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(self.bad(field, "must be a string")),
        }
    }

    pub fn bool(&self, field: &str) -> Result<bool, ApiError> {
        match self.get(field) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(self.bad(field, "must be a boolean")),
        }
    }

    pub fn port(&self, field: &str) -> Result<u16, ApiError> {
        match self.get(field) {
            None => Ok(0),
            Some(v) => v
                .as_u64()
                .and_then(|n| u16::try_from(n).ok())
                .ok_or_else(|| self.bad(field, "must be a port number (0-65535)")),
        }
    }

    pub fn strings(&self, field: &str) -> Result<Vec<String>, ApiError> {
        match self.get(field) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| self.bad(field, "must be a list of strings"))
                })
                .collect(),
            Some(_) => Err(self.bad(field, "must be a list of strings")),
        }
    }

    pub fn string_map(&self, field: &str) -> Result<BTreeMap<String, String>, ApiError> {
        match self.get(field) {
            None => Ok(BTreeMap::new()),
            Some(Value::Object(map)) => map
                .iter()
                .map(|(k, v)| {
                    v.as_str()
                        .map(|s| (k.clone(), s.to_owned()))
                        .ok_or_else(|| self.bad(field, "must map strings to strings"))
                })
                .collect(),
            Some(_) => Err(self.bad(field, "must be an object of strings")),
        }
    }

    /// A duration: Go's syntax in a string, or nanoseconds as a number; 0 if absent.
    pub fn duration(&self, field: &str) -> Result<i64, ApiError> {
        let ns = match self.get(field) {
            None => return Ok(0),
            Some(Value::String(s)) if s.is_empty() => 0,
            Some(Value::String(s)) => Duration::parse(s)
                .map_err(|e| self.bad(field, &format!("is not a duration: {e}")))?
                .as_nanos(),
            Some(Value::Number(n)) => n
                .as_i64()
                .ok_or_else(|| self.bad(field, "must be a whole number of nanoseconds"))?,
            Some(_) => return Err(self.bad(field, "must be a duration such as \"10s\"")),
        };
        if ns < 0 {
            return Err(self.bad(field, "must not be negative"));
        }
        Ok(ns)
    }

    pub fn object(&self, field: &str) -> Result<Option<Fields>, ApiError> {
        self.get(field)
            .map(|v| Self::from_value(self.name(field), v.clone()))
            .transpose()
    }

    pub fn objects(&self, field: &str) -> Result<Vec<Fields>, ApiError> {
        match self.get(field) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .filter(|(_, v)| !v.is_null())
                .map(|(i, v)| Self::from_value(format!("{}[{i}]", self.name(field)), v.clone()))
                .collect(),
            Some(_) => Err(self.bad(field, "must be a list of objects")),
        }
    }

    /// Whether a member holds something: not absent, `""`, `[]`, `{}` or `false`.
    fn is_set(&self, field: &str) -> bool {
        match self.get(field) {
            None | Some(Value::Null | Value::Bool(false)) => false,
            Some(Value::String(s)) => !s.is_empty(),
            Some(Value::Array(a)) => !a.is_empty(),
            Some(Value::Object(o)) => !o.is_empty(),
            Some(Value::Number(_)) => true,
            Some(Value::Bool(true)) => true,
        }
    }
}

/// A service definition (`PUT /v1/agent/service/register`'s body, or the `Service`
/// of a catalog registration, whose name is in `Service`). The node, provider and
/// datacenter are the caller's to set.
pub(super) fn service(body: &Fields) -> Result<ServiceRegistration, ApiError> {
    let mut name = body.string("Name")?;
    if name.is_empty() {
        name = body.string("Service")?;
    }
    if name.is_empty() {
        return Err(ApiError::bad_request("Missing service name"));
    }
    let kind = body.string("Kind")?;
    if !kind.is_empty() {
        return Err(ApiError::bad_request(format!(
            "service kind {kind:?} is not supported (Connect is not available yet)"
        )));
    }
    for unsupported in ["Connect", "Proxy"] {
        if body.is_set(unsupported) {
            return Err(ApiError::bad_request(format!(
                "{unsupported} is not supported yet"
            )));
        }
    }
    let id = match body.string("ID")? {
        id if id.is_empty() => name.clone(),
        id => id,
    };
    let weights = body
        .object("Weights")?
        .map(|w| -> Result<ServiceWeights, ApiError> {
            let number = |field: &str| match w.get(field) {
                None => Ok(1),
                Some(v) => v
                    .as_i64()
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| w.bad(field, "must be a whole number")),
            };
            Ok(ServiceWeights {
                passing: number("Passing")?,
                warning: number("Warning")?,
            })
        })
        .transpose()?;
    if weights.is_some_and(|w| w.passing < 1) {
        return Err(ApiError::bad_request("Passing must be greater than 0"));
    }
    let mut reg = ServiceRegistration {
        id,
        service_name: name,
        tags: body.strings("Tags")?,
        address: body.string("Address")?,
        port: body.port("Port")?,
        meta: body.string_map("Meta")?,
        enable_tag_override: body.bool("EnableTagOverride")?,
        weights,
        ..ServiceRegistration::default()
    };
    let mut defs: Vec<Fields> = body.object("Check")?.into_iter().collect();
    defs.extend(body.objects("Checks")?);
    let several = defs.len() > 1;
    for (i, def) in defs.iter().enumerate() {
        let default_id = if several {
            format!("service:{}:{}", reg.id, i + 1)
        } else {
            format!("service:{}", reg.id)
        };
        let default_name = format!("Service '{}' check", reg.service_name);
        reg.checks.push(check(def, &default_id, &default_name)?);
    }
    reg.health = reg.health_from_checks();
    Ok(reg)
}

/// A check definition. Its id is `CheckID` (or `ID`), else `default_id`; its name
/// `Name`, else `default_name`. TTL checks, and HTTP and TCP checks (stored for a
/// client to run), are accepted; the others are refused.
pub(super) fn check(
    def: &Fields,
    default_id: &str,
    default_name: &str,
) -> Result<CheckStatus, ApiError> {
    let mut check_id = def.string("CheckID")?;
    if check_id.is_empty() {
        check_id = def.string("ID")?;
    }
    if check_id.is_empty() {
        check_id = default_id.to_owned();
    }
    let mut name = def.string("Name")?;
    if name.is_empty() {
        name = default_name.to_owned();
    }
    if name.is_empty() {
        return Err(ApiError::bad_request("Missing check name"));
    }
    if def.is_set("Args") || def.is_set("ScriptArgs") || def.is_set("Script") {
        return Err(ApiError::bad_request(
            "Scripts are disabled on this agent; to enable, configure \
             'enable_script_checks' or 'enable_local_script_checks' to true",
        ));
    }
    for (field, what) in [
        ("GRPC", "gRPC"),
        ("H2PING", "H2PING"),
        ("UDP", "UDP"),
        ("OSService", "OS service"),
        ("DockerContainerID", "docker"),
        ("AliasService", "alias"),
        ("AliasNode", "alias"),
    ] {
        if def.is_set(field) {
            return Err(ApiError::bad_request(format!(
                "{what} checks are not supported yet: use a TTL, HTTP or TCP check"
            )));
        }
    }
    let ttl = def.duration("TTL")?;
    let http = def.string("HTTP")?;
    let tcp = def.string("TCP")?;
    let interval = def.duration("Interval")?;
    let check_type = match (ttl > 0, !http.is_empty(), !tcp.is_empty()) {
        (true, false, false) => "ttl",
        (false, true, false) => "http",
        (false, false, true) => "tcp",
        (false, false, false) => {
            return Err(ApiError::bad_request(
                "Invalid check: a check needs one of TTL, HTTP or TCP",
            ));
        }
        _ => {
            return Err(ApiError::bad_request(
                "Invalid check: give only one of TTL, HTTP or TCP",
            ));
        }
    };
    if check_type != "ttl" && interval == 0 {
        return Err(ApiError::bad_request(
            "Invalid check: Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or GRPC checks",
        ));
    }
    let status = match def.string("Status")?.as_str() {
        "" => HealthStatus::Critical,
        s => s.parse::<HealthStatus>().map_err(|_| {
            ApiError::bad_request(format!(
                "Invalid check status {s:?}: expected passing, warning or critical"
            ))
        })?,
    };
    Ok(CheckStatus {
        name,
        check_type: check_type.to_owned(),
        status,
        check_id,
        notes: def.string("Notes")?,
        ttl,
        http,
        method: def.string("Method")?,
        tcp,
        interval: if check_type == "ttl" { 0 } else { interval },
        timeout: def.duration("Timeout")?,
        ..CheckStatus::default()
    })
}

/// A check as a catalog registration gives it (`structs.HealthCheck`): a status to
/// show (critical when absent), with its name, notes and output; nothing runs it.
pub(super) fn check_status_only(def: &Fields, service_id: &str) -> Result<CheckStatus, ApiError> {
    let status = match def.string("Status")?.as_str() {
        "" => HealthStatus::Critical,
        s => s.parse::<HealthStatus>().map_err(|_| {
            ApiError::bad_request(format!(
                "Invalid check status {s:?}: expected passing, warning or critical"
            ))
        })?,
    };
    let mut name = def.string("Name")?;
    if name.is_empty() {
        name = format!("Service '{service_id}' check");
    }
    Ok(CheckStatus {
        name,
        status,
        notes: def.string("Notes")?,
        output: def.string("Output")?,
        check_id: def.string("CheckID")?,
        ..CheckStatus::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(json: Value) -> Fields {
        Fields::from_body(json.to_string().as_bytes()).expect("an object")
    }

    #[test]
    fn names_match_in_any_case_and_snake_case() {
        let body = fields(serde_json::json!({
            "name": "web", "PORT": 80, "enable_tag_override": true, "Tags": null,
        }));
        let reg = service(&body).expect("valid");
        assert_eq!((reg.id.as_str(), reg.port), ("web", 80));
        assert!(reg.enable_tag_override);
        assert!(reg.tags.is_empty());
    }

    #[test]
    fn check_ids_follow_consuls_defaults() {
        let one =
            fields(serde_json::json!({"Name": "web", "ID": "web-1", "Check": {"TTL": "10s"}}));
        let reg = service(&one).expect("valid");
        assert_eq!(reg.checks[0].check_id, "service:web-1");
        assert_eq!(reg.checks[0].name, "Service 'web' check");
        assert_eq!(reg.checks[0].ttl, 10_000_000_000);
        assert_eq!(reg.checks[0].status, HealthStatus::Critical);
        assert_eq!(reg.health, HealthStatus::Critical);
        let two = fields(serde_json::json!({"Name": "web", "Checks": [
            {"TTL": "10s"},
            {"HTTP": "http://127.0.0.1:80/health", "Interval": "5s", "CheckID": "mine", "Status": "passing"},
        ]}));
        let reg = service(&two).expect("valid");
        let ids: Vec<&str> = reg.checks.iter().map(|c| c.check_id.as_str()).collect();
        assert_eq!(ids, ["service:web:1", "mine"]);
        assert_eq!(reg.checks[1].check_type, "http");
        assert_eq!(reg.checks[1].status, HealthStatus::Passing);
        assert_eq!(reg.checks[1].interval, 5_000_000_000);
    }

    #[test]
    fn bad_definitions_are_400s() {
        for bad in [
            serde_json::json!({}),
            serde_json::json!({"Name": "web", "Port": -1}),
            serde_json::json!({"Name": "web", "Port": "80"}),
            serde_json::json!({"Name": "web", "Kind": "connect-proxy"}),
            serde_json::json!({"Name": "web", "Check": {"Args": ["/bin/true"], "Interval": "5s"}}),
            serde_json::json!({"Name": "web", "Check": {"HTTP": "http://x"}}),
            serde_json::json!({"Name": "web", "Check": {}}),
            serde_json::json!({"Name": "web", "Check": {"TTL": "10s", "TCP": "x:1"}}),
            serde_json::json!({"Name": "web", "Check": {"TTL": "ten"}}),
            serde_json::json!({"Name": "web", "Check": {"TTL": "10s", "Status": "ok"}}),
            serde_json::json!({"Name": "web", "Check": {"GRPC": "x:1", "Interval": "5s"}}),
            serde_json::json!({"Name": "web", "Weights": {"Passing": 0}}),
        ] {
            let what = bad.to_string();
            let err = service(&fields(bad)).expect_err(&what);
            assert!(matches!(err, ApiError::BadRequest(_)), "{what}: {err:?}");
        }
        assert!(Fields::from_body(b"[1]").is_err());
        assert!(Fields::from_body(b"").is_err());
    }
}
