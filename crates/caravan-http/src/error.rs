//! The API's errors: each carries the status that tells the caller whose fault it is and
//! whether a retry may help, and is written as one line of plain text, as Nomad does.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use caravan_server::ServerError;
use caravan_state::StateError;

use crate::ClientApiError;

/// How long a caller should wait before retrying a request refused as unavailable.
const RETRY_AFTER_SECS: &str = "1";

/// A request the API refused or failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// The caller sent something wrong: 400, do not retry as is.
    #[error("{0}")]
    BadRequest(String),
    /// What the request names does not exist: 404.
    #[error("{0}")]
    NotFound(String),
    /// This agent cannot answer (no client here): 501, ask another agent.
    #[error("{0}")]
    NotImplemented(String),
    /// The server cannot take the request now (stopping, no leader): 503, retry.
    #[error("{0}")]
    Unavailable(String),
    /// Our fault: 500.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest(one_line(&message.into()))
    }

    /// `"<what> not found"`, Nomad's wording (`job not found`, `alloc not found`).
    pub fn not_found(what: &str) -> Self {
        Self::NotFound(format!("{what} not found"))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Whether the same request may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// Multi-line messages (validation's `1 error occurred:\n\t* ...`) on one line.
pub(crate) fn one_line(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for part in message.split('\n').map(str::trim).filter(|p| !p.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(part);
    }
    out
}

impl From<ServerError> for ApiError {
    fn from(e: ServerError) -> Self {
        match e {
            ServerError::BadRequest(m) => Self::bad_request(m),
            // The validation report on its own, without the wrapper's prefix.
            ServerError::InvalidJob(errors) => Self::bad_request(errors.to_string()),
            ServerError::NotFound(what) => Self::NotFound(format!("{what} not found")),
            ServerError::State(e) => e.into(),
            ServerError::Unavailable(m) => Self::Unavailable(format!("server unavailable: {m}")),
        }
    }
}

impl From<StateError> for ApiError {
    fn from(e: StateError) -> Self {
        match e {
            StateError::UnknownJob { .. } => Self::not_found("job"),
            StateError::UnknownNode(_) => Self::not_found("node"),
            StateError::UnknownAlloc(_) => Self::not_found("alloc"),
            StateError::UnknownEval(_) => Self::not_found("eval"),
            StateError::UnknownService(_) | StateError::UnknownCheck { .. } => {
                Self::NotFound(e.to_string())
            }
            StateError::MissingJobId
            | StateError::MissingEvalId
            | StateError::MissingNodeId
            | StateError::MissingAllocId
            | StateError::NodeDraining(_)
            | StateError::InvalidServiceRegistration { .. }
            | StateError::ServiceAllocMismatch { .. }
            | StateError::MissingCheckId(_)
            | StateError::MissingKvKey => Self::bad_request(e.to_string()),
            StateError::StaleIndex { .. } | StateError::AllocNodeMismatch { .. } => {
                Self::Internal(e.to_string())
            }
        }
    }
}

impl From<ClientApiError> for ApiError {
    fn from(e: ClientApiError) -> Self {
        match e {
            ClientApiError::UnknownAlloc(_) | ClientApiError::UnknownTask { .. } => {
                Self::NotFound(e.to_string())
            }
            ClientApiError::BadRequest(m) => Self::bad_request(m),
            ClientApiError::Failed(m) => Self::Internal(one_line(&m)),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let retryable = self.is_retryable();
        let mut response = (status, self.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        if retryable {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECS),
            );
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use caravan_model::{Segment, ValidationError, ValidationErrors};

    use super::*;

    #[test]
    fn validation_errors_read_on_one_line() {
        let errors = ValidationErrors(vec![ValidationError::new(
            vec![
                Segment::Labeled("group", "app".into()),
                Segment::Labeled("task", "x".into()),
                Segment::Field("driver"),
            ],
            "missing driver",
        )]);
        let e = ApiError::from(ServerError::InvalidJob(errors));
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            e.to_string(),
            r#"1 error occurred: * group "app" -> task "x" -> driver: missing driver"#
        );
    }

    #[test]
    fn only_unavailable_is_retryable() {
        let e = ApiError::from(ServerError::Unavailable("no leader".into()));
        assert!(e.is_retryable());
        assert_eq!(e.status(), StatusCode::SERVICE_UNAVAILABLE);
        let response = e.into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
        assert!(!ApiError::not_found("job").is_retryable());
    }

    #[test]
    fn state_refusals_map_to_statuses() {
        let e = ApiError::from(StateError::UnknownNode("n1".into()));
        assert_eq!(
            (e.status(), e.to_string().as_str()),
            (StatusCode::NOT_FOUND, "node not found")
        );
        let e = ApiError::from(StateError::NodeDraining("n1".into()));
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    }
}
