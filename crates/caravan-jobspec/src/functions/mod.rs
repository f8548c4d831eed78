//! The HCL functions job files may call: Nomad's jobspec2 function set, with the
//! semantics of the HCL2 standard library that Nomad and Terraform share.
//!
//! hcl-rs has no function library of its own, so every function is written here, one
//! family per file. Each function takes its parameters as `ParamType::Any` and converts
//! them itself the way HCL2 does (a number where a string is wanted becomes its decimal
//! text, `"5"` where a number is wanted becomes 5, ...), so that `upper(5)` or
//! `format("%d", "7")` work as in Nomad and every error names the function:
//! `format: not enough arguments for verb %d at offset 0`. hcl-rs itself checks the
//! argument count and reports it as "error calling function `x`: expected 2 positional
//! arguments, got 1".
//!
//! What differs from Nomad, by necessity:
//! - hcl-rs has no set type: sets are arrays without duplicates, with strings and numbers
//!   in sorted order (the order HCL2 gives them when they are turned into lists).
//! - Strings are measured in Unicode scalar values, not grapheme clusters (`strlen`,
//!   `substr`, `strrev`, `length`, `format` widths), so a letter with a combining accent
//!   counts as two.
//! - hcl-rs evaluates every argument before calling a function, so `can` and `try` cannot
//!   catch an error in their argument: `can(x)` returns true when `x` evaluates and the
//!   evaluation error of `x` is reported when it does not; `try(a, b)` returns `a` when all
//!   arguments evaluate. Real fallback needs a pass over the expression before evaluation.
//! - `convert(v, type)` works because [`declare_all`] also declares the type keywords:
//!   variables `string`, `number`, `bool` and `any`, and functions `list`, `set`, `map`,
//!   `tuple` and `object` that build a type description (see `convert.rs`).
//! - `bcrypt` and `rsadecrypt` are declared but fail: `bcrypt` is not supported by caravan.
//! - `yamldecode` reads a subset of YAML (block and flow collections, scalars, block
//!   scalars; no anchors, tags or multiple documents).

mod collections;
mod convert;
mod crypto;
mod datetime;
mod encoding;
mod format;
mod fs;
mod net;
mod numeric;
mod strings;
mod yaml;

use std::fmt::Display;
use std::path::Path;

use hcl::eval::{Context, Func, FuncArgs, FuncDef, ParamType};
use hcl::{Map, Number, Value};

/// What every function returns; the error is a lowercase message that starts with the
/// function's name.
type FnResult = Result<Value, String>;

/// One function's declaration: `min` positional arguments, and more when `variadic`.
/// Functions with optional arguments (`lookup`, `range`) are variadic and check their
/// upper bound themselves.
struct Spec {
    name: &'static str,
    min: usize,
    variadic: bool,
    func: Func,
}

const fn fixed(name: &'static str, min: usize, func: Func) -> Spec {
    Spec {
        name,
        min,
        variadic: false,
        func,
    }
}

const fn variadic(name: &'static str, min: usize, func: Func) -> Spec {
    Spec {
        name,
        min,
        variadic: true,
        func,
    }
}

