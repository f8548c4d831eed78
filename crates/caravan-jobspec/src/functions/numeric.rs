//! Number functions: abs, ceil, floor, log, max, min, parseint, pow, signum.

use hcl::eval::FuncArgs;
use hcl::{Number, Value};

use super::{Args, FnResult, as_f64, float_value};

pub(super) fn abs(args: FuncArgs) -> FnResult {
    let a = Args::new("abs", &args);
    let n = a.number(0)?;
    if let Some(abs) = n.as_i64().and_then(i64::checked_abs) {
        return Ok(Value::from(abs));
    }
    if n.is_u64() {
        return Ok(Value::Number(n));
    }
    float_value(a.name, as_f64(&n).abs())
}

pub(super) fn ceil(args: FuncArgs) -> FnResult {
    let a = Args::new("ceil", &args);
    let n = a.number(0)?;
    if !n.is_f64() {
        return Ok(Value::Number(n));
    }
    float_value(a.name, as_f64(&n).ceil())
}

pub(super) fn floor(args: FuncArgs) -> FnResult {
    let a = Args::new("floor", &args);
    let n = a.number(0)?;
    if !n.is_f64() {
        return Ok(Value::Number(n));
    }
    float_value(a.name, as_f64(&n).floor())
}

pub(super) fn log(args: FuncArgs) -> FnResult {
    let a = Args::new("log", &args);
    let (n, base) = (a.float(0)?, a.float(1)?);
    float_value(a.name, n.ln() / base.ln())
}

pub(super) fn pow(args: FuncArgs) -> FnResult {
    let a = Args::new("pow", &args);
    let (base, exp) = (a.number(0)?, a.number(1)?);
    // Stay exact for whole powers of whole numbers while they fit.
    if let (Some(b), Some(e)) = (base.as_i64(), exp.as_u64())
        && let Some(r) = u32::try_from(e).ok().and_then(|e| b.checked_pow(e))
    {
        return Ok(Value::from(r));
    }
    float_value(a.name, as_f64(&base).powf(as_f64(&exp)))
}

pub(super) fn signum(args: FuncArgs) -> FnResult {
    let a = Args::new("signum", &args);
    let f = a.float(0)?;
    let sign = if f > 0.0 {
        1
    } else if f < 0.0 {
        -1
    } else {
        0
    };
    Ok(Value::from(sign))
}

pub(super) fn max(args: FuncArgs) -> FnResult {
    extreme(Args::new("max", &args), |candidate, best| candidate > best)
}

pub(super) fn min(args: FuncArgs) -> FnResult {
    extreme(Args::new("min", &args), |candidate, best| candidate < best)
}

/// The argument that `better` prefers over all others, kept as its exact number.
fn extreme(a: Args<'_>, better: fn(f64, f64) -> bool) -> FnResult {
    let mut best: Option<Number> = None;
    for i in 0..a.len() {
        let n = a.number(i)?;
        best = match best {
            Some(b) if !better(as_f64(&n), as_f64(&b)) => Some(b),
            _ => Some(n),
        };
    }
    best.map(Value::Number)
        .ok_or_else(|| a.err("at least one number is required"))
}

