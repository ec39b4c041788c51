//! *1.2*: `permessage-deflate` on `/ws` (RFC 7692), seen from the wire: what
//! the handshake answers to each offer, which frames go compressed (the
//! size threshold at its bound and one byte either side), what a client
//! that does not offer it gets, and what the server does with compressed
//! client frames (inflated, or refused when they inflate past 16 KiB).

mod common;

use common::{fast, server_frame, upgrade_request, TestServer, WAIT};
use flate2::{Compress, Compression, Decompress, FlushCompress};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The threshold the tests' servers compress from.
const MIN: usize = 1024;

fn config(min: Option<usize>) -> chat::Config {
    chat::Config {
        deflate_min_bytes: min,
        ..fast()
    }
}

/// One data frame as it came: whether RSV1 (compressed) was set, the
/// payload's bytes on the wire, and its text (inflated if it was).
#[derive(Debug)]
struct Got {
    deflated: bool,
    wire: usize,
    text: String,
    opcode: u8,
}

/// A WebSocket client at the frame level that may offer compression.
struct Raw {
    tcp: TcpStream,
    /// The server's `Sec-WebSocket-Extensions` answer, if any.
    agreed: Option<String>,
    /// The client's compressor, when it compresses what it sends (its
    /// context kept between messages, as browsers keep it, unless `resets`).
    compress: Option<Compress>,
    /// The compressor starts again for every message
    /// (`client_no_context_takeover`).
    resets: bool,
}

impl Raw {
    /// Upgrades with `offer` as `Sec-WebSocket-Extensions` (none if empty).
    async fn open(server: &TestServer, offer: &str) -> Raw {
        let host = server.addr.to_string();
        let extra = match offer {
            "" => String::new(),
            offer => format!("Sec-WebSocket-Extensions: {offer}\r\n"),
        };
        let mut tcp = TcpStream::connect(server.addr).await.unwrap();
        tcp.write_all(upgrade_request(&host, &extra).as_bytes())
            .await
            .unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            head.push(tcp.read_u8().await.unwrap());
        }
        let head = String::from_utf8(head).unwrap();
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        let agreed = head.lines().find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("sec-websocket-extensions")
                .then(|| value.trim().to_owned())
        });
        Raw {
            tcp,
            agreed,
            compress: None,
            resets: false,
        }
    }

    /// Sends one masked frame with the first byte `first` (FIN, RSV, opcode).
    async fn frame(&mut self, first: u8, payload: &[u8]) {
        let mut bytes = chat::wsframe::masked(first & 0x0f, true, payload);
        bytes[0] |= first & 0x70;
        self.tcp.write_all(&bytes).await.unwrap();
    }

    /// Sends `frame` as text, compressed when the client compresses.
    async fn send(&mut self, frame: Value) {
        let text = frame.to_string();
        match &mut self.compress {
            Some(c) => {
                if self.resets {
                    c.reset();
                }
                let packed = deflate(c, text.as_bytes());
                self.frame(0x81 | 0x40, &packed).await;
            }
            None => self.frame(0x81, text.as_bytes()).await,
        }
    }

    /// The next data frame (pings skipped); a close frame's code in `text`.
    async fn next(&mut self) -> Got {
        loop {
            let got = tokio::time::timeout(WAIT, self.read())
                .await
                .expect("a frame in time");
            if got.opcode != 0x9 {
                return got;
            }
        }
    }

    async fn read(&mut self) -> Got {
        let (first, payload) = server_frame(&mut self.tcp).await;
        let (deflated, opcode, len) = (first & 0x40 != 0, first & 0x0f, payload.len());
        let text = match (opcode, deflated) {
            (0x8, _) => u16::from_be_bytes([payload[0], payload[1]]).to_string(),
            // No context is kept by the server: each message inflates alone.
            (_, true) => String::from_utf8(inflate(&payload)).unwrap(),
            (_, false) => String::from_utf8(payload).unwrap(),
        };
        Got {
            deflated,
            wire: len,
            text,
            opcode,
        }
    }

    /// The next frame of type `ty`, as it came.
    async fn next_of(&mut self, ty: &str) -> (Got, Value) {
        loop {
            let got = self.next().await;
            assert_ne!(got.opcode, 0x8, "closed: {}", got.text);
            let value: Value = serde_json::from_str(&got.text).unwrap();
            if value["type"] == ty {
                return (got, value);
            }
        }
    }

    /// Says hello as `name` and joins `general`.
    async fn member(&mut self, name: &str) {
        self.send(json!({"type": "hello", "name": name})).await;
        self.next_of("welcome").await;
        self.send(json!({"type": "join", "room": "general"})).await;
        self.next_of("joined").await;
    }

    /// The close code the server sends next.
    async fn close_code(&mut self) -> u16 {
        loop {
            let got = self.next().await;
            if got.opcode == 0x8 {
                return got.text.parse().unwrap();
            }
        }
    }
}

