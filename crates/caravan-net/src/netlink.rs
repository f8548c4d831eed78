//! Links, addresses and routes over rtnetlink, in the network namespace the socket
//! was opened in.

use std::fs::File;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;

use futures_util::TryStreamExt;
use rtnetlink::packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkInfo, LinkMessage,
};
use rtnetlink::{
    Handle, LinkBridge, LinkBridgePort, LinkMessageBuilder, LinkUnspec, LinkVeth,
    RouteMessageBuilder,
};

use crate::NetError;

const ENODEV: i32 = 19;
const EEXIST: i32 = 17;

/// A link as this crate needs to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Link {
    pub index: u32,
    pub name: String,
    /// The bridge it is attached to.
    pub controller: Option<u32>,
    pub is_bridge: bool,
}

/// An rtnetlink connection bound to the namespace of the thread that opened it.
#[derive(Debug, Clone)]
pub(crate) struct Netlink {
    handle: Handle,
}

impl Netlink {
    /// Opens a socket in the calling thread's current network namespace; the socket
    /// stays there when the thread moves on. Must run inside a tokio runtime.
    pub fn connect() -> Result<Self, NetError> {
        let (connection, handle, _) =
            rtnetlink::new_connection().map_err(NetError::NetlinkSocket)?;
        tokio::spawn(connection);
        Ok(Self { handle })
    }

    pub async fn link(&self, name: &str) -> Result<Option<Link>, NetError> {
        let mut stream = self
            .handle
            .link()
            .get()
            .match_name(name.to_owned())
            .execute();
        match stream.try_next().await {
            Ok(message) => Ok(message.map(|m| to_link(&m))),
            Err(e) if errno(&e) == Some(ENODEV) => Ok(None),
            Err(e) => Err(NetError::netlink(format!("get link {name}"), e)),
        }
    }

    pub async fn links(&self) -> Result<Vec<Link>, NetError> {
        let messages: Vec<LinkMessage> = self
            .handle
            .link()
            .get()
            .execute()
            .try_collect()
            .await
            .map_err(|e| NetError::netlink("list links", e))?;
        Ok(messages.iter().map(to_link).collect())
    }

    /// Creates the bridge unless it exists, gives it `gateway/prefix_len` and brings
    /// it up. Returns its index.
    pub async fn ensure_bridge(
        &self,
        name: &str,
        gateway: Ipv4Addr,
        prefix_len: u8,
    ) -> Result<u32, NetError> {
        let link = match self.link(name).await? {
            Some(link) => link,
            None => {
                let added = self
                    .handle
                    .link()
                    .add(LinkBridge::new(name).build())
                    .execute()
                    .await;
                match added {
                    Ok(()) => {}
                    // Another caller created it meanwhile.
                    Err(e) if errno(&e) == Some(EEXIST) => {}
                    Err(e) => return Err(NetError::netlink(format!("create bridge {name}"), e)),
                }
                self.link(name).await?.ok_or_else(|| {
                    NetError::Config(format!("bridge {name} vanished right after creation"))
                })?
            }
        };
        if !link.is_bridge {
            return Err(NetError::Config(format!(
                "{name} exists and is not a bridge"
            )));
        }
        self.address_replace(link.index, gateway, prefix_len)
            .await?;
        self.set_up(link.index).await?;
        Ok(link.index)
    }

    /// Creates a veth pair: `host` attached to `bridge` and up, `peer` created
    /// directly inside the namespace `peer_ns` (one request, no rename).
    pub async fn create_veth(
        &self,
        host: &str,
        peer: &str,
        peer_ns: &File,
        bridge: u32,
    ) -> Result<(), NetError> {
        let peer_message = LinkMessageBuilder::<LinkUnspec>::new()
            .name(peer.to_owned())
            .setns_by_fd(peer_ns.as_raw_fd())
            .build();
        let message = LinkMessageBuilder::<LinkVeth>::new_with_info_kind(InfoKind::Veth)
            .name(host.to_owned())
            .controller(bridge)
            .up()
            .set_info_data(InfoData::Veth(InfoVeth::Peer(peer_message)))
            .build();
        self.handle
            .link()
            .add(message)
            .execute()
            .await
            .map_err(|e| NetError::netlink(format!("create veth {host} (peer {peer})"), e))
    }

    /// Deletes a link; one that is already gone is not an error.
    pub async fn delete(&self, index: u32, name: &str) -> Result<(), NetError> {
        match self.handle.link().del(index).execute().await {
            Ok(()) => Ok(()),
            Err(e) if errno(&e) == Some(ENODEV) => Ok(()),
            Err(e) => Err(NetError::netlink(format!("delete link {name}"), e)),
        }
    }

    pub async fn set_up(&self, index: u32) -> Result<(), NetError> {
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(index).up().build())
            .execute()
            .await
            .map_err(|e| NetError::netlink(format!("set link {index} up"), e))
    }

    /// Attaches a link to a bridge and brings it up.
    pub async fn attach(&self, index: u32, bridge: u32) -> Result<(), NetError> {
        self.handle
            .link()
            .set(
                LinkUnspec::new_with_index(index)
                    .controller(bridge)
                    .up()
                    .build(),
            )
            .execute()
            .await
            .map_err(|e| NetError::netlink(format!("attach link {index} to bridge {bridge}"), e))
    }

    /// Lets the bridge send a frame back out of the port it came in on. Needed for
    /// an allocation that reaches itself through a host port: with br_netfilter
    /// loaded (Docker loads it) the DNATed frame is bridged, not routed, back to
    /// the port it came from.
    pub async fn hairpin(&self, index: u32) -> Result<(), NetError> {
        self.handle
            .link()
            .set_port(LinkBridgePort::new(index).hairpin(true).build())
            .execute()
            .await
            .map_err(|e| NetError::netlink(format!("set hairpin mode on link {index}"), e))
    }

    /// Adds `ip/prefix_len` to the link, or refreshes it when present.
    pub async fn address_replace(
        &self,
        index: u32,
        ip: Ipv4Addr,
        prefix_len: u8,
    ) -> Result<(), NetError> {
        self.handle
            .address()
            .add(index, IpAddr::V4(ip), prefix_len)
            .replace()
            .execute()
            .await
            .map_err(|e| NetError::netlink(format!("add address {ip}/{prefix_len}"), e))
    }

    /// Sets the default route via `gateway`, replacing any other default route.
    pub async fn default_route_replace(&self, gateway: Ipv4Addr) -> Result<(), NetError> {
        let route = RouteMessageBuilder::<Ipv4Addr>::new()
            .gateway(gateway)
            .build();
        self.handle
            .route()
            .add(route)
            .replace()
            .execute()
            .await
            .map_err(|e| NetError::netlink(format!("add default route via {gateway}"), e))
    }
}

/// The errno of a netlink error reply (positive), if it is one.
fn errno(error: &rtnetlink::Error) -> Option<i32> {
    match error {
        rtnetlink::Error::NetlinkError(message) => message.code.map(|code| code.get().abs()),
        _ => None,
    }
}

fn to_link(message: &LinkMessage) -> Link {
    let mut link = Link {
        index: message.header.index,
        name: String::new(),
        controller: None,
        is_bridge: false,
    };
    for attribute in &message.attributes {
        match attribute {
            LinkAttribute::IfName(name) => link.name.clone_from(name),
            LinkAttribute::Controller(index) => link.controller = Some(*index),
            LinkAttribute::LinkInfo(infos) => {
                link.is_bridge = infos
                    .iter()
                    .any(|i| matches!(i, LinkInfo::Kind(InfoKind::Bridge)));
            }
            _ => {}
        }
    }
    link
}
