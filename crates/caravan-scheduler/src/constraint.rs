//! Constraint and affinity operands evaluated against a node.

use std::collections::BTreeMap;

use caravan_model::{Constraint, Node};
use regex::Regex;

use crate::version;

/// Resolves a constraint target against a node: `${attr.*}`, `${meta.*}`,
/// `${node.unique.id}`, `${node.unique.name}`, `${node.datacenter}`, `${node.class}`,
/// `${node.pool}`; anything not interpolated is a literal. `None` when the node has no
/// such value.
pub(crate) fn resolve<'n>(target: &'n str, node: &'n Node) -> Option<&'n str> {
    let Some(inner) = target.strip_prefix("${").and_then(|t| t.strip_suffix('}')) else {
        return Some(target);
    };
    if let Some(attr) = inner.strip_prefix("attr.") {
        return node.attributes.get(attr).map(String::as_str);
    }
    if let Some(key) = inner.strip_prefix("meta.") {
        return node.meta.get(key).map(String::as_str);
    }
    match inner {
        "node.unique.id" => Some(node.id.as_str()),
        "node.unique.name" => Some(node.name.as_str()),
        "node.datacenter" => Some(node.datacenter.as_str()),
        "node.class" => Some(node.node_class.as_str()),
        "node.pool" => Some(if node.node_pool.is_empty() {
            "default"
        } else {
            &node.node_pool
        }),
        _ => None,
    }
}

/// How a constraint is shown in placement failures: `${attr.kernel.name} = windows`.
pub(crate) fn describe(c: &Constraint) -> String {
    format!("{} {} {}", c.l_target, c.operand, c.r_target)
        .trim_end()
        .to_owned()
}

/// Evaluates operands, caching compiled regular expressions for the run.
#[derive(Debug, Default)]
pub(crate) struct Matcher {
    regexes: BTreeMap<String, Option<Regex>>,
}

impl Matcher {
    /// Whether `node` satisfies `l_target operand r_target`. `distinct_hosts` and
    /// `distinct_property` depend on other placements and are not judged here (true).
    pub fn matches(&mut self, node: &Node, l_target: &str, operand: &str, r_target: &str) -> bool {
        let l = resolve(l_target, node);
        let r = resolve(r_target, node);
        match operand {
            "=" | "==" | "is" => l.is_some() && l == r,
            "!=" | "not" => l != r,
            "<" | "<=" | ">" | ">=" => match (l, r) {
                (Some(l), Some(r)) => compare(l, r).is_some_and(|ord| match operand {
                    "<" => ord.is_lt(),
                    "<=" => ord.is_le(),
                    ">" => ord.is_gt(),
                    _ => ord.is_ge(),
                }),
                _ => false,
            },
            "regexp" => match (l, r) {
                (Some(l), Some(r)) => self.regex(r).is_some_and(|re| re.is_match(l)),
                _ => false,
            },
            "version" | "semver" => match (l, r) {
                (Some(l), Some(r)) => version::satisfies(r, l).unwrap_or(false),
                _ => false,
            },
            "set_contains" | "set_contains_all" => match (l, r) {
                (Some(l), Some(r)) => {
                    let have = split_set(l);
                    split_set(r).iter().all(|item| have.contains(item))
                }
                _ => false,
            },
            "set_contains_any" => match (l, r) {
                (Some(l), Some(r)) => {
                    let have = split_set(l);
                    split_set(r).iter().any(|item| have.contains(item))
                }
                _ => false,
            },
            "is_set" => l.is_some(),
            "is_not_set" => l.is_none(),
            "distinct_hosts" | "distinct_property" => true,
            _ => false,
        }
    }

    pub fn constraint(&mut self, node: &Node, c: &Constraint) -> bool {
        self.matches(node, &c.l_target, &c.operand, &c.r_target)
    }

    fn regex(&mut self, pattern: &str) -> Option<&Regex> {
        self.regexes
            .entry(pattern.to_owned())
            .or_insert_with(|| Regex::new(pattern).ok())
            .as_ref()
    }
}

