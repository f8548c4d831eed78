//! The resolver: a query's bytes and the catalog in, a reply's bytes out. No I/O, no
//! clock, no randomness of its own (the caller seeds the shuffle).
//!
//! Choices where Consul's versions differ (digest section 6.1):
//! - a service nobody registered, and a service whose every instance is filtered out
//!   (critical, warning with `only_passing`, another tag, another datacenter), are both
//!   NXDOMAIN with the SOA in AUTHORITY: the pre-1.19 behaviour, consul#1142;
//! - a name that exists without records of the asked type (TXT of a service, AAAA of
//!   IPv4-only instances) is NOERROR with no answer and the SOA (NODATA);
//! - an unknown datacenter is NXDOMAIN;
//! - a name outside the domain is REFUSED when no recursor is configured.

use std::net::IpAddr;

use caravan_model::HealthStatus;
use hickory_proto::op::{Edns, Metadata, Query, ResponseCode};
use hickory_proto::rr::RecordType;

use crate::lookup::Lookup;
use crate::record::{Data, DomainName, Owner, Rr};
use crate::reply::{Answer, Question, Reply, Shape};
use crate::request::Parsed;
use crate::shuffle::Shuffle;
use crate::{CatalogView, DnsConfig, ServiceInstance, Transport};

/// Below this many records, duplicates are found by a linear scan rather than a set.
const SMALL: usize = 32;

/// What to do with a packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// Send these bytes back.
    Reply(Vec<u8>),
    /// The name is outside the domain and recursors are configured: forward the query
    /// as it came, and relay what they say.
    Forward,
    /// Send nothing: the packet is too broken to answer, or is itself a response.
    Drop,
}

/// Answers `query` from `catalog`: the reply's bytes, or `None` when the packet is
/// dropped. A name outside the domain is refused here, even with recursors configured;
/// use [`resolve`] to learn that it should be forwarded.
pub fn answer(
    query: &[u8],
    transport: Transport,
    catalog: &dyn CatalogView,
    config: &DnsConfig,
    rng_seed: u64,
) -> Option<Vec<u8>> {
    match resolve(query, transport, catalog, config, rng_seed) {
        Resolution::Reply(bytes) => Some(bytes),
        Resolution::Drop => None,
        Resolution::Forward => error_reply(query, transport, config, ResponseCode::Refused),
    }
}

/// A reply to `query` with `code` and no records (a forward that failed, a refusal);
/// `None` when `query` is not a query the resolver would answer.
pub(crate) fn error_reply(
    query: &[u8],
    transport: Transport,
    config: &DnsConfig,
    code: ResponseCode,
) -> Option<Vec<u8>> {
    match Parsed::from_bytes(query) {
        Parsed::Query(request) => {
            let domain: Vec<&str> = config.domain_labels().collect();
            let labels: Vec<&[u8]> = request.query.name().iter().collect();
            let shape = shape(
                &request.metadata,
                Some((&request.query, &labels)),
                request.edns.as_ref(),
                transport,
                config,
                &domain,
            );
            Some(Reply::error(code).encode(&shape))
        }
        _ => None,
    }
}

/// Decides what to do with `query`: see [`Resolution`].
pub fn resolve(
    query: &[u8],
    transport: Transport,
    catalog: &dyn CatalogView,
    config: &DnsConfig,
    rng_seed: u64,
) -> Resolution {
    let domain: Vec<&str> = config.domain_labels().collect();
    let request = match Parsed::from_bytes(query) {
        Parsed::Query(request) => request,
        Parsed::Drop => return Resolution::Drop,
        Parsed::Error {
            metadata,
            query,
            edns,
            code,
        } => {
            let labels: Vec<&[u8]> = query
                .as_ref()
                .map(|q| q.name().iter().collect())
                .unwrap_or_default();
            let question = query.as_ref().map(|q| (q, labels.as_slice()));
            let shape = shape(
                &metadata,
                question,
                edns.as_ref(),
                transport,
                config,
                &domain,
            );
            return Resolution::Reply(Reply::error(code).encode(&shape));
        }
    };
    let labels: Vec<&[u8]> = request.query.name().iter().collect();
    let lookup = Lookup::parse(&labels, domain.iter().copied());
    if lookup == Lookup::Outside && !config.recursors.is_empty() {
        return Resolution::Forward;
    }
    let shape = shape(
        &request.metadata,
        Some((&request.query, &labels)),
        request.edns.as_ref(),
        transport,
        config,
        &domain,
    );
    let reply = Resolver {
        catalog,
        config,
        qtype: request.query.query_type(),
        domain: &domain,
        rng: Shuffle::new(rng_seed),
    }
    .reply(&lookup);
    Resolution::Reply(reply.encode(&shape))
}

