//! `GET /files/{id}` and `/files/{id}/thumb`: the file's row is read, the
//! hub's one authorization point says whether the requester may read it
//! (a file of a room one may not read, of a deleted message, or someone
//! else's not posted yet: 404, exactly as a missing file), and the bytes
//! are streamed from the files directory, a byte range of them when asked
//! (`Range: bytes=…`, one range).
//!
//! Whatever the file holds, it cannot act as a page of this site:
//! `X-Content-Type-Options: nosniff`, `Content-Security-Policy:
//! default-src 'none'; sandbox` (no script, no same origin, even opened
//! directly), and its type the sniffed one: the re-made images inline,
//! everything else `application/octet-stream` as an attachment.

use super::{filename, is_id, picture::Kind, requester, FileState, Refused};
use crate::server::hub::FileAsk;
use crate::store::files::{FileQuery, UploadRow};
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

/// The policy of every file answer.
const FILE_CSP: &str = "default-src 'none'; sandbox";
/// Browsers may keep a file they were allowed this long (it never changes
/// under its id), for this person only.
const CACHE: &str = "private, max-age=3600";

/// `GET /files/{id}`.
pub(super) async fn file(
    State(state): State<FileState>,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    serve(&state, &id, false, req).await
}

/// `GET /files/{id}/thumb` (an image's thumbnail; the image itself when it
/// is small enough to have none).
pub(super) async fn thumb(
    State(state): State<FileState>,
    Path(id): Path<String>,
    req: Request,
) -> Response {
    serve(&state, &id, true, req).await
}

async fn serve(state: &FileState, id: &str, thumb: bool, req: Request) -> Response {
    if !is_id(id) {
        return Refused::NotFound.response();
    }
    let row = match find(state, id).await {
        Ok(Some(row)) => row,
        Ok(None) => return Refused::NotFound.response(),
        Err(refused) => return refused.response(),
    };
    let ask = FileAsk::Fetch {
        uploader: row.identity.clone(),
        room: row.posted.as_ref().map(|(room, _)| room.clone()),
    };
    let client = super::client_of(&req, &state.config);
    if let Err(refused) = requester(state, req.headers(), client, ask).await {
        return refused.response();
    }
    let kind = Kind::of_mime(&row.mime).filter(|_| row.is_image());
    let thumb = thumb && row.thumb;
    let mime = match (kind, thumb) {
        (Some(kind), true) => kind.thumb_mime(),
        (Some(kind), false) => kind.mime(),
        (None, _) => "application/octet-stream",
    };
    let mut file = match tokio::fs::File::open(state.path(id, thumb)).await {
        Ok(file) => file,
        Err(e) => {
            tracing::warn!(%id, error = %e, "a stored file is missing from the files directory");
            return Refused::NotFound.response();
        }
    };
    let len = match file.metadata().await {
        Ok(meta) => meta.len(),
        Err(_) => return Refused::Unavailable.response(),
    };
    let range = match req.headers().get(header::RANGE) {
        None => None,
        Some(value) => match byte_range(value.to_str().unwrap_or(""), len) {
            Ranged::Whole => None,
            Ranged::Part(start, end) => Some((start, end)),
            Ranged::Unsatisfiable => {
                let mut refused = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
                set(
                    refused.headers_mut(),
                    header::CONTENT_RANGE,
                    &format!("bytes */{len}"),
                );
                secure(refused.headers_mut());
                return refused;
            }
        },
    };
    let (status, start, count) = match range {
        Some((start, end)) => (StatusCode::PARTIAL_CONTENT, start, end - start + 1),
        None => (StatusCode::OK, 0, len),
    };
    if start > 0 && file.seek(std::io::SeekFrom::Start(start)).await.is_err() {
        return Refused::Unavailable.response();
    }
    let body = Body::from_stream(ReaderStream::new(file.take(count)));
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    set(headers, header::CONTENT_TYPE, mime);
    set(headers, header::CONTENT_LENGTH, &count.to_string());
    set(headers, header::ACCEPT_RANGES, "bytes");
    set(headers, header::CACHE_CONTROL, CACHE);
    let disposition = filename::disposition(kind.is_some(), &row.name);
    set(headers, header::CONTENT_DISPOSITION, &disposition);
    if status == StatusCode::PARTIAL_CONTENT {
        let end = start + count - 1;
        set(
            headers,
            header::CONTENT_RANGE,
            &format!("bytes {start}-{end}/{len}"),
        );
    }
    secure(headers);
    response
}

/// The row of upload `id`, read off the hub.
async fn find(state: &FileState, id: &str) -> Result<Option<UploadRow>, Refused> {
    let query = FileQuery::ById(id.to_owned());
    match state.hub.read_accounts(move |r| r.uploads(&query)).await {
        Ok(mut rows) => Ok(rows.pop()),
        Err(_) => Err(Refused::Unavailable),
    }
}

/// The headers that keep a file from acting as a page.
fn secure(headers: &mut HeaderMap) {
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::CONTENT_SECURITY_POLICY, FILE_CSP);
}

fn set(headers: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        headers.insert(name, value);
    }
}

/// What a `Range` header asks of a file of `len` bytes.
#[derive(Debug, PartialEq, Eq)]
enum Ranged {
    /// The whole file (no usable range: several ranges, another unit, or
    /// a malformed one are answered with the whole, as RFC 9110 allows).
    Whole,
    /// Bytes `start..=end`.
    Part(u64, u64),
    /// A range that lies past the end (416).
    Unsatisfiable,
}

/// Reads `bytes=a-b`, `bytes=a-` or `bytes=-n`.
fn byte_range(value: &str, len: u64) -> Ranged {
    let Some(spec) = value.trim().strip_prefix("bytes=") else {
        return Ranged::Whole;
    };
    if spec.contains(',') {
        return Ranged::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Ranged::Whole;
    };
    let number = |s: &str| s.trim().parse::<u64>().ok();
    match (first.trim().is_empty(), number(first), number(last)) {
        // The last n bytes.
        (true, _, Some(n)) if n > 0 && len > 0 => Ranged::Part(len.saturating_sub(n), len - 1),
        (true, _, Some(_)) => Ranged::Unsatisfiable,
        (false, Some(start), _) if start >= len => Ranged::Unsatisfiable,
        (false, Some(start), None) if last.trim().is_empty() => Ranged::Part(start, len - 1),
        (false, Some(start), Some(end)) if end >= start => Ranged::Part(start, end.min(len - 1)),
        _ => Ranged::Whole,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_read_as_rfc_9110_says() {
        assert_eq!(byte_range("bytes=0-9", 100), Ranged::Part(0, 9));
        assert_eq!(byte_range("bytes=90-", 100), Ranged::Part(90, 99));
        assert_eq!(byte_range("bytes=-10", 100), Ranged::Part(90, 99));
        assert_eq!(byte_range("bytes=-200", 100), Ranged::Part(0, 99));
        assert_eq!(byte_range("bytes=50-500", 100), Ranged::Part(50, 99));
        assert_eq!(byte_range("bytes=99-99", 100), Ranged::Part(99, 99));
        assert_eq!(byte_range("bytes=100-", 100), Ranged::Unsatisfiable);
        assert_eq!(byte_range("bytes=-0", 100), Ranged::Unsatisfiable);
        assert_eq!(byte_range("bytes=0-1,5-6", 100), Ranged::Whole);
        assert_eq!(byte_range("items=0-1", 100), Ranged::Whole);
        assert_eq!(byte_range("bytes=9-1", 100), Ranged::Whole);
        assert_eq!(byte_range("bytes=x-", 100), Ranged::Whole);
    }
}
