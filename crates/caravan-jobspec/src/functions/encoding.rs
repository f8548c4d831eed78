//! Encodings: base64decode, base64encode, csvdecode, jsondecode, jsonencode, urlencode,
//! and the JSON writer that `format("%v")` also uses.

use hcl::eval::FuncArgs;
use hcl::{Map, Number, Value};

use super::{Args, FnResult, number_text};

const BASE64_ALPHABET: &[u8; 64] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

pub(super) fn base64encode(args: FuncArgs) -> FnResult {
    let a = Args::new("base64encode", &args);
    Ok(Value::String(base64_encode(a.string(0)?.as_bytes())))
}

pub(super) fn base64decode(args: FuncArgs) -> FnResult {
    let a = Args::new("base64decode", &args);
    let text = a.string(0)?;
    let bytes = base64_decode(&text)
        .ok_or_else(|| a.err(format_args!("failed to decode base64 data {text:?}")))?;
    String::from_utf8(bytes)
        .map(Value::String)
        .map_err(|_| a.err("the result of decoding the provided string is not valid UTF-8"))
}

/// Standard base64 with padding.
pub(super) fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(BASE64_ALPHABET[((n >> (18 - 6 * k)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64 with padding required, as Go's `StdEncoding` reads it (line breaks are
/// ignored). `None` for anything else.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let clean: Vec<u8> = text
        .bytes()
        .filter(|b| !matches!(b, b'\r' | b'\n'))
        .collect();
    if !clean.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(clean.len() / 4 * 3);
    let quads = clean.len() / 4;
    for (qi, quad) in clean.chunks(4).enumerate() {
        let pad = quad.iter().rev().take_while(|b| **b == b'=').count();
        if pad > 2 || (pad > 0 && qi + 1 != quads) {
            return None;
        }
        let mut n = 0u32;
        for (k, &c) in quad.iter().enumerate() {
            let v = if k >= 4 - pad {
                0
            } else {
                BASE64_ALPHABET.iter().position(|&x| x == c)? as u32
            };
            n = (n << 6) | v;
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    Some(out)
}

/// JSON text of a value: object keys sorted, no spaces, and `<`, `>`, `&` escaped as Go's
/// encoder (and so Nomad's `jsonencode`) escapes them.
pub(super) fn json_encode(v: &Value) -> String {
    let mut out = String::new();
    write_json(v, &mut out);
    out
}

fn write_json(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&number_text(n)),
        Value::String(s) => out.push_str(&json_string(s)),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in sorted(map).into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&json_string(k));
                out.push(':');
                write_json(item, out);
            }
            out.push('}');
        }
    }
}

/// A map's entries in key order, the order HCL2 gives objects and maps.
pub(super) fn sorted(map: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries
}

/// A JSON string literal with Go's escaping.
pub(super) fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub(super) fn jsonencode(args: FuncArgs) -> FnResult {
    let a = Args::new("jsonencode", &args);
    Ok(Value::String(json_encode(a.get(0))))
}

pub(super) fn jsondecode(args: FuncArgs) -> FnResult {
    let a = Args::new("jsondecode", &args);
    let text = a.string(0)?;
    let parsed: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| a.err(format_args!("invalid JSON: {e}")))?;
    from_json(parsed).map_err(|e| a.err(e))
}

fn from_json(v: serde_json::Value) -> Result<Value, String> {
    Ok(match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                n.as_f64()
                    .and_then(Number::from_f64)
                    .map(Value::Number)
                    .ok_or_else(|| format!("number {n} is out of range"))?
            }
        }
        serde_json::Value::String(s) => Value::String(s),
        serde_json::Value::Array(items) => {
            Value::Array(items.into_iter().map(from_json).collect::<Result<_, _>>()?)
        }
        serde_json::Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| Ok((k, from_json(v)?)))
                .collect::<Result<_, String>>()?,
        ),
    })
}

/// Query-string escaping as Go's `url.QueryEscape`: letters, digits and `-_.~` stay, a
/// space becomes `+`, every other byte `%XX`.
pub(super) fn urlencode(args: FuncArgs) -> FnResult {
    let a = Args::new("urlencode", &args);
    let text = a.string(0)?;
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char);
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    Ok(Value::String(out))
}

/// `csvdecode(text)`: RFC 4180 CSV whose first line names the columns; a list of maps
/// of strings, one per following line.
pub(super) fn csvdecode(args: FuncArgs) -> FnResult {
    let a = Args::new("csvdecode", &args);
    let text = a.string(0)?;
    let mut rows = parse_csv(&text).map_err(|e| a.err(e))?.into_iter();
    let Some(header) = rows.next() else {
        return Err(a.err("missing header line"));
    };
    let mut out = Vec::new();
    for (i, row) in rows.enumerate() {
        if row.len() != header.len() {
            return Err(a.err(format_args!(
                "record on line {} has {} fields, but the header has {}",
                i + 2,
                row.len(),
                header.len()
            )));
        }
        let map: Map<String, Value> = header
            .iter()
            .cloned()
            .zip(row.into_iter().map(Value::String))
            .collect();
        out.push(Value::Object(map));
    }
    Ok(Value::Array(out))
}

