//! `add`, `subtract`, `multiply`, `divide`, `modulo`, with consul-template's
//! argument order so they pipe: `{{ .Port | add 1 }}` is Port + 1,
//! `{{ 10 | subtract 3 }}` is 7.

use gotmpl::Value;

use super::args::{FnResult, arity, fail};

#[derive(Clone, Copy)]
enum Op {
    Add,
    Subtract,
    Multiply,
    Divide,
    Modulo,
}

fn apply(function: &str, op: Op, args: &[Value]) -> FnResult {
    arity(function, args, 2)?;
    // `add b a` computes a + b: the piped subject comes last.
    let (b, a) = (&args[0], &args[1]);
    match (a, b) {
        (Value::Int(_) | Value::Uint(_), Value::Int(_) | Value::Uint(_)) => {
            let (Some(x), Some(y)) = (a.as_int(), b.as_int()) else {
                return Err(fail(function, "not a number"));
            };
            let result = match op {
                Op::Add => x.checked_add(y),
                Op::Subtract => x.checked_sub(y),
                Op::Multiply => x.checked_mul(y),
                Op::Divide | Op::Modulo if y == 0 => {
                    return Err(fail(function, "division by zero"));
                }
                Op::Divide => x.checked_div(y),
                Op::Modulo => x.checked_rem(y),
            };
            result
                .map(Value::Int)
                .ok_or_else(|| fail(function, "integer overflow"))
        }
        _ => match (a.as_float(), b.as_float()) {
            (Some(x), Some(y)) => Ok(Value::Float(match op {
                Op::Add => x + y,
                Op::Subtract => x - y,
                Op::Multiply => x * y,
                Op::Divide => x / y,
                Op::Modulo => return Err(fail(function, "modulo needs integers")),
            })),
            _ => Err(fail(
                function,
                format!(
                    "cannot compute with {} and {}",
                    a.type_name(),
                    b.type_name()
                ),
            )),
        },
    }
}

pub(super) fn add(args: &[Value]) -> FnResult {
    apply("add", Op::Add, args)
}

pub(super) fn subtract(args: &[Value]) -> FnResult {
    apply("subtract", Op::Subtract, args)
}

pub(super) fn multiply(args: &[Value]) -> FnResult {
    apply("multiply", Op::Multiply, args)
}

pub(super) fn divide(args: &[Value]) -> FnResult {
    apply("divide", Op::Divide, args)
}

pub(super) fn modulo(args: &[Value]) -> FnResult {
    apply("modulo", Op::Modulo, args)
}
