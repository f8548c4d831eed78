//! Where a service (or its check) is advertised: Nomad's `GetAddress` over the
//! group's granted ports, the node's address and the allocation's own network
//! (digest 1.2, "Resolving the advertised address").
//!
//! - `auto` with an `address`: that address, with the label's host port (or the
//!   number given as the port);
//! - `auto` otherwise, and `host`: the port's host IP and host port (`Value`); a
//!   number as the port gives the node's address and that number;
//! - `alloc`: the allocation's namespace address and the port's `To` (or `Value`), or
//!   the number; an error without a bridge (or cni) network;
//! - `driver`: the driver's own address for the task. Our drivers report none (a
//!   docker task in a bridge-mode group is in the allocation's namespace), so this is
//!   `alloc` when the allocation has a network of its own, else `host`.

use caravan_model::{AllocNetworkStatus, AllocatedPortMapping};

/// Why a service or check has no address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("port {0:?} is neither a port label of the group's network nor a port number")]
    UnknownPort(String),
    #[error(
        "address_mode \"alloc\" needs the allocation's own network (bridge mode), and it has none"
    )]
    NoAllocNetwork,
    #[error("unknown address_mode {0:?}")]
    UnknownMode(String),
}

/// What addresses are resolved against.
#[derive(Debug, Clone, Copy)]
pub struct AddressInputs<'a> {
    /// The group's ports as granted, each with its host IP.
    pub ports: &'a [AllocatedPortMapping],
    /// The node's address: what a numeric port in host mode is advertised on.
    pub node_address: &'a str,
    /// The allocation's own network (bridge mode).
    pub network_status: Option<&'a AllocNetworkStatus>,
}

impl AddressInputs<'_> {
    fn port(&self, label: &str) -> Option<&AllocatedPortMapping> {
        self.ports.iter().find(|p| p.label == label)
    }

    /// A port given as a number, not a label.
    fn number(label: &str) -> Result<u16, AddressError> {
        label
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| AddressError::UnknownPort(label.to_owned()))
    }

    /// `host`: the port's host IP and host port.
    fn host(&self, label: &str) -> Result<(String, u16), AddressError> {
        if label.is_empty() {
            return Ok((self.node_address.to_owned(), 0));
        }
        if let Some(p) = self.port(label) {
            let ip = if p.host_ip.is_empty() {
                self.node_address
            } else {
                &p.host_ip
            };
            return Ok((ip.to_owned(), p.value));
        }
        Ok((self.node_address.to_owned(), Self::number(label)?))
    }

    /// `alloc`: the namespace address and the port inside it.
    fn alloc(&self, label: &str) -> Result<(String, u16), AddressError> {
        let status = self
            .network_status
            .filter(|s| !s.address.is_empty())
            .ok_or(AddressError::NoAllocNetwork)?;
        let port = if label.is_empty() {
            0
        } else if let Some(p) = self.port(label) {
            inner_port(p)
        } else {
            Self::number(label)?
        };
        Ok((status.address.clone(), port))
    }

    /// The advertised address and port of a service.
    pub fn service(
        &self,
        mode: &str,
        address: &str,
        label: &str,
    ) -> Result<(String, u16), AddressError> {
        match mode {
            "" | "auto" if !address.is_empty() => {
                let port = match self.port(label) {
                    Some(p) => p.value,
                    None if label.is_empty() => 0,
                    None => Self::number(label)?,
                };
                Ok((address.to_owned(), port))
            }
            "" | "auto" | "host" => self.host(label),
            "alloc" | "alloc_ipv6" => self.alloc(label),
            "driver" => {
                if self.network_status.is_some_and(|s| !s.address.is_empty()) {
                    self.alloc(label)
                } else {
                    self.host(label)
                }
            }
            other => Err(AddressError::UnknownMode(other.to_owned())),
        }
    }

    /// The address a check connects to: its own `address_mode` (default `host`, not
    /// the service's) and port (default the service's), or the service's custom
    /// address when the service sets one in `auto` mode and the check no mode.
    pub fn check(
        &self,
        check_mode: &str,
        check_label: &str,
        service_mode: &str,
        service_address: &str,
        service_label: &str,
    ) -> Result<(String, u16), AddressError> {
        let label = if check_label.is_empty() {
            service_label
        } else {
            check_label
        };
        let custom = !service_address.is_empty() && matches!(service_mode, "" | "auto");
        match check_mode {
            "" if custom => self.service("auto", service_address, label),
            "" | "host" => self.host(label),
            other => self.service(other, "", label),
        }
    }
}

