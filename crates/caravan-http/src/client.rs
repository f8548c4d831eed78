//! Reaching the client node that runs an allocation. This agent answers only for its own
//! node; Nomad's CLI asks the node's own HTTP address first, so that is enough for the
//! allocation routes.

use std::sync::Arc;

use caravan_model::Allocation;
use caravan_state::Snapshot;

use crate::{Api, ApiError, ClientApi, lookup};

/// The allocation named by `id` (or a unique prefix), with this agent's client, which
/// must be the node running it.
pub(crate) fn local_alloc<'a>(
    api: &'a Api,
    snap: &Snapshot,
    id: &str,
) -> Result<(Allocation, &'a Arc<dyn ClientApi>), ApiError> {
    let alloc = lookup::alloc(snap, id)?;
    let Some(client) = api.client.as_ref() else {
        return Err(ApiError::NotImplemented(format!(
            "this agent runs no client; ask the agent of node {}",
            alloc.node_id
        )));
    };
    if client.node_id() != alloc.node_id {
        let addr = snap
            .node(&alloc.node_id)
            .map_or("", |n| n.http_addr.as_str());
        return Err(ApiError::NotImplemented(format!(
            "allocation {} runs on node {} ({addr}), not on this agent",
            alloc.id, alloc.node_id
        )));
    }
    Ok((alloc.clone(), client))
}
