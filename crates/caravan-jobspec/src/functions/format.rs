//! `format` and `formatlist`: printf-style formatting with Go's verbs, as HCL2 defines it.
//!
//! Verbs: `%%`, `%v` (strings as-is, numbers as `%g`, anything else as JSON; `%#v` is
//! always JSON), `%t`, `%b %d %o %x %X` (integers), `%e %E %f %g %G` (numbers), `%s`,
//! `%q` (JSON-quoted string). Flags ` `, `+`, `-`, `0`, `#`; a width; `.precision`; and
//! `[n]` to pick the n-th argument explicitly. Widths count characters.

use hcl::Value;
use hcl::eval::FuncArgs;

use super::encoding::{json_encode, json_string};
use super::{Args, FnResult, as_f64, to_bool, to_number, to_string};

pub(super) fn format(args: FuncArgs) -> FnResult {
    let a = Args::new("format", &args);
    let spec = a.string(0)?;
    format_values(&spec, a.rest(1))
        .map(Value::String)
        .map_err(|e| a.err(e))
}

/// `formatlist(spec, args...)`: list arguments are iterated together (they must have the
/// same length) and other arguments repeat, giving one formatted string per element.
pub(super) fn formatlist(args: FuncArgs) -> FnResult {
    let a = Args::new("formatlist", &args);
    let spec = a.string(0)?;
    let rest = a.rest(1);
    let mut rows: Option<(usize, usize)> = None;
    for (i, v) in rest.iter().enumerate() {
        if let Value::Array(items) = v {
            match rows {
                None => rows = Some((items.len(), i)),
                Some((len, first)) if len != items.len() => {
                    return Err(a.err(format_args!(
                        "argument {} has length {}, which is inconsistent with argument {} of length {len}",
                        i + 2,
                        items.len(),
                        first + 2
                    )));
                }
                Some(_) => {}
            }
        }
    }
    let count = rows.map_or(1, |(len, _)| len);
    let mut out = Vec::with_capacity(count);
    for row in 0..count {
        let row_args: Vec<Value> = rest
            .iter()
            .map(|v| match v {
                Value::Array(items) => items.get(row).cloned().unwrap_or(Value::Null),
                other => other.clone(),
            })
            .collect();
        let text = format_values(&spec, &row_args)
            .map_err(|e| a.err(format_args!("error on format iteration {row}: {e}")))?;
        out.push(Value::String(text));
    }
    Ok(Value::Array(out))
}

