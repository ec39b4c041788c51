//! *1.2*: `permessage-deflate` (RFC 7692) on the WebSocket: what is agreed
//! in the handshake ([`negotiate`]), the compressed form of a server frame
//! ([`compress`], made once per frame for every member: see
//! [`super::payload`]), and the bounded inflation of what a client sends
//! compressed ([`Inflater`]).
//!
//! The server never keeps a compression context between messages
//! (`server_no_context_takeover`, always in the answer): a broadcast's
//! compressed bytes cannot depend on the connection, or the frame would be
//! compressed once per member. Each frame is compressed alone, with one
//! compressor per worker thread, reset between frames.
//!
//! What a client compresses is inflated here, at most [`MAX_FRAME_BYTES`]
//! of output whatever the input holds (a decompression bomb costs the
//! limit, then the connection). A client that keeps its context (browsers
//! do) needs an inflater of its own for as long as it is connected; it is
//! made at its first compressed frame, with the smallest window the client
//! can be held to (`client_max_window_bits=9` when it offers the
//! parameter, as Chromium does: 512 bytes of window instead of 32 KiB).
//! A client that offers `client_no_context_takeover` is held to it, and its
//! frames are inflated by the worker thread's inflater: no memory per
//! connection.

use super::frame::CLOSE_BAD_DATA;
use crate::protocol::{CLOSE_TOO_BIG, MAX_FRAME_BYTES};
use bytes::Bytes;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use std::cell::RefCell;

/// The empty stored block a sync flush ends with; RFC 7692 section 7.2.1
/// removes it from every message and the receiver puts it back.
const TAIL: [u8; 4] = [0x00, 0x00, 0xff, 0xff];
/// The window the server compresses with, so the one it accepts a client
/// limiting it to (`server_max_window_bits`): any smaller and the offer is
/// declined (the frame is compressed once for everyone).
const SERVER_WINDOW_BITS: u8 = 15;
/// The window a client that offers `client_max_window_bits` is held to.
/// 9, not 8: zlib (in browsers) turns a raw 8-bit window into 9.
const CLIENT_WINDOW_BITS: u8 = 9;
/// Compression level: zlib's default. A broadcast is compressed once for
/// every member, so the level costs per frame, not per delivery.
const LEVEL: u32 = 6;

/// What the handshake agreed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Agreed {
    /// The client resets its context after each message
    /// (`client_no_context_takeover`).
    pub(crate) client_resets: bool,
    /// The client's window, in bits (what the answer holds it to).
    pub(crate) client_window_bits: u8,
    /// `client_max_window_bits` goes in the answer.
    announce_window: bool,
}

impl Agreed {
    /// The `Sec-WebSocket-Extensions` answer.
    pub(crate) fn header(&self) -> String {
        let mut answer = String::from("permessage-deflate; server_no_context_takeover");
        if self.client_resets {
            answer.push_str("; client_no_context_takeover");
        }
        if self.announce_window {
            answer.push_str(&format!(
                "; client_max_window_bits={}",
                self.client_window_bits
            ));
        }
        answer
    }
}

/// The first `permessage-deflate` offer in the `Sec-WebSocket-Extensions`
/// values that can be accepted, and what accepting it agrees on. An offer
/// with a parameter RFC 7692 does not define, one given twice, or a value
/// out of its range is declined (section 5), as is one that would hold the
/// server to a smaller window than it compresses with; the next offer is
/// tried. `None`: frames go uncompressed.
pub(crate) fn negotiate<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<Agreed> {
    values
        .into_iter()
        .flat_map(|value| value.split(','))
        .find_map(offer)
}

/// One offer (`permessage-deflate; param[=value]; ...`), if acceptable.
fn offer(text: &str) -> Option<Agreed> {
    let mut parts = text.split(';').map(str::trim);
    if !parts.next()?.eq_ignore_ascii_case("permessage-deflate") {
        return None;
    }
    let mut seen: Vec<String> = Vec::new();
    let mut agreed = Agreed {
        client_resets: false,
        client_window_bits: SERVER_WINDOW_BITS,
        announce_window: false,
    };
    for part in parts {
        let (name, value) = match part.split_once('=') {
            Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
            None => (part, None),
        };
        let name = name.to_ascii_lowercase();
        if seen.contains(&name) {
            return None;
        }
        match (name.as_str(), value) {
            ("server_no_context_takeover", None) => {}
            ("client_no_context_takeover", None) => agreed.client_resets = true,
            ("server_max_window_bits", Some(v)) => {
                if window_bits(v)? < SERVER_WINDOW_BITS {
                    return None;
                }
            }
            ("client_max_window_bits", value) => {
                let most = match value {
                    Some(v) => window_bits(v)?,
                    None => SERVER_WINDOW_BITS,
                };
                agreed.client_window_bits = most.min(CLIENT_WINDOW_BITS);
                agreed.announce_window = true;
            }
            _ => return None,
        }
        seen.push(name);
    }
    Some(agreed)
}

