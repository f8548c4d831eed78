//! Job diffs in the shape of Nomad's `JobDiff` (`job plan -diff`, `versions?diffs=true`):
//! `{Type, ID, Fields, Objects, TaskGroups: [{Type, Name, Fields, Objects, Tasks, Updates}]}`
//! with `Type` one of `None`, `Added`, `Deleted`, `Edited`.
//!
//! Computed generically over the jobs' JSON: scalar members become field diffs (values
//! as strings, as Go prints them), nested objects and lists become object diffs, and
//! groups and tasks are paired by name. Only what changed is listed, except that every
//! group and task is present with its own type, so a plan can attach its counts.

use std::collections::{BTreeMap, BTreeSet};

use caravan_model::Job;
use serde_json::{Map, Value, json};

/// Members the server manages; a diff is about what the user wrote.
const SERVER_MANAGED: &[&str] = &[
    "Status",
    "StatusDescription",
    "Stable",
    "Version",
    "SubmitTime",
    "CreateIndex",
    "ModifyIndex",
    "JobModifyIndex",
    "Dispatched",
    "Payload",
];

/// Per-group update counts to attach as `Updates` (`{"create": 1, "ignore": 2}`).
pub(crate) type GroupUpdates = BTreeMap<String, BTreeMap<&'static str, u64>>;

/// The diff from `old` to `new` (either may be absent: a new or a purged job).
pub(crate) fn job_diff(
    old: Option<&Job>,
    new: Option<&Job>,
    updates: Option<&GroupUpdates>,
) -> Value {
    let id = new
        .or(old)
        .map(|j| j.id.as_str().to_owned())
        .unwrap_or_default();
    let mut old = old.map(job_object).unwrap_or_default();
    let mut new = new.map(job_object).unwrap_or_default();
    let old_groups = take_named(&mut old, "TaskGroups");
    let new_groups = take_named(&mut new, "TaskGroups");
    let (fields, objects) = diff_members(&old, &new);

    let mut groups = Vec::new();
    let names: BTreeSet<&String> = old_groups.keys().chain(new_groups.keys()).collect();
    for name in names {
        let group_updates = updates.and_then(|u| u.get(name.as_str()));
        groups.push(group_diff(
            name,
            old_groups.get(name),
            new_groups.get(name),
            group_updates,
        ));
    }
    let changed =
        !fields.is_empty() || !objects.is_empty() || groups.iter().any(|g| g["Type"] != "None");
    json!({
        "Type": kind(old.is_empty() && old_groups.is_empty(), new.is_empty() && new_groups.is_empty(), changed),
        "ID": id,
        "Fields": fields,
        "Objects": objects,
        "TaskGroups": groups,
    })
}

fn job_object(job: &Job) -> Map<String, Value> {
    let mut value = serde_json::to_value(job).unwrap_or(Value::Null);
    caravan_model::strip_nulls(&mut value);
    let Value::Object(mut map) = value else {
        return Map::new();
    };
    for key in SERVER_MANAGED {
        map.remove(*key);
    }
    map
}

/// Removes a list of named objects from `map`, keyed by their `Name`.
fn take_named(map: &mut Map<String, Value>, key: &str) -> BTreeMap<String, Map<String, Value>> {
    let Some(Value::Array(items)) = map.remove(key) else {
        return BTreeMap::new();
    };
    items
        .into_iter()
        .filter_map(|item| match item {
            Value::Object(obj) => {
                let name = obj
                    .get("Name")
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_owned();
                Some((name, obj))
            }
            _ => None,
        })
        .collect()
}