/// The port a task listens on inside its namespace: `To`, or the host port.
fn inner_port(p: &AllocatedPortMapping) -> u16 {
    u16::try_from(p.to)
        .ok()
        .filter(|to| *to > 0)
        .unwrap_or(p.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ports() -> Vec<AllocatedPortMapping> {
        vec![
            AllocatedPortMapping {
                label: "http".into(),
                value: 23456,
                to: 8080,
                host_ip: "10.0.0.5".into(),
            },
            AllocatedPortMapping {
                label: "db".into(),
                value: 24000,
                to: 0,
                host_ip: String::new(),
            },
        ]
    }

    fn bridge() -> AllocNetworkStatus {
        AllocNetworkStatus {
            interface_name: "eth0".into(),
            address: "172.26.64.7".into(),
            ..AllocNetworkStatus::default()
        }
    }

    fn at(ip: &str, port: u16) -> Result<(String, u16), AddressError> {
        Ok((ip.to_owned(), port))
    }

    #[test]
    fn host_and_auto_advertise_the_host_ip_and_host_port() {
        let ports = ports();
        let status = bridge();
        for network_status in [None, Some(&status)] {
            let inputs = AddressInputs {
                ports: &ports,
                node_address: "10.0.0.9",
                network_status,
            };
            assert_eq!(inputs.service("auto", "", "http"), at("10.0.0.5", 23456));
            assert_eq!(inputs.service("host", "", "http"), at("10.0.0.5", 23456));
            // A port without a host IP is on the node's address.
            assert_eq!(inputs.service("host", "", "db"), at("10.0.0.9", 24000));
            // A number: the node's address and that number.
            assert_eq!(inputs.service("host", "", "9000"), at("10.0.0.9", 9000));
            assert_eq!(inputs.service("auto", "", ""), at("10.0.0.9", 0));
        }
    }

    #[test]
    fn auto_with_an_address_keeps_it_with_the_host_port() {
        let ports = ports();
        let inputs = AddressInputs {
            ports: &ports,
            node_address: "10.0.0.9",
            network_status: None,
        };
        assert_eq!(
            inputs.service("auto", "web.example", "http"),
            at("web.example", 23456)
        );
        assert_eq!(
            inputs.service("auto", "web.example", "81"),
            at("web.example", 81)
        );
    }

    #[test]
    fn alloc_is_the_namespace_address_and_the_inner_port() {
        let ports = ports();
        let status = bridge();
        let inputs = AddressInputs {
            ports: &ports,
            node_address: "10.0.0.9",
            network_status: Some(&status),
        };
        assert_eq!(inputs.service("alloc", "", "http"), at("172.26.64.7", 8080));
        assert_eq!(inputs.service("alloc", "", "db"), at("172.26.64.7", 24000));
        assert_eq!(inputs.service("alloc", "", "7000"), at("172.26.64.7", 7000));
        assert_eq!(
            inputs.service("driver", "", "http"),
            at("172.26.64.7", 8080)
        );
        let host_mode = AddressInputs {
            network_status: None,
            ..inputs
        };
        assert_eq!(
            host_mode.service("alloc", "", "http"),
            Err(AddressError::NoAllocNetwork)
        );
        assert_eq!(
            host_mode.service("driver", "", "http"),
            at("10.0.0.5", 23456)
        );
    }

    #[test]
    fn bad_ports_and_modes_are_errors() {
        let ports = ports();
        let inputs = AddressInputs {
            ports: &ports,
            node_address: "10.0.0.9",
            network_status: None,
        };
        assert_eq!(
            inputs.service("host", "", "nope"),
            Err(AddressError::UnknownPort("nope".into()))
        );
        assert_eq!(
            inputs.service("host", "", "0"),
            Err(AddressError::UnknownPort("0".into()))
        );
        assert_eq!(
            inputs.service("sideways", "", "http"),
            Err(AddressError::UnknownMode("sideways".into()))
        );
    }

    #[test]
    fn checks_default_to_host_and_the_services_port() {
        let ports = ports();
        let status = bridge();
        let inputs = AddressInputs {
            ports: &ports,
            node_address: "10.0.0.9",
            network_status: Some(&status),
        };
        // Not inherited from the service: an alloc-mode service is checked on the host.
        assert_eq!(
            inputs.check("", "", "alloc", "", "http"),
            at("10.0.0.5", 23456)
        );
        assert_eq!(
            inputs.check("alloc", "", "host", "", "http"),
            at("172.26.64.7", 8080)
        );
        assert_eq!(
            inputs.check("", "db", "host", "", "http"),
            at("10.0.0.9", 24000)
        );
        // A custom service address in auto mode is what an unset mode checks.
        assert_eq!(
            inputs.check("", "", "auto", "127.0.0.2", "http"),
            at("127.0.0.2", 23456)
        );
        assert_eq!(
            inputs.check("host", "", "auto", "127.0.0.2", "http"),
            at("10.0.0.5", 23456)
        );
    }
}
