//! `POST /api/v1/uploads`: the file's bytes as the body (with
//! `X-Filename`, percent-encoded UTF-8), or `multipart/form-data` with one
//! `file` part. In order: who may upload ([`super::requester`]); their
//! allowance and their address's (429, [`super::limits`]); a declared
//! length past the limit, or past what the quota leaves, is refused
//! before a byte is read; the body is
//! written to `tmp/` as it arrives, counting, and cut off one byte past
//! the limit (413); the type is sniffed from the first bytes (`infer`),
//! whatever the client said; an image is re-made on the blocking pool
//! ([`super::picture`]; 413 past the pixel limit, 422 when it cannot be
//! read; 503 when too many wait); the files are moved into place and the
//! row is stored, if the identity's quota holds it (507, decided by the
//! store). Anything refused or abandoned on the way
//! leaves no file behind ([`super::Doomed`]).

use super::picture::{self, Kind, Refusal};
use super::{filename, requester, Doomed, FileState};
use crate::server::accounts::refuse_json;
use crate::server::cookies::random_hex;
use crate::server::hub::FileAsk;
use crate::store::accounts::AccountChange;
use crate::store::files::{over_quota as over_quota_words, FileChange, UploadRow};
use crate::store::now_ms;
use crate::store::StoreError;
use axum::body::Body;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use http_body_util::BodyExt;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

/// Bytes kept from the start of a file for sniffing its type.
const HEAD_BYTES: usize = 8192;
/// Most bytes of an upload buffered on their way to the disk.
const WRITE_BUFFER: usize = 64 * 1024;

/// Why an upload's body was not taken.
enum Cut {
    /// Past the limit.
    TooLarge,
    /// Not readable as sent (a broken multipart body, no `file` part).
    Malformed(String),
    /// The body stopped arriving (the client went away, or too slow).
    Broken,
    /// The files directory failed.
    Disk(std::io::Error),
}

/// The body received: bytes written, its first bytes, and a multipart
/// part's file name.
struct Received {
    size: u64,
    head: Vec<u8>,
    name: Option<String>,
}

/// A file being written from chunks, at most `max` bytes. tokio's file
/// copies each write into a buffer of its own and writes it on the
/// blocking pool; that buffer is held to [`WRITE_BUFFER`] (its default,
/// 2 MiB, made a 10 MB upload cost the server 3 MiB of memory), and the
/// task yields after each [`WRITE_BUFFER`] bytes so that an upload
/// arriving as fast as loopback allows does not hold its worker for long.
struct Sink {
    out: tokio::fs::File,
    size: u64,
    head: Vec<u8>,
    max: u64,
    unyielded: usize,
    /// Where the disk's writeback of this file was last started
    /// ([`write_behind`]), and where the one before it was.
    behind: (u64, u64),
}

impl Sink {
    async fn create(path: &Path, max: u64) -> Result<Sink, Cut> {
        let mut out = tokio::fs::File::create(path).await.map_err(Cut::Disk)?;
        out.set_max_buf_size(WRITE_BUFFER);
        Ok(Sink {
            out,
            size: 0,
            head: Vec::with_capacity(HEAD_BYTES),
            max,
            unyielded: 0,
            behind: (0, 0),
        })
    }

    /// Writes `data`; [`Cut::TooLarge`] once past the limit.
    async fn take(&mut self, data: &[u8]) -> Result<(), Cut> {
        self.size += data.len() as u64;
        if self.size > self.max {
            return Err(Cut::TooLarge);
        }
        let room = HEAD_BYTES.saturating_sub(self.head.len()).min(data.len());
        self.head.extend_from_slice(&data[..room]);
        self.out.write_all(data).await.map_err(Cut::Disk)?;
        self.unyielded += data.len();
        if self.unyielded >= WRITE_BUFFER {
            self.unyielded = 0;
            tokio::task::yield_now().await;
        }
        if self.size - self.behind.1 >= WRITE_BEHIND {
            self.out.flush().await.map_err(Cut::Disk)?;
            // A descriptor of its own: the call may outlive this upload
            // (a client that goes away drops the task, not the call).
            let file = self
                .out
                .try_clone()
                .await
                .map_err(Cut::Disk)?
                .into_std()
                .await;
            let ((waited, started), now) = (self.behind, self.size);
            let pace = move || write_behind(&file, waited, started, now);
            let _ = tokio::task::spawn_blocking(pace).await;
            self.behind = (started, now);
        }
        Ok(())
    }

