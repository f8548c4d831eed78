//! The query behind `nomadService`: `"[tag.]name[@region]"`, optionally sharded with
//! `choose`.

use std::fmt;

use crate::QueryError;

/// What a `nomadService` call asks the catalog for.
///
/// The [`Context`](crate::Context) receives the whole query, and the tag filter is
/// applied again by this crate (as consul-template does it client-side, an exact
/// match on one tag), so a context may ignore `tag`. `choose` must be applied by
/// the context: it is the server's rendezvous selection (`?choose=<count>|<key>`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceQuery {
    /// The service name.
    pub name: String,
    /// Only instances carrying this tag.
    pub tag: Option<String>,
    /// The `@region` suffix, when given.
    pub region: Option<String>,
    /// The 3-argument form's `<count> "<key>"`.
    pub choose: Option<Choose>,
}

/// Rendezvous selection of `count` instances by `key` (Nomad's `?choose=`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Choose {
    /// How many instances to keep.
    pub count: u32,
    /// The hashing key, typically the allocation id.
    pub key: String,
}

impl ServiceQuery {
    /// A query for every instance of `name`.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            tag: None,
            region: None,
            choose: None,
        }
    }

    /// Reads `"[tag.]name[@region]"` (consul-template's `NewNomadServiceQuery`).
    pub fn parse(s: &str) -> Result<Self, QueryError> {
        let err = |reason: &str| QueryError::new("nomadService", s, reason);
        let (head, region) = match s.split_once('@') {
            Some((head, region)) => {
                if !valid(region, is_region_char) {
                    return Err(err(
                        "the region may hold only letters, digits, '_', '-', '.'",
                    ));
                }
                (head, Some(region.to_string()))
            }
            None => (s, None),
        };
        let (tag, name) = split_tag(head);
        if !valid(name, is_name_char) {
            return Err(err("the name may hold only letters, digits, '_' and '-'"));
        }
        if let Some(tag) = tag
            && !valid(tag, is_tag_char)
        {
            return Err(err(
                "the tag may hold only letters, digits, '_', '-', '.', ':', '='",
            ));
        }
        Ok(Self {
            name: name.to_string(),
            tag: tag.map(str::to_string),
            region,
            choose: None,
        })
    }

    /// Adds the sharding of the 3-argument form.
    pub fn with_choose(mut self, count: u32, key: impl Into<String>) -> Self {
        self.choose = Some(Choose {
            count,
            key: key.into(),
        });
        self
    }
}

impl fmt::Display for ServiceQuery {
    /// The query as a template would write it, choose first: `2|alloc-1:db.redis@eu`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(choose) = &self.choose {
            write!(f, "{}|{}:", choose.count, choose.key)?;
        }
        if let Some(tag) = &self.tag {
            write!(f, "{tag}.")?;
        }
        f.write_str(&self.name)?;
        if let Some(region) = &self.region {
            write!(f, "@{region}")?;
        }
        Ok(())
    }
}

/// `tag.name` splits at the last dot: tags may hold dots, names may not.
pub(crate) fn split_tag(s: &str) -> (Option<&str>, &str) {
    match s.rsplit_once('.') {
        Some((tag, name)) => (Some(tag), name),
        None => (None, s),
    }
}

pub(crate) fn valid(s: &str, char_ok: fn(char) -> bool) -> bool {
    !s.is_empty() && s.chars().all(char_ok)
}

/// RE2's `[[:word:]]`.
fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

pub(crate) fn is_name_char(c: char) -> bool {
    is_word(c) || c == '-'
}

pub(crate) fn is_tag_char(c: char) -> bool {
    is_word(c) || matches!(c, '=' | ':' | '.' | '-')
}

pub(crate) fn is_region_char(c: char) -> bool {
    is_word(c) || matches!(c, '.' | '-')
}

pub(crate) fn is_query_char(c: char) -> bool {
    is_word(c) || matches!(c, '-' | '=' | '&')
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_three_parts() {
        let q = ServiceQuery::parse("db.v1.redis@eu-west").unwrap();
        assert_eq!(q.tag.as_deref(), Some("db.v1"));
        assert_eq!(q.name, "redis");
        assert_eq!(q.region.as_deref(), Some("eu-west"));
        assert_eq!(q.to_string(), "db.v1.redis@eu-west");
        assert_eq!(
            ServiceQuery::parse("redis").unwrap(),
            ServiceQuery::new("redis")
        );
    }

    #[test]
    fn refuses_bad_names() {
        for bad in [
            "",
            "re dis",
            "redis@",
            "redis@eu west",
            ".redis",
            "a b.redis",
            "redis?x",
        ] {
            assert!(
                ServiceQuery::parse(bad).is_err(),
                "{bad:?} should be refused"
            );
        }
    }
}
