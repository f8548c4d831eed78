//! String functions: chomp, indent, join, lower, regex_replace, replace, split, strlen,
//! strrev, substr, title, trim, trimprefix, trimspace, trimsuffix, upper.
//!
//! Lengths and offsets count Unicode scalar values (see the module docs).

use hcl::Value;
use hcl::eval::FuncArgs;
use regex::Regex;

use super::{Args, FnResult};

pub(super) fn upper(args: FuncArgs) -> FnResult {
    let a = Args::new("upper", &args);
    Ok(Value::String(a.string(0)?.to_uppercase()))
}

pub(super) fn lower(args: FuncArgs) -> FnResult {
    let a = Args::new("lower", &args);
    Ok(Value::String(a.string(0)?.to_lowercase()))
}

/// Removes every trailing newline (`\n` or `\r\n`, and a lone `\r`).
pub(super) fn chomp(args: FuncArgs) -> FnResult {
    let a = Args::new("chomp", &args);
    let s = a.string(0)?;
    Ok(Value::String(s.trim_end_matches(['\n', '\r']).to_string()))
}

/// Adds `spaces` spaces after every newline: every line but the first is indented.
pub(super) fn indent(args: FuncArgs) -> FnResult {
    let a = Args::new("indent", &args);
    let spaces = a.int(0)?;
    let s = a.string(1)?;
    let pad = " ".repeat(usize::try_from(spaces).unwrap_or(0));
    Ok(Value::String(s.replace('\n', &format!("\n{pad}"))))
}

/// `join(separator, list...)`: the strings of every list, separated.
pub(super) fn join(args: FuncArgs) -> FnResult {
    let a = Args::new("join", &args);
    let sep = a.string(0)?;
    if a.len() < 2 {
        return Err(a.err("at least one list is required"));
    }
    let mut parts = Vec::new();
    for li in 1..a.len() {
        for (ei, item) in a.list(li)?.iter().enumerate() {
            if item.is_null() {
                return Err(a.err(format_args!(
                    "element {ei} of list {li} is null; cannot concatenate null values"
                )));
            }
            let text = super::to_string(item)
                .map_err(|e| a.err(format_args!("element {ei} of list {li}: {e}")))?;
            parts.push(text);
        }
    }
    Ok(Value::String(parts.join(&sep)))
}

/// `replace(string, search, replacement)`: every occurrence of `search`. A search
/// written as `/pattern/` is a regular expression, and `$1` or `${name}` in the
/// replacement refer to its groups.
pub(super) fn replace(args: FuncArgs) -> FnResult {
    let a = Args::new("replace", &args);
    let (s, search, replacement) = (a.string(0)?, a.string(1)?, a.string(2)?);
    if search.len() > 1 && search.starts_with('/') && search.ends_with('/') {
        let re = compile(&a, &search[1..search.len() - 1])?;
        return Ok(Value::String(
            re.replace_all(&s, replacement.as_str()).into_owned(),
        ));
    }
    if search.is_empty() {
        // Go inserts the replacement between every character and at both ends.
        let mut out = replacement.clone();
        for c in s.chars() {
            out.push(c);
            out.push_str(&replacement);
        }
        return Ok(Value::String(out));
    }
    Ok(Value::String(s.replace(&search, &replacement)))
}

/// `regex_replace(string, pattern, replacement)` (Nomad's addition): like `replace` with a
/// `/pattern/`, without the slashes.
pub(super) fn regex_replace(args: FuncArgs) -> FnResult {
    let a = Args::new("regex_replace", &args);
    let (s, pattern, replacement) = (a.string(0)?, a.string(1)?, a.string(2)?);
    let re = compile(&a, &pattern)?;
    Ok(Value::String(
        re.replace_all(&s, replacement.as_str()).into_owned(),
    ))
}

fn compile(a: &Args<'_>, pattern: &str) -> Result<Regex, String> {
    Regex::new(pattern).map_err(|e| a.err(format_args!("invalid regular expression: {e}")))
}

/// `split(separator, string)`; an empty separator splits into characters.
pub(super) fn split(args: FuncArgs) -> FnResult {
    let a = Args::new("split", &args);
    let (sep, s) = (a.string(0)?, a.string(1)?);
    let parts: Vec<Value> = if sep.is_empty() {
        s.chars().map(|c| Value::String(c.to_string())).collect()
    } else {
        s.split(sep.as_str())
            .map(|p| Value::String(p.to_string()))
            .collect()
    };
    Ok(Value::Array(parts))
}

