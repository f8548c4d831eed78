//! The function set templates may call (documented in the crate docs).

mod args;
mod catalog;
mod convert;
mod env;
mod json;
mod kv;
mod math;
mod strings;

use std::sync::Arc;

use gotmpl::{FuncMap, TemplateError, Value};

use crate::exchange::SharedExchange;

/// Go's builtins as gotmpl provides them.
pub(crate) const BUILTINS: &[&str] = &[
    "and", "call", "eq", "ge", "gt", "html", "index", "js", "le", "len", "lt", "ne", "not", "or",
    "print", "printf", "println", "slice", "urlquery",
];

/// Nomad's default client `function_denylist`.
pub(crate) const DEFAULT_DENYLIST: &[&str] = &["executeTemplate", "plugin", "writeToFile"];

type Pure = fn(&[Value]) -> Result<Value, TemplateError>;
type Data = fn(&SharedExchange, &[Value]) -> Result<Value, TemplateError>;

const PURE: &[(&str, Pure)] = &[
    ("add", math::add),
    ("byTag", catalog::by_tag),
    ("contains", strings::contains),
    ("divide", math::divide),
    ("hasPrefix", strings::has_prefix),
    ("hasSuffix", strings::has_suffix),
    ("in", strings::in_),
    ("join", strings::join),
    ("modulo", math::modulo),
    ("multiply", math::multiply),
    ("parseBool", convert::parse_bool),
    ("parseFloat", convert::parse_float),
    ("parseInt", convert::parse_int),
    ("parseUint", convert::parse_uint),
    ("replaceAll", strings::replace_all),
    ("split", strings::split),
    ("subtract", math::subtract),
    ("toJSON", json::to_json),
    ("toJSONPretty", json::to_json_pretty),
    ("toLower", strings::to_lower),
    ("toTitle", strings::to_title),
    ("toUpper", strings::to_upper),
    ("trim", strings::trim),
    ("trimPrefix", strings::trim_prefix),
    ("trimSpace", strings::trim_space),
    ("trimSuffix", strings::trim_suffix),
];

const DATA: &[(&str, Data)] = &[
    ("env", env::env),
    ("envOrDefault", env::env_or_default),
    ("key", kv::key),
    ("keyExists", kv::key_exists),
    ("keyOrDefault", kv::key_or_default),
    ("ls", kv::ls),
    ("mustEnv", env::must_env),
    ("nomadService", catalog::nomad_service),
    ("nomadServices", catalog::nomad_services),
    ("service", catalog::service),
    ("services", catalog::services),
    ("tree", kv::tree),
];

/// Our functions, the data ones bound to `exchange`.
pub(crate) fn function_map(exchange: &SharedExchange) -> FuncMap {
    let mut map = FuncMap::new();
    for &(name, f) in PURE {
        map.insert(name.to_string(), Arc::new(f));
    }
    for &(name, f) in DATA {
        let exchange = exchange.clone();
        map.insert(
            name.to_string(),
            Arc::new(move |args: &[Value]| f(&exchange, args)),
        );
    }
    map
}

/// Every name a template may call, builtins included, sorted.
pub fn names() -> Vec<&'static str> {
    let mut names: Vec<&'static str> = BUILTINS
        .iter()
        .chain(PURE.iter().map(|(n, _)| n))
        .chain(DATA.iter().map(|(n, _)| n))
        .copied()
        .collect();
    names.sort_unstable();
    names
}