fn shape<'r>(
    metadata: &Metadata,
    question: Option<(&Query, &'r [&'r [u8]])>,
    edns: Option<&Edns>,
    transport: Transport,
    config: &DnsConfig,
    domain: &'r [&'r str],
) -> Shape<'r> {
    Shape {
        id: metadata.id,
        opcode: u8::from(metadata.op_code),
        recursion_desired: metadata.recursion_desired,
        checking_disabled: metadata.checking_disabled,
        question: question.map(|(q, labels)| Question {
            labels,
            qtype: u16::from(q.query_type()),
            qclass: u16::from(q.query_class()),
        }),
        edns_payload: edns.map(Edns::max_payload),
        transport,
        udp_answer_limit: config.udp_answer_limit,
        enable_truncate: config.enable_truncate,
        recursion_available: !config.recursors.is_empty(),
        domain,
    }
}

/// One query being answered.
struct Resolver<'a> {
    catalog: &'a dyn CatalogView,
    config: &'a DnsConfig,
    qtype: RecordType,
    domain: &'a [&'a str],
    rng: Shuffle,
}

impl<'a> Resolver<'a> {
    fn reply(mut self, lookup: &Lookup<'a>) -> Reply<'a> {
        match *lookup {
            Lookup::Outside => Reply::error(ResponseCode::Refused),
            Lookup::NoSuchName => self.nxdomain(),
            Lookup::Apex => self.apex(),
            Lookup::Service {
                name,
                tag,
                datacenter,
            } => self.service(name, tag, datacenter),
            Lookup::Node { name, datacenter } => self.node(name, datacenter),
            Lookup::Addr { ip, datacenter } => self.addr(ip, datacenter),
        }
    }

    /// Whether `datacenter` (the default when absent) is one we know.
    fn datacenter_known(&self, datacenter: Option<&str>) -> bool {
        datacenter.is_none_or(|dc| {
            dc.eq_ignore_ascii_case(&self.config.datacenter) || self.catalog.has_datacenter(dc)
        })
    }

    /// The datacenter something registered in `registered` is in (empty: the default).
    fn datacenter_of(&self, registered: &'a str) -> &'a str {
        if registered.is_empty() {
            &self.config.datacenter
        } else {
            registered
        }
    }

    /// Whether something registered in `registered` answers a query for `asked`
    /// (absent: the default).
    fn same_datacenter(&self, registered: &str, asked: Option<&str>) -> bool {
        let registered = if registered.is_empty() {
            &self.config.datacenter
        } else {
            registered
        };
        registered.eq_ignore_ascii_case(asked.unwrap_or(&self.config.datacenter))
    }

    fn service(&mut self, name: &'a str, tag: Option<&str>, datacenter: Option<&str>) -> Reply<'a> {
        if !self.datacenter_known(datacenter) {
            return self.nxdomain();
        }
        let only_passing = self.config.only_passing;
        let mut instances: Vec<ServiceInstance<'a>> = Vec::new();
        self.catalog.service_instances(name, &mut |instance| {
            let healthy = match instance.health {
                HealthStatus::Passing => true,
                HealthStatus::Warning => !only_passing,
                HealthStatus::Critical => false,
            };
            if healthy
                && tag.is_none_or(|t| instance.has_tag(t))
                && self.same_datacenter(instance.datacenter, datacenter)
            {
                instances.push(instance);
            }
        });
        if instances.is_empty() {
            // consul#1142: a service with no instance left is as absent as an unknown one.
            return self.nxdomain();
        }
        self.rng.shuffle(&mut instances);
        let ttl = self.config.service_ttl_secs(name);
        let mut answers: Vec<Answer<'a>> = Vec::with_capacity(instances.len());
        match self.qtype {
            RecordType::SRV => {
                for instance in &instances {
                    if let Some(mut answer) = self.srv(instance, ttl) {
                        // One additional per target, however many ports it serves.
                        let target = answer.extra.as_ref().map(|e| e.owner);
                        if target.is_some()
                            && answers
                                .iter()
                                .any(|a| a.extra.as_ref().map(|e| e.owner) == target)
                        {
                            answer.extra = None;
                        }
                        answers.push(answer);
                    }
                }
            }
            RecordType::A | RecordType::AAAA | RecordType::ANY => {
                let mut seen: Vec<IpAddr> = Vec::with_capacity(instances.len().min(SMALL));
                let mut seen_many = std::collections::HashSet::new();
                for instance in &instances {
                    let Some(ip) = instance.ip else {
                        continue;
                    };
                    if !wants(self.qtype, ip) {
                        continue;
                    }
                    // Instances sharing an address (one host, several ports) give one
                    // record: an RRset holds no duplicates.
                    let new = if instances.len() <= SMALL {
                        !seen.contains(&ip) && {
                            seen.push(ip);
                            true
                        }
                    } else {
                        seen_many.insert(ip)
                    };
                    if new {
                        answers.push(Answer::new(Rr::address(Owner::Query, ttl, ip)));
                    }
                }
            }
            _ => {}
        }
        if answers.is_empty() {
            return self.nodata();
        }
        found(answers)
    }

    /// An instance's SRV answer, with its target's address as the additional; `None`
    /// when it has no usable address.
    fn srv(&self, instance: &ServiceInstance<'a>, ttl: u32) -> Option<Answer<'a>> {
        let address = instance.effective_address();
        let datacenter = self.datacenter_of(instance.datacenter);
        let srv = |target| Rr {
            owner: Owner::Query,
            ttl,
            data: Data::Srv {
                port: instance.port,
                target,
            },
        };
        let Some(ip) = instance.ip else {
            // A host name: the target is the name itself, resolved elsewhere.
            let host = DomainName::Host(address);
            return host.is_valid(self.domain).then(|| Answer::new(srv(host)));
        };
        let by_node = DomainName::Node {
            node: instance.node,
            datacenter,
        };
        let by_addr = DomainName::Addr { ip, datacenter };
        let target = if !instance.has_own_address() && by_node.is_valid(self.domain) {
            by_node
        } else if by_addr.is_valid(self.domain) {
            // An address of its own, or a node name that is no DNS label.
            by_addr
        } else {
            return None;
        };
        Some(Answer {
            record: srv(target),
            extra: Some(Rr::address(Owner::Name(target), ttl, ip)),
        })
    }

    fn node(&self, name: &str, datacenter: Option<&str>) -> Reply<'a> {
        if !self.datacenter_known(datacenter) {
            return self.nxdomain();
        }
        let Some(node) = self
            .catalog
            .node(name)
            .filter(|n| self.same_datacenter(n.datacenter, datacenter))
        else {
            return self.nxdomain();
        };
        let ttl = self.config.node_ttl_secs();
        let mut answers = Vec::new();
        if let Ok(ip) = node.address.parse::<IpAddr>()
            && wants(self.qtype, ip)
        {
            answers.push(Answer::new(Rr::address(Owner::Query, ttl, ip)));
        }
        if matches!(self.qtype, RecordType::TXT | RecordType::ANY) {
            for (key, value) in node.meta {
                // Keys prefixed `rfc1035-` give the value alone.
                let text = match key.strip_prefix("rfc1035-") {
                    Some(_) => value.clone(),
                    None => format!("{key}={value}"),
                };
                answers.push(Answer::new(Rr {
                    owner: Owner::Query,
                    ttl,
                    data: Data::Txt(text),
                }));
            }
        }
        if answers.is_empty() {
            return self.nodata();
        }
        found(answers)
    }

    fn addr(&self, ip: IpAddr, datacenter: Option<&str>) -> Reply<'a> {
        if !self.datacenter_known(datacenter) {
            return self.nxdomain();
        }
        if !wants(self.qtype, ip) {
            return self.nodata();
        }
        let ttl = self.config.node_ttl_secs();
        found(vec![Answer::new(Rr::address(Owner::Query, ttl, ip))])
    }

    fn apex(&self) -> Reply<'a> {
        let mut answers = Vec::new();
        if matches!(self.qtype, RecordType::SOA | RecordType::ANY) {
            answers.push(Answer::new(self.soa(Owner::Query)));
        }
        if matches!(self.qtype, RecordType::NS | RecordType::ANY) {
            answers.push(Answer::new(Rr {
                owner: Owner::Query,
                ttl: 0,
                data: Data::Ns(DomainName::Apex(Some("ns"))),
            }));
        }
        if answers.is_empty() {
            return self.nodata();
        }
        found(answers)
    }

    fn nxdomain(&self) -> Reply<'a> {
        self.negative(ResponseCode::NXDomain)
    }

