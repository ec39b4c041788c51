//! *1.2*: API tokens, for bots and scripts: made and revoked on the
//! account page (shown once, kept as SHA-256, optionally limited to some
//! rooms), and presented as `Authorization: Bearer <token>`:
//!
//! - on the `/ws` upgrade, the connection is the account (no cookie, and
//!   no origin check: a page elsewhere cannot make a browser send the
//!   header, which is what the check is for);
//! - on `POST /api/v1/rooms/{room}/messages` with JSON `{"text", "nonce"?}`
//!   it posts as the account: 201 with the message; otherwise JSON
//!   `{"code", "message"}` with the protocol's codes. The nonce rule of
//!   `send` makes a retried POST post once (the same message again, 201).
//!
//! A revoked token stops at once: each request looks it up in the store,
//! and revoking closes its WebSockets (4004) on every node.

use super::routes::{refuse_json, AccountState};
use super::sessions::session_hash;
use crate::protocol::{ErrorCode, ProtocolError};
use crate::server::cookies;
use crate::server::hub::{FormPost, HubHandle, SignedIn};
use crate::store::accounts::AccountQuery;
use crate::store::grants::{GrantQuery, TokenRow};
use crate::store::StoreError;
use axum::body::to_bytes;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use std::sync::Arc;

/// How a token starts (so that a leaked one is recognisable in a scan).
const TOKEN_PREFIX: &str = "chat_";
/// Largest API body read: a 2,000-character message, escaped, fits many times.
const MAX_API_BYTES: usize = 64 * 1024;
/// Most characters of a token's label.
pub(crate) const MAX_LABEL_CHARS: usize = 64;
/// Most rooms a token may be limited to.
pub(crate) const MAX_TOKEN_ROOMS: usize = 20;

/// A new token: the prefix and 256 random bits in hex.
pub(crate) fn new_token() -> String {
    format!("{TOKEN_PREFIX}{}", cookies::random_hex(32))
}

/// The bearer token of a request, if it carries one of the right shape.
pub(crate) fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = value.strip_prefix("Bearer ")?.trim();
    let hex = token.strip_prefix(TOKEN_PREFIX)?;
    (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit())).then_some(token)
}

/// The account `token` posts as, if it is a live token (`Ok(None)`:
/// unknown or revoked), and the token's row.
pub(crate) async fn signed_by_token(
    hub: &HubHandle,
    token: &str,
) -> Result<Option<(SignedIn, TokenRow)>, StoreError> {
    let hash = session_hash(token);
    let found = hub
        .read_accounts(move |r| {
            let Some(token) = r.grants(&GrantQuery::Token(hash))?.tokens().pop() else {
                return Ok(None);
            };
            let query = AccountQuery::ByIdentity(token.identity.clone());
            Ok(r.account(&query)?.map(|account| (token, account.role)))
        })
        .await?;
    Ok(found.map(|(token, role)| {
        let signed = SignedIn {
            hash,
            identity: Arc::from(token.identity.as_str()),
            role,
            rooms: (!token.rooms.is_empty()).then(|| Arc::from(token.rooms.clone())),
        };
        (signed, token)
    }))
}

/// The API routes.
pub(crate) fn router(state: AccountState) -> Router {
    Router::new()
        .route("/api/v1/rooms/{room}/messages", post(post_message))
        .with_state(state)
}

/// The status of a refused post's code.
fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::NoSuchRoom => StatusCode::NOT_FOUND,
        // *1.2* (section 4): a ban, a mute, a read-only room forbid.
        ErrorCode::Forbidden | ErrorCode::Banned | ErrorCode::Muted | ErrorCode::ReadOnly => {
            StatusCode::FORBIDDEN
        }
        ErrorCode::RateLimited | ErrorCode::SlowMode => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::BAD_REQUEST,
    }
}

/// `{"text", "nonce"?}`.
#[derive(Debug, Deserialize)]
struct NewMessage {
    text: String,
    #[serde(default)]
    nonce: Option<String>,
}

async fn post_message(
    State(state): State<AccountState>,
    Path(room): Path<String>,
    req: Request,
) -> Response {
    let Some(token) = bearer(req.headers()).map(str::to_owned) else {
        return refuse_json(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Authorization: Bearer <token> is needed",
        );
    };
    let client = cookies::client(&req, &state.config);
    let body = match to_bytes(req.into_body(), MAX_API_BYTES).await {
        Ok(body) => body,
        Err(_) => {
            return refuse_json(
                StatusCode::PAYLOAD_TOO_LARGE,
                "bad_request",
                "the body is larger than 64 KiB",
            )
        }
    };
    let signed = match signed_by_token(&state.hub, &token).await {
        Ok(Some((signed, _))) => signed,
        Ok(None) => {
            return refuse_json(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "this token is unknown or revoked",
            )
        }
        Err(_) => {
            return refuse_json(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "try again in a moment",
            )
        }
    };
    let asked: NewMessage = match serde_json::from_slice(&body) {
        Ok(asked) => asked,
        Err(e) => {
            return refuse_json(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("expected {{\"text\", \"nonce\"?}}: {e}"),
            )
        }
    };
    let Some(name) = state.hub.name_of(signed.identity.clone()).await else {
        return refuse_json(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the account is not known here yet",
        );
    };
    let post = FormPost {
        name,
        room,
        text: asked.text,
        nonce: asked.nonce,
        client: crate::server::hub::Client {
            account: Some(signed),
            cookie: None,
            minted: None,
            ..client
        },
    };
    match state.hub.post(post).await {
        Ok(posted) => (StatusCode::CREATED, Json(posted.message)).into_response(),
        Err(ProtocolError { code, message, .. }) => {
            let mut refused = refuse_json(status_of(code), &code.name(), message);
            if code == ErrorCode::RateLimited {
                refused
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            refused
        }
    }
}
