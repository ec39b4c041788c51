//! WebSocket framing (RFC 6455) for clients written by hand: the load
//! generator and the tests' wire-level clients. The server reads and writes
//! through tungstenite; these exist so a client can be cheaper (the load
//! generator) or misbehave on purpose (a peer that never answers pings).

/// Encodes a client text frame: FIN, masked with a zero key, so the payload
/// goes out as it is.
pub fn masked_text(payload: &[u8]) -> Vec<u8> {
    let len = payload.len();
    let mut out = Vec::with_capacity(len + 14);
    out.push(0x81);
    if len < 126 {
        out.push(0x80 | len as u8);
    } else if len <= u16::MAX as usize {
        out.push(0x80 | 126);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0x80 | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::masked_text;

    #[test]
    fn each_length_form_has_its_header_and_a_zero_mask() {
        assert_eq!(masked_text(b"hi"), [0x81, 0x82, 0, 0, 0, 0, b'h', b'i']);
        let mid = masked_text(&[b'x'; 126]);
        assert_eq!(&mid[..8], [0x81, 0x80 | 126, 0, 126, 0, 0, 0, 0]);
        assert_eq!(mid.len(), 8 + 126);
        let big = masked_text(&[b'x'; 65_536]);
        assert_eq!(&big[..2], [0x81, 0x80 | 127]);
        assert_eq!(&big[2..10], 65_536u64.to_be_bytes());
        assert_eq!(big.len(), 14 + 65_536);
    }
}
