//! One WebSocket connection: the `/ws` upgrade, then one task that reads,
//! writes and pings.
//!
//! The task waits on four things at once: bytes from the client, frames the
//! hub queued ([`Outbox::poll_next`], which takes everything queued in one go),
//! room in the socket for what is left to write, and its timers. Frames from
//! the client are parsed here ([`FrameReader`]) and handed to the hub;
//! malformed ones are answered here. What the hub queued is JSON encoded
//! once for every member and every transport: it is written with vectored
//! writes straight from the shared bytes, each behind a header made on the
//! stack ([`Head`]), so no per-connection copy or buffer exists; *1.2* with
//! `permessage-deflate` agreed on, a payload long enough goes in its
//! compressed form, made once for every member ([`Payload::deflated`]). Pings and
//! pongs wait for the next frame boundary in a queue of their own. After a burst
//! the connection keeps nothing but small, fixed state.
//!
//! One task instead of a reader and a writer: half the tasks and wakeups, and
//! no lock between a read half and a write half, since one poll function
//! ([`Connection::poll`]) reads and writes the socket through one `&mut`.
//! Measured with `make bench` (README).

use super::admission::Ticket;
use super::cookies;
use super::deflate::{self, Agreed};
use super::entry::{admit, deliver, Admitted, ConnState};
use super::frame::{self, op, Broken, FrameReader, Head, Incoming};
use super::hub::Client;
use super::outbox::{next_conn, ConnId, Outbox};
use super::payload::Payload;
use crate::protocol::{ProtocolError, CLOSE_PING_TIMEOUT};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use hyper::upgrade::{OnUpgrade, Upgraded};
use hyper_util::rt::TokioIo;
use std::collections::VecDeque;
use std::future::Future;
use std::io::{self, IoSlice};
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::time::Instant;

/// Bytes made room for before each read. Nothing is held while idle.
const READ_CHUNK: usize = 4 * 1024;
/// Frames handed to the kernel in one vectored write at most (two slices
/// each: header and payload; Linux takes 1,024). Measured at saturation (1,000
/// members, window 256, pinned, alternating with the build before headers
/// were written apart, 3 runs each): 32 frames cost 0.429 CPU-µs per
/// delivery against 0.290, 64 frames 0.31 against 0.29, 128 frames 0.315
/// against 0.313 (medians).
const MAX_FRAMES: usize = 128;
/// Control frames (pings, pongs) that may wait at once; a pong past this
/// is not sent (RFC 6455 lets a pong answer only the latest ping).
const MAX_CONTROL: usize = 4;
/// Queue capacity (frames) a connection may keep between bursts.
const KEEP_SLOTS: usize = 64;
/// How long a close frame may take to go out before the socket is dropped.
/// A slow client's close frame waits behind what the kernel already holds
/// for it, so this is generous; the task holds little memory meanwhile.
const CLOSE_GRACE: Duration = Duration::from_secs(10);
/// How long the client's answer to our close frame is waited for: a round
/// trip, not more (server shutdown waits on this).
const CLOSE_LINGER: Duration = Duration::from_millis(200);

/// The `Sec-WebSocket-Key` of a valid upgrade request, or the status and
/// reason to refuse it with (as axum's own extractor answers).
fn upgrade_key(
    method: &Method,
    headers: &HeaderMap,
) -> Result<Vec<u8>, (StatusCode, &'static str)> {
    let has = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    if method != Method::GET {
        return Err((StatusCode::METHOD_NOT_ALLOWED, "WebSocket upgrades use GET"));
    }
    if !has(header::CONNECTION, "upgrade") || !has(header::UPGRADE, "websocket") {
        return Err((
            StatusCode::BAD_REQUEST,
            "this is a WebSocket endpoint: send an upgrade request",
        ));
    }
    if !has(header::SEC_WEBSOCKET_VERSION, "13") {
        return Err((StatusCode::BAD_REQUEST, "Sec-WebSocket-Version must be 13"));
    }
    match headers.get(header::SEC_WEBSOCKET_KEY) {
        Some(key) => Ok(key.as_bytes().to_vec()),
        None => Err((StatusCode::BAD_REQUEST, "Sec-WebSocket-Key is missing")),
    }
}