/// Every function that does not touch the filesystem.
const FUNCS: &[Spec] = &[
    // Numbers.
    fixed("abs", 1, numeric::abs),
    fixed("ceil", 1, numeric::ceil),
    fixed("floor", 1, numeric::floor),
    fixed("log", 2, numeric::log),
    variadic("max", 1, numeric::max),
    variadic("min", 1, numeric::min),
    fixed("parseint", 2, numeric::parseint),
    fixed("pow", 2, numeric::pow),
    fixed("signum", 1, numeric::signum),
    // Strings.
    fixed("chomp", 1, strings::chomp),
    fixed("indent", 2, strings::indent),
    variadic("join", 1, strings::join),
    fixed("lower", 1, strings::lower),
    fixed("regex_replace", 3, strings::regex_replace),
    fixed("replace", 3, strings::replace),
    fixed("split", 2, strings::split),
    fixed("strlen", 1, strings::strlen),
    fixed("strrev", 1, strings::strrev),
    fixed("substr", 3, strings::substr),
    fixed("title", 1, strings::title),
    fixed("trim", 2, strings::trim),
    fixed("trimprefix", 2, strings::trimprefix),
    fixed("trimspace", 1, strings::trimspace),
    fixed("trimsuffix", 2, strings::trimsuffix),
    fixed("upper", 1, strings::upper),
    variadic("format", 1, format::format),
    variadic("formatlist", 1, format::formatlist),
    // Collections.
    fixed("chunklist", 2, collections::chunklist),
    variadic("coalesce", 1, collections::coalesce),
    variadic("coalescelist", 1, collections::coalescelist),
    fixed("compact", 1, collections::compact),
    variadic("concat", 0, collections::concat),
    fixed("contains", 2, collections::contains),
    fixed("distinct", 1, collections::distinct),
    fixed("element", 2, collections::element),
    fixed("flatten", 1, collections::flatten),
    fixed("index", 2, collections::index),
    fixed("keys", 1, collections::keys),
    fixed("length", 1, collections::length),
    variadic("lookup", 2, collections::lookup),
    variadic("merge", 0, collections::merge),
    variadic("range", 1, collections::range),
    fixed("reverse", 1, collections::reverse),
    variadic("setintersection", 1, collections::setintersection),
    variadic("setproduct", 2, collections::setproduct),
    variadic("setunion", 1, collections::setunion),
    fixed("slice", 3, collections::slice),
    fixed("sort", 1, collections::sort),
    fixed("values", 1, collections::values),
    fixed("zipmap", 2, collections::zipmap),
    // Conversions and error handling.
    fixed("can", 1, convert::can),
    fixed("convert", 2, convert::convert),
    fixed("tobool", 1, convert::tobool),
    fixed("tolist", 1, convert::tolist),
    fixed("tomap", 1, convert::tomap),
    fixed("tonumber", 1, convert::tonumber),
    fixed("toset", 1, convert::toset),
    fixed("tostring", 1, convert::tostring),
    variadic("try", 1, convert::try_),
    fixed("list", 1, convert::list_type),
    fixed("set", 1, convert::set_type),
    fixed("map", 1, convert::map_type),
    fixed("tuple", 1, convert::tuple_type),
    fixed("object", 1, convert::object_type),
    // Encodings.
    fixed("base64decode", 1, encoding::base64decode),
    fixed("base64encode", 1, encoding::base64encode),
    fixed("csvdecode", 1, encoding::csvdecode),
    fixed("jsondecode", 1, encoding::jsondecode),
    fixed("jsonencode", 1, encoding::jsonencode),
    fixed("urlencode", 1, encoding::urlencode),
    fixed("yamldecode", 1, yaml::yamldecode),
    fixed("yamlencode", 1, yaml::yamlencode),
    // Hashes, identifiers, crypto.
    variadic("bcrypt", 0, crypto::bcrypt),
    fixed("md5", 1, crypto::md5),
    variadic("rsadecrypt", 0, crypto::rsadecrypt),
    fixed("sha1", 1, crypto::sha1),
    fixed("sha256", 1, crypto::sha256),
    fixed("sha512", 1, crypto::sha512),
    fixed("uuidv4", 0, crypto::uuidv4),
    fixed("uuidv5", 2, crypto::uuidv5),
    // Networks and time.
    fixed("cidrhost", 2, net::cidrhost),
    fixed("cidrnetmask", 1, net::cidrnetmask),
    fixed("cidrsubnet", 3, net::cidrsubnet),
    variadic("cidrsubnets", 1, net::cidrsubnets),
    fixed("formatdate", 2, datetime::formatdate),
    fixed("timeadd", 2, datetime::timeadd),
];

/// The filesystem functions, declared when `allow_fs` is set.
const FS_FUNCS: &[Spec] = &[
    fixed("abspath", 1, fs::abspath),
    fixed("basename", 1, fs::basename),
    fixed("dirname", 1, fs::dirname),
    fixed("file", 1, fs::file),
    fixed("filebase64", 1, fs::filebase64),
    fixed("fileexists", 1, fs::fileexists),
    fixed("fileset", 2, fs::fileset),
    fixed("pathexpand", 1, fs::pathexpand),
];

