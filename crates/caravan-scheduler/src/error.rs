//! Why an evaluation could not be processed at all (it is then marked `failed`).

use caravan_model::JobId;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchedError {
    #[error("evaluation names no job")]
    MissingJobId,
    #[error("job {job_id} has unknown type {job_type:?}")]
    UnknownJobType { job_id: JobId, job_type: String },
}
