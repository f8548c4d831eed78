//! Writing a response message: header, question, records with name compression, OPT.
//! Queries are read with hickory-proto; replies are written here, because the few
//! record shapes we answer with are written several times faster by hand than through
//! hickory's general encoder (which builds owned records and compresses any name), and
//! the reply's cost is most of a query's on the hot path.

use crate::record::{Data, DomainName, Owner, Rr};

const TYPE_A: u16 = 1;
const TYPE_NS: u16 = 2;
const TYPE_SOA: u16 = 6;
const TYPE_TXT: u16 = 16;
const TYPE_AAAA: u16 = 28;
const TYPE_SRV: u16 = 33;
const TYPE_OPT: u16 = 41;
const CLASS_IN: u16 = 1;
/// Where the question's name starts: right after the header.
const QUESTION_OFFSET: usize = 12;
/// The largest offset a compression pointer can hold.
const MAX_POINTER: usize = 0x3FFF;

/// The header's flags and code, as the response will carry them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Flags {
    pub id: u16,
    pub opcode: u8,
    pub authoritative: bool,
    pub truncated: bool,
    pub recursion_desired: bool,
    pub recursion_available: bool,
    pub checking_disabled: bool,
    /// The full response code; bits above the fourth go in the OPT record.
    pub rcode: u16,
}

/// A position to return to when a record does not fit.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Mark {
    len: usize,
    labels: usize,
}

/// A response being written.
#[derive(Debug)]
pub(crate) struct Writer<'d> {
    buf: Vec<u8>,
    /// Offsets of the labels written out in full: where later names may point.
    labels_at: Vec<u16>,
    domain: &'d [&'d str],
    /// Records that end past this are taken back.
    limit: usize,
    /// Whether the question's name (at offset 12) can be pointed to.
    has_question_name: bool,
}

