//! `env`, `envOrDefault`, `mustEnv`: the task environment and node attributes.

use gotmpl::Value;

use super::args::{FnResult, arity, fail, text};
use crate::exchange::SharedExchange;
use crate::value;

/// `Some(value)` when known (`None`: unset), `None` until the context answered.
fn lookup(ex: &SharedExchange, name: &str) -> Option<Option<String>> {
    ex.with(|x| x.env(name))
}

/// `env "NAME"`: the value, or "" when unset.
pub(super) fn env(ex: &SharedExchange, args: &[Value]) -> FnResult {
    arity("env", args, 1)?;
    let name = text("env", &args[0])?;
    let v = lookup(ex, &name).flatten().unwrap_or_default();
    Ok(value::string(&v))
}

/// `envOrDefault "NAME" "default"`: the value when set (even empty), else the default.
pub(super) fn env_or_default(ex: &SharedExchange, args: &[Value]) -> FnResult {
    const NAME: &str = "envOrDefault";
    arity(NAME, args, 2)?;
    let name = text(NAME, &args[0])?;
    let default = text(NAME, &args[1])?;
    let v = lookup(ex, &name).flatten().unwrap_or(default);
    Ok(value::string(&v))
}

/// `mustEnv "NAME"`: the value; an error when unset or empty.
pub(super) fn must_env(ex: &SharedExchange, args: &[Value]) -> FnResult {
    const NAME: &str = "mustEnv";
    arity(NAME, args, 1)?;
    let name = text(NAME, &args[0])?;
    match lookup(ex, &name) {
        // Not asked yet: a placeholder, the next pass has the answer.
        None => Ok(value::string("")),
        Some(Some(v)) if !v.is_empty() => Ok(value::string(&v)),
        Some(_) => Err(fail(
            NAME,
            format!("required environment variable {name} is empty"),
        )),
    }
}