/// `GET /ws`: lets the connection in ([`admit`]: origin, place, identity),
/// checks the handshake, answers 101, and runs the connection once hyper
/// hands over the socket.
pub(crate) async fn ws_handler(State(state): State<ConnState>, mut request: Request) -> Response {
    let client = cookies::client(&request, &state.config);
    let (method, headers) = (request.method(), request.headers());
    let mut key = Vec::new();
    let check = || {
        key = upgrade_key(method, headers)?;
        Ok(())
    };
    let Admitted {
        client,
        ticket,
        set_cookie,
    } = match admit(&state, client, headers, check).await {
        Ok(admitted) => admitted,
        Err(refusal) => return refusal,
    };
    // *1.2*: compression when the client offers it and the server allows it.
    let agreed = state.config.deflate_min_bytes.and_then(|_| {
        let offers = headers.get_all(header::SEC_WEBSOCKET_EXTENSIONS).iter();
        deflate::negotiate(offers.filter_map(|v| v.to_str().ok()))
    });
    let Some(on_upgrade) = request.extensions_mut().remove::<OnUpgrade>() else {
        return (
            StatusCode::UPGRADE_REQUIRED,
            "this connection cannot be upgraded",
        )
            .into_response();
    };
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => run(upgraded, state, client, ticket, agreed).await,
            Err(e) => tracing::debug!(error = %e, "upgrade failed"),
        }
    });
    let mut response = Response::builder().status(StatusCode::SWITCHING_PROTOCOLS);
    if let Some(cookie) = set_cookie {
        response = response.header(header::SET_COOKIE, cookie);
    }
    if let Some(agreed) = &agreed {
        response = response.header(header::SEC_WEBSOCKET_EXTENSIONS, agreed.header());
    }
    response
        .header(header::CONNECTION, "upgrade")
        .header(header::UPGRADE, "websocket")
        .header(
            header::SEC_WEBSOCKET_ACCEPT,
            tungstenite::handshake::derive_accept_key(&key),
        )
        .body(Body::empty())
        .expect("a valid response")
}

/// Serves one upgraded connection; its `ticket` (its place) is given back
/// when it ends. `agreed`: compression, if the handshake agreed on it.
async fn run(
    upgraded: Upgraded,
    state: ConnState,
    client: Client,
    ticket: Ticket,
    agreed: Option<Agreed>,
) {
    let mut io = TokioIo::new(upgraded);
    let conn = next_conn();
    let outbox = Outbox::new(state.config.outbound_bytes);
    let guard = state.hub.gauge.enter();
    if !state.hub.connect(conn, outbox.clone(), client).await {
        return;
    }
    tracing::debug!(conn, "connected");
    let mut connection = Connection {
        io: &mut io,
        reader: FrameReader::new(agreed),
        deflate_from: agreed.and(state.config.deflate_min_bytes),
        out: VecDeque::new(),
        sent: 0,
        control: VecDeque::new(),
        outbox: &outbox,
        conn,
        state: &state,
    };
    let close = connection.serve().await;
    // A frame written in part is finished before the close frame.
    let rest = connection.rest();
    state.hub.disconnect(conn).await;
    tracing::debug!(conn, ?close, "disconnected");
    if let Some((code, reason)) = close {
        let _ = tokio::time::timeout(CLOSE_GRACE, goodbye(io, rest, code, reason)).await;
    }
    drop((guard, ticket));
}

/// Finishes a frame cut short, sends a close frame and ends the stream, then
/// reads and drops what the client still sends for a moment (its own close
/// frame, usually): closing a socket with unread bytes would reset it, and
/// a reset can cost the client our close frame.
async fn goodbye(mut io: Socket, rest: Option<Bytes>, code: u16, reason: &str) -> io::Result<()> {
    if let Some(rest) = rest {
        io.write_all(&rest).await?;
    }
    io.write_all(&frame::close(code, reason)).await?;
    io.shutdown().await?;
    let mut sink = vec![0; READ_CHUNK];
    let linger = async {
        while io.read(&mut sink).await? > 0 {}
        Ok(())
    };
    tokio::time::timeout(CLOSE_LINGER, linger)
        .await
        .unwrap_or(Ok(()))
}

/// What goes on the wire for `payload`: its header and bytes, compressed
/// when the connection agreed on it (`deflate_from`: from that many bytes)
/// and compressing saves something. The same every time it is asked: the
/// compressed form is made once, by the first connection that asks.
fn wire(deflate_from: Option<usize>, payload: &Payload) -> (Head, &[u8]) {
    let deflated = deflate_from
        .filter(|&from| payload.len() >= from)
        .and_then(|_| payload.deflated());
    match deflated {
        Some(bytes) => (Head::new(bytes.len(), true), bytes),
        None => (Head::text(payload.len()), payload.json()),
    }
}

