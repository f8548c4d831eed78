//! Lists, maps and sets: chunklist, coalesce, coalescelist, compact, concat, contains,
//! distinct, element, flatten, index, keys, length, lookup, merge, range, reverse,
//! setintersection, setproduct, setunion, slice, sort, values, zipmap.
//!
//! Sets are arrays without duplicates (see [`set_of`]); maps come out in key order.

use hcl::eval::FuncArgs;
use hcl::{Map, Value};

use super::encoding::sorted;
use super::{Args, FnResult, float_value, to_string};

/// `range` refuses to build more elements than this, as HCL2 does.
const RANGE_LIMIT: usize = 1024;

pub(super) fn chunklist(args: FuncArgs) -> FnResult {
    let a = Args::new("chunklist", &args);
    let list = a.list(0)?;
    let size = a.int(1)?;
    if size < 0 {
        return Err(a.err("the size argument must be positive"));
    }
    if list.is_empty() {
        return Ok(Value::Array(Vec::new()));
    }
    if size == 0 {
        return Ok(Value::Array(vec![Value::Array(list.to_vec())]));
    }
    let size = usize::try_from(size).unwrap_or(usize::MAX);
    Ok(Value::Array(
        list.chunks(size)
            .map(|c| Value::Array(c.to_vec()))
            .collect(),
    ))
}

/// The first argument that is neither null nor an empty string. Arguments of mixed
/// primitive types are first made strings, as HCL2 unifies them.
pub(super) fn coalesce(args: FuncArgs) -> FnResult {
    let a = Args::new("coalesce", &args);
    let vals = unify(a.rest(0));
    vals.into_iter()
        .find(|v| !v.is_null() && v.as_str() != Some(""))
        .ok_or_else(|| a.err("no non-null, non-empty-string arguments"))
}

/// The first argument that is a non-empty list.
pub(super) fn coalescelist(args: FuncArgs) -> FnResult {
    let a = Args::new("coalescelist", &args);
    for i in 0..a.len() {
        if a.get(i).is_null() {
            continue;
        }
        let list = a.list(i)?;
        if !list.is_empty() {
            return Ok(Value::Array(list.to_vec()));
        }
    }
    Err(a.err("no non-null arguments"))
}

/// The list without null and empty-string elements.
pub(super) fn compact(args: FuncArgs) -> FnResult {
    let a = Args::new("compact", &args);
    let mut out = Vec::new();
    for item in a.list(0)? {
        if item.is_null() {
            continue;
        }
        let text = to_string(item).map_err(|e| a.err(e))?;
        if !text.is_empty() {
            out.push(Value::String(text));
        }
    }
    Ok(Value::Array(out))
}

pub(super) fn concat(args: FuncArgs) -> FnResult {
    let a = Args::new("concat", &args);
    let mut out = Vec::new();
    for i in 0..a.len() {
        out.extend_from_slice(a.list(i)?);
    }
    Ok(Value::Array(out))
}

pub(super) fn contains(args: FuncArgs) -> FnResult {
    let a = Args::new("contains", &args);
    let list = a.list(0)?;
    Ok(Value::Bool(list.contains(a.get(1))))
}

/// The list without repeated elements; the first occurrence stays.
pub(super) fn distinct(args: FuncArgs) -> FnResult {
    let a = Args::new("distinct", &args);
    Ok(Value::Array(dedup(a.list(0)?.to_vec())))
}

/// `element(list, index)`: the index wraps around the list's length.
pub(super) fn element(args: FuncArgs) -> FnResult {
    let a = Args::new("element", &args);
    let list = a.list(0)?;
    let index = a.int(1)?;
    if index < 0 {
        return Err(a.err("cannot use element function with a negative index"));
    }
    if list.is_empty() {
        return Err(a.err("cannot use element function with an empty list"));
    }
    let index = usize::try_from(index).unwrap_or(usize::MAX) % list.len();
    Ok(list[index].clone())
}

/// Replaces nested lists by their elements, at every depth.
pub(super) fn flatten(args: FuncArgs) -> FnResult {
    let a = Args::new("flatten", &args);
    let mut out = Vec::new();
    flatten_into(a.list(0)?, &mut out);
    Ok(Value::Array(out))
}

fn flatten_into(list: &[Value], out: &mut Vec<Value>) {
    for item in list {
        match item {
            Value::Array(inner) => flatten_into(inner, out),
            other => out.push(other.clone()),
        }
    }
}

