//! The query parameters every endpoint shares: namespace, prefix, blocking (`index`,
//! `wait`), `pretty`, plus typed access to the others.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use caravan_state::DEFAULT_NAMESPACE;

use crate::ApiError;

/// How long a blocking query waits when `wait` is not given (Nomad's default).
pub(crate) const DEFAULT_WAIT: Duration = Duration::from_secs(5 * 60);
/// The longest a blocking query waits, whatever `wait` asks.
pub(crate) const MAX_WAIT: Duration = Duration::from_secs(10 * 60);

/// The namespace that means "every namespace" on list endpoints.
pub(crate) const ALL_NAMESPACES: &str = "*";

/// A request's query string, read once.
#[derive(Debug, Clone)]
pub(crate) struct QueryOptions {
    /// `default` unless given; `*` on a list means every namespace.
    pub namespace: String,
    /// `?prefix=`: keep only ids starting with it.
    pub prefix: String,
    /// `?index=`: the index the caller has seen; 0 answers at once.
    pub index: u64,
    /// `?wait=`: how long to block, capped at [`MAX_WAIT`].
    pub wait: Duration,
    /// `?pretty`: indented JSON.
    pub pretty: bool,
    params: BTreeMap<String, String>,
}

impl QueryOptions {
    pub fn from_params(params: BTreeMap<String, String>) -> Result<Self, ApiError> {
        let namespace = match params.get("namespace").map(String::as_str) {
            None | Some("") => DEFAULT_NAMESPACE.to_owned(),
            Some(ns) => ns.to_owned(),
        };
        let prefix = params.get("prefix").cloned().unwrap_or_default();
        let index = match params.get("index").map(String::as_str) {
            None | Some("") => 0,
            Some(s) => s
                .parse()
                .map_err(|_| ApiError::bad_request(format!("invalid index {s:?}")))?,
        };
        let wait = match params.get("wait").map(String::as_str) {
            None | Some("") => DEFAULT_WAIT,
            Some(s) => {
                let d = caravan_model::Duration::parse(s)
                    .map_err(|e| ApiError::bad_request(format!("invalid wait time: {e}")))?;
                if d.is_negative() {
                    return Err(ApiError::bad_request(format!(
                        "invalid wait time {s:?}: negative"
                    )));
                }
                d.to_std().min(MAX_WAIT)
            }
        };
        let mut q = Self {
            namespace,
            prefix,
            index,
            wait,
            pretty: false,
            params,
        };
        q.pretty = q.flag("pretty")?;
        Ok(q)
    }

    /// A raw parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// A boolean parameter in Go's `strconv.ParseBool` syntax; present and empty
    /// (`?pretty`) is true, absent is false.
    pub fn flag(&self, name: &str) -> Result<bool, ApiError> {
        match self.get(name) {
            None => Ok(false),
            Some("" | "1" | "t" | "T" | "true" | "TRUE" | "True") => Ok(true),
            Some("0" | "f" | "F" | "false" | "FALSE" | "False") => Ok(false),
            Some(other) => Err(ApiError::bad_request(format!(
                "invalid value for {name}: {other:?}"
            ))),
        }
    }

    /// An unsigned integer parameter.
    pub fn number(&self, name: &str) -> Result<Option<u64>, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(s) => s
                .parse()
                .map(Some)
                .map_err(|_| ApiError::bad_request(format!("invalid value for {name}: {s:?}"))),
        }
    }

    pub fn all_namespaces(&self) -> bool {
        self.namespace == ALL_NAMESPACES
    }

    /// Whether a row of `namespace` belongs in a list answering this query.
    pub fn in_namespace(&self, namespace: &str) -> bool {
        let namespace = if namespace.is_empty() {
            DEFAULT_NAMESPACE
        } else {
            namespace
        };
        self.all_namespaces() || self.namespace == namespace
    }

    /// The one namespace a job route acts in; `*` names none.
    pub fn single_namespace(&self) -> Result<&str, ApiError> {
        if self.all_namespaces() {
            return Err(ApiError::bad_request(
                "namespace \"*\" is only allowed on list endpoints",
            ));
        }
        Ok(&self.namespace)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for QueryOptions {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let Query(params) = Query::<BTreeMap<String, String>>::try_from_uri(&parts.uri)
            .map_err(|e| ApiError::bad_request(format!("invalid query string: {e}")))?;
        Self::from_params(params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> Result<QueryOptions, ApiError> {
        QueryOptions::from_params(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    }

    #[test]
    fn defaults() {
        let q = query(&[]).expect("valid");
        assert_eq!(q.namespace, "default");
        assert_eq!(q.index, 0);
        assert_eq!(q.wait, DEFAULT_WAIT);
        assert!(!q.pretty);
    }

    #[test]
    fn wait_uses_go_syntax_and_is_capped() {
        assert_eq!(
            query(&[("wait", "100ms")]).expect("valid").wait,
            Duration::from_millis(100)
        );
        assert_eq!(query(&[("wait", "1h")]).expect("valid").wait, MAX_WAIT);
        assert!(query(&[("wait", "5")]).is_err());
        assert!(query(&[("wait", "-5s")]).is_err());
        assert!(query(&[("index", "x")]).is_err());
    }

    #[test]
    fn namespaces() {
        let q = query(&[("namespace", "*")]).expect("valid");
        assert!(q.in_namespace("prod") && q.in_namespace(""));
        assert!(q.single_namespace().is_err());
        let q = query(&[]).expect("valid");
        assert!(q.in_namespace("") && !q.in_namespace("prod"));
    }

    #[test]
    fn flags() {
        let q = query(&[("pretty", ""), ("purge", "false"), ("bad", "maybe")]).expect("valid");
        assert!(q.pretty);
        assert_eq!(q.flag("purge"), Ok(false));
        assert_eq!(q.flag("absent"), Ok(false));
        assert!(q.flag("bad").is_err());
    }
}
