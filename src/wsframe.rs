//! WebSocket framing (RFC 6455): the frame header both sides write
//! ([`header`]; the server's own framing, `server::frame`, builds on it),
//! and client frames for clients written by hand: the load generator and the
//! tests' wire-level clients, so a client can be cheaper (the load
//! generator) or misbehave on purpose (a peer that never answers pings, a
//! frame cut in pieces); and, *1.2*, the inflation of a compressed server
//! message ([`inflate`]).

/// Encodes a client text frame: FIN, masked with a zero key, so the payload
/// goes out as it is.
pub fn masked_text(payload: &[u8]) -> Vec<u8> {
    frame(0x81, [0; 4], payload)
}

/// Encodes a client frame with `opcode`, FIN as given, masked with the key
/// of RFC 6455's examples (so the payload is really scrambled).
pub fn masked(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
    frame(
        opcode | if fin { 0x80 } else { 0 },
        [0x37, 0xfa, 0x21, 0x3d],
        payload,
    )
}

/// A frame header on the stack: `first` (FIN, RSV and opcode bits), the
/// mask bit when `masked` (client frames), and `len` in the shortest of its
/// three forms; returns the bytes and how many of them are used. A masked
/// frame's 4-byte key follows; the caller writes it.
pub fn head(first: u8, masked: bool, len: usize) -> ([u8; 10], usize) {
    let mut out = [0u8; 10];
    out[0] = first;
    let mask = if masked { 0x80 } else { 0 };
    if len < 126 {
        out[1] = mask | len as u8;
        (out, 2)
    } else if len <= u16::MAX as usize {
        out[1] = mask | 126;
        out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        (out, 4)
    } else {
        out[1] = mask | 127;
        out[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        (out, 10)
    }
}

/// Appends a frame header ([`head`]).
pub fn header(first: u8, masked: bool, len: usize, out: &mut Vec<u8>) {
    let (bytes, n) = head(first, masked, len);
    out.extend_from_slice(&bytes[..n]);
}

/// *1.2*: one server message sent compressed (`permessage-deflate`, RSV1;
/// the server keeps no context, so each inflates alone) inflated into
/// `out` by `d`, reset first: the RFC 7692 tail is put back here.
pub fn inflate(
    d: &mut flate2::Decompress,
    payload: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), String> {
    d.reset(false);
    out.clear();
    for input in [payload, &[0, 0, 0xff, 0xff][..]] {
        let start = d.total_in();
        loop {
            out.reserve(4 * input.len().max(256));
            let read = (d.total_in() - start) as usize;
            d.decompress_vec(&input[read..], out, flate2::FlushDecompress::Sync)
                .map_err(|e| e.to_string())?;
            if (d.total_in() - start) as usize == input.len() && out.len() < out.capacity() {
                break;
            }
        }
    }
    Ok(())
}

fn frame(first: u8, key: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 14);
    header(first, true, payload.len(), &mut out);
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i & 3]));
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
