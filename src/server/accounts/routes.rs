//! The account routes (protocol 1.2 section 1): `GET`/`POST /signup`,
//! `GET`/`POST /login`, `POST /logout`, `GET /account`,
//! and the account page's ([`super::account`]).
//!
//! Every `POST` needs the chat's own origin (403 otherwise). A sign-in
//! reads the failures counted against the account and the client address
//! (in the store, so every node counts the same), then the account, then
//! verifies the password on the hashing threads; an unknown name is
//! verified against a dummy hash and counted like a wrong password, so
//! both answers are the same status, body and time. Each success mints a
//! new session id (never one the request carried) and ends the one the
//! request carried, if any.

use super::account;
use super::sessions::{new_session, session_hash, signed_in, Live};
use super::views::{self, FormState};
use super::{check_length, Busy, Hasher, MAX_PASSWORD_CHARS};
use crate::protocol::{ErrorCode, ProtocolError};
use crate::server::config::Config;
use crate::server::config::Registration;
use crate::server::cookies;
use crate::server::hosts::same_origin_request;
use crate::server::hub::{account_key, addr_key, Ending, HubHandle, SignUp};
use crate::server::pages::read_form;
use crate::store::accounts::{AccountChange, AccountQuery, Role};
use crate::store::grants::GrantQuery;
use crate::store::now_ms;
use axum::extract::{Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use leptos::prelude::LeptosOptions;
use serde::Deserialize;
use std::net::IpAddr;
use std::sync::Arc;

/// Largest account form read (a 256-character password, encoded, fits many times).
const MAX_ACCOUNT_FORM_BYTES: usize = 16 * 1024;

/// What the account routes need.
#[derive(Clone)]
pub(crate) struct AccountState {
    /// Limits, cookies, origins.
    pub(crate) config: Arc<Config>,
    /// The hub (and its readers).
    pub(crate) hub: HubHandle,
    /// Password hashing, off the hub and tokio's workers.
    pub(crate) hasher: Hasher,
    /// Where the stylesheet is.
    pub(crate) options: LeptosOptions,
}

/// The account routes.
pub(crate) fn router(state: AccountState) -> Router {
    Router::new()
        .route("/login", get(show_sign_in).post(sign_in))
        .route("/signup", get(show_sign_up).post(sign_up))
        .route("/logout", post(sign_out))
        .route("/account", get(account::show))
        .route("/account/password", post(account::change_password))
        .route("/account/sessions/end", post(account::end_session))
        .route("/account/tokens", post(account::make_token))
        .route("/account/tokens/revoke", post(account::revoke_token))
        .route("/account/data", post(super::personal::download))
        .route("/account/delete", post(super::personal::delete_own))
        .with_state(state)
}

/// A page as the answer, with `status`; never cached, framed or scripted.
pub(super) fn page(status: StatusCode, html: String) -> Response {
    let mut response = (status, Html(html)).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-store"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(crate::server::headers::FORM_PAGE_CSP),
    );
    response
}

/// A JSON refusal (the admin routes, the HTTP API): `status` and
/// `{"code", "message"}`.
pub(crate) fn refuse_json(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let body = serde_json::json!({"code": code, "message": message.into()});
    (status, axum::Json(body)).into_response()
}

/// 403 for a form posted from anywhere but the chat's own pages.
pub(super) fn cross_origin() -> Response {
    (
        StatusCode::FORBIDDEN,
        "this form must be posted from the chat's own page",
    )
        .into_response()
}

/// `status` with a `Retry-After` of `secs`, saying `why`.
pub(super) fn retry_after(status: StatusCode, secs: u64, why: String) -> Response {
    let mut response = (status, why).into_response();
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    response
}

/// 503: the hashing threads' queue is full, or the store cannot answer.
pub(super) fn busy() -> Response {
    retry_after(
        StatusCode::SERVICE_UNAVAILABLE,
        1,
        "the server is busy; try again in a moment".into(),
    )
}

/// The client address the request comes from (as limits count it).
pub(super) fn addr_of(req: &Request, config: &Config) -> IpAddr {
    cookies::client(req, config).addr
}

