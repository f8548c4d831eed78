//! The real [`NetOps`]: rtnetlink for links, addresses and routes, `nft` scripts for
//! port mappings and masquerade, bind-mounted namespaces like `ip netns`.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use caravan_model::AllocId;

use crate::names::{CHAIN_PREFIX, PEER_NAME, VETH_PREFIX};
use crate::net_ops::BoxFuture;
use crate::netlink::Netlink;
use crate::nft::{self, Nft};
use crate::worker::{block_on, in_own_thread, on_worker};
use crate::{
    AllocNames, AllocNetSpec, AllocNetwork, BridgeConfig, IpAllocator, NetError, NetOps,
    NetnsTarget, ReconcileReport, netns, render_resolv_conf, resolv_conf, sysctl,
};

const HOST_RESOLV_CONF: &str = "/etc/resolv.conf";
/// What systemd-resolved forwards to, when /etc/resolv.conf only names its stub.
const RESOLVED_UPSTREAM: &str = "/run/systemd/resolve/resolv.conf";

/// Bridge networking on this host. Cheap to clone; clones share the address
/// allocator.
#[derive(Debug, Clone)]
pub struct LinuxNetOps {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: BridgeConfig,
    ipam: Mutex<IpAllocator>,
    /// Held while the bridge is being ensured; true once it was in this process.
    bridge_ready: Mutex<bool>,
    nft: Nft,
    /// Where each named namespace's resolv.conf goes (`/etc/netns`, as `ip netns`).
    etc_netns_dir: PathBuf,
}

impl LinuxNetOps {
    /// Loads the address allocator from `state_dir` (created if needed). Touches
    /// nothing else until called.
    pub fn new(config: BridgeConfig, state_dir: &Path) -> Result<Self, NetError> {
        Self::with_etc_netns_dir(config, state_dir, Path::new(resolv_conf::ETC_NETNS_DIR))
    }

    /// As [`LinuxNetOps::new`], with allocations' resolv.conf files written under
    /// `etc_netns_dir/<netns name>/` instead of `/etc/netns`. Only `/etc/netns` is
    /// what `ip netns exec` (and so raw_exec) reads; other directories are for tests.
    pub fn with_etc_netns_dir(
        config: BridgeConfig,
        state_dir: &Path,
        etc_netns_dir: &Path,
    ) -> Result<Self, NetError> {
        config.validate()?;
        fs::create_dir_all(state_dir).map_err(|e| NetError::io("create", state_dir, e))?;
        let ipam = IpAllocator::open(state_dir, config.subnet)?;
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                ipam: Mutex::new(ipam),
                bridge_ready: Mutex::new(false),
                nft: Nft::default(),
                etc_netns_dir: etc_netns_dir.to_path_buf(),
            }),
        })
    }

    /// Removes what `ensure_bridge` made: our nftables table, our accept rules in
    /// the host's forward chain, and the bridge. For tests and uninstalling; call
    /// `reconcile(&[])` first to remove allocations' pieces.
    pub async fn remove_bridge(&self) -> Result<(), NetError> {
        let inner = Arc::clone(&self.inner);
        on_worker(move || inner.remove_bridge()).await
    }

    /// The addresses currently handed out, by allocation id.
    pub fn addresses(&self) -> Vec<(AllocId, std::net::Ipv4Addr)> {
        self.inner
            .ipam()
            .assigned()
            .iter()
            .map(|(id, ip)| (AllocId::new(id.clone()), *ip))
            .collect()
    }
}

impl NetOps for LinuxNetOps {
    fn config(&self) -> &BridgeConfig {
        &self.inner.config
    }

    fn ensure_bridge(&self) -> BoxFuture<'_, Result<(), NetError>> {
        let inner = Arc::clone(&self.inner);
        Box::pin(on_worker(move || inner.ensure_bridge(true)))
    }

    fn setup(&self, spec: AllocNetSpec) -> BoxFuture<'_, Result<AllocNetwork, NetError>> {
        let inner = Arc::clone(&self.inner);
        Box::pin(on_worker(move || inner.setup(&spec)))
    }

    fn teardown<'a>(&'a self, alloc: &'a AllocId) -> BoxFuture<'a, Result<(), NetError>> {
        let inner = Arc::clone(&self.inner);
        let alloc = alloc.clone();
        Box::pin(on_worker(move || inner.teardown(&alloc)))
    }

    fn reconcile<'a>(
        &'a self,
        live: &'a [AllocId],
    ) -> BoxFuture<'a, Result<ReconcileReport, NetError>> {
        let inner = Arc::clone(&self.inner);
        let live = live.to_vec();
        Box::pin(on_worker(move || inner.reconcile(&live)))
    }
}

