//! WebSocket framing on the server side (RFC 6455, and *1.2* RFC 7692's
//! `permessage-deflate`: [`super::deflate`]).
//!
//! Outgoing text frames are a [`Head`] made on the stack at write time in
//! front of the queued JSON: a broadcast is encoded once, as JSON that every
//! transport writes as it is, and the same bytes go to every member's socket.
//! Server frames are unmasked, so nothing in them depends on the connection.
//! Control frames (ping, pong, close) are short and rare, encoded whole
//! ([`encode`]).
//!
//! Incoming frames are parsed by [`FrameReader`] (`reader.rs`) out of bytes
//! the connection read: client frames must be masked, control frames short and whole, and a
//! message (all its fragments) at most [`MAX_FRAME_BYTES`], and as much
//! again once inflated when it came compressed (RSV1 on its first frame,
//! allowed only when the handshake agreed on compression).
//!
//! Why not tungstenite, as before: its writer copies every frame into a
//! per-connection buffer that keeps the capacity of the largest burst, and
//! its reader and writer share one object, so one connection needs two tasks
//! and a lock. `make bench` figures for the change are in the README.

use crate::wsframe;
use bytes::Bytes;

mod reader;

pub use reader::fuzz_client_bytes;
pub(crate) use reader::{Broken, FrameReader, Incoming};

/// Frame opcodes used here.
pub(crate) mod op {
    /// A continuation fragment.
    pub const CONTINUATION: u8 = 0x0;
    /// A text message (UTF-8).
    pub const TEXT: u8 = 0x1;
    /// A binary message.
    pub const BINARY: u8 = 0x2;
    /// Close, with an optional code and reason.
    pub const CLOSE: u8 = 0x8;
    /// Ping.
    pub const PING: u8 = 0x9;
    /// Pong.
    pub const PONG: u8 = 0xA;
}

/// Close code for a frame that breaks the protocol (RFC 6455, 7.4.1).
pub(crate) const CLOSE_PROTOCOL: u16 = 1002;
/// Close code for a text message that is not UTF-8.
pub(crate) const CLOSE_BAD_DATA: u16 = 1007;
/// Longest control-frame payload.
const MAX_CONTROL: usize = 125;

/// The header of an unmasked final frame with `len` bytes of payload.
fn header(opcode: u8, len: usize, out: &mut Vec<u8>) {
    wsframe::header(0x80 | opcode, false, len, out);
}

/// One whole unmasked frame (control frames, which are short and rare).
pub(crate) fn encode(opcode: u8, payload: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(payload.len() + 10);
    header(opcode, payload.len(), &mut out);
    out.extend_from_slice(payload);
    Bytes::from(out)
}

/// The header of a text frame of `len` bytes, on the stack: the connection
/// writes it in front of a queued payload ([`super::outbox`] holds the
/// JSON alone, the same bytes for every transport and every member).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Head {
    /// The header's bytes; the first `len` are used.
    bytes: [u8; 10],
    /// How many are used (2, 4 or 10).
    len: u8,
}

/// RSV1: the message is compressed (RFC 7692).
const RSV1: u8 = 0x40;

impl Head {
    /// A final unmasked text frame's header for a payload of `len` bytes.
    pub(crate) fn text(len: usize) -> Head {
        Head::new(len, false)
    }

    /// The same, with RSV1 set when the payload is `deflated`.
    pub(crate) fn new(len: usize, deflated: bool) -> Head {
        let rsv1 = if deflated { RSV1 } else { 0 };
        let (bytes, n) = wsframe::head(0x80 | rsv1 | op::TEXT, false, len);
        Head {
            bytes,
            len: n as u8,
        }
    }

    /// The bytes to write.
    pub(crate) fn as_slice(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }
}

/// A close frame with `code` and `reason`.
pub(crate) fn close(code: u16, reason: &str) -> Bytes {
    let mut payload = code.to_be_bytes().to_vec();
    payload.extend_from_slice(&reason.as_bytes()[..reason.len().min(MAX_CONTROL - 2)]);
    encode(op::CLOSE, &payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_take_the_shortest_form_for_each_length() {
        for (len, head) in [(0, 2), (125, 2), (126, 4), (65_535, 4), (65_536, 10)] {
            let f = encode(op::TEXT, &vec![b'x'; len]);
            assert_eq!(f.len(), len + head, "length {len}");
            assert_eq!(f[0], 0x81);
        }
        let f = encode(op::TEXT, &[b'x'; 126]);
        assert_eq!(&f[..4], &[0x81, 126, 0, 126]);
    }

    #[test]
    fn a_text_head_and_its_payload_equal_the_whole_frame() {
        for text in ["", "a", &"é".repeat(70), &"x".repeat(70_000)] {
            let mut written = Head::text(text.len()).as_slice().to_vec();
            written.extend_from_slice(text.as_bytes());
            assert_eq!(written, encode(op::TEXT, text.as_bytes()));
        }
    }

    #[test]
    fn a_head_for_a_deflated_payload_sets_rsv1() {
        assert_eq!(Head::new(3, true).as_slice(), [0xC1, 3]);
        assert_eq!(Head::new(3, false).as_slice(), [0x81, 3]);
    }

    #[test]
    fn close_frames_carry_code_and_reason() {
        assert_eq!(&close(4001, "slow")[..], b"\x88\x06\x0f\xa1slow");
    }
}
