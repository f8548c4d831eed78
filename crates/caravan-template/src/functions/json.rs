//! `toJSON` and `toJSONPretty`: Go's `encoding/json` output for template values
//! (maps with sorted keys, `<`, `>`, `&` escaped as Go escapes them for HTML).

use std::fmt::Write;

use gotmpl::Value;

use super::args::{FnResult, arity, fail};
use crate::value;

pub(super) fn to_json(args: &[Value]) -> FnResult {
    arity("toJSON", args, 1)?;
    let mut out = String::new();
    encode(&mut out, &args[0], None, 0).map_err(|e| fail("toJSON", e))?;
    Ok(value::string(&out))
}

pub(super) fn to_json_pretty(args: &[Value]) -> FnResult {
    arity("toJSONPretty", args, 1)?;
    let mut out = String::new();
    encode(&mut out, &args[0], Some("  "), 0).map_err(|e| fail("toJSONPretty", e))?;
    Ok(value::string(&out))
}

/// Writes `v` as JSON; `indent` set gives `json.MarshalIndent(v, "", indent)`.
fn encode(out: &mut String, v: &Value, indent: Option<&str>, depth: usize) -> Result<(), String> {
    match v {
        Value::Nil => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(n) => out.push_str(&n.to_string()),
        Value::Uint(n) => out.push_str(&n.to_string()),
        Value::Float(f) => float(out, *f)?,
        Value::String(s) => string(out, s),
        Value::List(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent, depth + 1);
                encode(out, item, indent, depth + 1)?;
            }
            if !items.is_empty() {
                newline(out, indent, depth);
            }
            out.push(']');
        }
        Value::Map(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, indent, depth + 1);
                string(out, k);
                out.push(':');
                if indent.is_some() {
                    out.push(' ');
                }
                encode(out, item, indent, depth + 1)?;
            }
            if !map.is_empty() {
                newline(out, indent, depth);
            }
            out.push('}');
        }
        Value::Function(_) => return Err("json: unsupported type: func".to_string()),
    }
    Ok(())
}

fn newline(out: &mut String, indent: Option<&str>, depth: usize) {
    if let Some(indent) = indent {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(indent);
        }
    }
}

/// Go's float encoding: shortest representation, exponent form outside
/// [1e-6, 1e21), integral values without a fraction.
fn float(out: &mut String, f: f64) -> Result<(), String> {
    if !f.is_finite() {
        return Err(format!("json: unsupported value: {f}"));
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format!("{f:e}");
        // Rust writes 1e21 and 1e-7; Go writes 1e+21 and 1e-07 trimmed to 1e-7.
        match s.split_once('e') {
            Some((mantissa, exp)) if !exp.starts_with('-') => {
                let _ = write!(out, "{mantissa}e+{exp}");
            }
            _ => out.push_str(&s),
        }
    } else {
        let _ = write!(out, "{f}");
    }
    Ok(())
}

fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn json(v: &Value, pretty: bool) -> String {
        let mut out = String::new();
        encode(&mut out, v, pretty.then_some("  "), 0).unwrap();
        out
    }

    #[test]
    fn writes_go_json() {
        let v = value::map([
            (
                "b",
                value::list([Value::Int(1), Value::Float(2.5), Value::Nil]),
            ),
            ("a", value::string("<x & \"y\">\n")),
            ("e", value::list([])),
        ]);
        assert_eq!(
            json(&v, false),
            r#"{"a":"\u003cx \u0026 \"y\"\u003e\n","b":[1,2.5,null],"e":[]}"#
        );
        assert_eq!(
            json(&v, true),
            "{\n  \"a\": \"\\u003cx \\u0026 \\\"y\\\"\\u003e\\n\",\n  \"b\": [\n    1,\n    2.5,\n    null\n  ],\n  \"e\": []\n}"
        );
    }

    #[test]
    fn writes_floats_as_go_does() {
        for (f, s) in [
            (3.0, "3"),
            (0.1, "0.1"),
            (1e21, "1e+21"),
            (1e-7, "1e-7"),
            (-2.5, "-2.5"),
        ] {
            assert_eq!(json(&Value::Float(f), false), s);
        }
        let mut out = String::new();
        assert!(encode(&mut out, &Value::Float(f64::NAN), None, 0).is_err());
    }
}
