//! Client frames parsed out of the bytes a connection read ([`FrameReader`]):
//! masked, control frames short and whole, a message (all its fragments)
//! at most [`MAX_FRAME_BYTES`], and as much again once inflated when it came
//! compressed (*1.2*: RSV1 on its first frame, only where agreed).

use super::{op, CLOSE_BAD_DATA, CLOSE_PROTOCOL, MAX_CONTROL, RSV1};
use crate::protocol::MAX_FRAME_BYTES;
use crate::server::deflate::{Agreed, Inflater};

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
/// reader owns no buffer at all (and no inflater, unless the client
/// compresses and keeps its context: [`Inflater`]).
#[derive(Debug, Default)]
pub(crate) struct FrameReader {
    /// Read and not yet parsed.
    buf: Vec<u8>,
    /// The fragments so far of a message sent in pieces, its opcode, and
    /// whether it is compressed.
    partial: Option<(u8, bool, Vec<u8>)>,
    /// *1.2*: what the handshake agreed on, if compression.
    deflate: Option<Agreed>,
    /// Inflates compressed messages.
    inflater: Inflater,
}

impl FrameReader {
    /// A reader for a connection that agreed on `deflate`, if it did.
    pub(crate) fn new(deflate: Option<Agreed>) -> FrameReader {
        FrameReader {
            deflate,
            ..FrameReader::default()
        }
    }

    /// The buffer to read into, with at least `room` bytes spare.
    pub(crate) fn buffer(&mut self, room: usize) -> &mut Vec<u8> {
        self.buf.reserve(room);
        &mut self.buf
    }

    /// The next whole message or control frame, if the bytes read hold one.
    pub(crate) fn next(&mut self) -> Result<Option<Incoming>, Broken> {
        loop {
            let Some(Parsed {
                fin,
                opcode,
                deflated,
                payload,
            }) = self.frame()?
            else {
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
                op::TEXT | op::BINARY if !fin => self.partial = Some((opcode, deflated, payload)),
                op::TEXT | op::BINARY => return self.message(opcode, deflated, payload).map(Some),
                op::CONTINUATION => {
                    let Some((first, deflated, mut so_far)) = self.partial.take() else {
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
                        return self.message(first, deflated, so_far).map(Some);
                    }
                    self.partial = Some((first, deflated, so_far));
                }
                _ => return Err(Broken(CLOSE_PROTOCOL, "unknown opcode")),
            }
        }
    }

    /// A whole data message, inflated first if it came `deflated`.
    fn message(
        &mut self,
        opcode: u8,
        deflated: bool,
        payload: Vec<u8>,
    ) -> Result<Incoming, Broken> {
        let payload = match (deflated, &self.deflate) {
            (true, Some(agreed)) => self
                .inflater
                .inflate(agreed, &payload)
                .map_err(|(code, reason)| Broken(code, reason))?,
            _ => payload,
        };
        message(opcode, payload)
    }

