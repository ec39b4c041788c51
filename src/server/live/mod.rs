//! *1.2*: live without WebSocket (protocol 1.2 section 6). Server frames go
//! over a Server-Sent Events stream, client frames over POSTs; the frames
//! are the WebSocket's, and so is everything behind them: the same hub,
//! outbox, limits and admission ([`super::entry`]).
//!
//! The wire (documented in the README):
//! - `GET /live` lets a connection in as `/ws` does and answers a stream
//!   whose first event, `session`, carries the session id (minted here,
//!   kept only as a hash). Then every server frame is one `data:` event;
//!   `close` (`{code, reason}`) ends it as a close frame would.
//! - `GET /live?session=ID` with `Last-Event-ID` (or `&last=N`) resumes a
//!   dropped stream: the frames after that event, then live ones. Frames
//!   no longer kept (past the outbound bound in bytes) or an unknown
//!   session answer 410 or 404: the client starts over, as after a closed
//!   WebSocket (`join` with `after` fills the gap from the store).
//! - `POST /live?session=ID&seq=N`, one client frame per line: POST `N`
//!   (from 0) is applied once, in order, one at a time; a retry of an
//!   applied one is answered 204 again and does nothing; any other is 409.
//!   Same-origin only (`Origin` or `Sec-Fetch-Site`). `&end=1` ends the
//!   session after the POST's frames (a page that closes says so; else the
//!   idle timeout ends it, as for a WebSocket that vanished). With
//!   PostgreSQL, a POST reaching a node that does not hold its session is
//!   handed to the one that does ([`handoff`]).

mod handoff;
mod session;
mod stream;

use super::cookies;
use super::entry::{admit, deliver, Admitted, ConnState};
use super::frame::CLOSE_BAD_DATA;
use super::hosts::{origin_allowed, same_origin_request};
use super::listen::HttpPlace;
use super::outbox::{next_conn, Outbox};
use crate::protocol::{CLOSE_TOO_BIG, MAX_FRAME_BYTES};
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use session::{Post, Session};
use std::sync::Arc;
use stream::Stream;

pub(crate) use handoff::Relay;
pub(crate) use session::Sessions;

/// Largest POST body: a few frames at their largest. Past it, 413.
const MAX_POST_BYTES: usize = 4 * MAX_FRAME_BYTES;
/// The reconnection delay a browser's `EventSource` is told (ms).
const RETRY_MS: u64 = 1000;

/// What the `/live` routes need.
#[derive(Clone)]
pub(crate) struct LiveState {
    /// The same as the WebSocket's.
    pub(crate) conn: ConnState,
    /// This node's sessions.
    pub(crate) sessions: Arc<Sessions>,
    /// With PostgreSQL: POSTs handed between nodes.
    pub(crate) relay: Option<Arc<Relay>>,
}

/// The query of the `/live` routes.
#[derive(Debug, Deserialize)]
pub(crate) struct LiveQuery {
    /// The session, once there is one.
    session: Option<String>,
    /// The last event the client got (instead of `Last-Event-ID`).
    last: Option<u64>,
    /// A POST's sequence number.
    seq: Option<u64>,
    /// A POST's last word: the client leaves (a page closing), so the
    /// session ends now rather than at the idle timeout.
    end: Option<u8>,
}

/// `GET /live`: a new session's stream, or a dropped one resumed.
pub(crate) async fn open(
    State(live): State<LiveState>,
    Query(query): Query<LiveQuery>,
    request: Request,
) -> Response {
    match &query.session {
        None => start(live, request).await,
        Some(id) => resume(&live, id, &query, &request),
    }
}

