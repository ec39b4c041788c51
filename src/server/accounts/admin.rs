//! The administrators' routes, on the operations listener only
//! (`CHAT_OPS_ADDR`, loopback by default), under `/admin/`: what `chat
//! admin …` asks a running server (see [`crate::admin_cli`]).
//!
//! Each request needs `Authorization: Bearer <secret>`, the secret the
//! server writes at each start to `admin.secret` in its data directory
//! (mode 0600): only someone who can read the server's files, on its
//! machine, can use them. Through a running server, so the data
//! directory's lock is no obstacle and every node of a cluster works the
//! same: the changes go through the hub and the commit thread like the
//! pages' own, and sessions ended here close on every node.
//!
//! JSON in and out; a refusal is `{"code", "message"}` with a 4xx status.

use super::routes::{refuse_json, AccountState};
use super::sessions::session_hash;
use crate::server::cookies;
use crate::server::hub::{account_key, Client, Ending, SignUp};
use crate::store::accounts::{AccountChange, AccountQuery, AccountRow, Role};
use crate::store::grants::{GrantChange, GrantQuery, InviteRow};
use crate::store::now_ms;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::Arc;

/// The file (in the data directory) holding the admin secret.
pub const SECRET_FILE: &str = "admin.secret";
/// Most uses an invite may have, and most days it may last.
const MAX_INVITE_USES: u32 = 10_000;
/// Most days an invite may last.
const MAX_INVITE_DAYS: f64 = 365.0;

/// Mints a new admin secret and writes it to [`SECRET_FILE`] under `dir`
/// (readable by the server's user alone); returns its hash.
pub(crate) fn write_secret(dir: &Path) -> std::io::Result<[u8; 32]> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::create_dir_all(dir)?;
    let secret = cookies::random_hex(32);
    let path = dir.join(SECRET_FILE);
    let temp = dir.join(format!("{SECRET_FILE}.new"));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temp)?;
    file.write_all(secret.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&temp, &path)?;
    Ok(session_hash(&secret))
}

/// What the admin routes need.
#[derive(Clone)]
pub(crate) struct AdminState {
    /// The account routes' state (hub, hasher, config).
    pub(crate) accounts: AccountState,
    /// SHA-256 of the secret.
    pub(crate) secret: Arc<[u8; 32]>,
}

/// The `/admin/` routes.
pub(crate) fn router(state: AdminState) -> Router {
    Router::new()
        .route("/admin/users", get(list_users).post(create_user))
        .route("/admin/password", post(set_password))
        .route("/admin/role", post(set_role))
        .route("/admin/invites", post(invite))
        .route("/admin/end-sessions", post(end_sessions))
        .route("/admin/audit", get(audit))
        .route("/admin/backup", post(backup))
        .route("/admin/export", get(crate::server::export::export))
        .route("/admin/user-data", get(super::personal::admin_download))
        .route("/admin/delete-user", post(super::personal::admin_delete))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            authorized,
        ))
        .with_state(state)
}

/// 401 unless the request carries the secret.
async fn authorized(State(state): State<AdminState>, req: Request, next: Next) -> Response {
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    // Hashes compared: how long the comparison takes says nothing of the secret.
    if given.map(session_hash).as_ref() != Some(&*state.secret) {
        return refuse_json(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            format!("the admin secret (the server's {SECRET_FILE}) is needed"),
        );
    }
    next.run(req).await
}

/// 503 for a store or hashing refusal.
fn busy() -> Response {
    refuse_json(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "the server is busy or cannot read its store; try again",
    )
}

/// `password` for `name` checked by the sign-up rules and hashed, or the
/// answer refusing it (422 `bad_password`, 503 when the hashing is busy).
async fn new_password(
    state: &AdminState,
    password: String,
    name: String,
) -> Result<String, Response> {
    match state.accounts.hasher.hash_new(password, name).await {
        Ok(Ok(phc)) => Ok(phc),
        Ok(Err(problem)) => Err(refuse_json(
            StatusCode::UNPROCESSABLE_ENTITY,
            "bad_password",
            problem.message(),
        )),
        Err(_) => Err(busy()),
    }
}

/// The account named `name`, or the answer saying there is none.
pub(super) async fn account_named(state: &AdminState, name: &str) -> Result<AccountRow, Response> {
    let no_such = || {
        refuse_json(
            StatusCode::NOT_FOUND,
            "no_such_user",
            format!("no account is named {name:?}"),
        )
    };
    let Some(key) = account_key(name) else {
        return Err(no_such());
    };
    let found = state
        .accounts
        .hub
        .read_accounts(move |r| r.account(&AccountQuery::ByNameKey(key)))
        .await
        .map_err(|_| busy())?;
    found.ok_or_else(no_such)
}

