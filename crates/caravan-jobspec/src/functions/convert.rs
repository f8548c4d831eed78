//! Conversions: tostring, tonumber, tobool, tolist, toset, tomap, convert; the type
//! keywords `convert` needs; and the eager `can` and `try`.
//!
//! HCL2 reads `convert(x, list(string))` with a type expression as the second argument.
//! hcl-rs has no type expressions, so the keywords are declared as ordinary names:
//! variables `string`, `number`, `bool`, `any`, and functions `list`, `set`, `map`,
//! `tuple`, `object`. Each evaluates to a type description, an object with one reserved
//! key ([`TYPE_KEY`]) that [`TypeSpec::from_value`] reads back. The same reading could
//! serve `variable "x" { type = ... }` blocks.

use hcl::eval::{Context, FuncArgs};
use hcl::{Map, Value};

use super::collections::{set_of, unify};
use super::{Args, FnResult, kind, to_bool, to_number, to_string};

/// The key that marks an object as a type description. It starts with a control
/// character so that no job file writes it by accident.
const TYPE_KEY: &str = "\u{1}caravan_type";

/// A type constraint, as written in a type expression.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum TypeSpec {
    Any,
    String,
    Number,
    Bool,
    List(Box<TypeSpec>),
    Set(Box<TypeSpec>),
    Map(Box<TypeSpec>),
    Tuple(Vec<TypeSpec>),
    Object(Vec<(String, TypeSpec)>),
}

impl TypeSpec {
    /// The value a type keyword evaluates to.
    fn to_value(&self) -> Value {
        let (name, inner) = match self {
            TypeSpec::Any => ("any", Value::Null),
            TypeSpec::String => ("string", Value::Null),
            TypeSpec::Number => ("number", Value::Null),
            TypeSpec::Bool => ("bool", Value::Null),
            TypeSpec::List(t) => ("list", t.to_value()),
            TypeSpec::Set(t) => ("set", t.to_value()),
            TypeSpec::Map(t) => ("map", t.to_value()),
            TypeSpec::Tuple(ts) => (
                "tuple",
                Value::Array(ts.iter().map(Self::to_value).collect()),
            ),
            TypeSpec::Object(attrs) => (
                "object",
                Value::Object(
                    attrs
                        .iter()
                        .map(|(k, t)| (k.clone(), t.to_value()))
                        .collect(),
                ),
            ),
        };
        let mut map = Map::new();
        map.insert(TYPE_KEY.to_string(), Value::String(name.to_string()));
        map.insert("of".to_string(), inner);
        Value::Object(map)
    }

    /// Reads a type description back; `None` when the value is not one.
    pub(super) fn from_value(v: &Value) -> Option<TypeSpec> {
        let map = v.as_object()?;
        let name = map.get(TYPE_KEY)?.as_str()?;
        let inner = map.get("of").unwrap_or(&Value::Null);
        Some(match name {
            "any" => TypeSpec::Any,
            "string" => TypeSpec::String,
            "number" => TypeSpec::Number,
            "bool" => TypeSpec::Bool,
            "list" => TypeSpec::List(Box::new(Self::from_value(inner)?)),
            "set" => TypeSpec::Set(Box::new(Self::from_value(inner)?)),
            "map" => TypeSpec::Map(Box::new(Self::from_value(inner)?)),
            "tuple" => TypeSpec::Tuple(
                inner
                    .as_array()?
                    .iter()
                    .map(Self::from_value)
                    .collect::<Option<_>>()?,
            ),
            "object" => TypeSpec::Object(
                inner
                    .as_object()?
                    .iter()
                    .map(|(k, t)| Some((k.clone(), Self::from_value(t)?)))
                    .collect::<Option<_>>()?,
            ),
            _ => return None,
        })
    }

    /// Converts `v` to this type as HCL2 does, or explains why it cannot.
    pub(super) fn convert(&self, v: &Value) -> Result<Value, String> {
        if v.is_null() {
            return Ok(Value::Null);
        }
        match self {
            TypeSpec::Any => Ok(v.clone()),
            TypeSpec::String => to_string(v).map(Value::String),
            TypeSpec::Number => to_number(v).map(Value::Number),
            TypeSpec::Bool => to_bool(v).map(Value::Bool),
            TypeSpec::List(elem) => Ok(Value::Array(self.elements(elem, v)?)),
            TypeSpec::Set(elem) => Ok(Value::Array(set_of(self.elements(elem, v)?))),
            TypeSpec::Map(elem) => {
                let map = v
                    .as_object()
                    .ok_or_else(|| format!("cannot convert {} to map", kind(v)))?;
                let values: Vec<Value> = map.values().cloned().collect();
                let values = match **elem {
                    TypeSpec::Any => unify(&values),
                    ref t => values
                        .iter()
                        .map(|x| t.convert(x))
                        .collect::<Result<_, _>>()?,
                };
                Ok(Value::Object(map.keys().cloned().zip(values).collect()))
            }
            TypeSpec::Tuple(elems) => {
                let items = v
                    .as_array()
                    .ok_or_else(|| format!("cannot convert {} to tuple", kind(v)))?;
                if items.len() != elems.len() {
                    return Err(format!(
                        "a tuple of {} elements is required, got {}",
                        elems.len(),
                        items.len()
                    ));
                }
                let out = elems
                    .iter()
                    .zip(items)
                    .map(|(t, x)| t.convert(x))
                    .collect::<Result<_, _>>()?;
                Ok(Value::Array(out))
            }
            TypeSpec::Object(attrs) => {
                let map = v
                    .as_object()
                    .ok_or_else(|| format!("cannot convert {} to object", kind(v)))?;
                let mut out = Map::new();
                for (name, t) in attrs {
                    let x = map
                        .get(name)
                        .ok_or_else(|| format!("attribute {name:?} is required"))?;
                    out.insert(name.clone(), t.convert(x)?);
                }
                Ok(Value::Object(out))
            }
        }
    }