/// One `%...` sequence.
#[derive(Debug, Default)]
struct Verb {
    raw: String,
    offset: usize,
    mode: char,
    zero: bool,
    plus: bool,
    minus: bool,
    space: bool,
    sharp: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

fn format_values(spec: &str, vals: &[Value]) -> Result<String, String> {
    let chars: Vec<char> = spec.chars().collect();
    let mut out = String::with_capacity(spec.len());
    let mut next_arg = 0usize;
    let mut i = 0usize;
    while i < chars.len() {
        if chars[i] != '%' {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let start = i;
        i += 1;
        let mut verb = Verb {
            offset: start,
            ..Verb::default()
        };
        while let Some(&flag) = chars.get(i) {
            match flag {
                '0' => verb.zero = true,
                '+' => verb.plus = true,
                '-' => verb.minus = true,
                ' ' => verb.space = true,
                '#' => verb.sharp = true,
                _ => break,
            }
            i += 1;
        }
        if let Some(n) = parse_index(&chars, &mut i, start)? {
            next_arg = n;
        }
        verb.width = parse_digits(&chars, &mut i);
        if chars.get(i) == Some(&'.') {
            i += 1;
            verb.prec = Some(parse_digits(&chars, &mut i).ok_or_else(|| {
                format!("a period must be followed by a precision, at offset {start}")
            })?);
        }
        if let Some(n) = parse_index(&chars, &mut i, start)? {
            next_arg = n;
        }
        let Some(&mode) = chars.get(i) else {
            return Err(format!("unterminated format verb at offset {start}"));
        };
        i += 1;
        verb.mode = mode;
        verb.raw = chars[start..i].iter().collect();
        if mode == '%' {
            out.push('%');
            continue;
        }
        let arg = vals.get(next_arg).ok_or_else(|| {
            format!(
                "not enough arguments for verb {} at offset {start}: need argument {} but have {}",
                verb.raw,
                next_arg + 1,
                vals.len()
            )
        })?;
        next_arg += 1;
        append(&mut out, &verb, arg)?;
    }
    if next_arg < vals.len() {
        return Err(if next_arg == 0 {
            "too many arguments; no verbs in format string".to_string()
        } else {
            format!("too many arguments; only {next_arg} used by format string")
        });
    }
    Ok(out)
}

fn parse_digits(chars: &[char], i: &mut usize) -> Option<usize> {
    let start = *i;
    let mut n = 0usize;
    while let Some(d) = chars.get(*i).and_then(|c| c.to_digit(10)) {
        n = n.saturating_mul(10).saturating_add(d as usize);
        *i += 1;
    }
    (*i > start).then_some(n)
}

/// An explicit `[n]` argument index, returned zero-based.
fn parse_index(chars: &[char], i: &mut usize, start: usize) -> Result<Option<usize>, String> {
    if chars.get(*i) != Some(&'[') {
        return Ok(None);
    }
    *i += 1;
    let n = parse_digits(chars, i);
    match (n, chars.get(*i)) {
        (Some(n), Some(']')) if n > 0 => {
            *i += 1;
            Ok(Some(n - 1))
        }
        _ => Err(format!("invalid argument index at offset {start}")),
    }
}

fn append(out: &mut String, verb: &Verb, arg: &Value) -> Result<(), String> {
    let bad = |e: String| {
        format!(
            "unsupported value for {:?} at {}: {e}",
            verb.raw, verb.offset
        )
    };
    if verb.mode != 'v' && arg.is_null() {
        return Err(bad("null value cannot be formatted".to_string()));
    }
    match verb.mode {
        'v' => {
            let text = match arg {
                Value::String(s) if !verb.sharp => s.clone(),
                Value::Number(n) if !verb.sharp => float_text(as_f64(n), 'g', None),
                other => json_encode(other),
            };
            out.push_str(&pad(verb, text));
        }
        't' => {
            let b = to_bool(arg).map_err(bad)?;
            out.push_str(&pad(verb, b.to_string()));
        }
        'b' | 'd' | 'o' | 'x' | 'X' => {
            let n = to_number(arg).map_err(bad)?;
            let int = whole(&n).ok_or_else(|| bad("an integer is required".to_string()))?;
            out.push_str(&format_integer(verb, int));
        }
        'e' | 'E' | 'f' | 'g' | 'G' => {
            let f = as_f64(&to_number(arg).map_err(bad)?);
            let sign = sign_of(verb, f < 0.0);
            let body = float_text(f.abs(), verb.mode, verb.prec);
            out.push_str(&pad_number(verb, sign, "", body, true));
        }
        's' | 'q' => {
            let mut s = to_string(arg).map_err(bad)?;
            if let Some(p) = verb.prec.filter(|p| *p > 0) {
                s = s.chars().take(p).collect();
            }
            let text = if verb.mode == 'q' { json_string(&s) } else { s };
            out.push_str(&pad(verb, text));
        }
        other => {
            return Err(format!(
                "unsupported format verb {other:?} in {:?} at offset {}",
                verb.raw, verb.offset
            ));
        }
    }
    Ok(())
}

/// The integer value of a whole number, exactly when it is stored as an integer.
fn whole(n: &hcl::Number) -> Option<i128> {
    if let Some(i) = n.as_i64() {
        return Some(i128::from(i));
    }
    if let Some(u) = n.as_u64() {
        return Some(i128::from(u));
    }
    let f = as_f64(n);
    // 2^126 keeps the cast exact and away from the i128 bounds.
    if f.fract() == 0.0 && f.abs() < 8.507_059_173_023_462e37 {
        #[allow(clippy::cast_possible_truncation)]
        return Some(f as i128);
    }
    None
}

fn format_integer(verb: &Verb, int: i128) -> String {
    let mag = int.unsigned_abs();
    let mut digits = match verb.mode {
        'b' => format!("{mag:b}"),
        'o' => format!("{mag:o}"),
        'x' => format!("{mag:x}"),
        'X' => format!("{mag:X}"),
        _ => mag.to_string(),
    };
    if let Some(p) = verb.prec {
        if p == 0 && mag == 0 {
            digits.clear();
        } else if digits.len() < p {
            digits = format!("{}{digits}", "0".repeat(p - digits.len()));
        }
    }
    let prefix = match (verb.sharp, verb.mode) {
        (true, 'b') => "0b",
        (true, 'o') if !digits.starts_with('0') => "0",
        (true, 'x') => "0x",
        (true, 'X') => "0X",
        _ => "",
    };
    let sign = sign_of(verb, int < 0);
    // Go ignores the 0 flag for integers when a precision is given.
    pad_number(verb, sign, prefix, digits, verb.prec.is_none())
}

fn sign_of(verb: &Verb, negative: bool) -> &'static str {
    if negative {
        "-"
    } else if verb.plus {
        "+"
    } else if verb.space {
        " "
    } else {
        ""
    }
}

/// Pads a number to the width: zeros go between the sign and the digits.
fn pad_number(verb: &Verb, sign: &str, prefix: &str, digits: String, zero_ok: bool) -> String {
    let len = sign.len() + prefix.len() + digits.chars().count();
    let fill = verb.width.unwrap_or(0).saturating_sub(len);
    if verb.minus {
        format!("{sign}{prefix}{digits}{}", " ".repeat(fill))
    } else if verb.zero && zero_ok {
        format!("{sign}{prefix}{}{digits}", "0".repeat(fill))
    } else {
        format!("{}{sign}{prefix}{digits}", " ".repeat(fill))
    }
}

/// Pads any other text to the width; the 0 flag pads with zeros, as HCL2 does.
fn pad(verb: &Verb, text: String) -> String {
    let fill = verb.width.unwrap_or(0).saturating_sub(text.chars().count());
    if fill == 0 {
        return text;
    }
    if verb.minus {
        return format!("{text}{}", " ".repeat(fill));
    }
    let c = if verb.zero { "0" } else { " " };
    format!("{}{text}", c.repeat(fill))
}

/// Formats a non-negative float like Go's `%e`, `%f` or `%g` (`None` precision: the
/// default, which for `%g` is the shortest representation).
fn float_text(x: f64, mode: char, prec: Option<usize>) -> String {
    let upper = mode.is_ascii_uppercase();
    match mode.to_ascii_lowercase() {
        'f' => format!("{:.*}", prec.unwrap_or(6), x),
        'e' => {
            let (digits, exp) = sci_parts(&format!("{:.*e}", prec.unwrap_or(6), x), false);
            exp_text(&digits, exp, upper)
        }
        _ => g_text(x, prec, upper),
    }
}

/// Go's `%g`: scientific notation for exponents below -4 or at least the precision
/// (6 when the precision is the shortest), plain decimals otherwise; no trailing zeros.
fn g_text(x: f64, prec: Option<usize>, upper: bool) -> String {
    if x == 0.0 {
        return "0".to_string();
    }
    let (digits, exp) = match prec {
        None => sci_parts(&format!("{x:e}"), true),
        Some(p) => sci_parts(&format!("{:.*e}", p.max(1) - 1, x), true),
    };
    let nd = digits.len();
    let dp = exp + 1;
    let mut p = prec.map_or(nd, |p| p.max(1));
    let nd_i = i64::try_from(nd).unwrap_or(i64::MAX);
    let mut eprec = i64::try_from(p).unwrap_or(i64::MAX);
    if eprec > nd_i && nd_i >= dp {
        eprec = nd_i;
    }
    if prec.is_none() {
        eprec = 6;
    }
    if exp < -4 || exp >= eprec {
        return exp_text(&digits, exp, upper);
    }
    if i64::try_from(p).unwrap_or(i64::MAX) > dp {
        p = nd;
    }
    let decimals = usize::try_from(i64::try_from(p).unwrap_or(0) - dp).unwrap_or(0);
    fixed_text(&digits, dp, decimals)
}

/// Splits Rust's `{:e}` output ("1.2340e5") into its digits ("12340") and exponent (5);
/// `trim` drops trailing zeros (keeping one digit).
fn sci_parts(s: &str, trim: bool) -> (String, i64) {
    let (mantissa, exp) = s.split_once('e').unwrap_or((s, "0"));
    let mut digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if trim {
        while digits.len() > 1 && digits.ends_with('0') {
            digits.pop();
        }
    }
    (digits, exp.parse().unwrap_or(0))
}

/// "d.ddde+XX", with at least two exponent digits as Go writes them.
fn exp_text(digits: &str, exp: i64, upper: bool) -> String {
    let mut out = String::new();
    let mut chars = digits.chars();
    out.push(chars.next().unwrap_or('0'));
    let rest: String = chars.collect();
    if !rest.is_empty() {
        out.push('.');
        out.push_str(&rest);
    }
    out.push(if upper { 'E' } else { 'e' });
    out.push(if exp < 0 { '-' } else { '+' });
    out.push_str(&format!("{:02}", exp.unsigned_abs()));
    out
}

/// Plain decimal text of the digits `digits` with the decimal point after `dp` of them.
fn fixed_text(digits: &str, dp: i64, decimals: usize) -> String {
    let mut int_part = String::new();
    let mut frac = String::new();
    if dp <= 0 {
        int_part.push('0');
        frac.push_str(&"0".repeat(usize::try_from(-dp).unwrap_or(0)));
        frac.push_str(digits);
    } else {
        let dp = usize::try_from(dp).unwrap_or(0);
        if digits.len() >= dp {
            int_part.push_str(&digits[..dp]);
            frac.push_str(&digits[dp..]);
        } else {
            int_part.push_str(digits);
            int_part.push_str(&"0".repeat(dp - digits.len()));
        }
    }
    while frac.len() < decimals {
        frac.push('0');
    }
    frac.truncate(decimals);
    if frac.is_empty() {
        int_part
    } else {
        format!("{int_part}.{frac}")
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{fails, lit, ok, s};

    #[test]
    fn strings_and_padding() {
        assert_eq!(ok(r#"format("%s-%03d", "web", 7)"#), s("web-007"));
        assert_eq!(ok(r#"format("Hello, %s!", "Ander")"#), s("Hello, Ander!"));
        assert_eq!(
            ok(r#"format("[%5s][%-5s]", "ab", "cd")"#),
            s("[   ab][cd   ]")
        );
        assert_eq!(ok(r#"format("%.3s", "abcdef")"#), s("abc"));
        assert_eq!(ok(r#"format("%s", 12)"#), s("12"));
        assert_eq!(ok(r#"format("%s", true)"#), s("true"));
        assert_eq!(ok(r#"format("%q", "a\"b<")"#), s(r#""a\"b\u003c""#));
        assert_eq!(ok(r#"format("100%%")"#), s("100%"));
    }

    #[test]
    fn integers() {
        assert_eq!(ok(r#"format("%d", 42)"#), s("42"));
        assert_eq!(ok(r#"format("%d", "42")"#), s("42"));
        assert_eq!(
            ok(r#"format("%5d|%-5d|%05d", 42, 42, -42)"#),
            s("   42|42   |-0042")
        );
        assert_eq!(ok(r#"format("%+d % d", 5, 5)"#), s("+5  5"));
        assert_eq!(
            ok(r#"format("%x %X %o %b", 255, 255, 8, 5)"#),
            s("ff FF 10 101")
        );
        assert_eq!(ok(r#"format("%#x %#o", 255, 8)"#), s("0xff 010"));
        assert_eq!(ok(r#"format("%.3d", 7)"#), s("007"));
        assert_eq!(ok(r#"format("%d", 3.0)"#), s("3"));
        fails(r#"format("%d", 1.5)"#, "an integer is required");
        fails(r#"format("%d", "x")"#, "cannot convert \"x\" to number");
    }

    #[test]
    fn floats() {
        assert_eq!(ok(r#"format("%f", 3.14159)"#), s("3.141590"));
        assert_eq!(ok(r#"format("%.2f", 3.14159)"#), s("3.14"));
        assert_eq!(
            ok(r#"format("%8.2f|%-8.2f|%08.2f", 3.14159, 1.5, -1.5)"#),
            s("    3.14|1.50    |-0001.50")
        );
        assert_eq!(ok(r#"format("%.0f", 2.5)"#), s("2"));
        assert_eq!(ok(r#"format("%e", 123456.789)"#), s("1.234568e+05"));
        assert_eq!(ok(r#"format("%.2E", 0.000123)"#), s("1.23E-04"));
        assert_eq!(ok(r#"format("%g", 100000)"#), s("100000"));
        assert_eq!(ok(r#"format("%g", 1000000)"#), s("1e+06"));
        assert_eq!(ok(r#"format("%g", 0.0001)"#), s("0.0001"));
        assert_eq!(ok(r#"format("%g", 0.00001)"#), s("1e-05"));
        assert_eq!(ok(r#"format("%.3g", 1234.5678)"#), s("1.23e+03"));
        assert_eq!(ok(r#"format("%.5g", 1234.5678)"#), s("1234.6"));
        assert_eq!(ok(r#"format("%g", 1.5)"#), s("1.5"));
    }

    #[test]
    fn default_verb_and_bools() {
        assert_eq!(
            ok(r#"format("%v %v %v", "a", 8080, 1.25)"#),
            s("a 8080 1.25")
        );
        assert_eq!(ok(r#"format("%v", true)"#), s("true"));
        assert_eq!(ok(r#"format("%v", null)"#), s("null"));
        assert_eq!(ok(r#"format("%v", ["a", 1])"#), s(r#"["a",1]"#));
        assert_eq!(
            ok(r#"format("%v", {b = 1, a = "x"})"#),
            s(r#"{"a":"x","b":1}"#)
        );
        assert_eq!(ok(r#"format("%#v", "a")"#), s(r#""a""#));
        assert_eq!(ok(r#"format("%t", true)"#), s("true"));
        assert_eq!(ok(r#"format("%t", "false")"#), s("false"));
        fails(r#"format("%t", 1)"#, "cannot convert number to bool");
    }

    #[test]
    fn argument_indexes_and_errors() {
        assert_eq!(ok(r#"format("%[2]s %[1]s %s", "a", "b")"#), s("b a b"));
        fails(
            r#"format("%d")"#,
            "format: not enough arguments for verb %d",
        );
        fails(
            r#"format("%s %s", "a")"#,
            "not enough arguments for verb %s at offset 3",
        );
        fails(
            r#"format("%s", "a", "b")"#,
            "too many arguments; only 1 used by format string",
        );
        fails(
            r#"format("x", "a")"#,
            "too many arguments; no verbs in format string",
        );
        fails(r#"format("%s", null)"#, "null value cannot be formatted");
        fails(r#"format("%y", 1)"#, "unsupported format verb 'y'");
        fails(r#"format("abc %")"#, "unterminated format verb at offset 4");
        fails(
            r#"format("%.f", 1)"#,
            "a period must be followed by a precision",
        );
        fails(r#"format("%[0]s", 1)"#, "invalid argument index");
        fails(
            r#"format(["x"])"#,
            "format: argument 1: cannot convert list to string",
        );
    }

    #[test]
    fn formatlist_iterates_lists_and_repeats_scalars() {
        assert_eq!(
            ok(r#"formatlist("Hello, %s!", ["Valentina", "Ander"])"#),
            lit(r#"["Hello, Valentina!", "Hello, Ander!"]"#)
        );
        assert_eq!(
            ok(r#"formatlist("%s, %s!", "Salutations", ["Valentina", "Ander"])"#),
            lit(r#"["Salutations, Valentina!", "Salutations, Ander!"]"#)
        );
        assert_eq!(
            ok(r#"formatlist("%s=%d", ["a", "b"], [1, 2])"#),
            lit(r#"["a=1", "b=2"]"#)
        );
        assert_eq!(ok(r#"formatlist("%s", [])"#), lit("[]"));
        assert_eq!(ok(r#"formatlist("x-%s", "y")"#), lit(r#"["x-y"]"#));
        fails(
            r#"formatlist("%s%s", ["a"], ["b", "c"])"#,
            "argument 3 has length 2, which is inconsistent with argument 2 of length 1",
        );
        fails(
            r#"formatlist("%d", ["x"])"#,
            "formatlist: error on format iteration 0",
        );
    }
}
