//! The errors of compiling and rendering a template.

use std::collections::BTreeSet;

use thiserror::Error;

use crate::Dependency;

/// A template that does not compile: a syntax error, an unknown function or one the
/// client's `function_denylist` refuses. Displayed as Go does,
/// `template: <name>:<line>:<col>: <message>`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("template: {template}:{line}:{col}: {message}")]
pub struct ParseError {
    /// The template's name (what it was compiled as, usually its destination).
    pub template: String,
    /// 1-based line (0 when the parser could not tell).
    pub line: usize,
    /// 1-based column in characters (0 when the parser could not tell).
    pub col: usize,
    /// What is wrong, in Go's words where Go has some (`unclosed action`).
    pub message: String,
}

/// A template that compiled but failed while executing with complete data (an
/// execution error while some dependency is still missing is not an error: the
/// render is reported incomplete instead, and retried when the data arrives).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RenderError {
    /// A function or an action failed (`index` out of range, a bad argument...).
    #[error("template: {template}: {message}")]
    Execute {
        /// The template's name.
        template: String,
        /// The engine's message.
        message: String,
        /// The dependencies touched before the failure: watching them lets a
        /// later catalog change fix the render.
        dependencies: BTreeSet<Dependency>,
    },
    /// Each answer led to new questions (`key (key (key ...))`) more times than a
    /// template can reasonably need.
    #[error("template: {template}: dependencies still unresolved after {passes} passes")]
    TooManyPasses {
        /// The template's name.
        template: String,
        /// How many times it was executed.
        passes: usize,
    },
}

/// A malformed query string given to a catalog or KV function
/// (`nomadService "bad name!"`).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{function}: invalid query {input:?}: {reason}")]
pub struct QueryError {
    /// The template function (`nomadService`, `service`, `key`...).
    pub function: &'static str,
    /// The string as written in the template.
    pub input: String,
    /// What is wrong with it.
    pub reason: String,
}

impl QueryError {
    pub(crate) fn new(function: &'static str, input: &str, reason: impl Into<String>) -> Self {
        Self {
            function,
            input: input.to_string(),
            reason: reason.into(),
        }
    }
}