impl<'d> Writer<'d> {
    /// A writer whose records must end within `limit` bytes; a header's worth of room
    /// is reserved.
    pub fn new(limit: usize, domain: &'d [&'d str]) -> Self {
        let mut buf = Vec::with_capacity(512.min(limit));
        buf.resize(QUESTION_OFFSET, 0);
        Self {
            buf,
            labels_at: Vec::with_capacity(16),
            domain,
            limit,
            has_question_name: false,
        }
    }

    pub fn question(&mut self, labels: &[&[u8]], qtype: u16, qclass: u16) {
        debug_assert_eq!(self.buf.len(), QUESTION_OFFSET);
        self.name(labels, false);
        self.has_question_name = !labels.is_empty();
        self.u16(qtype);
        self.u16(qclass);
    }

    pub fn mark(&self) -> Mark {
        Mark {
            len: self.buf.len(),
            labels: self.labels_at.len(),
        }
    }

    pub fn rollback(&mut self, mark: Mark) {
        self.buf.truncate(mark.len);
        self.labels_at.truncate(mark.labels);
    }

    /// Writes `rr`; false (and nothing written) when it would pass the limit.
    pub fn record(&mut self, rr: &Rr<'_>) -> bool {
        let mark = self.mark();
        match rr.owner {
            Owner::Query if self.has_question_name => self.pointer(QUESTION_OFFSET),
            Owner::Query => self.buf.push(0),
            Owner::Name(name) => self.domain_name(name, true),
        }
        let rtype = match rr.data {
            Data::A(_) => TYPE_A,
            Data::Aaaa(_) => TYPE_AAAA,
            Data::Srv { .. } => TYPE_SRV,
            Data::Ns(_) => TYPE_NS,
            Data::Soa { .. } => TYPE_SOA,
            Data::Txt(_) => TYPE_TXT,
        };
        self.u16(rtype);
        self.u16(CLASS_IN);
        self.u32(rr.ttl);
        let rdlength_at = self.buf.len();
        self.u16(0);
        match &rr.data {
            Data::A(ip) => self.buf.extend_from_slice(&ip.octets()),
            Data::Aaaa(ip) => self.buf.extend_from_slice(&ip.octets()),
            Data::Srv { port, target } => {
                self.u16(1);
                self.u16(1);
                self.u16(*port);
                // RFC 2782: the target is not compressed (but later names may point to it).
                self.domain_name(*target, false);
            }
            Data::Ns(name) => self.domain_name(*name, true),
            Data::Soa { serial } => {
                self.domain_name(DomainName::Apex(Some("ns")), true);
                self.domain_name(DomainName::Apex(Some("hostmaster")), true);
                self.u32(*serial);
                self.u32(3600); // refresh
                self.u32(600); // retry
                self.u32(86400); // expire
                self.u32(0); // minimum: negative answers are not cached
            }
            Data::Txt(text) => {
                for piece in character_strings(text) {
                    // Each piece is at most 255 bytes by construction.
                    self.buf.push(u8::try_from(piece.len()).unwrap_or(u8::MAX));
                    self.buf.extend_from_slice(piece);
                }
            }
        }
        let rdlength = self.buf.len() - rdlength_at - 2;
        if self.buf.len() > self.limit || rdlength > usize::from(u16::MAX) {
            self.rollback(mark);
            return false;
        }
        self.set_u16(rdlength_at, rdlength as u16);
        true
    }

    /// The OPT pseudo-record (RFC 6891): our payload size, the response code's upper
    /// bits, version 0. Written whatever the limit: [`Writer::new`]'s caller leaves room.
    pub fn opt(&mut self, payload: u16, rcode: u16) {
        self.buf.push(0);
        self.u16(TYPE_OPT);
        self.u16(payload);
        self.buf.push((rcode >> 4) as u8);
        self.buf.push(0); // version
        self.u16(0); // flags: no DO
        self.u16(0); // no options
    }

    /// The header, with the section counts; the message is done.
    pub fn finish(mut self, flags: Flags, counts: [u16; 4]) -> Vec<u8> {
        let mut header = [0u8; QUESTION_OFFSET];
        header[..2].copy_from_slice(&flags.id.to_be_bytes());
        header[2] = 0x80
            | (flags.opcode & 0x0F) << 3
            | u8::from(flags.authoritative) << 2
            | u8::from(flags.truncated) << 1
            | u8::from(flags.recursion_desired);
        header[3] = u8::from(flags.recursion_available) << 7
            | u8::from(flags.checking_disabled) << 4
            | (flags.rcode & 0x0F) as u8;
        for (i, count) in counts.iter().enumerate() {
            header[4 + 2 * i..6 + 2 * i].copy_from_slice(&count.to_be_bytes());
        }
        self.buf[..QUESTION_OFFSET].copy_from_slice(&header);
        self.buf
    }

    fn domain_name(&mut self, name: DomainName<'_>, compress: bool) {
        let mut hex = [0u8; 32];
        let labels = name.labels(self.domain, &mut hex);
        self.name(&labels, compress);
    }

    /// Writes a name: with `compress`, its longest suffix already written becomes a
    /// pointer. Every label written in full is remembered as a pointer target.
    fn name(&mut self, labels: &[&[u8]], compress: bool) {
        for start in 0..labels.len() {
            if compress && let Some(at) = self.find(&labels[start..]) {
                self.write_labels(&labels[..start]);
                self.pointer(at);
                return;
            }
        }
        self.write_labels(labels);
        self.buf.push(0);
    }

    fn write_labels(&mut self, labels: &[&[u8]]) {
        for label in labels {
            if self.buf.len() <= MAX_POINTER {
                self.labels_at.push(self.buf.len() as u16);
            }
            // Labels are at most 63 bytes: names are checked before they get here.
            self.buf.push(u8::try_from(label.len()).unwrap_or(63));
            self.buf.extend_from_slice(label);
        }
    }

    fn pointer(&mut self, at: usize) {
        self.u16(0xC000 | at as u16);
    }

    /// Where a name equal to `labels` (ignoring ASCII case) was written, if anywhere.
    fn find(&self, labels: &[&[u8]]) -> Option<usize> {
        let first = labels.first()?;
        self.labels_at
            .iter()
            .map(|&at| usize::from(at))
            .filter(|&at| self.buf.get(at) == Some(&(first.len() as u8)))
            .find(|&at| self.name_at_is(at, labels))
    }

    /// Whether the name written at `at` (pointers followed) is `labels`.
    fn name_at_is(&self, mut at: usize, labels: &[&[u8]]) -> bool {
        let mut matched = 0;
        // Every pointer we write goes backwards, so this ends; the bound is a backstop.
        for _ in 0..256 {
            let Some(&len) = self.buf.get(at) else {
                return false;
            };
            if len & 0xC0 == 0xC0 {
                let Some(&low) = self.buf.get(at + 1) else {
                    return false;
                };
                at = usize::from(len & 0x3F) << 8 | usize::from(low);
                continue;
            }
            if len == 0 {
                return matched == labels.len();
            }
            let len = usize::from(len);
            let (Some(want), Some(label)) =
                (labels.get(matched), self.buf.get(at + 1..at + 1 + len))
            else {
                return false;
            };
            if !label.eq_ignore_ascii_case(want) {
                return false;
            }
            matched += 1;
            at += 1 + len;
        }
        false
    }

    fn u16(&mut self, value: u16) {
        self.buf.extend_from_slice(&value.to_be_bytes());
    }

    fn u32(&mut self, value: u32) {
        self.buf.extend_from_slice(&value.to_be_bytes());
    }

    fn set_u16(&mut self, at: usize, value: u16) {
        self.buf[at..at + 2].copy_from_slice(&value.to_be_bytes());
    }
}

