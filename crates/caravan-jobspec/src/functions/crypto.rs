//! Hashes and identifiers: md5, sha1, sha256, sha512, uuidv4, uuidv5; and bcrypt and
//! rsadecrypt, which are declared only to fail with a clear message.

use std::fs::File;
use std::io::Read;

use hcl::Value;
use hcl::eval::FuncArgs;
use sha1::Digest;

use super::{Args, FnResult};

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(super) fn md5(args: FuncArgs) -> FnResult {
    let a = Args::new("md5", &args);
    Ok(Value::String(hex(&md5::Md5::digest(
        a.string(0)?.as_bytes(),
    ))))
}

pub(super) fn sha1(args: FuncArgs) -> FnResult {
    let a = Args::new("sha1", &args);
    Ok(Value::String(hex(&sha1::Sha1::digest(
        a.string(0)?.as_bytes(),
    ))))
}

pub(super) fn sha256(args: FuncArgs) -> FnResult {
    let a = Args::new("sha256", &args);
    Ok(Value::String(hex(&sha2::Sha256::digest(
        a.string(0)?.as_bytes(),
    ))))
}

pub(super) fn sha512(args: FuncArgs) -> FnResult {
    let a = Args::new("sha512", &args);
    Ok(Value::String(hex(&sha2::Sha512::digest(
        a.string(0)?.as_bytes(),
    ))))
}

pub(super) fn bcrypt(_args: FuncArgs) -> FnResult {
    Err("bcrypt: `bcrypt` is not supported by caravan".to_string())
}

pub(super) fn rsadecrypt(_args: FuncArgs) -> FnResult {
    Err("rsadecrypt: `rsadecrypt` is not supported by caravan".to_string())
}

/// A random (version 4) UUID from 16 bytes of `/dev/urandom`.
pub(super) fn uuidv4(_args: FuncArgs) -> FnResult {
    let mut bytes = [0u8; 16];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(|e| format!("uuidv4: cannot read /dev/urandom: {e}"))?;
    Ok(Value::String(uuid_text(stamp(bytes, 4))))
}

/// A name-based (version 5, SHA-1) UUID. The namespace is `dns`, `url`, `oid`, `x500`
/// or a UUID.
pub(super) fn uuidv5(args: FuncArgs) -> FnResult {
    let a = Args::new("uuidv5", &args);
    let (namespace, name) = (a.string(0)?, a.string(1)?);
    let ns = match namespace.as_str() {
        "dns" => parse_uuid("6ba7b810-9dad-11d1-80b4-00c04fd430c8"),
        "url" => parse_uuid("6ba7b811-9dad-11d1-80b4-00c04fd430c8"),
        "oid" => parse_uuid("6ba7b812-9dad-11d1-80b4-00c04fd430c8"),
        "x500" => parse_uuid("6ba7b814-9dad-11d1-80b4-00c04fd430c8"),
        other => parse_uuid(other),
    }
    .ok_or_else(|| {
        a.err(format_args!(
            "uuidv5() doesn't support namespace {namespace:?}"
        ))
    })?;
    let mut hasher = sha1::Sha1::new();
    hasher.update(ns);
    hasher.update(name.as_bytes());
    let digest = hasher.finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Ok(Value::String(uuid_text(stamp(bytes, 5))))
}

/// Sets the version nibble and the RFC 4122 variant bits.
fn stamp(mut bytes: [u8; 16], version: u8) -> [u8; 16] {
    bytes[6] = (bytes[6] & 0x0f) | (version << 4);
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    bytes
}

fn uuid_text(b: [u8; 16]) -> String {
    format!(
        "{}-{}-{}-{}-{}",
        hex(&b[0..4]),
        hex(&b[4..6]),
        hex(&b[6..8]),
        hex(&b[8..10]),
        hex(&b[10..16])
    )
}

/// The 16 bytes of a UUID written as 32 hex digits with or without the usual dashes.
fn parse_uuid(text: &str) -> Option<[u8; 16]> {
    let digits: Vec<u8> = text.bytes().filter(|b| *b != b'-').collect();
    let dashed = text.len() == 36
        && [8, 13, 18, 23]
            .iter()
            .all(|&i| text.as_bytes().get(i) == Some(&b'-'));
    if digits.len() != 32 || !(dashed || text.len() == 32) {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, pair) in digits.chunks(2).enumerate() {
        let pair = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(pair, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{fails, ok, s};

    #[test]
    fn digests_match_known_vectors() {
        assert_eq!(
            ok(r#"md5("hello world")"#),
            s("5eb63bbbe01eeed093cb22bb8f5acdc3")
        );
        assert_eq!(
            ok(r#"sha1("hello world")"#),
            s("2aae6c35c94fcfb415dbe95f408b9ce91ee846ed")
        );
        assert_eq!(
            ok(r#"sha256("hello world")"#),
            s("b94d27b9934d3e08a52e52d7da7dabfac484efe37a5380ee9088f7ace2efcde9")
        );
        assert_eq!(
            ok(r#"sha512("hello world")"#),
            s(
                "309ecc489c12d6eb4cc40f50c902f2b4d0ed77ee511a7c7a9bcd3ca86d4cd86f989dd35bc5ff499670da34255b45b0cfd830e81f605dcf7dc5542e93ae9cd76f"
            )
        );
        assert_eq!(ok(r#"md5(12)"#), ok(r#"md5("12")"#));
        fails(
            "sha256([])",
            "sha256: argument 1: cannot convert list to string",
        );
    }

    #[test]
    fn uuidv4_is_random_and_well_formed() {
        let a = ok("uuidv4()");
        let b = ok("uuidv4()");
        assert_ne!(a, b);
        let text = a.as_str().expect("a string");
        assert_eq!(text.len(), 36);
        assert_eq!(&text[14..15], "4");
        assert!(matches!(&text[19..20], "8" | "9" | "a" | "b"), "{text}");
        fails("uuidv4(1)", "expected 0 positional arguments, got 1");
    }

    #[test]
    fn uuidv5_is_deterministic() {
        assert_eq!(
            ok(r#"uuidv5("dns", "www.terraform.io")"#),
            s("a5008fae-b28c-5ba5-96cd-82b4c53552d6")
        );
        assert_eq!(
            ok(r#"uuidv5("url", "https://www.terraform.io/")"#),
            s("9db6f67c-dd95-5ea0-aa5b-e70e5c5f7cf5")
        );
        assert_eq!(
            ok(r#"uuidv5("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "www.terraform.io")"#),
            s("a5008fae-b28c-5ba5-96cd-82b4c53552d6")
        );
        fails(
            r#"uuidv5("bogus", "x")"#,
            "uuidv5: uuidv5() doesn't support namespace \"bogus\"",
        );
    }
}