// Everything below runs on a worker thread (see `worker`) that stays in the host's
// network namespace; only `wire` leaves it, on a thread of its own.
impl Inner {
    fn ipam(&self) -> MutexGuard<'_, IpAllocator> {
        // The allocator is consistent after every call (it rolls back a failed
        // save), so a panic elsewhere does not make it unusable.
        self.ipam
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn ensure_bridge(&self, force: bool) -> Result<(), NetError> {
        let mut ready = self.bridge_ready.lock().unwrap_or_else(|p| p.into_inner());
        if *ready && !force {
            return Ok(());
        }
        let config = &self.config;
        netns::prepare_dir(&config.netns_dir)?;
        block_on(async {
            let host = Netlink::connect()?;
            host.ensure_bridge(&config.bridge, config.gateway(), config.subnet.prefix_len())
                .await
        })??;
        sysctl::set("net/ipv4/ip_forward", "1")?;
        // Lets 127.0.0.1 sources be routed onto the bridge after the output DNAT;
        // the postrouting masquerade then gives them the gateway's address.
        sysctl::set(
            &format!("net/ipv4/conf/{}/route_localnet", config.bridge),
            "1",
        )?;
        self.nft.apply(&nft::base_script(config))?;
        self.ensure_forward_accept()?;
        *ready = true;
        Ok(())
    }

    /// Docker (or a firewall) may leave the forward hook's policy at drop in
    /// iptables-nft's table; accept our bridge's traffic there.
    fn ensure_forward_accept(&self) -> Result<(), NetError> {
        let Some(filter) = self.nft.list_table(nft::COMPAT_TABLE)? else {
            return Ok(());
        };
        let Some(chain) = nft::compat_chain(&filter) else {
            return Ok(());
        };
        let comment = nft::compat_comment(&self.config);
        let ours: Vec<(&str, u64)> = filter
            .rules
            .iter()
            .filter(|r| r.comment.as_deref() == Some(comment.as_str()))
            .map(|r| (r.chain.as_str(), r.handle))
            .collect();
        if ours.len() == 2 && ours.iter().all(|(c, _)| *c == chain) {
            return Ok(());
        }
        let mut script = nft::delete_rules_script(nft::COMPAT_TABLE, &ours);
        script.push_str(&nft::compat_insert_script(&self.config, chain));
        self.nft.apply(&script)
    }

    fn setup(&self, spec: &AllocNetSpec) -> Result<AllocNetwork, NetError> {
        let config = &self.config;
        let names = AllocNames::new(config, &spec.alloc_id)?;
        self.ensure_bridge(false)?;
        let ip = self.ipam().assign(&spec.alloc_id)?;
        // nft runs while the namespace is wired (it is started from the host's
        // namespace, before this thread leaves it): the two take about as long.
        let mappings = if spec.ports.is_empty() {
            None
        } else {
            let script = nft::alloc_script(config, &names.chain, ip, &spec.ports);
            Some(self.nft.start_apply(&script)?)
        };
        // A namespace someone else holds (a pause container's) is given our name
        // too, so that every namespace of ours is named: raw_exec enters it with
        // `ip netns exec`, which also mounts its resolv.conf.
        let netns_path = config.netns_dir.join(&names.netns);
        if let NetnsTarget::Existing(held) = &spec.netns {
            netns::prepare_dir(&config.netns_dir)?;
            netns::bind_existing(held, &netns_path)?;
        }
        let wired = in_own_thread(|| block_on(self.wire(spec, &names, &netns_path, ip))?);
        let mapped = match mappings.map(|pending| pending.wait()) {
            // Our table was removed behind our back (`nft flush ruleset`): rebuild
            // it and map again.
            Some(Err(NetError::Nft { stderr, .. }))
                if stderr.contains("No such file or directory") =>
            {
                self.ensure_bridge(true).and_then(|()| {
                    let script = nft::alloc_script(config, &names.chain, ip, &spec.ports);
                    self.nft.apply(&script)
                })
            }
            other => other.map_or(Ok(()), |result| result.map(drop)),
        };
        wired?;
        mapped?;
        let resolv_conf = render_resolv_conf(&host_resolv_conf(), spec.dns.as_ref());
        resolv_conf::write_netns_resolv_conf(&self.etc_netns_dir, &names.netns, &resolv_conf)?;
        Ok(AllocNetwork {
            alloc_id: spec.alloc_id.clone(),
            ip,
            prefix_len: config.subnet.prefix_len(),
            gateway: config.gateway(),
            netns_path,
            host_veth: names.veth,
            interface: PEER_NAME.to_owned(),
            ports: spec.ports.clone(),
            resolv_conf,
        })
    }

