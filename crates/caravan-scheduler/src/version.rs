//! Version constraints (`version` and `semver` operands): dotted numeric versions with
//! an optional pre-release, compared part by part, and constraint lists such as
//! `">= 1.2, < 2.0"` or `"~> 1.4"`.

use std::cmp::Ordering;

/// A parsed version: numeric parts (missing ones read as 0, so `1.2` equals `1.2.0`)
/// and a pre-release tag.
#[derive(Debug, Clone)]
pub(crate) struct Version {
    parts: Vec<u64>,
    pre: String,
}

impl Version {
    /// `1`, `1.2.3`, `v1.2.3-beta.1+build`; build metadata is ignored.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        let s = s.strip_prefix('v').unwrap_or(s);
        let s = s.split_once('+').map_or(s, |(v, _)| v);
        let (core, pre) = s.split_once('-').unwrap_or((s, ""));
        let parts = core
            .split('.')
            .map(|p| p.parse().ok())
            .collect::<Option<Vec<u64>>>()?;
        if parts.is_empty() {
            return None;
        }
        Some(Self {
            parts,
            pre: pre.to_owned(),
        })
    }

    /// The exclusive upper bound of `~>`: the next release of the second-to-last part
    /// (`~> 1.2.3` allows `< 1.3`, `~> 1.2` allows `< 2`).
    fn pessimistic_bound(&self) -> Version {
        let mut parts = self.parts.clone();
        if parts.len() > 1 {
            parts.pop();
        }
        if let Some(last) = parts.last_mut() {
            *last += 1;
        }
        Version {
            parts,
            pre: String::new(),
        }
    }
}

impl Ord for Version {
    fn cmp(&self, other: &Self) -> Ordering {
        let n = self.parts.len().max(other.parts.len());
        for i in 0..n {
            let a = self.parts.get(i).copied().unwrap_or(0);
            let b = other.parts.get(i).copied().unwrap_or(0);
            match a.cmp(&b) {
                Ordering::Equal => {}
                unequal => return unequal,
            }
        }
        // A pre-release comes before its release.
        match (self.pre.is_empty(), other.pre.is_empty()) {
            (true, true) => Ordering::Equal,
            (true, false) => Ordering::Greater,
            (false, true) => Ordering::Less,
            (false, false) => compare_pre(&self.pre, &other.pre),
        }
    }
}

impl PartialEq for Version {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Version {}

impl PartialOrd for Version {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Dot-separated identifiers: numbers numerically and before words, words as text.
fn compare_pre(a: &str, b: &str) -> Ordering {
    let mut left = a.split('.');
    let mut right = b.split('.');
    loop {
        match (left.next(), right.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let ord = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(x), Ok(y)) => x.cmp(&y),
                    (Ok(_), Err(_)) => Ordering::Less,
                    (Err(_), Ok(_)) => Ordering::Greater,
                    (Err(_), Err(_)) => x.cmp(y),
                };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
        }
    }
}

/// Whether `version` satisfies every comma-separated clause of `constraint`. `None` when
/// either does not parse (the constraint then does not match).
pub(crate) fn satisfies(constraint: &str, version: &str) -> Option<bool> {
    let version = Version::parse(version)?;
    let mut ok = true;
    for clause in constraint.split(',') {
        let clause = clause.trim();
        let (op, rest) = ["~>", ">=", "<=", "!=", ">", "<", "="]
            .iter()
            .find_map(|op| clause.strip_prefix(op).map(|rest| (*op, rest)))
            .unwrap_or(("=", clause));
        let target = Version::parse(rest)?;
        ok &= match op {
            "~>" => version >= target && version < target.pessimistic_bound(),
            ">=" => version >= target,
            "<=" => version <= target,
            "!=" => version != target,
            ">" => version > target,
            "<" => version < target,
            _ => version == target,
        };
    }
    Some(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compares_dotted_versions() {
        assert_eq!(satisfies(">= 1.2", "1.10.0"), Some(true));
        assert_eq!(satisfies("> 1.2", "1.2.0"), Some(false));
        assert_eq!(satisfies(">= 1.2, < 2.0", "2.0.0"), Some(false));
        assert_eq!(satisfies(">= 1.2, < 2.0", "1.9.9"), Some(true));
        assert_eq!(satisfies("= 1.2", "1.2.0"), Some(true));
        assert_eq!(satisfies("1.2.0", "v1.2"), Some(true));
        assert_eq!(satisfies("!= 3", "3.0.0"), Some(false));
        assert_eq!(satisfies(">= 1", "banana"), None);
    }

    #[test]
    fn pessimistic_ranges() {
        assert_eq!(satisfies("~> 1.2.3", "1.2.9"), Some(true));
        assert_eq!(satisfies("~> 1.2.3", "1.3.0"), Some(false));
        assert_eq!(satisfies("~> 1.2", "1.9"), Some(true));
        assert_eq!(satisfies("~> 1.2", "2.0"), Some(false));
        assert_eq!(satisfies("~> 1.2", "1.1"), Some(false));
    }

    #[test]
    fn prereleases_sort_before_releases() {
        assert_eq!(satisfies("< 1.0.0", "1.0.0-beta.2"), Some(true));
        assert_eq!(satisfies("> 1.0.0-beta.2", "1.0.0-beta.10"), Some(true));
        assert_eq!(satisfies("> 1.0.0-alpha", "1.0.0-beta"), Some(true));
        assert_eq!(satisfies("= 1.0.0", "1.0.0+build5"), Some(true));
    }
}
