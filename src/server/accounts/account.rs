//! The account page (`GET /account`) and its forms: change the password
//! (ending every other session), sign one device out, make and revoke API
//! tokens. Each needs a live session (else to `/login`) and, for a `POST`,
//! the chat's own origin.

use super::routes::{addr_of, busy, cross_origin, home, page, AccountState};
use super::sessions::{signed_in, Live};
use super::tokens::{new_token, MAX_LABEL_CHARS, MAX_TOKEN_ROOMS};
use super::views::{self, session_label, AccountView};
use super::{check_length, Busy, MAX_PASSWORD_CHARS};
use crate::protocol::validate_room;
use crate::server::cookies;
use crate::server::hosts::same_origin_request;
use crate::server::hub::Ending;
use crate::server::pages::read_form;
use crate::store::accounts::{AccountChange, AccountQuery, AccountRow};
use crate::store::grants::{GrantChange, GrantQuery, TokenRow};
use crate::store::now_ms;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::net::IpAddr;

/// Largest form read.
const MAX_FORM_BYTES: usize = 16 * 1024;

/// The signed-in session of a request to an account page, or the answer:
/// to the sign-in page when there is none, 503 when the store cannot say.
pub(super) async fn account_session(
    state: &AccountState,
    headers: &HeaderMap,
    addr: IpAddr,
) -> Result<Live, Response> {
    match signed_in(&state.hub, &state.config, headers, addr).await {
        Ok(Some(live)) => Ok(live),
        Ok(None) => Err(Redirect::to("/login").into_response()),
        Err(_) => Err(busy()),
    }
}

/// The account page of `live`, with a notice or an error.
pub(super) async fn account_page(
    state: &AccountState,
    live: &Live,
    status: StatusCode,
    notice: Option<String>,
    error: Option<String>,
    new_token: Option<String>,
) -> Response {
    let identity = live.signed.identity.to_string();
    let listed = state
        .hub
        .read_accounts(move |r| {
            let tokens = r.grants(&GrantQuery::TokensOf(identity.clone()))?.tokens();
            Ok((r.sessions_of(&identity)?, tokens))
        })
        .await;
    let Ok((sessions, tokens)) = listed else {
        return busy();
    };
    let name = state
        .hub
        .name_of(live.signed.identity.clone())
        .await
        .unwrap_or_default();
    let view = AccountView {
        name,
        role: live.signed.role.as_str(),
        sessions,
        tokens,
        current: live.signed.hash,
        notice,
        error,
        new_token,
    };
    page(status, views::account(&state.options, view))
}

pub(super) async fn show(State(state): State<AccountState>, req: Request) -> Response {
    let addr = addr_of(&req, &state.config);
    match account_session(&state, req.headers(), addr).await {
        Ok(live) => account_page(&state, &live, StatusCode::OK, None, None, None).await,
        Err(answer) => answer,
    }
}

/// The password form's fields.
#[derive(Debug, Default, Deserialize)]
struct PasswordForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    password: String,
}

pub(super) async fn change_password(State(state): State<AccountState>, req: Request) -> Response {
    let (live, form): (Live, PasswordForm) = match account_form(&state, req).await {
        Ok(both) => both,
        Err(answer) => return answer,
    };
    let refuse = |error: String| {
        account_page(
            &state,
            &live,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Some(error),
            None,
        )
    };
    if let Err(p) = check_length(&form.password) {
        return refuse(p.message()).await;
    }
    let account = match password_is(&state, &live, &form.current).await {
        Ok((true, account)) => account,
        Ok((false, _)) => return refuse("The current password is not right.".into()).await,
        Err(answer) => return answer,
    };
    let name = state
        .hub
        .name_of(live.signed.identity.clone())
        .await
        .unwrap_or_default();
    let phc = match state.hasher.hash_new(form.password, name).await {
        Ok(Ok(phc)) => phc,
        Ok(Err(p)) => return refuse(p.message()).await,
        Err(Busy) => return busy(),
    };
    let changed = AccountRow {
        password: phc,
        ..account
    };
    let saved = state
        .hub
        .save_accounts(vec![AccountChange::SaveAccount(changed)], true)
        .await;
    let ending = Ending::All {
        identity: live.signed.identity.clone(),
        except: Some(live.signed.hash),
    };
    if saved.is_err() || state.hub.end_sessions(ending).await.is_err() {
        return busy();
    }
    let done = "The password is changed; every other device is signed out.".to_owned();
    account_page(&state, &live, StatusCode::OK, Some(done), None, None).await
}

/// Whether `typed` is the password of `live`'s account (the row read
/// beside the hub, the hash checked on the hasher's threads), with the
/// account; or the answer when the store or the hasher is busy.
pub(super) async fn password_is(
    state: &AccountState,
    live: &Live,
    typed: &str,
) -> Result<(bool, AccountRow), Response> {
    let identity = live.signed.identity.to_string();
    let account = state
        .hub
        .read_accounts(move |r| r.account(&AccountQuery::ByIdentity(identity)))
        .await;
    let Ok(Some(account)) = account else {
        return Err(busy());
    };
    let typed: String = typed.chars().take(MAX_PASSWORD_CHARS).collect();
    match state
        .hasher
        .verify(typed, Some(account.password.clone()))
        .await
    {
        Ok(right) => Ok((right, account)),
        Err(Busy) => Err(busy()),
    }
}

/// The form ending one session from the account page.
#[derive(Debug, Default, Deserialize)]
struct EndSessionForm {
    /// The session's label on the page ([`session_label`]).
    #[serde(default)]
    session: String,
}

