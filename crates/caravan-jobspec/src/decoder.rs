//! The state shared by every decoder of one file.

use hcl::Value;

use crate::body::{Attr, AttrValue};
use crate::eval::Evaluator;
use crate::source::{Diagnostic, SourceText, Span};
use crate::sourcemap::SourceMap;

/// Everything decoding shares: the source, the evaluator, the problems found so far
/// and where each part of the model came from.
#[derive(Debug)]
pub(crate) struct Decoder<'a> {
    pub src: &'a SourceText<'a>,
    pub eval: Evaluator,
    pub diags: Vec<Diagnostic>,
    pub map: SourceMap,
}

impl<'a> Decoder<'a> {
    pub fn new(src: &'a SourceText<'a>, eval: Evaluator) -> Self {
        Self {
            src,
            eval,
            diags: Vec::new(),
            map: SourceMap::new(0..0),
        }
    }

    pub fn error(&mut self, span: &Span, message: impl Into<String>) {
        let diag = self.src.diagnostic(span, message);
        self.diags.push(diag);
    }

    pub fn line(&self, span: &Span) -> usize {
        self.src.position(span.start).0
    }

    /// Evaluates an attribute's value, reporting a failure at the value.
    pub fn eval_attr(&mut self, attr: &Attr<'_>) -> Option<Value> {
        let result = match attr.value {
            AttrValue::Hcl(expr) => self.eval.eval(&expr.clone().into()),
            AttrValue::Json(node) => self.eval.eval_json(node),
        };
        match result {
            Ok(value) => Some(value),
            Err(message) => {
                self.error(
                    &attr.value_span,
                    format!("cannot evaluate `{}`: {message}", attr.name),
                );
                None
            }
        }
    }
}
