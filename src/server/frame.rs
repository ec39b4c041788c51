//! WebSocket framing on the server side (RFC 6455, no extensions).
//!
//! Outgoing text frames are a [`Head`] made on the stack at write time in
//! front of the queued JSON: a broadcast is encoded once, as JSON that every
//! transport writes as it is, and the same bytes go to every member's socket.
//! Server frames are unmasked, so nothing in them depends on the connection.
//! Control frames (ping, pong, close) are short and rare, encoded whole
//! ([`encode`]).
//!
//! Incoming frames are parsed by [`FrameReader`] out of bytes the connection
//! read: client frames must be masked, control frames short and whole, and a
//! message (all its fragments) at most [`MAX_FRAME_BYTES`].
//!
//! Why not tungstenite, as before: its writer copies every frame into a
//! per-connection buffer that keeps the capacity of the largest burst, and
//! its reader and writer share one object, so one connection needs two tasks
//! and a lock. `make bench` figures for the change are in the README.

use crate::protocol::MAX_FRAME_BYTES;
use crate::wsframe;
use bytes::Bytes;

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

impl Head {
    /// A final unmasked text frame's header for a payload of `len` bytes.
    pub(crate) fn text(len: usize) -> Head {
        let (bytes, n) = wsframe::head(0x80 | op::TEXT, false, len);
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

/// What a client sent, one whole message or control frame.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Incoming {
    /// A text message.
    Text(String),
    /// A binary message (refused by the protocol, answered with an error).
    Binary,
    /// A ping, with the payload the pong must echo.
    Ping(Vec<u8>),
    /// The client closes, with its code if it gave one.
    Close(Option<u16>),
}

/// Why the connection must close: a close code and reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Broken(pub(crate) u16, pub(crate) &'static str);

/// Parses client frames out of the bytes read so far.
///
/// Holds nothing between messages but what is unparsed: an idle connection's
/// reader owns no buffer at all.
#[derive(Debug, Default)]
pub(crate) struct FrameReader {
    /// Read and not yet parsed.
    buf: Vec<u8>,
    /// The fragments so far of a message sent in pieces, and its opcode.
    partial: Option<(u8, Vec<u8>)>,
}

impl FrameReader {
    /// The buffer to read into, with at least `room` bytes spare.
    pub(crate) fn buffer(&mut self, room: usize) -> &mut Vec<u8> {
        self.buf.reserve(room);
        &mut self.buf
    }

    /// The next whole message or control frame, if the bytes read hold one.
    pub(crate) fn next(&mut self) -> Result<Option<Incoming>, Broken> {
        loop {
            let Some((fin, opcode, payload)) = self.frame()? else {
                if self.buf.is_empty() {
                    // Idle: hold no buffer (a big frame's capacity included).
                    self.buf = Vec::new();
                }
                return Ok(None);
            };
            match opcode {
                op::PING => return Ok(Some(Incoming::Ping(payload))),
                // Pongs only show the client is there: reading counts as that.
                op::PONG => continue,
                op::CLOSE => return Ok(Some(Incoming::Close(close_code(&payload)?))),
                op::TEXT | op::BINARY if self.partial.is_some() => {
                    return Err(Broken(
                        CLOSE_PROTOCOL,
                        "a new message inside a fragmented one",
                    ))
                }
                op::TEXT | op::BINARY if !fin => self.partial = Some((opcode, payload)),
                op::TEXT | op::BINARY => return message(opcode, payload).map(Some),
                op::CONTINUATION => {
                    let Some((first, mut so_far)) = self.partial.take() else {
                        return Err(Broken(
                            CLOSE_PROTOCOL,
                            "a continuation with nothing to continue",
                        ));
                    };
                    if so_far.len() + payload.len() > MAX_FRAME_BYTES {
                        return Err(Broken(
                            crate::protocol::CLOSE_TOO_BIG,
                            "message larger than 16 KiB",
                        ));
                    }
                    so_far.extend_from_slice(&payload);
                    if fin {
                        return message(first, so_far).map(Some);
                    }
                    self.partial = Some((first, so_far));
                }
                _ => return Err(Broken(CLOSE_PROTOCOL, "unknown opcode")),
            }
        }
    }

