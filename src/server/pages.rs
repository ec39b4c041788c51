//! The page routes.
//!
//! - `GET /` renders the whole chat with the `general` room's recent
//!   messages and members, so the page reads before any script arrives.
//! - `POST /` takes the page's plain form (browsers without JavaScript):
//!   name, text and room go through the hub's own validation, store and
//!   broadcast ([`HubHandle::post`]). Success redirects back to the page
//!   (303, so a reload does not post twice) and remembers the name in a
//!   cookie; a refusal renders the page again with the reason next to the
//!   form and the text still in it. *1.1*: the form posts as an identity
//!   (proved by the identity cookie, see [`super::cookies`]; the first post
//!   of a free name makes one), and carries a nonce rendered into it, so
//!   posting the same form twice (a resubmit after a lost answer) posts once.

use super::config::Config;
use super::cookies;
use super::hosts::same_origin_request;
use super::hub::{addr_key, limit_bucket, Bucket, Client, FormPost, HubHandle};
use crate::protocol::{validate_nonce, ErrorCode, ProtocolError, GENERAL_ROOM};
use crate::ui::{room_path, shell, FormError, PageData};
use axum::body::{to_bytes, Body};
use axum::extract::{Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use leptos::prelude::{provide_context, LeptosOptions};
use serde::Deserialize;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Largest form body read; a full 2,000-character message fits many times.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// What the page routes need.
#[derive(Clone)]
pub(crate) struct PageState {
    /// Limits and allowed origins.
    pub(crate) config: Arc<Config>,
    /// The hub.
    pub(crate) hub: HubHandle,
    /// Where the site's files are, for the document's script tags.
    pub(crate) options: LeptosOptions,
    /// Page renders per client address (each costs a store read and a
    /// render; a loop of them took the server's core).
    pub(crate) renders: Arc<Mutex<HashMap<IpAddr, Bucket>>>,
}

impl PageState {
    /// Takes one page render from `addr`'s budget
    /// ([`Config::page_rate_per_sec`], [`Config::page_burst`]).
    fn may_render(&self, addr: IpAddr) -> bool {
        let (rate, burst) = (self.config.page_rate_per_sec, self.config.page_burst);
        let mut renders = self.renders.lock().expect("renders lock");
        limit_bucket(&mut renders, addr_key(addr), rate, burst).take(rate, burst)
    }
}

/// The plain form's fields; a missing field is empty (and refused as such).
#[derive(Debug, Default, Deserialize)]
struct PostForm {
    /// Display name.
    #[serde(default)]
    name: String,
    /// Message text.
    #[serde(default)]
    text: String,
    /// Room (the page's form says `general`).
    #[serde(default)]
    room: String,
    /// The nonce rendered into the form.
    #[serde(default)]
    nonce: String,
}

/// Sets the identity cookie on `response` when `token` is a new one.
fn set_identity(response: &mut Response, token: Option<&str>, config: &Config) {
    if let Some(token) = token {
        let cookie = cookies::set_identity(token, config);
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
}

/// `GET /`: the page with `general`.
pub(crate) async fn show(State(state): State<PageState>, req: Request) -> Response {
    show_room(&state, GENERAL_ROOM, req).await
}

/// `GET /r/{room}`: the page with that room first, so a room can be linked
/// and bookmarked; a room that does not exist is a 404 page.
pub(crate) async fn show_linked(
    State(state): State<PageState>,
    Path(room): Path<String>,
    req: Request,
) -> Response {
    show_room(&state, &room, req).await
}

async fn show_room(state: &PageState, room: &str, req: Request) -> Response {
    if !state.may_render(cookies::client(&req, &state.config).addr) {
        let mut refused = (
            StatusCode::TOO_MANY_REQUESTS,
            "too many page loads from your address: wait a moment and reload",
        )
            .into_response();
        refused
            .headers_mut()
            .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
        return refused;
    }
    let mut client = cookies::client(&req, &state.config);
    let account = match signed_in_name(state, req.headers(), &mut client).await {
        Ok(account) => account,
        Err(refused) => return refused,
    };
    let name = match &account {
        Some(name) => name.clone(),
        None => cookies::name(req.headers()).unwrap_or_default(),
    };
    let minted = client.minted.clone();
    let mut data = page_data(&state.hub, &client, room, name, String::new(), None).await;
    if let Some(data) = &mut data {
        data.account = account;
    }
    let mut response = render(state, req, data).await;
    set_identity(&mut response, minted.as_deref(), &state.config);
    response
}

/// `POST /`: the plain form.
pub(crate) async fn post(State(state): State<PageState>, req: Request) -> Response {
    if !same_origin_request(req.headers(), &state.config) {
        return not_same_origin();
    }
    let mut client = cookies::client(&req, &state.config);
    let account = match signed_in_name(&state, req.headers(), &mut client).await {
        Ok(account) => account,
        Err(refused) => return refused,
    };
    let (parts, body) = req.into_parts();
    let form: PostForm = match read_form(body, MAX_FORM_BYTES).await {
        Ok(form) => form,
        Err(refused) => return refused,
    };
    let room = match form.room.trim() {
        "" => GENERAL_ROOM,
        room => room,
    };
    let post = FormPost {
        name: form.name.clone(),
        room: room.to_owned(),
        text: form.text.clone(),
        nonce: Some(form.nonce.clone()),
        client: client.clone(),
    };
    match state.hub.post(post).await {
        Ok(posted) => {
            let back = format!("{}#end", room_path(&posted.message.room));
            let mut response = Redirect::to(&back).into_response();
            let name = cookies::set_name(&posted.message.user, &state.config);
            response.headers_mut().append(header::SET_COOKIE, name);
            set_identity(&mut response, posted.token.as_deref(), &state.config);
            response
        }
        Err(e) => {
            let refused = Refused {
                room: room.to_owned(),
                name: form.name,
                text: form.text,
                account,
                // Nothing was posted: the same nonce again, should it go through.
                nonce: validate_nonce(Some(&form.nonce))
                    .ok()
                    .flatten()
                    .map(str::to_owned),
            };
            let mut response = refused_page(&state, parts, &client, refused, e).await;
            set_identity(&mut response, client.minted.as_deref(), &state.config);
            response
        }
    }
}

/// The answer to a form posted from another site (403).
pub(crate) fn not_same_origin() -> Response {
    (
        StatusCode::FORBIDDEN,
        "this form must be posted from the chat's own page",
    )
        .into_response()
}

/// What a refused form's page shows again.
pub(crate) struct Refused {
    /// The room in view (`general` when that one is gone).
    pub(crate) room: String,
    /// The name field's value.
    pub(crate) name: String,
    /// The text, so that nothing typed is lost.
    pub(crate) text: String,
    /// The signed-in account's name, if any.
    pub(crate) account: Option<String>,
    /// The plain form's nonce to render again, if it was a valid one.
    pub(crate) nonce: Option<String>,
}

/// The page again with why a form was refused next to it: 429 for a
/// rate limit, 503 when the store failed, else 422.
pub(crate) async fn refused_page(
    state: &PageState,
    parts: axum::http::request::Parts,
    client: &Client,
    refused: Refused,
    e: ProtocolError,
) -> Response {
    let status = match e.code {
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::UNPROCESSABLE_ENTITY,
    };
    let error = FormError {
        code: e.code,
        message: e.message,
    };
    let Refused {
        room,
        name,
        text,
        account,
        nonce,
    } = refused;
    let hub = &state.hub;
    let shown = page_data(
        hub,
        client,
        &room,
        name.clone(),
        text.clone(),
        Some(error.clone()),
    );
    let mut data = match shown.await {
        Some(data) => data,
        None => page_data(hub, client, GENERAL_ROOM, name, text, Some(error))
            .await
            .unwrap_or_default(),
    };
    data.account = account;
    if let Some(nonce) = nonce {
        data.nonce = nonce;
    }
    let mut response = render(state, Request::from_parts(parts, Body::empty()), Some(data)).await;
    *response.status_mut() = status;
    response
}

/// *1.2*: the signed-in account's name, when the request's session cookie
/// names a live session (`client` then speaks as it); 503 when the store
/// cannot say.
pub(crate) async fn signed_in_name(
    state: &PageState,
    headers: &axum::http::HeaderMap,
    client: &mut Client,
) -> Result<Option<String>, Response> {
    let live = super::accounts::signed_in(&state.hub, &state.config, headers, client.addr)
        .await
        .map_err(|_| {
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the server could not read your session; try again",
            )
                .into_response()
        })?;
    let Some(live) = live else {
        return Ok(None);
    };
    let name = state.hub.name_of(live.signed.identity.clone()).await;
    client.account = Some(live.signed);
    Ok(name)
}

/// The page's data: `room`'s recent messages and members, and the form's
/// state; `None` when the room does not exist.
pub(crate) async fn page_data(
    hub: &HubHandle,
    client: &Client,
    room: &str,
    name: String,
    text: String,
    error: Option<FormError>,
) -> Option<PageData> {
    let snapshot = hub.snapshot(room, client).await;
    let (messages, members, member_count, rooms, mine, unavailable) = match snapshot {
        Ok(s) => (
            s.messages,
            s.members,
            s.member_count,
            s.rooms,
            s.mine,
            false,
        ),
        Err(e) if matches!(e.code, ErrorCode::NoSuchRoom | ErrorCode::BadRoom) => return None,
        Err(e) => {
            tracing::warn!(error = %e.message, "page rendered without history");
            (Vec::new(), Vec::new(), 0, Vec::new(), Vec::new(), true)
        }
    };
    Some(PageData {
        room: room.to_owned(),
        messages,
        members,
        member_count,
        rooms,
        name,
        text,
        error,
        unavailable,
        nonce: cookies::random_hex(16),
        account: None,
        mine,
    })
}

/// Renders the document with `data` (waiting for everything: the page is
/// complete without JavaScript); without data, the "not found" page, 404.
pub(crate) async fn render(state: &PageState, req: Request, data: Option<PageData>) -> Response {
    let found = data.is_some();
    let options = state.options.clone();
    let context_options = options.clone();
    let handler = leptos_axum::render_app_async_with_context(
        move || {
            if let Some(data) = &data {
                provide_context(data.clone());
            }
            provide_context(context_options.clone());
            super::headers::page_headers();
        },
        move || shell(options.clone()),
    );
    let mut response = handler(req).await.into_response();
    if !found {
        *response.status_mut() = StatusCode::NOT_FOUND;
    }
    response
}

/// A form body of at most `max` bytes (a missing field is its default,
/// an unreadable body all defaults), or the answer refusing it: 413 past
/// `max`, 408 when it did not arrive within the body timeout.
pub(crate) async fn read_form<T: serde::de::DeserializeOwned + Default>(
    body: Body,
    max: usize,
) -> Result<T, Response> {
    match to_bytes(body, max).await {
        Ok(bytes) => Ok(serde_urlencoded::from_bytes(&bytes).unwrap_or_default()),
        Err(e) if too_large(&e) => Err((
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the form is larger than {} KiB", max / 1024),
        )
            .into_response()),
        // The body timeout (CHAT_BODY_TIMEOUT_SECS), or the client went away.
        Err(_) => Err((
            StatusCode::REQUEST_TIMEOUT,
            "the form did not arrive in time; send it again",
        )
            .into_response()),
    }
}

/// True when reading a body failed on its size limit.
fn too_large(e: &axum::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if c.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = c.source();
    }
    false
}
