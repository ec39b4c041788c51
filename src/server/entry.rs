//! The one way into a live connection, for both transports (the WebSocket,
//! [`super::conn`], and the HTTP fallback, [`super::live`]): [`admit`]
//! decides who may connect and as whom, in one place.
//!
//! In order: an API token signs in from anywhere (a page elsewhere cannot
//! make a browser send it); without one the origin must be the server's
//! own; a place is taken ([`Admission`]: in all and per address); an
//! identity cookie that proves nothing is replaced by one minted now (never
//! adopted); a session cookie signs the connection in, checked in the store.

use super::accounts;
use super::admission::{Admission, Ticket};
use super::config::Config;
use super::cookies;
use super::hosts::origin_allowed;
use super::hub::{Client, HubHandle};
use super::outbox::ConnId;
use super::stats;
use crate::protocol::ClientFrame;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// What the live routes need, whichever the transport.
#[derive(Clone)]
pub(crate) struct ConnState {
    /// Limits.
    pub(crate) config: Arc<Config>,
    /// The hub.
    pub(crate) hub: HubHandle,
    /// Connection places, in all and per address.
    pub(crate) admission: Arc<Admission>,
}

/// A connection let in: who it is, its place, and the cookie to set.
pub(crate) struct Admitted {
    /// The client, as the hub takes it.
    pub(crate) client: Client,
    /// Its place, held until the connection ends.
    pub(crate) ticket: Ticket,
    /// A `Set-Cookie` value for the identity minted now, if one was.
    pub(crate) set_cookie: Option<axum::http::HeaderValue>,
}

/// Lets a connection in, or answers why not. `check` runs after the origin
/// check and before a place is taken (the WebSocket checks its handshake
/// there, so a malformed upgrade takes no place).
/// `client` is what the request says ([`cookies::client`]).
pub(crate) async fn admit(
    state: &ConnState,
    mut client: Client,
    headers: &HeaderMap,
    check: impl FnOnce() -> Result<(), (StatusCode, &'static str)>,
) -> Result<Admitted, Response> {
    let by_token = match accounts::bearer(headers) {
        Some(token) => match accounts::signed_by_token(&state.hub, token).await {
            Ok(Some((signed, _))) => Some(signed),
            Ok(None) => {
                return Err(
                    (StatusCode::UNAUTHORIZED, "this token is unknown or revoked").into_response(),
                )
            }
            Err(_) => return Err(unavailable()),
        },
        None => None,
    };
    if by_token.is_none() && !origin_allowed(headers, &state.config) {
        tracing::debug!(origin = ?headers.get(header::ORIGIN), "refused connection from foreign origin");
        stats::refused_upgrade("origin");
        return Err((StatusCode::FORBIDDEN, "origin not allowed").into_response());
    }
    check().map_err(IntoResponse::into_response)?;
    let ticket = match state.admission.admit(client.addr) {
        Ok(ticket) => ticket,
        Err(refusal) => {
            tracing::debug!(addr = %client.addr, reason = refusal.label(), "refused connection");
            stats::refused_upgrade(refusal.label());
            return Err(refusal.response().into_response());
        }
    };
    if let Some(cookie) = &client.cookie {
        if !state.hub.knows(cookie).await {
            client.cookie = None;
            client.minted = Some(cookies::new_token());
            client.replaced = true;
        }
    }
    client.account = match by_token {
        Some(signed) => Some(signed),
        None => match accounts::signed_in(&state.hub, &state.config, headers, client.addr).await {
            Ok(live) => live.map(|live| live.signed),
            Err(e) => {
                tracing::warn!(error = %e, "connection refused: sessions cannot be read");
                return Err(unavailable());
            }
        },
    };
    let set_cookie = client
        .minted
        .as_deref()
        .map(|token| cookies::set_identity(token, &state.config));
    Ok(Admitted {
        client,
        ticket,
        set_cookie,
    })
}

/// The answer when the store cannot say who someone is just now.
fn unavailable() -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, "try again in a moment").into_response()
}

/// Hands one text frame from connection `conn` to the hub, whichever the
/// transport: parsed here, or refused and answered there (after it counts
/// against the connection's request rate limit). False once the hub no
/// longer has the connection.
pub(crate) async fn deliver(hub: &HubHandle, conn: ConnId, text: &str) -> bool {
    match ClientFrame::parse(text) {
        Ok(frame) => hub.frame(conn, frame).await,
        Err(e) => hub.refused(conn, e).await,
    }
}
