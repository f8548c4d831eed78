//! Rendering a template against a context.

use std::collections::BTreeSet;
use std::sync::PoisonError;

use gotmpl::Value;

use crate::exchange::Exchange;
use crate::{Context, Dependency, RenderError, Template};

/// Executions of one render before giving up on answers that keep raising new
/// questions. A template whose queries do not depend on other answers needs two.
const MAX_PASSES: usize = 256;

/// The outcome of a render.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rendered {
    /// The output. Meaningful only when [`is_complete`](Self::is_complete): an
    /// incomplete render ran with empty placeholders for the missing data.
    pub text: String,
    /// Every dependency the template used: what the caller must watch to render
    /// again when it changes.
    pub dependencies: BTreeSet<Dependency>,
    /// The dependencies that have not returned yet (or, for `key`, whose key does
    /// not exist yet). The template is not to be written until this is empty.
    pub missing: BTreeSet<Dependency>,
}

impl Rendered {
    /// Whether every dependency has returned once: consul-template writes a
    /// template only then.
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty()
    }
}

/// Renders `template` with the data of `ctx`.
///
/// The template's functions cannot hold `ctx` (they outlive the call), so the
/// template is executed with what is known, the questions it raised are put to
/// `ctx`, and it is executed again until a pass raises none. Each question is put
/// at most once per render; environment variables are answered before the
/// catalog, since queries are often built from them.
///
/// An execution error while some dependency is missing is not reported: it is
/// most likely caused by the placeholder data (`index (nomadService "x") 0` on an
/// empty list), and the render is returned incomplete instead.
pub fn render(template: &Template, ctx: &dyn Context) -> Result<Rendered, RenderError> {
    let _serialized = template
        .render_lock
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    let mut exchange = Exchange::default();
    for _ in 0..MAX_PASSES {
        exchange.begin_pass();
        template.exchange.put(exchange);
        let result = template.inner.execute_to_string(&Value::Nil);
        exchange = template.exchange.take();
        if exchange.has_questions() {
            exchange.answer_questions(ctx);
            continue;
        }
        let pass = exchange.finish_pass();
        return match result {
            Ok(text) => Ok(Rendered {
                text,
                dependencies: pass.touched,
                missing: pass.missing,
            }),
            Err(_) if !pass.missing.is_empty() => Ok(Rendered {
                text: String::new(),
                dependencies: pass.touched,
                missing: pass.missing,
            }),
            Err(e) => Err(RenderError::Execute {
                template: template.name().to_string(),
                message: e.to_string(),
                dependencies: pass.touched,
            }),
        };
    }
    Err(RenderError::TooManyPasses {
        template: template.name().to_string(),
        passes: MAX_PASSES,
    })
}