    /// The veth pair and the namespace's addresses and routes. Moves the calling
    /// thread into the allocation's namespace: run it on a thread of its own.
    async fn wire(
        &self,
        spec: &AllocNetSpec,
        names: &AllocNames,
        netns_path: &Path,
        ip: std::net::Ipv4Addr,
    ) -> Result<(), NetError> {
        let config = &self.config;
        // Opened before entering the allocation's namespace, so it stays in the host's.
        let host = Netlink::connect()?;
        let bridge = host
            .link(&config.bridge)
            .await?
            .ok_or_else(|| NetError::Config(format!("bridge {} does not exist", config.bridge)))?;

        // From here on this thread is inside the allocation's namespace.
        match &spec.netns {
            NetnsTarget::Create => {
                netns::prepare_dir(&config.netns_dir)?;
                netns::create_and_enter(netns_path)?;
            }
            NetnsTarget::Existing(path) => netns::enter(path)?,
        }
        let ns_file =
            fs::File::open(netns_path).map_err(|e| NetError::io("open", netns_path, e))?;
        let inside = Netlink::connect()?;

        match (host.link(&names.veth).await?, inside.link(PEER_NAME).await?) {
            // Set up before: make sure it is attached and up.
            (Some(veth), Some(_)) => host.attach(veth.index, bridge.index).await?,
            (None, Some(_)) => {
                return Err(NetError::Config(format!(
                    "{} already has an {PEER_NAME} that is not ours",
                    netns_path.display()
                )));
            }
            (veth, None) => {
                // A veth of ours whose peer is elsewhere (the namespace was made anew).
                if let Some(veth) = veth {
                    host.delete(veth.index, &veth.name).await?;
                }
                host.create_veth(&names.veth, PEER_NAME, &ns_file, bridge.index)
                    .await?;
            }
        }
        let veth = host.link(&names.veth).await?.ok_or_else(|| {
            NetError::Config(format!("{} vanished right after creation", names.veth))
        })?;
        host.hairpin(veth.index).await?;
        let peer = inside.link(PEER_NAME).await?.ok_or_else(|| {
            NetError::Config(format!("{PEER_NAME} missing in {}", netns_path.display()))
        })?;
        if let Some(lo) = inside.link("lo").await? {
            inside.set_up(lo.index).await?;
        }
        inside
            .address_replace(peer.index, ip, config.subnet.prefix_len())
            .await?;
        inside.set_up(peer.index).await?;
        inside.default_route_replace(config.gateway()).await
    }

    fn teardown(&self, alloc: &AllocId) -> Result<(), NetError> {
        let config = &self.config;
        let names = AllocNames::new(config, alloc)?;
        // Deleting the rules and deleting the veth each wait for RCU grace periods
        // in the kernel (tens of ms): they run side by side.
        let unmapping = match self.nft.list_table(&config.table)? {
            Some(listing) => nft::delete_allocs_script(config, &listing, &[&names.chain])
                .map(|script| self.nft.start_apply(&script))
                .transpose()?,
            None => None,
        };
        let unlinked = block_on(async {
            let host = Netlink::connect()?;
            match host.link(&names.veth).await? {
                Some(veth) => host.delete(veth.index, &veth.name).await,
                None => Ok(()),
            }
        })
        .and_then(|r| r);
        let unmapped = unmapping.map_or(Ok(()), |pending| pending.wait().map(drop));
        unlinked?;
        unmapped?;
        netns::remove(&config.netns_dir.join(&names.netns))?;
        resolv_conf::remove_netns_etc(&self.etc_netns_dir, &names.netns)?;
        self.ipam().release(alloc)?;
        Ok(())
    }

