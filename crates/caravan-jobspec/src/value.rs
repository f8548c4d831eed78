//! Converting evaluated HCL values into the model's Rust types, the way HCL's type
//! conversions do (a number is accepted where a string is wanted, `"5"` where a number
//! is), with messages that name what was expected and what was found.

use caravan_model::{Duration, ParseDurationError};
use hcl::Value;

use crate::eval::value_type;

/// A value of the wrong shape. The messages complete "`name` ...".
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum ValueError {
    #[error("must be {expected}, got {got}")]
    WrongType { expected: &'static str, got: String },
    #[error("must be a whole number, got {0}")]
    NotWhole(String),
    #[error("must not be negative, got {0}")]
    Negative(i64),
    #[error("is out of range: {0}")]
    OutOfRange(String),
    #[error("is not a valid duration: {0}")]
    Duration(#[from] ParseDurationError),
}

fn wrong(expected: &'static str, value: &Value) -> ValueError {
    let got = match value {
        Value::String(s) => format!("string {}", short_quoted(s)),
        Value::Number(n) => format!("number {n}"),
        Value::Bool(b) => format!("bool {b}"),
        other => value_type(other).to_owned(),
    };
    ValueError::WrongType { expected, got }
}

fn short_quoted(s: &str) -> String {
    if s.chars().count() > 40 {
        let head: String = s.chars().take(37).collect();
        format!("{:?}", head + "...")
    } else {
        format!("{s:?}")
    }
}

/// A string; numbers and bools are turned into their text.
pub(crate) fn to_string(value: &Value) -> Result<String, ValueError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(wrong("a string", other)),
    }
}

/// A whole number; a string holding one is accepted.
pub(crate) fn to_i64(value: &Value) -> Result<i64, ValueError> {
    match value {
        Value::Number(n) => number_to_i64(n),
        Value::String(s) => match parse_number(s) {
            Some(n) => number_to_i64(&n),
            None => Err(wrong("a number", value)),
        },
        other => Err(wrong("a number", other)),
    }
}

/// A number written as text, as HCL converts a string to a number.
pub(crate) fn parse_number(s: &str) -> Option<hcl::Number> {
    let s = s.trim();
    if let Ok(i) = s.parse::<i64>() {
        return Some(i.into());
    }
    if let Ok(u) = s.parse::<u64>() {
        return Some(u.into());
    }
    let looks_numeric = s
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'));
    if !looks_numeric || s.is_empty() {
        return None;
    }
    s.parse::<f64>().ok().and_then(hcl::Number::from_f64)
}

fn number_to_i64(n: &hcl::Number) -> Result<i64, ValueError> {
    if let Some(i) = n.as_i64() {
        return Ok(i);
    }
    if n.as_u64().is_some() {
        return Err(ValueError::OutOfRange(n.to_string()));
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(f as i64),
        Some(f) if f.fract() == 0.0 => Err(ValueError::OutOfRange(n.to_string())),
        _ => Err(ValueError::NotWhole(n.to_string())),
    }
}

/// A whole number that is not negative.
pub(crate) fn to_u64(value: &Value) -> Result<u64, ValueError> {
    let n = to_i64(value)?;
    u64::try_from(n).map_err(|_| ValueError::Negative(n))
}

/// A whole number within `min..=max`.
pub(crate) fn to_int_in(value: &Value, min: i64, max: i64) -> Result<i64, ValueError> {
    let n = to_i64(value)?;
    if n < min || n > max {
        return Err(ValueError::OutOfRange(format!(
            "{n} (expected {min} to {max})"
        )));
    }
    Ok(n)
}

/// A bool; the strings `"true"` and `"false"` are accepted.
pub(crate) fn to_bool(value: &Value) -> Result<bool, ValueError> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s == "true" => Ok(true),
        Value::String(s) if s == "false" => Ok(false),
        other => Err(wrong("a bool", other)),
    }
}

/// A Go duration string (`"5s"`, `"1h30m"`); a whole number is nanoseconds.
pub(crate) fn to_duration(value: &Value) -> Result<Duration, ValueError> {
    match value {
        Value::String(s) => Ok(Duration::parse(s)?),
        Value::Number(n) => Ok(Duration::from_nanos(number_to_i64(n)?)),
        other => Err(wrong("a duration string like \"30s\"", other)),
    }
}

/// A list of strings; a single string is not a list.
pub(crate) fn to_strings(value: &Value) -> Result<Vec<String>, ValueError> {
    match value {
        Value::Array(items) => items
            .iter()
            .map(|item| to_string(item).map_err(|_| wrong("a list of strings", item)))
            .collect(),
        other => Err(wrong("a list of strings", other)),
    }
}

/// Any value, as JSON. Nulls in objects are dropped (an HCL null means "unset"), so
/// that a job survives a trip through Nomad-style JSON, where nulls are stripped.
pub(crate) fn to_json(value: &Value) -> Result<serde_json::Value, ValueError> {
    Ok(match value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Number(n) => serde_json::Value::Number(json_number(n)?),
        Value::String(s) => serde_json::Value::String(s.clone()),
        Value::Array(items) => {
            serde_json::Value::Array(items.iter().map(to_json).collect::<Result<_, _>>()?)
        }
        Value::Object(map) => serde_json::Value::Object(
            map.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| Ok((k.clone(), to_json(v)?)))
                .collect::<Result<_, ValueError>>()?,
        ),
    })
}

fn json_number(n: &hcl::Number) -> Result<serde_json::Number, ValueError> {
    if let Some(i) = n.as_i64() {
        Ok(i.into())
    } else if let Some(u) = n.as_u64() {
        Ok(u.into())
    } else {
        n.as_f64()
            .and_then(serde_json::Number::from_f64)
            .ok_or_else(|| ValueError::OutOfRange(n.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_like_hcl() {
        assert_eq!(to_string(&Value::from(8080)), Ok("8080".into()));
        assert_eq!(to_i64(&Value::from("3")), Ok(3));
        assert_eq!(to_i64(&Value::from(2.0)), Ok(2));
        assert_eq!(to_bool(&Value::from("true")), Ok(true));
        assert_eq!(
            to_duration(&Value::from("1h30m")),
            Ok(Duration::from_mins(90))
        );
        assert_eq!(
            to_duration(&Value::from(1000)),
            Ok(Duration::from_nanos(1000))
        );
    }

    #[test]
    fn names_what_was_wrong() {
        assert_eq!(
            to_i64(&Value::from("three")).map_err(|e| e.to_string()),
            Err("must be a number, got string \"three\"".into())
        );
        assert_eq!(
            to_i64(&Value::from(1.5)).map_err(|e| e.to_string()),
            Err("must be a whole number, got 1.5".into())
        );
        assert_eq!(
            to_bool(&Value::from(1)).map_err(|e| e.to_string()),
            Err("must be a bool, got number 1".into())
        );
        let err = to_duration(&Value::from("5x"))
            .expect_err("bad unit")
            .to_string();
        assert!(err.contains("invalid duration"), "{err}");
        assert_eq!(
            to_strings(&Value::from("a")).map_err(|e| e.to_string()),
            Err("must be a list of strings, got string \"a\"".into())
        );
    }
}
