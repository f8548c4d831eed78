//! The query behind `service`:
//! `"[tag.]name[?ns=..&peer=..][@dc][~near][|filter]"`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::service_query::{
    is_name_char, is_query_char, is_region_char, is_tag_char, split_tag, valid,
};
use crate::{Health, QueryError};

/// What a `service` call asks the catalog for. Instances are filtered by `filter`
/// in this crate (so a context may return every instance of the name), and by `tag`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConsulServiceQuery {
    /// The service name.
    pub name: String,
    /// Only instances carrying this tag.
    pub tag: Option<String>,
    /// `@dc`.
    pub datacenter: Option<String>,
    /// `~near` (sort by distance from a node; kept for the context, not applied here).
    pub near: Option<String>,
    /// `?ns=..&peer=..&partition=..` parameters.
    pub params: BTreeMap<String, String>,
    /// Which health states are kept: passing only unless `|any` or `|passing,warning`.
    pub filter: HealthFilter,
}

/// Which instances `service` returns, by aggregated check status.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HealthFilter {
    /// Every instance (`|any`).
    Any,
    /// Instances in one of these states (`|passing,warning`).
    Only(BTreeSet<Health>),
}

impl Default for HealthFilter {
    /// Passing only, Consul's `?passing=1`.
    fn default() -> Self {
        HealthFilter::Only(BTreeSet::from([Health::Passing]))
    }
}

impl HealthFilter {
    /// Reads `any` or a comma-separated list of `passing`, `warning`, `critical`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut states = BTreeSet::new();
        for word in s.split(',').map(str::trim) {
            if word == "any" {
                return Ok(HealthFilter::Any);
            }
            match Health::from_name(word) {
                Some(h) => {
                    states.insert(h);
                }
                None => {
                    return Err(format!(
                        "unknown health filter {word:?} (expected any, passing, warning or critical)"
                    ));
                }
            }
        }
        Ok(HealthFilter::Only(states))
    }

    /// Whether an instance in state `health` is kept.
    pub fn admits(&self, health: Health) -> bool {
        match self {
            HealthFilter::Any => true,
            HealthFilter::Only(states) => states.contains(&health),
        }
    }
}

impl fmt::Display for HealthFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HealthFilter::Any => f.write_str("any"),
            HealthFilter::Only(states) => {
                let names: Vec<&str> = states.iter().map(|h| h.as_str()).collect();
                f.write_str(&names.join(","))
            }
        }
    }
}

impl ConsulServiceQuery {
    /// A query for the passing instances of `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            tag: None,
            datacenter: None,
            near: None,
            params: BTreeMap::new(),
            filter: HealthFilter::default(),
        }
    }

    /// Reads consul-template's `service` argument.
    pub fn parse(s: &str) -> Result<Self, QueryError> {
        let err = |reason: String| QueryError::new("service", s, reason);
        let (rest, filter) = match s.split_once('|') {
            Some((rest, filter)) => (rest, HealthFilter::parse(filter).map_err(err)?),
            None => (s, HealthFilter::default()),
        };
        let (rest, near) = split_suffix(rest, '~');
        let (rest, datacenter) = split_suffix(rest, '@');
        let (rest, query) = split_suffix(rest, '?');
        for (what, part) in [("near", near), ("datacenter", datacenter)] {
            if let Some(part) = part
                && !valid(part, is_region_char)
            {
                return Err(err(format!(
                    "the {what} may hold only letters, digits, '_', '-', '.'"
                )));
            }
        }
        let mut params = BTreeMap::new();
        if let Some(query) = query {
            if !valid(query, is_query_char) {
                return Err(err("malformed ?query".to_string()));
            }
            for pair in query.split('&').filter(|p| !p.is_empty()) {
                let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
                params.insert(k.to_string(), v.to_string());
            }
        }
        let (tag, name) = split_tag(rest);
        if !valid(name, is_name_char) {
            return Err(err(
                "the name may hold only letters, digits, '_' and '-'".to_string()
            ));
        }
        if let Some(tag) = tag
            && !valid(tag, is_tag_char)
        {
            return Err(err(
                "the tag may hold only letters, digits, '_', '-', '.', ':', '='".to_string(),
            ));
        }
        Ok(Self {
            name: name.to_string(),
            tag: tag.map(str::to_string),
            datacenter: datacenter.map(str::to_string),
            near: near.map(str::to_string),
            params,
            filter,
        })
    }
}

fn split_suffix(s: &str, sep: char) -> (&str, Option<&str>) {
    match s.split_once(sep) {
        Some((head, tail)) => (head, Some(tail)),
        None => (s, None),
    }
}

impl fmt::Display for ConsulServiceQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(tag) = &self.tag {
            write!(f, "{tag}.")?;
        }
        f.write_str(&self.name)?;
        if !self.params.is_empty() {
            let pairs: Vec<String> = self
                .params
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            write!(f, "?{}", pairs.join("&"))?;
        }
        if let Some(dc) = &self.datacenter {
            write!(f, "@{dc}")?;
        }
        if let Some(near) = &self.near {
            write!(f, "~{near}")?;
        }
        write!(f, "|{}", self.filter)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_part() {
        let q = ConsulServiceQuery::parse("prod.web?ns=team&peer=p1@dc2~node1|passing, warning")
            .unwrap();
        assert_eq!(q.tag.as_deref(), Some("prod"));
        assert_eq!(q.name, "web");
        assert_eq!(q.datacenter.as_deref(), Some("dc2"));
        assert_eq!(q.near.as_deref(), Some("node1"));
        assert_eq!(q.params.get("ns").map(String::as_str), Some("team"));
        assert_eq!(
            q.filter,
            HealthFilter::Only(BTreeSet::from([Health::Passing, Health::Warning]))
        );
        assert_eq!(
            q.to_string(),
            "prod.web?ns=team&peer=p1@dc2~node1|passing,warning"
        );
    }

    #[test]
    fn defaults_to_passing_and_reads_any() {
        assert_eq!(
            ConsulServiceQuery::parse("web").unwrap().filter,
            HealthFilter::default()
        );
        assert_eq!(
            ConsulServiceQuery::parse("web|any").unwrap().filter,
            HealthFilter::Any
        );
        assert!(ConsulServiceQuery::parse("web|healthy").is_err());
        assert!(ConsulServiceQuery::parse("we b").is_err());
    }
}