/// A window size parameter's value: 8 to 15, digits only (RFC 7692 7.1.2).
fn window_bits(value: &str) -> Option<u8> {
    if value.is_empty() || value.len() > 2 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok().filter(|bits| (8..=15).contains(bits))
}

thread_local! {
    /// This worker thread's compressor (raw deflate), reset for every frame.
    static COMPRESSOR: RefCell<Compress> = RefCell::new(Compress::new(Compression::new(LEVEL), false));
    /// This worker thread's inflater for clients that reset their context.
    static INFLATER: RefCell<Decompress> = RefCell::new(Decompress::new(false));
}

/// `json` compressed as one message with no context (the tail removed),
/// or `None` when that is not smaller.
pub(crate) fn compress(json: &[u8]) -> Option<Bytes> {
    COMPRESSOR.with(|c| {
        let mut c = c.borrow_mut();
        c.reset();
        let mut out = Vec::with_capacity(json.len() / 2 + 64);
        loop {
            let read = c.total_in() as usize;
            out.reserve(64.max(json.len() / 4));
            c.compress_vec(&json[read..], &mut out, FlushCompress::Sync)
                .expect("deflate of memory cannot fail");
            let done = c.total_in() as usize == json.len() && out.len() < out.capacity();
            if done {
                break;
            }
        }
        if !out.ends_with(&TAIL) {
            // A sync flush always ends so; never send what is not.
            return None;
        }
        out.truncate(out.len() - TAIL.len());
        (out.len() < json.len()).then(|| Bytes::from(out))
    })
}

/// Why a compressed message was refused: a close code and reason.
pub(crate) type Refusal = (u16, &'static str);

/// A message that inflates past [`MAX_FRAME_BYTES`].
const TOO_BIG: Refusal = (CLOSE_TOO_BIG, "message larger than 16 KiB");
/// Compressed bytes that do not inflate.
const BAD: Refusal = (CLOSE_BAD_DATA, "malformed compressed data");

/// Inflates what one client sends compressed.
#[derive(Default)]
pub(crate) struct Inflater {
    /// The client's own context (made at its first compressed frame), when
    /// it keeps one between messages.
    kept: Option<Box<Decompress>>,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("kept", &self.kept.is_some())
            .finish()
    }
}

impl Inflater {
    /// One compressed message's bytes, inflated: at most
    /// [`MAX_FRAME_BYTES`], else the connection closes as for a message
    /// too big.
    pub(crate) fn inflate(&mut self, agreed: &Agreed, payload: &[u8]) -> Result<Vec<u8>, Refusal> {
        if agreed.client_resets {
            return INFLATER.with(|d| {
                let mut d = d.borrow_mut();
                d.reset(false);
                bounded(&mut d, payload)
            });
        }
        let bits = agreed.client_window_bits.max(CLIENT_WINDOW_BITS);
        let d = self
            .kept
            .get_or_insert_with(|| Box::new(Decompress::new_with_window_bits(false, bits)));
        bounded(d, payload)
    }
}

/// Inflates `payload` and the tail into at most [`MAX_FRAME_BYTES`]
/// (the output grows as it fills, never past one byte over the bound).
fn bounded(d: &mut Decompress, payload: &[u8]) -> Result<Vec<u8>, Refusal> {
    let mut out = Vec::with_capacity((payload.len() * 4).clamp(256, MAX_FRAME_BYTES + 1));
    for input in [payload, &TAIL[..]] {
        let mut read = 0;
        loop {
            if out.len() == out.capacity() {
                if out.len() > MAX_FRAME_BYTES {
                    return Err(TOO_BIG);
                }
                out.reserve_exact(out.len().min(MAX_FRAME_BYTES + 1 - out.len()));
            }
            let before = (d.total_in(), d.total_out());
            let status = d
                .decompress_vec(&input[read..], &mut out, FlushDecompress::Sync)
                .map_err(|_| BAD)?;
            read += (d.total_in() - before.0) as usize;
            if status == Status::StreamEnd {
                // A final block ends the message: nothing may follow it, and
                // a kept context starts again.
                if read < input.len() && input.len() != TAIL.len() {
                    return Err(BAD);
                }
                d.reset(false);
                return within(out);
            }
            if read == input.len() && out.len() < out.capacity() {
                break;
            }
            if (d.total_in(), d.total_out()) == before {
                return Err(BAD);
            }
        }
    }
    within(out)
}

