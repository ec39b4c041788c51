//! A client of the fallback transport (`/live`: Server-Sent Events down,
//! POSTs up), written on a bare socket so that a test sees exactly what is
//! on the wire and can drop a stream where it likes.

use super::WAIT;
use serde_json::Value;
use std::collections::VecDeque;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// What came down a stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A server frame (a `data` event).
    Frame(Value),
    /// `close`: the code and reason a WebSocket close frame would carry.
    Close(u16, String),
}

/// A response: status, headers (lower-cased names), and the head's bytes
/// already read past it.
struct Head {
    status: u16,
    headers: Vec<(String, String)>,
    rest: Vec<u8>,
}

/// Reads a response head off `socket`.
async fn read_head(socket: &mut TcpStream) -> Head {
    let mut buf = Vec::new();
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8(buf[..end].to_vec()).unwrap();
            let mut lines = head.split("\r\n");
            let status = lines
                .next()
                .unwrap()
                .split(' ')
                .nth(1)
                .unwrap()
                .parse()
                .unwrap();
            let headers = lines
                .filter_map(|l| l.split_once(':'))
                .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
                .collect();
            return Head {
                status,
                headers,
                rest: buf[end + 4..].to_vec(),
            };
        }
        let mut chunk = [0u8; 4096];
        let n = tokio::time::timeout(WAIT, socket.read(&mut chunk))
            .await
            .expect("a response in time")
            .unwrap();
        assert!(n > 0, "closed before a response head");
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// An HTTP request on a fresh connection, read to its end: status, headers, body.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<(String, String)>, String) {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    socket.write_all(head.as_bytes()).await.unwrap();
    socket.write_all(body).await.unwrap();
    let Head {
        status,
        headers,
        mut rest,
    } = read_head(&mut socket).await;
    tokio::time::timeout(WAIT, socket.read_to_end(&mut rest))
        .await
        .expect("a body in time")
        .unwrap();
    (status, headers, String::from_utf8_lossy(&rest).into_owned())
}

/// One fallback session, its stream attached.
pub struct LiveClient {
    /// The server.
    pub addr: SocketAddr,
    /// The session id the server minted.
    pub session: String,
    /// The next POST's sequence number.
    pub seq: u64,
    /// The last event id seen.
    pub last_id: u64,
    /// The `Set-Cookie` values of the stream's response.
    pub cookies: Vec<String>,
    /// The stream's socket.
    socket: TcpStream,
    /// Socket bytes not yet de-chunked.
    raw: Vec<u8>,
    /// De-chunked body bytes not yet parsed into events.
    body: Vec<u8>,
    /// Events parsed and not yet taken.
    events: VecDeque<Event>,
    /// The stream ended (its last chunk came, or the socket closed).
    pub ended: bool,
}

impl LiveClient {
    /// Opens a session with extra request headers; `Err` with the status
    /// and body when refused.
    pub async fn open_with(
        addr: SocketAddr,
        headers: &[(&str, &str)],
    ) -> Result<LiveClient, (u16, String)> {
        let mut c = LiveClient::stream(addr, "/live", headers, String::new()).await?;
        let opening = c.block().await.expect("the session event");
        let (name, data) = opening;
        assert_eq!(name.as_deref(), Some("session"), "{data}");
        let v: Value = serde_json::from_str(&data).unwrap();
        c.session = v["session"].as_str().unwrap().to_owned();
        assert_eq!(c.session.len(), 64, "256 random bits: {v}");
        Ok(c)
    }

    pub async fn open(addr: SocketAddr) -> LiveClient {
        LiveClient::open_with(addr, &[]).await.expect("a session")
    }

    /// Comes back on session `session` after event `last` (a stream that
    /// dropped); `Err` with the status and body when refused.
    pub async fn resume(
        addr: SocketAddr,
        session: &str,
        last: u64,
        seq: u64,
    ) -> Result<LiveClient, (u16, String)> {
        let path = format!("/live?session={session}");
        let last_header = last.to_string();
        let mut c = LiveClient::stream(
            addr,
            &path,
            &[("Last-Event-ID", &last_header)],
            session.to_owned(),
        )
        .await?;
        c.last_id = last;
        c.seq = seq;
        Ok(c)
    }

