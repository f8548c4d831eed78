//! Free-form bodies (a driver's `config`, a scaling `policy`, opaque blocks) as JSON.
//!
//! Attributes become members. A nested block becomes an object under its name; a
//! labeled one nests one object per label (`x "a" { }` is `{"x": {"a": {}}}`); a block
//! written more than once becomes an array. This is also exactly how the same body
//! reads in HCL's JSON syntax, so both syntaxes decode to the same value.

use serde_json::{Map, Value};

use crate::body::{Block, Body};
use crate::reader::Decoder;
use crate::value;

pub(crate) fn body_to_json(d: &mut Decoder<'_>, body: Body<'_>) -> Map<String, Value> {
    let mut out = Map::new();
    for attr in body.all_attrs() {
        let Some(evaluated) = d.eval_attr(&attr) else {
            continue;
        };
        if evaluated.is_null() {
            continue;
        }
        match value::to_json(&evaluated) {
            Ok(json) => {
                if out.insert(attr.name.to_owned(), json).is_some() {
                    d.error(&attr.name_span, format!("duplicate key `{}`", attr.name));
                }
            }
            Err(e) => d.error(&attr.value_span, format!("`{}` {e}", attr.name)),
        }
    }
    // Group native blocks by name, keeping first-seen order.
    let blocks = body.all_blocks();
    let mut names: Vec<&str> = Vec::new();
    for block in &blocks {
        if !names.contains(&block.kind) {
            names.push(block.kind);
        }
    }
    for name in names {
        let group: Vec<&Block<'_>> = blocks.iter().filter(|b| b.kind == name).collect();
        if out.contains_key(name) {
            d.error(
                &group[0].kind_span,
                format!("`{name}` is set both as an attribute and as a block"),
            );
            continue;
        }
        let value = if group.iter().all(|b| b.labels.is_empty()) {
            let mut items: Vec<Value> = group
                .iter()
                .map(|b| Value::Object(body_to_json(d, b.body)))
                .collect();
            if items.len() == 1 {
                items.remove(0)
            } else {
                Value::Array(items)
            }
        } else {
            let mut root = Value::Object(Map::new());
            for block in group {
                let body = Value::Object(body_to_json(d, block.body));
                insert_labeled(&mut root, block, body);
            }
            root
        };
        out.insert(name.to_owned(), value);
    }
    out
}

/// Puts `body` under the block's labels, turning a repeated leaf into an array.
fn insert_labeled(root: &mut Value, block: &Block<'_>, body: Value) {
    let mut slot = root;
    for label in &block.labels {
        if slot.is_null() {
            *slot = Value::Object(Map::new());
        }
        let Value::Object(map) = slot else { return };
        slot = map.entry(label.text.to_owned()).or_insert(Value::Null);
    }
    match slot {
        Value::Null => *slot = body,
        Value::Array(items) => items.push(body),
        other => {
            let first = std::mem::take(other);
            *other = Value::Array(vec![first, body]);
        }
    }
}