/// `{name, password, admin?}`.
#[derive(Debug, Deserialize)]
struct NewUser {
    name: String,
    password: String,
    #[serde(default)]
    admin: bool,
}

async fn create_user(State(state): State<AdminState>, Json(user): Json<NewUser>) -> Response {
    let phc = match new_password(&state, user.password, user.name.clone()).await {
        Ok(phc) => phc,
        Err(refused) => return refused,
    };
    let role = if user.admin { Role::Admin } else { Role::User };
    let sign_up = SignUp {
        client: Client {
            addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
            cookie: None,
            minted: None,
            replaced: false,
            account: None,
        },
        name: user.name,
        password: phc,
        role,
        invite: None,
        session: None,
    };
    match state.accounts.hub.sign_up(sign_up).await {
        Ok(made) => {
            let body = json!({"id": &*made.identity, "name": made.name, "role": role.as_str()});
            (StatusCode::CREATED, Json(body)).into_response()
        }
        Err(e) => refuse_json(StatusCode::UNPROCESSABLE_ENTITY, &e.code.name(), e.message),
    }
}

async fn list_users(State(state): State<AdminState>) -> Response {
    let listed = state
        .accounts
        .hub
        .read_accounts(|r| Ok(r.grants(&GrantQuery::Accounts)?.accounts()))
        .await;
    let Ok(accounts) = listed else {
        return busy();
    };
    let users: Vec<Value> = accounts
        .into_iter()
        .map(|a| json!({"id": a.identity, "name": a.name, "role": a.role, "created_ms": a.created_ms}))
        .collect();
    Json(json!({"users": users})).into_response()
}

/// `/admin/audit`'s query: a room's entries (or all), older than `before`.
#[derive(Debug, Deserialize)]
struct AuditAsked {
    room: Option<String>,
    before: Option<u64>,
}

/// *1.2* (section 4): a page of the audit log, newest first, with the
/// identities' ids beside the names.
async fn audit(
    State(state): State<AdminState>,
    axum::extract::Query(asked): axum::extract::Query<AuditAsked>,
) -> Response {
    let limit = crate::protocol::AUDIT_PAGE;
    let query = crate::store::moderation::AuditQuery {
        room: asked.room.filter(|r| !r.is_empty()),
        before: asked.before,
        limit: limit + 1,
    };
    let Ok(mut records) = state
        .accounts
        .hub
        .read_accounts(move |r| r.audit(&query))
        .await
    else {
        return busy();
    };
    let more = records.len() > limit;
    records.truncate(limit);
    let entries: Vec<Value> = records
        .into_iter()
        .map(|r| {
            let mut entry = serde_json::to_value(&r.entry).unwrap_or_default();
            entry["by_id"] = json!(r.by_identity);
            entry["user_id"] = json!(r.target);
            entry
        })
        .collect();
    Json(json!({"entries": entries, "more": more})).into_response()
}

/// `{name, password}`.
#[derive(Debug, Deserialize)]
struct NewPassword {
    name: String,
    password: String,
}

async fn set_password(State(state): State<AdminState>, Json(asked): Json<NewPassword>) -> Response {
    let account = match account_named(&state, &asked.name).await {
        Ok(account) => account,
        Err(refused) => return refused,
    };
    let phc = match new_password(&state, asked.password, asked.name).await {
        Ok(phc) => phc,
        Err(refused) => return refused,
    };
    let identity: Arc<str> = Arc::from(account.identity.as_str());
    let changed = AccountRow {
        password: phc,
        ..account
    };
    save_then_end(&state, changed, Some(identity)).await
}

/// Stores `account`; then, if `end` names it, ends all its sessions.
async fn save_then_end(state: &AdminState, account: AccountRow, end: Option<Arc<str>>) -> Response {
    let hub = &state.accounts.hub;
    if hub
        .save_accounts(vec![AccountChange::SaveAccount(account)], true)
        .await
        .is_err()
    {
        return busy();
    }
    if let Some(identity) = end {
        let ending = Ending::All {
            identity,
            except: None,
        };
        if hub.end_sessions(ending).await.is_err() {
            return busy();
        }
    }
    Json(json!({"ok": true})).into_response()
}