    /// Drops this stream and resumes the session after the last event seen.
    pub async fn reconnect(self) -> Result<LiveClient, (u16, String)> {
        let (addr, session, last, seq) = (self.addr, self.session.clone(), self.last_id, self.seq);
        drop(self);
        LiveClient::resume(addr, &session, last, seq).await
    }

    async fn stream(
        addr: SocketAddr,
        path: &str,
        headers: &[(&str, &str)],
        session: String,
    ) -> Result<LiveClient, (u16, String)> {
        let mut socket = TcpStream::connect(addr).await.unwrap();
        let mut head = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\nConnection: close\r\n"
        );
        for (n, v) in headers {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        head.push_str("\r\n");
        socket.write_all(head.as_bytes()).await.unwrap();
        let Head {
            status,
            headers,
            rest,
        } = read_head(&mut socket).await;
        if status != 200 {
            let mut rest = rest;
            tokio::time::timeout(WAIT, socket.read_to_end(&mut rest))
                .await
                .expect("a refusal's body in time")
                .unwrap();
            return Err((status, String::from_utf8_lossy(&rest).into_owned()));
        }
        let ty = headers.iter().find(|(n, _)| n == "content-type").unwrap();
        assert_eq!(ty.1, "text/event-stream");
        assert!(headers
            .iter()
            .any(|(n, v)| n == "x-accel-buffering" && v == "no"));
        assert!(
            headers.iter().all(|(n, _)| n != "content-encoding"),
            "an event stream is never compressed: {headers:?}"
        );
        let cookies = headers
            .iter()
            .filter(|(n, _)| n == "set-cookie")
            .map(|(_, v)| v.clone())
            .collect();
        Ok(LiveClient::new(addr, socket, rest, session, cookies))
    }

    fn new(
        addr: SocketAddr,
        socket: TcpStream,
        raw: Vec<u8>,
        session: String,
        cookies: Vec<String>,
    ) -> LiveClient {
        let mut c = LiveClient {
            addr,
            session,
            seq: 0,
            last_id: 0,
            cookies,
            socket,
            raw,
            body: Vec::new(),
            events: VecDeque::new(),
            ended: false,
        };
        c.dechunk();
        c
    }

    /// Reads more of the socket and de-chunks what it can.
    async fn fill(&mut self) {
        let mut chunk = [0u8; 8192];
        let n = tokio::time::timeout(WAIT, self.socket.read(&mut chunk))
            .await
            .expect("stream bytes in time")
            .unwrap_or(0);
        if n == 0 {
            self.ended = true;
        }
        self.raw.extend_from_slice(&chunk[..n]);
        self.dechunk();
    }

    /// Moves whole chunks from `raw` to `body`.
    fn dechunk(&mut self) {
        loop {
            let Some(eol) = self.raw.windows(2).position(|w| w == b"\r\n") else {
                return;
            };
            let size = std::str::from_utf8(&self.raw[..eol]).unwrap();
            let size = usize::from_str_radix(size.split(';').next().unwrap().trim(), 16)
                .unwrap_or_else(|_| panic!("a chunk size, got {size:?}"));
            if self.raw.len() < eol + 2 + size + 2 {
                return;
            }
            self.body
                .extend_from_slice(&self.raw[eol + 2..eol + 2 + size]);
            self.raw.drain(..eol + 2 + size + 2);
            if size == 0 {
                self.ended = true;
                return;
            }
        }
    }