fn group_diff(
    name: &str,
    old: Option<&Map<String, Value>>,
    new: Option<&Map<String, Value>>,
    updates: Option<&BTreeMap<&'static str, u64>>,
) -> Value {
    let mut old = old.cloned();
    let mut new = new.cloned();
    let old_tasks = old
        .as_mut()
        .map(|g| take_named(g, "Tasks"))
        .unwrap_or_default();
    let new_tasks = new
        .as_mut()
        .map(|g| take_named(g, "Tasks"))
        .unwrap_or_default();
    let empty = Map::new();
    let (fields, objects) = diff_members(
        old.as_ref().unwrap_or(&empty),
        new.as_ref().unwrap_or(&empty),
    );
    let names: BTreeSet<&String> = old_tasks.keys().chain(new_tasks.keys()).collect();
    let tasks: Vec<Value> = names
        .into_iter()
        .map(|task| {
            let (o, n) = (old_tasks.get(task), new_tasks.get(task));
            let (fields, objects) = diff_members(o.unwrap_or(&empty), n.unwrap_or(&empty));
            let changed = !fields.is_empty() || !objects.is_empty();
            json!({
                "Type": kind(o.is_none(), n.is_none(), changed),
                "Name": task,
                "Fields": fields,
                "Objects": objects,
                "Annotations": null,
            })
        })
        .collect();
    let changed =
        !fields.is_empty() || !objects.is_empty() || tasks.iter().any(|t| t["Type"] != "None");
    json!({
        "Type": kind(old.is_none(), new.is_none(), changed),
        "Name": name,
        "Fields": fields,
        "Objects": objects,
        "Tasks": tasks,
        "Updates": updates,
    })
}

fn kind(old_absent: bool, new_absent: bool, changed: bool) -> &'static str {
    match (old_absent, new_absent) {
        (true, false) => "Added",
        (false, true) => "Deleted",
        _ if changed => "Edited",
        _ => "None",
    }
}