    async fn finish(mut self, name: Option<String>) -> Result<Received, Cut> {
        self.out.flush().await.map_err(Cut::Disk)?;
        Ok(Received {
            size: self.size,
            head: self.head,
            name,
        })
    }
}

/// Bytes of an upload between two starts of the disk's writeback.
const WRITE_BEHIND: u64 = 1 << 20;

/// Waits for the writeback of `fd`'s bytes `waited..started` (started
/// one [`WRITE_BEHIND`] ago) and starts that of `started..now`: an upload
/// never leaves more than two of them dirty in the page cache. Why: on
/// ext4 (`data=ordered`) a journal commit, and so the store's every
/// `fsync`, waits for the dirty data of files whose blocks it allocates;
/// 10 uploads at loopback speed left hundreds of MB dirty, and the chat
/// pair's p99 went from 20 to 300–480 ms while they ran (`make bench`,
/// `BENCH_ONLY=files`).
fn write_behind(file: &std::fs::File, waited: u64, started: u64, now: u64) {
    use libc::{
        sync_file_range, SYNC_FILE_RANGE_WAIT_AFTER, SYNC_FILE_RANGE_WAIT_BEFORE,
        SYNC_FILE_RANGE_WRITE,
    };
    let wait = SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER;
    let fd = file.as_raw_fd();
    // SAFETY: plain system calls on a descriptor `file` keeps open; a
    // failure (a file system without it) only loses the pacing.
    unsafe {
        if started > waited {
            sync_file_range(fd, waited as i64, (started - waited) as i64, wait);
        }
        sync_file_range(
            fd,
            started as i64,
            (now - started) as i64,
            SYNC_FILE_RANGE_WRITE,
        );
    }
}

/// The raw body.
async fn receive_body(mut body: Body, path: &Path, max: u64) -> Result<Received, Cut> {
    let mut sink = Sink::create(path, max).await?;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| Cut::Broken)?;
        if let Ok(data) = frame.into_data() {
            sink.take(&data).await?;
        }
    }
    sink.finish(None).await
}

/// The first `file` part of a multipart body.
async fn receive_multipart(req: Request, path: &Path, max: u64) -> Result<Received, Cut> {
    let mut parts = Multipart::from_request(req, &())
        .await
        .map_err(|e| Cut::Malformed(e.body_text()))?;
    loop {
        let field = parts.next_field().await.map_err(|e| match e.status() {
            StatusCode::PAYLOAD_TOO_LARGE => Cut::TooLarge,
            _ => Cut::Malformed(e.body_text()),
        })?;
        let Some(mut field) = field else {
            return Err(Cut::Malformed("no part named \"file\"".into()));
        };
        if field.name() != Some("file") {
            continue;
        }
        let name = field.file_name().map(str::to_owned);
        let mut sink = Sink::create(path, max).await?;
        while let Some(data) = field.chunk().await.map_err(|_| Cut::Broken)? {
            sink.take(&data).await?;
        }
        return sink.finish(name).await;
    }
}

/// The `X-Filename` header, percent-decoded (UTF-8; bytes that are not
/// are replaced).
fn header_name(headers: &HeaderMap) -> Option<String> {
    let raw = headers.get("x-filename")?.as_bytes();
    let decoded: Vec<u8> = percent_decode(raw);
    Some(String::from_utf8_lossy(&decoded).into_owned())
}

