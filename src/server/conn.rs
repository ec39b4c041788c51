//! One WebSocket connection: the `/ws` upgrade, then two tasks.
//!
//! The reader (the upgrade task itself) parses frames and forwards them to
//! the hub; it answers malformed ones itself. The writer drains the bounded
//! outbound queue, batching whatever is queued into one flush, and pings the
//! client. Either side ends the connection through the shared [`Closer`].

use super::config::Config;
use super::hub::HubHandle;
use super::outbox::{Closer, ConnId, Outbox, Outgoing, Side};
use crate::protocol::{
    ClientFrame, ProtocolError, CLOSE_PING_TIMEOUT, CLOSE_TOO_BIG, MAX_FRAME_BYTES,
};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::stream::{SplitSink, SplitStream};
use futures::{SinkExt, StreamExt};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Waker};
use std::time::Duration;
use tokio::sync::mpsc;

/// Bytes tungstenite reads per call; its default (128 KiB, allocated up front
/// per connection) alone would break the memory budget of idle connections.
const READ_BUFFER_BYTES: usize = 2 * 1024;
/// Bytes tungstenite gathers before writing; a flush always writes everything.
/// Its buffer keeps the largest capacity it ever reached, so this also bounds
/// what a connection holds after a burst (measured: 16 KiB → 24 KiB RSS per
/// idle member of a 2000-member room, 8 KiB → 21 KiB, 4 KiB → 20 KiB but 30%
/// less fan-out throughput).
const WRITE_BUFFER_BYTES: usize = 8 * 1024;
/// Queue items taken per flush at most (an item may hold several frames).
const MAX_BATCH: usize = 256;
/// How long a close frame may take to go out before the socket is dropped.
/// A slow client's close frame waits behind what the kernel already holds
/// for it, so this is generous; the task holds little memory meanwhile.
const CLOSE_GRACE: Duration = Duration::from_secs(10);

/// What the `/ws` route needs.
#[derive(Clone)]
pub(crate) struct WsState {
    /// Limits.
    pub(crate) config: Arc<Config>,
    /// The hub.
    pub(crate) hub: HubHandle,
}

static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

/// True when the upgrade may go ahead: no `Origin` (non-browser clients), the
/// server's own origin (`http://` + `Host`), or one of the configured origins.
pub(crate) fn origin_allowed(headers: &HeaderMap, config: &Config) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.trim_end_matches('/').to_ascii_lowercase();
    let own = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|host| format!("http://{}", host.to_ascii_lowercase()));
    own.as_deref() == Some(origin.as_str()) || config.allowed_origins.contains(&origin)
}

/// `GET /ws`.
pub(crate) async fn ws_handler(
    State(state): State<WsState>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    if !origin_allowed(&headers, &state.config) {
        tracing::info!(origin = ?headers.get(header::ORIGIN), "refused upgrade from foreign origin");
        return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
    }
    ws.read_buffer_size(READ_BUFFER_BYTES)
        .write_buffer_size(WRITE_BUFFER_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .max_message_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| run(socket, state))
}

async fn run(socket: WebSocket, state: WsState) {
    let conn = NEXT_CONN.fetch_add(1, Ordering::Relaxed);
    let (outbox, rx) = Outbox::new(state.config.outbound_queue);
    let guard = state.hub.gauge.enter();
    if !state.hub.connect(conn, outbox.clone()).await {
        return;
    }
    tracing::debug!(conn, "connected");
    let (sink, stream) = socket.split();
    let closer = outbox.closer.clone();
    let pending = outbox.pending.clone();
    let ping_every = state.config.ping_interval;
    tokio::spawn(async move {
        write_loop(sink, rx, &closer, &pending, ping_every).await;
        drop(guard);
    });
    read_loop(stream, conn, &outbox, &state).await;
    drop(outbox);
    state.hub.disconnect(conn).await;
    tracing::debug!(conn, "disconnected");
}