    /// The elements of a list, set or tuple value, converted to `elem`.
    fn elements(&self, elem: &TypeSpec, v: &Value) -> Result<Vec<Value>, String> {
        let items = v.as_array().ok_or_else(|| {
            let target = if matches!(self, TypeSpec::Set(_)) {
                "set"
            } else {
                "list"
            };
            format!("cannot convert {} to {target}", kind(v))
        })?;
        match elem {
            TypeSpec::Any => Ok(unify(items)),
            t => items.iter().map(|x| t.convert(x)).collect(),
        }
    }
}

/// Declares the type keywords (see the module docs).
pub(super) fn declare_type_keywords(ctx: &mut Context<'_>) {
    for (name, t) in [
        ("string", TypeSpec::String),
        ("number", TypeSpec::Number),
        ("bool", TypeSpec::Bool),
        ("any", TypeSpec::Any),
    ] {
        ctx.declare_var(name, t.to_value());
    }
}

fn type_arg(a: &Args<'_>, i: usize) -> Result<TypeSpec, String> {
    TypeSpec::from_value(a.get(i)).ok_or_else(|| {
        a.err(format_args!(
            "argument {} must be a type, such as string or list(number)",
            i + 1
        ))
    })
}

pub(super) fn list_type(args: FuncArgs) -> FnResult {
    let a = Args::new("list", &args);
    Ok(TypeSpec::List(Box::new(type_arg(&a, 0)?)).to_value())
}

pub(super) fn set_type(args: FuncArgs) -> FnResult {
    let a = Args::new("set", &args);
    Ok(TypeSpec::Set(Box::new(type_arg(&a, 0)?)).to_value())
}

pub(super) fn map_type(args: FuncArgs) -> FnResult {
    let a = Args::new("map", &args);
    Ok(TypeSpec::Map(Box::new(type_arg(&a, 0)?)).to_value())
}

pub(super) fn tuple_type(args: FuncArgs) -> FnResult {
    let a = Args::new("tuple", &args);
    let elems = a
        .list(0)?
        .iter()
        .map(|t| TypeSpec::from_value(t).ok_or_else(|| a.err("every element must be a type")))
        .collect::<Result<_, _>>()?;
    Ok(TypeSpec::Tuple(elems).to_value())
}

pub(super) fn object_type(args: FuncArgs) -> FnResult {
    let a = Args::new("object", &args);
    let attrs = a
        .object(0)?
        .iter()
        .map(|(k, t)| {
            TypeSpec::from_value(t)
                .map(|t| (k.clone(), t))
                .ok_or_else(|| a.err(format_args!("attribute {k:?} must be a type")))
        })
        .collect::<Result<_, _>>()?;
    Ok(TypeSpec::Object(attrs).to_value())
}

/// `convert(value, type)`.
pub(super) fn convert(args: FuncArgs) -> FnResult {
    let a = Args::new("convert", &args);
    let t = type_arg(&a, 1)?;
    t.convert(a.get(0)).map_err(|e| a.err(e))
}

fn convert_with(name: &'static str, args: &FuncArgs, t: TypeSpec) -> FnResult {
    let a = Args::new(name, args);
    t.convert(a.get(0)).map_err(|e| a.err(e))
}

pub(super) fn tostring(args: FuncArgs) -> FnResult {
    convert_with("tostring", &args, TypeSpec::String)
}

pub(super) fn tonumber(args: FuncArgs) -> FnResult {
    convert_with("tonumber", &args, TypeSpec::Number)
}

pub(super) fn tobool(args: FuncArgs) -> FnResult {
    convert_with("tobool", &args, TypeSpec::Bool)
}

pub(super) fn tolist(args: FuncArgs) -> FnResult {
    convert_with("tolist", &args, TypeSpec::List(Box::new(TypeSpec::Any)))
}

pub(super) fn toset(args: FuncArgs) -> FnResult {
    convert_with("toset", &args, TypeSpec::Set(Box::new(TypeSpec::Any)))
}