    /// One whole frame off the front of the buffer: (fin, opcode, unmasked payload).
    fn frame(&mut self) -> Result<Option<(bool, u8, Vec<u8>)>, Broken> {
        let b = &self.buf;
        if b.len() < 2 {
            return Ok(None);
        }
        let (fin, opcode) = (b[0] & 0x80 != 0, b[0] & 0x0F);
        if b[0] & 0x70 != 0 {
            return Err(Broken(CLOSE_PROTOCOL, "reserved bits set"));
        }
        if b[1] & 0x80 == 0 {
            return Err(Broken(CLOSE_PROTOCOL, "client frames must be masked"));
        }
        let (len, at) = match b[1] & 0x7F {
            126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as u64, 4),
            127 if b.len() >= 10 => (
                u64::from_be_bytes(b[2..10].try_into().expect("8 bytes")),
                10,
            ),
            126 | 127 => return Ok(None),
            n => (n as u64, 2),
        };
        if opcode >= op::CLOSE && (!fin || len > MAX_CONTROL as u64) {
            return Err(Broken(
                CLOSE_PROTOCOL,
                "control frames must be whole and short",
            ));
        }
        if len > MAX_FRAME_BYTES as u64 {
            return Err(Broken(
                crate::protocol::CLOSE_TOO_BIG,
                "frame larger than 16 KiB",
            ));
        }
        let len = len as usize;
        let end = at + 4 + len;
        if b.len() < end {
            return Ok(None);
        }
        let mask: [u8; 4] = b[at..at + 4].try_into().expect("4 bytes");
        let mut payload = b[at + 4..end].to_vec();
        for (i, byte) in payload.iter_mut().enumerate() {
            *byte ^= mask[i & 3];
        }
        self.buf.drain(..end);
        Ok(Some((fin, opcode, payload)))
    }
}

/// A whole data message.
fn message(opcode: u8, payload: Vec<u8>) -> Result<Incoming, Broken> {
    if opcode == op::BINARY {
        return Ok(Incoming::Binary);
    }
    String::from_utf8(payload)
        .map(Incoming::Text)
        .map_err(|_| Broken(CLOSE_BAD_DATA, "text frames must be UTF-8"))
}

/// The code of a close frame's payload (none, or two bytes and UTF-8). A
/// code may be one RFC 6455 defines for sending, or 3000–4999; the others
/// (1005, 1006, 1015: status only; unassigned) are a protocol error, so
/// the echo of a client's close is always a valid frame.
fn close_code(payload: &[u8]) -> Result<Option<u16>, Broken> {
    match payload {
        [] => Ok(None),
        [a, b, reason @ ..] if std::str::from_utf8(reason).is_ok() => {
            match u16::from_be_bytes([*a, *b]) {
                code @ (1000..=1003 | 1007..=1014 | 3000..=4999) => Ok(Some(code)),
                _ => Err(Broken(CLOSE_PROTOCOL, "close code not allowed on the wire")),
            }
        }
        _ => Err(Broken(CLOSE_PROTOCOL, "malformed close frame")),
    }
}

/// The fuzz target `client_frames` (`fuzz/`): parses `data` as client
/// frames read whole and read 7 bytes at a time (the two must agree, up to
/// the first error), and hands every text message to [`ClientFrame::parse`].
#[doc(hidden)]
pub fn fuzz_client_bytes(data: &[u8]) {
    let whole = read_all(data, data.len().max(1));
    assert_eq!(whole, read_all(data, 7), "split reads agree");
    for message in whole.iter().flatten() {
        if let Incoming::Text(text) = message {
            let _ = crate::protocol::ClientFrame::parse(text);
        }
    }
}

