//! The gRPC health protocol a grpc check needs, without I/O: the
//! `grpc.health.v1.Health/Check` request's bytes, the length-prefixed message framing,
//! the response's protobuf, and the names of statuses and codes for the output.
//!
//! The two messages are tiny, so they are encoded by hand rather than generated:
//! `HealthCheckRequest { string service = 1; }` and
//! `HealthCheckResponse { ServingStatus status = 1; }`.

use std::fmt;
use std::time::Duration;

use super::error::CheckError;

/// The health RPC's HTTP/2 path.
pub const HEALTH_CHECK_PATH: &str = "/grpc.health.v1.Health/Check";

/// The largest response body read: a health answer is a few bytes, so a server that
/// sends more than this is not speaking the health protocol.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Protobuf wire types.
const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LENGTH_DELIMITED: u8 = 2;
const FIXED32: u8 = 5;

/// `HealthCheckRequest`'s `service` (field 1, length-delimited) and
/// `HealthCheckResponse`'s `status` (field 1, varint).
const SERVICE_TAG: u8 = (1 << 3) | LENGTH_DELIMITED;
const STATUS_FIELD: u64 = 1;

/// The gRPC message prefix: a compressed flag and a big-endian length.
const PREFIX_BYTES: usize = 5;

/// The protobuf of `HealthCheckRequest { service }`. Proto3 leaves a default (empty)
/// string out, so the request for the server's overall health is empty.
pub fn encode_health_request(service: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(service.len() + 6);
    if !service.is_empty() {
        bytes.push(SERVICE_TAG);
        put_varint(&mut bytes, service.len() as u64);
        bytes.extend_from_slice(service.as_bytes());
    }
    bytes
}

/// One gRPC message on the wire: uncompressed, with its length in front.
pub fn frame(message: &[u8]) -> Result<Vec<u8>, CheckError> {
    let length = u32::try_from(message.len())
        .map_err(|_| CheckError::InvalidRequest("grpc message too large".to_owned()))?;
    let mut bytes = Vec::with_capacity(PREFIX_BYTES + message.len());
    bytes.push(0);
    bytes.extend_from_slice(&length.to_be_bytes());
    bytes.extend_from_slice(message);
    Ok(bytes)
}

/// The first message of a response body, or `None` when the body holds no complete
/// one. A unary answer has exactly one; anything after it is ignored.
pub fn first_message(body: &[u8]) -> Result<Option<&[u8]>, CheckError> {
    let Some((prefix, rest)) = body.split_first_chunk::<PREFIX_BYTES>() else {
        return Ok(None);
    };
    // The request offered no grpc-accept-encoding, so a compressed answer is wrong.
    if prefix[0] != 0 {
        return Err(malformed("compressed grpc message"));
    }
    let length = u32::from_be_bytes([prefix[1], prefix[2], prefix[3], prefix[4]]) as usize;
    Ok(rest.get(..length))
}

/// The `status` of a `HealthCheckResponse`, skipping fields it does not know (as
/// protobuf does); a message without it is UNKNOWN, proto3's default.
pub fn decode_health_response(message: &[u8]) -> Result<ServingStatus, CheckError> {
    let mut status = ServingStatus::UNKNOWN;
    let mut rest = message;
    while !rest.is_empty() {
        let key = take_varint(&mut rest)?;
        let field = key >> 3;
        // The low three bits of the key; the mask makes the cast lossless.
        let wire_type = (key & 0x7) as u8;
        match wire_type {
            VARINT => {
                let value = take_varint(&mut rest)?;
                if field == STATUS_FIELD {
                    // Enums are int32 on the wire, sign-extended to 64 bits when
                    // negative: protobuf keeps the low 32 bits.
                    status = ServingStatus(value as u32 as i32);
                }
            }
            FIXED64 => skip(&mut rest, 8)?,
            LENGTH_DELIMITED => {
                let length = take_varint(&mut rest)?;
                let length = usize::try_from(length)
                    .map_err(|_| malformed("protobuf field length overflows"))?;
                skip(&mut rest, length)?;
            }
            FIXED32 => skip(&mut rest, 4)?,
            other => return Err(malformed(&format!("protobuf wire type {other}"))),
        }
    }
    Ok(status)
}