pub(super) fn index(args: FuncArgs) -> FnResult {
    let a = Args::new("index", &args);
    let list = a.list(0)?;
    let wanted = a.get(1);
    list.iter()
        .position(|v| v == wanted)
        .map(Value::from)
        .ok_or_else(|| a.err("item not found"))
}

/// A map's keys, sorted.
pub(super) fn keys(args: FuncArgs) -> FnResult {
    let a = Args::new("keys", &args);
    let map = a.object(0)?;
    Ok(Value::Array(
        sorted(map)
            .into_iter()
            .map(|(k, _)| Value::String(k.clone()))
            .collect(),
    ))
}

/// A map's values, in the order of their sorted keys.
pub(super) fn values(args: FuncArgs) -> FnResult {
    let a = Args::new("values", &args);
    let map = a.object(0)?;
    Ok(Value::Array(
        sorted(map).into_iter().map(|(_, v)| v.clone()).collect(),
    ))
}

/// Characters of a string, elements of a list, entries of a map.
pub(super) fn length(args: FuncArgs) -> FnResult {
    let a = Args::new("length", &args);
    let n = match a.get(0) {
        Value::String(s) => s.chars().count(),
        Value::Array(items) => items.len(),
        Value::Object(map) => map.len(),
        Value::Number(_) | Value::Bool(_) => a.string(0)?.chars().count(),
        Value::Null => return Err(a.err("argument must not be null")),
    };
    Ok(Value::from(n))
}

/// `lookup(map, key)` or `lookup(map, key, default)`.
pub(super) fn lookup(args: FuncArgs) -> FnResult {
    let a = Args::new("lookup", &args);
    a.at_most(3)?;
    let map = a.object(0)?;
    let key = a.string(1)?;
    if let Some(v) = map.get(&key) {
        return Ok(v.clone());
    }
    if a.len() == 3 {
        return Ok(a.get(2).clone());
    }
    Err(a.err(format_args!("lookup failed to find key {key:?}")))
}

/// Later maps override earlier ones; null arguments are skipped.
pub(super) fn merge(args: FuncArgs) -> FnResult {
    let a = Args::new("merge", &args);
    let mut out: Map<String, Value> = Map::new();
    for i in 0..a.len() {
        if a.get(i).is_null() {
            continue;
        }
        for (k, v) in a.object(i)? {
            out.insert(k.clone(), v.clone());
        }
    }
    out.sort_keys();
    Ok(Value::Object(out))
}

/// `range(limit)`, `range(start, limit)` or `range(start, limit, step)`; the limit is
/// excluded. Without a step it counts down when start is above limit.
pub(super) fn range(args: FuncArgs) -> FnResult {
    let a = Args::new("range", &args);
    a.at_most(3)?;
    let (start, limit, step) = match a.len() {
        1 => (0.0, a.float(0)?, 1.0),
        2 => {
            let (start, limit) = (a.float(0)?, a.float(1)?);
            (start, limit, if limit < start { -1.0 } else { 1.0 })
        }
        _ => (a.float(0)?, a.float(1)?, a.float(2)?),
    };
    if step == 0.0 {
        return Err(a.err("step must not be zero"));
    }
    let mut out = Vec::new();
    let mut current = start;
    while (step > 0.0 && current < limit) || (step < 0.0 && current > limit) {
        if out.len() >= RANGE_LIMIT {
            return Err(a.err(format_args!(
                "more than {RANGE_LIMIT} values were generated; either decrease the difference between start and limit or use a larger step"
            )));
        }
        out.push(float_value(a.name, current)?);
        current += step;
    }
    Ok(Value::Array(out))
}

pub(super) fn reverse(args: FuncArgs) -> FnResult {
    let a = Args::new("reverse", &args);
    Ok(Value::Array(a.list(0)?.iter().rev().cloned().collect()))
}

/// `slice(list, start, end)`: elements from `start` up to, not including, `end`.
pub(super) fn slice(args: FuncArgs) -> FnResult {
    let a = Args::new("slice", &args);
    let list = a.list(0)?;
    let (from, to) = (a.int(1)?, a.int(2)?);
    if from < 0 {
        return Err(a.err("from index must be greater than or equal to 0"));
    }
    let (from, to) = (
        usize::try_from(from).unwrap_or(usize::MAX),
        usize::try_from(to).unwrap_or(usize::MAX),
    );
    if to > list.len() {
        return Err(a.err("end index must be less than or equal to the length of the input list"));
    }
    if from > to {
        return Err(a.err("start index must be less than or equal to end index"));
    }
    Ok(Value::Array(list[from..to].to_vec()))
}