    fn reconcile(&self, live: &[AllocId]) -> Result<ReconcileReport, NetError> {
        let config = &self.config;
        // An id that cannot name anything owns nothing of ours.
        let live_names: Vec<AllocNames> = live
            .iter()
            .filter_map(|id| AllocNames::new(config, id).ok())
            .collect();
        let mut report = ReconcileReport::default();

        // Veths first: removing a namespace also destroys its veth pair, but
        // asynchronously, and the report should name what was removed.
        let live_veths: BTreeSet<&str> = live_names.iter().map(|n| n.veth.as_str()).collect();
        report.links = block_on(async {
            let host = Netlink::connect()?;
            let links = host.links().await?;
            let Some(bridge) = links.iter().find(|l| l.name == config.bridge) else {
                return Ok(Vec::new());
            };
            let mut removed = Vec::new();
            for link in &links {
                let stale = link.controller == Some(bridge.index)
                    && link.name.starts_with(VETH_PREFIX)
                    && !live_veths.contains(link.name.as_str());
                if stale {
                    host.delete(link.index, &link.name).await?;
                    removed.push(link.name.clone());
                }
            }
            Ok::<_, NetError>(removed)
        })??;

        let live_netns: BTreeSet<&str> = live_names.iter().map(|n| n.netns.as_str()).collect();
        for name in netns::list(&config.netns_dir, &config.netns_prefix)? {
            if !live_netns.contains(name.as_str()) {
                netns::remove(&config.netns_dir.join(&name))?;
                report.netns.push(name);
            }
        }
        for name in netns::list(&self.etc_netns_dir, &config.netns_prefix)? {
            if !live_netns.contains(name.as_str())
                && resolv_conf::remove_netns_etc(&self.etc_netns_dir, &name)?
            {
                report.resolv_confs.push(name);
            }
        }

        if let Some(listing) = self.nft.list_table(&config.table)? {
            let live_chains: BTreeSet<&str> = live_names.iter().map(|n| n.chain.as_str()).collect();
            let stale: Vec<&str> = listing
                .chains
                .iter()
                .map(|c| c.name.as_str())
                .filter(|c| c.starts_with(CHAIN_PREFIX) && !live_chains.contains(c))
                .collect();
            if let Some(script) = nft::delete_allocs_script(config, &listing, &stale) {
                self.nft.apply(&script)?;
            }
            report.chains = stale.into_iter().map(str::to_owned).collect();
        }

        let live_ids: BTreeSet<&str> = live.iter().map(AllocId::as_str).collect();
        report.addresses = self.ipam().retain_live(&live_ids)?;
        Ok(report)
    }

    fn remove_bridge(&self) -> Result<(), NetError> {
        let mut ready = self.bridge_ready.lock().unwrap_or_else(|p| p.into_inner());
        let config = &self.config;
        if let Some(filter) = self.nft.list_table(nft::COMPAT_TABLE)? {
            let comment = nft::compat_comment(config);
            let ours: Vec<(&str, u64)> = filter
                .rules
                .iter()
                .filter(|r| r.comment.as_deref() == Some(comment.as_str()))
                .map(|r| (r.chain.as_str(), r.handle))
                .collect();
            if !ours.is_empty() {
                self.nft
                    .apply(&nft::delete_rules_script(nft::COMPAT_TABLE, &ours))?;
            }
        }
        if self.nft.list_table(&config.table)?.is_some() {
            self.nft
                .apply(&format!("delete table ip {}\n", config.table))?;
        }
        block_on(async {
            let host = Netlink::connect()?;
            match host.link(&config.bridge).await? {
                Some(bridge) => host.delete(bridge.index, &bridge.name).await,
                None => Ok(()),
            }
        })??;
        *ready = false;
        Ok(())
    }
}

/// The host's resolv.conf text, or systemd-resolved's upstream list when the host's
/// names only its loopback stub. Empty when neither can be read.
fn host_resolv_conf() -> String {
    let text = fs::read_to_string(HOST_RESOLV_CONF).unwrap_or_default();
    let only_stub = text
        .lines()
        .filter_map(|l| l.strip_prefix("nameserver"))
        .all(|server| server.trim().starts_with("127."));
    if only_stub && let Ok(upstream) = fs::read_to_string(PathBuf::from(RESOLVED_UPSTREAM)) {
        return upstream;
    }
    text
}