/// Redirect home, setting `cookies`.
pub(super) fn home(cookies: impl IntoIterator<Item = HeaderValue>) -> Response {
    let mut response = Redirect::to("/").into_response();
    for cookie in cookies {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// The sign-in form's fields.
#[derive(Debug, Default, Deserialize)]
struct SignInForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
}

async fn show_sign_in(State(state): State<AccountState>) -> Response {
    page(
        StatusCode::OK,
        views::sign_in(&state.options, FormState::default()),
    )
}

/// The failure keys a sign-in as `name` from `addr` counts against.
fn failure_keys(name: &str, addr: IpAddr) -> (String, String) {
    let account = match account_key(name) {
        Some(key) => format!("account:{key}"),
        // No identity can have this name; still counted, by what was typed.
        None => format!("account?:{}", name.chars().take(64).collect::<String>()),
    };
    (account, format!("addr:{}", addr_key(addr)))
}

async fn sign_in(State(state): State<AccountState>, req: Request) -> Response {
    if !same_origin_request(req.headers(), &state.config) {
        return cross_origin();
    }
    let addr = addr_of(&req, &state.config);
    let (parts, body) = req.into_parts();
    let form: SignInForm = match read_form(body, MAX_ACCOUNT_FORM_BYTES).await {
        Ok(form) => form,
        Err(refused) => return refused,
    };
    let config = &state.config;
    let (account_failures, addr_failures) = failure_keys(&form.name, addr);
    let window_ms = config.sign_in_window.as_millis() as u64;
    let key = account_key(&form.name);
    let keys = (account_failures.clone(), addr_failures.clone());
    let now = now_ms();
    let read = state
        .hub
        .read_accounts(move |r| {
            let by_account = r.sign_in_failures(&keys.0, now, window_ms)?;
            let by_addr = r.sign_in_failures(&keys.1, now, window_ms)?;
            let account = match key {
                Some(key) => r.account(&AccountQuery::ByNameKey(key))?,
                None => None,
            };
            Ok((by_account, by_addr, account))
        })
        .await;
    let Ok((by_account, by_addr, account)) = read else {
        return busy();
    };
    if by_account >= config.sign_in_failures || by_addr >= config.sign_in_addr_failures {
        let secs = config.sign_in_window.as_secs();
        return retry_after(
            StatusCode::TOO_MANY_REQUESTS,
            secs,
            format!(
                "too many failed sign-ins: try again in {} minutes",
                secs.div_ceil(60)
            ),
        );
    }
    // A password no account can have is verified all the same (against
    // the dummy hash), so its answer takes the time of any other.
    let too_long = form.password.chars().count() > MAX_PASSWORD_CHARS;
    let phc = account
        .as_ref()
        .filter(|_| !too_long)
        .map(|a| a.password.clone());
    let password: String = form.password.chars().take(MAX_PASSWORD_CHARS).collect();
    let matched = match state.hasher.verify(password, phc).await {
        Ok(matched) => matched,
        Err(Busy) => return busy(),
    };
    let account = account.filter(|_| matched);
    let Some(account) = account else {
        let failed = |key: String| AccountChange::Failed {
            key,
            at_ms: now,
            window_ms,
        };
        let changes = vec![failed(account_failures), failed(addr_failures)];
        if state.hub.save_accounts(changes, true).await.is_err() {
            return busy();
        }
        let form = FormState {
            name: form.name,
            error: Some("That name and password do not match an account.".into()),
            ..FormState::default()
        };
        return page(
            StatusCode::UNAUTHORIZED,
            views::sign_in(&state.options, form),
        );
    };
    // *1.2* (section 4): an identity banned from the server signs in no more.
    if state.hub.banned(&account.identity).await {
        let form = FormState {
            name: form.name,
            error: Some("This account is banned from this chat.".into()),
            ..FormState::default()
        };
        return page(StatusCode::FORBIDDEN, views::sign_in(&state.options, form));
    }
    let (id, session) = new_session(&account.identity, addr, &parts.headers);
    let mut changes = vec![
        AccountChange::SaveSession(session),
        AccountChange::Succeeded(account_failures),
    ];
    // Rotated: the session the request carried (if any) ends here.
    if let Some(old) = cookies::session_id(&parts.headers, config) {
        changes.push(AccountChange::EndSession(session_hash(&old)));
    }
    if state.hub.save_accounts(changes, true).await.is_err() {
        return busy();
    }
    home([cookies::set_session(&id, config)])
}

/// The sign-up form's fields.
#[derive(Debug, Default, Deserialize)]
struct SignUpForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    invite: String,
}

/// `?invite=` on the sign-up page.
#[derive(Debug, Default, Deserialize)]
struct InviteQuery {
    #[serde(default)]
    invite: String,
}

async fn show_sign_up(
    State(state): State<AccountState>,
    Query(query): Query<InviteQuery>,
    req: Request,
) -> Response {
    if state.config.registration == Registration::Closed {
        return closed(&state);
    }
    let guest = state
        .hub
        .guest_name(cookies::client(&req, &state.config))
        .await;
    let form = FormState {
        invite: query.invite,
        ..FormState::default()
    };
    page(StatusCode::OK, views::sign_up(&state.options, form, guest))
}