/// Sorts a list of strings (numbers are sorted as their text, as HCL2 does).
pub(super) fn sort(args: FuncArgs) -> FnResult {
    let a = Args::new("sort", &args);
    let mut out = Vec::new();
    for (i, item) in a.list(0)?.iter().enumerate() {
        if item.is_null() {
            return Err(a.err(format_args!(
                "given list element {i} is null; a null string cannot be sorted"
            )));
        }
        out.push(to_string(item).map_err(|e| a.err(e))?);
    }
    out.sort();
    Ok(Value::Array(out.into_iter().map(Value::String).collect()))
}

pub(super) fn zipmap(args: FuncArgs) -> FnResult {
    let a = Args::new("zipmap", &args);
    let (keys, values) = (a.list(0)?, a.list(1)?);
    if keys.len() != values.len() {
        return Err(a.err(format_args!(
            "number of keys ({}) does not match number of values ({})",
            keys.len(),
            values.len()
        )));
    }
    let mut out = Map::new();
    for (k, v) in keys.iter().zip(values) {
        let key = to_string(k).map_err(|e| a.err(format_args!("key: {e}")))?;
        out.insert(key, v.clone());
    }
    out.sort_keys();
    Ok(Value::Object(out))
}

/// Elements present in every argument.
pub(super) fn setintersection(args: FuncArgs) -> FnResult {
    let a = Args::new("setintersection", &args);
    let mut acc = set_of(a.list(0)?.to_vec());
    for i in 1..a.len() {
        let other = set_of(a.list(i)?.to_vec());
        acc.retain(|v| other.contains(v));
    }
    Ok(Value::Array(acc))
}

/// Elements present in any argument.
pub(super) fn setunion(args: FuncArgs) -> FnResult {
    let a = Args::new("setunion", &args);
    let mut all = Vec::new();
    for i in 0..a.len() {
        all.extend_from_slice(a.list(i)?);
    }
    Ok(Value::Array(set_of(all)))
}

/// Every combination of one element from each argument, as lists.
pub(super) fn setproduct(args: FuncArgs) -> FnResult {
    let a = Args::new("setproduct", &args);
    let mut combos: Vec<Vec<Value>> = vec![Vec::new()];
    for i in 0..a.len() {
        let list = a.list(i)?;
        let mut next = Vec::with_capacity(combos.len() * list.len());
        for combo in &combos {
            for item in list {
                let mut c = combo.clone();
                c.push(item.clone());
                next.push(c);
            }
        }
        combos = next;
    }
    Ok(Value::Array(combos.into_iter().map(Value::Array).collect()))
}

/// A set as HCL2 would build it from these elements: primitive types unified, duplicates
/// removed, and strings or numbers in sorted order.
pub(super) fn set_of(vals: Vec<Value>) -> Vec<Value> {
    let mut out = dedup(unify(&vals));
    if out.iter().all(|v| matches!(v, Value::String(_))) {
        out.sort_by(|x, y| x.as_str().cmp(&y.as_str()));
    } else if out.iter().all(|v| matches!(v, Value::Number(_))) {
        out.sort_by(|x, y| {
            let (x, y) = (x.as_f64().unwrap_or(0.0), y.as_f64().unwrap_or(0.0));
            x.total_cmp(&y)
        });
    } else if out.iter().all(|v| matches!(v, Value::Bool(_))) {
        out.sort_by_key(|v| v.as_bool());
    }
    out
}

