//! Compile-time check of the functions a template calls, as Go's parser does it
//! (`function "nope" not defined`), plus the client's denylist.

use std::collections::BTreeSet;

use gotmpl::parse::{Expr, ListNode, Node, PipeNode, Pos};

use crate::ParseError;

/// Why a called name is refused.
enum Refusal {
    Unknown,
    Denied,
}

struct Walker<'a> {
    known: &'a dyn Fn(&str) -> bool,
    denied: &'a BTreeSet<String>,
    /// The first refused call in source order: (offset, line, name, why).
    first: Option<(Pos, String, Refusal)>,
}

/// Refuses the first call (in source order) of a denied or unknown function.
pub(crate) fn check_functions(
    template: &str,
    src: &str,
    lists: &[&ListNode],
    known: &dyn Fn(&str) -> bool,
    denied: &BTreeSet<String>,
) -> Result<(), ParseError> {
    let mut walker = Walker {
        known,
        denied,
        first: None,
    };
    for list in lists {
        walker.list(list);
    }
    match walker.first {
        None => Ok(()),
        Some((pos, name, refusal)) => Err(ParseError {
            template: template.to_string(),
            line: pos.line,
            col: column(src, pos.offset),
            message: match refusal {
                Refusal::Unknown => format!("function {name:?} not defined"),
                Refusal::Denied => {
                    format!("function {name:?} is disabled by the client's function_denylist")
                }
            },
        }),
    }
}

/// The 1-based column, in characters, of a byte offset.
pub(crate) fn column(src: &str, offset: usize) -> usize {
    let end = offset.min(src.len());
    let line_start = src
        .get(..end)
        .and_then(|s| s.rfind('\n'))
        .map_or(0, |i| i + 1);
    src.get(line_start..end).map_or(0, |s| s.chars().count()) + 1
}

impl Walker<'_> {
    fn list(&mut self, list: &ListNode) {
        for node in &list.nodes {
            self.node(node);
        }
    }

    fn node(&mut self, node: &Node) {
        match node {
            Node::List(list) => self.list(list),
            Node::Action(action) => self.pipe(&action.pipe),
            Node::If(branch) | Node::Range(branch) | Node::With(branch) => {
                self.pipe(&branch.pipe);
                self.list(&branch.body);
                if let Some(else_body) = &branch.else_body {
                    self.list(else_body);
                }
            }
            Node::Template(call) => {
                if let Some(pipe) = &call.pipe {
                    self.pipe(pipe);
                }
            }
            Node::Define(define) => self.list(&define.body),
            Node::Text(_) | Node::Break(_) | Node::Continue(_) => {}
        }
    }

    fn pipe(&mut self, pipe: &PipeNode) {
        for command in &pipe.commands {
            for expr in &command.args {
                self.expr(expr);
            }
        }
    }

    fn expr(&mut self, expr: &Expr) {
        match expr {
            Expr::Identifier(pos, name) => {
                let refusal = if self.denied.contains(name.as_str()) {
                    Refusal::Denied
                } else if (self.known)(name) {
                    return;
                } else {
                    Refusal::Unknown
                };
                if self
                    .first
                    .as_ref()
                    .is_none_or(|(first, _, _)| pos.offset < first.offset)
                {
                    self.first = Some((*pos, name.to_string(), refusal));
                }
            }
            Expr::Pipe(_, pipe) => self.pipe(pipe),
            Expr::Chain(_, inner, _) => self.expr(inner),
            Expr::Dot(_)
            | Expr::Field(..)
            | Expr::Variable(..)
            | Expr::String(..)
            | Expr::Number(..)
            | Expr::Bool(..)
            | Expr::Nil(_) => {}
        }
    }
}

/// Checks that `{{if}}`, `{{range}}`, `{{with}}`, `{{define}}` and `{{block}}` are
/// closed, and that no `{{end}}` or `{{else}}` stands outside them.
///
/// gotmpl 0.6 does not: it accepts an unclosed `{{if}}` and stops parsing at a
/// stray `{{end}}`, silently dropping the rest of the template. Go refuses both
/// (`unexpected EOF`, `unexpected {{end}}`). This runs after gotmpl has lexed the
/// source, so it may assume well-formed actions.
pub(crate) fn check_blocks(
    template: &str,
    src: &str,
    left: &str,
    right: &str,
) -> Result<(), ParseError> {
    let error = |at: usize, message: String| ParseError {
        template: template.to_string(),
        line: src.get(..at).map_or(0, |s| s.matches('\n').count()) + 1,
        col: column(src, at),
        message,
    };
    // The open blocks: (keyword, offset of its left delimiter).
    let mut open: Vec<(&str, usize)> = Vec::new();
    let mut at = 0;
    while let Some(found) = src.get(at..).and_then(|s| s.find(left)) {
        let start = at + found;
        let body_start = start + left.len();
        let end = action_end(src, body_start, right);
        let body = src.get(body_start..end).unwrap_or("");
        match keyword(body) {
            Some(k @ ("if" | "range" | "with" | "define" | "block")) => open.push((k, start)),
            // The guard pops: an `end` that finds its block closes it.
            Some("end") if open.pop().is_none() => {
                return Err(error(start, "unexpected {{end}}".to_string()));
            }
            Some("else") if !matches!(open.last(), Some(("if" | "range" | "with", _))) => {
                return Err(error(start, "unexpected {{else}}".to_string()));
            }
            _ => {}
        }
        at = (end + right.len()).min(src.len());
        if end >= src.len() {
            break;
        }
    }
    match open.pop() {
        Some((k, start)) => Err(error(
            start,
            format!("unexpected EOF: {{{{{k}}}}} is never closed by {{{{end}}}}"),
        )),
        None => Ok(()),
    }
}

/// The first word of an action body (after a `-` trim marker), if it is a word.
fn keyword(body: &str) -> Option<&str> {
    let body = body.strip_prefix('-').unwrap_or(body).trim_start();
    let len = body
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(body.len());
    (len > 0).then(|| &body[..len])
}

/// The offset of the right delimiter closing the action whose body starts at
/// `from`, skipping comments and string, raw string and character literals.
fn action_end(src: &str, from: usize, right: &str) -> usize {
    let rest = src.get(from..).unwrap_or("");
    let trimmed = rest.strip_prefix('-').unwrap_or(rest).trim_start();
    if let Some(comment) = trimmed.strip_prefix("/*") {
        let comment_start = src.len() - comment.len();
        let after = comment
            .find("*/")
            .map_or(src.len(), |i| comment_start + i + 2);
        return src
            .get(after..)
            .and_then(|s| s.find(right))
            .map_or(src.len(), |i| after + i);
    }
    let mut chars = rest.char_indices();
    while let Some((i, c)) = chars.next() {
        if rest[i..].starts_with(right) {
            return from + i;
        }
        match c {
            '"' | '\'' => {
                while let Some((_, d)) = chars.next() {
                    if d == '\\' {
                        chars.next();
                    } else if d == c {
                        break;
                    }
                }
            }
            '`' => {
                for (_, d) in chars.by_ref() {
                    if d == '`' {
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    src.len()
}
