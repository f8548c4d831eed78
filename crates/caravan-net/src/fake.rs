//! A [`NetOps`] that touches nothing and records every call, for the client's fast
//! tests. It hands out addresses like the real allocator and keeps the networks it
//! "set up", so a test can check what a hook asked for and what it got back.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Mutex, MutexGuard};

use caravan_model::AllocId;

use crate::names::PEER_NAME;
use crate::net_ops::BoxFuture;
use crate::{
    AllocNames, AllocNetSpec, AllocNetwork, BridgeConfig, IpAllocator, NetError, NetOps,
    ReconcileReport, render_resolv_conf,
};

/// One call made to a [`FakeNetOps`], with its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetCall {
    EnsureBridge,
    Setup(AllocNetSpec),
    Teardown(AllocId),
    Reconcile(Vec<AllocId>),
}

/// The recording fake.
#[derive(Debug)]
pub struct FakeNetOps {
    config: BridgeConfig,
    state: Mutex<FakeState>,
}

#[derive(Debug)]
struct FakeState {
    calls: Vec<NetCall>,
    bridge_ready: bool,
    ipam: IpAllocator,
    networks: BTreeMap<AllocId, AllocNetwork>,
    /// What the real one writes to `/etc/netns/<name>/resolv.conf`, by netns name.
    resolv_confs: BTreeMap<String, String>,
    failures: BTreeMap<AllocId, String>,
}

impl Default for FakeNetOps {
    fn default() -> Self {
        Self::new(BridgeConfig::default())
    }
}

impl FakeNetOps {
    pub fn new(config: BridgeConfig) -> Self {
        let ipam = IpAllocator::in_memory(config.subnet);
        Self {
            config,
            state: Mutex::new(FakeState {
                calls: Vec::new(),
                bridge_ready: false,
                ipam,
                networks: BTreeMap::new(),
                resolv_confs: BTreeMap::new(),
                failures: BTreeMap::new(),
            }),
        }
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<NetCall> {
        self.state().calls.clone()
    }

    /// Whether `ensure_bridge` (or a `setup`) ran.
    pub fn bridge_ready(&self) -> bool {
        self.state().bridge_ready
    }

    /// The networks set up and not torn down, by allocation id.
    pub fn networks(&self) -> BTreeMap<AllocId, AllocNetwork> {
        self.state().networks.clone()
    }

    /// The resolv.conf files "written" for named namespaces and not removed, by
    /// namespace name (`/etc/netns/<name>/resolv.conf` on a real host).
    pub fn resolv_confs(&self) -> BTreeMap<String, String> {
        self.state().resolv_confs.clone()
    }

    /// Makes every `setup` of `alloc` fail with [`NetError::Injected`] (after
    /// recording the call) until [`FakeNetOps::clear_failure`].
    pub fn fail_setup(&self, alloc: AllocId, message: impl Into<String>) {
        self.state().failures.insert(alloc, message.into());
    }

    pub fn clear_failure(&self, alloc: &AllocId) {
        self.state().failures.remove(alloc);
    }

    fn state(&self) -> MutexGuard<'_, FakeState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn do_setup(&self, spec: AllocNetSpec) -> Result<AllocNetwork, NetError> {
        let mut state = self.state();
        state.calls.push(NetCall::Setup(spec.clone()));
        let names = AllocNames::new(&self.config, &spec.alloc_id)?;
        if let Some(message) = state.failures.get(&spec.alloc_id) {
            return Err(NetError::Injected(message.clone()));
        }
        state.bridge_ready = true;
        let ip = state.ipam.assign(&spec.alloc_id)?;
        // As the real one, a namespace held elsewhere is named too.
        let netns_path = self.config.netns_dir.join(&names.netns);
        let resolv_conf = render_resolv_conf("", spec.dns.as_ref());
        state
            .resolv_confs
            .insert(names.netns.clone(), resolv_conf.clone());
        let network = AllocNetwork {
            alloc_id: spec.alloc_id.clone(),
            ip,
            prefix_len: self.config.subnet.prefix_len(),
            gateway: self.config.gateway(),
            netns_path,
            host_veth: names.veth,
            interface: PEER_NAME.to_owned(),
            ports: spec.ports.clone(),
            resolv_conf,
        };
        state.networks.insert(spec.alloc_id, network.clone());
        Ok(network)
    }

    fn do_teardown(&self, alloc: &AllocId) -> Result<(), NetError> {
        let mut state = self.state();
        state.calls.push(NetCall::Teardown(alloc.clone()));
        let names = AllocNames::new(&self.config, alloc)?;
        state.networks.remove(alloc);
        state.resolv_confs.remove(&names.netns);
        state.ipam.release(alloc)?;
        Ok(())
    }