    fn nodata(&self) -> Reply<'a> {
        self.negative(ResponseCode::NoError)
    }

    /// No answer, with the SOA in AUTHORITY so that resolvers can cache the absence
    /// (for its minimum TTL: 0, as Consul's).
    fn negative(&self, code: ResponseCode) -> Reply<'a> {
        Reply {
            code,
            authoritative: true,
            answers: Vec::new(),
            authority: vec![self.soa(Owner::Name(DomainName::Apex(None)))],
        }
    }

    /// `<domain> IN SOA ns.<domain> hostmaster.<domain> <serial> 3600 600 86400 0`.
    fn soa(&self, owner: Owner<'a>) -> Rr<'a> {
        Rr {
            owner,
            ttl: 0,
            data: Data::Soa {
                serial: self.catalog.serial(),
            },
        }
    }
}

fn found(answers: Vec<Answer<'_>>) -> Reply<'_> {
    Reply {
        code: ResponseCode::NoError,
        authoritative: true,
        answers,
        authority: Vec::new(),
    }
}

/// Whether a query of `qtype` wants an address record for `ip`.
fn wants(qtype: RecordType, ip: IpAddr) -> bool {
    matches!(
        (qtype, ip),
        (RecordType::A | RecordType::ANY, IpAddr::V4(_))
            | (RecordType::AAAA | RecordType::ANY, IpAddr::V6(_))
    )
}