/// The same names when `allow_fs` is not set. These are separate function pointers, not a
/// flag read at call time, so a context built without filesystem access can never read a
/// file, whatever another `declare_all` call on the same thread asked for.
const FS_DISABLED: &[Spec] = &[
    variadic("abspath", 0, fs::disabled::abspath),
    variadic("basename", 0, fs::disabled::basename),
    variadic("dirname", 0, fs::disabled::dirname),
    variadic("file", 0, fs::disabled::file),
    variadic("filebase64", 0, fs::disabled::filebase64),
    variadic("fileexists", 0, fs::disabled::fileexists),
    variadic("fileset", 0, fs::disabled::fileset),
    variadic("pathexpand", 0, fs::disabled::pathexpand),
];

/// Declares every function in `ctx`. Filesystem functions (`file`, `fileexists`, ...)
/// are declared only when `allow_fs` is set, resolving relative paths against `base_dir`;
/// otherwise calling one fails with "filesystem functions disabled".
///
/// Function pointers cannot capture `base_dir`, so it is kept in a thread-local that this
/// call sets: evaluate on the thread that called `declare_all`, after the last call (a later
/// call on the same thread replaces the base directory for every context).
pub(crate) fn declare_all(ctx: &mut Context<'_>, allow_fs: bool, base_dir: Option<&Path>) {
    for spec in FUNCS {
        declare(ctx, spec);
    }
    let fs_specs = if allow_fs {
        fs::set_base_dir(base_dir);
        FS_FUNCS
    } else {
        FS_DISABLED
    };
    for spec in fs_specs {
        declare(ctx, spec);
    }
    convert::declare_type_keywords(ctx);
}

fn declare(ctx: &mut Context<'_>, spec: &Spec) {
    let mut builder = FuncDef::builder();
    for _ in 0..spec.min {
        builder = builder.param(ParamType::Any);
    }
    if spec.variadic {
        builder = builder.variadic_param(ParamType::Any);
    }
    ctx.declare_func(spec.name, builder.build(spec.func));
}

/// A function's arguments with its name, for conversions whose errors name the function.
struct Args<'a> {
    name: &'static str,
    vals: &'a [Value],
}

/// Returned for a missing optional argument; hcl-rs has already checked the count.
static NULL: Value = Value::Null;

impl<'a> Args<'a> {
    fn new(name: &'static str, args: &'a FuncArgs) -> Self {
        Args {
            name,
            vals: args.as_slice(),
        }
    }

    fn len(&self) -> usize {
        self.vals.len()
    }

    fn get(&self, i: usize) -> &'a Value {
        self.vals.get(i).unwrap_or(&NULL)
    }

    fn rest(&self, from: usize) -> &'a [Value] {
        self.vals.get(from..).unwrap_or(&[])
    }

    /// An error message that names the function.
    fn err(&self, msg: impl Display) -> String {
        format!("{}: {msg}", self.name)
    }

    /// Fails unless there are at most `max` arguments (for optional parameters).
    fn at_most(&self, max: usize) -> Result<(), String> {
        if self.len() > max {
            return Err(self.err(format_args!(
                "expected at most {max} arguments, got {}",
                self.len()
            )));
        }
        Ok(())
    }

    fn string(&self, i: usize) -> Result<String, String> {
        to_string(self.get(i)).map_err(|e| self.err(format_args!("argument {}: {e}", i + 1)))
    }

    fn number(&self, i: usize) -> Result<Number, String> {
        to_number(self.get(i)).map_err(|e| self.err(format_args!("argument {}: {e}", i + 1)))
    }

    fn float(&self, i: usize) -> Result<f64, String> {
        Ok(as_f64(&self.number(i)?))
    }

    /// A whole number that fits in an `i64`.
    fn int(&self, i: usize) -> Result<i64, String> {
        let n = self.number(i)?;
        to_int(&n).ok_or_else(|| {
            self.err(format_args!(
                "argument {}: a whole number is required, got {n}",
                i + 1
            ))
        })
    }

    /// A list (or set, or tuple: all arrays here).
    fn list(&self, i: usize) -> Result<&'a [Value], String> {
        match self.get(i) {
            Value::Array(items) => Ok(items),
            other => Err(self.err(format_args!(
                "argument {}: a list is required, got {}",
                i + 1,
                kind(other)
            ))),
        }
    }

    /// A map or object.
    fn object(&self, i: usize) -> Result<&'a Map<String, Value>, String> {
        match self.get(i) {
            Value::Object(map) => Ok(map),
            other => Err(self.err(format_args!(
                "argument {}: a map is required, got {}",
                i + 1,
                kind(other)
            ))),
        }
    }
}

/// The type name used in error messages.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

