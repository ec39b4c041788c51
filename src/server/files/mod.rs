//! *1.2* (section 5): files and images in messages.
//!
//! - `POST /api/v1/uploads` ([`upload`]): the body streamed to the files
//!   directory (never whole in memory), cut off past `CHAT_MAX_UPLOAD_MB`
//!   (413), its type sniffed from its bytes, an image re-made
//!   ([`picture`]), the identity's quota kept (507); 201 with the
//!   [`Attachment`].
//! - `GET /files/{id}` and `/files/{id}/thumb` ([`serve`]): 404 for anyone
//!   the hub's one authorization point does not let read the file's room
//!   (or, not posted yet, anyone but its uploader), exactly as for a
//!   missing file; headers that keep any file from running as a page.
//! - Names made safe ([`filename`]).
//! - Uploads per person and per address (429), and the images waiting to
//!   be re-made (503 past the queue's bound) ([`limits`]).
//!
//! Where the bytes are: a directory, `files/` in the data directory
//! unless `CHAT_FILES_DIR` says otherwise; several nodes (PostgreSQL)
//! share one directory (a network file system). Each file is `<id>`, its
//! thumbnail `<id>.thumb`, uploads under way are in `tmp/`. Why not the
//! database: a 25 MB file in SQLite or a BYTEA is read whole by their
//! clients, and range requests would need chunking; a directory streams
//! both ways with a few KiB in memory.

mod filename;
mod limits;
mod picture;
mod serve;
mod sweep;
mod upload;

use super::accounts;
use super::config::Config;
use super::cookies;
use super::hosts::same_origin_request;
use super::hub::{Client, FileAsk, HubHandle};
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub(crate) use limits::ImageQueue;

/// What the file routes need.
#[derive(Clone)]
pub(crate) struct FileState {
    /// Limits.
    config: Arc<Config>,
    /// The hub (who may, and the store's readers and writer).
    hub: HubHandle,
    /// The files directory.
    dir: Arc<PathBuf>,
    /// Uploads per identity and per address.
    limits: Arc<limits::UploadLimits>,
    /// Images being re-made and waiting to be.
    pub(crate) images: Arc<ImageQueue>,
}

impl FileState {
    /// The state, with the files directory (and its `tmp/`) made if
    /// missing, and its sweeper started ([`sweep`]).
    pub(crate) fn new(config: Arc<Config>, hub: HubHandle) -> std::io::Result<FileState> {
        let dir = config.files_dir();
        std::fs::create_dir_all(dir.join("tmp"))?;
        let state = FileState {
            limits: Arc::new(limits::UploadLimits::new(&config)),
            images: Arc::new(ImageQueue::new(&config)),
            config,
            hub,
            dir: Arc::new(dir),
        };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(sweep::run(state.clone()));
        }
        Ok(state)
    }

    /// Where file `id` is (its thumbnail with `thumb`).
    fn path(&self, id: &str, thumb: bool) -> PathBuf {
        match thumb {
            true => self.dir.join(format!("{id}.thumb")),
            false => self.dir.join(id),
        }
    }
}

/// The routes. Uploads have their own body timeout
/// (`CHAT_UPLOAD_TIMEOUT_SECS`), not the pages' 10 s, and no framework
/// body limit: [`upload`] counts the bytes itself.
pub(crate) fn router(state: FileState) -> Router {
    let timeout = state.config.upload_timeout;
    let uploads = Router::new()
        .route("/api/v1/uploads", post(upload::upload))
        .layer(DefaultBodyLimit::disable())
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(timeout))
        .with_state(state.clone());
    let files = Router::new()
        .route("/files/{id}", get(serve::file))
        .route("/files/{id}/thumb", get(serve::thumb))
        .with_state(state);
    uploads.merge(files)
}

/// Whether `id` has the shape of an upload's id (32 lowercase hex digits).
fn is_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Who a file request speaks as (`None`: a visitor), when `ask` is
/// allowed it: an API token
/// (`Authorization: Bearer`) or the page's cookies (session or guest
/// identity), which for an upload must come from the chat's own page
/// (`Origin` or `Sec-Fetch-Site`). The answer otherwise: `Err`.
async fn requester(
    state: &FileState,
    headers: &HeaderMap,
    mut client: Client,
    ask: FileAsk,
) -> Result<Option<Arc<str>>, Refused> {
    let upload = ask == FileAsk::Upload;
    if let Some(token) = accounts::bearer(headers) {
        match accounts::signed_by_token(&state.hub, token).await {
            Ok(Some((signed, _))) => client.account = Some(signed),
            Ok(None) => return Err(Refused::Unauthorized("this token is unknown or revoked")),
            Err(_) => return Err(Refused::Unavailable),
        }
    } else {
        if upload && !same_origin_request(headers, &state.config) {
            return Err(Refused::CrossOrigin);
        }
        match accounts::signed_in(&state.hub, &state.config, headers, client.addr).await {
            Ok(live) => client.account = live.map(|live| live.signed),
            Err(_) => return Err(Refused::Unavailable),
        }
    }
    client.minted = None;
    match state.hub.file_access(client, ask).await {
        Some(identity) => Ok(identity),
        None if upload => Err(Refused::Unauthorized(
            "sign in, or post a message first, to upload files",
        )),
        None => Err(Refused::NotFound),
    }
}

/// Why a file request was refused.
#[derive(Debug)]
enum Refused {
    /// No identity that may upload (401).
    Unauthorized(&'static str),
    /// Cookies from another site's page (403).
    CrossOrigin,
    /// No such file, or not for this requester (404, the same answer).
    NotFound,
    /// The store could not answer (503).
    Unavailable,
}

impl Refused {
    fn response(self) -> Response {
        let (status, code, message) = match self {
            Refused::Unauthorized(why) => (StatusCode::UNAUTHORIZED, "unauthorized", why),
            Refused::CrossOrigin => (
                StatusCode::FORBIDDEN,
                "forbidden",
                "uploads must come from the chat's own page",
            ),
            Refused::NotFound => (StatusCode::NOT_FOUND, "not_found", "no such file"),
            Refused::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "try again in a moment",
            ),
        };
        accounts::refuse_json(status, code, message)
    }
}

/// Removes a file when dropped, unless [`Doomed::keep`] was called: an
/// upload cut off, refused or abandoned leaves nothing behind. The removal
/// runs on the blocking pool.
struct Doomed(Option<PathBuf>);

impl Doomed {
    fn new(path: &Path) -> Doomed {
        Doomed(Some(path.to_owned()))
    }

    fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for Doomed {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let remove = move || drop(std::fs::remove_file(path));
            match tokio::runtime::Handle::try_current() {
                Ok(rt) => drop(rt.spawn_blocking(remove)),
                Err(_) => remove(),
            }
        }
    }
}

/// The client a request says it is (cookies, address).
fn client_of(req: &axum::extract::Request, config: &Config) -> Client {
    cookies::client(req, config)
}
