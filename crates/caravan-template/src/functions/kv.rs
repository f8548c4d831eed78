//! `key`, `keyOrDefault`, `keyExists`, `ls`, `tree`.

use gotmpl::{TemplateError, Value};

use super::args::{FnResult, arity, empty_list, text};
use crate::exchange::{Answer, SharedExchange};
use crate::{Dependency, KeyQuery, value};

fn key_dependency(function: &'static str, path: &str) -> Result<Dependency, TemplateError> {
    KeyQuery::parse(function, path)
        .map(Dependency::Key)
        .map_err(|e| TemplateError::Exec(e.to_string()))
}

/// The entry behind `dep`: `Some(entry)` once known (`entry` is `None` for an
/// absent key), `None` until the data arrives.
fn entry(ex: &SharedExchange, dep: &Dependency) -> Option<Option<String>> {
    match ex.with(|x| x.request(dep.clone())) {
        Some(Answer::Key(entry)) => Some(entry),
        _ => None,
    }
}

/// `key "path[@dc]"`: the value, and the render waits until the key exists.
pub(super) fn key(ex: &SharedExchange, args: &[Value]) -> FnResult {
    const NAME: &str = "key";
    arity(NAME, args, 1)?;
    let path = text(NAME, &args[0])?;
    if path.is_empty() {
        return Ok(value::string(""));
    }
    let dep = key_dependency(NAME, &path)?;
    match entry(ex, &dep) {
        Some(Some(v)) => Ok(value::string(&v)),
        Some(None) => {
            ex.with(|x| x.block_on(dep));
            Ok(value::string(""))
        }
        None => Ok(value::string("")),
    }
}

/// `keyOrDefault "path" "default"`: the value, or the default when the key is
/// absent or empty; does not wait for the key to exist.
pub(super) fn key_or_default(ex: &SharedExchange, args: &[Value]) -> FnResult {
    const NAME: &str = "keyOrDefault";
    arity(NAME, args, 2)?;
    let path = text(NAME, &args[0])?;
    let default = text(NAME, &args[1])?;
    if path.is_empty() {
        return Ok(value::string(&default));
    }
    let dep = key_dependency(NAME, &path)?;
    match entry(ex, &dep) {
        Some(Some(v)) if !v.is_empty() => Ok(value::string(&v)),
        _ => Ok(value::string(&default)),
    }
}

/// `keyExists "path"`: whether the key exists; does not wait for it.
pub(super) fn key_exists(ex: &SharedExchange, args: &[Value]) -> FnResult {
    const NAME: &str = "keyExists";
    arity(NAME, args, 1)?;
    let path = text(NAME, &args[0])?;
    if path.is_empty() {
        return Ok(Value::Bool(false));
    }
    let dep = key_dependency(NAME, &path)?;
    Ok(Value::Bool(matches!(entry(ex, &dep), Some(Some(_)))))
}

/// `ls` (direct children only) and `tree` (everything but folders).
fn listing(
    ex: &SharedExchange,
    args: &[Value],
    function: &'static str,
    recursive: bool,
) -> FnResult {
    arity(function, args, 1)?;
    let prefix = text(function, &args[0])?;
    if prefix.is_empty() {
        return Ok(empty_list());
    }
    let query =
        KeyQuery::parse(function, &prefix).map_err(|e| TemplateError::Exec(e.to_string()))?;
    let Some(Answer::Pairs(pairs)) = ex.with(|x| x.request(Dependency::KeyList(query.clone())))
    else {
        return Ok(empty_list());
    };
    let mut selected: Vec<(String, Value)> = Vec::new();
    for pair in &pairs {
        let Some(rest) = pair.path.strip_prefix(&query.path) else {
            continue;
        };
        let key = rest.trim_start_matches('/');
        let keep = if recursive {
            !key.is_empty() && !key.ends_with('/')
        } else {
            !key.is_empty() && !key.contains('/')
        };
        if keep {
            let item = value::map([
                ("Key", value::string(key)),
                ("Path", value::string(&pair.path)),
                ("Value", value::string(&pair.value)),
            ]);
            selected.push((pair.path.clone(), item));
        }
    }
    selected.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(value::list(selected.into_iter().map(|(_, item)| item)))
}

/// `ls "prefix"`: the entries directly under the prefix, sorted by key.
pub(super) fn ls(ex: &SharedExchange, args: &[Value]) -> FnResult {
    listing(ex, args, "ls", false)
}

/// `tree "prefix"`: every entry under the prefix, sorted by key.
pub(super) fn tree(ex: &SharedExchange, args: &[Value]) -> FnResult {
    listing(ex, args, "tree", true)
}