/// `{name, role}`.
#[derive(Debug, Deserialize)]
struct NewRole {
    name: String,
    role: String,
}

async fn set_role(State(state): State<AdminState>, Json(asked): Json<NewRole>) -> Response {
    let role = match asked.role.as_str() {
        "admin" => Role::Admin,
        "user" => Role::User,
        _ => {
            return refuse_json(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "role is admin or user",
            )
        }
    };
    let account = match account_named(&state, &asked.name).await {
        Ok(account) => account,
        Err(refused) => return refused,
    };
    save_then_end(&state, AccountRow { role, ..account }, None).await
}

/// `{uses?, days?}`.
#[derive(Debug, Deserialize)]
struct NewInvite {
    #[serde(default = "one")]
    uses: u32,
    #[serde(default = "week")]
    days: f64,
}

fn one() -> u32 {
    1
}

fn week() -> f64 {
    7.0
}

async fn invite(State(state): State<AdminState>, Json(asked): Json<NewInvite>) -> Response {
    if !(1..=MAX_INVITE_USES).contains(&asked.uses) {
        let why = format!("uses is from 1 to {MAX_INVITE_USES}");
        return refuse_json(StatusCode::BAD_REQUEST, "bad_request", why);
    }
    if !(asked.days > 0.0 && asked.days <= MAX_INVITE_DAYS) {
        let why = format!("days is above 0 and at most {MAX_INVITE_DAYS}");
        return refuse_json(StatusCode::BAD_REQUEST, "bad_request", why);
    }
    let code = cookies::random_hex(16);
    let now = now_ms();
    let expires_ms = now + (asked.days * 86_400_000.0) as u64;
    let row = InviteRow {
        hash: session_hash(&code),
        uses_left: asked.uses,
        expires_ms,
        created_ms: now,
    };
    let change = AccountChange::Grant(GrantChange::SaveInvite(row));
    if state
        .accounts
        .hub
        .save_accounts(vec![change], true)
        .await
        .is_err()
    {
        return busy();
    }
    let body = json!({
        "code": code,
        "path": format!("/signup?invite={code}"),
        "uses": asked.uses,
        "expires_ms": expires_ms,
    });
    (StatusCode::CREATED, Json(body)).into_response()
}

/// `{name}`.
#[derive(Debug, Deserialize)]
struct Named {
    name: String,
}

async fn end_sessions(State(state): State<AdminState>, Json(asked): Json<Named>) -> Response {
    let account = match account_named(&state, &asked.name).await {
        Ok(account) => account,
        Err(refused) => return refused,
    };
    let ending = Ending::All {
        identity: Arc::from(account.identity.as_str()),
        except: None,
    };
    if state.accounts.hub.end_sessions(ending).await.is_err() {
        return busy();
    }
    Json(json!({"ok": true})).into_response()
}

/// `POST /admin/backup`'s body.
#[derive(Debug, Deserialize)]
struct BackupAsked {
    /// Where to write it: an absolute path, missing or empty.
    dir: std::path::PathBuf,
}

/// `POST /admin/backup`: the store and its files copied into `dir` while
/// the chat goes on ([`crate::store::backup`]), on the blocking pool;
/// the manifest, or why not. PostgreSQL's store is backed up with its
/// own tools (README "Backups").
async fn backup(State(state): State<AdminState>, Json(asked): Json<BackupAsked>) -> Response {
    use crate::store::backup::{backup_sqlite, BackupError};
    let config = state.accounts.config.clone();
    if config.store.database_url.is_some() {
        return refuse_json(
            StatusCode::CONFLICT,
            "postgres",
            "this server stores in PostgreSQL: back it up with pg_dump, and copy its files directory (README: Backups)",
        );
    }
    if !asked.dir.is_absolute() {
        return refuse_json(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "the backup directory must be an absolute path",
        );
    }
    let db = config.store.data_dir.join(crate::store::DB_FILE);
    let files = config.files_dir();
    let job = move || backup_sqlite(&db, &files, &asked.dir);
    match tokio::task::spawn_blocking(job).await {
        Ok(Ok(manifest)) => Json(manifest).into_response(),
        Ok(Err(BackupError::Refused(why))) => refuse_json(StatusCode::CONFLICT, "refused", why),
        Ok(Err(BackupError::Failed(why))) => {
            tracing::error!(why, "backup failed");
            refuse_json(StatusCode::INTERNAL_SERVER_ERROR, "failed", why)
        }
        Err(_) => busy(),
    }
}