/// `text` compressed as one message by `c` (its context kept), the tail
/// removed (RFC 7692 7.2.1).
fn deflate(c: &mut Compress, text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len() + 64);
    let start = c.total_in();
    while ((c.total_in() - start) as usize) < text.len() || out.len() == out.capacity() {
        out.reserve(text.len() + 64);
        let read = (c.total_in() - start) as usize;
        c.compress_vec(&text[read..], &mut out, FlushCompress::Sync)
            .unwrap();
    }
    assert!(out.ends_with(&[0, 0, 0xff, 0xff]));
    out.truncate(out.len() - 4);
    out
}

/// One server message inflated with a fresh inflater.
fn inflate(payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    chat::wsframe::inflate(&mut Decompress::new(false), payload, &mut out).unwrap();
    out
}

/// On a new server compressing from `min` bytes: a client that offers
/// compression and one that does not, members of `general`; the second
/// posts `text`. Returns the `message` frame as each got it.
async fn one_message(min: usize, text: &str) -> (Got, Got) {
    let server = TestServer::start(config(Some(min))).await;
    let mut deflating = Raw::open(&server, "permessage-deflate; client_max_window_bits").await;
    assert_eq!(
        deflating.agreed.as_deref(),
        Some("permessage-deflate; server_no_context_takeover; client_max_window_bits=9")
    );
    deflating.member("ada").await;
    let mut plain = Raw::open(&server, "").await;
    assert_eq!(plain.agreed, None, "not offered, not answered");
    plain.member("bob").await;
    plain
        .send(json!({"type": "send", "room": "general", "text": text}))
        .await;
    let (got, _) = deflating.next_of("message").await;
    let (own, _) = plain.next_of("message").await;
    (got, own)
}

#[tokio::test]
async fn frames_below_the_threshold_go_plain_and_from_it_on_compressed() {
    let text = "x".repeat(500);
    // The frame's size (the same on every new server: id 1, a time of 13
    // digits), then servers whose threshold is one byte under, at, and one
    // byte past it.
    let size = one_message(usize::MAX, &text).await.1.text.len();
    for (min, compressed) in [(size - 1, true), (size, true), (size + 1, false)] {
        let (got, own) = one_message(min, &text).await;
        assert_eq!(got.text.len(), size);
        assert_eq!(
            got.deflated, compressed,
            "a frame of {size} bytes, threshold {min}"
        );
        if compressed {
            assert!(
                got.wire < size / 4,
                "{} bytes on the wire for {size}",
                got.wire
            );
        }
        assert!(
            !own.deflated,
            "a client that did not offer it gets plain frames"
        );
        assert_eq!(own.text, got.text, "the same frame either way");
    }
}