/// `out`, if it is at most [`MAX_FRAME_BYTES`].
fn within(out: Vec<u8>) -> Result<Vec<u8>, Refusal> {
    match out.len() > MAX_FRAME_BYTES {
        true => Err(TOO_BIG),
        false => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agreed(header: &str) -> Option<String> {
        negotiate([header]).map(|a| a.header())
    }

    #[test]
    fn a_plain_offer_is_answered_with_no_server_context() {
        assert_eq!(
            agreed("permessage-deflate").as_deref(),
            Some("permessage-deflate; server_no_context_takeover")
        );
    }

    #[test]
    fn chromiums_offer_holds_the_client_to_a_512_byte_window() {
        assert_eq!(
            agreed("permessage-deflate; client_max_window_bits").as_deref(),
            Some("permessage-deflate; server_no_context_takeover; client_max_window_bits=9")
        );
        let a = negotiate(["permessage-deflate; client_max_window_bits=8"]).unwrap();
        assert_eq!(a.client_window_bits, 8);
    }

    #[test]
    fn malformed_offers_are_declined_and_the_next_one_taken() {
        for bad in [
            "permessage-deflate; unknown",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; client_max_window_bits=16",
            "permessage-deflate; client_max_window_bits=7",
            "permessage-deflate; client_max_window_bits=010",
            "permessage-deflate; client_max_window_bits=x",
            "permessage-deflate; server_max_window_bits",
            "permessage-deflate; server_max_window_bits=10",
            "permessage-deflate; client_no_context_takeover=1",
            "x-webkit-deflate-frame",
        ] {
            assert_eq!(agreed(bad), None, "{bad}");
        }
        assert_eq!(
            agreed("permessage-deflate; server_max_window_bits=10, permessage-deflate; client_no_context_takeover")
                .as_deref(),
            Some("permessage-deflate; server_no_context_takeover; client_no_context_takeover")
        );
        assert!(negotiate(["foo", "permessage-deflate; server_max_window_bits=15"]).is_some());
    }

    #[test]
    fn a_compressed_frame_inflates_back_whatever_the_inflater() {
        let json = br#"{"type":"message","text":"hello hello hello hello hello hello"}"#.repeat(20);
        let packed = compress(&json).expect("repetitive JSON shrinks");
        assert!(packed.len() < json.len() / 5);
        for header in [
            "permessage-deflate; client_no_context_takeover",
            "permessage-deflate",
        ] {
            let a = negotiate([header]).unwrap();
            let mut inflater = Inflater::default();
            assert_eq!(inflater.inflate(&a, &packed).unwrap(), json);
            assert_eq!(inflater.inflate(&a, &packed).unwrap(), json, "twice");
        }
        assert_eq!(compress(b"{}"), None, "two bytes do not shrink");
    }

    #[test]
    fn inflation_stops_at_16_kib_and_bad_data_is_refused() {
        let a = negotiate(["permessage-deflate"]).unwrap();
        let at = vec![b'a'; MAX_FRAME_BYTES];
        let mut i = Inflater::default();
        assert_eq!(
            i.inflate(&a, &compress(&at).unwrap()).unwrap().len(),
            MAX_FRAME_BYTES
        );
        let over = vec![b'a'; MAX_FRAME_BYTES + 1];
        let bomb = compress(&over).unwrap();
        assert_eq!(
            Inflater::default().inflate(&a, &bomb).unwrap_err().0,
            CLOSE_TOO_BIG
        );
        let huge = compress(&vec![b'a'; 10_000_000]).unwrap();
        assert!(huge.len() < 16 * 1024, "a bomb fits in one frame");
        assert_eq!(
            Inflater::default().inflate(&a, &huge).unwrap_err().0,
            CLOSE_TOO_BIG
        );
        let bad = Inflater::default()
            .inflate(&a, &[0xff, 0xff, 0xff])
            .unwrap_err();
        assert_eq!(bad.0, 1007);
    }
}
