//! Why a server call failed, and whether the caller should retry.

use caravan_model::ValidationErrors;
use caravan_state::StateError;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The request is wrong; retrying it will not help.
    #[error("{0}")]
    BadRequest(String),
    #[error("job validation failed: {0}")]
    InvalidJob(#[from] ValidationErrors),
    #[error("{0} not found")]
    NotFound(String),
    /// The state store refused the command; nothing changed.
    #[error("{0}")]
    State(#[from] StateError),
    /// The server is stopping or lost leadership; retry against the leader.
    #[error("server unavailable: {0}")]
    Unavailable(String),
}

impl ServerError {
    /// Whether the same request may succeed later.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ServerError::Unavailable(_))
    }
}