pub(super) fn strlen(args: FuncArgs) -> FnResult {
    let a = Args::new("strlen", &args);
    Ok(Value::from(a.string(0)?.chars().count()))
}

pub(super) fn strrev(args: FuncArgs) -> FnResult {
    let a = Args::new("strrev", &args);
    Ok(Value::String(a.string(0)?.chars().rev().collect()))
}

/// `substr(string, offset, length)`: a negative offset counts from the end, a negative
/// length means "to the end"; ranges past the end are cut short, never an error.
pub(super) fn substr(args: FuncArgs) -> FnResult {
    let a = Args::new("substr", &args);
    let s = a.string(0)?;
    let (offset, length) = (a.int(1)?, a.int(2)?);
    let chars: Vec<char> = s.chars().collect();
    let total = i64::try_from(chars.len()).unwrap_or(i64::MAX);
    let start = if offset < 0 { total + offset } else { offset }.clamp(0, total);
    let end = if length < 0 {
        total
    } else {
        start.saturating_add(length).min(total)
    };
    let (start, end) = (
        usize::try_from(start).unwrap_or(0),
        usize::try_from(end).unwrap_or(0),
    );
    Ok(Value::String(chars[start..end].iter().collect()))
}

/// Upper-cases the first letter of every word, where words are separated as Go's
/// `strings.Title` separates them: by ASCII characters other than letters, digits and
/// `_`, and by Unicode spaces.
pub(super) fn title(args: FuncArgs) -> FnResult {
    let a = Args::new("title", &args);
    let s = a.string(0)?;
    let mut out = String::with_capacity(s.len());
    let mut after_separator = true;
    for c in s.chars() {
        if after_separator {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        after_separator = if c.is_ascii() {
            !(c.is_ascii_alphanumeric() || c == '_')
        } else {
            !c.is_alphanumeric() && c.is_whitespace()
        };
    }
    Ok(Value::String(out))
}

/// `trim(string, cutset)`: removes any of the characters in `cutset` from both ends.
pub(super) fn trim(args: FuncArgs) -> FnResult {
    let a = Args::new("trim", &args);
    let (s, cutset) = (a.string(0)?, a.string(1)?);
    Ok(Value::String(
        s.trim_matches(|c| cutset.contains(c)).to_string(),
    ))
}

pub(super) fn trimprefix(args: FuncArgs) -> FnResult {
    let a = Args::new("trimprefix", &args);
    let (s, prefix) = (a.string(0)?, a.string(1)?);
    Ok(Value::String(
        s.strip_prefix(prefix.as_str()).unwrap_or(&s).to_string(),
    ))
}

pub(super) fn trimsuffix(args: FuncArgs) -> FnResult {
    let a = Args::new("trimsuffix", &args);
    let (s, suffix) = (a.string(0)?, a.string(1)?);
    Ok(Value::String(
        s.strip_suffix(suffix.as_str()).unwrap_or(&s).to_string(),
    ))
}

pub(super) fn trimspace(args: FuncArgs) -> FnResult {
    let a = Args::new("trimspace", &args);
    Ok(Value::String(a.string(0)?.trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{fails, lit, ok, s};
    use hcl::Value;

    #[test]
    fn case_functions() {
        assert_eq!(ok(r#"upper("hello")"#), s("HELLO"));
        assert_eq!(ok(r#"upper("алло!")"#), s("АЛЛО!"));
        assert_eq!(ok(r#"lower("HELLO")"#), s("hello"));
        assert_eq!(ok(r#"title("hello world")"#), s("Hello World"));
        assert_eq!(ok(r#"title("web-api_v2 x.y")"#), s("Web-Api_v2 X.Y"));
        fails(
            "lower(null)",
            "lower: argument 1: a string is required, got null",
        );
    }

    #[test]
    fn chomp_and_indent() {
        assert_eq!(ok(r#"chomp("hello\n")"#), s("hello"));
        assert_eq!(ok(r#"chomp("hello\r\n\n")"#), s("hello"));
        assert_eq!(ok(r#"chomp("hello")"#), s("hello"));
        assert_eq!(ok(r#"indent(2, "a\nb\nc")"#), s("a\n  b\n  c"));
        fails(
            r#"indent("x", "a")"#,
            "indent: argument 1: cannot convert \"x\" to number",
        );
    }

    #[test]
    fn join_and_split() {
        assert_eq!(
            ok(r#"join(", ", ["foo", "bar", "baz"])"#),
            s("foo, bar, baz")
        );
        assert_eq!(ok(r#"join("-", ["a"], ["b", 1])"#), s("a-b-1"));
        assert_eq!(ok(r#"join(",", [])"#), s(""));
        fails(r#"join(",")"#, "join: at least one list is required");
        fails(r#"join(",", ["a", null])"#, "element 1 of list 1 is null");
        fails(
            r#"join(",", "a")"#,
            "join: argument 2: a list is required, got string",
        );
        assert_eq!(
            ok(r#"split(",", "foo,bar,baz")"#),
            lit(r#"["foo", "bar", "baz"]"#)
        );
        assert_eq!(ok(r#"split(",", "foo")"#), lit(r#"["foo"]"#));
        assert_eq!(ok(r#"split(",", "")"#), lit(r#"[""]"#));
        assert_eq!(ok(r#"split("", "abc")"#), lit(r#"["a", "b", "c"]"#));
    }

    #[test]
    fn replace_plain_and_regex() {
        assert_eq!(ok(r#"replace("1 + 2 + 3", "+", "-")"#), s("1 - 2 - 3"));
        assert_eq!(
            ok(r#"replace("hello world", "/w.*d/", "everybody")"#),
            s("hello everybody")
        );
        assert_eq!(
            ok(r#"replace("a-1 b-22", "/([a-z])-(\\d+)/", "$2$1")"#),
            s("1a 22b")
        );
        assert_eq!(ok(r#"replace("/", "/", "x")"#), s("x"));
        fails(
            r#"replace("a", "/(/", "b")"#,
            "replace: invalid regular expression",
        );
        assert_eq!(
            ok(r#"regex_replace("web-01.dc1", "^([a-z]+)-0*(\\d+)\\..*$", "$${1}$${2}")"#),
            s("web1")
        );
        assert_eq!(ok(r#"regex_replace("aaa", "a", "b")"#), s("bbb"));
        fails(
            r#"regex_replace("a", "[", "b")"#,
            "regex_replace: invalid regular expression",
        );
    }

    #[test]
    fn strlen_strrev_substr() {
        assert_eq!(ok(r#"strlen("hello")"#), Value::from(5));
        assert_eq!(ok(r#"strlen("héllo")"#), Value::from(5));
        assert_eq!(ok(r#"strlen("")"#), Value::from(0));
        assert_eq!(ok(r#"strrev("hello")"#), s("olleh"));
        assert_eq!(ok(r#"strrev("a☃")"#), s("☃a"));
        assert_eq!(ok(r#"substr("hello world", 1, 4)"#), s("ello"));
        assert_eq!(ok(r#"substr("hello world", -5, -1)"#), s("world"));
        assert_eq!(ok(r#"substr("hello world", 6, 100)"#), s("world"));
        assert_eq!(ok(r#"substr("hello", 10, 2)"#), s(""));
        assert_eq!(ok(r#"substr("hello", -10, 2)"#), s("he"));
        assert_eq!(ok(r#"substr("🤔🤷", 0, 1)"#), s("🤔"));
        fails(
            r#"substr("hello", 1.5, 2)"#,
            "substr: argument 2: a whole number is required",
        );
    }

    #[test]
    fn trims() {
        assert_eq!(ok(r#"trim("?!hello?!", "!?")"#), s("hello"));
        assert_eq!(ok(r#"trim("foobar", "far")"#), s("oob"));
        assert_eq!(ok(r#"trimprefix("helloworld", "hello")"#), s("world"));
        assert_eq!(ok(r#"trimprefix("helloworld", "cat")"#), s("helloworld"));
        assert_eq!(ok(r#"trimsuffix("helloworld", "world")"#), s("hello"));
        assert_eq!(ok(r#"trimspace("  hello\n\t")"#), s("hello"));
        fails(
            r#"trimspace([])"#,
            "trimspace: argument 1: cannot convert list to string",
        );
    }
}
