//! Host-mode networking: tasks share the node's network, so there is nothing to set
//! up; the hook records the ports the scheduler granted, checks that every port of
//! the group's `network` block got one, and checks that each is free on the host.
//!
//! The scheduler's ledger only knows what the agent reported: a process outside
//! Caravan may have bound a port since. Binding it for a moment (and releasing it at
//! once) is the last check before the tasks start; a port found taken fails the
//! allocation's setup, the server reschedules it, and by then the agent has reported
//! the port as reserved. A port held by another of this node's allocations (one
//! being stopped while its replacement starts) is waited for instead.

use std::collections::BTreeSet;
use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::time::Duration;

use caravan_model::{AllocatedPortMapping, Allocation, TaskGroup};

use super::{AllocHook, AllocHookContext, AllocHookError, BoxFuture};
use crate::DEFAULT_MAX_KILL_TIMEOUT;

/// How long a port held by another allocation of this node is waited for: its tasks
/// get up to the longest kill timeout, and then some for poststop tasks.
const HOLDER_RELEASE_WAIT: Duration = DEFAULT_MAX_KILL_TIMEOUT.saturating_mul(2);

/// `prerun`: for `mode = "host"` (or no network, or `none`), records the granted
/// ports, checks they are free and claims them for this allocation; leaves the
/// network status empty. `bridge` is left to [`NetworkBridgeHook`]; other modes
/// (`cni/*`) are refused, rather than silently run in the host's namespace.
/// `postrun` and `destroy` release the claim.
///
/// [`NetworkBridgeHook`]: super::NetworkBridgeHook
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
            if mode == "bridge" {
                // The bridge hook's.
                return Ok(());
            }
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
            let host_ports = host_ports(&ctx.alloc, &ctx.group);
            for port in &host_ports {
                check_free(ctx, port).await?;
            }
            ctx.port_claims
                .claim(&ctx.alloc.id, host_ports.iter().map(|p| p.value));
            ctx.ports = granted.to_vec();
            ctx.network_status = None;
            ctx.netns_path = None;
            ctx.network_container = None;
            Ok(())
        })
    }

    /// The ports were checked when the allocation first ran, and its tasks (which
    /// still run) hold them now: they are claimed again without a check.
    fn restore<'a>(
        &'a self,
        ctx: &'a mut AllocHookContext,
    ) -> BoxFuture<'a, Result<(), AllocHookError>> {
        Box::pin(async move {
            let Some(network) = ctx.group.network() else {
                ctx.ports.clear();
                ctx.network_status = None;
                return Ok(());
            };
            if !matches!(network.mode(), "host" | "none") {
                // Bridge is the bridge hook's; other modes never got this far.
                return Ok(());
            }
            let host_ports = host_ports(&ctx.alloc, &ctx.group);
            ctx.port_claims
                .claim(&ctx.alloc.id, host_ports.iter().map(|p| p.value));
            ctx.ports = ctx.alloc.allocated_resources.shared.ports.clone();
            ctx.network_status = None;
            ctx.netns_path = None;
            ctx.network_container = None;
            Ok(())
        })
    }

    fn postrun<'a>(
        &'a self,
        ctx: &'a mut AllocHookContext,
    ) -> BoxFuture<'a, Result<(), AllocHookError>> {
        Box::pin(async move {
            ctx.port_claims.release(&ctx.alloc.id);
            Ok(())
        })
    }

    fn destroy<'a>(
        &'a self,
        ctx: &'a mut AllocHookContext,
    ) -> BoxFuture<'a, Result<(), AllocHookError>> {
        Box::pin(async move {
            ctx.port_claims.release(&ctx.alloc.id);
            Ok(())
        })
    }
}

