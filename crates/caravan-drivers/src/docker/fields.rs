//! Reading one block of a task's driver `config`, with errors that name the key.
//!
//! Values arrive in the shapes the job file parser and the client's interpolation
//! produce: a nested block is an object when it appears once and an array of
//! objects when it is repeated, and an interpolated number or boolean is a string.
//! Every reader accepts all of those.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::DriverError;

/// One block of driver config (the top level or a nested block), for one task.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Fields<'a> {
    task: &'a str,
    /// Where the block is, for error messages: `""` at the top, `"mount[1]."` inside.
    path: &'a str,
    map: &'a Map<String, Value>,
}

impl<'a> Fields<'a> {
    pub(crate) fn new(task: &'a str, path: &'a str, map: &'a Map<String, Value>) -> Self {
        Self { task, path, map }
    }

    /// The error for `key` of this block.
    pub(crate) fn invalid(&self, key: &str, reason: impl Into<String>) -> DriverError {
        DriverError::InvalidConfig {
            task: self.task.to_owned(),
            key: format!("{}{key}", self.path),
            reason: reason.into(),
        }
    }

    /// Whether `key` is present (and not null).
    pub(crate) fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    /// A string (numbers and booleans as written); `None` when absent or empty.
    pub(crate) fn string(&self, key: &str) -> Result<Option<String>, DriverError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => match scalar(v) {
                Some(s) if s.is_empty() => Ok(None),
                Some(s) => Ok(Some(s)),
                None => Err(self.invalid(key, "must be a string")),
            },
        }
    }

    /// A list of strings; absent is empty.
    pub(crate) fn strings(&self, key: &str) -> Result<Vec<String>, DriverError> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| {
                    scalar(item).ok_or_else(|| self.invalid(key, "must be a list of strings"))
                })
                .collect(),
            Some(_) => Err(self.invalid(key, "must be a list of strings")),
        }
    }

    /// A boolean, also written `"true"`/`"false"`/`"1"`/`"0"`; absent is false.
    pub(crate) fn bool(&self, key: &str) -> Result<bool, DriverError> {
        match self.get(key) {
            None => Ok(false),
            Some(Value::Bool(b)) => Ok(*b),
            Some(Value::String(s)) => match s.trim() {
                "true" | "1" => Ok(true),
                "false" | "0" | "" => Ok(false),
                _ => Err(self.invalid(key, format!("{s:?} is not a boolean"))),
            },
            Some(_) => Err(self.invalid(key, "must be a boolean")),
        }
    }

    /// An integer, also written as a string of digits.
    pub(crate) fn int(&self, key: &str) -> Result<Option<i64>, DriverError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| self.invalid(key, "must be an integer")),
            Some(Value::String(s)) => s
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| self.invalid(key, format!("{s:?} is not an integer"))),
            Some(_) => Err(self.invalid(key, "must be an integer")),
        }
    }

    /// A map of strings, written as an attribute (`labels = {...}`) or as one or more
    /// blocks (`labels { ... }`), which are merged.
    pub(crate) fn string_map(&self, key: &str) -> Result<BTreeMap<String, String>, DriverError> {
        let mut out = BTreeMap::new();
        for block in self.objects(key)? {
            for (k, v) in block {
                if v.is_null() {
                    continue;
                }
                let v = scalar(v).ok_or_else(|| {
                    self.invalid(key, format!("the value of {k:?} must be a string"))
                })?;
                out.insert(k.clone(), v);
            }
        }
        Ok(out)
    }

    /// The blocks called `key`: none, one or several.
    pub(crate) fn blocks(&self, key: &str) -> Result<Vec<&'a Map<String, Value>>, DriverError> {
        self.objects(key)
    }

    /// The one block called `key`, if present.
    pub(crate) fn block(&self, key: &str) -> Result<Option<&'a Map<String, Value>>, DriverError> {
        let mut blocks = self.objects(key)?;
        match blocks.len() {
            0 | 1 => Ok(blocks.pop()),
            n => Err(self.invalid(key, format!("may appear once, not {n} times"))),
        }
    }

    fn objects(&self, key: &str) -> Result<Vec<&'a Map<String, Value>>, DriverError> {
        match self.get(key) {
            None => Ok(Vec::new()),
            Some(Value::Object(map)) => Ok(vec![map]),
            Some(Value::Array(items)) => items
                .iter()
                .filter(|item| !item.is_null())
                .map(|item| match item {
                    Value::Object(map) => Ok(map),
                    _ => Err(self.invalid(key, "must be a block or a list of blocks")),
                })
                .collect(),
            Some(_) => Err(self.invalid(key, "must be a block or a list of blocks")),
        }
    }
}

/// A string, number or boolean as text; `None` for anything else.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn scalars_accept_interpolated_strings() -> Result<(), DriverError> {
        let m = map(json!({"a": "true", "b": "0", "n": "42", "s": 7, "e": "", "z": null}));
        let f = Fields::new("t", "", &m);
        assert!(f.bool("a")?);
        assert!(!f.bool("b")?);
        assert!(!f.bool("missing")?);
        assert_eq!(f.int("n")?, Some(42));
        assert_eq!(f.string("s")?.as_deref(), Some("7"));
        assert_eq!(f.string("e")?, None);
        assert_eq!(f.string("z")?, None);
        assert!(f.bool("n").is_err());
        Ok(())
    }

    #[test]
    fn blocks_are_objects_or_arrays_of_objects() -> Result<(), DriverError> {
        let m = map(json!({
            "one": {"k": "v"},
            "two": [{"k": "a"}, {"k": "b"}],
            "labels": [{"a": "1"}, {"b": 2}],
            "bad": ["x"],
        }));
        let f = Fields::new("t", "", &m);
        assert_eq!(f.blocks("one")?.len(), 1);
        assert_eq!(f.blocks("two")?.len(), 2);
        assert!(f.block("two").is_err());
        assert_eq!(
            f.string_map("labels")?,
            BTreeMap::from([("a".into(), "1".into()), ("b".into(), "2".into())])
        );
        let err = f.blocks("bad").err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some(
                "task \"t\": driver config key `bad` is invalid: must be a block or a list of blocks"
            )
        );
        Ok(())
    }

    #[test]
    fn nested_errors_carry_the_path() {
        let m = map(json!({"size": "big"}));
        let f = Fields::new("web", "mount[0].tmpfs_options.", &m);
        let err = f.int("size").err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some(
                "task \"web\": driver config key `mount[0].tmpfs_options.size` is invalid: \"big\" is not an integer"
            )
        );
    }
}
