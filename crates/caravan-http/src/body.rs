//! Request bodies: JSON read with one-line errors, and jobs taken out of `{"Job": {...}}`.

use caravan_model::Job;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::ApiError;

/// A JSON request body; an empty body reads as `{}` for endpoints whose fields are optional.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let bytes = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        bytes
    };
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("failed to decode the request body: {e}")))
}

/// A JSON object body.
pub(crate) fn object(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("request body is empty"));
    }
    match decode::<Value>(bytes)? {
        Value::Object(map) => Ok(map),
        _ => Err(ApiError::bad_request("request body must be a JSON object")),
    }
}

/// Takes the job out of a request object's `Job` member (Nomad's Go nulls accepted).
pub(crate) fn take_job(body: &mut Map<String, Value>) -> Result<Job, ApiError> {
    let job = match body.remove("Job") {
        None | Some(Value::Null) => return Err(ApiError::bad_request("job must be specified")),
        Some(job @ Value::Object(_)) => job,
        Some(_) => return Err(ApiError::bad_request("Job must be a JSON object")),
    };
    caravan_model::job_from_json(job)
        .map_err(|e| ApiError::bad_request(format!("failed to decode the job: {e}")))
}

/// A boolean member, absent or null meaning false.
pub(crate) fn flag(body: &Map<String, Value>, name: &str) -> Result<bool, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(ApiError::bad_request(format!("{name} must be a boolean"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_come_out_of_the_wrapper() {
        let mut body =
            object(br#"{"Job": {"ID": "web", "Meta": null}, "Diff": true}"#).expect("an object");
        let job = take_job(&mut body).expect("a job");
        assert_eq!(job.id.as_str(), "web");
        assert_eq!(flag(&body, "Diff"), Ok(true));
        assert_eq!(flag(&body, "Absent"), Ok(false));
    }

    #[test]
    fn bad_bodies_are_one_line_400s() {
        for bad in [
            &b""[..],
            b"[1]",
            b"{",
            br#"{"Job": null}"#,
            br#"{"Job": {"ID": 3}}"#,
        ] {
            let result = object(bad).and_then(|mut b| take_job(&mut b));
            let e = result.expect_err("refused");
            assert!(matches!(e, ApiError::BadRequest(_)), "{e:?}");
            assert!(!e.to_string().contains('\n'));
        }
    }
}