/// A write's result, with a write of nothing counted as an error.
fn poll_written(written: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
    match written {
        Poll::Ready(Ok(0)) => Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
        other => other,
    }
}

/// The upgraded connection (TCP, under hyper's wrappers).
type Socket = TokioIo<Upgraded>;

/// What woke the connection.
enum Event {
    /// The hub asked for a close.
    Close(u16, &'static str),
    /// Bytes arrived and are in the reader.
    Read,
    /// Time for a ping.
    Ping,
    /// The idle deadline passed (maybe moved since).
    Deadline,
    /// The socket is closed or broken.
    Gone,
}

/// One connection's state while it runs.
struct Connection<'a> {
    /// The socket.
    io: &'a mut Socket,
    /// Parses what the client sends.
    reader: FrameReader,
    /// *1.2*: payloads of at least this many bytes go compressed (when the
    /// handshake agreed on it).
    deflate_from: Option<usize>,
    /// Payloads taken from the outbox and not yet written whole.
    out: VecDeque<Payload>,
    /// Bytes of the first of `out` written so far, its header included.
    sent: usize,
    /// Whole control frames waiting for a frame boundary; the first may be
    /// written in part (it is advanced as it goes).
    control: VecDeque<Bytes>,
    /// Where the hub queues frames; how anyone asks for a close.
    outbox: &'a Outbox,
    /// This connection.
    conn: ConnId,
    /// The hub and limits.
    state: &'a ConnState,
}

