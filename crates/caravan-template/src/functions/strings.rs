//! String and list helpers, each taking its subject last so it pipes
//! (`{{ .Name | toUpper }}`, `{{ key "hosts" | split "," }}`).

use gotmpl::Value;

use super::args::{FnResult, arity, items, text};
use crate::value;

fn one_string(function: &str, args: &[Value], f: impl Fn(&str) -> String) -> FnResult {
    arity(function, args, 1)?;
    Ok(value::string(&f(&text(function, &args[0])?)))
}

pub(super) fn to_lower(args: &[Value]) -> FnResult {
    one_string("toLower", args, str::to_lowercase)
}

pub(super) fn to_upper(args: &[Value]) -> FnResult {
    one_string("toUpper", args, str::to_uppercase)
}

/// Upper-cases the first letter of each word and leaves the rest alone
/// (consul-template's `cases.Title(language.Und, cases.NoLower)`).
pub(super) fn to_title(args: &[Value]) -> FnResult {
    one_string("toTitle", args, |s| {
        let mut out = String::with_capacity(s.len());
        let mut at_word_start = true;
        for c in s.chars() {
            if at_word_start && c.is_alphabetic() {
                out.extend(c.to_uppercase());
            } else {
                out.push(c);
            }
            // Letters, digits and the joiners of Unicode word breaking continue a word.
            at_word_start = !(c.is_alphanumeric() || matches!(c, '\'' | '’' | '.' | '_' | ':'));
        }
        out
    })
}

pub(super) fn trim_space(args: &[Value]) -> FnResult {
    one_string("trimSpace", args, |s| s.trim().to_string())
}

fn two_strings(function: &str, args: &[Value], f: impl Fn(&str, &str) -> Value) -> FnResult {
    arity(function, args, 2)?;
    Ok(f(&text(function, &args[0])?, &text(function, &args[1])?))
}

/// `trim "cutset" s`.
pub(super) fn trim(args: &[Value]) -> FnResult {
    two_strings("trim", args, |cutset, s| {
        value::string(s.trim_matches(|c| cutset.contains(c)))
    })
}

/// `trimPrefix "prefix" s`.
pub(super) fn trim_prefix(args: &[Value]) -> FnResult {
    two_strings("trimPrefix", args, |prefix, s| {
        value::string(s.strip_prefix(prefix).unwrap_or(s))
    })
}

/// `trimSuffix "suffix" s`.
pub(super) fn trim_suffix(args: &[Value]) -> FnResult {
    two_strings("trimSuffix", args, |suffix, s| {
        value::string(s.strip_suffix(suffix).unwrap_or(s))
    })
}

/// `hasPrefix "prefix" s`.
pub(super) fn has_prefix(args: &[Value]) -> FnResult {
    two_strings("hasPrefix", args, |prefix, s| {
        Value::Bool(s.starts_with(prefix))
    })
}

/// `hasSuffix "suffix" s`.
pub(super) fn has_suffix(args: &[Value]) -> FnResult {
    two_strings("hasSuffix", args, |suffix, s| {
        Value::Bool(s.ends_with(suffix))
    })
}

/// `replaceAll "old" "new" s`.
pub(super) fn replace_all(args: &[Value]) -> FnResult {
    const NAME: &str = "replaceAll";
    arity(NAME, args, 3)?;
    let old = text(NAME, &args[0])?;
    let new = text(NAME, &args[1])?;
    let s = text(NAME, &args[2])?;
    Ok(value::string(&s.replace(&old, &new)))
}

/// `split "sep" s`: the pieces of `s` (trimmed first; "" gives no pieces).
pub(super) fn split(args: &[Value]) -> FnResult {
    two_strings("split", args, |sep, s| {
        let s = s.trim();
        if s.is_empty() {
            value::list([])
        } else if sep.is_empty() {
            // Go's strings.Split with "" splits into characters.
            value::list(s.chars().map(|c| value::string(c.encode_utf8(&mut [0; 4]))))
        } else {
            value::list(s.split(sep).map(value::string))
        }
    })
}

/// `join "sep" list`.
pub(super) fn join(args: &[Value]) -> FnResult {
    const NAME: &str = "join";
    arity(NAME, args, 2)?;
    let sep = text(NAME, &args[0])?;
    let parts = items(NAME, &args[1])?
        .iter()
        .map(|v| text(NAME, v))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(value::string(&parts.join(&sep)))
}

/// `in l v`: whether list `l` holds `v`, or string `l` contains string `v`.
pub(super) fn in_(args: &[Value]) -> FnResult {
    arity("in", args, 2)?;
    Ok(Value::Bool(holds(&args[0], &args[1])))
}

/// `contains v l`, `in` with its arguments swapped so it pipes:
/// `{{ if .Tags | contains "prod" }}`.
pub(super) fn contains(args: &[Value]) -> FnResult {
    arity("contains", args, 2)?;
    Ok(Value::Bool(holds(&args[1], &args[0])))
}

fn holds(haystack: &Value, needle: &Value) -> bool {
    match haystack {
        Value::List(list) => list.iter().any(|item| same(item, needle)),
        Value::String(s) => matches!(needle, Value::String(n) if s.contains(n.as_ref())),
        _ => false,
    }
}

/// consul-template's `in` compares strings with strings and numbers with numbers.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Int(_) | Value::Uint(_), Value::Int(_) | Value::Uint(_)) => {
            a.as_int() == b.as_int() && a.as_float() == b.as_float()
        }
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        _ => false,
    }
}
