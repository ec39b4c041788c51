//! A minimal client-side WebSocket for the load generator.

use chat::wsframe::masked_text;
use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, TcpStream};

/// *1.2*: members offer `permessage-deflate` (`--deflate`), with
/// `client_no_context_takeover`: each message inflates alone.
pub(crate) static DEFLATE: AtomicBool = AtomicBool::new(false);
/// Bytes of text-frame payload as they came on the wire, summed over the
/// members whose reader ended ([`Frames`]' drop): with [`TEXTS`], bytes per
/// delivery on the wire.
pub(crate) static WIRE: AtomicU64 = AtomicU64::new(0);
/// Text frames received, summed likewise (compressed ones among them in
/// [`DEFLATED`]).
pub(crate) static TEXTS: AtomicU64 = AtomicU64::new(0);
/// Text frames that came compressed.
pub(crate) static DEFLATED: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// This thread's inflater (raw deflate), reset for every message.
    static INFLATER: RefCell<flate2::Decompress> = RefCell::new(flate2::Decompress::new(false));
}

/// A minimal client-side WebSocket over one TCP stream: just enough protocol
/// to join and count frames, so the load generator spends as little CPU as
/// possible on the 2 cores it shares with the server it measures. (It does
/// not answer pings: runs are far shorter than the server's idle timeout.)
pub(crate) struct Ws {
    /// Incoming frames.
    pub(crate) frames: Frames,
    /// Write half.
    pub(crate) tx: OwnedWriteHalf,
}

/// The read side of a [`Ws`]: frames parsed straight out of one buffer.
pub(crate) struct Frames {
    /// Read half.
    rx: OwnedReadHalf,
    /// Bytes read but not yet parsed.
    buf: Vec<u8>,
    /// Start of unparsed data in `buf`.
    at: usize,
    /// *1.2*: an event stream (`--live`) instead of WebSocket frames:
    /// the bytes left of the chunk being read, once its header was.
    sse: Option<usize>,
    /// The last compressed message, inflated.
    inflated: Vec<u8>,
    /// Text-frame payload bytes on the wire, text frames, compressed ones.
    counted: [u64; 3],
    /// The last text frame's payload bytes on the wire.
    pub(crate) last_wire: usize,
}

impl Drop for Frames {
    fn drop(&mut self) {
        WIRE.fetch_add(self.counted[0], Ordering::Relaxed);
        TEXTS.fetch_add(self.counted[1], Ordering::Relaxed);
        DEFLATED.fetch_add(self.counted[2], Ordering::Relaxed);
    }
}

/// A TCP connection to the server of WebSocket URL `url` (`ws://host/path`),
/// from loopback source address `source` (0: any), with `TCP_NODELAY` as
/// browsers set it; and the URL's host and path.
pub(crate) async fn connect_tcp(
    url: &str,
    source: u8,
) -> Result<(TcpStream, String, String), String> {
    let rest = url.strip_prefix("ws://").ok_or("only ws:// URLs")?;
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    let tcp = match host.parse::<SocketAddr>() {
        Ok(addr) if source > 0 => {
            let socket = TcpSocket::new_v4().map_err(|e| e.to_string())?;
            let from = SocketAddr::from(([127, 0, 0, source], 0));
            socket.bind(from).map_err(|e| format!("bind {from}: {e}"))?;
            socket.connect(addr).await
        }
        _ => TcpStream::connect(host).await,
    }
    .map_err(|e| format!("connect {host}: {e}"))?;
    tcp.set_nodelay(true).map_err(|e| e.to_string())?;
    Ok((tcp, host.to_owned(), path.to_owned()))
}

impl Ws {
    /// Connects to `url`, from loopback source address `source` (0: any),
    /// offering compression if `--deflate` was given.
    pub(crate) async fn connect(url: &str, source: u8) -> Result<Ws, String> {
        Ws::connect_offering(url, source, DEFLATE.load(Ordering::Relaxed)).await
    }

    /// Connects to `url` from `source`, offering compression if `deflate`.
    pub(crate) async fn connect_offering(
        url: &str,
        source: u8,
        deflate: bool,
    ) -> Result<Ws, String> {
        let (tcp, host, path) = connect_tcp(url, source).await?;
        let (rx, mut tx) = tcp.into_split();
        let offer = match deflate {
            true => "Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover\r\n",
            false => "",
        };
        let request = format!(
            "GET /{path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{offer}\r\n"
        );
        tx.write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut frames = Frames::new(rx, None);
        loop {
            if let Some(end) = frames.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                if !frames.buf.starts_with(b"HTTP/1.1 101") {
                    let head = String::from_utf8_lossy(&frames.buf).into_owned();
                    return Err(format!("upgrade refused: {head}"));
                }
                frames.at = end + 4;
                return Ok(Ws { frames, tx });
            }
            if !frames.fill().await? {
                return Err("connection closed during the upgrade".into());
            }
        }
    }

    pub(crate) async fn send(&mut self, payload: &str) -> Result<(), String> {
        self.tx
            .write_all(&masked_text(payload.as_bytes()))
            .await
            .map_err(|e| e.to_string())
    }
}

impl Frames {
    fn new(rx: OwnedReadHalf, sse: Option<usize>) -> Frames {
        Frames {
            rx,
            buf: Vec::with_capacity(4 * 1024),
            at: 0,
            sse,
            inflated: Vec::new(),
            counted: [0; 3],
            last_wire: 0,
        }
    }

