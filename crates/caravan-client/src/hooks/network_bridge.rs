//! Bridge-mode networking (`network { mode = "bridge" }`): the allocation gets a
//! network namespace of its own on the node's bridge, with an address, a default
//! route and its host ports forwarded to it, through [`NetOps`].
//!
//! Which namespace depends on the group's drivers. Docker can only put a container
//! into a namespace that another container holds, so when any task of the group uses
//! docker a pause container is started first and its namespace
//! (`/proc/<pid>/ns/net`) is wired and named; the docker tasks join the pause
//! container and the other tasks (raw_exec) enter its namespace. Without docker
//! tasks caravan-net makes a named namespace of its own.
//!
//! DNS, as in Nomad: every task of the group sees one resolv.conf, from the group's
//! `dns` block where it sets a field and from the host's otherwise (loopback servers
//! dropped, Docker's public fallback when none is left). caravan-net writes it to
//! `/etc/netns/<name>/resolv.conf`, which raw_exec's `ip netns exec` mounts over
//! `/etc/resolv.conf`; the pause container gets the block as its `Dns`,
//! `DnsSearch` and `DnsOptions`, and docker gives its resolv.conf to the tasks that
//! join it.
//!
//! The hook fills the context with the namespace, the pause container and the
//! network status (`NOMAD_ALLOC_IP_*` and friends, and `Allocation.NetworkStatus` on
//! the server). `postrun` and `destroy` remove the network and the pause container;
//! both are idempotent, as is `prerun`. After an agent restart, `restore` keeps the
//! network the first run recorded (the tasks in it still run) instead of a new one.

use std::sync::Arc;

use caravan_model::{AllocNetworkStatus, AllocatedPortMapping};
use caravan_net::{AllocNetSpec, NetOps, NetnsTarget, PortMapping};

use super::{AllocHook, AllocHookContext, AllocHookError, BoxFuture};
use crate::ContainerRuntime;
use crate::taskenv::allocated_ports;

/// The driver whose tasks need a pause container to share a namespace.
const CONTAINER_DRIVER: &str = "docker";

/// `prerun`: for `mode = "bridge"`, starts the pause container when the group has
/// docker tasks, sets up the allocation's network in its namespace (or in a new
/// one), claims the host ports and records the result. Other modes are the host
/// hook's. `postrun` and `destroy`: tear the network down, remove the pause
/// container, release the ports.
#[derive(Debug, Clone, Default)]
pub struct NetworkBridgeHook {
    net: Option<Arc<dyn NetOps>>,
    containers: Option<Arc<dyn ContainerRuntime>>,
}

impl NetworkBridgeHook {
    /// `net` is `None` where the agent cannot manage namespaces; `containers` is
    /// `None` without docker. Either makes the allocations that need it fail their
    /// setup with a reason, instead of running them in the host's network.
    pub fn new(
        net: Option<Arc<dyn NetOps>>,
        containers: Option<Arc<dyn ContainerRuntime>>,
    ) -> Self {
        Self { net, containers }
    }

    async fn setup(&self, ctx: &mut AllocHookContext) -> Result<(), AllocHookError> {
        let Some(network) = ctx.group.network().filter(|n| n.mode() == "bridge") else {
            return Ok(());
        };
        let net = self.net.as_ref().ok_or_else(|| AllocHookError::Bridge {
            reason: "bridge networking needs root: this agent cannot create network \
                     namespaces, so the group's network { mode = \"bridge\" } cannot be set up"
                .to_owned(),
        })?;
        let granted = allocated_ports(&ctx.alloc);
        for port in network.ports() {
            if !granted.iter().any(|p| p.label == port.label && p.value > 0) {
                return Err(AllocHookError::Network {
                    reason: format!("port {:?} was not granted a host port", port.label),
                });
            }
        }

        let pause = if needs_pause(ctx) {
            let containers = self
                .containers
                .as_ref()
                .ok_or_else(|| AllocHookError::Bridge {
                    reason: "the group's docker tasks need a pause container to share the \
                             bridge network, and docker is not available on this client"
                        .to_owned(),
                })?;
            let dns = network.dns.as_ref();
            let pause = containers
                .start_pause(&ctx.alloc.id, dns)
                .await
                .map_err(|e| AllocHookError::Bridge {
                    reason: format!("cannot start the pause container: {e}"),
                })?;
            Some(pause)
        } else {
            None
        };
        let spec = AllocNetSpec {
            alloc_id: ctx.alloc.id.clone(),
            netns: match &pause {
                Some(pause) => NetnsTarget::Existing(pause.netns_path()),
                None => NetnsTarget::Create,
            },
            ports: port_mappings(&granted),
            dns: network.dns.clone(),
        };
        let wired = match net.setup(spec).await {
            Ok(wired) => wired,
            Err(e) => {
                // A failed setup may leave pieces behind; nothing uses them. The
                // setup's error is the one to report.
                let _removed = self.remove(ctx).await;
                return Err(AllocHookError::Bridge {
                    reason: format!("bridge network setup failed: {e}"),
                });
            }
        };
        ctx.port_claims
            .claim(&ctx.alloc.id, granted.iter().map(|p| p.value));
        ctx.ports = granted;
        ctx.network_status = Some(AllocNetworkStatus {
            interface_name: wired.interface,
            address: wired.ip.to_string(),
            dns: network.dns.clone(),
        });
        ctx.netns_path = Some(wired.netns_path);
        ctx.network_container = pause.map(|p| p.id);
        Ok(())
    }

