//! Bridge networking against the real kernel (root only; skipped otherwise).

mod support;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::AsRawFd;

use caravan_model::DnsConfig;
use caravan_net::{AllocNetSpec, IP_STATE_FILE, LinuxNetOps, NetOps, NetnsTarget, PortMapping};
use nix::sched::{CloneFlags, unshare};
use support::{TestNet, block, fetch, host_ip, run, run_in};

fn addr(ip: Ipv4Addr, port: u16) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(ip, port))
}

fn spec(alloc: &caravan_model::AllocId, ports: Vec<PortMapping>) -> AllocNetSpec {
    AllocNetSpec {
        alloc_id: alloc.clone(),
        netns: NetnsTarget::Create,
        ports,
        dns: None,
    }
}

#[test]
fn mapped_port_answers_from_host_localhost_and_other_allocations() {
    require_root!();
    let net = TestNet::new();
    let (a, b) = (net.alloc("a"), net.alloc("b"));
    let host_port = net.port(0);
    let (net_a, net_b) = block(async {
        net.ops.ensure_bridge().await.expect("bridge");
        let net_a = net
            .ops
            .setup(spec(&a, vec![PortMapping::new("http", host_port, 8080)]))
            .await
            .expect("setup a");
        let net_b = net.ops.setup(spec(&b, vec![])).await.expect("setup b");
        (net_a, net_b)
    });
    assert!(net.config.subnet.is_assignable(net_a.ip));
    assert_ne!(net_a.ip, net_b.ip);
    let routes = run_in(&net_a.netns_path, "ip", &["-4", "route"]);
    assert!(
        routes.contains(&format!("default via {}", net.config.gateway())),
        "{routes}"
    );
    let links = run_in(&net_a.netns_path, "ip", &["-o", "link"]);
    assert!(links.contains("lo:") && links.contains("eth0@"), "{links}");

    // A listens on 0.0.0.0:8080 inside its namespace.
    let _server = support::Server::start(
        Some(&net_a.netns_path),
        addr(Ipv4Addr::UNSPECIFIED, 8080),
        "hello from a",
    );

    // The host, through 127.0.0.1 and through the gateway (a local address).
    let local = fetch(None, addr(Ipv4Addr::LOCALHOST, host_port)).expect("127.0.0.1");
    assert_eq!(local, "hello from a");
    let gw = fetch(None, addr(net.config.gateway(), host_port)).expect("gateway");
    assert_eq!(gw, "hello from a");
    // The host straight to the allocation's address.
    assert_eq!(
        fetch(None, addr(net_a.ip, 8080)).expect("direct"),
        "hello from a"
    );

    // B, through the host's mapped port (hairpin) and straight to A's address.
    let via_gw = fetch(
        Some(&net_b.netns_path),
        addr(net.config.gateway(), host_port),
    );
    assert_eq!(via_gw.expect("b via gateway port"), "hello from a");
    assert_eq!(
        fetch(Some(&net_b.netns_path), addr(net_a.ip, 8080)).expect("b direct"),
        "hello from a"
    );
    // A reaching itself through the host port (hairpin onto its own veth).
    assert_eq!(
        fetch(
            Some(&net_a.netns_path),
            addr(net.config.gateway(), host_port)
        )
        .expect("a self"),
        "hello from a"
    );

    // UDP is mapped too.
    let udp = support::udp_answer_once(
        &net_a.netns_path,
        addr(Ipv4Addr::UNSPECIFIED, 8080),
        "udp a",
    );
    assert_eq!(
        support::udp_ask(addr(Ipv4Addr::LOCALHOST, host_port)).expect("udp"),
        "udp a"
    );
    udp.join().expect("udp thread");

    match host_ip() {
        Some(host) => {
            // The host's own address, as other hosts reach it (prerouting DNAT for
            // B, output DNAT for the host).
            let from_host = fetch(None, addr(host, host_port)).expect("host ip");
            assert_eq!(from_host, "hello from a");
            let from_b = fetch(Some(&net_b.netns_path), addr(host, host_port));
            assert_eq!(from_b.expect("b via host ip"), "hello from a");

            // Outbound from an allocation to a server on the host's address.
            let on_host = support::Server::start(None, addr(host, 0), "hello from host");
            let out = fetch(Some(&net_b.netns_path), on_host.addr).expect("outbound");
            assert_eq!(out, "hello from host");
        }
        None => eprintln!("no global host address: host-ip checks skipped"),
    }
}