/// 403: sign-ups are closed (`CHAT_REGISTRATION=closed`).
fn closed(state: &AccountState) -> Response {
    let form = FormState {
        error: Some("Sign-ups are closed here; an administrator can make you an account.".into()),
        ..FormState::default()
    };
    page(
        StatusCode::FORBIDDEN,
        views::sign_up(&state.options, form, None),
    )
}

/// The hash of `code` when it names an invite with a use left that has
/// not expired (`Ok(None)` otherwise); 503 when the store cannot say.
async fn live_invite(hub: &HubHandle, code: &str) -> Result<Option<[u8; 32]>, Response> {
    if code.is_empty() || code.len() > 128 {
        return Ok(None);
    }
    let hash = session_hash(code);
    let now = now_ms();
    let found = hub
        .read_accounts(move |r| Ok(r.grants(&GrantQuery::Invite(hash))?.invite()))
        .await
        .map_err(|_| busy())?;
    Ok(found
        .filter(|i| i.uses_left > 0 && i.expires_ms > now)
        .map(|i| i.hash))
}

async fn sign_up(State(state): State<AccountState>, req: Request) -> Response {
    if !same_origin_request(req.headers(), &state.config) {
        return cross_origin();
    }
    let client = cookies::client(&req, &state.config);
    let (parts, body) = req.into_parts();
    let form: SignUpForm = match read_form(body, MAX_ACCOUNT_FORM_BYTES).await {
        Ok(form) => form,
        Err(refused) => return refused,
    };
    let problem = |status: StatusCode, error: String, form: SignUpForm| {
        let again = FormState {
            name: form.name,
            invite: form.invite,
            error: Some(error),
        };
        page(status, views::sign_up(&state.options, again, None))
    };
    if let Err(p) = check_length(&form.password) {
        return problem(StatusCode::UNPROCESSABLE_ENTITY, p.message(), form);
    }
    let invite = match state.config.registration {
        Registration::Open => None,
        Registration::Closed => return closed(&state),
        Registration::Invite => match live_invite(&state.hub, &form.invite).await {
            Ok(Some(hash)) => Some(hash),
            Ok(None) => {
                let why = "An invite is needed to make an account here, and this one is unknown, \
                           used up or expired."
                    .to_owned();
                return problem(StatusCode::UNPROCESSABLE_ENTITY, why, form);
            }
            Err(refused) => return refused,
        },
    };
    let phc = match state
        .hasher
        .hash_new(form.password.clone(), form.name.clone())
        .await
    {
        Ok(Ok(phc)) => phc,
        Ok(Err(p)) => return problem(StatusCode::UNPROCESSABLE_ENTITY, p.message(), form),
        Err(Busy) => return busy(),
    };
    let (id, session) = new_session("", client.addr, &parts.headers);
    let sign_up = SignUp {
        client,
        name: form.name.clone(),
        password: phc,
        role: Role::User,
        invite,
        session: Some(session),
    };
    match state.hub.sign_up(sign_up).await {
        Ok(_) => home([cookies::set_session(&id, &state.config)]),
        Err(ProtocolError { code, message, .. }) => {
            let status = match code {
                ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
                ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                _ => StatusCode::UNPROCESSABLE_ENTITY,
            };
            problem(status, message, form)
        }
    }
}

/// The sign-out form's fields.
#[derive(Debug, Default, Deserialize)]
struct SignOutForm {
    /// `1`: every session of the account.
    #[serde(default)]
    everywhere: String,
}

async fn sign_out(State(state): State<AccountState>, req: Request) -> Response {
    if !same_origin_request(req.headers(), &state.config) {
        return cross_origin();
    }
    let addr = addr_of(&req, &state.config);
    let (parts, body) = req.into_parts();
    let form: SignOutForm = match read_form(body, MAX_ACCOUNT_FORM_BYTES).await {
        Ok(form) => form,
        Err(refused) => return refused,
    };
    let live = match signed_in(&state.hub, &state.config, &parts.headers, addr).await {
        Ok(live) => live,
        Err(_) => return busy(),
    };
    if let Some(Live { signed, .. }) = live {
        let ending = match form.everywhere == "1" {
            true => Ending::All {
                identity: signed.identity,
                except: None,
            },
            false => Ending::One {
                identity: signed.identity,
                hash: signed.hash,
            },
        };
        if state.hub.end_sessions(ending).await.is_err() {
            return busy();
        }
    }
    home([cookies::clear_session(&state.config)])
}