/// `text` as TXT character strings: pieces of at most 255 bytes (an empty text is one
/// empty string).
fn character_strings(text: &str) -> impl Iterator<Item = &[u8]> {
    let bytes = text.as_bytes();
    let pieces = bytes.len().div_ceil(255).max(1);
    (0..pieces).map(move |i| &bytes[(i * 255).min(bytes.len())..((i + 1) * 255).min(bytes.len())])
}

#[cfg(test)]
mod tests {
    use hickory_proto::op::Message;
    use hickory_proto::rr::RData;

    use super::*;

    fn flags() -> Flags {
        Flags {
            id: 7,
            opcode: 0,
            authoritative: true,
            truncated: false,
            recursion_desired: true,
            recursion_available: false,
            checking_disabled: false,
            rcode: 0,
        }
    }

    #[test]
    fn compressed_names_decode_and_save_bytes() {
        let domain = ["consul"];
        let mut w = Writer::new(512, &domain);
        w.question(&[b"Redis", b"service", b"consul"], 33, 1);
        let target = DomainName::Node {
            node: "n1",
            datacenter: "dc1",
        };
        let srv = Rr {
            owner: Owner::Query,
            ttl: 0,
            data: Data::Srv { port: 80, target },
        };
        assert!(w.record(&srv));
        let a = Rr::address(Owner::Name(target), 0, "10.0.0.1".parse().expect("ip"));
        let before = w.mark().len;
        assert!(w.record(&a));
        assert_eq!(
            w.mark().len - before,
            2 + 10 + 4,
            "the owner is one pointer"
        );
        let soa = Rr {
            owner: Owner::Name(DomainName::Apex(None)),
            ttl: 0,
            data: Data::Soa { serial: 9 },
        };
        assert!(w.record(&soa));
        let bytes = w.finish(flags(), [1, 1, 1, 1]);
        let m = Message::from_vec(&bytes).expect("hickory reads it");
        assert_eq!(m.metadata.id, 7);
        assert_eq!(m.answers[0].name.to_ascii(), "Redis.service.consul.");
        assert!(
            matches!(&m.answers[0].data, RData::SRV(s) if s.target.to_ascii() == "n1.node.dc1.consul.")
        );
        assert_eq!(m.authorities[0].name.to_ascii(), "n1.node.dc1.consul.");
        assert_eq!(m.additionals[0].name.to_ascii(), "consul.");
        assert!(
            matches!(&m.additionals[0].data, RData::SOA(s) if s.mname.to_ascii() == "ns.consul.")
        );
    }

    #[test]
    fn a_record_past_the_limit_is_taken_back() {
        let domain = ["consul"];
        let mut w = Writer::new(12 + 24 + 16, &domain);
        w.question(&[b"web", b"service", b"consul"], 1, 1);
        let a = Rr::address(Owner::Query, 0, "10.0.0.1".parse().expect("ip"));
        assert!(w.record(&a));
        let len = w.mark().len;
        assert!(!w.record(&a));
        assert_eq!(w.mark().len, len);
    }

    #[test]
    fn long_txt_is_split_into_strings() {
        let text = "k=".to_owned() + &"v".repeat(600);
        let pieces: Vec<usize> = character_strings(&text).map(<[u8]>::len).collect();
        assert_eq!(pieces, [255, 255, 92]);
        assert_eq!(character_strings("").count(), 1);
    }
}
