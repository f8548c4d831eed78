//! The type constraint of an input variable (`type = list(string)`), and converting
//! values to it.

use std::fmt;

use hcl::eval::{Context, Evaluate};
use hcl::expr::{Expression, ObjectKey};
use hcl::{Map, Value};

use crate::eval::value_type;
use crate::value::parse_number;

/// A variable's declared type; `Any` when none is given.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum VarType {
    #[default]
    Any,
    String,
    Number,
    Bool,
    List(Box<VarType>),
    Set(Box<VarType>),
    Map(Box<VarType>),
    Object(Vec<(String, VarType)>),
    Tuple(Vec<VarType>),
}

impl fmt::Display for VarType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("any"),
            Self::String => f.write_str("string"),
            Self::Number => f.write_str("number"),
            Self::Bool => f.write_str("bool"),
            Self::List(t) => write!(f, "list({t})"),
            Self::Set(t) => write!(f, "set({t})"),
            Self::Map(t) => write!(f, "map({t})"),
            Self::Object(fields) => {
                f.write_str("object({")?;
                for (i, (name, t)) in fields.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{name} = {t}")?;
                }
                f.write_str("})")
            }
            Self::Tuple(items) => {
                f.write_str("tuple([")?;
                for (i, t) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{t}")?;
                }
                f.write_str("])")
            }
        }
    }
}

impl VarType {
    /// Reads a type expression: `string`, `list(number)`, `object({a = string})`...
    /// A quoted type (`"string"`, the legacy form, and the only form in JSON) is parsed.
    pub fn from_expr(expr: &Expression) -> Result<Self, String> {
        match expr {
            Expression::Variable(v) => Self::keyword(v.as_str()),
            Expression::String(s) => {
                let parsed = hcl::edit::parser::parse_expr(s).map_err(|_| format!("invalid type {s:?}"))?;
                Self::from_expr(&parsed.into())
            }
            Expression::Parenthesis(inner) => Self::from_expr(inner),
            Expression::FuncCall(call) if call.name.namespace.is_empty() && call.args.len() == 1 => {
                let arg = &call.args[0];
                match call.name.name.as_str() {
                    "list" => Ok(Self::List(Box::new(Self::from_expr(arg)?))),
                    "set" => Ok(Self::Set(Box::new(Self::from_expr(arg)?))),
                    "map" => Ok(Self::Map(Box::new(Self::from_expr(arg)?))),
                    "object" => match arg {
                        Expression::Object(fields) => fields
                            .iter()
                            .map(|(k, t)| {
                                let name = match k {
                                    ObjectKey::Identifier(i) => i.to_string(),
                                    ObjectKey::Expression(Expression::String(s)) => s.clone(),
                                    _ => return Err("invalid object type field".to_owned()),
                                };
                                Ok((name, Self::from_expr(t)?))
                            })
                            .collect::<Result<_, _>>()
                            .map(Self::Object),
                        _ => Err("object(...) takes an object of attribute types".to_owned()),
                    },
                    "tuple" => match arg {
                        Expression::Array(items) => {
                            items.iter().map(Self::from_expr).collect::<Result<_, _>>().map(Self::Tuple)
                        }
                        _ => Err("tuple(...) takes a list of element types".to_owned()),
                    },
                    other => Err(format!("unknown type constructor `{other}`")),
                }
            }
            _ => Err("a type must be string, number, bool, any, list(...), set(...), map(...), object({...}) or tuple([...])".to_owned()),
        }
    }

    fn keyword(word: &str) -> Result<Self, String> {
        match word {
            "any" => Ok(Self::Any),
            "string" => Ok(Self::String),
            "number" => Ok(Self::Number),
            "bool" => Ok(Self::Bool),
            "list" => Ok(Self::List(Box::new(Self::Any))),
            "map" => Ok(Self::Map(Box::new(Self::Any))),
            "set" => Ok(Self::Set(Box::new(Self::Any))),
            other => Err(format!("unknown type `{other}`")),
        }
    }

