//! What a scheduler run gets from outside: the time, a seed, and configuration.

/// The dynamic port range used when a node does not set its own.
pub const DEFAULT_MIN_DYNAMIC_PORT: u16 = 20000;
pub const DEFAULT_MAX_DYNAMIC_PORT: u16 = 32000;

/// Inputs of one scheduler run besides the snapshot and the evaluation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedContext {
    /// Unix nanoseconds: stamps allocations and evaluations, and decides reschedule delays.
    pub now: i64,
    /// Seeds ids, the node order and dynamic port picks.
    pub seed: u64,
    /// The dynamic port range of nodes whose `min_dynamic_port`/`max_dynamic_port` are 0.
    pub min_dynamic_port: u16,
    pub max_dynamic_port: u16,
}

impl SchedContext {
    pub fn new(now: i64, seed: u64) -> Self {
        Self {
            now,
            seed,
            min_dynamic_port: DEFAULT_MIN_DYNAMIC_PORT,
            max_dynamic_port: DEFAULT_MAX_DYNAMIC_PORT,
        }
    }
}