/// Lets a new session in and answers its stream.
async fn start(live: LiveState, request: Request) -> Response {
    let state = &live.conn;
    let place = request.extensions().get::<HttpPlace>().cloned();
    let client = cookies::client(&request, &state.config);
    let Admitted {
        client,
        ticket,
        set_cookie,
    } = match admit(state, client, request.headers(), || Ok(())).await {
        Ok(admitted) => admitted,
        Err(refusal) => return refusal,
    };
    let conn = next_conn();
    let outbox = Outbox::new(state.config.outbound_bytes);
    let guard = state.hub.gauge.enter();
    if !state.hub.connect(conn, outbox.clone(), client).await {
        return (StatusCode::SERVICE_UNAVAILABLE, "the server is stopping").into_response();
    }
    let id = cookies::new_session_id();
    let session = Arc::new(Session::new(conn, outbox, state.config.outbound_bytes));
    live.sessions.insert(&id, session.clone());
    if let Some(relay) = &live.relay {
        relay.hold(&id).await;
    }
    let (number, _) = session.attach(None).expect("a fresh session attaches");
    let (hub, relay, ended) = (state.hub.clone(), live.relay.clone(), id.clone());
    tokio::spawn(session::run(
        id.clone(),
        session.clone(),
        live.sessions.clone(),
        state.config.idle_timeout,
        async move {
            if let Some(relay) = relay {
                relay.release(&ended);
            }
            hub.disconnect(conn).await
        },
        (ticket, guard),
    ));
    tracing::debug!(conn, "fallback session opened");
    let session_event = stream::named("session", &serde_json::json!({ "session": id }));
    let opening = format!("retry: {RETRY_MS}\n{session_event}");
    let body = Stream::new(session, number, opening.into(), state.config.ping_interval);
    let mut response = stream_response(body, place);
    if let Some(cookie) = set_cookie {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

/// Gives a stream that came back what it missed, then the live frames.
fn resume(live: &LiveState, id: &str, query: &LiveQuery, request: &Request) -> Response {
    let (config, headers) = (&live.conn.config, request.headers());
    if !origin_allowed(headers, config) {
        return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
    }
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok()?.trim().parse().ok())
        .or(query.last);
    let Some(last) = last else {
        return (
            StatusCode::BAD_REQUEST,
            "resuming needs Last-Event-ID (or last=N): the last event received",
        )
            .into_response();
    };
    let Some(session) = live.sessions.get(id) else {
        return gone(StatusCode::NOT_FOUND, "no such session: open a new one");
    };
    let Some((number, frames)) = session.attach(Some(last)) else {
        // The client cannot go on from what it has: it starts anew, and
        // this session (its presence, its place) goes now.
        session.outbox.close(
            crate::protocol::CLOSE_TOO_SLOW,
            "the stream missed frames no longer kept",
        );
        return gone(
            StatusCode::GONE,
            "this session cannot be resumed: open a new one",
        );
    };
    let first = match frames.last() {
        Some((last, _)) => stream::events(frames.iter().map(|(_, f)| f), *last),
        None => bytes::Bytes::new(),
    };
    let place = request.extensions().get::<HttpPlace>().cloned();
    stream_response(
        Stream::new(session, number, first, config.ping_interval),
        place,
    )
}

/// A refusal that tells an `EventSource` not to reconnect (any status but
/// 200 does) and a script why.
fn gone(status: StatusCode, why: &'static str) -> Response {
    (status, why).into_response()
}

/// The headers of an event stream: never cached, never buffered by a proxy
/// (`X-Accel-Buffering` is nginx's), never compressed (a compressor would
/// hold events back). The stream gives its connection's HTTP place back
/// (the session holds a connection place instead), so the connection
/// closes when the stream ends rather than serving more requests unbounded.
fn stream_response(body: Stream, place: Option<HttpPlace>) -> Response {
    if let Some(place) = place {
        place.release();
    }
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-store")
        .header(header::CONNECTION, "close")
        .header("x-accel-buffering", "no")
        .body(Body::new(body))
        .expect("a valid response")
}

/// `POST /live?session=ID&seq=N`: client frames, one per line.
pub(crate) async fn post(
    State(live): State<LiveState>,
    Query(query): Query<LiveQuery>,
    request: Request,
) -> Response {
    if !same_origin_request(request.headers(), &live.conn.config) {
        return (
            StatusCode::FORBIDDEN,
            "frames must come from the chat's own pages (Origin or Sec-Fetch-Site)",
        )
            .into_response();
    }
    let (Some(id), Some(seq)) = (&query.session, query.seq) else {
        return (StatusCode::BAD_REQUEST, "POST /live needs session and seq").into_response();
    };
    let local = live.sessions.get(id);
    if local.is_none() && live.relay.is_none() {
        return gone(StatusCode::NOT_FOUND, "no such session: open a new one");
    }
    let body = match axum::body::to_bytes(request.into_body(), MAX_POST_BYTES).await {
        Ok(body) => body,
        Err(_) => {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                "at most 64 KiB of frames per POST: send fewer at a time",
            )
                .into_response()
        }
    };
    let ends = query.end == Some(1);
    match (local, &live.relay) {
        (Some(session), _) => apply_post(&live.conn.hub, session, seq, ends, body)
            .await
            .into_response(),
        (None, Some(relay)) => relay.forward(id, seq, ends, &body).await,
        (None, None) => unreachable!("answered above"),
    }
}

/// Applies POST `seq` of `session` (its frames `body`; `ends`: the client
/// leaves), whether it came here or was handed here by another node: once,
/// in order, one at a time.
async fn apply_post(
    hub: &super::hub::HubHandle,
    session: Arc<Session>,
    seq: u64,
    ends: bool,
    body: bytes::Bytes,
) -> (StatusCode, &'static str) {
    match session.post(seq) {
        Post::Duplicate => return (StatusCode::NO_CONTENT, ""),
        Post::OutOfOrder => {
            return (
                StatusCode::CONFLICT,
                "not the next POST of this session: send them one at a time, in order",
            )
        }
        Post::Apply => {}
    }
    // Applied in a task of its own, so that a client going away mid-POST
    // cannot leave it half applied.
    let hub = hub.clone();
    let applied = tokio::spawn(async move {
        let answer = apply(&hub, &session, &body).await;
        session.posted();
        if ends {
            session.outbox.close(1000, "the client left");
        }
        answer
    });
    applied
        .await
        .unwrap_or((StatusCode::INTERNAL_SERVER_ERROR, "failed"))
}

/// Hands each line of `body` to the hub, in order; a line the WebSocket
/// would refuse as a frame closes the session as it closes the socket.
async fn apply(
    hub: &super::hub::HubHandle,
    session: &Session,
    body: &[u8],
) -> (StatusCode, &'static str) {
    for line in body.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if line.len() > MAX_FRAME_BYTES {
            session
                .outbox
                .close(CLOSE_TOO_BIG, "message larger than 16 KiB");
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                "a frame is larger than 16 KiB",
            );
        }
        let Ok(text) = std::str::from_utf8(line) else {
            session
                .outbox
                .close(CLOSE_BAD_DATA, "text frames must be UTF-8");
            return (StatusCode::BAD_REQUEST, "frames must be UTF-8");
        };
        if !deliver(hub, session.conn, text).await {
            return (StatusCode::NOT_FOUND, "no such session: open a new one");
        }
    }
    (StatusCode::NO_CONTENT, "")
}