/// A `grpc-timeout` header value: the deadline in milliseconds (at most eight
/// digits, as the spec allows), rounded up so that a deadline is never shortened.
pub fn timeout_header(timeout: Duration) -> String {
    let millis = timeout.as_nanos().div_ceil(1_000_000).clamp(1, 99_999_999);
    format!("{millis}m")
}

/// A `grpc-message` as sent: percent-encoded UTF-8. Invalid escapes are kept as
/// they are, as grpc-go does.
pub fn decode_grpc_message(raw: &[u8]) -> String {
    let mut bytes = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%'
            && let Some(hex) = raw.get(i + 1..i + 3)
            && let Some(byte) = std::str::from_utf8(hex)
                .ok()
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
        {
            bytes.push(byte);
            i += 3;
            continue;
        }
        bytes.push(raw[i]);
        i += 1;
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// `HealthCheckResponse.ServingStatus`; only SERVING is healthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ServingStatus(pub i32);

impl ServingStatus {
    pub const UNKNOWN: Self = Self(0);
    pub const SERVING: Self = Self(1);
    pub const NOT_SERVING: Self = Self(2);
    /// Only from `Watch`, but a server may answer it to `Check` too.
    pub const SERVICE_UNKNOWN: Self = Self(3);

    pub fn is_serving(self) -> bool {
        self == Self::SERVING
    }
}

impl fmt::Display for ServingStatus {
    /// The enum's protobuf name, or its number when it has none (as Go prints it).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::UNKNOWN => f.write_str("UNKNOWN"),
            Self::SERVING => f.write_str("SERVING"),
            Self::NOT_SERVING => f.write_str("NOT_SERVING"),
            Self::SERVICE_UNKNOWN => f.write_str("SERVICE_UNKNOWN"),
            Self(other) => write!(f, "{other}"),
        }
    }
}

/// A `grpc-status` code; 0 is OK.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GrpcCode(pub u32);

impl GrpcCode {
    pub const OK: Self = Self(0);
    /// What a client reports for a status it cannot read (grpc-go does the same).
    pub const UNKNOWN: Self = Self(2);
    pub const UNIMPLEMENTED: Self = Self(12);

    /// The `grpc-status` header or trailer's value.
    pub fn parse(value: &[u8]) -> Result<Self, CheckError> {
        std::str::from_utf8(value)
            .ok()
            .and_then(|text| text.parse().ok())
            .map(Self)
            .ok_or_else(|| malformed("grpc-status is not a number"))
    }
}

impl fmt::Display for GrpcCode {
    /// The code's name as grpc-go prints it (`Unimplemented`), or `Code(N)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self.0 {
            0 => "OK",
            1 => "Canceled",
            2 => "Unknown",
            3 => "InvalidArgument",
            4 => "DeadlineExceeded",
            5 => "NotFound",
            6 => "AlreadyExists",
            7 => "PermissionDenied",
            8 => "ResourceExhausted",
            9 => "FailedPrecondition",
            10 => "Aborted",
            11 => "OutOfRange",
            12 => "Unimplemented",
            13 => "Internal",
            14 => "Unavailable",
            15 => "DataLoss",
            16 => "Unauthenticated",
            other => return write!(f, "Code({other})"),
        };
        f.write_str(name)
    }
}

fn put_varint(bytes: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        // The low seven bits with the continuation bit; the mask makes it lossless.
        bytes.push((value & 0x7f) as u8 | 0x80);
        value >>= 7;
    }
    bytes.push(value as u8);
}

fn take_varint(rest: &mut &[u8]) -> Result<u64, CheckError> {
    let mut value = 0u64;
    for (i, &byte) in rest.iter().enumerate().take(10) {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            *rest = &rest[i + 1..];
            return Ok(value);
        }
    }
    Err(malformed("truncated or overlong protobuf varint"))
}

fn skip(rest: &mut &[u8], n: usize) -> Result<(), CheckError> {
    match rest.get(n..) {
        Some(after) => {
            *rest = after;
            Ok(())
        }
        None => Err(malformed("truncated protobuf field")),
    }
}