    /// Reads more bytes; false at end of stream.
    async fn fill(&mut self) -> Result<bool, String> {
        if self.at > 0 && self.at == self.buf.len() {
            self.buf.clear();
            self.at = 0;
        } else if self.at > self.buf.capacity() / 2 {
            self.buf.drain(..self.at);
            self.at = 0;
        }
        if self.buf.capacity() - self.buf.len() < 1024 {
            self.buf.reserve(4 * 1024);
        }
        let n = self
            .rx
            .read_buf(&mut self.buf)
            .await
            .map_err(|e| e.to_string())?;
        Ok(n > 0)
    }

    /// The next complete frame: (first byte, payload range in `buf`); `None` at end of stream.
    async fn next(&mut self) -> Result<Option<(u8, std::ops::Range<usize>)>, String> {
        loop {
            let b = &self.buf[self.at..];
            if b.len() >= 2 {
                let (len, head) = match b[1] & 0x7f {
                    126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
                    127 if b.len() >= 10 => (
                        u64::from_be_bytes(b[2..10].try_into().unwrap()) as usize,
                        10,
                    ),
                    126 | 127 => (usize::MAX, 0),
                    n => (n as usize, 2),
                };
                if len != usize::MAX && b.len() >= head + len {
                    let start = self.at + head;
                    self.at = start + len;
                    return Ok(Some((b[0], start..start + len)));
                }
            }
            if !self.fill().await? {
                return Ok(None);
            }
        }
    }

    /// The next text frame's payload; `None` at end of stream or on a close frame.
    pub(crate) async fn next_text(&mut self) -> Result<Option<&[u8]>, String> {
        if self.sse.is_some() {
            return match self.next_event().await? {
                Some(r) => Ok(Some(&self.buf[r])),
                None => Ok(None),
            };
        }
        loop {
            match self.next().await? {
                Some((first, r)) if first & 0x0f == 0x1 => {
                    self.counted[0] += r.len() as u64;
                    self.last_wire = r.len();
                    self.counted[1] += 1;
                    if first & 0x40 == 0 {
                        return Ok(Some(&self.buf[r]));
                    }
                    self.counted[2] += 1;
                    let (payload, out) = (&self.buf[r], &mut self.inflated);
                    INFLATER.with(|d| chat::wsframe::inflate(&mut d.borrow_mut(), payload, out))?;
                    return Ok(Some(&self.inflated));
                }
                Some((first, _)) if first & 0x0f == 0x8 => return Ok(None),
                None => return Ok(None),
                Some(_) => {}
            }
        }
    }
}

impl Frames {
    /// *1.2*: the reader of an event stream whose request was sent.
    pub(crate) fn sse(rx: OwnedReadHalf) -> Frames {
        Frames::new(rx, Some(0))
    }

    /// Reads the response head and the `session` event: the session id.
    pub(crate) async fn session(&mut self) -> Result<String, String> {
        loop {
            if let Some(end) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                if !self.buf.starts_with(b"HTTP/1.1 200") {
                    return Err(format!("refused: {}", String::from_utf8_lossy(&self.buf)));
                }
                self.at = end + 4;
                break;
            }
            if !self.fill().await? {
                return Err("closed before the stream".into());
            }
        }
        let r = self.next_event().await?.ok_or("no session event")?;
        let data = std::str::from_utf8(&self.buf[r]).map_err(|e| e.to_string())?;
        let id = data.split('"').nth(3).ok_or("bad session event")?;
        Ok(id.to_owned())
    }

    /// The next event's data (a frame, or the session's), skipping
    /// comments; `None` at the end or at a `close` event. Chunks hold whole
    /// events (the server writes them so).
    async fn next_event(&mut self) -> Result<Option<std::ops::Range<usize>>, String> {
        loop {
            let left = self.sse.expect("an event stream");
            if left == 0 {
                // A chunk's header: `[\r\n]<hex>\r\n` (the CRLF ends the one before).
                let b = &self.buf[self.at..];
                let skip = if b.starts_with(b"\r\n") { 2 } else { 0 };
                if let Some(eol) = b[skip..].windows(2).position(|w| w == b"\r\n") {
                    let hex =
                        std::str::from_utf8(&b[skip..skip + eol]).map_err(|e| e.to_string())?;
                    let size = usize::from_str_radix(hex.trim(), 16).map_err(|e| e.to_string())?;
                    if size == 0 {
                        return Ok(None);
                    }
                    self.at += skip + eol + 2;
                    self.sse = Some(size);
                    continue;
                }
            } else if self.buf.len() - self.at >= left
                || self.buf[self.at..].windows(2).any(|w| w == b"\n\n")
            {
                let b = &self.buf[self.at..self.at + left.min(self.buf.len() - self.at)];
                if let Some(end) = b.windows(2).position(|w| w == b"\n\n") {
                    let block = self.at..self.at + end;
                    self.at += end + 2;
                    self.sse = Some(left - end - 2);
                    let text = &self.buf[block.clone()];
                    if text.starts_with(b"event: close") {
                        return Ok(None);
                    }
                    if let Some(at) = text.windows(6).position(|w| w == b"data: ") {
                        return Ok(Some(block.start + at + 6..block.end));
                    }
                    continue;
                }
            }
            if !self.fill().await? {
                return Ok(None);
            }
        }
    }
}