/// HCL2's conversion to string: numbers become their decimal text (never an exponent),
/// booleans `true`/`false`.
fn to_string(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(number_text(n)),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Null => Err("a string is required, got null".to_string()),
        other => Err(format!("cannot convert {} to string", kind(other))),
    }
}

/// HCL2's conversion to number: strings are parsed as decimal numbers.
fn to_number(v: &Value) -> Result<Number, String> {
    match v {
        Value::Number(n) => Ok(*n),
        Value::String(s) => {
            parse_number(s).ok_or_else(|| format!("cannot convert {s:?} to number"))
        }
        Value::Null => Err("a number is required, got null".to_string()),
        other => Err(format!("cannot convert {} to number", kind(other))),
    }
}

/// HCL2's conversion to bool: only the strings "true" and "false".
fn to_bool(v: &Value) -> Result<bool, String> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s == "true" => Ok(true),
        Value::String(s) if s == "false" => Ok(false),
        Value::String(s) => Err(format!("cannot convert {s:?} to bool")),
        Value::Null => Err("a bool is required, got null".to_string()),
        other => Err(format!("cannot convert {} to bool", kind(other))),
    }
}

/// Parses a decimal number the way HCL2 does when converting a string: integers stay
/// exact, anything else goes through `f64`. Infinity and NaN are not numbers here.
fn parse_number(s: &str) -> Option<Number> {
    let t = s.trim();
    if let Ok(i) = t.parse::<i64>() {
        return Some(Number::from(i));
    }
    if let Ok(u) = t.parse::<u64>() {
        return Some(Number::from(u));
    }
    let looks_numeric = t
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | 'E' | '+' | '-'));
    if !looks_numeric || t.is_empty() {
        return None;
    }
    t.parse::<f64>().ok().and_then(Number::from_f64)
}

/// Decimal text of a number without an exponent, as HCL2 converts numbers to strings.
fn number_text(n: &Number) -> String {
    if n.is_f64() {
        // Rust's `Display` for f64 is the shortest round-tripping decimal, never an exponent.
        as_f64(n).to_string()
    } else {
        n.to_string()
    }
}

fn as_f64(n: &Number) -> f64 {
    n.as_f64().unwrap_or(0.0)
}

/// The integer value of a whole number, if it fits in an `i64`.
fn to_int(n: &Number) -> Option<i64> {
    if let Some(i) = n.as_i64() {
        return Some(i);
    }
    let f = as_f64(n);
    if f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64 {
        #[allow(clippy::cast_possible_truncation)]
        return Some(f as i64);
    }
    None
}

/// A number value from an `f64`, failing for infinity and NaN.
fn float_value(name: &str, f: f64) -> FnResult {
    Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| format!("{name}: result is not a finite number"))
}

#[cfg(test)]
mod test_support {
    use std::path::Path;

    use hcl::eval::{Context, Evaluate};
    use hcl::{Expression, Value};

    /// Evaluates one HCL expression with every function declared and no filesystem access.
    pub(super) fn eval(src: &str) -> Result<Value, String> {
        eval_with(src, false, None)
    }

    pub(super) fn eval_with(
        src: &str,
        allow_fs: bool,
        base_dir: Option<&Path>,
    ) -> Result<Value, String> {
        let mut ctx = Context::new();
        super::declare_all(&mut ctx, allow_fs, base_dir);
        // Parse a whole attribute, as a job file would contain it, and evaluate its value.
        let body = hcl::parse(&format!("x = {src}\n")).map_err(|e| e.to_string())?;
        let attr = body
            .attributes()
            .next()
            .expect("invariant: the test body has one attribute");
        let expr: &Expression = attr.expr();
        expr.evaluate(&ctx).map_err(|e| e.to_string())
    }

    /// Evaluates and expects success.
    pub(super) fn ok(src: &str) -> Value {
        match eval(src) {
            Ok(v) => v,
            Err(e) => panic!("{src}: unexpected error: {e}"),
        }
    }

    /// Evaluates and expects an error containing `needle`.
    pub(super) fn fails(src: &str, needle: &str) {
        match eval(src) {
            Ok(v) => panic!("{src}: expected an error containing {needle:?}, got {v:?}"),
            Err(e) => assert!(e.contains(needle), "{src}: error {e:?} lacks {needle:?}"),
        }
    }