fn split_set(s: &str) -> Vec<&str> {
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .collect()
}

/// Numbers compare as numbers (integers, then floats), anything else as text.
fn compare(l: &str, r: &str) -> Option<std::cmp::Ordering> {
    if let (Ok(a), Ok(b)) = (l.parse::<i64>(), r.parse::<i64>()) {
        return Some(a.cmp(&b));
    }
    if let (Ok(a), Ok(b)) = (l.parse::<f64>(), r.parse::<f64>()) {
        return a.partial_cmp(&b);
    }
    Some(l.cmp(r))
}

/// Whether a datacenter matches one of a job's patterns (`*` matches any run of
/// characters, anywhere). No patterns means every datacenter, as Nomad's default `["*"]`.
pub(crate) fn datacenter_matches(patterns: &[String], dc: &str) -> bool {
    patterns.is_empty() || patterns.iter().any(|p| glob(p, dc))
}

fn glob(pattern: &str, text: &str) -> bool {
    let Some((first, rest)) = pattern.split_once('*') else {
        return pattern == text;
    };
    let Some(mut remaining) = text.strip_prefix(first) else {
        return false;
    };
    let mut pieces: Vec<&str> = rest.split('*').collect();
    let last = pieces.pop().unwrap_or("");
    for piece in pieces {
        match remaining.find(piece) {
            Some(at) => remaining = &remaining[at + piece.len()..],
            None => return false,
        }
    }
    remaining.len() >= last.len() && remaining.ends_with(last)
}

/// Whether a node is in the job's node pool (`all` matches every pool; empty is `default`).
pub(crate) fn pool_matches(job_pool: Option<&str>, node_pool: &str) -> bool {
    let job_pool = job_pool.filter(|p| !p.is_empty()).unwrap_or("default");
    let node_pool = if node_pool.is_empty() {
        "default"
    } else {
        node_pool
    };
    job_pool == "all" || job_pool == node_pool
}

/// Whether a driver is usable on the node: fingerprinted as detected and healthy, or,
/// for nodes that report only attributes, `driver.<name>` set to a true value.
pub(crate) fn driver_ok(node: &Node, driver: &str) -> bool {
    if let Some(info) = node.drivers.get(driver) {
        return info.detected && info.healthy;
    }
    node.attributes
        .get(&format!("driver.{driver}"))
        .is_some_and(|v| matches!(v.as_str(), "1" | "true"))
}

#[cfg(test)]
mod tests {
    use caravan_model::{DriverInfo, NodeId};

    use super::*;

    fn node() -> Node {
        let mut node = Node {
            id: NodeId::from("abc-123"),
            name: "worker-1".into(),
            datacenter: "us-east-1a".into(),
            node_class: "compute".into(),
            ..Node::default()
        };
        for (k, v) in [
            ("kernel.name", "linux"),
            ("cpu.numcores", "8"),
            ("os.version", "22.04"),
            ("nomad.version", "1.7.3"),
            ("cpu.frequency", "2400.5"),
            ("driver.exec", "1"),
        ] {
            node.attributes.insert(k.into(), v.into());
        }
        node.meta.insert("tags".into(), "ssd, gpu,fast".into());
        node.meta.insert("rack".into(), "r12".into());
        node.drivers.insert(
            "docker".into(),
            DriverInfo {
                detected: true,
                healthy: false,
                ..DriverInfo::default()
            },
        );
        node.drivers.insert(
            "raw_exec".into(),
            DriverInfo {
                detected: true,
                healthy: true,
                ..DriverInfo::default()
            },
        );
        node
    }

    fn check(l: &str, op: &str, r: &str) -> bool {
        Matcher::default().matches(&node(), l, op, r)
    }