    /// The next event block that is not a comment: its name and data.
    async fn block(&mut self) -> Option<(Option<String>, String)> {
        loop {
            if let Some(end) = self.body.windows(2).position(|w| w == b"\n\n") {
                let block = String::from_utf8(self.body[..end].to_vec()).unwrap();
                self.body.drain(..end + 2);
                let (mut name, mut data) = (None, None::<String>);
                for line in block.lines() {
                    if let Some(id) = line.strip_prefix("id: ") {
                        let id: u64 = id.parse().unwrap();
                        assert!(
                            id > self.last_id,
                            "event ids grow: {id} after {}",
                            self.last_id
                        );
                        self.last_id = id;
                    } else if let Some(n) = line.strip_prefix("event: ") {
                        name = Some(n.to_owned());
                    } else if let Some(d) = line.strip_prefix("data: ") {
                        assert!(data.is_none(), "one data line per event: {block:?}");
                        data = Some(d.to_owned());
                    } else {
                        assert!(
                            line.starts_with(':') || line.starts_with("retry: "),
                            "unexpected line {line:?}"
                        );
                    }
                }
                if let Some(data) = data {
                    return Some((name, data));
                }
                continue;
            }
            if self.ended {
                return None;
            }
            self.fill().await;
        }
    }

    /// The next event; `None` once the stream ended.
    pub async fn next(&mut self) -> Option<Event> {
        if let Some(e) = self.events.pop_front() {
            return Some(e);
        }
        let (name, data) = self.block().await?;
        let v: Value = serde_json::from_str(&data).unwrap();
        Some(match name.as_deref() {
            None => Event::Frame(v),
            Some("close") => Event::Close(
                v["code"].as_u64().unwrap() as u16,
                v["reason"].as_str().unwrap().to_owned(),
            ),
            Some(other) => panic!("unexpected event {other}: {data}"),
        })
    }

    /// Whether an event arrives within `wait` (`None`: none did).
    pub async fn next_within(&mut self, wait: std::time::Duration) -> Option<Option<Event>> {
        tokio::time::timeout(wait, self.next()).await.ok()
    }

    /// POSTs one body of frames with sequence number `seq` (not counted).
    pub async fn post_raw(&self, seq: u64, body: &[u8], headers: &[(&str, &str)]) -> (u16, String) {
        self.post_query(self.addr, &format!("seq={seq}"), body, headers)
            .await
    }

    /// A POST of this session to the server at `addr` (another node's, say)
    /// with `query` after its id (`seq=N`, `&end=1`).
    pub async fn post_query(
        &self,
        addr: SocketAddr,
        query: &str,
        body: &[u8],
        headers: &[(&str, &str)],
    ) -> (u16, String) {
        let path = format!("/live?session={}&{query}", self.session);
        let origin = format!("http://{addr}");
        let mut all = vec![("Origin", origin.as_str()), ("Content-Type", "text/plain")];
        all.extend_from_slice(headers);
        if headers.iter().any(|(n, _)| *n == "Origin") {
            all.remove(0);
        }
        let (status, _, body) = request(addr, "POST", &path, &all, body).await;
        (status, body)
    }

    /// Sends `frames`, one per line, as the next POST; returns its status.
    pub async fn post(&mut self, frames: &[Value]) -> u16 {
        let body: String = frames.iter().map(|f| format!("{f}\n")).collect();
        let (status, text) = self.post_raw(self.seq, body.as_bytes(), &[]).await;
        if status == 204 {
            self.seq += 1;
        }
        assert!(
            matches!(status, 204 | 404 | 413 | 400),
            "POST answered {status}: {text}"
        );
        status
    }
}

impl LiveClient {
    /// The next frame of type `ty` (others skipped; a close is a failure).
    pub async fn frame_of(&mut self, ty: &str) -> Value {
        loop {
            match self.next().await {
                Some(Event::Frame(v)) if v["type"] == ty => return v,
                Some(Event::Frame(_)) => {}
                other => panic!("expected a {ty} frame, got {other:?}"),
            }
        }
    }

    /// Says hello as `name` and joins `room`.
    pub async fn member(addr: SocketAddr, name: &str, room: &str) -> LiveClient {
        let mut c = LiveClient::open(addr).await;
        assert_eq!(
            c.post(&[serde_json::json!({"type": "hello", "name": name})])
                .await,
            204
        );
        c.frame_of("welcome").await;
        assert_eq!(
            c.post(&[serde_json::json!({"type": "join", "room": room})])
                .await,
            204
        );
        c.frame_of("joined").await;
        c
    }
}