/// The field and object diffs between two JSON objects' members.
fn diff_members(old: &Map<String, Value>, new: &Map<String, Value>) -> (Vec<Value>, Vec<Value>) {
    let mut fields = Vec::new();
    let mut objects = Vec::new();
    let keys: BTreeSet<&String> = old.keys().chain(new.keys()).collect();
    for key in keys {
        let o = old.get(key).filter(|v| !is_empty(v));
        let n = new.get(key).filter(|v| !is_empty(v));
        if o == n {
            continue;
        }
        let nested = |v: Option<&Value>| v.is_some_and(|v| v.is_object() || v.is_array());
        if !nested(o) && !nested(n) {
            fields.push(field_diff(key, o, n));
            continue;
        }
        match (o.unwrap_or(&Value::Null), n.unwrap_or(&Value::Null)) {
            (Value::Array(a), Value::Array(b)) => objects.extend(list_diff(key, a, b)),
            (Value::Array(a), Value::Null) => objects.extend(list_diff(key, a, &[])),
            (Value::Null, Value::Array(b)) => objects.extend(list_diff(key, &[], b)),
            (a, b) => objects.extend(object_diff(key, a, b)),
        }
    }
    (fields, objects)
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

fn field_diff(name: &str, old: Option<&Value>, new: Option<&Value>) -> Value {
    json!({
        "Type": kind(old.is_none(), new.is_none(), true),
        "Name": name,
        "Old": old.map(scalar).unwrap_or_default(),
        "New": new.map(scalar).unwrap_or_default(),
        "Annotations": null,
    })
}

/// A scalar as Go's `fmt` prints it; anything nested as compact JSON.
fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// An object member (or a value that changed between object and scalar).
fn object_diff(name: &str, old: &Value, new: &Value) -> Option<Value> {
    let as_map = |v: &Value| match v {
        Value::Object(m) => m.clone(),
        Value::Null => Map::new(),
        other => Map::from_iter([(name.to_owned(), other.clone())]),
    };
    let (o, n) = (as_map(old), as_map(new));
    let (fields, objects) = diff_members(&o, &n);
    if fields.is_empty() && objects.is_empty() {
        return None;
    }
    Some(json!({
        "Type": kind(old.is_null(), new.is_null(), true),
        "Name": name,
        "Fields": fields,
        "Objects": objects,
    }))
}

/// A list member: scalars as a set of added and deleted values; objects paired by
/// `Name` or `Label`, else by position.
fn list_diff(name: &str, old: &[Value], new: &[Value]) -> Vec<Value> {
    let all_scalar = old
        .iter()
        .chain(new)
        .all(|v| !v.is_object() && !v.is_array());
    if all_scalar {
        let o: BTreeSet<String> = old.iter().map(scalar).collect();
        let n: BTreeSet<String> = new.iter().map(scalar).collect();
        let mut fields = Vec::new();
        for gone in o.difference(&n) {
            fields.push(json!({"Type": "Deleted", "Name": name, "Old": gone, "New": "", "Annotations": null}));
        }
        for added in n.difference(&o) {
            fields.push(json!({"Type": "Added", "Name": name, "Old": "", "New": added, "Annotations": null}));
        }
        if fields.is_empty() {
            return Vec::new();
        }
        return vec![json!({
            "Type": kind(o.is_empty(), n.is_empty(), true),
            "Name": name,
            "Fields": fields,
            "Objects": [],
        })];
    }
    let key = |i: usize, v: &Value| -> String {
        ["Name", "Label"]
            .iter()
            .find_map(|k| v.get(*k).and_then(Value::as_str))
            .map_or_else(|| format!("#{i}"), str::to_owned)
    };
    let olds: BTreeMap<String, &Value> = old
        .iter()
        .enumerate()
        .map(|(i, v)| (key(i, v), v))
        .collect();
    let news: BTreeMap<String, &Value> = new
        .iter()
        .enumerate()
        .map(|(i, v)| (key(i, v), v))
        .collect();
    let keys: BTreeSet<&String> = olds.keys().chain(news.keys()).collect();
    keys.into_iter()
        .filter_map(|k| {
            let o = olds.get(k).copied().unwrap_or(&Value::Null);
            let n = news.get(k).copied().unwrap_or(&Value::Null);
            object_diff(name, o, n)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use caravan_model::{Task, TaskGroup};

    use super::*;

    fn job(count: i64, image: &str, dcs: &[&str]) -> Job {
        let mut task = Task {
            name: "web".into(),
            driver: "raw_exec".into(),
            ..Task::default()
        };
        task.config.insert("command".into(), json!(image));
        Job {
            id: "app".into(),
            datacenters: dcs.iter().map(|s| (*s).to_owned()).collect(),
            task_groups: vec![TaskGroup {
                name: "g".into(),
                count: Some(count),
                tasks: vec![task],
                ..TaskGroup::default()
            }],
            ..Job::default()
        }
    }

    #[test]
    fn unchanged_job_is_none() {
        let a = job(1, "/bin/a", &["dc1"]);
        let d = job_diff(Some(&a), Some(&a), None);
        assert_eq!(d["Type"], "None");
        assert_eq!(d["TaskGroups"][0]["Type"], "None");
        assert_eq!(d["TaskGroups"][0]["Tasks"][0]["Type"], "None");
    }

    #[test]
    fn new_job_is_added() {
        let d = job_diff(None, Some(&job(1, "/bin/a", &["dc1"])), None);
        assert_eq!(d["Type"], "Added");
        assert_eq!(d["ID"], "app");
        assert_eq!(d["TaskGroups"][0]["Type"], "Added");
    }

    #[test]
    fn edits_are_listed_where_they_are() {
        let a = job(1, "/bin/a", &["dc1"]);
        let b = job(3, "/bin/b", &["dc1", "dc2"]);
        let mut updates = GroupUpdates::new();
        updates.entry("g".into()).or_default().insert("create", 2);
        let d = job_diff(Some(&a), Some(&b), Some(&updates));
        assert_eq!(d["Type"], "Edited");
        assert_eq!(d["Objects"][0]["Name"], "Datacenters");
        assert_eq!(d["Objects"][0]["Fields"][0]["Type"], "Added");
        assert_eq!(d["Objects"][0]["Fields"][0]["New"], "dc2");
        let group = &d["TaskGroups"][0];
        assert_eq!(group["Type"], "Edited");
        assert_eq!(
            group["Fields"][0],
            json!({"Type": "Edited", "Name": "Count", "Old": "1", "New": "3", "Annotations": null})
        );
        assert_eq!(group["Updates"]["create"], 2);
        let task = &group["Tasks"][0];
        assert_eq!(task["Type"], "Edited");
        assert_eq!(task["Objects"][0]["Name"], "Config");
        assert_eq!(task["Objects"][0]["Fields"][0]["New"], "/bin/b");
    }
}