#[tokio::test]
async fn a_big_joined_goes_compressed_and_the_setting_turns_it_off() {
    for min in [Some(MIN), None] {
        let server = TestServer::start(config(min)).await;
        let mut poster = Raw::open(&server, "").await;
        poster.member("poster").await;
        for i in 0..50 {
            let text = format!("message number {i}: the quick brown fox jumps over the lazy dog");
            poster
                .send(json!({"type": "send", "room": "general", "text": text}))
                .await;
            poster.next_of("message").await;
        }
        let mut late = Raw::open(&server, "permessage-deflate").await;
        late.send(json!({"type": "hello", "name": "late"})).await;
        late.next_of("welcome").await;
        late.send(json!({"type": "join", "room": "general"})).await;
        let (got, joined) = late.next_of("joined").await;
        assert_eq!(joined["messages"].as_array().unwrap().len(), 50);
        match min {
            Some(_) => {
                assert_eq!(
                    late.agreed.as_deref(),
                    Some("permessage-deflate; server_no_context_takeover")
                );
                assert!(got.deflated);
                assert!(
                    got.wire * 4 < got.text.len(),
                    "{} of {}",
                    got.wire,
                    got.text.len()
                );
            }
            None => {
                assert_eq!(late.agreed, None, "CHAT_WS_DEFLATE=off: never agreed");
                assert!(!got.deflated);
            }
        }
    }
}

#[tokio::test]
async fn malformed_offers_are_declined_and_compressed_frames_then_refused() {
    let server = TestServer::start(config(Some(0))).await;
    for (n, offer) in [
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; no_such_parameter",
        "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
        "permessage-deflate; server_max_window_bits=10",
    ]
    .into_iter()
    .enumerate()
    {
        let mut c = Raw::open(&server, offer).await;
        assert_eq!(c.agreed, None, "{offer}");
        c.send(json!({"type": "hello", "name": format!("plain{n}")}))
            .await;
        let (got, _) = c.next_of("welcome").await;
        assert!(!got.deflated, "{offer}: frames go plain");
        c.frame(0x81 | 0x40, b"\x01\x02").await;
        assert_eq!(
            c.close_code().await,
            1002,
            "{offer}: RSV1 was not agreed on"
        );
    }
    let c = Raw::open(
        &server,
        "permessage-deflate; server_max_window_bits=10, permessage-deflate",
    )
    .await;
    assert_eq!(
        c.agreed.as_deref(),
        Some("permessage-deflate; server_no_context_takeover"),
        "the next offer is taken"
    );
}

#[tokio::test]
async fn compressed_client_frames_are_read_and_a_bomb_closes_the_connection() {
    let server = TestServer::start(config(Some(MIN))).await;
    for (n, offer) in [
        "permessage-deflate; client_max_window_bits",
        "permessage-deflate; client_no_context_takeover",
    ]
    .into_iter()
    .enumerate()
    {
        let mut c = Raw::open(&server, offer).await;
        let resets = offer.contains("client_no_context_takeover");
        // The window the answer holds the client to, and its context as it said.
        c.resets = resets;
        c.compress = Some(match resets {
            true => Compress::new(Compression::default(), false),
            false => Compress::new_with_window_bits(Compression::default(), false, 9),
        });
        c.member(&format!("squeezed{n}")).await;
        for i in 0..3 {
            let text = format!("compressed, the same words again and again: {i}");
            c.send(json!({"type": "send", "room": "general", "text": text}))
                .await;
            let (_, message) = c.next_of("message").await;
            assert_eq!(message["text"], text, "{offer}");
        }
        // 16 KiB of text once inflated is allowed (as uncompressed); past it, 1009.
        let mut bomb = Compress::new(Compression::best(), false);
        let packed = deflate(&mut bomb, &vec![b' '; 10_000_000]);
        assert!(packed.len() < 16 * 1024);
        c.frame(0x81 | 0x40, &packed).await;
        assert_eq!(c.close_code().await, 1009, "{offer}");
    }
    let mut broken = Raw::open(&server, "permessage-deflate").await;
    broken.frame(0x81 | 0x40, &[0xff; 8]).await;
    assert_eq!(broken.close_code().await, 1007, "bytes that do not inflate");
}