    /// A value given as text on the command line or in `NOMAD_VAR_<name>`: taken as a
    /// string for `string` and `any`, otherwise parsed as an HCL expression.
    pub fn parse_text(&self, text: &str) -> Result<Value, String> {
        match self {
            Self::Any | Self::String => Ok(Value::String(text.to_owned())),
            Self::Number => parse_number(text)
                .map(Value::Number)
                .ok_or_else(|| format!("a number is required, got {text:?}")),
            Self::Bool => match text.trim() {
                "true" => Ok(Value::Bool(true)),
                "false" => Ok(Value::Bool(false)),
                _ => Err(format!("a bool is required, got {text:?}")),
            },
            _ => {
                let expr: Expression = hcl::edit::parser::parse_expr(text)
                    .map_err(|e| format!("cannot parse {text:?} as {self}: {}", e.message()))?
                    .into();
                let value = expr
                    .evaluate(&Context::new())
                    .map_err(|e| format!("cannot evaluate {text:?}: {e}"))?;
                self.convert(value)
            }
        }
    }

    /// Converts a value to this type, as HCL's type conversion does.
    pub fn convert(&self, value: Value) -> Result<Value, String> {
        if value.is_null() {
            return Ok(value);
        }
        let got = value_type(&value);
        match (self, value) {
            (Self::Any, v) => Ok(v),
            (Self::String, Value::String(s)) => Ok(Value::String(s)),
            (Self::String, Value::Number(n)) => Ok(Value::String(n.to_string())),
            (Self::String, Value::Bool(b)) => Ok(Value::String(b.to_string())),
            (Self::Number, Value::Number(n)) => Ok(Value::Number(n)),
            (Self::Number, Value::String(s)) => parse_number(&s)
                .map(Value::Number)
                .ok_or_else(|| format!("a number is required, got {s:?}")),
            (Self::Bool, Value::Bool(b)) => Ok(Value::Bool(b)),
            (Self::Bool, Value::String(s)) if s == "true" || s == "false" => {
                Ok(Value::Bool(s == "true"))
            }
            (Self::List(t) | Self::Set(t), Value::Array(items)) => items
                .into_iter()
                .map(|v| t.convert(v))
                .collect::<Result<_, _>>()
                .map(Value::Array),
            (Self::Map(t), Value::Object(map)) => map
                .into_iter()
                .map(|(k, v)| Ok((k, t.convert(v)?)))
                .collect::<Result<Map<_, _>, String>>()
                .map(Value::Object),
            (Self::Object(fields), Value::Object(mut map)) => {
                let mut out = Map::new();
                for (name, t) in fields {
                    let v = map
                        .swap_remove(name)
                        .ok_or_else(|| format!("attribute `{name}` is required"))?;
                    out.insert(name.clone(), t.convert(v)?);
                }
                Ok(Value::Object(out))
            }
            (Self::Tuple(types), Value::Array(items)) if types.len() == items.len() => types
                .iter()
                .zip(items)
                .map(|(t, v)| t.convert(v))
                .collect::<Result<_, _>>()
                .map(Value::Array),
            (t, _) => Err(format!("a value of type {t} is required, got {got}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(src: &str) -> VarType {
        let expr: Expression = hcl::edit::parser::parse_expr(src).expect("parses").into();
        VarType::from_expr(&expr).expect("a type")
    }

    #[test]
    fn reads_type_expressions() {
        assert_eq!(ty("string"), VarType::String);
        assert_eq!(ty("list(number)"), VarType::List(Box::new(VarType::Number)));
        assert_eq!(
            ty("\"map(string)\""),
            VarType::Map(Box::new(VarType::String))
        );
        assert_eq!(
            ty("object({a = string, b = list(bool)})").to_string(),
            "object({a = string, b = list(bool)})"
        );
        assert_eq!(
            ty("tuple([string, number])").to_string(),
            "tuple([string, number])"
        );
    }

    #[test]
    fn converts_text_and_values() {
        assert_eq!(VarType::Number.parse_text("3"), Ok(Value::from(3)));
        assert_eq!(VarType::Bool.parse_text("true"), Ok(Value::from(true)));
        assert_eq!(VarType::String.parse_text("[1]"), Ok(Value::from("[1]")));
        assert_eq!(
            ty("list(number)").parse_text("[1, \"2\"]"),
            Ok(Value::from(vec![1, 2]))
        );
        assert!(VarType::Number.parse_text("three").is_err());
        assert!(ty("list(string)").convert(Value::from("x")).is_err());
        assert_eq!(
            VarType::String.convert(Value::from(5)),
            Ok(Value::from("5"))
        );
    }
}