/// Splits CSV text into records of fields; quoted fields may hold commas, newlines and
/// doubled quotes. Blank lines are skipped.
fn parse_csv(text: &str) -> Result<Vec<Vec<String>>, String> {
    let mut rows = Vec::new();
    let mut row: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut line = 1usize;
    // Whether the current record has any content yet (to skip blank lines).
    let mut started = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if field.is_empty() => {
                started = true;
                loop {
                    match chars.next() {
                        Some('"') if chars.peek() == Some(&'"') => {
                            chars.next();
                            field.push('"');
                        }
                        Some('"') => break,
                        Some(c) => {
                            if c == '\n' {
                                line += 1;
                            }
                            field.push(c);
                        }
                        None => return Err(format!("unterminated quoted field on line {line}")),
                    }
                }
                match chars.peek() {
                    None | Some(',' | '\n' | '\r') => {}
                    Some(_) => {
                        return Err(format!(
                            "extraneous text after a quoted field on line {line}"
                        ));
                    }
                }
            }
            '"' => return Err(format!("bare \" in a non-quoted field on line {line}")),
            ',' => {
                started = true;
                row.push(std::mem::take(&mut field));
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                line += 1;
                if started || !field.is_empty() {
                    row.push(std::mem::take(&mut field));
                    rows.push(std::mem::take(&mut row));
                }
                started = false;
            }
            c => {
                started = true;
                field.push(c);
            }
        }
    }
    if started || !field.is_empty() {
        row.push(field);
        rows.push(row);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{fails, lit, ok, s};
    use hcl::Value;

    #[test]
    fn base64_round_trips() {
        assert_eq!(ok(r#"base64encode("Hello World")"#), s("SGVsbG8gV29ybGQ="));
        assert_eq!(ok(r#"base64encode("")"#), s(""));
        assert_eq!(ok(r#"base64encode("ab")"#), s("YWI="));
        assert_eq!(ok(r#"base64decode("SGVsbG8gV29ybGQ=")"#), s("Hello World"));
        assert_eq!(ok(r#"base64decode("YWI=")"#), s("ab"));
        assert_eq!(ok(r#"base64decode(base64encode("☃ snow"))"#), s("☃ snow"));
        fails(
            r#"base64decode("abc")"#,
            "base64decode: failed to decode base64 data",
        );
        fails(r#"base64decode("a=bc")"#, "failed to decode base64 data");
        fails(r#"base64decode("/w==")"#, "not valid UTF-8");
    }

    #[test]
    fn json_round_trips() {
        assert_eq!(
            ok(r#"jsonencode({"hello" = "world"})"#),
            s(r#"{"hello":"world"}"#)
        );
        assert_eq!(
            ok(r#"jsonencode({b = [1, 2.5, true, null], a = "<&>"})"#),
            s(r#"{"a":"\u003c\u0026\u003e","b":[1,2.5,true,null]}"#)
        );
        assert_eq!(ok(r#"jsonencode("x\ny")"#), s(r#""x\ny""#));
        assert_eq!(
            ok(r#"jsondecode("{\"hello\": \"world\"}")"#),
            lit(r#"{hello = "world"}"#)
        );
        assert_eq!(ok(r#"jsondecode("true")"#), Value::Bool(true));
        assert_eq!(ok(r#"jsondecode("[1, 2.5, null]")"#), lit("[1, 2.5, null]"));
        assert_eq!(
            ok(r#"jsondecode(jsonencode({a = [1, "b"]}))"#),
            lit(r#"{a = [1, "b"]}"#)
        );
        fails(r#"jsondecode("{")"#, "jsondecode: invalid JSON");
    }

    #[test]
    fn urlencode_escapes_like_query_strings() {
        assert_eq!(ok(r#"urlencode("Hello World!")"#), s("Hello+World%21"));
        assert_eq!(ok(r#"urlencode("☃")"#), s("%E2%98%83"));
        assert_eq!(
            ok(r#"urlencode("a-b_c.d~e/f?g=h")"#),
            s("a-b_c.d~e%2Ff%3Fg%3Dh")
        );
    }

    #[test]
    fn csvdecode_reads_a_header_and_rows() {
        assert_eq!(
            ok(r#"csvdecode("a,b,c\n1,2,3\n4,5,6")"#),
            lit(r#"[{a = "1", b = "2", c = "3"}, {a = "4", b = "5", c = "6"}]"#)
        );
        assert_eq!(
            ok(r#"csvdecode("name,note\r\n\"x, y\",\"say \"\"hi\"\"\"\r\n")"#),
            lit(r#"[{name = "x, y", note = "say \"hi\""}]"#)
        );
        assert_eq!(ok(r#"csvdecode("a,b\n")"#), lit("[]"));
        fails(
            r#"csvdecode("a,b\n1")"#,
            "csvdecode: record on line 2 has 1 fields, but the header has 2",
        );
        fails(r#"csvdecode("")"#, "csvdecode: missing header line");
        fails(r#"csvdecode("a\n\"x")"#, "unterminated quoted field");
    }
}
