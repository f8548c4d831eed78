//! Strict, schema-driven access to a block body.
//!
//! A decoder asks its [`Reader`] for each attribute and block it knows, by name and
//! type. The reader remembers what was asked, so [`Reader::finish`] can report every
//! entry nobody asked for (with the closest known name), an attribute written as a
//! block and the reverse. The set of names a decoder asks for *is* the schema: there is
//! no second list to keep in sync.

use std::collections::BTreeMap;

use caravan_model::{Duration, Segment};
use hcl::Value;

pub(crate) use crate::decoder::Decoder;

use crate::body::{Attr, Block, Body, EntryKind};
use crate::generic;
use crate::source::Span;
use crate::sourcemap::NodeId;
use crate::suggest::closest;
use crate::value::{self, ValueError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Attr,
    Block,
    Either,
}

/// Typed, strict access to one block body.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    body: Body<'a>,
    /// This block's node in the source map.
    pub node: NodeId,
    /// How messages name this block: `task "redis"`, `resources of task "redis"`.
    pub what: String,
    /// The nearest labeled block, for naming unlabeled children.
    anchor: String,
    wanted: Vec<(&'static str, Want)>,
}

impl<'a> Reader<'a> {
    pub fn new(body: Body<'a>, node: NodeId, what: String) -> Self {
        Self {
            body,
            node,
            anchor: what.clone(),
            what,
            wanted: Vec::new(),
        }
    }

