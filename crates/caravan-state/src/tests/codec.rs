//! Whole-state encoding for Raft snapshots: a decoded store equals the original and
//! goes on applying commands the same way.

use super::*;

fn kv(key: &str, value: &str) -> Command {
    Command::KvSet {
        key: key.to_owned(),
        value: value.as_bytes().to_vec(),
        flags: 7,
        cas: None,
    }
}

/// A store after the full command log, live services and a few keys.
fn busy_store() -> StateStore {
    let mut s = StateStore::new();
    let mut log = command_log();
    log.push(register(job("api", 1), Some(eval("e5", "api"))));
    log.push(place("e5", vec![alloc("a5", "api", "n1", "e5")]));
    log.push(services::upsert(vec![services::reg("a5", "api", &["v1"])]));
    log.push(kv("config/a", "1"));
    log.push(kv("config/b", "2"));
    for (i, cmd) in log.into_iter().enumerate() {
        s.apply(i as u64 + 1, cmd).expect("command applies");
    }
    s
}

#[test]
fn a_decoded_store_equals_the_original() {
    let original = busy_store();
    let snap = original.snapshot();
    let decoded = StateStore::decode(&snap.encode()).expect("decodes");
    let back = decoded.snapshot();
    // Every table and index, secondary indexes included.
    assert_eq!(back, snap);
    // Spot checks of what the comparison covers, so an empty store cannot pass.
    assert_eq!(back.jobs().count(), 2);
    assert_eq!(back.allocs().count(), 2);
    assert_eq!(back.service_registrations().count(), 2);
    assert_eq!(
        back.kv_get("config/b").map(|e| e.value.clone()),
        Some(b"2".to_vec())
    );
    assert_eq!(back.latest_index(), snap.latest_index());
    for table in Table::ALL {
        assert_eq!(back.index(table), snap.index(table), "{table:?}");
    }
    // Encoding is deterministic: the same state gives the same bytes.
    assert_eq!(back.encode(), snap.encode());
}

#[test]
fn a_decoded_store_applies_commands_identically() {
    let mut original = busy_store();
    let mut decoded = StateStore::decode(&original.snapshot().encode()).expect("decodes");
    let next = original.latest_index() + 1;
    let more = vec![
        client("a5", "running"),
        kv("config/a", "3"),
        Command::KvSet {
            key: "config/b".to_owned(),
            value: b"cas".to_vec(),
            flags: 0,
            cas: Some(1),
        },
        Command::DeleteServicesByAlloc {
            alloc_ids: vec![AllocId::from("a5")],
        },
        register(job("api", 2), Some(eval("e6", "api"))),
    ];
    for (i, cmd) in more.into_iter().enumerate() {
        let index = next + i as u64;
        assert_eq!(
            original.apply(index, cmd.clone()),
            decoded.apply(index, cmd),
            "command {i}"
        );
    }
    assert_eq!(original.snapshot(), decoded.snapshot());
}

#[test]
fn garbage_and_unknown_formats_are_refused() {
    assert!(matches!(
        StateStore::decode(b"not json"),
        Err(DecodeError::Malformed(_))
    ));
    assert!(matches!(
        StateStore::decode(br#"{"format": 99, "tables": {}}"#),
        Err(DecodeError::UnsupportedVersion { found: 99, .. })
    ));
}

#[test]
fn an_empty_store_round_trips() {
    let empty = StateStore::new().snapshot();
    let back = StateStore::decode(&empty.encode()).expect("decodes");
    assert_eq!(back.snapshot(), empty);
}
