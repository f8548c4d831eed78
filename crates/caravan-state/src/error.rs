//! Why a command was refused. A refused command changes nothing.

use caravan_model::{AllocId, EvalId, JobId, NodeId};

/// A command the store refused; the state is exactly as it was before.
///
/// It crosses the network (a follower's write answered by the leader), so it is
/// serializable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum StateError {
    #[error("raft index {index} is not after the latest applied index {latest}")]
    StaleIndex { index: u64, latest: u64 },
    #[error("job has no id")]
    MissingJobId,
    #[error("evaluation has no id")]
    MissingEvalId,
    #[error("node has no id")]
    MissingNodeId,
    #[error("allocation has no id")]
    MissingAllocId,
    #[error("job \"{job_id}\" not found in namespace \"{namespace}\"")]
    UnknownJob { namespace: String, job_id: JobId },
    #[error("node {0} not found")]
    UnknownNode(NodeId),
    #[error("allocation {0} not found")]
    UnknownAlloc(AllocId),
    #[error("evaluation {0} not found")]
    UnknownEval(EvalId),
    #[error("allocation {alloc_id} is keyed under node {key} but names node {node_id}")]
    AllocNodeMismatch {
        alloc_id: AllocId,
        key: NodeId,
        node_id: NodeId,
    },
    #[error("node {0} is draining: its scheduling eligibility cannot be set to eligible")]
    NodeDraining(NodeId),
    /// A service registration that cannot be stored as it is (no id, no name, an id
    /// that does not name its allocation, ...).
    #[error("service registration {id:?}: {reason}")]
    InvalidServiceRegistration { id: String, reason: String },
    /// A service registration whose namespace, job or node is not its allocation's.
    #[error(
        "service registration {id:?} names {field} {given:?} but its allocation has {actual:?}"
    )]
    ServiceAllocMismatch {
        id: String,
        field: String,
        given: String,
        actual: String,
    },
    /// No registration has this id.
    #[error("unknown service ID {0:?}")]
    UnknownService(String),
    /// The registration has no check with this id.
    #[error("unknown check ID {check_id:?} of service {service_id:?}")]
    UnknownCheck {
        service_id: String,
        check_id: String,
    },
    /// A check without a check id cannot be added or replaced.
    #[error("check of service {0:?} has no check ID")]
    MissingCheckId(String),
    #[error("missing key name")]
    MissingKvKey,
}