#[test]
fn teardown_removes_exactly_one_allocations_pieces() {
    require_root!();
    let net = TestNet::new();
    let (a, b) = (net.alloc("a"), net.alloc("b"));
    assert_eq!((net.netns_count(), net.veth_count()), (0, 0));
    let (net_a, net_b) = block(async {
        let net_a = net
            .ops
            .setup(spec(&a, vec![PortMapping::new("http", net.port(0), 80)]))
            .await
            .expect("setup a");
        let net_b = net
            .ops
            .setup(spec(&b, vec![PortMapping::new("db", net.port(1), 6379)]))
            .await
            .expect("setup b");
        (net_a, net_b)
    });
    assert_eq!(net.netns_count(), 2);
    assert_eq!(net.veth_count(), 2);
    assert_eq!(net.nft_alloc_pieces(), (2, 4));

    block(net.ops.teardown(&a)).expect("teardown a");
    assert_eq!(net.netns_count(), 1);
    assert_eq!(net.veth_count(), 1);
    assert_eq!(net.nft_alloc_pieces(), (1, 2));
    assert!(!net_a.netns_path.exists());
    assert!(!run("ip", &["-o", "link"]).contains(&net_a.host_veth));
    assert!(run("ip", &["-o", "link"]).contains(&net_b.host_veth));
    assert_eq!(net.ops.addresses().len(), 1);

    // Twice is fine, and so is an allocation that never had a network.
    block(net.ops.teardown(&a)).expect("teardown a again");
    block(net.ops.teardown(&net.alloc("zz"))).expect("teardown unknown");

    block(net.ops.teardown(&b)).expect("teardown b");
    assert_eq!((net.netns_count(), net.veth_count()), (0, 0));
    assert_eq!(net.nft_alloc_pieces(), (0, 0));
    assert!(net.ops.addresses().is_empty());
}

#[test]
fn setup_is_idempotent_and_addresses_are_stable() {
    require_root!();
    let net = TestNet::new();
    let a = net.alloc("a");
    let ports = vec![PortMapping::new("http", net.port(0), 80)];
    let first = block(net.ops.setup(spec(&a, ports.clone()))).expect("setup");
    let again = block(net.ops.setup(spec(&a, ports.clone()))).expect("setup again");
    assert_eq!(first, again);
    assert_eq!((net.netns_count(), net.veth_count()), (1, 1));
    assert_eq!(net.nft_alloc_pieces(), (1, 2));
    let rules = run(
        "nft",
        &[
            "list",
            "chain",
            "ip",
            &net.config.table,
            &format!("alloc-{a}"),
        ],
    );
    assert_eq!(rules.matches("dnat to").count(), 2, "{rules}");
    block(net.ops.ensure_bridge()).expect("ensure again");
    let post = run(
        "nft",
        &["list", "chain", "ip", &net.config.table, "postrouting"],
    );
    assert_eq!(post.matches("masquerade").count(), 3, "{post}");
    // Where Docker's forward chain would drop our traffic, two accept rules of
    // ours, once each however often the bridge is ensured, readable by iptables.
    let docker_user = run("nft", &["list", "chain", "ip", "filter", "DOCKER-USER"]);
    if !docker_user.is_empty() {
        let tag = format!("caravan:{}", net.config.bridge);
        assert_eq!(docker_user.matches(&tag).count(), 2, "{docker_user}");
        let listed = run("iptables", &["-S", "DOCKER-USER"]);
        assert!(
            listed.contains(&format!("-i {} ", net.config.bridge)),
            "{listed}"
        );
    }

    // A new manager on the same state dir (an agent restart) keeps the address.
    let restarted = LinuxNetOps::new(net.config.clone(), &net.state_dir).expect("ops");
    let after = block(restarted.setup(spec(&a, ports))).expect("setup after restart");
    assert_eq!(after.ip, first.ip);
    let state = std::fs::read_to_string(net.state_dir.join(IP_STATE_FILE)).expect("state");
    assert!(state.contains(&first.ip.to_string()), "{state}");
}