/// `%XX` escapes decoded (a malformed one is kept as it is).
fn percent_decode(raw: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            if let (Some(h), Some(l)) = (
                raw.get(i + 1).copied().and_then(hex),
                raw.get(i + 2).copied().and_then(hex),
            ) {
                out.push(h << 4 | l);
                i += 3;
                continue;
            }
        }
        out.push(raw[i]);
        i += 1;
    }
    out
}

fn too_large(max: u64) -> Response {
    refuse_json(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!("a file may be at most {} MiB ({max} bytes)", max >> 20),
    )
}

fn is_multipart(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("multipart/form-data")
        })
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// `POST /api/v1/uploads`.
pub(super) async fn upload(State(state): State<FileState>, req: Request) -> Response {
    let client = super::client_of(&req, &state.config);
    let addr = client.addr;
    let identity = match requester(&state, req.headers(), client, FileAsk::Upload).await {
        // An upload is allowed only to an identity.
        Ok(Some(identity)) => identity,
        Ok(None) => return super::Refused::Unauthorized("no identity").response(),
        Err(refused) => return refused.response(),
    };
    if let Err(limited) = state.limits.take(&identity, addr) {
        return limited.response();
    }
    let max = state.config.max_upload_bytes;
    // A multipart body is a little larger than its file: only the raw
    // body's declared length says the file is too large.
    let multipart = is_multipart(req.headers());
    let declared = declared_length(req.headers()).filter(|_| !multipart);
    if declared.is_some_and(|len| len > max) {
        return too_large(max);
    }
    // Refused before the body when it cannot fit (the store checks again,
    // and decides, when the row is stored).
    let quota = state.config.upload_quota_bytes;
    let who = identity.to_string();
    let used = match state.hub.read_accounts(move |r| r.upload_usage(&who)).await {
        Ok(used) => used,
        Err(_) => return unavailable(),
    };
    let least = declared.unwrap_or(0);
    if used.saturating_add(least) > quota {
        return over_quota(over_quota_words(quota, used, least));
    }
    let given_name = header_name(req.headers());
    let id = random_hex(16);
    let part = state.dir.join("tmp").join(format!("{id}.part"));
    let part_doomed = Doomed::new(&part);
    let received = match multipart {
        true => receive_multipart(req, &part, max).await,
        false => receive_body(req.into_body(), &part, max).await,
    };
    let received = match received {
        Ok(received) => received,
        Err(Cut::TooLarge) => return too_large(max),
        Err(Cut::Malformed(why)) => {
            return refuse_json(StatusCode::BAD_REQUEST, "bad_request", why)
        }
        Err(Cut::Broken) => {
            return refuse_json(
                StatusCode::BAD_REQUEST,
                "bad_request",
                "the upload stopped before its end",
            )
        }
        Err(Cut::Disk(e)) => return disk_failed(&e),
    };
    let name = filename::clean(&received.name.or(given_name).unwrap_or_default());
    let sniffed = infer::get(&received.head).map(|t| t.mime_type());
    let kind = sniffed.and_then(Kind::of_mime);
    let (final_path, thumb_path) = (state.path(&id, false), state.path(&id, true));
    let mut row = UploadRow {
        id: id.clone(),
        identity: identity.to_string(),
        name,
        size: received.size,
        mime: sniffed.unwrap_or("application/octet-stream").to_owned(),
        dimensions: None,
        thumb: false,
        created_ms: now_ms(),
        posted: None,
    };
    // What ends up in place: the file, and a thumbnail.
    let mut placed = vec![];
    let mut _remade = None;
    match kind {
        Some(kind) => {
            let remade = match remake(&state, kind, &part, &id).await {
                Ok(remade) => remade,
                Err(refused) => return refused,
            };
            row.size = remade.made.size;
            row.mime = kind.mime().to_owned();
            row.dimensions = Some((remade.made.width, remade.made.height));
            row.thumb = remade.made.thumb;
            placed.push((remade.image.clone(), final_path));
            if let Some(thumb) = &remade.thumb {
                placed.push((thumb.clone(), thumb_path));
            }
            _remade = Some(remade);
        }
        None => placed.push((part.clone(), final_path)),
    }
    let mut in_place = Vec::new();
    for (from, to) in &placed {
        in_place.push(Doomed::new(to));
        if let Err(e) = tokio::fs::rename(from, to).await {
            return disk_failed(&e);
        }
    }
    let change = AccountChange::File(FileChange::Save {
        row: row.clone(),
        quota,
    });
    match state.hub.save_accounts(vec![change], true).await {
        Ok(()) => {}
        Err(StoreError::Refused(why)) => return over_quota(why),
        Err(_) => return unavailable(),
    }
    in_place.into_iter().for_each(Doomed::keep);
    drop(part_doomed);
    tracing::debug!(id = %row.id, size = row.size, mime = %row.mime, "file uploaded");
    (StatusCode::CREATED, Json(row.attachment())).into_response()
}