async fn read_loop(
    mut stream: SplitStream<WebSocket>,
    conn: ConnId,
    outbox: &Outbox,
    state: &WsState,
) {
    let idle = state.config.idle_timeout;
    loop {
        let next = tokio::select! {
            biased;
            _ = outbox.closer.closed(Side::Reader) => return,
            next = tokio::time::timeout(idle, stream.next()) => next,
        };
        let message = match next {
            Err(_) => {
                outbox.closer.close(
                    CLOSE_PING_TIMEOUT,
                    "no frame or pong within the idle timeout",
                );
                return;
            }
            Ok(None) => return,
            Ok(Some(Err(e))) => {
                if is_too_big(e) {
                    outbox
                        .closer
                        .close(CLOSE_TOO_BIG, "frame larger than 16 KiB");
                }
                return;
            }
            Ok(Some(Ok(message))) => message,
        };
        match message {
            Message::Text(text) => match ClientFrame::parse(&text) {
                Ok(frame) => {
                    if !state.hub.frame(conn, frame).await {
                        return;
                    }
                }
                Err(e) => {
                    outbox.send(&e.into_frame());
                }
            },
            Message::Binary(_) => outbox.send(
                &ProtocolError::bad_request(
                    "binary frames are not supported: send JSON text frames",
                )
                .into_frame(),
            ),
            Message::Close(_) => return,
            Message::Ping(_) | Message::Pong(_) => {}
        }
    }
}

fn is_too_big(e: axum::Error) -> bool {
    let inner = e.into_inner();
    matches!(
        inner.downcast_ref::<tungstenite::Error>(),
        Some(tungstenite::Error::Capacity(_))
    )
}

async fn write_loop(
    mut sink: SplitSink<WebSocket, Message>,
    mut rx: mpsc::Receiver<Outgoing>,
    closer: &Closer,
    pending: &AtomicUsize,
    ping_every: Duration,
) {
    let mut ping = tokio::time::interval_at(tokio::time::Instant::now() + ping_every, ping_every);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let close = loop {
        let write = tokio::select! {
            biased;
            reason = closer.closed(Side::Writer) => break Some(reason),
            first = rx.recv() => {
                let Some(first) = first else { break None };
                Write::Batch(first)
            }
            _ = ping.tick() => Write::Ping,
        };
        let sink = &mut sink;
        let rx = &mut rx;
        let written = async move {
            match write {
                Write::Ping => sink.send(Message::Ping(Default::default())).await,
                Write::Batch(first) => {
                    // Take whatever else is queued without waiting; one bulk
                    // receive releases the queue's permits once, not per item.
                    let mut items = vec![first];
                    {
                        let mut cx = Context::from_waker(Waker::noop());
                        let _ = rx.poll_recv_many(&mut cx, &mut items, MAX_BATCH);
                    }
                    let mut written = 0;
                    for item in items {
                        written += item.frames();
                        match item {
                            Outgoing::Frame(f) => sink.feed(Message::Text(f)).await?,
                            Outgoing::Frames(all) => {
                                for f in all.iter() {
                                    // A private copy: tungstenite copies the payload
                                    // anyway, and cloning the shared bytes would make
                                    // every member's writer contend on one refcount.
                                    let own = Utf8Bytes::from(f.as_str());
                                    sink.feed(Message::Text(own)).await?;
                                }
                            }
                        }
                    }
                    pending.fetch_sub(written, Ordering::Relaxed);
                    sink.flush().await
                }
            }
        };
        tokio::select! {
            biased;
            reason = closer.closed(Side::Writer) => break Some(reason),
            result = written => if result.is_err() { break None },
        }
    };
    let goodbye = async {
        match close {
            Some((code, reason)) => {
                tracing::debug!(code, reason, "closing connection");
                let frame = CloseFrame {
                    code,
                    reason: Utf8Bytes::from_static(reason),
                };
                sink.send(Message::Close(Some(frame))).await
            }
            None => sink.close().await,
        }
    };
    let _ = tokio::time::timeout(CLOSE_GRACE, goodbye).await;
}

/// What the writer does next.
enum Write {
    /// Send a ping.
    Ping,
    /// Send this and whatever else is queued.
    Batch(Outgoing),
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        if let Some(o) = origin {
            h.insert(header::ORIGIN, HeaderValue::from_str(o).unwrap());
        }
        h
    }

    #[test]
    fn origin_rules() {
        let mut config = Config::default();
        assert!(origin_allowed(&headers(None, "a:1"), &config));
        assert!(origin_allowed(&headers(Some("http://a:1"), "a:1"), &config));
        assert!(origin_allowed(
            &headers(Some("HTTP://A:1/"), "a:1"),
            &config
        ));
        assert!(!origin_allowed(
            &headers(Some("http://evil"), "a:1"),
            &config
        ));
        assert!(!origin_allowed(
            &headers(Some("https://a:1"), "a:1"),
            &config
        ));
        assert!(!origin_allowed(&headers(Some("null"), "a:1"), &config));
        config.allowed_origins = vec!["https://chat.example".into()];
        assert!(origin_allowed(
            &headers(Some("https://chat.example"), "a:1"),
            &config
        ));
    }
}
