//! Standard base64 decoding, for the `Data` of log and file stream frames (Go encodes
//! `[]byte` in JSON as padded standard base64).

/// Decodes standard base64; padding is optional and ASCII whitespace is skipped.
pub(crate) fn decode(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    let mut padding = 0usize;
    for (pos, c) in text.bytes().enumerate() {
        let sextet = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => {
                padding += 1;
                continue;
            }
            c if c.is_ascii_whitespace() => continue,
            _ => return Err(format!("invalid base64 byte {c:#04x} at {pos}")),
        };
        if padding > 0 {
            return Err(format!("base64 data after padding at {pos}"));
        }
        acc = (acc << 6) | u32::from(sextet);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if bits >= 6 {
        return Err("truncated base64 data".to_owned());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_padded_and_unpadded() {
        assert_eq!(decode("").expect("empty"), b"");
        assert_eq!(decode("aGk=").expect("hi"), b"hi");
        assert_eq!(decode("aGk").expect("hi unpadded"), b"hi");
        assert_eq!(decode("aGVsbG8K").expect("hello"), b"hello\n");
        assert_eq!(decode("AP/+").expect("binary"), [0x00, 0xff, 0xfe]);
        assert_eq!(decode("aGVs\nbG8K").expect("wrapped"), b"hello\n");
    }

    #[test]
    fn rejects_garbage() {
        assert!(decode("a*b=").is_err());
        assert!(decode("aGk=aGk=").is_err());
        assert!(decode("a").is_err());
    }
}
