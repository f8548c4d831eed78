//! Input variables (`variable "x" {}`, `variables {}`) with their values from
//! defaults, `NOMAD_VAR_<name>`, var files and `-var`, and `locals {}`.
//!
//! Precedence, lowest first: default, environment, var files (in order), `-var` flags
//! (in order). This is Nomad's order: `-var` overrides the environment.

use caravan_model::Segment;
use hcl::expr::Expression;
use hcl::{Map, Value};

use crate::ParseOptions;
use crate::body::{AttrValue, Block};
use crate::eval::Evaluator;
use crate::reader::{Decoder, Reader};
use crate::source::{Diagnostic, SourceText, Span};
use crate::suggest::closest;
use crate::syntax::{self, Parsed};
use crate::vartype::VarType;

/// One declared variable.
#[derive(Debug)]
pub(crate) struct VarDecl {
    pub name: String,
    ty: VarType,
    default: Option<Value>,
    span: Span,
    validations: Vec<Validation>,
}

#[derive(Debug)]
struct Validation {
    condition: Option<(Expression, Span)>,
    message: Option<(Expression, Span)>,
    span: Span,
}

/// Reads `variable "x" {}` and `variables {}` blocks.
pub(crate) fn declare(
    d: &mut Decoder<'_>,
    top: &Reader<'_>,
    variable: &[Block<'_>],
    variables: &[Block<'_>],
) -> Vec<VarDecl> {
    let mut decls: Vec<VarDecl> = Vec::new();
    for block in variable {
        let Some(label) = block.labels.first() else {
            continue;
        };
        let mut r = top.child(
            d,
            block,
            Segment::Labeled("variable", label.text.to_owned()),
        );
        let ty = match r.attr(d, "type") {
            Some(attr) => {
                let expr = match attr.value {
                    AttrValue::Hcl(e) => e.clone().into(),
                    AttrValue::Json(node) => crate::eval::json_to_expr(node),
                };
                VarType::from_expr(&expr).unwrap_or_else(|e| {
                    d.error(
                        &attr.value_span,
                        format!("invalid type for variable `{}`: {e}", label.text),
                    );
                    VarType::Any
                })
            }
            None => VarType::Any,
        };
        let default = r.attr(d, "default").and_then(|attr| {
            let value = d.eval_attr(&attr)?;
            match ty.convert(value) {
                Ok(v) => Some(v),
                Err(e) => {
                    d.error(
                        &attr.value_span,
                        format!("invalid default for variable `{}`: {e}", label.text),
                    );
                    None
                }
            }
        });
        let _ = r.string(d, "description");
        let _ = r.bool(d, "sensitive");
        let mut validations = Vec::new();
        for (i, vb) in r.blocks(d, "validation", 0).iter().enumerate() {
            let mut vr = r.child(d, vb, Segment::Indexed("validation", i));
            let condition = vr
                .attr(d, "condition")
                .map(|a| (attr_expr(&a.value), a.value_span.clone()));
            let message = vr
                .attr(d, "error_message")
                .map(|a| (attr_expr(&a.value), a.value_span.clone()));
            if condition.is_none() {
                d.error(
                    &vb.header_span(),
                    "a `validation` block needs a `condition`",
                );
            }
            vr.finish(d);
            validations.push(Validation {
                condition,
                message,
                span: vb.header_span(),
            });
        }
        r.finish(d);
        push_decl(
            d,
            &mut decls,
            VarDecl {
                name: label.text.to_owned(),
                ty,
                default,
                span: block.header_span(),
                validations,
            },
        );
    }
    for block in variables {
        for attr in block.body.all_attrs() {
            let default = d.eval_attr(&attr);
            let span = attr.name_span.clone();
            push_decl(
                d,
                &mut decls,
                VarDecl {
                    name: attr.name.to_owned(),
                    ty: VarType::Any,
                    default,
                    span,
                    validations: Vec::new(),
                },
            );
        }
        for nested in block.body.all_blocks() {
            d.error(
                &nested.kind_span,
                "`variables` holds only attributes: `name = default`",
            );
        }
    }
    decls
}

fn attr_expr(value: &AttrValue<'_>) -> Expression {
    match value {
        AttrValue::Hcl(e) => (*e).clone().into(),
        AttrValue::Json(node) => crate::eval::json_to_expr(node),
    }
}

fn push_decl(d: &mut Decoder<'_>, decls: &mut Vec<VarDecl>, decl: VarDecl) {
    if let Some(first) = decls.iter().find(|v| v.name == decl.name) {
        let line = d.line(&first.span);
        d.error(
            &decl.span,
            format!(
                "duplicate variable `{}`; the first is declared on line {line}",
                decl.name
            ),
        );
        return;
    }
    decls.push(decl);
}

/// Every variable's value, after every source of values is applied.
pub(crate) fn resolve(
    d: &mut Decoder<'_>,
    decls: &[VarDecl],
    opts: &ParseOptions,
) -> Map<String, Value> {
    let mut values: Vec<Option<Value>> = decls.iter().map(|v| v.default.clone()).collect();
    let names = || decls.iter().map(|v| v.name.as_str());

    for (i, decl) in decls.iter().enumerate() {
        let key = format!("NOMAD_VAR_{}", decl.name);
        if let Some(text) = opts.env.get(&key) {
            match decl.ty.parse_text(text) {
                Ok(v) => values[i] = Some(v),
                Err(e) => d.diags.push(Diagnostic::without_position(
                    key,
                    format!("invalid value for variable `{}`: {e}", decl.name),
                )),
            }
        }
    }

    for file in &opts.var_files {
        let src = SourceText::new(&file.name, &file.text);
        let parsed = match syntax::parse(&src) {
            Ok(p) => p,
            Err(diag) => {
                d.diags.push(diag);
                continue;
            }
        };
        let Some(body) = parsed.body() else {
            d.diags
                .push(src.diagnostic(&(0..0), "a var file must be an object of `name = value`"));
            continue;
        };
        let evaluator = base_evaluator(opts);
        for attr in body.all_attrs() {
            let Some(i) = decls.iter().position(|v| v.name == attr.name) else {
                d.diags.push(src.diagnostic(
                    &attr.name_span,
                    undeclared(attr.name, "a var file", names()),
                ));
                continue;
            };
            let result = match attr.value {
                AttrValue::Hcl(e) => evaluator.eval(&e.clone().into()),
                AttrValue::Json(node) => evaluator.eval_json(node),
            };
            match result.and_then(|v| decls[i].ty.convert(v)) {
                Ok(v) => values[i] = Some(v),
                Err(e) => d.diags.push(src.diagnostic(
                    &attr.value_span,
                    format!("invalid value for variable `{}`: {e}", attr.name),
                )),
            }
        }
        if let Parsed::Hcl(_) = parsed {
            for block in body.all_blocks() {
                d.diags.push(src.diagnostic(
                    &block.kind_span,
                    "a var file holds only `name = value` attributes",
                ));
            }
        }
    }

    for (name, text) in &opts.vars {
        let origin = format!("-var {name}={text}");
        let Some(i) = decls.iter().position(|v| &v.name == name) else {
            d.diags.push(Diagnostic::without_position(
                origin,
                undeclared(name, "-var", names()),
            ));
            continue;
        };
        match decls[i].ty.parse_text(text) {
            Ok(v) => values[i] = Some(v),
            Err(e) => d.diags.push(Diagnostic::without_position(
                origin,
                format!("invalid value for variable `{name}`: {e}"),
            )),
        }
    }

    let mut out = Map::new();
    for (decl, value) in decls.iter().zip(values) {
        match value {
            Some(v) => {
                out.insert(decl.name.clone(), v);
            }
            None => d.error(
                &decl.span,
                format!(
                    "variable `{0}` has no default and no value: set it with -var {0}=..., a -var-file or NOMAD_VAR_{0}",
                    decl.name
                ),
            ),
        }
    }
    check_validations(d, decls, &out, opts);
    out
}

fn undeclared<'n>(
    name: &str,
    origin: &str,
    declared: impl Iterator<Item = &'n str> + Clone,
) -> String {
    let mut message = format!(
        "undefined variable `{name}` set by {origin}: the job file declares no such variable"
    );
    if let Some(s) = closest(name, declared) {
        message.push_str(&format!("; did you mean `{s}`?"));
    }
    message
}

fn check_validations(
    d: &mut Decoder<'_>,
    decls: &[VarDecl],
    values: &Map<String, Value>,
    opts: &ParseOptions,
) {
    if decls.iter().all(|v| v.validations.is_empty()) {
        return;
    }
    let mut evaluator = base_evaluator(opts);
    evaluator
        .context_mut()
        .declare_var("var", Value::Object(values.clone()));
    for decl in decls {
        if !values.contains_key(&decl.name) {
            continue;
        }
        for validation in &decl.validations {
            let Some((condition, span)) = &validation.condition else {
                continue;
            };
            match evaluator.eval(condition) {
                Ok(Value::Bool(true)) => {}
                Ok(Value::Bool(false)) => {
                    let message = match &validation.message {
                        Some((expr, _)) => match evaluator.eval(expr) {
                            Ok(Value::String(s)) => s,
                            _ => "the validation condition is false".to_owned(),
                        },
                        None => "the validation condition is false".to_owned(),
                    };
                    d.error(
                        &validation.span,
                        format!("invalid value for variable `{}`: {message}", decl.name),
                    );
                }
                Ok(other) => d.error(
                    span,
                    format!(
                        "a validation condition must be a bool, got {}",
                        crate::eval::value_type(&other)
                    ),
                ),
                Err(e) => d.error(
                    span,
                    format!("cannot evaluate the validation of `{}`: {e}", decl.name),
                ),
            }
        }
    }
}

/// An evaluator with the function library and empty `var` and `local`, for values that
/// may not refer to variables (defaults, var files).
pub(crate) fn base_evaluator(opts: &ParseOptions) -> Evaluator {
    let mut ctx = hcl::eval::Context::new();
    ctx.declare_var("var", Value::Object(Map::new()));
    ctx.declare_var("local", Value::Object(Map::new()));
    crate::functions::declare_all(&mut ctx, opts.allow_fs, opts.base_dir.as_deref());
    Evaluator::new(ctx)
}

/// Evaluates `locals {}` blocks. A local may use variables and other locals; they are
/// evaluated in passes, so the order they are written in does not matter.
pub(crate) fn locals(d: &mut Decoder<'_>, blocks: &[Block<'_>]) -> Map<String, Value> {
    let mut pending = Vec::new();
    let mut seen: Vec<(&str, Span)> = Vec::new();
    for block in blocks {
        for nested in block.body.all_blocks() {
            d.error(
                &nested.kind_span,
                "`locals` holds only attributes: `name = value`",
            );
        }
        for attr in block.body.all_attrs() {
            if let Some((_, first)) = seen.iter().find(|(n, _)| *n == attr.name) {
                let line = d.line(first);
                d.error(
                    &attr.name_span,
                    format!(
                        "duplicate local `{}`; the first is on line {line}",
                        attr.name
                    ),
                );
                continue;
            }
            seen.push((attr.name, attr.name_span.clone()));
            pending.push(attr);
        }
    }
    let mut values = Map::new();
    loop {
        d.eval
            .context_mut()
            .declare_var("local", Value::Object(values.clone()));
        let mut failed = Vec::new();
        let before = pending.len();
        for attr in pending {
            let result = match attr.value {
                AttrValue::Hcl(e) => d.eval.eval(&e.clone().into()),
                AttrValue::Json(node) => d.eval.eval_json(node),
            };
            match result {
                Ok(v) => {
                    values.insert(attr.name.to_owned(), v);
                }
                Err(e) => failed.push((attr, e)),
            }
        }
        if failed.is_empty() || failed.len() == before {
            for (attr, e) in &failed {
                d.error(
                    &attr.value_span,
                    format!("cannot evaluate local `{}`: {e}", attr.name),
                );
            }
            break;
        }
        pending = failed.into_iter().map(|(a, _)| a).collect();
    }
    d.eval
        .context_mut()
        .declare_var("local", Value::Object(values.clone()));
    values
}
