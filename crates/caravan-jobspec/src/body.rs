//! One view of a block body over both syntaxes: native HCL (through hcl-edit, which
//! keeps spans) and HCL's JSON syntax.
//!
//! In JSON a member may be an attribute or a block, and only the schema knows which;
//! so JSON members are turned into blocks lazily, when a decoder asks for a block of
//! that name and says how many labels it has.

use hcl::edit::Span as _;
use hcl::edit::expr::Expression as EditExpr;
use hcl::edit::structure::{BlockLabel, Body as EditBody, Structure};

use crate::json::{JsonKind, JsonMember, JsonNode};
use crate::source::Span;

/// A block body in either syntax.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Body<'a> {
    Hcl(&'a EditBody),
    Json(&'a [JsonMember]),
}

/// A block: `kind "label" ... { body }`.
#[derive(Debug, Clone)]
pub(crate) struct Block<'a> {
    pub kind: &'a str,
    pub kind_span: Span,
    pub labels: Vec<Label<'a>>,
    pub body: Body<'a>,
}

#[derive(Debug, Clone)]
pub(crate) struct Label<'a> {
    pub text: &'a str,
    pub span: Span,
}

/// An attribute: `name = value`.
#[derive(Debug, Clone)]
pub(crate) struct Attr<'a> {
    pub name: &'a str,
    pub name_span: Span,
    pub value: AttrValue<'a>,
    pub value_span: Span,
}

#[derive(Debug, Clone, Copy)]
pub(crate) enum AttrValue<'a> {
    Hcl(&'a EditExpr),
    Json(&'a JsonNode),
}

/// What an entry of a body is, for reporting the ones nobody asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EntryKind {
    Attr,
    Block,
    /// A JSON member: attribute or block, depending on the schema.
    Member,
}

#[derive(Debug, Clone)]
pub(crate) struct Entry<'a> {
    pub name: &'a str,
    pub kind: EntryKind,
    pub span: Span,
}

fn span_of(span: Option<std::ops::Range<usize>>) -> Span {
    span.unwrap_or(0..0)
}

impl<'a> Body<'a> {
    /// Every attribute, block or member, in order.
    pub fn entries(&self) -> Vec<Entry<'a>> {
        match *self {
            Body::Hcl(body) => body
                .iter()
                .map(|s| match s {
                    Structure::Attribute(a) => Entry {
                        name: a.key.as_str(),
                        kind: EntryKind::Attr,
                        span: span_of(a.key.span()),
                    },
                    Structure::Block(b) => Entry {
                        name: b.ident.as_str(),
                        kind: EntryKind::Block,
                        span: span_of(b.ident.span()),
                    },
                })
                .collect(),
            Body::Json(members) => members
                .iter()
                .map(|m| Entry {
                    name: &m.key,
                    kind: EntryKind::Member,
                    span: m.key_span.clone(),
                })
                .collect(),
        }
    }

    /// Every attribute called `name` (JSON may repeat a key; native HCL may not).
    pub fn attrs(&self, name: &str) -> Vec<Attr<'a>> {
        match *self {
            Body::Hcl(body) => body
                .attributes()
                .filter(|a| a.key.as_str() == name)
                .map(|a| Attr {
                    name: a.key.as_str(),
                    name_span: span_of(a.key.span()),
                    value: AttrValue::Hcl(&a.value),
                    value_span: span_of(a.value.span()),
                })
                .collect(),
            Body::Json(members) => members
                .iter()
                .filter(|m| m.key == name)
                .map(|m| Attr {
                    name: &m.key,
                    name_span: m.key_span.clone(),
                    value: AttrValue::Json(&m.value),
                    value_span: m.value.span.clone(),
                })
                .collect(),
        }
    }

    /// Every attribute, in order.
    pub fn all_attrs(&self) -> Vec<Attr<'a>> {
        match *self {
            Body::Hcl(body) => body
                .attributes()
                .map(|a| Attr {
                    name: a.key.as_str(),
                    name_span: span_of(a.key.span()),
                    value: AttrValue::Hcl(&a.value),
                    value_span: span_of(a.value.span()),
                })
                .collect(),
            Body::Json(members) => members
                .iter()
                .map(|m| Attr {
                    name: &m.key,
                    name_span: m.key_span.clone(),
                    value: AttrValue::Json(&m.value),
                    value_span: m.value.span.clone(),
                })
                .collect(),
        }
    }

    /// Every native block, in order (JSON bodies have none until asked by name).
    pub fn all_blocks(&self) -> Vec<Block<'a>> {
        match *self {
            Body::Hcl(body) => body.blocks().map(native_block).collect(),
            Body::Json(_) => Vec::new(),
        }
    }

    /// Every block called `name`, reading JSON members as blocks with `labels` labels.
    /// Problems with the JSON shape are pushed to `errors`.
    pub fn blocks(
        &self,
        name: &str,
        labels: usize,
        errors: &mut Vec<(Span, String)>,
    ) -> Vec<Block<'a>> {
        match *self {
            Body::Hcl(body) => body
                .blocks()
                .filter(|b| b.ident.as_str() == name)
                .map(native_block)
                .collect(),
            Body::Json(members) => {
                let mut out = Vec::new();
                for m in members.iter().filter(|m| m.key == name) {
                    let mut path = Vec::new();
                    expand_json(m, &m.value, labels, &mut path, &mut out, errors);
                }
                out
            }
        }
    }
}

impl Block<'_> {
    /// The span of the header (`kind "label"`), where diagnostics about the block point.
    pub fn header_span(&self) -> Span {
        let end = self
            .labels
            .last()
            .map_or(self.kind_span.end, |l| l.span.end);
        self.kind_span.start..end.max(self.kind_span.end)
    }
}

fn native_block(b: &hcl::edit::structure::Block) -> Block<'_> {
    Block {
        kind: b.ident.as_str(),
        kind_span: span_of(b.ident.span()),
        labels: b
            .labels
            .iter()
            .map(|l| Label {
                text: l.as_str(),
                span: span_of(match l {
                    BlockLabel::Ident(i) => i.span(),
                    BlockLabel::String(s) => s.span(),
                }),
            })
            .collect(),
        body: Body::Hcl(&b.body),
    }
}

/// HCL JSON: `"kind": {"label1": {"label2": {body}}}`, where any level may also be an
/// array of such objects (repeated blocks).
fn expand_json<'a>(
    member: &'a JsonMember,
    node: &'a JsonNode,
    labels_left: usize,
    labels: &mut Vec<Label<'a>>,
    out: &mut Vec<Block<'a>>,
    errors: &mut Vec<(Span, String)>,
) {
    match &node.kind {
        JsonKind::Array(items) => {
            for item in items {
                expand_json(member, item, labels_left, labels, out, errors);
            }
        }
        JsonKind::Object(members) if labels_left == 0 => out.push(Block {
            kind: &member.key,
            kind_span: member.key_span.clone(),
            labels: labels.clone(),
            body: Body::Json(members),
        }),
        JsonKind::Object(members) => {
            for m in members {
                labels.push(Label {
                    text: &m.key,
                    span: m.key_span.clone(),
                });
                expand_json(member, &m.value, labels_left - 1, labels, out, errors);
                labels.pop();
            }
        }
        _ => errors.push((
            node.span.clone(),
            format!(
                "`{}` is a block: expected a JSON object, got {}",
                member.key,
                node.type_name()
            ),
        )),
    }
}