    /// Re-attaches a restored allocation to the network its first run set up: the
    /// namespace, pause container and address recorded in the context are kept and
    /// the host ports claimed again. Without a record (the agent died during the
    /// setup), the network is set up, which is idempotent.
    async fn reattach(&self, ctx: &mut AllocHookContext) -> Result<(), AllocHookError> {
        if !is_bridge(ctx) {
            return Ok(());
        }
        let recorded = ctx.netns_path.is_some()
            && ctx.network_status.is_some()
            && (ctx.network_container.is_some() || !needs_pause(ctx));
        if !recorded {
            return self.setup(ctx).await;
        }
        let granted = allocated_ports(&ctx.alloc);
        ctx.port_claims
            .claim(&ctx.alloc.id, granted.iter().map(|p| p.value));
        ctx.ports = granted;
        Ok(())
    }

    /// Removes the allocation's network and pause container, whatever exists of
    /// them; returns the first failure after trying both.
    async fn remove(&self, ctx: &AllocHookContext) -> Result<(), AllocHookError> {
        let mut result = Ok(());
        if let Some(net) = &self.net
            && let Err(e) = net.teardown(&ctx.alloc.id).await
        {
            result = Err(AllocHookError::Bridge {
                reason: format!("bridge network teardown failed: {e}"),
            });
        }
        if let Some(containers) = self.containers.as_ref().filter(|_| needs_pause(ctx))
            && let Err(e) = containers.remove_pause(&ctx.alloc.id).await
        {
            result = result.and(Err(AllocHookError::Bridge {
                reason: format!("cannot remove the pause container: {e}"),
            }));
        }
        ctx.port_claims.release(&ctx.alloc.id);
        result
    }

    async fn cleanup(&self, ctx: &AllocHookContext) -> Result<(), AllocHookError> {
        if !is_bridge(ctx) {
            return Ok(());
        }
        self.remove(ctx).await
    }
}

impl AllocHook for NetworkBridgeHook {
    fn name(&self) -> &'static str {
        "network"
    }

    fn prerun<'a>(
        &'a self,
        ctx: &'a mut AllocHookContext,
    ) -> BoxFuture<'a, Result<(), AllocHookError>> {
        Box::pin(self.setup(ctx))
    }

    fn restore<'a>(
        &'a self,
        ctx: &'a mut AllocHookContext,
    ) -> BoxFuture<'a, Result<(), AllocHookError>> {
        Box::pin(self.reattach(ctx))
    }

    fn postrun<'a>(
        &'a self,
        ctx: &'a mut AllocHookContext,
    ) -> BoxFuture<'a, Result<(), AllocHookError>> {
        Box::pin(self.cleanup(ctx))
    }

    fn destroy<'a>(
        &'a self,
        ctx: &'a mut AllocHookContext,
    ) -> BoxFuture<'a, Result<(), AllocHookError>> {
        Box::pin(self.cleanup(ctx))
    }
}

fn is_bridge(ctx: &AllocHookContext) -> bool {
    ctx.group.network().is_some_and(|n| n.mode() == "bridge")
}

fn needs_pause(ctx: &AllocHookContext) -> bool {
    ctx.group.tasks.iter().any(|t| t.driver == CONTAINER_DRIVER)
}

/// Each granted host port (`value`) to the allocation's port: `to` when the job
/// sets one, else the same port, as in Nomad.
pub fn port_mappings(granted: &[AllocatedPortMapping]) -> Vec<PortMapping> {
    granted
        .iter()
        .filter(|p| p.value > 0)
        .map(|p| {
            let to = u16::try_from(p.to)
                .ok()
                .filter(|to| *to > 0)
                .unwrap_or(p.value);
            PortMapping::new(p.label.clone(), p.value, to)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn granted(label: &str, value: u16, to: i64) -> AllocatedPortMapping {
        AllocatedPortMapping {
            label: label.into(),
            value,
            to,
            host_ip: "10.0.0.5".into(),
        }
    }

    #[test]
    fn host_ports_map_to_to_or_to_themselves() {
        let ports = [
            granted("http", 23456, 8080),
            granted("same", 24000, 0),
            // `to = -1` ("same as the host port") left in by an old scheduler.
            granted("minus", 24001, -1),
            granted("ungranted", 0, 80),
        ];
        assert_eq!(
            port_mappings(&ports),
            vec![
                PortMapping::new("http", 23456, 8080),
                PortMapping::new("same", 24000, 24000),
                PortMapping::new("minus", 24001, 24001),
            ]
        );
    }
}