    fn do_reconcile(&self, live: &[AllocId]) -> Result<ReconcileReport, NetError> {
        let mut state = self.state();
        state.calls.push(NetCall::Reconcile(live.to_vec()));
        let live_set: BTreeSet<&AllocId> = live.iter().collect();
        let mut report = ReconcileReport::default();
        let dead: Vec<AllocId> = state
            .networks
            .keys()
            .filter(|id| !live_set.contains(id))
            .cloned()
            .collect();
        for id in dead {
            if let Some(network) = state.networks.remove(&id) {
                let ours = network.netns_path.parent() == Some(self.config.netns_dir.as_path());
                if ours && let Some(name) = network.netns_path.file_name() {
                    let name = name.to_string_lossy().into_owned();
                    if state.resolv_confs.remove(&name).is_some() {
                        report.resolv_confs.push(name.clone());
                    }
                    report.netns.push(name);
                }
                report.links.push(network.host_veth);
                if !network.ports.is_empty() {
                    report
                        .chains
                        .push(AllocNames::new(&self.config, &id)?.chain);
                }
            }
        }
        let live_ids: BTreeSet<&str> = live.iter().map(AllocId::as_str).collect();
        report.addresses = state.ipam.retain_live(&live_ids)?;
        Ok(report)
    }
}

impl NetOps for FakeNetOps {
    fn config(&self) -> &BridgeConfig {
        &self.config
    }

    fn ensure_bridge(&self) -> BoxFuture<'_, Result<(), NetError>> {
        let mut state = self.state();
        state.calls.push(NetCall::EnsureBridge);
        state.bridge_ready = true;
        Box::pin(std::future::ready(Ok(())))
    }

    fn setup(&self, spec: AllocNetSpec) -> BoxFuture<'_, Result<AllocNetwork, NetError>> {
        Box::pin(std::future::ready(self.do_setup(spec)))
    }

    fn teardown<'a>(&'a self, alloc: &'a AllocId) -> BoxFuture<'a, Result<(), NetError>> {
        Box::pin(std::future::ready(self.do_teardown(alloc)))
    }

    fn reconcile<'a>(
        &'a self,
        live: &'a [AllocId],
    ) -> BoxFuture<'a, Result<ReconcileReport, NetError>> {
        Box::pin(std::future::ready(self.do_reconcile(live)))
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::path::PathBuf;

    use super::*;
    use crate::{NetnsTarget, PortMapping};

    fn spec(id: &str, netns: NetnsTarget) -> AllocNetSpec {
        AllocNetSpec {
            alloc_id: AllocId::new(id),
            netns,
            ports: vec![PortMapping::new("http", 20000, 8080)],
            dns: None,
        }
    }

    #[tokio::test]
    async fn records_calls_and_hands_out_addresses() {
        let fake = FakeNetOps::default();
        fake.ensure_bridge().await.expect("bridge");
        let a = fake
            .setup(spec("aaaaaaaa-1", NetnsTarget::Create))
            .await
            .expect("setup a");
        let b = fake
            .setup(spec(
                "bbbbbbbb-2",
                NetnsTarget::Existing("/proc/42/ns/net".into()),
            ))
            .await
            .expect("setup b");
        assert_eq!(a.ip, Ipv4Addr::new(172, 26, 64, 2));
        assert_eq!(b.ip, Ipv4Addr::new(172, 26, 64, 3));
        assert_eq!(
            a.netns_path,
            PathBuf::from("/var/run/netns/caravan-aaaaaaaa")
        );
        // A namespace held elsewhere gets our name too.
        assert_eq!(
            b.netns_path,
            PathBuf::from("/var/run/netns/caravan-bbbbbbbb")
        );
        assert_eq!(
            fake.resolv_confs().keys().collect::<Vec<_>>(),
            vec!["caravan-aaaaaaaa", "caravan-bbbbbbbb"]
        );
        assert_eq!(a.gateway, Ipv4Addr::new(172, 26, 64, 1));

        fake.teardown(&AllocId::new("aaaaaaaa-1"))
            .await
            .expect("teardown");
        assert_eq!(fake.networks().len(), 1);
        assert_eq!(
            fake.resolv_confs().keys().collect::<Vec<_>>(),
            vec!["caravan-bbbbbbbb"]
        );
        assert_eq!(
            fake.calls(),
            vec![
                NetCall::EnsureBridge,
                NetCall::Setup(spec("aaaaaaaa-1", NetnsTarget::Create)),
                NetCall::Setup(spec(
                    "bbbbbbbb-2",
                    NetnsTarget::Existing("/proc/42/ns/net".into())
                )),
                NetCall::Teardown(AllocId::new("aaaaaaaa-1")),
            ]
        );
    }

    #[tokio::test]
    async fn injected_failures_and_reconcile() {
        let fake = FakeNetOps::default();
        fake.fail_setup(AllocId::new("c"), "no bridge");
        let err = fake.setup(spec("c", NetnsTarget::Create)).await;
        assert!(matches!(err, Err(NetError::Injected(m)) if m == "no bridge"));
        fake.clear_failure(&AllocId::new("c"));
        fake.setup(spec("c", NetnsTarget::Create))
            .await
            .expect("setup");
        fake.setup(spec("d", NetnsTarget::Create))
            .await
            .expect("setup");

        let report = fake
            .reconcile(&[AllocId::new("d")])
            .await
            .expect("reconcile");
        assert_eq!(report.netns, vec!["caravan-c".to_owned()]);
        assert_eq!(report.addresses, vec![AllocId::new("c")]);
        assert_eq!(report.chains, vec!["alloc-c".to_owned()]);
        assert_eq!(report.resolv_confs, vec!["caravan-c".to_owned()]);
        assert_eq!(
            fake.resolv_confs().keys().collect::<Vec<_>>(),
            vec!["caravan-d"]
        );
        assert_eq!(
            fake.networks().keys().collect::<Vec<_>>(),
            vec![&AllocId::new("d")]
        );
    }
}
