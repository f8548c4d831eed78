//! A compiled template.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Mutex;

use gotmpl::parse::Parser;
use gotmpl::{MissingKey, TemplateError};

use crate::ParseError;
use crate::check::{check_blocks, check_functions};
use crate::exchange::SharedExchange;
use crate::functions::{self, BUILTINS, DEFAULT_DENYLIST};

/// How a template is compiled: the `template` block's `left_delimiter`,
/// `right_delimiter`, `error_on_missing_key`, and the client's `function_denylist`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateOptions {
    /// Opens an action (`{{`).
    pub left_delim: String,
    /// Closes an action (`}}`).
    pub right_delim: String,
    /// A missing map key is an error instead of `<no value>`.
    pub error_on_missing_key: bool,
    /// Functions refused at compile time; Nomad's default is `executeTemplate`,
    /// `plugin` and `writeToFile`.
    pub function_denylist: BTreeSet<String>,
}

impl Default for TemplateOptions {
    fn default() -> Self {
        Self {
            left_delim: "{{".to_string(),
            right_delim: "}}".to_string(),
            error_on_missing_key: false,
            function_denylist: DEFAULT_DENYLIST.iter().map(|s| s.to_string()).collect(),
        }
    }
}

impl TemplateOptions {
    /// Custom delimiters; an empty one keeps the default, as Nomad treats an unset
    /// `left_delimiter`.
    pub fn delims(mut self, left: &str, right: &str) -> Self {
        if !left.is_empty() {
            self.left_delim = left.to_string();
        }
        if !right.is_empty() {
            self.right_delim = right.to_string();
        }
        self
    }

    /// `error_on_missing_key`.
    pub fn error_on_missing_key(mut self, on: bool) -> Self {
        self.error_on_missing_key = on;
        self
    }
}

/// A template compiled once and rendered any number of times with
/// [`render`](crate::render). Renders of one template are serialized (they share
/// the state the functions read); distinct templates render in parallel.
pub struct Template {
    name: String,
    pub(crate) inner: gotmpl::Template,
    pub(crate) exchange: SharedExchange,
    pub(crate) render_lock: Mutex<()>,
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Template")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Template {
    /// Compiles `text` with the default options. `name` appears in errors.
    pub fn parse(name: &str, text: &str) -> Result<Self, ParseError> {
        Self::parse_with(name, text, &TemplateOptions::default())
    }

    /// Compiles `text`: syntax errors, unknown functions and denied functions are
    /// reported with their line and column.
    pub fn parse_with(
        name: &str,
        text: &str,
        options: &TemplateOptions,
    ) -> Result<Self, ParseError> {
        let (left, right) = (options.left_delim.as_str(), options.right_delim.as_str());
        let to_parse_error = |e| parse_error(name, e);

        // gotmpl resolves functions only when executing; walk the tree first so an
        // unknown or denied function fails the compile, as it does in Go.
        let (tree, defines) = Parser::with_name(Some(name), text, left, right)
            .and_then(Parser::parse)
            .map_err(to_parse_error)?;
        check_blocks(name, text, left, right)?;
        let exchange = SharedExchange::default();
        let funcs = functions::function_map(&exchange);
        let known = |f: &str| funcs.contains_key(f) || BUILTINS.contains(&f);
        let mut lists = vec![&tree];
        lists.extend(defines.iter().map(|d| &d.body));
        check_functions(name, text, &lists, &known, &options.function_denylist)?;

        let missing_key = if options.error_on_missing_key {
            MissingKey::Error
        } else {
            MissingKey::Invalid
        };
        let inner = gotmpl::Template::new(name)
            .delims(left, right)
            .missing_key(missing_key)
            .funcs(funcs)
            .parse(text)
            .map_err(to_parse_error)?;
        Ok(Self {
            name: name.to_string(),
            inner,
            exchange,
            render_lock: Mutex::new(()),
        })
    }

    /// The name given at compile time.
    pub fn name(&self) -> &str {
        &self.name
    }
}

fn parse_error(template: &str, e: TemplateError) -> ParseError {
    match e {
        TemplateError::Parse {
            line, col, message, ..
        }
        | TemplateError::Lex {
            line, col, message, ..
        } => ParseError {
            template: template.to_string(),
            line,
            col,
            message,
        },
        other => ParseError {
            template: template.to_string(),
            line: 0,
            col: 0,
            message: other.to_string(),
        },
    }
}