pub(super) async fn end_session(State(state): State<AccountState>, req: Request) -> Response {
    let (live, form): (Live, EndSessionForm) = match account_form(&state, req).await {
        Ok(both) => both,
        Err(answer) => return answer,
    };
    let identity = live.signed.identity.to_string();
    let sessions = state
        .hub
        .read_accounts(move |r| r.sessions_of(&identity))
        .await;
    let Ok(sessions) = sessions else {
        return busy();
    };
    // Only a session of this account: a label of another's is no session.
    let Some(session) = sessions
        .iter()
        .find(|s| session_label(&s.hash) == form.session)
    else {
        let gone = "That session has already ended.".to_owned();
        return account_page(&state, &live, StatusCode::OK, Some(gone), None, None).await;
    };
    let ending = Ending::One {
        identity: live.signed.identity.clone(),
        hash: session.hash,
    };
    if state.hub.end_sessions(ending).await.is_err() {
        return busy();
    }
    if session.hash == live.signed.hash {
        return home([cookies::clear_session(&state.config)]);
    }
    let done = "That device is signed out.".to_owned();
    account_page(&state, &live, StatusCode::OK, Some(done), None, None).await
}

/// The token form's fields.
#[derive(Debug, Default, Deserialize)]
struct TokenForm {
    /// What the token is for.
    #[serde(default)]
    label: String,
    /// The rooms it may post to, separated by spaces or commas; empty: any.
    #[serde(default)]
    rooms: String,
}

/// The rooms a token form names, each checked; or why they are refused.
fn token_rooms(rooms: &str) -> Result<Vec<String>, String> {
    let mut named: Vec<String> = rooms
        .split([' ', ','])
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect();
    named.sort();
    named.dedup();
    if named.len() > MAX_TOKEN_ROOMS {
        return Err(format!("A token may name at most {MAX_TOKEN_ROOMS} rooms."));
    }
    for room in &named {
        validate_room(room).map_err(|e| e.message)?;
    }
    Ok(named)
}

/// `POST /account/tokens`: a new API token, shown on the page this once.
pub(super) async fn make_token(State(state): State<AccountState>, req: Request) -> Response {
    let (live, form): (Live, TokenForm) = match account_form(&state, req).await {
        Ok(both) => both,
        Err(answer) => return answer,
    };
    let label = form.label.trim();
    let refused = |error: String| {
        account_page(
            &state,
            &live,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Some(error),
            None,
        )
    };
    if label.is_empty()
        || label.chars().count() > MAX_LABEL_CHARS
        || label.chars().any(char::is_control)
    {
        return refused(format!(
            "A token needs a name of 1 to {MAX_LABEL_CHARS} characters."
        ))
        .await;
    }
    let rooms = match token_rooms(&form.rooms) {
        Ok(rooms) => rooms,
        Err(why) => return refused(why).await,
    };
    let token = new_token();
    let row = TokenRow {
        hash: super::sessions::session_hash(&token),
        identity: live.signed.identity.to_string(),
        label: label.to_owned(),
        rooms,
        created_ms: now_ms(),
    };
    let change = AccountChange::Grant(GrantChange::SaveToken(row));
    if state.hub.save_accounts(vec![change], true).await.is_err() {
        return busy();
    }
    let said = "The token is made. Copy it now: it is shown this once.".to_owned();
    account_page(&state, &live, StatusCode::OK, Some(said), None, Some(token)).await
}

/// The revoke form's field.
#[derive(Debug, Default, Deserialize)]
struct RevokeForm {
    /// The token's label on the page ([`session_label`] of its hash).
    #[serde(default)]
    token: String,
}

/// `POST /account/tokens/revoke`: the token stops at once, its sockets close.
pub(super) async fn revoke_token(State(state): State<AccountState>, req: Request) -> Response {
    let (live, form): (Live, RevokeForm) = match account_form(&state, req).await {
        Ok(both) => both,
        Err(answer) => return answer,
    };
    let identity = live.signed.identity.to_string();
    let tokens = state
        .hub
        .read_accounts(move |r| Ok(r.grants(&GrantQuery::TokensOf(identity))?.tokens()))
        .await;
    let Ok(tokens) = tokens else {
        return busy();
    };
    // Only a token of this account: another's label names nothing here.
    let Some(token) = tokens.iter().find(|t| session_label(&t.hash) == form.token) else {
        let gone = "That token was already revoked.".to_owned();
        return account_page(&state, &live, StatusCode::OK, Some(gone), None, None).await;
    };
    let revoke = AccountChange::Grant(GrantChange::RevokeToken {
        hash: token.hash,
        identity: token.identity.clone(),
    });
    let ending = Ending::One {
        identity: live.signed.identity.clone(),
        hash: token.hash,
    };
    let saved = state.hub.save_accounts(vec![revoke], true).await;
    if saved.is_err() || state.hub.end_sessions(ending).await.is_err() {
        return busy();
    }
    let done = format!("The token {:?} is revoked.", token.label);
    account_page(&state, &live, StatusCode::OK, Some(done), None, None).await
}

/// A `POST` to the account page: same origin, a live session, its form.
pub(super) async fn account_form<T: serde::de::DeserializeOwned + Default>(
    state: &AccountState,
    req: Request,
) -> Result<(Live, T), Response> {
    if !same_origin_request(req.headers(), &state.config) {
        return Err(cross_origin());
    }
    let addr = addr_of(&req, &state.config);
    let (parts, body) = req.into_parts();
    let form: T = read_form(body, MAX_FORM_BYTES).await?;
    let live = account_session(state, &parts.headers, addr).await?;
    Ok((live, form))
}