    #[test]
    fn resolves_targets() {
        let n = node();
        assert_eq!(resolve("${node.unique.id}", &n), Some("abc-123"));
        assert_eq!(resolve("${node.unique.name}", &n), Some("worker-1"));
        assert_eq!(resolve("${node.datacenter}", &n), Some("us-east-1a"));
        assert_eq!(resolve("${node.class}", &n), Some("compute"));
        assert_eq!(resolve("${node.pool}", &n), Some("default"));
        assert_eq!(resolve("${meta.rack}", &n), Some("r12"));
        assert_eq!(resolve("${attr.missing}", &n), None);
        assert_eq!(resolve("${node.bogus}", &n), None);
        assert_eq!(resolve("linux", &n), Some("linux"));
    }

    #[test]
    fn equality_and_order() {
        assert!(check("${attr.kernel.name}", "=", "linux"));
        assert!(check("${attr.kernel.name}", "==", "linux"));
        assert!(!check("${attr.kernel.name}", "=", "windows"));
        assert!(check("${attr.kernel.name}", "!=", "windows"));
        assert!(
            check("${attr.missing}", "!=", "x"),
            "a missing value differs from anything"
        );
        assert!(!check("${attr.missing}", "=", "${attr.missing2}"));
        assert!(check("${attr.cpu.numcores}", ">=", "4"));
        assert!(
            !check("${attr.cpu.numcores}", ">", "10"),
            "numeric, not lexical"
        );
        assert!(check("${attr.cpu.frequency}", ">", "2400"));
        assert!(check("${meta.rack}", "<", "r2"), "lexical for words");
    }

    #[test]
    fn regexp_version_sets_and_presence() {
        assert!(check("${attr.kernel.name}", "regexp", "^lin"));
        assert!(check("${meta.rack}", "regexp", r"^r\d+$"));
        assert!(!check("${meta.rack}", "regexp", "(unclosed"));
        assert!(check("${attr.nomad.version}", "version", ">= 1.6, < 1.8"));
        assert!(check("${attr.os.version}", "semver", "~> 22.0"));
        assert!(!check("${attr.nomad.version}", "version", "< 1.7"));
        assert!(check("${meta.tags}", "set_contains", "gpu,ssd"));
        assert!(check("${meta.tags}", "set_contains_all", "fast"));
        assert!(!check("${meta.tags}", "set_contains", "gpu,tpu"));
        assert!(check("${meta.tags}", "set_contains_any", "tpu,gpu"));
        assert!(check("${meta.rack}", "is_set", ""));
        assert!(check("${meta.zone}", "is_not_set", ""));
        assert!(!check("${meta.rack}", "is_not_set", ""));
        assert!(!check("${meta.rack}", "frobnicate", "x"));
    }

    #[test]
    fn datacenter_globs() {
        let dcs = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(datacenter_matches(&dcs(&["*"]), "anything"));
        assert!(datacenter_matches(&dcs(&[]), "anything"));
        assert!(datacenter_matches(&dcs(&["us-east-*"]), "us-east-1a"));
        assert!(datacenter_matches(&dcs(&["eu-*", "us-*-1a"]), "us-east-1a"));
        assert!(!datacenter_matches(&dcs(&["us-west-*"]), "us-east-1a"));
        assert!(datacenter_matches(&dcs(&["dc1"]), "dc1"));
        assert!(!datacenter_matches(&dcs(&["dc1"]), "dc10"));
        assert!(datacenter_matches(&dcs(&["*1a"]), "us-east-1a"));
        assert!(!datacenter_matches(&dcs(&["a*a"]), "a"));
    }

    #[test]
    fn pools_and_drivers() {
        assert!(pool_matches(None, ""));
        assert!(pool_matches(Some("all"), "gpu"));
        assert!(!pool_matches(Some("gpu"), "default"));
        assert!(pool_matches(Some("default"), ""));
        let n = node();
        assert!(driver_ok(&n, "raw_exec"));
        assert!(!driver_ok(&n, "docker"), "unhealthy");
        assert!(driver_ok(&n, "exec"), "from attributes");
        assert!(!driver_ok(&n, "java"));
    }
}
