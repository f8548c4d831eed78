//! The `KEY=VALUE` files of `env = true` templates, read as Nomad reads them
//! (hashicorp/go-envparse).
//!
//! - Blank lines and lines starting with `#` are skipped; an `export ` prefix is
//!   dropped; whitespace around the key and the value is trimmed.
//! - Keys are `[A-Za-z_][A-Za-z0-9_./]*`.
//! - A value mixes unquoted text (ends at `#`, which starts a comment), `'single'`
//!   quotes (taken literally) and `"double"` quotes with JSON escapes (`\" \\ \/ \b
//!   \f \n \r \t \uXXXX`, surrogate pairs included), so `FOO={{ toJSON .x }}` reads
//!   back exactly.
//! - A later line for the same key wins.
//!
//! One departure: go-envparse refuses a tab inside a value; it is kept here.

use std::collections::BTreeMap;

use thiserror::Error;

/// A malformed line, with the 1-based line and column (in characters) of the fault.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("env file: {line}:{col}: {message}")]
pub struct EnvParseError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub col: usize,
    /// What is wrong (go-envparse's words).
    pub message: String,
}

/// Reads an env file into its variables.
pub fn parse(text: &str) -> Result<BTreeMap<String, String>, EnvParseError> {
    let mut vars = BTreeMap::new();
    for (index, raw) in text.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if let Some((key, value)) = parse_line(line).map_err(|(col, message)| EnvParseError {
            line: index + 1,
            col,
            message,
        })? {
            vars.insert(key, value);
        }
    }
    Ok(vars)
}

type LineError = (usize, String);

/// The column of the byte offset `at` in `line`.
fn col(line: &str, at: usize) -> usize {
    line.get(..at).map_or(0, |s| s.chars().count()) + 1
}

fn parse_line(line: &str) -> Result<Option<(String, String)>, LineError> {
    let trimmed = line.trim();
    if trimmed.is_empty() || trimmed.starts_with('#') {
        return Ok(None);
    }
    let start = line.len() - line.trim_start().len();
    let Some(eq) = line.find('=') else {
        return Err((col(line, start), "missing =".to_string()));
    };

    // The key, with its offset in the line for error columns.
    let mut key_start = start;
    let mut key = line[start..eq].trim_end();
    if key.len() > "export ".len()
        && let Some(rest) = key.strip_prefix("export ")
    {
        let rest_trimmed = rest.trim_start();
        key_start += key.len() - rest_trimmed.len();
        key = rest_trimmed;
    }
    let mut chars = key.char_indices();
    match chars.next() {
        None => return Err((col(line, eq), "empty key".to_string())),
        Some((_, c)) if !(c.is_ascii_alphabetic() || c == '_') => {
            return Err((
                col(line, key_start),
                format!("key must start with [A-Za-z_] but found {c:?}"),
            ));
        }
        Some(_) => {}
    }
    for (i, c) in chars {
        if !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/')) {
            return Err((
                col(line, key_start + i),
                format!("key characters must be [A-Za-z0-9/_.] but found {c:?}"),
            ));
        }
    }

    let after = &line[eq + 1..];
    let value_start = eq + 1 + (after.len() - after.trim_start().len());
    let value = parse_value(line, value_start, after.trim())?;
    Ok(Some((key.to_string(), value)))
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Normal,
    Double,
    Single,
}

/// Reads the value that starts at byte `offset` of `line`.
fn parse_value(line: &str, offset: usize, value: &str) -> Result<String, LineError> {
    let at = |i: usize| col(line, offset + i);
    let mut out = String::with_capacity(value.len());
    // The length of `out` up to its last significant character: unquoted
    // whitespace before a trailing comment is dropped.
    let mut significant = 0;
    let mut mode = Mode::Normal;
    let mut quote_at = 0;
    let mut chars = value.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if (c as u32) < 0x20 && c != '\t' {
            return Err((
                at(i),
                format!("{:#04x} is an invalid value character", c as u32),
            ));
        }
        match mode {
            Mode::Normal => match c {
                '"' => {
                    mode = Mode::Double;
                    quote_at = i;
                }
                '\'' => {
                    mode = Mode::Single;
                    quote_at = i;
                }
                '#' => {
                    out.truncate(significant);
                    return Ok(out);
                }
                ' ' | '\t' => out.push(c),
                _ => {
                    out.push(c);
                    significant = out.len();
                }
            },
            Mode::Single => {
                if c == '\'' {
                    mode = Mode::Normal;
                } else {
                    out.push(c);
                    significant = out.len();
                }
            }
            Mode::Double => {
                match c {
                    '"' => mode = Mode::Normal,
                    '\\' => {
                        let Some((j, e)) = chars.next() else {
                            return Err((at(i), "incomplete escape sequence".to_string()));
                        };
                        let decoded = match e {
                            '"' | '\\' | '/' => e,
                            'b' => '\u{8}',
                            'f' => '\u{c}',
                            'r' => '\r',
                            'n' => '\n',
                            't' => '\t',
                            'u' => unicode_escape(&mut chars, value, j, &at)?,
                            other => {
                                return Err((at(j), format!("invalid escape sequence: {other:?}")));
                            }
                        };
                        out.push(decoded);
                    }
                    _ => out.push(c),
                }
                significant = out.len();
            }
        }
    }
    match mode {
        Mode::Normal => Ok(out),
        Mode::Double => Err((at(quote_at), "unmatched \"".to_string())),
        Mode::Single => Err((at(quote_at), "unmatched '".to_string())),
    }
}

/// Reads the `XXXX` after `\u` (at byte `u_at` of `value`), and a second `\uXXXX`
/// when the first is a high surrogate.
fn unicode_escape(
    chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
    value: &str,
    u_at: usize,
    at: &dyn Fn(usize) -> usize,
) -> Result<char, LineError> {
    let first = hex4(chars, u_at, at)?;
    if !(0xD800..0xE000).contains(&first) {
        return char::from_u32(first).ok_or((at(u_at), "invalid code point".to_string()));
    }
    // A surrogate must be followed by its pair, `\uXXXX`.
    let pair_follows = value
        .get(u_at + 5..)
        .is_some_and(|rest| rest.starts_with("\\u"));
    if !pair_follows {
        return Err((at(u_at), "incomplete Unicode surrogate pair".to_string()));
    }
    chars.next();
    let Some((second_u, _)) = chars.next() else {
        return Err((at(u_at), "incomplete Unicode surrogate pair".to_string()));
    };
    let second = hex4(chars, second_u, at)?;
    let decoded = char::decode_utf16([first as u16, second as u16])
        .next()
        .and_then(Result::ok);
    // Go's utf16.DecodeRune gives U+FFFD for a pair that is not one.
    Ok(decoded.unwrap_or('\u{FFFD}'))
}

fn hex4(
    chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
    u_at: usize,
    at: &dyn Fn(usize) -> usize,
) -> Result<u32, LineError> {
    let mut n = 0;
    for _ in 0..4 {
        let Some((i, c)) = chars.next() else {
            return Err((at(u_at), "incomplete hex sequence".to_string()));
        };
        let Some(d) = c.to_digit(16) else {
            return Err((at(i), format!("invalid hex character: {c:?}")));
        };
        n = n * 16 + d;
    }
    Ok(n)
}
