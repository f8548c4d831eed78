//! Reading Nomad-shaped JSON, where Go writes `null` for every unset pointer,
//! slice and map.

use serde_json::Value;

use crate::Job;

/// A JSON document that is not a job.
#[derive(Debug, thiserror::Error)]
pub enum JobJsonError {
    #[error("{0}")]
    Syntax(#[from] serde_json::Error),
    #[error("expected a JSON object with a \"Job\" key, or a job object")]
    NotAJob,
}

/// Removes every `null` object member, recursively, so that `#[serde(default)]`
/// stands in for Go's nil. Nulls inside arrays are kept (and then refused by serde).
pub fn strip_nulls(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(strip_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// Reads a job from the API's `{"Job": {...}}` form or from a bare job object.
pub fn job_from_json(mut value: Value) -> Result<Job, JobJsonError> {
    strip_nulls(&mut value);
    let inner = match value {
        Value::Object(mut map) if map.contains_key("Job") && !map.contains_key("ID") => {
            map.remove("Job").unwrap_or(Value::Null)
        }
        other @ Value::Object(_) => other,
        _ => return Err(JobJsonError::NotAJob),
    };
    if !inner.is_object() {
        return Err(JobJsonError::NotAJob);
    }
    Ok(serde_json::from_value(inner)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_go_style_nulls() {
        let job = job_from_json(serde_json::json!({
            "Job": {
                "ID": "redis",
                "Constraints": null,
                "Meta": null,
                "TaskGroups": [{"Name": "cache", "Count": null, "Tasks": [
                    {"Name": "redis", "Driver": "docker", "Env": null, "KillTimeout": 5000000000i64}
                ]}]
            }
        }))
        .expect("valid job JSON");
        assert_eq!(job.id.as_str(), "redis");
        assert!(job.constraints.is_empty());
        let task = &job.task_groups[0].tasks[0];
        assert_eq!(task.kill_timeout, Some(crate::Duration::from_secs(5)));
    }

    #[test]
    fn refuses_non_objects() {
        assert!(matches!(
            job_from_json(serde_json::json!([1])),
            Err(JobJsonError::NotAJob)
        ));
        assert!(matches!(
            job_from_json(serde_json::json!({"Job": 3})),
            Err(JobJsonError::NotAJob)
        ));
    }
}
