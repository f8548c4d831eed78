//! Host-mode networking: tasks share the node's network, so there is nothing to set
//! up; the hook records the ports the scheduler granted and checks that every port
//! of the group's `network` block got one.

use caravan_model::AllocatedPortMapping;

use super::{AllocHook, AllocHookContext, AllocHookError, BoxFuture};

/// `prerun`: for `mode = "host"` (or no network, or `none`), records the granted
/// ports and leaves the network status empty. Other modes are refused until their
/// hook exists, rather than silently run in the host's namespace.
#[derive(Debug, Clone, Copy, Default)]
pub struct NetworkHostHook;

impl AllocHook for NetworkHostHook {
    fn name(&self) -> &'static str {
        "network"
    }

    fn prerun<'a>(
        &'a self,
        ctx: &'a mut AllocHookContext,
    ) -> BoxFuture<'a, Result<(), AllocHookError>> {
        Box::pin(async move {
            let Some(network) = ctx.group.network() else {
                ctx.ports.clear();
                ctx.network_status = None;
                return Ok(());
            };
            let mode = network.mode();
            if mode != "host" && mode != "none" {
                return Err(AllocHookError::Network {
                    reason: format!("network mode {mode:?} is not supported by this client"),
                });
            }
            let granted: &[AllocatedPortMapping] = &ctx.alloc.allocated_resources.shared.ports;
            let granted_networks = &ctx.alloc.allocated_resources.shared.networks;
            for port in network.ports() {
                let in_ports = granted.iter().any(|p| p.label == port.label);
                let in_networks = granted_networks
                    .iter()
                    .any(|n| n.ports().any(|p| p.label == port.label && p.value > 0));
                if !in_ports && !in_networks {
                    return Err(AllocHookError::Network {
                        reason: format!("port {:?} was not granted a host port", port.label),
                    });
                }
            }
            ctx.ports = granted.to_vec();
            ctx.network_status = None;
            ctx.netns_path = None;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use caravan_model::{AllocId, Allocation, NetworkResource, Port, TaskGroup};

    use super::*;
    use crate::AllocDir;

    fn ctx(mode: &str, granted: &[&str]) -> AllocHookContext {
        let group = TaskGroup {
            name: "web".into(),
            networks: vec![NetworkResource {
                mode: mode.into(),
                dynamic_ports: vec![Port {
                    label: "http".into(),
                    ..Port::default()
                }],
                ..NetworkResource::default()
            }],
            ..TaskGroup::default()
        };
        let mut alloc = Allocation {
            id: AllocId::new("a1"),
            ..Allocation::default()
        };
        alloc.allocated_resources.shared.ports = granted
            .iter()
            .map(|l| AllocatedPortMapping {
                label: (*l).into(),
                value: 23000,
                to: 0,
                host_ip: "127.0.0.1".into(),
            })
            .collect();
        AllocHookContext {
            alloc: Arc::new(alloc),
            group: Arc::new(group),
            alloc_dir: AllocDir::new(Path::new("/nonexistent"), &AllocId::new("a1"))
                .expect("valid id"),
            ports: Vec::new(),
            network_status: None,
            netns_path: None,
        }
    }

    #[tokio::test]
    async fn host_mode_records_the_granted_ports_and_no_status() {
        let mut c = ctx("", &["http"]);
        NetworkHostHook
            .prerun(&mut c)
            .await
            .expect("host mode runs");
        assert_eq!(c.ports.len(), 1);
        assert!(c.network_status.is_none());
        // Idempotent: a second run gives the same result.
        NetworkHostHook.prerun(&mut c).await.expect("again");
        assert_eq!(c.ports.len(), 1);
    }

    #[tokio::test]
    async fn a_port_without_a_grant_is_an_error() {
        let mut c = ctx("host", &[]);
        let err = NetworkHostHook
            .prerun(&mut c)
            .await
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("network: port \"http\" was not granted a host port")
        );
    }

    #[tokio::test]
    async fn other_modes_are_refused() {
        let mut c = ctx("bridge", &["http"]);
        assert!(NetworkHostHook.prerun(&mut c).await.is_err());
        let mut c = ctx("none", &["http"]);
        assert!(NetworkHostHook.prerun(&mut c).await.is_ok());
    }
}
