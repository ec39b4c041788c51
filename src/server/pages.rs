//! The page routes.
//!
//! - `GET /` renders the whole chat with the `general` room's recent
//!   messages and members, so the page reads before any script arrives.
//! - `POST /` takes the page's plain form (browsers without JavaScript):
//!   name, text and room go through the hub's own validation, store and
//!   broadcast ([`HubHandle::post`]). Success redirects back to the page
//!   (303, so a reload does not post twice) and remembers the name in a
//!   cookie; a refusal renders the page again with the reason next to the
//!   form and the text still in it.

use super::config::Config;
use super::conn::origin_allowed;
use super::hub::HubHandle;
use crate::protocol::{validate_name, ErrorCode, ProtocolError, GENERAL_ROOM};
use crate::ui::{shell, FormError, PageData};
use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use leptos::prelude::{provide_context, LeptosOptions};
use serde::Deserialize;
use std::sync::Arc;

/// The cookie that remembers the name of someone posting with the form.
const NAME_COOKIE: &str = "chat_name";
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
}

/// `GET /`.
pub(crate) async fn show(State(state): State<PageState>, req: Request) -> Response {
    let name = name_cookie(req.headers()).unwrap_or_default();
    let data = page_data(&state.hub, name, String::new(), None).await;
    render(&state, req, data).await
}

/// `POST /`: the plain form.
pub(crate) async fn post(State(state): State<PageState>, req: Request) -> Response {
    if !origin_allowed(req.headers(), &state.config) {
        return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
    }
    let (parts, body) = req.into_parts();
    let form: PostForm = match to_bytes(body, MAX_FORM_BYTES).await {
        Ok(bytes) => serde_urlencoded::from_bytes(&bytes).unwrap_or_default(),
        Err(_) => {
            return (
                StatusCode::PAYLOAD_TOO_LARGE,
                "the form is larger than 64 KiB",
            )
                .into_response()
        }
    };
    let room = match form.room.trim() {
        "" => GENERAL_ROOM,
        room => room,
    };
    match state.hub.post(&form.name, room, &form.text).await {
        Ok(_) => {
            let mut response = Redirect::to("/#end").into_response();
            let cookie = format!(
                "{NAME_COOKIE}={}; Path=/; Max-Age=31536000; SameSite=Lax; HttpOnly",
                form_urlencoded::byte_serialize(form.name.trim().as_bytes()).collect::<String>()
            );
            if let Ok(value) = HeaderValue::from_str(&cookie) {
                response.headers_mut().insert(header::SET_COOKIE, value);
            }
            response
        }
        Err(ProtocolError { code, message, .. }) => {
            let status = match code {
                ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            let error = FormError { code, message };
            let data = page_data(&state.hub, form.name, form.text, Some(error)).await;
            let mut response =
                render(&state, Request::from_parts(parts, Body::empty()), data).await;
            *response.status_mut() = status;
            response
        }
    }
}

/// The name an earlier form post remembered, if it is still a valid name.
fn name_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().strip_prefix(NAME_COOKIE)?.strip_prefix('='))
        .find_map(|value| {
            let encoded = format!("n={value}");
            let (_, name) = form_urlencoded::parse(encoded.as_bytes()).next()?;
            validate_name(&name).ok().map(str::to_owned)
        })
}

/// The page's data: `general`'s recent messages and members, and the form's state.
async fn page_data(
    hub: &HubHandle,
    name: String,
    text: String,
    error: Option<FormError>,
) -> PageData {
    let (messages, members, member_count, unavailable) = match hub.snapshot(GENERAL_ROOM).await {
        Ok(s) => (s.messages, s.members, s.member_count, false),
        Err(e) => {
            tracing::warn!(error = %e.message, "page rendered without history");
            (Vec::new(), Vec::new(), 0, true)
        }
    };
    PageData {
        room: GENERAL_ROOM.to_owned(),
        messages,
        members,
        member_count,
        name,
        text,
        error,
        unavailable,
    }
}

/// Renders the document with `data` (waiting for everything: the page is
/// complete without JavaScript).
async fn render(state: &PageState, req: Request, data: PageData) -> Response {
    let options = state.options.clone();
    let context_options = options.clone();
    let handler = leptos_axum::render_app_async_with_context(
        move || {
            provide_context(data.clone());
            provide_context(context_options.clone());
        },
        move || shell(options.clone()),
    );
    handler(req).await.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_cookie_is_decoded_and_checked() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; chat_name=Zo%C3%AB+K; c=d"),
        );
        assert_eq!(name_cookie(&headers).as_deref(), Some("Zoë K"));
        headers.insert(header::COOKIE, HeaderValue::from_static("chat_name=%07"));
        assert_eq!(name_cookie(&headers), None);
    }
}