    /// A reader for a child block. Records the block's span under `segment`.
    pub fn child(&self, d: &mut Decoder<'_>, block: &Block<'a>, segment: Segment) -> Reader<'a> {
        let node = d.map.child(self.node, segment, block.header_span());
        let (what, anchor) = match block.labels.first() {
            Some(label) => {
                let w = format!("{} {:?}", block.kind, label.text);
                (w.clone(), w)
            }
            None => (
                format!("{} of {}", block.kind, self.anchor),
                self.anchor.clone(),
            ),
        };
        Reader {
            body: block.body,
            node,
            what,
            anchor,
            wanted: Vec::new(),
        }
    }

    /// Renames the block in messages (`service "web"` once its name is known).
    pub fn set_what(&mut self, what: String) {
        self.anchor.clone_from(&what);
        self.what = what;
    }

    fn want(&mut self, name: &'static str, want: Want) {
        match self.wanted.iter_mut().find(|(n, _)| *n == name) {
            Some((_, w)) if *w != want => *w = Want::Either,
            Some(_) => {}
            None => self.wanted.push((name, want)),
        }
    }

    /// The raw attribute `name`, if written.
    pub fn attr(&mut self, d: &mut Decoder<'_>, name: &'static str) -> Option<Attr<'a>> {
        self.want(name, Want::Attr);
        let attrs = self.body.attrs(name);
        let first = attrs.first()?.clone();
        for dup in attrs.iter().skip(1) {
            let line = d.line(&first.name_span);
            d.error(
                &dup.name_span,
                format!(
                    "duplicate attribute `{name}` in {}; the first is on line {line}",
                    self.what
                ),
            );
        }
        d.map.child(
            self.node,
            Segment::Field(name),
            first.name_span.start..first.value_span.end,
        );
        Some(first)
    }

    /// The evaluated value of `name`; `None` if absent, null, or failing (reported).
    pub fn value(&mut self, d: &mut Decoder<'_>, name: &'static str) -> Option<(Value, Span)> {
        let attr = self.attr(d, name)?;
        let value = d.eval_attr(&attr)?;
        if value.is_null() {
            None
        } else {
            Some((value, attr.value_span))
        }
    }

    fn typed<T>(
        &mut self,
        d: &mut Decoder<'_>,
        name: &'static str,
        convert: impl FnOnce(&Value) -> Result<T, ValueError>,
    ) -> Option<T> {
        let (value, span) = self.value(d, name)?;
        match convert(&value) {
            Ok(v) => Some(v),
            Err(e) => {
                d.error(&span, format!("`{name}` {e}"));
                None
            }
        }
    }

    pub fn string(&mut self, d: &mut Decoder<'_>, name: &'static str) -> Option<String> {
        self.typed(d, name, value::to_string)
    }

    pub fn int(&mut self, d: &mut Decoder<'_>, name: &'static str) -> Option<i64> {
        self.typed(d, name, value::to_i64)
    }

    pub fn uint(&mut self, d: &mut Decoder<'_>, name: &'static str) -> Option<u64> {
        self.typed(d, name, value::to_u64)
    }

    pub fn int_in(
        &mut self,
        d: &mut Decoder<'_>,
        name: &'static str,
        min: i64,
        max: i64,
    ) -> Option<i64> {
        self.typed(d, name, |v| value::to_int_in(v, min, max))
    }

    pub fn bool(&mut self, d: &mut Decoder<'_>, name: &'static str) -> Option<bool> {
        self.typed(d, name, value::to_bool)
    }

    pub fn duration(&mut self, d: &mut Decoder<'_>, name: &'static str) -> Option<Duration> {
        self.typed(d, name, value::to_duration)
    }

    pub fn strings(&mut self, d: &mut Decoder<'_>, name: &'static str) -> Option<Vec<String>> {
        self.typed(d, name, value::to_strings)
    }

    /// `name = { k = v }` or `name { k = v }`: a map of strings (`env`, `meta`); numbers
    /// and bools are turned into text.
    pub fn string_map(
        &mut self,
        d: &mut Decoder<'_>,
        name: &'static str,
    ) -> Option<BTreeMap<String, String>> {
        self.map_entries(d, name, |v| {
            value::to_string(v).map_err(|_| "must be a string")
        })
    }

    /// `name = { k = [..] }` or `name { k = [..] }`: a map of string lists (`header`).
    pub fn string_list_map(
        &mut self,
        d: &mut Decoder<'_>,
        name: &'static str,
    ) -> Option<BTreeMap<String, Vec<String>>> {
        self.map_entries(d, name, |v| match v {
            Value::Array(_) => value::to_strings(v).map_err(|_| "must be a list of strings"),
            single => value::to_string(single)
                .map(|s| vec![s])
                .map_err(|_| "must be a list of strings"),
        })
    }

    fn map_entries<T>(
        &mut self,
        d: &mut Decoder<'_>,
        name: &'static str,
        convert: impl Fn(&Value) -> Result<T, &'static str>,
    ) -> Option<BTreeMap<String, T>> {
        let entries = self.map_value(d, name)?;
        let mut out = BTreeMap::new();
        for (key, value, span) in entries {
            if value.is_null() {
                continue;
            }
            match convert(&value) {
                Ok(v) => {
                    out.insert(key, v);
                }
                Err(expected) => d.error(
                    &span,
                    format!(
                        "`{name}` value `{key}` {expected}, got {}",
                        crate::eval::value_type(&value)
                    ),
                ),
            }
        }
        Some(out)
    }

    /// A map given as an attribute or as a block of attributes (no nested blocks):
    /// each entry with the span to blame for it.
    fn map_value(
        &mut self,
        d: &mut Decoder<'_>,
        name: &'static str,
    ) -> Option<Vec<(String, Value, Span)>> {
        self.want(name, Want::Either);
        let blocks = self.native_blocks(name);
        if let Some(attr) = self.body.attrs(name).first() {
            if let Some(block) = blocks.first() {
                let line = d.line(&attr.name_span);
                d.error(
                    &block.kind_span,
                    format!("`{name}` is already set as an attribute on line {line}"),
                );
            }
            let (value, span) = self.value(d, name)?;
            return match value {
                Value::Object(map) => {
                    Some(map.into_iter().map(|(k, v)| (k, v, span.clone())).collect())
                }
                other => {
                    d.error(
                        &span,
                        format!(
                            "`{name}` must be a map, got {}",
                            crate::eval::value_type(&other)
                        ),
                    );
                    None
                }
            };
        }
        if blocks.is_empty() {
            return None;
        }
        let mut entries = Vec::new();
        for block in &blocks {
            d.map
                .child(self.node, Segment::Field(name), block.header_span());
            if let Some(label) = block.labels.first() {
                d.error(&label.span, format!("`{name}` blocks take no label"));
            }
            for nested in block.body.all_blocks() {
                d.error(
                    &nested.kind_span,
                    format!(
                        "unexpected block `{}` in `{name}`: `{name}` holds only attributes",
                        nested.kind
                    ),
                );
            }
            for attr in block.body.all_attrs() {
                if let Some(value) = d.eval_attr(&attr) {
                    entries.push((attr.name.to_owned(), value, attr.value_span.clone()));
                }
            }
        }
        Some(entries)
    }

    fn native_blocks(&self, name: &str) -> Vec<Block<'a>> {
        match self.body {
            Body::Hcl(_) => self.body.blocks(name, 0, &mut Vec::new()),
            Body::Json(_) => Vec::new(),
        }
    }

    /// A free-form map given as an attribute or as a block that may nest blocks
    /// (a task's `config`, a proxy's `config`): nested blocks become JSON objects, and
    /// repeated ones arrays.
    pub fn freeform(
        &mut self,
        d: &mut Decoder<'_>,
        name: &'static str,
    ) -> Option<BTreeMap<String, serde_json::Value>> {
        self.want(name, Want::Either);
        let blocks = self.native_blocks(name);
        if let Some(attr) = self.body.attrs(name).first() {
            if let Some(block) = blocks.first() {
                let line = d.line(&attr.name_span);
                d.error(
                    &block.kind_span,
                    format!("`{name}` is already set as an attribute on line {line}"),
                );
            }
            let (value, span) = self.value(d, name)?;
            return match value::to_json(&value) {
                Ok(serde_json::Value::Object(map)) => Some(map.into_iter().collect()),
                Ok(_) => {
                    d.error(
                        &span,
                        format!(
                            "`{name}` must be an object, got {}",
                            crate::eval::value_type(&value)
                        ),
                    );
                    None
                }
                Err(e) => {
                    d.error(&span, format!("`{name}` {e}"));
                    None
                }
            };
        }
        let mut out = BTreeMap::new();
        for block in &blocks {
            let node = d
                .map
                .child(self.node, Segment::Field(name), block.header_span());
            if let Some(label) = block.labels.first() {
                d.error(&label.span, format!("`{name}` blocks take no label"));
            }
            for attr in block.body.all_attrs() {
                d.map
                    .key(node, attr.name, attr.name_span.start..attr.value_span.end);
            }
            out.extend(generic::body_to_json(d, block.body));
        }
        if blocks.is_empty() { None } else { Some(out) }
    }

    /// A block carried as opaque JSON (`vault`, `identity`, `ui`...). Several blocks of
    /// the name become an array.
    pub fn opaque(&mut self, d: &mut Decoder<'_>, name: &'static str) -> Option<serde_json::Value> {
        let blocks = self.blocks_any_labels(d, name);
        let mut values: Vec<serde_json::Value> = blocks
            .iter()
            .map(|b| {
                let mut object = generic::body_to_json(d, b.body);
                if let Some(label) = b.labels.first() {
                    object.insert(
                        "Name".to_owned(),
                        serde_json::Value::String(label.text.to_owned()),
                    );
                }
                serde_json::Value::Object(object)
            })
            .collect();
        match values.len() {
            0 => None,
            1 => values.pop(),
            _ => Some(serde_json::Value::Array(values)),
        }
    }

    fn blocks_any_labels(&mut self, d: &mut Decoder<'_>, name: &'static str) -> Vec<Block<'a>> {
        self.want(name, Want::Block);
        let mut errors = Vec::new();
        let blocks = self.body.blocks(name, 0, &mut errors);
        for (span, message) in errors {
            d.error(&span, message);
        }
        if let Some(first) = blocks.first() {
            d.map
                .child(self.node, Segment::Field(name), first.header_span());
        }
        blocks
    }

    /// Every block `name`, each with exactly `labels` labels; a second block with the
    /// same labels is reported and dropped.
    pub fn blocks(
        &mut self,
        d: &mut Decoder<'_>,
        name: &'static str,
        labels: usize,
    ) -> Vec<Block<'a>> {
        self.want(name, Want::Block);
        let mut errors = Vec::new();
        let found = self.body.blocks(name, labels, &mut errors);
        for (span, message) in errors {
            d.error(&span, message);
        }
        let mut out: Vec<Block<'a>> = Vec::with_capacity(found.len());
        for block in found {
            if block.labels.len() < labels {
                let message = if labels == 1 {
                    format!(
                        "missing label: a `{name}` block needs a name, as in `{name} \"name\" {{ ... }}`"
                    )
                } else {
                    format!("missing label: a `{name}` block needs {labels} labels")
                };
                d.error(&block.kind_span, message);
                continue;
            }
            if let Some(extra) = block.labels.get(labels) {
                let message = if labels == 0 {
                    format!("`{name}` blocks take no label")
                } else {
                    format!("too many labels: a `{name}` block takes {labels}")
                };
                d.error(&extra.span, message);
                continue;
            }
            if labels > 0 {
                let first = out.iter().find(|b| {
                    b.labels
                        .iter()
                        .map(|l| l.text)
                        .eq(block.labels.iter().map(|l| l.text))
                });
                if let Some(first) = first {
                    let line = d.line(&first.kind_span);
                    let label = block
                        .labels
                        .iter()
                        .map(|l| format!("{:?}", l.text))
                        .collect::<Vec<_>>()
                        .join(" ");
                    d.error(
                        &block.header_span(),
                        format!(
                            "duplicate {name} {label} in {}; the first one is on line {line}",
                            self.what
                        ),
                    );
                    continue;
                }
            }
            out.push(block);
        }
        out
    }

    /// At most one unlabeled block `name`.
    pub fn block(&mut self, d: &mut Decoder<'_>, name: &'static str) -> Option<Block<'a>> {
        let blocks = self.blocks(d, name, 0);
        if let Some(first) = blocks.first() {
            let line = d.line(&first.kind_span);
            for extra in &blocks[1..] {
                d.error(
                    &extra.kind_span,
                    format!(
                        "only one `{name}` block is allowed in {}; the first one is on line {line}",
                        self.what
                    ),
                );
            }
        }
        blocks.into_iter().next()
    }

    /// Reports every entry that was not asked for, or asked for as the other kind.
    pub fn finish(self, d: &mut Decoder<'_>) {
        for entry in self.body.entries() {
            let wanted = self
                .wanted
                .iter()
                .find(|(n, _)| *n == entry.name)
                .map(|(_, w)| *w);
            let name = entry.name;
            match (wanted, entry.kind) {
                (Some(Want::Attr), EntryKind::Block) => d.error(
                    &entry.span,
                    format!(
                        "`{name}` is an attribute, not a block, in {}: write `{name} = ...`",
                        self.what
                    ),
                ),
                (Some(Want::Block), EntryKind::Attr) => d.error(
                    &entry.span,
                    format!(
                        "`{name}` is a block, not an attribute, in {}: write `{name} {{ ... }}`",
                        self.what
                    ),
                ),
                (Some(_), _) => {}
                (None, kind) => {
                    let noun = match kind {
                        EntryKind::Attr => "attribute",
                        EntryKind::Block => "block",
                        EntryKind::Member => "attribute or block",
                    };
                    let known = self.wanted.iter().map(|(n, _)| *n);
                    let mut message = format!("unknown {noun} `{name}` in {}", self.what);
                    let mut diag = match closest(name, known) {
                        Some(s) => {
                            message.push_str(&format!("; did you mean `{s}`?"));
                            d.src.diagnostic(&entry.span, message)
                        }
                        None => d.src.diagnostic(&entry.span, message),
                    };
                    if !self.wanted.is_empty() && !diag.message.ends_with('?') {
                        let names: Vec<&str> = self.wanted.iter().map(|(n, _)| *n).collect();
                        diag =
                            diag.with_note(format!("{} accepts: {}", self.what, names.join(", ")));
                    }
                    d.diags.push(diag);
                }
            }
        }
    }
}