/// Re-makes the image at `part` off the async workers, when its turn
/// comes in the [`super::ImageQueue`] (503 when the queue is full).
async fn remake(state: &FileState, kind: Kind, part: &Path, id: &str) -> Result<Remade, Response> {
    let tmp = state.dir.join("tmp");
    let (image, thumb) = (
        tmp.join(format!("{id}.image")),
        tmp.join(format!("{id}.small")),
    );
    let (image_doomed, thumb_doomed) = (Doomed::new(&image), Doomed::new(&thumb));
    let place = state.images.admit().map_err(|full| full.response())?;
    let Some(_turn) = place.turn().await else {
        return Err(unavailable());
    };
    let max_pixels = state.config.max_image_pixels;
    let (input, out, small) = (part.to_owned(), image.clone(), thumb.clone());
    let job = move || picture::remake(kind, &input, &out, &small, max_pixels);
    let made = match tokio::task::spawn_blocking(job).await {
        Ok(Ok(made)) => made,
        Ok(Err(Refusal::TooManyPixels(w, h))) => {
            return Err(refuse_json(
                StatusCode::PAYLOAD_TOO_LARGE,
                "too_large",
                format!(
                    "an image may have at most {} megapixels; this one is {w}×{h}",
                    max_pixels / 1_000_000
                ),
            ))
        }
        Ok(Err(Refusal::Unreadable(why))) => {
            return Err(refuse_json(
                StatusCode::UNPROCESSABLE_ENTITY,
                "bad_image",
                format!("this {} could not be read: {why}", kind.mime()),
            ))
        }
        Err(_) => return Err(unavailable()),
    };
    Ok(Remade {
        made,
        thumb: made.thumb.then_some(thumb),
        image,
        _doomed: [image_doomed, thumb_doomed],
    })
}

/// An image re-made, in `tmp/`.
struct Remade {
    /// What was made.
    made: picture::Made,
    /// The image.
    image: PathBuf,
    /// Its thumbnail, if one was made.
    thumb: Option<PathBuf>,
    /// Both removed when this is dropped: after they were moved into
    /// place that finds nothing, before it they go.
    _doomed: [Doomed; 2],
}

/// 507 `quota_exceeded`.
fn over_quota(why: String) -> Response {
    refuse_json(StatusCode::INSUFFICIENT_STORAGE, "quota_exceeded", why)
}

fn disk_failed(e: &std::io::Error) -> Response {
    tracing::error!(error = %e, "the files directory failed");
    refuse_json(
        StatusCode::INSUFFICIENT_STORAGE,
        "unavailable",
        "the server could not store this file",
    )
}

fn unavailable() -> Response {
    refuse_json(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "try again in a moment",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_escapes_are_decoded_and_broken_ones_kept() {
        assert_eq!(percent_decode(b"caf%C3%A9.png"), "café.png".as_bytes());
        assert_eq!(percent_decode(b"100%"), b"100%");
        assert_eq!(percent_decode(b"%zz%4"), b"%zz%4");
    }
}