    /// One whole frame off the front of the buffer. RSV1 is allowed on the
    /// first frame of a data message when compression was agreed on,
    /// nowhere else.
    fn frame(&mut self) -> Result<Option<Parsed>, Broken> {
        let b = &self.buf;
        if b.len() < 2 {
            return Ok(None);
        }
        let (fin, opcode, deflated) = (b[0] & 0x80 != 0, b[0] & 0x0F, b[0] & RSV1 != 0);
        let first_of_message = matches!(opcode, op::TEXT | op::BINARY);
        if b[0] & 0x30 != 0 || (deflated && !(first_of_message && self.deflate.is_some())) {
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
        Ok(Some(Parsed {
            fin,
            opcode,
            deflated,
            payload,
        }))
    }
}

/// One client frame, parsed.
struct Parsed {
    /// The last frame of its message.
    fin: bool,
    /// Its opcode.
    opcode: u8,
    /// RSV1: the message is compressed.
    deflated: bool,
    /// The payload, unmasked.
    payload: Vec<u8>,
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
/// the first error), without compression and with it agreed on (kept
/// context and not), and hands every text message to [`ClientFrame::parse`].
#[doc(hidden)]
pub fn fuzz_client_bytes(data: &[u8]) {
    let offers = [
        None,
        Some("permessage-deflate; client_max_window_bits"),
        Some("permessage-deflate; client_no_context_takeover"),
    ];
    for offer in offers {
        let agreed = offer.and_then(|o| crate::server::deflate::negotiate([o]));
        let whole = read_all(data, data.len().max(1), agreed);
        assert_eq!(whole, read_all(data, 7, agreed), "split reads agree");
        for message in whole.iter().flatten() {
            if let Incoming::Text(text) = message {
                let _ = crate::protocol::ClientFrame::parse(text);
            }
        }
    }
}

/// Every message in `data`, fed `chunk` bytes at a time, up to the first
/// error, read as a connection that agreed on `deflate`.
fn read_all(data: &[u8], chunk: usize, deflate: Option<Agreed>) -> Vec<Result<Incoming, Broken>> {
    let mut reader = FrameReader::new(deflate);
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
    use crate::server::frame::encode;
    use crate::wsframe::masked;

    #[test]
    fn the_fuzz_entry_reads_frames_whole_and_in_pieces_alike() {
        let mut stream = masked(op::TEXT, true, br#"{"type":"ping"}"#);
        stream.extend(masked(op::TEXT, true, b"not json"));
        stream.extend(masked(op::PING, true, b"p"));
        stream.extend([0x81, 0x7f, 0xff]); // unmasked: the connection breaks
        fuzz_client_bytes(&stream);
        assert_eq!(
            read_all(&stream, 7, None),
            read_all(&stream, stream.len(), None)
        );
        let read = read_all(&stream, 3, None);
        assert_eq!(read.len(), 4);
        assert!(read[..3].iter().all(Result::is_ok) && read[3].is_err());
        fuzz_client_bytes(&[0x81, 0x05]); // unmasked: broken
    }

    /// Byte by byte: frames split anywhere must parse the same.
    fn read(bytes: &[u8]) -> Vec<Result<Incoming, Broken>> {
        read_all(bytes, 1, None)
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
    fn compressed_messages_inflate_only_where_agreed_and_only_on_their_first_frame() {
        let agreed = crate::server::deflate::negotiate(["permessage-deflate"]);
        let text = r#"{"type":"send","room":"general","text":"hi hi hi hi hi hi hi"}"#;
        let packed = crate::server::deflate::compress(text.as_bytes()).unwrap();
        let mut whole = masked(op::TEXT | RSV1, true, &packed);
        whole.extend(masked(op::TEXT, true, b"plain"));
        let (a, b) = packed.split_at(5);
        whole.extend(masked(op::TEXT | RSV1, false, a));
        whole.extend(masked(op::CONTINUATION, true, b));
        assert_eq!(
            read_all(&whole, 1, agreed),
            [
                Ok(Incoming::Text(text.into())),
                Ok(Incoming::Text("plain".into())),
                Ok(Incoming::Text(text.into()))
            ]
        );
        let rsv1 = |opcode, fin| {
            let got = read_all(&masked(opcode | RSV1, fin, b"x"), 1, agreed);
            got[0].as_ref().unwrap_err().0
        };
        assert_eq!(
            rsv1(op::PING, true),
            CLOSE_PROTOCOL,
            "not on control frames"
        );
        let mut cont = masked(op::TEXT, false, b"a");
        cont.extend(masked(op::CONTINUATION | RSV1, true, b"b"));
        assert_eq!(
            read_all(&cont, 1, agreed)[0].as_ref().unwrap_err().0,
            CLOSE_PROTOCOL
        );
        let mut rsv2 = masked(op::TEXT, true, b"x");
        rsv2[0] |= 0x20;
        assert_eq!(
            read_all(&rsv2, 1, agreed)[0].as_ref().unwrap_err().0,
            CLOSE_PROTOCOL
        );
        let unagreed = read_all(&masked(op::TEXT | RSV1, true, &packed), 1, None);
        assert_eq!(unagreed[0].as_ref().unwrap_err().0, CLOSE_PROTOCOL);
    }
}