    /// The value of an HCL literal, for comparisons.
    pub(super) fn lit(src: &str) -> Value {
        ok(src)
    }

    pub(super) fn s(v: &str) -> Value {
        Value::String(v.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{eval, eval_with, fails, ok, s};
    use hcl::Value;

    /// Nomad's jobspec2 function list (compat notes, section 1.1), filesystem ones included.
    const NOMAD_FUNCTIONS: &[&str] = &[
        "abs",
        "abspath",
        "base64decode",
        "base64encode",
        "basename",
        "bcrypt",
        "can",
        "ceil",
        "chomp",
        "chunklist",
        "cidrhost",
        "cidrnetmask",
        "cidrsubnet",
        "cidrsubnets",
        "coalesce",
        "coalescelist",
        "compact",
        "concat",
        "contains",
        "convert",
        "csvdecode",
        "dirname",
        "distinct",
        "element",
        "file",
        "filebase64",
        "fileexists",
        "fileset",
        "flatten",
        "floor",
        "format",
        "formatdate",
        "formatlist",
        "indent",
        "index",
        "join",
        "jsondecode",
        "jsonencode",
        "keys",
        "length",
        "log",
        "lookup",
        "lower",
        "max",
        "md5",
        "merge",
        "min",
        "parseint",
        "pathexpand",
        "pow",
        "range",
        "regex_replace",
        "replace",
        "reverse",
        "rsadecrypt",
        "setintersection",
        "setproduct",
        "setunion",
        "sha1",
        "sha256",
        "sha512",
        "signum",
        "slice",
        "sort",
        "split",
        "strlen",
        "strrev",
        "substr",
        "timeadd",
        "title",
        "tobool",
        "tolist",
        "tomap",
        "tonumber",
        "toset",
        "tostring",
        "trim",
        "trimprefix",
        "trimspace",
        "trimsuffix",
        "try",
        "upper",
        "urlencode",
        "uuidv4",
        "uuidv5",
        "values",
        "yamldecode",
        "yamlencode",
        "zipmap",
    ];

    #[test]
    fn every_nomad_function_is_declared() {
        for allow_fs in [false, true] {
            for name in NOMAD_FUNCTIONS {
                // Called without arguments: any error but "undefined function" will do.
                if let Err(e) = eval_with(&format!("{name}()"), allow_fs, None) {
                    assert!(!e.contains("undefined function"), "{name}: {e}");
                }
            }
        }
    }

    #[test]
    fn functions_declared_are_callable_inside_templates() {
        assert_eq!(ok(r#""${upper("eu")}-${format("%03d", 7)}""#), s("EU-007"));
    }

    #[test]
    fn arity_errors_name_the_function() {
        let err = eval(r#"upper("a", "b")"#).expect_err("two arguments");
        assert!(err.contains("upper"), "{err}");
        assert!(
            err.contains("expected 1 positional arguments, got 2"),
            "{err}"
        );
    }

    #[test]
    fn conversion_errors_name_the_function() {
        fails(
            "upper([1])",
            "upper: argument 1: cannot convert list to string",
        );
        fails(
            "abs(\"x\")",
            "abs: argument 1: cannot convert \"x\" to number",
        );
    }

    #[test]
    fn strings_and_numbers_convert_as_in_hcl2() {
        assert_eq!(ok("upper(5)"), s("5"));
        assert_eq!(ok("abs(\"-3\")"), Value::from(3));
        assert_eq!(ok("tostring(1.5)"), s("1.5"));
    }

    #[test]
    fn filesystem_functions_fail_when_disabled() {
        for call in [
            "abspath(\"a\")",
            "basename(\"a/b\")",
            "dirname(\"a/b\")",
            "file(\"x\")",
            "filebase64(\"x\")",
            "fileexists(\"x\")",
            "fileset(\".\", \"*\")",
            "pathexpand(\"~\")",
        ] {
            let err = eval_with(call, false, None).expect_err(call);
            assert!(
                err.contains("filesystem functions disabled"),
                "{call}: {err}"
            );
        }
    }

    #[test]
    fn unsupported_crypto_is_declared_with_a_clear_error() {
        fails("bcrypt(\"x\")", "`bcrypt` is not supported by caravan");
        fails(
            "rsadecrypt(\"x\", \"k\")",
            "`rsadecrypt` is not supported by caravan",
        );
    }
}
