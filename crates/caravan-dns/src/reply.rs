//! A reply before it meets the wire: the records found, and how many of them the
//! transport carries.

use hickory_proto::op::ResponseCode;

use crate::Transport;
use crate::record::Rr;
use crate::wire::{Flags, Writer};

/// The UDP payload size we tell EDNS clients we accept (the 2020 DNS flag day value).
const OUR_EDNS_PAYLOAD: u16 = 1232;
/// The most we send over UDP whatever a client's EDNS says.
const MAX_UDP_PAYLOAD: u16 = 4096;
/// The least every client accepts (RFC 1035).
const MIN_UDP_PAYLOAD: u16 = 512;
/// The size of an OPT record without options.
const OPT_LEN: usize = 11;

/// One answer record and the additional record that goes with it (an SRV target's
/// address), so that an answer left out takes its additional with it.
#[derive(Debug, Clone)]
pub(crate) struct Answer<'a> {
    pub record: Rr<'a>,
    pub extra: Option<Rr<'a>>,
}

impl<'a> Answer<'a> {
    pub fn new(record: Rr<'a>) -> Self {
        Self {
            record,
            extra: None,
        }
    }
}

/// A response's code and records.
#[derive(Debug, Clone)]
pub(crate) struct Reply<'a> {
    pub code: ResponseCode,
    /// Whether we speak with authority: true for names under our domain.
    pub authoritative: bool,
    pub answers: Vec<Answer<'a>>,
    pub authority: Vec<Rr<'a>>,
}

/// The question as it is echoed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Question<'q> {
    pub labels: &'q [&'q [u8]],
    pub qtype: u16,
    pub qclass: u16,
}

/// What the request and the config say about the reply's shape.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Shape<'r> {
    pub id: u16,
    pub opcode: u8,
    pub recursion_desired: bool,
    pub checking_disabled: bool,
    pub question: Option<Question<'r>>,
    /// The requester's EDNS payload size, when it sent OPT.
    pub edns_payload: Option<u16>,
    pub transport: Transport,
    pub udp_answer_limit: usize,
    pub enable_truncate: bool,
    pub recursion_available: bool,
    pub domain: &'r [&'r str],
}

impl Reply<'_> {
    pub fn error(code: ResponseCode) -> Self {
        Self {
            code,
            authoritative: false,
            answers: Vec::new(),
            authority: Vec::new(),
        }
    }

    /// The wire form: as many answers as the transport allows (TC set when some were
    /// left out), then their additionals if they all fit too (leaving those out does
    /// not set TC, RFC 2181 section 9).
    pub fn encode(&self, shape: &Shape<'_>) -> Vec<u8> {
        let (max_size, answer_limit) = match shape.transport {
            Transport::Tcp => (u16::MAX, usize::MAX),
            Transport::Udp => match shape.edns_payload {
                Some(payload) => (payload.clamp(MIN_UDP_PAYLOAD, MAX_UDP_PAYLOAD), usize::MAX),
                None if shape.udp_answer_limit > 0 => (MIN_UDP_PAYLOAD, shape.udp_answer_limit),
                None => (MIN_UDP_PAYLOAD, usize::MAX),
            },
        };
        let room = usize::from(max_size)
            - if shape.edns_payload.is_some() {
                OPT_LEN
            } else {
                0
            };
        let mut w = Writer::new(room, shape.domain);
        if let Some(q) = shape.question {
            w.question(q.labels, q.qtype, q.qclass);
        }

        let limited = answer_limit.min(self.answers.len());
        let mut truncated = limited < self.answers.len() && shape.enable_truncate;
        let mut kept = 0;
        for answer in &self.answers[..limited] {
            if !w.record(&answer.record) {
                truncated = true;
                break;
            }
            kept += 1;
        }
        let mut authority = 0;
        for record in &self.authority {
            if !w.record(record) {
                truncated = true;
                break;
            }
            authority += 1;
        }
        let before_extras = w.mark();
        let mut additional = 0;
        for extra in self.answers[..kept].iter().filter_map(|a| a.extra.as_ref()) {
            if !w.record(extra) {
                w.rollback(before_extras);
                additional = 0;
                break;
            }
            additional += 1;
        }
        let code = u16::from(self.code);
        if shape.edns_payload.is_some() {
            w.opt(OUR_EDNS_PAYLOAD, code);
            additional += 1;
        }
        let flags = Flags {
            id: shape.id,
            opcode: shape.opcode,
            authoritative: self.authoritative,
            truncated,
            recursion_desired: shape.recursion_desired,
            recursion_available: shape.recursion_available,
            checking_disabled: shape.checking_disabled,
            rcode: code,
        };
        let count = |n: usize| u16::try_from(n).unwrap_or(u16::MAX);
        w.finish(
            flags,
            [
                u16::from(shape.question.is_some()),
                count(kept),
                count(authority),
                count(additional),
            ],
        )
    }
}