fn malformed(what: &str) -> CheckError {
    CheckError::MalformedResponse(what.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_request_encodes_the_service_as_field_one() {
        assert_eq!(encode_health_request(""), Vec::<u8>::new());
        assert_eq!(encode_health_request("db"), b"\x0a\x02db".to_vec());
        // 300 bytes need a two-byte varint: 300 = 0b10_0101100 -> 0xac 0x02.
        let long = "s".repeat(300);
        let bytes = encode_health_request(&long);
        assert_eq!(&bytes[..3], &[0x0a, 0xac, 0x02]);
        assert_eq!(&bytes[3..], long.as_bytes());
    }

    #[test]
    fn messages_are_length_prefixed() {
        assert_eq!(frame(b"").expect("frame"), vec![0, 0, 0, 0, 0]);
        let framed = frame(b"\x0a\x02db").expect("frame");
        assert_eq!(framed, b"\x00\x00\x00\x00\x04\x0a\x02db".to_vec());
        assert_eq!(
            first_message(&framed).expect("unframe"),
            Some(&b"\x0a\x02db"[..])
        );
        // Not all there yet, or followed by more.
        assert_eq!(first_message(&framed[..3]).expect("short prefix"), None);
        assert_eq!(first_message(&framed[..7]).expect("short message"), None);
        let mut two = framed.clone();
        two.extend_from_slice(&framed);
        assert_eq!(first_message(&two).expect("two"), Some(&b"\x0a\x02db"[..]));
        assert!(matches!(
            first_message(b"\x01\x00\x00\x00\x00"),
            Err(CheckError::MalformedResponse(_))
        ));
    }

    #[test]
    fn health_response_status_is_decoded() {
        assert_eq!(
            decode_health_response(b"").expect("empty"),
            ServingStatus::UNKNOWN
        );
        assert_eq!(
            decode_health_response(b"\x08\x01").expect("serving"),
            ServingStatus::SERVING
        );
        assert_eq!(
            decode_health_response(b"\x08\x02").expect("not serving"),
            ServingStatus::NOT_SERVING
        );
        assert_eq!(
            decode_health_response(b"\x08\x03").expect("unknown service"),
            ServingStatus::SERVICE_UNKNOWN
        );
        // Unknown fields of every wire type are skipped; the last status wins.
        let mixed = b"\x08\x02\x12\x03abc\x19\x01\x02\x03\x04\x05\x06\x07\x08\
                      \x25\x01\x02\x03\x04\x18\x96\x01\x08\x01";
        assert_eq!(
            decode_health_response(mixed).expect("mixed"),
            ServingStatus::SERVING
        );
        // A negative enum is ten bytes on the wire.
        let negative = b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01";
        assert_eq!(
            decode_health_response(negative).expect("negative"),
            ServingStatus(-1)
        );
        for broken in [
            &b"\x08"[..],
            b"\x08\x80",
            b"\x12\x05ab",
            b"\x19\x01",
            b"\x0b",
            b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
        ] {
            assert!(
                matches!(
                    decode_health_response(broken),
                    Err(CheckError::MalformedResponse(_))
                ),
                "{broken:?}"
            );
        }
    }

    #[test]
    fn names_for_the_output() {
        assert_eq!(ServingStatus::NOT_SERVING.to_string(), "NOT_SERVING");
        assert_eq!(
            ServingStatus::SERVICE_UNKNOWN.to_string(),
            "SERVICE_UNKNOWN"
        );
        assert_eq!(ServingStatus(7).to_string(), "7");
        assert!(ServingStatus::SERVING.is_serving());
        assert!(!ServingStatus::UNKNOWN.is_serving());
        assert_eq!(GrpcCode::UNIMPLEMENTED.to_string(), "Unimplemented");
        assert_eq!(GrpcCode(16).to_string(), "Unauthenticated");
        assert_eq!(GrpcCode(42).to_string(), "Code(42)");
        assert_eq!(GrpcCode::parse(b"12").expect("code"), GrpcCode(12));
        assert!(GrpcCode::parse(b"x").is_err());
    }

    #[test]
    fn grpc_message_is_percent_decoded() {
        assert_eq!(decode_grpc_message(b"plain"), "plain");
        assert_eq!(
            decode_grpc_message(b"unknown service %22db%22 %E2%9C%93"),
            "unknown service \"db\" \u{2713}"
        );
        assert_eq!(decode_grpc_message(b"50%zz off 100%"), "50%zz off 100%");
    }

    #[test]
    fn timeout_header_rounds_up_to_milliseconds() {
        assert_eq!(timeout_header(Duration::from_secs(10)), "10000m");
        assert_eq!(timeout_header(Duration::from_micros(1500)), "2m");
        assert_eq!(timeout_header(Duration::ZERO), "1m");
        assert_eq!(timeout_header(Duration::from_secs(1_000_000)), "99999999m");
    }
}