/// `parseint(string, base)`: digits 0-9, then a-z, then (for bases above 36) A-Z, as
/// Go's `big.Int` reads them; case-insensitive up to base 36. An optional sign is allowed.
pub(super) fn parseint(args: FuncArgs) -> FnResult {
    let a = Args::new("parseint", &args);
    let text = a.string(0)?;
    let base = a.int(1)?;
    if !(2..=62).contains(&base) {
        return Err(a.err("base must be a whole number between 2 and 62 inclusive"));
    }
    let bad = || {
        a.err(format_args!(
            "cannot parse {text:?} as a base {base} integer"
        ))
    };
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(&text)),
    };
    if digits.is_empty() {
        return Err(bad());
    }
    let base = i128::from(base);
    let mut acc: i128 = 0;
    for c in digits.chars() {
        let d = match c {
            '0'..='9' => i128::from(c as u8 - b'0'),
            'a'..='z' => i128::from(c as u8 - b'a' + 10),
            'A'..='Z' if base <= 36 => i128::from(c as u8 - b'A' + 10),
            'A'..='Z' => i128::from(c as u8 - b'A' + 36),
            _ => return Err(bad()),
        };
        if d >= base {
            return Err(bad());
        }
        acc = acc
            .checked_mul(base)
            .and_then(|v| v.checked_add(d))
            .ok_or_else(|| a.err(format_args!("{text:?} is too large")))?;
    }
    if negative {
        acc = -acc;
    }
    if let Ok(i) = i64::try_from(acc) {
        return Ok(Value::from(i));
    }
    if let Ok(u) = u64::try_from(acc) {
        return Ok(Value::from(u));
    }
    #[allow(clippy::cast_precision_loss)]
    float_value(a.name, acc as f64)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{fails, ok};
    use hcl::Value;

    fn num(src: &str) -> f64 {
        ok(src).as_f64().expect("a number")
    }

    #[test]
    fn abs_ceil_floor_signum() {
        assert_eq!(ok("abs(-12)"), Value::from(12));
        assert_eq!(ok("abs(12.5)"), Value::from(12.5));
        assert_eq!(ok("abs(-12.5)"), Value::from(12.5));
        assert_eq!(ok("ceil(5.1)"), Value::from(6));
        assert_eq!(ok("ceil(-5.1)"), Value::from(-5));
        assert_eq!(ok("floor(4.9)"), Value::from(4));
        assert_eq!(ok("floor(-4.1)"), Value::from(-5));
        assert_eq!(ok("floor(7)"), Value::from(7));
        assert_eq!(ok("signum(-13)"), Value::from(-1));
        assert_eq!(ok("signum(0)"), Value::from(0));
        assert_eq!(ok("signum(344.5)"), Value::from(1));
        fails(
            "abs(true)",
            "abs: argument 1: cannot convert bool to number",
        );
    }

    #[test]
    fn log_and_pow() {
        assert_eq!(num("log(16, 2)"), 4.0);
        assert!((num("log(50, 10)") - 1.69897).abs() < 1e-5);
        fails("log(0, 10)", "log: result is not a finite number");
        assert_eq!(ok("pow(3, 2)"), Value::from(9));
        assert_eq!(ok("pow(4, 0)"), Value::from(1));
        assert_eq!(num("pow(2, -1)"), 0.5);
        assert_eq!(num("pow(4, 0.5)"), 2.0);
    }

    #[test]
    fn max_and_min() {
        assert_eq!(ok("max(12, 54, 3)"), Value::from(54));
        assert_eq!(ok("min(12, 54, 3)"), Value::from(3));
        assert_eq!(ok("max([12, 54, 3]...)"), Value::from(54));
        assert_eq!(ok("min(\"7\", 9)"), Value::from(7));
        assert_eq!(num("max(-1.5, -2)"), -1.5);
        fails("max()", "expected 1 positional arguments, got 0");
        fails(
            "min(1, \"x\")",
            "min: argument 2: cannot convert \"x\" to number",
        );
    }

    #[test]
    fn parseint_bases() {
        assert_eq!(ok("parseint(\"100\", 10)"), Value::from(100));
        assert_eq!(ok("parseint(\"FF\", 16)"), Value::from(255));
        assert_eq!(ok("parseint(\"-10\", 16)"), Value::from(-16));
        assert_eq!(ok("parseint(\"1011111011101111\", 2)"), Value::from(48879));
        assert_eq!(ok("parseint(\"aA\", 62)"), Value::from(10 * 62 + 36));
        assert_eq!(ok("parseint(\"zz\", 36)"), Value::from(35 * 36 + 35));
        fails(
            "parseint(\"12\", 2)",
            "parseint: cannot parse \"12\" as a base 2 integer",
        );
        fails(
            "parseint(\"\", 10)",
            "cannot parse \"\" as a base 10 integer",
        );
        fails(
            "parseint(\"1\", 63)",
            "base must be a whole number between 2 and 62",
        );
        fails(
            "parseint(\"1\", 1)",
            "base must be a whole number between 2 and 62",
        );
    }
}