pub(super) fn tomap(args: FuncArgs) -> FnResult {
    convert_with("tomap", &args, TypeSpec::Map(Box::new(TypeSpec::Any)))
}

/// `can(expr)`. hcl-rs evaluates the argument before calling, so reaching this function
/// means it evaluated: true. When it fails, its own error is reported instead of false.
pub(super) fn can(_args: FuncArgs) -> FnResult {
    Ok(Value::Bool(true))
}

/// `try(expr...)`. As with `can`, every argument has evaluated by the time this runs, so
/// the first one is the answer; an argument that fails is reported, not skipped.
pub(super) fn try_(args: FuncArgs) -> FnResult {
    let a = Args::new("try", &args);
    Ok(a.get(0).clone())
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{fails, lit, ok, s};
    use hcl::Value;

    #[test]
    fn to_primitives() {
        assert_eq!(ok("tostring(\"hello\")"), s("hello"));
        assert_eq!(ok("tostring(1)"), s("1"));
        assert_eq!(ok("tostring(true)"), s("true"));
        assert_eq!(ok("tostring(null)"), Value::Null);
        fails("tostring([])", "tostring: cannot convert list to string");
        assert_eq!(ok("tonumber(1)"), Value::from(1));
        assert_eq!(ok("tonumber(\"1\")"), Value::from(1));
        assert_eq!(ok("tonumber(\"-2.5\")"), Value::from(-2.5));
        assert_eq!(ok("tonumber(null)"), Value::Null);
        fails(
            "tonumber(\"no\")",
            "tonumber: cannot convert \"no\" to number",
        );
        fails(
            "tonumber(\"inf\")",
            "tonumber: cannot convert \"inf\" to number",
        );
        assert_eq!(ok("tobool(true)"), Value::Bool(true));
        assert_eq!(ok("tobool(\"false\")"), Value::Bool(false));
        assert_eq!(ok("tobool(null)"), Value::Null);
        fails("tobool(\"no\")", "tobool: cannot convert \"no\" to bool");
        fails("tobool(1)", "tobool: cannot convert number to bool");
    }

    #[test]
    fn to_collections() {
        assert_eq!(ok(r#"tolist(["a", "b", "c"])"#), lit(r#"["a", "b", "c"]"#));
        assert_eq!(
            ok(r#"tolist(["a", 1, true])"#),
            lit(r#"["a", "1", "true"]"#)
        );
        fails(
            r#"tolist({a = 1})"#,
            "tolist: cannot convert object to list",
        );
        assert_eq!(ok(r#"toset(["c", "b", "b"])"#), lit(r#"["b", "c"]"#));
        assert_eq!(ok(r#"toset(["a", 1])"#), lit(r#"["1", "a"]"#));
        assert_eq!(ok(r#"tomap({a = 1, b = 2})"#), lit("{a = 1, b = 2}"));
        assert_eq!(
            ok(r#"tomap({a = "foo", b = true})"#),
            lit(r#"{a = "foo", b = "true"}"#)
        );
        fails(r#"tomap(["a"])"#, "tomap: cannot convert list to map");
    }

    #[test]
    fn convert_with_type_expressions() {
        assert_eq!(ok("convert(5, string)"), s("5"));
        assert_eq!(ok("convert(\"5\", number)"), Value::from(5));
        assert_eq!(ok("convert(\"true\", bool)"), Value::Bool(true));
        assert_eq!(ok("convert([1, 2], list(string))"), lit(r#"["1", "2"]"#));
        assert_eq!(ok("convert([2, 1, 2], set(number))"), lit("[1, 2]"));
        assert_eq!(ok("convert({a = 1}, map(string))"), lit(r#"{a = "1"}"#));
        assert_eq!(
            ok("convert([1, \"2\"], tuple([string, number]))"),
            lit(r#"["1", 2]"#)
        );
        assert_eq!(
            ok(r#"convert({a = 1, b = "x", c = 3}, object({a = string, b = string}))"#),
            lit(r#"{a = "1", b = "x"}"#)
        );
        assert_eq!(ok("convert([1, \"a\"], any)"), lit(r#"[1, "a"]"#));
        fails("convert(1, 2)", "convert: argument 2 must be a type");
        fails(
            "convert({a = 1}, object({b = number}))",
            "convert: attribute \"b\" is required",
        );
        fails(
            "convert([1], tuple([number, number]))",
            "a tuple of 2 elements is required, got 1",
        );
        fails(
            "convert(\"x\", list(string))",
            "convert: cannot convert string to list",
        );
        fails("list(1)", "list: argument 1 must be a type");
    }

    #[test]
    fn can_and_try_are_eager() {
        assert_eq!(ok("can(tonumber(\"1\"))"), Value::Bool(true));
        assert_eq!(ok("try(1, 2)"), Value::from(1));
        // Documented limitation: the argument's own error is reported.
        fails("can(tonumber(\"x\"))", "cannot convert \"x\" to number");
    }
}
