//! Hexadecimal text: the one encoder and decoder for token ids and hashes, store cursors,
//! webhook signatures, JA3 hashes and auditd's hex-encoded fields.

const LOWER: &[u8; 16] = b"0123456789abcdef";
const UPPER: &[u8; 16] = b"0123456789ABCDEF";

fn encode_with(b: &[u8], digits: &[u8; 16]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push(digits[usize::from(x >> 4)] as char);
        s.push(digits[usize::from(x & 0xf)] as char);
    }
    s
}

/// Lower-case hex of `b`.
pub fn encode(b: &[u8]) -> String {
    encode_with(b, LOWER)
}

/// Upper-case hex of `b` (as auditd writes `proctitle`).
pub fn encode_upper(b: &[u8]) -> String {
    encode_with(b, UPPER)
}

fn nibble(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// The bytes `s` spells in hex digits of either case; `None` for an odd length or any other
/// character (signs and spaces included).
pub fn decode(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if b.len() % 2 != 0 {
        return None;
    }
    b.chunks_exact(2)
        .map(|p| Some(nibble(p[0])? << 4 | nibble(p[1])?))
        .collect()
}

/// Exactly `N` bytes of hex, as [`decode`] reads them.
pub fn decode_array<const N: usize>(s: &str) -> Option<[u8; N]> {
    decode(s)?.try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_in_both_cases_and_refuses_what_is_not_hex() {
        let b = [0x00, 0x0f, 0xa5, 0xff];
        assert_eq!(encode(&b), "000fa5ff");
        assert_eq!(encode_upper(&b), "000FA5FF");
        assert_eq!(decode("000fa5ff"), Some(b.to_vec()));
        assert_eq!(decode("000FA5FF"), Some(b.to_vec()));
        assert_eq!(decode(""), Some(Vec::new()));
        assert_eq!(decode_array::<4>("000fa5ff"), Some(b));
        for bad in ["0", "zz", "+f", " f", "0é"] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
        assert_eq!(decode_array::<2>("000fa5ff"), None);
    }
}