/// The host ports the allocation was granted, from `shared.ports` and the older
/// `shared.networks` shape, without the ports the group shares on purpose
/// (`ignore_collision`).
fn host_ports(alloc: &Allocation, group: &TaskGroup) -> Vec<AllocatedPortMapping> {
    let shared = &alloc.allocated_resources.shared;
    let mut ports = shared.ports.clone();
    for network in &shared.networks {
        for port in network.ports() {
            if ports.iter().any(|p| p.label == port.label) {
                continue;
            }
            if let Ok(value) = u16::try_from(port.value) {
                ports.push(AllocatedPortMapping {
                    label: port.label.clone(),
                    value,
                    to: port.to,
                    host_ip: network.ip.clone(),
                });
            }
        }
    }
    let shared_on_purpose: BTreeSet<&str> = group
        .networks
        .iter()
        .flat_map(|n| n.ports())
        .filter(|p| p.ignore_collision)
        .map(|p| p.label.as_str())
        .collect();
    ports.retain(|p| p.value != 0 && !shared_on_purpose.contains(p.label.as_str()));
    ports
}

/// What binding a port for a moment found.
#[derive(Debug)]
enum Probe {
    Free,
    InUse,
    /// The check could not tell (the address is not on this host, or the port is
    /// privileged): the task's own bind will say.
    Unknown(std::io::Error),
}

/// Binds `ip:port` over TCP and releases it at once.
fn probe(ip: IpAddr, port: u16) -> Probe {
    match TcpListener::bind(SocketAddr::new(ip, port)) {
        Ok(listener) => {
            drop(listener);
            Probe::Free
        }
        Err(e) if e.kind() == ErrorKind::AddrInUse => Probe::InUse,
        Err(e) => Probe::Unknown(e),
    }
}

