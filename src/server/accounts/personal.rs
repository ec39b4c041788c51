//! A person's own data: their archive (everything the server keeps about
//! them, as one JSON document, streamed a page at a time off the hub's
//! readers) and the deletion of their account. From the account page
//! (`POST /account/data`, `POST /account/delete` with the password), and
//! for any account from the admin command line (`chat admin user-data`,
//! `chat admin delete-user`: `GET /admin/user-data`, `POST /admin/delete-user`).

use super::admin::AdminState;
use super::routes::{busy, home, refuse_json, AccountState};
use crate::server::cookies;
use crate::server::export::{streamed, Chunks};
use crate::server::hub::HubHandle;
use crate::store::accounts::{AccountQuery, AccountRow};
use crate::store::grants::GrantQuery;
use crate::store::now_ms;
use crate::store::personal::{Cursor, Part, PersonalQuery};
use axum::extract::{Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// `identity`'s archive as a download (`chat-data-<name>.json`).
async fn archive(hub: HubHandle, identity: String) -> Response {
    let id = identity.clone();
    let head = hub
        .read_accounts(move |r| {
            let account = r.account(&AccountQuery::ByIdentity(id.clone()))?;
            let sessions = r.sessions_of(&id)?;
            let tokens = r.grants(&GrantQuery::TokensOf(id.clone()))?.tokens();
            Ok((account, sessions, tokens))
        })
        .await;
    let Ok((account, sessions, tokens)) = head else {
        return busy();
    };
    let name = hub
        .name_of(Arc::from(identity.as_str()))
        .await
        .unwrap_or_default();
    let head = json!({
        "format": "chat-personal-data",
        "version": 1,
        "exported_ms": now_ms(),
        "identity": {"id": identity, "name": name},
        "account": account.map(|a: AccountRow| json!({"role": a.role.as_str(), "created_ms": a.created_ms})),
        "sessions": sessions.iter().map(|s| json!({
            "created_ms": s.created_ms, "used_ms": s.used_ms, "addr": s.addr, "agent": s.agent,
        })).collect::<Vec<_>>(),
        "api_tokens": tokens.iter().map(|t| json!({
            "label": t.label, "rooms": t.rooms, "created_ms": t.created_ms,
        })).collect::<Vec<_>>(),
    });
    let body = streamed("a personal archive", move |out| async move {
        write(&hub, &identity, head, &out).await
    });
    let file: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let disposition = format!("attachment; filename=\"chat-data-{file}.json\"");
    (
        [
            (header::CONTENT_TYPE, "application/json".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        body,
    )
        .into_response()
}

/// Sends the archive: `head`'s fields, then each part a page at a time.
async fn write(hub: &HubHandle, identity: &str, head: Value, out: &Chunks) -> Result<(), String> {
    let send = |text: String| out.send(text);
    let head = serde_json::to_string(&head).expect("JSON serialises");
    send(head[..head.len() - 1].to_owned()).await?;
    for part in Part::ALL {
        send(format!(",\"{}\":[", part.key())).await?;
        let mut after: Option<Cursor> = Some(Vec::new());
        let mut first = true;
        while let Some(from) = after {
            let page = read_page(hub, identity, part, from).await?;
            let mut chunk = String::new();
            for row in &page.rows {
                if !first {
                    chunk.push(',');
                }
                first = false;
                chunk.push_str(&row.to_string());
            }
            send(chunk).await?;
            after = page.next;
        }
        send("]".into()).await?;
    }
    send("}\n".into()).await
}

async fn read_page(
    hub: &HubHandle,
    identity: &str,
    part: Part,
    after: Cursor,
) -> Result<crate::store::personal::Page, String> {
    let query = PersonalQuery {
        identity: identity.to_owned(),
        part,
        after,
    };
    hub.read_accounts(move |r| r.personal(&query))
        .await
        .map_err(|e| e.to_string())
}

/// Deletes `identity`'s account: the rooms it posted in are read first
/// (they are purged when its messages go).
async fn delete(state: &AccountState, identity: &str, name: String) -> Result<(), String> {
    // Kept messages need no rooms read: none is purged.
    let mut after = (!state.config.keep_deleted_users_messages).then(Vec::new);
    let mut rooms = Vec::new();
    while let Some(from) = after {
        let page = read_page(&state.hub, identity, Part::Posted, from).await?;
        rooms.extend(
            page.rows
                .iter()
                .filter_map(|r| r["room"].as_str().map(str::to_owned)),
        );
        after = page.next;
    }
    state
        .hub
        .erase(Arc::from(identity), name, rooms)
        .await
        .map_err(|e| e.to_string())?;
    // Its uploads are in `files_gone` now: their bytes go at once.
    state.hub.files_gone.notify_one();
    Ok(())
}

/// `POST /account/data`: the signed-in person's archive.
pub(super) async fn download(State(state): State<AccountState>, req: Request) -> Response {
    let (live, _): (_, NoFields) = match super::account::account_form(&state, req).await {
        Ok(both) => both,
        Err(answer) => return answer,
    };
    archive(state.hub.clone(), live.signed.identity.to_string()).await
}

/// No fields.
#[derive(Debug, Default, Deserialize)]
struct NoFields {}

/// The deletion form: the password, typed again.
#[derive(Debug, Default, Deserialize)]
struct DeleteForm {
    #[serde(default)]
    password: String,
}

/// `POST /account/delete`: with the right password, the account is
/// deleted and the browser signed out.
pub(super) async fn delete_own(State(state): State<AccountState>, req: Request) -> Response {
    let (live, form): (_, DeleteForm) = match super::account::account_form(&state, req).await {
        Ok(both) => both,
        Err(answer) => return answer,
    };
    let identity = live.signed.identity.to_string();
    match super::account::password_is(&state, &live, &form.password).await {
        Ok((true, _)) => {}
        Ok((false, _)) => {
            let wrong = "The password is not right; the account is not deleted.".to_owned();
            return super::account::account_page(
                &state,
                &live,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some(wrong),
                None,
            )
            .await;
        }
        Err(answer) => return answer,
    }
    let name = state
        .hub
        .name_of(live.signed.identity.clone())
        .await
        .unwrap_or_default();
    match delete(&state, &identity, name).await {
        Ok(()) => home([cookies::clear_session(&state.config)]),
        Err(why) => {
            tracing::warn!(why, "an account's deletion failed");
            busy()
        }
    }
}

/// `?name=` of the admin routes.
#[derive(Debug, Deserialize)]
pub(super) struct Named {
    name: String,
}

/// `GET /admin/user-data?name=`: an account's archive.
pub(super) async fn admin_download(
    State(state): State<AdminState>,
    Query(asked): Query<Named>,
) -> Response {
    match super::admin::account_named(&state, &asked.name).await {
        Ok(account) => archive(state.accounts.hub.clone(), account.identity).await,
        Err(refused) => refused,
    }
}

/// `POST /admin/delete-user {name}`: deletes an account, as its owner
/// could from the account page.
pub(super) async fn admin_delete(
    State(state): State<AdminState>,
    Json(asked): Json<Named>,
) -> Response {
    let account = match super::admin::account_named(&state, &asked.name).await {
        Ok(account) => account,
        Err(refused) => return refused,
    };
    let keep = state.accounts.config.keep_deleted_users_messages;
    match delete(&state.accounts, &account.identity, asked.name).await {
        Ok(()) => Json(json!({"ok": true, "messages": if keep { "kept" } else { "removed" }}))
            .into_response(),
        Err(why) => refuse_json(StatusCode::SERVICE_UNAVAILABLE, "unavailable", why),
    }
}
