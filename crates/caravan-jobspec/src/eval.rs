//! Partial evaluation: `var.*`, `local.*` and functions are evaluated; every other
//! reference (`${NOMAD_ADDR_redis}`, `${node.unique.name}`, `${attr.kernel.name}`,
//! `${meta.rack}`, `${env["X"]}`...) stays as its `${...}` text for the client to
//! interpolate at runtime, as Nomad's parser does.

use hcl::eval::{Context, ErrorKind, Evaluate};
use hcl::expr::{Expression, FuncCall, ObjectKey, TemplateExpr};
use hcl::template::{Directive, Element, Strip, Template};
use hcl::{Map, Value};

use crate::json::{JsonKind, JsonNode};

/// The roots a job file may evaluate; every other root is a runtime reference.
const EVALUATED_ROOTS: [&str; 2] = ["var", "local"];

/// An evaluation context: `var`, `local` and the function library.
#[derive(Debug)]
pub(crate) struct Evaluator {
    ctx: Context<'static>,
}

impl Evaluator {
    pub fn new(ctx: Context<'static>) -> Self {
        Self { ctx }
    }

    pub fn context_mut(&mut self) -> &mut Context<'static> {
        &mut self.ctx
    }

    /// Evaluates an expression, keeping runtime references as `${...}` text.
    pub fn eval(&self, expr: &Expression) -> Result<Value, String> {
        self.partial(expr).map_err(|e| describe(&e))
    }

    /// Evaluates a JSON-syntax value: strings are templates, as in HCL's JSON syntax.
    pub fn eval_json(&self, node: &JsonNode) -> Result<Value, String> {
        self.eval(&json_to_expr(node))
    }

    fn partial(&self, expr: &Expression) -> Result<Value, hcl::eval::Error> {
        match expr {
            Expression::Array(items) => items
                .iter()
                .map(|e| self.partial(e))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
            Expression::Object(object) => {
                let mut map = Map::with_capacity(object.len());
                for (key, value) in object.iter() {
                    let key = match key {
                        ObjectKey::Identifier(ident) => ident.to_string(),
                        ObjectKey::Expression(e) => match self.partial(e)? {
                            Value::String(s) => s,
                            Value::Number(n) => n.to_string(),
                            Value::Bool(b) => b.to_string(),
                            other => {
                                return Err(ErrorKind::Message(format!(
                                    "an object key must be a string, got {}",
                                    value_type(&other)
                                ))
                                .into());
                            }
                        },
                        other => other.to_string(),
                    };
                    map.insert(key, self.partial(value)?);
                }
                Ok(Value::Object(map))
            }
            Expression::TemplateExpr(template) => self.template(template),
            Expression::Parenthesis(inner) => self.partial(inner),
            Expression::Conditional(cond) => match self.partial(&cond.cond_expr)? {
                Value::Bool(true) => self.partial(&cond.true_expr),
                Value::Bool(false) => self.partial(&cond.false_expr),
                Value::String(s) if s.starts_with("${") => Ok(runtime_ref(expr)),
                other => Err(ErrorKind::Message(format!(
                    "a condition must be a bool, got {}",
                    value_type(&other)
                ))
                .into()),
            },
            Expression::FuncCall(call) => {
                // Evaluate the arguments partially so that `upper("${NOMAD_X}")` or
                // `join(",", ["${node.unique.name}", var.x])` work, then call.
                let args = call
                    .args
                    .iter()
                    .map(|a| self.partial(a).map(Expression::from))
                    .collect::<Result<Vec<_>, _>>()?;
                let call = FuncCall {
                    name: call.name.clone(),
                    args,
                    expand_final: call.expand_final,
                };
                call.evaluate(&self.ctx)
            }
            // Variables and traversals included: a root the context does not define
            // (`NOMAD_ADDR_x`, `node`, `attr`, `meta`, `env`) is a runtime reference.
            other => match other.evaluate(&self.ctx) {
                Ok(value) => Ok(value),
                Err(e) if is_runtime_error(&e) => Ok(runtime_ref(other)),
                Err(e) => Err(e),
            },
        }
    }

    fn template(&self, template: &TemplateExpr) -> Result<Value, hcl::eval::Error> {
        let template = Template::from_expr(template)?;
        let elements = template.elements();
        // A template that is one interpolation yields the value itself, not a string.
        if let [Element::Interpolation(interp)] = elements {
            return self.partial(&interp.expr);
        }
        let mut out = String::new();
        for (i, element) in elements.iter().enumerate() {
            let prev = i
                .checked_sub(1)
                .map_or(Strip::None, |j| strip_of(&elements[j]));
            let next = elements.get(i + 1).map_or(Strip::None, strip_of);
            match element {
                Element::Literal(literal) => out.push_str(strip_literal(literal, prev, next)),
                Element::Interpolation(interp) => {
                    push_value(&mut out, self.partial(&interp.expr)?)?
                }
                Element::Directive(directive) => {
                    let single = Template::new().add_directive((**directive).clone());
                    match single.evaluate(&self.ctx) {
                        Ok(text) => out.push_str(&text),
                        // A directive over runtime values is left for the client, as written.
                        Err(e) if is_runtime_error(&e) => out.push_str(&single.to_string()),
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        Ok(Value::String(out))
    }
}

fn runtime_ref(expr: &Expression) -> Value {
    Value::String(format!("${{{expr}}}"))
}

fn is_runtime_error(e: &hcl::eval::Error) -> bool {
    matches!(e.kind(), ErrorKind::UndefinedVar(name) if !EVALUATED_ROOTS.contains(&name.as_str()))
}

fn strip_of(element: &Element) -> Strip {
    match element {
        Element::Literal(_) => Strip::None,
        Element::Interpolation(interp) => interp.strip,
        Element::Directive(directive) => {
            let (start, end) = match &**directive {
                Directive::If(d) => (d.if_strip, d.endif_strip),
                Directive::For(d) => (d.for_strip, d.endfor_strip),
            };
            Strip::from((start.strip_start(), end.strip_end()))
        }
    }
}

/// Applies `~` strip markers of the neighbouring elements to a literal, as HCL does:
/// spaces up to and including the first line break.
fn strip_literal(mut literal: &str, prev: Strip, next: Strip) -> &str {
    let is_space = |c: char| c.is_whitespace() && c != '\r' && c != '\n';
    if prev.strip_end() {
        literal = literal.trim_start_matches(is_space);
        literal = literal
            .strip_prefix("\r\n")
            .or_else(|| literal.strip_prefix('\n'))
            .unwrap_or(literal);
    }
    if next.strip_start() {
        literal = literal.trim_end_matches(is_space);
        literal = literal
            .strip_suffix("\r\n")
            .or_else(|| literal.strip_suffix('\n'))
            .unwrap_or(literal);
    }
    literal
}

fn push_value(out: &mut String, value: Value) -> Result<(), hcl::eval::Error> {
    match value {
        Value::String(s) => out.push_str(&s),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::Bool(b) => out.push_str(if b { "true" } else { "false" }),
        other => {
            return Err(ErrorKind::Message(format!(
                "cannot interpolate a {} into a string",
                value_type(&other)
            ))
            .into());
        }
    }
    Ok(())
}

/// The HCL type name of a value, for messages.
pub(crate) fn value_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

/// An evaluation error in our words: `var.x` that does not exist reads as an
/// undefined variable rather than as a missing key.
fn describe(e: &hcl::eval::Error) -> String {
    if let (ErrorKind::NoSuchKey(key), Some(expr)) = (e.kind(), e.expr()) {
        let text = expr.to_string();
        for root in EVALUATED_ROOTS {
            if text.starts_with(&format!("{root}.")) {
                let what = if root == "var" {
                    "variable"
                } else {
                    "local value"
                };
                return format!("undefined {what} `{root}.{key}`");
            }
        }
    }
    match e.kind() {
        ErrorKind::UndefinedFunc(name) => format!("undefined function `{name}`"),
        kind => match e.expr() {
            Some(expr) => format!("{kind} in `{}`", one_line(&expr.to_string())),
            None => kind.to_string(),
        },
    }
}

fn one_line(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 80 {
        flat.chars().take(77).chain("...".chars()).collect()
    } else {
        flat
    }
}

/// HCL's JSON syntax: strings are templates, everything else is literal.
pub(crate) fn json_to_expr(node: &JsonNode) -> Expression {
    match &node.kind {
        JsonKind::Null => Expression::Null,
        JsonKind::Bool(b) => Expression::Bool(*b),
        JsonKind::Number(n) => Expression::Number(json_number(n)),
        JsonKind::String(s) if s.contains("${") || s.contains("%{") => {
            Expression::TemplateExpr(Box::new(TemplateExpr::QuotedString(s.clone())))
        }
        JsonKind::String(s) => Expression::String(s.clone()),
        JsonKind::Array(items) => Expression::Array(items.iter().map(json_to_expr).collect()),
        JsonKind::Object(members) => Expression::Object(
            members
                .iter()
                .map(|m| {
                    (
                        ObjectKey::Expression(Expression::String(m.key.clone())),
                        json_to_expr(&m.value),
                    )
                })
                .collect(),
        ),
    }
}

fn json_number(n: &serde_json::Number) -> hcl::Number {
    if let Some(i) = n.as_i64() {
        hcl::Number::from(i)
    } else if let Some(u) = n.as_u64() {
        hcl::Number::from(u)
    } else {
        n.as_f64()
            .and_then(hcl::Number::from_f64)
            .unwrap_or_else(|| hcl::Number::from(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval_attr(src: &str, ctx: Context<'static>) -> Result<Value, String> {
        let body = hcl::edit::parser::parse_body(src).map_err(|e| e.to_string())?;
        let attr = body.attributes().next().ok_or("no attribute")?;
        let expr: Expression = attr.value.clone().into();
        Evaluator::new(ctx).eval(&expr)
    }

    fn ctx_with_region() -> Context<'static> {
        let mut ctx = Context::new();
        let mut var = Map::new();
        var.insert("region".to_owned(), Value::from("eu"));
        var.insert(
            "ports".to_owned(),
            Value::Array(vec![Value::from(1), Value::from(2)]),
        );
        ctx.declare_var("var", Value::Object(var));
        ctx.declare_var("local", Value::Object(Map::new()));
        ctx
    }

    fn s(v: &str) -> Result<Value, String> {
        Ok(Value::String(v.to_owned()))
    }

    #[test]
    fn keeps_runtime_references() {
        let ctx = ctx_with_region;
        assert_eq!(
            eval_attr(r#"x = "${NOMAD_ADDR_redis}""#, ctx()),
            s("${NOMAD_ADDR_redis}")
        );
        assert_eq!(
            eval_attr(r#"x = "prefix-${node.unique.name}-${var.region}""#, ctx()),
            s("prefix-${node.unique.name}-eu")
        );
        assert_eq!(
            eval_attr(r#"x = "${env["X.Y"]}""#, ctx()),
            s(r#"${env["X.Y"]}"#)
        );
        assert_eq!(
            eval_attr(r#"x = attr.kernel.name"#, ctx()),
            s("${attr.kernel.name}")
        );
        assert_eq!(
            eval_attr(r#"x = "${attr.unique.network.ip-address}""#, ctx()),
            s("${attr.unique.network.ip-address}")
        );
        assert_eq!(
            eval_attr(r#"x = "$${NOMAD_X} and ${meta.rack}""#, ctx()),
            s("${NOMAD_X} and ${meta.rack}")
        );
        assert_eq!(
            eval_attr(r#"x = ["-p", "${NOMAD_PORT_redis}", var.region]"#, ctx()),
            Ok(Value::Array(vec![
                Value::from("-p"),
                Value::from("${NOMAD_PORT_redis}"),
                Value::from("eu")
            ]))
        );
    }

    #[test]
    fn evaluates_vars_and_keeps_types() {
        let ctx = ctx_with_region;
        assert_eq!(
            eval_attr(r#"x = "${var.ports}""#, ctx()),
            Ok(Value::Array(vec![Value::from(1), Value::from(2)]))
        );
        assert_eq!(eval_attr("x = 1 + 2", ctx()), Ok(Value::from(3)));
        assert_eq!(
            eval_attr(r#"x = var.region == "eu" ? "a" : "b""#, ctx()),
            s("a")
        );
        assert_eq!(eval_attr(r#"x = "${~ var.region ~}  !""#, ctx()), s("eu!"));
        assert_eq!(
            eval_attr(r#"x = "%{ if var.region == "eu" }yes%{ endif }""#, ctx()),
            s("yes")
        );
        assert_eq!(
            eval_attr(r#"x = [for p in var.ports : p * 2]"#, ctx()),
            Ok(Value::from(vec![2, 4]))
        );
    }

    #[test]
    fn heredocs_keep_go_templates_and_escapes() {
        let src = "x = <<EOH\n{{ range nomadService \"redis\" }}\\n$${HOME} ${NOMAD_TASK_DIR}\n{{ end }}\nEOH\n";
        assert_eq!(
            eval_attr(src, ctx_with_region()),
            s("{{ range nomadService \"redis\" }}\\n${HOME} ${NOMAD_TASK_DIR}\n{{ end }}\n")
        );
    }

    #[test]
    fn reports_undefined_vars_and_functions() {
        let err = eval_attr("x = var.nope", ctx_with_region()).expect_err("undefined");
        assert_eq!(err, "undefined variable `var.nope`");
        let err = eval_attr("x = local.nope", ctx_with_region()).expect_err("undefined");
        assert_eq!(err, "undefined local value `local.nope`");
        let err = eval_attr("x = nosuch(1)", ctx_with_region()).expect_err("undefined");
        assert!(err.contains("undefined function `nosuch`"), "{err}");
    }

    #[test]
    fn json_strings_are_templates() {
        let node =
            crate::json::parse(r#"{"a": "${var.region}-${NOMAD_X}", "b": [1, true, "$${y}"]}"#)
                .expect("valid JSON");
        let value = Evaluator::new(ctx_with_region())
            .eval_json(&node)
            .expect("evaluates");
        let expected: Value = hcl::value!({ a = "eu-${NOMAD_X}", b = [1, true, "${y}"] });
        assert_eq!(value, expected);
    }
}