/// Fails if `port` is bound by something other than this node's allocations; waits
/// for another allocation of this node to let it go.
async fn check_free(
    ctx: &AllocHookContext,
    port: &AllocatedPortMapping,
) -> Result<(), AllocHookError> {
    // No address recorded: the wildcard, which collides with a socket on any address.
    let ip = port
        .host_ip
        .parse()
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let shown_ip = if port.host_ip.is_empty() {
        "0.0.0.0"
    } else {
        port.host_ip.as_str()
    };
    let in_use = || AllocHookError::PortInUse {
        port: port.value,
        label: port.label.clone(),
        host_ip: shown_ip.to_owned(),
    };
    match probe(ip, port.value) {
        Probe::Free => Ok(()),
        Probe::Unknown(e) => {
            tracing::debug!(port = port.value, ip = %ip, error = %e, "could not check the port");
            Ok(())
        }
        Probe::InUse if ctx.port_claims.held_by_other(&ctx.alloc.id, port.value) => {
            let released = ctx
                .port_claims
                .wait_released(&ctx.alloc.id, port.value, HOLDER_RELEASE_WAIT)
                .await;
            match (released, probe(ip, port.value)) {
                (true, Probe::Free | Probe::Unknown(_)) => Ok(()),
                _ => Err(in_use()),
            }
        }
        Probe::InUse => Err(in_use()),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use caravan_model::{AllocId, Allocation, NetworkResource, Port, TaskGroup};

    use super::*;
    use crate::{AllocDir, PortClaims};

    /// A port nothing listens on: the OS picks it, and it is released at once.
    fn free_port() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind port 0");
        listener.local_addr().expect("local addr").port()
    }

    fn ctx_on(
        mode: &str,
        granted: &[(&str, u16)],
        claims: Arc<PortClaims>,
        id: &str,
    ) -> AllocHookContext {
        let group = TaskGroup {
            name: "web".into(),
            networks: vec![NetworkResource {
                mode: mode.into(),
                dynamic_ports: granted
                    .iter()
                    .map(|(label, _)| Port {
                        label: (*label).into(),
                        ..Port::default()
                    })
                    .collect(),
                ..NetworkResource::default()
            }],
            ..TaskGroup::default()
        };
        let mut alloc = Allocation {
            id: AllocId::new(id),
            ..Allocation::default()
        };
        alloc.allocated_resources.shared.ports = granted
            .iter()
            .map(|(label, port)| AllocatedPortMapping {
                label: (*label).into(),
                value: *port,
                to: 0,
                host_ip: "127.0.0.1".into(),
            })
            .collect();
        AllocHookContext {
            alloc: Arc::new(alloc),
            group: Arc::new(group),
            alloc_dir: AllocDir::new(Path::new("/nonexistent"), &AllocId::new(id))
                .expect("valid id"),
            ports: Vec::new(),
            network_status: None,
            netns_path: None,
            network_container: None,
            port_claims: claims,
        }
    }

    fn ctx(mode: &str, granted: &[&str]) -> AllocHookContext {
        let granted: Vec<(&str, u16)> = granted.iter().map(|l| (*l, free_port())).collect();
        let mut c = ctx_on(mode, &granted, Arc::default(), "a1");
        if granted.is_empty() {
            // The group still asks for "http"; the allocation got nothing.
            let mut group = (*c.group).clone();
            group.networks[0].dynamic_ports = vec![Port {
                label: "http".into(),
                ..Port::default()
            }];
            c.group = Arc::new(group);
        }
        c
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
    async fn bridge_is_left_alone_and_other_modes_are_refused() {
        let mut c = ctx("bridge", &["http"]);
        NetworkHostHook
            .prerun(&mut c)
            .await
            .expect("not this hook's");
        assert!(c.ports.is_empty() && c.port_claims.all().is_empty());
        let mut c = ctx("cni/mynet", &["http"]);
        assert!(NetworkHostHook.prerun(&mut c).await.is_err());
        let mut c = ctx("none", &["http"]);
        assert!(NetworkHostHook.prerun(&mut c).await.is_ok());
    }

    #[tokio::test]
    async fn a_port_bound_by_another_process_fails_the_setup() {
        // Something outside Caravan listens on the port the scheduler granted.
        let squatter = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = squatter.local_addr().expect("addr").port();
        let claims = Arc::new(PortClaims::default());
        let mut c = ctx_on("host", &[("redis", port)], claims.clone(), "a1");

        let err = NetworkHostHook
            .prerun(&mut c)
            .await
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err,
            Some(format!(
                "port {port} (\"redis\") is already in use on 127.0.0.1 by another process"
            ))
        );
        assert!(claims.all().is_empty(), "a refused port is not claimed");

        // Once it is let go, the same allocation sets up and claims it.
        drop(squatter);
        NetworkHostHook.prerun(&mut c).await.expect("port is free");
        assert_eq!(claims.all(), BTreeSet::from([port]));
        NetworkHostHook.postrun(&mut c).await.expect("postrun");
        assert!(claims.all().is_empty(), "postrun releases the claim");
    }

    #[tokio::test]
    async fn a_port_held_by_a_stopping_allocation_of_this_node_is_waited_for() {
        // The old allocation's task still listens while its replacement starts.
        let old_task = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = old_task.local_addr().expect("addr").port();
        let claims = Arc::new(PortClaims::default());
        let old = AllocId::new("old");
        claims.claim(&old, [port]);
        let mut c = ctx_on("host", &[("redis", port)], claims.clone(), "new");

        let stopper = claims.clone();
        let stopping = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            drop(old_task);
            stopper.release(&old);
        });
        tokio::time::timeout(Duration::from_secs(10), NetworkHostHook.prerun(&mut c))
            .await
            .expect("the hook waits for the release, not forever")
            .expect("the port is ours once released");
        stopping.await.expect("stopper");
        assert_eq!(claims.all(), BTreeSet::from([port]));
        assert!(!claims.held_by_other(&AllocId::new("new"), port));
    }

    #[tokio::test]
    async fn ports_shared_on_purpose_and_addresses_not_on_this_host_are_not_refused() {
        let squatter = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = squatter.local_addr().expect("addr").port();
        let mut c = ctx_on("host", &[("redis", port)], Arc::default(), "a1");
        let mut group = (*c.group).clone();
        group.networks[0].dynamic_ports[0].ignore_collision = true;
        c.group = Arc::new(group);
        NetworkHostHook
            .prerun(&mut c)
            .await
            .expect("ignore_collision");

        // TEST-NET-1 is on no interface: the bind cannot tell, the task will.
        let mut c = ctx_on("host", &[("redis", port)], Arc::default(), "a2");
        let mut alloc = (*c.alloc).clone();
        alloc.allocated_resources.shared.ports[0].host_ip = "192.0.2.1".into();
        c.alloc = Arc::new(alloc);
        NetworkHostHook
            .prerun(&mut c)
            .await
            .expect("unknown is not refused");
    }
}