#[test]
fn reconcile_after_a_crash_leaves_nothing() {
    require_root!();
    let net = TestNet::new();
    let allocs = [net.alloc("a"), net.alloc("b"), net.alloc("c")];
    {
        // The "crashed" agent: sets up three allocations and is dropped without
        // tearing anything down.
        let crashed = LinuxNetOps::new(net.config.clone(), &net.state_dir).expect("ops");
        block(async {
            for (k, alloc) in allocs.iter().enumerate() {
                let port = PortMapping::new("p", net.port(k as u16), 80);
                crashed.setup(spec(alloc, vec![port])).await.expect("setup");
            }
        });
    }
    assert_eq!((net.netns_count(), net.veth_count()), (3, 3));
    assert_eq!(net.nft_alloc_pieces(), (3, 6));

    // The restarted agent keeps one allocation that still runs.
    let restarted = LinuxNetOps::new(net.config.clone(), &net.state_dir).expect("ops");
    let report = block(restarted.reconcile(&allocs[2..])).expect("reconcile");
    assert_eq!(report.netns.len(), 2, "{report:?}");
    assert_eq!(report.links.len(), 2, "{report:?}");
    assert_eq!(report.chains.len(), 2, "{report:?}");
    assert_eq!(report.addresses.len(), 2, "{report:?}");
    assert_eq!((net.netns_count(), net.veth_count()), (1, 1));
    assert_eq!(net.nft_alloc_pieces(), (1, 2));

    // Then that one stops too, while the agent is down.
    let report = block(restarted.reconcile(&[])).expect("reconcile");
    assert_eq!(report.addresses.len(), 1);
    assert_eq!((net.netns_count(), net.veth_count()), (0, 0));
    assert_eq!(net.nft_alloc_pieces(), (0, 0));
    assert!(restarted.addresses().is_empty());
    assert!(block(restarted.reconcile(&[])).expect("again").is_empty());
}

#[test]
fn existing_namespace_gets_wired_and_is_left_on_teardown() {
    require_root!();
    let net = TestNet::new();
    // Stands in for a docker pause container: a namespace someone else holds.
    let holder = std::thread::spawn(|| {
        unshare(CloneFlags::CLONE_NEWNET).expect("unshare");
        std::fs::File::open("/proc/thread-self/ns/net").expect("open ns")
    })
    .join()
    .expect("thread");
    let path = std::path::PathBuf::from(format!("/proc/self/fd/{}", holder.as_raw_fd()));
    let a = net.alloc("a");
    let dns = DnsConfig {
        servers: vec!["192.0.2.53".into()],
        searches: vec!["service.consul".into()],
        options: vec![],
    };
    let got = block(net.ops.setup(AllocNetSpec {
        alloc_id: a.clone(),
        netns: NetnsTarget::Existing(path.clone()),
        ports: vec![],
        dns: Some(dns),
    }))
    .expect("setup");
    assert!(
        got.resolv_conf.contains("nameserver 192.0.2.53\n"),
        "{}",
        got.resolv_conf
    );
    assert!(got.resolv_conf.contains("search service.consul\n"));
    // The held namespace is named too, so raw_exec enters it with `ip netns exec`
    // and sees the allocation's resolv.conf.
    let name = got
        .netns_path
        .file_name()
        .expect("a named path")
        .to_string_lossy()
        .into_owned();
    assert_eq!(got.netns_path, net.config.netns_dir.join(&name));
    assert_eq!(net.netns_count(), 1);
    let inside = run("ip", &["netns", "exec", &name, "cat", "/etc/resolv.conf"]);
    assert_eq!(inside, got.resolv_conf);
    let addrs = run_in(&path, "ip", &["-4", "-o", "addr"]);
    assert!(addrs.contains(&format!("{}/24", got.ip)), "{addrs}");
    let by_name = run_in(&got.netns_path, "ip", &["-4", "-o", "addr"]);
    assert_eq!(addrs, by_name);
    let again = block(net.ops.setup(AllocNetSpec {
        alloc_id: a.clone(),
        netns: NetnsTarget::Existing(path.clone()),
        ports: vec![],
        dns: None,
    }))
    .expect("setup again");
    assert_eq!(again.netns_path, got.netns_path);
    assert_eq!(net.netns_count(), 1);

    let _server = support::Server::start(Some(&path), addr(Ipv4Addr::UNSPECIFIED, 9000), "pause");
    assert_eq!(fetch(None, addr(got.ip, 9000)).expect("reach"), "pause");

    block(net.ops.teardown(&a)).expect("teardown");
    assert_eq!((net.netns_count(), net.veth_count()), (0, 0));
    assert!(!net.resolv_conf_dir(&name).exists());
    // The namespace itself lives on with its holder.
    let links = run_in(&path, "ip", &["-o", "link"]);
    assert!(links.contains("lo:") && !links.contains("eth0"), "{links}");
}