fn dedup(vals: Vec<Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::with_capacity(vals.len());
    for v in vals {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// HCL2 gives a collection one element type: when strings are mixed with numbers or
/// booleans, all of them become strings. Other mixes are left as they are.
pub(super) fn unify(vals: &[Value]) -> Vec<Value> {
    let has_string = vals.iter().any(|v| matches!(v, Value::String(_)));
    let has_other_primitive = vals
        .iter()
        .any(|v| matches!(v, Value::Number(_) | Value::Bool(_)));
    if !(has_string && has_other_primitive) {
        return vals.to_vec();
    }
    vals.iter()
        .map(|v| match v {
            Value::Number(_) | Value::Bool(_) => to_string(v).map_or(Value::Null, Value::String),
            other => other.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{fails, lit, ok, s};
    use hcl::Value;

    #[test]
    fn chunklist_splits() {
        assert_eq!(
            ok(r#"chunklist(["a", "b", "c", "d", "e"], 2)"#),
            lit(r#"[["a", "b"], ["c", "d"], ["e"]]"#)
        );
        assert_eq!(ok(r#"chunklist(["a", "b"], 0)"#), lit(r#"[["a", "b"]]"#));
        assert_eq!(ok("chunklist([], 3)"), lit("[]"));
        fails(
            "chunklist([1], -1)",
            "chunklist: the size argument must be positive",
        );
        fails(
            "chunklist(\"a\", 1)",
            "chunklist: argument 1: a list is required, got string",
        );
    }

    #[test]
    fn coalesce_and_coalescelist() {
        assert_eq!(ok(r#"coalesce("a", "b")"#), s("a"));
        assert_eq!(ok(r#"coalesce("", "b")"#), s("b"));
        assert_eq!(ok(r#"coalesce(null, 1, 2)"#), Value::from(1));
        assert_eq!(ok(r#"coalesce("", 1)"#), s("1"));
        fails(
            r#"coalesce("", null)"#,
            "coalesce: no non-null, non-empty-string arguments",
        );
        assert_eq!(
            ok(r#"coalescelist(["a", "b"], ["c"])"#),
            lit(r#"["a", "b"]"#)
        );
        assert_eq!(ok(r#"coalescelist([], null, ["c"])"#), lit(r#"["c"]"#));
        fails(
            "coalescelist([], [])",
            "coalescelist: no non-null arguments",
        );
        fails(
            "coalescelist(1)",
            "coalescelist: argument 1: a list is required, got number",
        );
    }

    #[test]
    fn compact_concat_contains_distinct() {
        assert_eq!(
            ok(r#"compact(["a", "", "b", null, "c"])"#),
            lit(r#"["a", "b", "c"]"#)
        );
        assert_eq!(
            ok(r#"concat(["a", ""], ["b", "c"])"#),
            lit(r#"["a", "", "b", "c"]"#)
        );
        assert_eq!(ok("concat()"), lit("[]"));
        fails(
            r#"concat(["a"], "b")"#,
            "concat: argument 2: a list is required",
        );
        assert_eq!(ok(r#"contains(["a", "b", "c"], "a")"#), Value::Bool(true));
        assert_eq!(ok(r#"contains(["a", "b", "c"], "d")"#), Value::Bool(false));
        assert_eq!(ok("contains([1, 2], 2.0)"), Value::Bool(true));
        assert_eq!(
            ok(r#"distinct(["a", "b", "a", "c", "d", "b"])"#),
            lit(r#"["a", "b", "c", "d"]"#)
        );
    }

    #[test]
    fn element_index_flatten() {
        assert_eq!(ok(r#"element(["a", "b", "c"], 1)"#), s("b"));
        assert_eq!(ok(r#"element(["a", "b", "c"], 3)"#), s("a"));
        fails(
            r#"element(["a"], -1)"#,
            "element: cannot use element function with a negative index",
        );
        fails(
            "element([], 0)",
            "cannot use element function with an empty list",
        );
        assert_eq!(ok(r#"index(["a", "b", "c"], "b")"#), Value::from(1));
        fails(r#"index(["a"], "z")"#, "index: item not found");
        assert_eq!(
            ok(r#"flatten([["a", "b"], [], ["c"]])"#),
            lit(r#"["a", "b", "c"]"#)
        );
        assert_eq!(
            ok(r#"flatten([[["a", "b"], []], ["c"], "d"])"#),
            lit(r#"["a", "b", "c", "d"]"#)
        );
    }

    #[test]
    fn keys_values_length_lookup() {
        assert_eq!(ok("keys({a = 1, c = 2, d = 3})"), lit(r#"["a", "c", "d"]"#));
        assert_eq!(ok("keys({z = 1, a = 2})"), lit(r#"["a", "z"]"#));
        assert_eq!(ok("values({z = 1, a = 2})"), lit("[2, 1]"));
        fails("keys([1])", "keys: argument 1: a map is required, got list");
        assert_eq!(ok("length([])"), Value::from(0));
        assert_eq!(ok(r#"length(["a", "b"])"#), Value::from(2));
        assert_eq!(ok(r#"length({a = "b"})"#), Value::from(1));
        assert_eq!(ok(r#"length("héllo")"#), Value::from(5));
        fails("length(null)", "length: argument must not be null");
        assert_eq!(
            ok(r#"lookup({a = "ay", b = "bee"}, "a", "what?")"#),
            s("ay")
        );
        assert_eq!(
            ok(r#"lookup({a = "ay", b = "bee"}, "c", "what?")"#),
            s("what?")
        );
        assert_eq!(ok(r#"lookup({a = "ay"}, "a")"#), s("ay"));
        fails(
            r#"lookup({a = "ay"}, "c")"#,
            "lookup: lookup failed to find key \"c\"",
        );
        fails(
            r#"lookup({}, "a", 1, 2)"#,
            "lookup: expected at most 3 arguments, got 4",
        );
    }

    #[test]
    fn merge_later_wins() {
        assert_eq!(
            ok(r#"merge({a = "b", c = "d"}, {e = "f", c = "z"})"#),
            lit(r#"{a = "b", c = "z", e = "f"}"#)
        );
        assert_eq!(ok("merge()"), lit("{}"));
        assert_eq!(ok("merge({a = 1}, null)"), lit("{a = 1}"));
        fails(
            "merge({a = 1}, [1])",
            "merge: argument 2: a map is required, got list",
        );
    }

    #[test]
    fn range_forms() {
        assert_eq!(ok("range(3)"), lit("[0, 1, 2]"));
        assert_eq!(ok("range(1, 4)"), lit("[1, 2, 3]"));
        assert_eq!(ok("range(1, 8, 2)"), lit("[1, 3, 5, 7]"));
        assert_eq!(ok("range(4, 1)"), lit("[4, 3, 2]"));
        assert_eq!(ok("range(10, 5, -2)"), lit("[10, 8, 6]"));
        assert_eq!(ok("range(0, 1, 0.25)"), lit("[0, 0.25, 0.5, 0.75]"));
        assert_eq!(ok("range(0)"), lit("[]"));
        assert_eq!(ok("range(1, 4, -1)"), lit("[]"));
        fails("range(1, 2, 0)", "range: step must not be zero");
        fails("range(2000)", "range: more than 1024 values were generated");
        fails(
            "range(1, 2, 3, 4)",
            "range: expected at most 3 arguments, got 4",
        );
    }

    #[test]
    fn reverse_slice_sort_zipmap() {
        assert_eq!(ok("reverse([1, 2, 3])"), lit("[3, 2, 1]"));
        assert_eq!(
            ok(r#"slice(["a", "b", "c", "d"], 1, 3)"#),
            lit(r#"["b", "c"]"#)
        );
        assert_eq!(ok(r#"slice(["a"], 1, 1)"#), lit("[]"));
        fails(
            r#"slice(["a"], 0, 2)"#,
            "slice: end index must be less than or equal to the length",
        );
        fails(
            r#"slice(["a", "b"], 2, 1)"#,
            "slice: start index must be less than or equal to end index",
        );
        fails(
            r#"slice(["a"], -1, 1)"#,
            "slice: from index must be greater than or equal to 0",
        );
        assert_eq!(
            ok(r#"sort(["e", "d", "a", "x"])"#),
            lit(r#"["a", "d", "e", "x"]"#)
        );
        assert_eq!(ok("sort([10, 9, 1])"), lit(r#"["1", "10", "9"]"#));
        fails(r#"sort(["a", null])"#, "sort: given list element 1 is null");
        assert_eq!(ok(r#"zipmap(["a", "b"], [1, 2])"#), lit("{a = 1, b = 2}"));
        fails(
            r#"zipmap(["a"], [1, 2])"#,
            "zipmap: number of keys (1) does not match number of values (2)",
        );
    }

    #[test]
    fn set_functions() {
        assert_eq!(
            ok(r#"setintersection(["a", "b"], ["b", "c"], ["b", "d"])"#),
            lit(r#"["b"]"#)
        );
        assert_eq!(
            ok(r#"setunion(["a", "b"], ["b", "c"], ["d"])"#),
            lit(r#"["a", "b", "c", "d"]"#)
        );
        assert_eq!(ok("setunion([3, 1], [2, 1])"), lit("[1, 2, 3]"));
        assert_eq!(ok(r#"setunion(["b"], [1])"#), lit(r#"["1", "b"]"#));
        assert_eq!(
            ok(r#"setproduct(["development", "staging"], ["app1", "app2"])"#),
            lit(
                r#"[["development", "app1"], ["development", "app2"], ["staging", "app1"], ["staging", "app2"]]"#
            )
        );
        assert_eq!(ok(r#"setproduct(["a"], [])"#), lit("[]"));
        fails(
            r#"setproduct(["a"])"#,
            "expected 2 positional arguments, got 1",
        );
        fails(
            r#"setunion("a")"#,
            "setunion: argument 1: a list is required",
        );
    }
}
