//! Argument checks shared by the functions, with Go-like messages.

use std::fmt::Display;

use gotmpl::{TemplateError, Value};

pub(crate) type FnResult = Result<Value, TemplateError>;

/// An error raised by `function`.
pub(crate) fn fail(function: &str, message: impl Display) -> TemplateError {
    TemplateError::Exec(format!("{function}: {message}"))
}

/// Exactly `expected` arguments.
pub(crate) fn arity(function: &str, args: &[Value], expected: usize) -> Result<(), TemplateError> {
    if args.len() == expected {
        Ok(())
    } else {
        Err(TemplateError::ArgCount {
            name: function.to_string(),
            expected,
            got: args.len(),
        })
    }
}

/// Between `min` and `max` arguments.
pub(crate) fn arity_between(
    function: &str,
    args: &[Value],
    min: usize,
    max: usize,
) -> Result<(), TemplateError> {
    if (min..=max).contains(&args.len()) {
        Ok(())
    } else {
        Err(fail(
            function,
            format!(
                "wrong number of arguments, expected {min} to {max}, but got {}",
                args.len()
            ),
        ))
    }
}

/// A string argument. Numbers and booleans are written out, and nil (a
/// missing field, or data that has not arrived yet) is "": templates pass fields
/// of any type to string functions, and Go would only differ in refusing.
pub(crate) fn text(function: &str, v: &Value) -> Result<String, TemplateError> {
    match v {
        Value::String(s) => Ok(s.to_string()),
        Value::Nil => Ok(String::new()),
        Value::Bool(_) | Value::Int(_) | Value::Uint(_) | Value::Float(_) => Ok(v.to_string()),
        other => Err(fail(
            function,
            format!("expected a string, got {}", other.type_name()),
        )),
    }
}

/// An integer argument (a number, or a string holding one).
pub(crate) fn integer(function: &str, v: &Value) -> Result<i64, TemplateError> {
    match v {
        Value::Int(n) => Ok(*n),
        Value::Uint(n) => {
            i64::try_from(*n).map_err(|_| fail(function, format!("{n} overflows int")))
        }
        Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| fail(function, format!("expected an integer, got {s:?}"))),
        other => Err(fail(
            function,
            format!("expected an integer, got {}", other.type_name()),
        )),
    }
}

/// The items of a list argument; nil is the empty list.
pub(crate) fn items<'a>(function: &str, v: &'a Value) -> Result<&'a [Value], TemplateError> {
    match v {
        Value::List(items) => Ok(items),
        Value::Nil => Ok(&[]),
        other => Err(fail(
            function,
            format!("expected a list, got {}", other.type_name()),
        )),
    }
}

pub(crate) fn empty_list() -> Value {
    Value::List(Vec::new().into())
}
