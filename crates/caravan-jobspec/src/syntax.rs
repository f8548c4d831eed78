//! Reading a file's syntax: native HCL through hcl-edit, or JSON (HCL's JSON syntax
//! or the API's `{"Job": ...}`), with syntax errors as diagnostics.

use hcl::edit::structure::Body as EditBody;

use crate::body::Body;
use crate::json::{self, JsonKind, JsonNode};
use crate::source::{Diagnostic, SourceText};

/// A parsed file.
#[derive(Debug)]
pub(crate) enum Parsed {
    Hcl(EditBody),
    Json(JsonNode),
}

/// Input whose first non-space character is `{` is JSON.
pub(crate) fn is_json(text: &str) -> bool {
    text.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
        .starts_with('{')
}

/// Parses a file in whichever syntax it is written in.
pub(crate) fn parse(src: &SourceText<'_>) -> Result<Parsed, Diagnostic> {
    if is_json(src.text) {
        parse_json(src).map(Parsed::Json)
    } else {
        parse_hcl(src).map(Parsed::Hcl)
    }
}

fn parse_hcl(src: &SourceText<'_>) -> Result<EditBody, Diagnostic> {
    // A byte-order mark becomes three spaces, so that byte offsets stay the same.
    let blanked;
    let text = match src.text.strip_prefix('\u{feff}') {
        Some(rest) => {
            blanked = format!("   {rest}");
            blanked.as_str()
        }
        None => src.text,
    };
    hcl::edit::parser::parse_body(text).map_err(|e| {
        let offset = e.location().offset();
        src.diagnostic(&(offset..offset), format!("syntax error: {}", e.message()))
    })
}

/// JSON, checked by serde_json first so that syntax errors carry its line:column.
pub(crate) fn parse_json(src: &SourceText<'_>) -> Result<JsonNode, Diagnostic> {
    let text = src.text.trim_start_matches('\u{feff}');
    if let Err(e) = serde_json::from_str::<serde_json::Value>(text) {
        let (line, col) = (e.line(), e.column());
        let full = e.to_string();
        let message = full.split(" at line ").next().unwrap_or(&full).to_owned();
        let source_line = src.line_text(line).to_owned();
        return Err(Diagnostic {
            file: src.name.to_owned(),
            line: line.max(1),
            col: col.max(1),
            message: format!("JSON syntax error: {message}"),
            source_line,
            width: 1,
            notes: Vec::new(),
        });
    }
    let skipped = src.text.len() - text.len();
    json::parse(text)
        .map(|node| shift(node, skipped))
        .map_err(|e| {
            let offset = e.offset + skipped;
            src.diagnostic(
                &(offset..offset),
                format!("JSON syntax error: {}", e.message),
            )
        })
}

/// Moves spans by `by` bytes (a skipped byte-order mark).
fn shift(mut node: JsonNode, by: usize) -> JsonNode {
    if by == 0 {
        return node;
    }
    fn walk(node: &mut JsonNode, by: usize) {
        node.span = node.span.start + by..node.span.end + by;
        match &mut node.kind {
            JsonKind::Array(items) => items.iter_mut().for_each(|n| walk(n, by)),
            JsonKind::Object(members) => {
                for m in members {
                    m.key_span = m.key_span.start + by..m.key_span.end + by;
                    walk(&mut m.value, by);
                }
            }
            _ => {}
        }
    }
    walk(&mut node, by);
    node
}

impl Parsed {
    /// The top-level body; `None` for JSON that is not an object.
    pub fn body(&self) -> Option<Body<'_>> {
        match self {
            Parsed::Hcl(body) => Some(Body::Hcl(body)),
            Parsed::Json(JsonNode {
                kind: JsonKind::Object(members),
                ..
            }) => Some(Body::Json(members)),
            Parsed::Json(_) => None,
        }
    }
}
