//! Packets that are not good queries: each is answered with an error code or dropped,
//! never a panic.

use proptest::prelude::*;

use super::*;

fn reply(packet: &[u8]) -> Option<Message> {
    answer(packet, Transport::Udp, &catalog(), &DnsConfig::default(), 1)
        .map(|bytes| Message::from_vec(&bytes).expect("our replies decode"))
}

/// A header: id 0xBEEF, the given flag bytes and counts.
fn header(flags: [u8; 2], qd: u16, an: u16, ns: u16, ar: u16) -> Vec<u8> {
    let mut h = vec![0xBE, 0xEF, flags[0], flags[1]];
    for count in [qd, an, ns, ar] {
        h.extend_from_slice(&count.to_be_bytes());
    }
    h
}

fn question(name: &[u8], qtype: u16, class: u16) -> Vec<u8> {
    let mut q = name.to_vec();
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&class.to_be_bytes());
    q
}

const REDIS: &[u8] = b"\x05redis\x07service\x06consul\x00";

fn assert_error(packet: &[u8], code: ResponseCode) {
    let m = reply(packet).expect("an error reply");
    assert_eq!(m.metadata.id, 0xBEEF, "the id is echoed");
    assert_eq!(m.metadata.message_type, MessageType::Response);
    assert_eq!(m.metadata.response_code, code, "{m}");
    assert!(m.answers.is_empty());
}

#[test]
fn packets_too_short_for_a_header_are_dropped() {
    for len in [0, 1, 5, 11] {
        assert!(reply(&vec![0x42; len]).is_none(), "{len} bytes");
    }
}

#[test]
fn responses_are_never_answered() {
    let mut packet = header([0x84, 0x00], 1, 0, 0, 0);
    packet.extend(question(REDIS, 1, 1));
    assert!(reply(&packet).is_none(), "answering responses makes loops");
}

#[test]
fn a_header_without_a_question_is_formerr() {
    assert_error(&header([0x01, 0x00], 0, 0, 0, 0), ResponseCode::FormErr);
}

#[test]
fn a_truncated_or_garbage_body_is_formerr() {
    let mut packet = header([0x01, 0x00], 1, 0, 0, 0);
    packet.extend(&question(REDIS, 1, 1)[..10]);
    assert_error(&packet, ResponseCode::FormErr);
    let mut packet = header([0x01, 0x00], 1, 0, 0, 0);
    packet.extend([0xFF; 40]);
    assert_error(&packet, ResponseCode::FormErr);
    // A label longer than 63 bytes.
    let mut packet = header([0x01, 0x00], 1, 0, 0, 0);
    let mut name = vec![64];
    name.extend([b'a'; 64]);
    name.push(0);
    packet.extend(question(&name, 1, 1));
    assert_error(&packet, ResponseCode::FormErr);
    // Records promised in ANSWER that are not there.
    let mut packet = header([0x01, 0x00], 1, 3, 0, 0);
    packet.extend(question(REDIS, 1, 1));
    assert_error(&packet, ResponseCode::FormErr);
}

#[test]
fn compression_pointer_loops_are_formerr() {
    // A name that points at itself (offset 12 is where it starts).
    let mut packet = header([0x01, 0x00], 1, 0, 0, 0);
    packet.extend(question(&[0xC0, 0x0C], 1, 1));
    assert_error(&packet, ResponseCode::FormErr);
    // A label, then a pointer back to that label: a loop through one hop.
    let mut packet = header([0x01, 0x00], 1, 0, 0, 0);
    packet.extend(question(&[0x01, b'a', 0xC0, 0x0C], 1, 1));
    assert_error(&packet, ResponseCode::FormErr);
    // A pointer forward, past the end.
    let mut packet = header([0x01, 0x00], 1, 0, 0, 0);
    packet.extend(question(&[0xC0, 0xFF], 1, 1));
    assert_error(&packet, ResponseCode::FormErr);
}

#[test]
fn several_questions_are_formerr() {
    let mut packet = header([0x01, 0x00], 2, 0, 0, 0);
    packet.extend(question(REDIS, 1, 1));
    packet.extend(question(REDIS, 33, 1));
    assert_error(&packet, ResponseCode::FormErr);
}

#[test]
fn other_opcodes_are_not_implemented() {
    for opcode in [1u8, 2, 4, 5] {
        let mut packet = header([opcode << 3, 0x00], 1, 0, 0, 0);
        packet.extend(question(REDIS, 1, 1));
        assert_error(&packet, ResponseCode::NotImp);
    }
}

#[test]
fn other_classes_are_refused() {
    let mut packet = header([0x01, 0x00], 1, 0, 0, 0);
    packet.extend(question(REDIS, 1, 3)); // CH
    assert_error(&packet, ResponseCode::Refused);
    let mut packet = header([0x01, 0x00], 1, 0, 0, 0);
    packet.extend(question(REDIS, 1, 255)); // ANY is fine
    assert_eq!(reply(&packet).expect("reply").answers.len(), 2);
}

#[test]
fn an_unknown_edns_version_is_badvers() {
    let mut packet = header([0x01, 0x00], 1, 0, 0, 1);
    packet.extend(question(REDIS, 1, 1));
    // OPT: root name, type 41, payload 1232, ext-rcode 0, version 1, flags 0, no data.
    packet.extend([
        0x00, 0x00, 41, 0x04, 0xD0, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
    ]);
    let m = reply(&packet).expect("reply");
    // BADVERS is 16, which decodes as BADSIG: they share the number (RFC 6891, 8945).
    assert_eq!(u16::from(m.metadata.response_code), 16);
    assert_eq!(m.edns.as_ref().map(Edns::version), Some(0));
}

#[test]
fn two_opt_records_are_formerr() {
    let mut packet = header([0x01, 0x00], 1, 0, 0, 2);
    packet.extend(question(REDIS, 1, 1));
    for _ in 0..2 {
        packet.extend([
            0x00, 0x00, 41, 0x04, 0xD0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        ]);
    }
    assert_error(&packet, ResponseCode::FormErr);
}

#[test]
fn a_good_query_decoded_by_hand_is_answered() {
    let mut packet = header([0x01, 0x00], 1, 0, 0, 0);
    packet.extend(question(REDIS, 1, 1));
    let m = reply(&packet).expect("reply");
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert_eq!(ips(&m).len(), 2);
}

/// Whatever `packet` is, the resolver returns: a reply that decodes as a response to
/// the same id, or nothing.
fn survives(packet: &[u8]) {
    for transport in [Transport::Udp, Transport::Tcp] {
        if let Some(bytes) = answer(packet, transport, &catalog(), &DnsConfig::default(), 3) {
            let m = Message::from_vec(&bytes).expect("our replies decode");
            assert_eq!(m.metadata.message_type, MessageType::Response);
            assert_eq!(m.metadata.id.to_be_bytes(), [packet[0], packet[1]]);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(packet in proptest::collection::vec(any::<u8>(), 0..600)) {
        survives(&packet);
    }

    #[test]
    fn mutated_queries_never_panic(
        qtype in prop::sample::select(vec![RecordType::A, RecordType::SRV, RecordType::AAAA, RecordType::TXT]),
        edns in prop::option::of(512u16..4096),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        cut in any::<usize>(),
    ) {
        let mut packet = query_bytes("cache.redis.service.consul", qtype, edns);
        for (at, byte) in flips {
            let at = at % packet.len();
            packet[at] = byte;
        }
        packet.truncate(12.max(cut % (packet.len() + 1)));
        survives(&packet);
    }
}