impl Connection<'_> {
    /// Runs until the connection ends; returns the close frame to send, if any.
    async fn serve(&mut self) -> Option<(u16, &'static str)> {
        let config = &self.state.config;
        let (every, idle) = (config.ping_interval, config.idle_timeout);
        let mut ping = tokio::time::interval_at(Instant::now() + every, every);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut heard = Instant::now();
        let deadline = tokio::time::sleep_until(heard + idle);
        tokio::pin!(deadline);
        loop {
            let event =
                std::future::poll_fn(|cx| self.poll(cx, &mut ping, deadline.as_mut())).await;
            match event {
                Event::Close(code, reason) => return Some((code, reason)),
                Event::Gone => return None,
                Event::Read => {
                    heard = Instant::now();
                    if let Err(close) = self.handle_frames().await {
                        return close;
                    }
                }
                Event::Ping => self.control(frame::encode(op::PING, b"")),
                Event::Deadline => {
                    if heard + idle <= Instant::now() {
                        return Some((
                            CLOSE_PING_TIMEOUT,
                            "no frame or pong within the idle timeout",
                        ));
                    }
                    deadline.as_mut().reset(heard + idle);
                }
            }
        }
    }

    /// Polls everything the connection waits on, in one place (so the socket
    /// is read and written through one `&mut`, with no lock): a close
    /// request or queued frames, room to write, bytes to read, the timers.
    /// Writing happens right here, as far as the socket takes it.
    fn poll(
        &mut self,
        cx: &mut Context<'_>,
        ping: &mut tokio::time::Interval,
        deadline: Pin<&mut tokio::time::Sleep>,
    ) -> Poll<Event> {
        loop {
            if let Poll::Ready((code, reason)) = self.outbox.poll_next(cx, &mut self.out) {
                return Poll::Ready(Event::Close(code, reason));
            }
            if self.out.is_empty() && self.control.is_empty() {
                break;
            }
            match self.poll_write(cx) {
                Poll::Ready(Err(_)) => return Poll::Ready(Event::Gone),
                // All written: take what the hub queued meanwhile (its wakeup
                // came while there was no room to take it).
                Poll::Ready(Ok(())) => continue,
                Poll::Pending => break,
            }
        }
        match self.poll_read(cx) {
            Poll::Ready(Ok(0)) | Poll::Ready(Err(_)) => return Poll::Ready(Event::Gone),
            Poll::Ready(Ok(_)) => return Poll::Ready(Event::Read),
            Poll::Pending => {}
        }
        if ping.poll_tick(cx).is_ready() {
            return Poll::Ready(Event::Ping);
        }
        if deadline.poll(cx).is_ready() {
            return Poll::Ready(Event::Deadline);
        }
        Poll::Pending
    }

    /// Reads what is there into the frame reader. The bytes pass through a
    /// buffer on the stack, so an idle connection holds no read buffer.
    fn poll_read(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        // Uninitialized: this runs on every wakeup, and zeroing 4 KiB each
        // time would cost more than the read.
        let mut chunk = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
        let mut buf = ReadBuf::uninit(&mut chunk);
        match Pin::new(&mut *self.io).poll_read(cx, &mut buf) {
            Poll::Ready(Ok(())) => {
                let got = buf.filled();
                self.reader.buffer(got.len()).extend_from_slice(got);
                Poll::Ready(Ok(got.len()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    /// Queues a control frame for the next frame boundary.
    fn control(&mut self, frame: Bytes) {
        if self.control.len() < MAX_CONTROL {
            self.control.push_back(frame);
        }
        // Written on the task's next poll, which a frame read or a timer
        // is already about to run.
    }

    /// What is left of a frame written in part, header included, if any.
    fn rest(&mut self) -> Option<Bytes> {
        let front = self.out.front().filter(|_| self.sent > 0)?;
        let (head, bytes) = wire(self.deflate_from, front);
        let mut whole = head.as_slice().to_vec();
        whole.extend_from_slice(bytes);
        Some(Bytes::from(whole).slice(self.sent..))
    }

    /// Writes the control frames and `out` until both are empty (`Ready(Ok)`)
    /// or the socket is full (`Pending`). A control frame goes between two
    /// data frames, never inside one.
    fn poll_write(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            if self.sent == 0 {
                if let Some(front) = self.control.front_mut() {
                    let io = Pin::new(&mut *self.io);
                    let n = ready!(poll_written(io.poll_write(cx, front)))?;
                    bytes::Buf::advance(front, n);
                    if front.is_empty() {
                        self.control.pop_front();
                    }
                    continue;
                }
            }
            if self.out.is_empty() {
                break;
            }
            // Each frame's header and bytes, and its length on the wire.
            let mut heads = [Head::text(0); MAX_FRAMES];
            let mut bodies: [&[u8]; MAX_FRAMES] = [&[]; MAX_FRAMES];
            let mut lens = [0; MAX_FRAMES];
            let frames = self.out.len().min(MAX_FRAMES);
            for (i, payload) in self.out.iter().take(frames).enumerate() {
                (heads[i], bodies[i]) = wire(self.deflate_from, payload);
                lens[i] = heads[i].as_slice().len() + bodies[i].len();
            }
            let mut slices = [IoSlice::new(&[]); 2 * MAX_FRAMES];
            let mut n = 0;
            for (i, (head, payload)) in heads.iter().zip(&bodies[..frames]).enumerate() {
                let head = head.as_slice();
                let skip = if i == 0 { self.sent } else { 0 };
                if skip < head.len() {
                    slices[n] = IoSlice::new(&head[skip..]);
                    n += 1;
                }
                slices[n] = IoSlice::new(&payload[skip.saturating_sub(head.len())..]);
                n += 1;
            }
            let io = Pin::new(&mut *self.io);
            let mut written = ready!(poll_written(io.poll_write_vectored(cx, &slices[..n])))?;
            for len in lens {
                let left = len - self.sent;
                if written < left {
                    self.sent += written;
                    break;
                }
                written -= left;
                let front = self.out.pop_front().expect("written from these frames");
                self.outbox.written(front.len());
                self.sent = 0;
                if written == 0 {
                    break;
                }
            }
        }
        if self.out.capacity() > KEEP_SLOTS {
            self.out = VecDeque::new();
        }
        Poll::Ready(Ok(()))
    }

    /// Acts on every whole frame read so far. `Err` ends the connection,
    /// with the close frame to send, if any.
    async fn handle_frames(&mut self) -> Result<(), Option<(u16, &'static str)>> {
        loop {
            let incoming = match self.reader.next() {
                Ok(Some(incoming)) => incoming,
                Ok(None) => return Ok(()),
                Err(Broken(code, reason)) => return Err(Some((code, reason))),
            };
            match incoming {
                Incoming::Text(text) => {
                    if !deliver(&self.state.hub, self.conn, &text).await {
                        return Err(None);
                    }
                }
                Incoming::Binary => {
                    let e = ProtocolError::bad_request(
                        "binary frames are not supported: send JSON text frames",
                    );
                    if !self.state.hub.refused(self.conn, e).await {
                        return Err(None);
                    }
                }
                Incoming::Ping(payload) => self.control(frame::encode(op::PONG, &payload)),
                // Answered with the same code (1000 when it gave none).
                Incoming::Close(code) => return Err(Some((code.unwrap_or(1000), ""))),
            }
        }
    }
}
