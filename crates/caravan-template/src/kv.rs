//! The KV side of the context: `key`, `keyOrDefault`, `keyExists`, `ls`, `tree`.

use std::fmt;

use crate::QueryError;

/// A KV path or prefix with its optional datacenter: `"path/to/key[@dc]"`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyQuery {
    /// The path (for `ls`/`tree`, the prefix), without a leading `/`.
    pub path: String,
    /// `@dc`.
    pub datacenter: Option<String>,
}

impl KeyQuery {
    /// A path in the local datacenter.
    pub fn new(path: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            datacenter: None,
        }
    }

    /// Reads `"[/]path[@dc]"` (consul-template's KV queries).
    pub fn parse(function: &'static str, s: &str) -> Result<Self, QueryError> {
        let s_trimmed = s.strip_prefix('/').unwrap_or(s);
        let (path, datacenter) = match s_trimmed.split_once('@') {
            Some((path, "")) => {
                return Err(QueryError::new(
                    function,
                    s,
                    format!("empty datacenter in {path:?}"),
                ));
            }
            Some((path, dc)) => (path, Some(dc.to_string())),
            None => (s_trimmed, None),
        };
        Ok(Self {
            path: path.to_string(),
            datacenter,
        })
    }
}

impl fmt::Display for KeyQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path)?;
        if let Some(dc) = &self.datacenter {
            write!(f, "@{dc}")?;
        }
        Ok(())
    }
}

/// One KV entry under a listed prefix.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyPair {
    /// The full path of the entry (a path ending in `/` is a folder).
    pub path: String,
    /// Its value, decoded.
    pub value: String,
}
