//! Lenient reads of API JSON: a missing or mistyped field reads as empty, so output
//! degrades to blanks instead of failing when an agent leaves a field out.

use serde_json::Value;

/// Typed field access on a JSON object.
pub(crate) trait Fields {
    /// A string field, or "" when absent or not a string.
    fn str_at(&self, key: &str) -> &str;
    /// An integer field, or 0.
    fn i64_at(&self, key: &str) -> i64;
    /// A non-negative integer field, or 0.
    fn u64_at(&self, key: &str) -> u64;
    /// A boolean field, or false.
    fn bool_at(&self, key: &str) -> bool;
    /// An array field, or an empty slice.
    fn arr_at(&self, key: &str) -> &[Value];
    /// The keys of an object field, sorted (objects may come in any order).
    fn keys_at(&self, key: &str) -> Vec<&str>;
}

impl Fields for Value {
    fn str_at(&self, key: &str) -> &str {
        self.get(key).and_then(Value::as_str).unwrap_or_default()
    }

    fn i64_at(&self, key: &str) -> i64 {
        self.get(key).and_then(Value::as_i64).unwrap_or_default()
    }

    fn u64_at(&self, key: &str) -> u64 {
        self.get(key).and_then(Value::as_u64).unwrap_or_default()
    }

    fn bool_at(&self, key: &str) -> bool {
        self.get(key).and_then(Value::as_bool).unwrap_or_default()
    }

    fn arr_at(&self, key: &str) -> &[Value] {
        self.get(key)
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    fn keys_at(&self, key: &str) -> Vec<&str> {
        let mut keys: Vec<&str> = self
            .get(key)
            .and_then(Value::as_object)
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default();
        keys.sort_unstable();
        keys
    }
}

/// The first eight characters of an id, as the CLI shows ids unless `-verbose`.
pub(crate) fn short(id: &str) -> &str {
    id.get(..8).unwrap_or(id)
}

/// An id shortened unless `verbose`.
pub(crate) fn id_len(id: &str, verbose: bool) -> &str {
    if verbose { id } else { short(id) }
}

/// Percent-encodes a path segment or query value (everything but RFC 3986 unreserved).
pub(crate) fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn lenient_reads() {
        let v = json!({"ID": "x", "N": 3, "B": true, "A": [1], "M": {"b": 1, "a": 2}});
        assert_eq!(v.str_at("ID"), "x");
        assert_eq!(v.str_at("N"), "");
        assert_eq!(v.i64_at("N"), 3);
        assert_eq!(v.u64_at("missing"), 0);
        assert!(v.bool_at("B"));
        assert_eq!(v.arr_at("A").len(), 1);
        assert!(v.arr_at("M").is_empty());
        assert_eq!(v.keys_at("M"), ["a", "b"]);
        assert_eq!(Value::Null.str_at("ID"), "");
    }

    #[test]
    fn ids_and_encoding() {
        assert_eq!(short("0123456789abcdef"), "01234567");
        assert_eq!(short("abc"), "abc");
        assert_eq!(id_len("0123456789", true), "0123456789");
        assert_eq!(enc("web/periodic-1 x"), "web%2Fperiodic-1%20x");
        assert_eq!(enc("a.b_c~d"), "a.b_c~d");
    }
}