/// Every message in `data`, fed `chunk` bytes at a time, up to the first error.
fn read_all(data: &[u8], chunk: usize) -> Vec<Result<Incoming, Broken>> {
    let mut reader = FrameReader::default();
    let mut out = Vec::new();
    for piece in data.chunks(chunk) {
        reader.buffer(piece.len()).extend_from_slice(piece);
        loop {
            match reader.next() {
                Ok(Some(message)) => out.push(Ok(message)),
                Ok(None) => break,
                Err(broken) => {
                    out.push(Err(broken));
                    return out;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wsframe::masked;

    #[test]
    fn the_fuzz_entry_reads_frames_whole_and_in_pieces_alike() {
        let mut stream = masked(op::TEXT, true, br#"{"type":"ping"}"#);
        stream.extend(masked(op::TEXT, true, b"not json"));
        stream.extend(masked(op::PING, true, b"p"));
        stream.extend([0x81, 0x7f, 0xff]); // unmasked: the connection breaks
        fuzz_client_bytes(&stream);
        assert_eq!(read_all(&stream, 7), read_all(&stream, stream.len()));
        let read = read_all(&stream, 3);
        assert_eq!(read.len(), 4);
        assert!(read[..3].iter().all(Result::is_ok) && read[3].is_err());
        fuzz_client_bytes(&[0x81, 0x05]); // unmasked: broken
    }

    /// Byte by byte: frames split anywhere must parse the same.
    fn read(bytes: &[u8]) -> Vec<Result<Incoming, Broken>> {
        read_all(bytes, 1)
    }

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
    fn masked_frames_of_every_size_class_parse_whole_or_in_pieces() {
        for len in [0, 1, 125, 126, 1000, MAX_FRAME_BYTES] {
            let text = "z".repeat(len);
            let got = read(&masked(op::TEXT, true, text.as_bytes()));
            assert_eq!(got, [Ok(Incoming::Text(text))]);
        }
    }

    #[test]
    fn a_frame_one_byte_over_16_kib_is_too_big() {
        let got = read(&masked(op::TEXT, true, &vec![b'a'; MAX_FRAME_BYTES + 1]));
        assert_eq!(got, [Err(Broken(1009, "frame larger than 16 KiB"))]);
    }

    #[test]
    fn fragments_join_up_to_16_kib_and_not_past_it() {
        let half = vec![b'h'; MAX_FRAME_BYTES / 2];
        let mut whole = masked(op::TEXT, false, &half);
        whole.extend(masked(op::PING, true, b"p"));
        whole.extend(masked(op::CONTINUATION, true, &half));
        let got = read(&whole);
        assert_eq!(
            got[0],
            Ok(Incoming::Ping(b"p".to_vec())),
            "control frames may interleave"
        );
        assert_eq!(got[1], Ok(Incoming::Text("h".repeat(MAX_FRAME_BYTES))));
        let mut over = masked(op::TEXT, false, &half);
        over.extend(masked(
            op::CONTINUATION,
            true,
            &[b'h'; MAX_FRAME_BYTES / 2 + 1],
        ));
        assert_eq!(
            read(&over),
            [Err(Broken(1009, "message larger than 16 KiB"))]
        );
    }

    #[test]
    fn frames_that_break_the_protocol_close_with_its_code() {
        let unmasked = encode(op::TEXT, b"hi");
        assert_eq!(read(&unmasked)[0].as_ref().unwrap_err().0, 1002);
        let mut rsv = masked(op::TEXT, true, b"hi");
        rsv[0] |= 0x40;
        assert_eq!(read(&rsv)[0].as_ref().unwrap_err().0, 1002);
        assert_eq!(
            read(&masked(op::PING, true, &[0; 126]))[0]
                .as_ref()
                .unwrap_err()
                .0,
            1002
        );
        assert_eq!(
            read(&masked(op::PING, false, b""))[0]
                .as_ref()
                .unwrap_err()
                .0,
            1002
        );
        assert_eq!(
            read(&masked(op::CONTINUATION, true, b"x"))[0]
                .as_ref()
                .unwrap_err()
                .0,
            1002
        );
        assert_eq!(
            read(&masked(0x3, true, b""))[0].as_ref().unwrap_err().0,
            1002
        );
        assert_eq!(
            read(&masked(op::TEXT, true, &[0xFF, 0xFE]))[0]
                .as_ref()
                .unwrap_err()
                .0,
            1007
        );
        assert_eq!(
            read(&masked(op::CLOSE, true, &[3]))[0]
                .as_ref()
                .unwrap_err()
                .0,
            1002
        );
    }

    #[test]
    fn close_codes_are_the_sendable_ones_and_3000_to_4999() {
        let cases = [
            (999, false),
            (1000, true),
            (1003, true),
            (1004, false),
            (1005, false),
            (1006, false),
            (1007, true),
            (1014, true),
            (1015, false),
            (2999, false),
            (3000, true),
            (4999, true),
            (5000, false),
        ];
        for (code, ok) in cases {
            let got = read(&masked(op::CLOSE, true, &u16::to_be_bytes(code)));
            assert_eq!(got[0].is_ok(), ok, "close code {code}");
        }
    }

    #[test]
    fn binary_close_and_pong_frames_are_told_apart() {
        let mut all = masked(op::BINARY, true, b"\x00\x01");
        all.extend(masked(op::PONG, true, b"ignored"));
        all.extend(masked(op::CLOSE, true, &1000u16.to_be_bytes()));
        all.extend(masked(op::CLOSE, true, b""));
        assert_eq!(
            read(&all),
            [
                Ok(Incoming::Binary),
                Ok(Incoming::Close(Some(1000))),
                Ok(Incoming::Close(None))
            ]
        );
    }

    #[test]
    fn an_idle_reader_holds_no_buffer_after_a_big_frame() {
        let mut r = FrameReader::default();
        r.buffer(0).extend(masked(op::TEXT, true, &[b'q'; 10_000]));
        assert!(matches!(r.next(), Ok(Some(Incoming::Text(_)))));
        assert_eq!(r.next(), Ok(None));
        assert_eq!(r.buf.capacity(), 0);
    }

    #[test]
    fn close_frames_carry_code_and_reason() {
        assert_eq!(&close(4001, "slow")[..], b"\x88\x06\x0f\xa1slow");
    }
}
