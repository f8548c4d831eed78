//! `parseInt`, `parseUint`, `parseFloat`, `parseBool`: strconv's rules, "" reads as
//! zero or false (consul-template's behaviour).

use gotmpl::Value;

use super::args::{FnResult, arity, fail, text};

fn subject(function: &str, args: &[Value]) -> Result<String, gotmpl::TemplateError> {
    arity(function, args, 1)?;
    text(function, &args[0])
}

fn syntax(function: &str, go_func: &str, s: &str) -> gotmpl::TemplateError {
    fail(
        function,
        format!("strconv.{go_func}: parsing {s:?}: invalid syntax"),
    )
}

pub(super) fn parse_int(args: &[Value]) -> FnResult {
    let s = subject("parseInt", args)?;
    if s.is_empty() {
        return Ok(Value::Int(0));
    }
    s.parse::<i64>()
        .map(Value::Int)
        .map_err(|_| syntax("parseInt", "ParseInt", &s))
}

pub(super) fn parse_uint(args: &[Value]) -> FnResult {
    let s = subject("parseUint", args)?;
    if s.is_empty() {
        return Ok(Value::Uint(0));
    }
    // Go refuses a sign here, Rust would take "+1".
    if s.starts_with('+') {
        return Err(syntax("parseUint", "ParseUint", &s));
    }
    s.parse::<u64>()
        .map(Value::Uint)
        .map_err(|_| syntax("parseUint", "ParseUint", &s))
}

pub(super) fn parse_float(args: &[Value]) -> FnResult {
    let s = subject("parseFloat", args)?;
    if s.is_empty() {
        return Ok(Value::Float(0.0));
    }
    s.parse::<f64>()
        .map(Value::Float)
        .map_err(|_| syntax("parseFloat", "ParseFloat", &s))
}

pub(super) fn parse_bool(args: &[Value]) -> FnResult {
    let s = subject("parseBool", args)?;
    match s.as_str() {
        "" | "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(Value::Bool(false)),
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(Value::Bool(true)),
        _ => Err(syntax("parseBool", "ParseBool", &s)),
    }
}