#[test]
fn resolv_conf_is_written_for_ip_netns_exec_and_removed() {
    require_root!();
    let net = TestNet::new();
    let (a, b) = (net.alloc("a"), net.alloc("b"));
    let dns = DnsConfig {
        servers: vec!["192.0.2.7".into(), "192.0.2.8".into()],
        searches: vec!["svc.example".into()],
        options: vec!["ndots:3".into()],
    };
    let got = block(net.ops.setup(AllocNetSpec {
        dns: Some(dns),
        ..spec(&a, vec![])
    }))
    .expect("setup a");
    block(net.ops.setup(spec(&b, vec![]))).expect("setup b");
    let name_a = net.netns_name(&a);
    let name_b = net.netns_name(&b);

    // Phase 1: the file is there, and a process entering the namespace the way
    // raw_exec does sees it as /etc/resolv.conf.
    let file = net.resolv_conf_dir(&name_a).join("resolv.conf");
    assert_eq!(
        std::fs::read_to_string(&file).expect("read"),
        got.resolv_conf
    );
    assert!(
        got.resolv_conf
            .contains("nameserver 192.0.2.7\nnameserver 192.0.2.8\n")
    );
    let inside = run("ip", &["netns", "exec", &name_a, "cat", "/etc/resolv.conf"]);
    assert_eq!(inside, got.resolv_conf);
    assert!(net.resolv_conf_dir(&name_b).join("resolv.conf").is_file());

    // Phase 2: teardown removes exactly its own.
    block(net.ops.teardown(&a)).expect("teardown a");
    assert!(!net.resolv_conf_dir(&name_a).exists());
    assert!(net.resolv_conf_dir(&name_b).exists());

    // Phase 3: a leftover (an agent that died) goes with reconcile.
    let report = block(net.ops.reconcile(&[])).expect("reconcile");
    assert_eq!(report.resolv_confs, vec![name_b.clone()], "{report:?}");
    assert!(!net.resolv_conf_dir(&name_b).exists());
    assert_eq!(net.netns_count(), 0);
}

#[test]
fn concurrent_setups_get_distinct_addresses_and_mappings() {
    require_root!();
    let net = TestNet::new();
    let allocs: Vec<_> = ["a", "b", "c", "d", "e", "f"]
        .iter()
        .map(|n| net.alloc(n))
        .collect();
    let networks = block(futures_util::future::join_all(
        allocs.iter().enumerate().map(|(k, alloc)| {
            // Two ports each: four tests' worth of host ports is enough room.
            let ports = if k < 4 {
                vec![PortMapping::new("p", net.port(k as u16), 80)]
            } else {
                vec![]
            };
            net.ops.setup(spec(alloc, ports))
        }),
    ));
    let mut ips: Vec<Ipv4Addr> = networks.into_iter().map(|n| n.expect("setup").ip).collect();
    ips.sort();
    ips.dedup();
    assert_eq!(ips.len(), 6);
    assert_eq!((net.netns_count(), net.veth_count()), (6, 6));
    assert_eq!(net.nft_alloc_pieces(), (4, 8));
    let results = block(futures_util::future::join_all(
        allocs.iter().map(|a| net.ops.teardown(a)),
    ));
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!((net.netns_count(), net.veth_count()), (0, 0));
    assert_eq!(net.nft_alloc_pieces(), (0, 0));
}

#[test]
fn a_table_removed_behind_our_back_is_rebuilt_on_setup() {
    require_root!();
    let net = TestNet::new();
    let (a, b) = (net.alloc("a"), net.alloc("b"));
    block(
        net.ops
            .setup(spec(&a, vec![PortMapping::new("p", net.port(0), 80)])),
    )
    .expect("setup a");
    run("nft", &["delete", "table", "ip", &net.config.table]);
    let got = block(
        net.ops
            .setup(spec(&b, vec![PortMapping::new("p", net.port(1), 8080)])),
    )
    .expect("setup b");
    assert_eq!(net.nft_alloc_pieces(), (1, 2));
    let _server = support::Server::start(
        Some(&got.netns_path),
        addr(Ipv4Addr::UNSPECIFIED, 8080),
        "b",
    );
    assert_eq!(
        fetch(None, addr(Ipv4Addr::LOCALHOST, net.port(1))).expect("mapped"),
        "b"
    );
}
