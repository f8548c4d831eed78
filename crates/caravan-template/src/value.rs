//! Building template values (gotmpl's dynamic `Value`) from our own types.

use std::collections::BTreeMap;
use std::sync::Arc;

use gotmpl::Value;

/// A string value.
pub(crate) fn string(s: &str) -> Value {
    Value::String(Arc::from(s))
}

/// A list of strings.
pub(crate) fn strings<'a>(items: impl IntoIterator<Item = &'a String>) -> Value {
    list(items.into_iter().map(|s| string(s)))
}

/// A list of values.
pub(crate) fn list(items: impl IntoIterator<Item = Value>) -> Value {
    Value::List(items.into_iter().collect::<Vec<_>>().into())
}

/// A map with string keys, the shape Go templates read fields from (`.Address`).
pub(crate) fn map<K: AsRef<str>>(entries: impl IntoIterator<Item = (K, Value)>) -> Value {
    Value::Map(Arc::new(
        entries
            .into_iter()
            .map(|(k, v)| (Arc::from(k.as_ref()), v))
            .collect::<BTreeMap<Arc<str>, Value>>(),
    ))
}

/// A map of strings to strings (service meta).
pub(crate) fn string_map(entries: &BTreeMap<String, String>) -> Value {
    map(entries.iter().map(|(k, v)| (k.as_str(), string(v))))
}
