//! `GET /admin/export` (`chat admin export`): one room's history, or every
//! room's, as JSON (each message the protocol's message object, with its
//! edits, deletion, reactions, reply and attachments as they stand) or as
//! one self-contained HTML page that reads without the server, escaped as
//! the live page is. Streamed: [`PAGE`] messages are read at a time off
//! the hub (on its readers), so memory stays bounded whatever the room holds.

use crate::protocol::ChatMessage;
use crate::server::accounts::{refuse_json, AdminState};
use crate::store::{now_ms, RoomRow};
use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use html_escape::encode_safe;
use serde::Deserialize;
use std::fmt::Write;

/// Messages read (and sent on) at a time.
const PAGE: u64 = 500;

/// The two forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// `{"format": "chat-export", "version": 1, "exported_ms", "rooms": [{"name", "last_id", "messages": [...]}]}`.
    Json,
    /// A page of its own (no script, no outside resource).
    Html,
}

/// `GET /admin/export`'s query.
#[derive(Debug, Deserialize)]
pub(crate) struct ExportAsked {
    /// One room (all when missing).
    room: Option<String>,
    /// `json` (the default) or `html`.
    format: Option<String>,
}

/// `GET /admin/export`.
pub(crate) async fn export(
    State(state): State<AdminState>,
    Query(asked): Query<ExportAsked>,
) -> Response {
    let format = match asked.format.as_deref().unwrap_or("json") {
        "json" => Format::Json,
        "html" => Format::Html,
        other => {
            return refuse_json(
                StatusCode::BAD_REQUEST,
                "bad_request",
                format!("format {other:?}: json or html"),
            )
        }
    };
    let hub = state.accounts.hub.clone();
    let Ok(mut rooms) = hub.read_accounts(|r| r.rooms()).await else {
        return refuse_json(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the store cannot answer; try again",
        );
    };
    if let Some(room) = &asked.room {
        rooms.retain(|r| &r.name == room);
        if rooms.is_empty() {
            return refuse_json(
                StatusCode::NOT_FOUND,
                "no_such_room",
                format!("no room is named {room:?}"),
            );
        }
    }
    rooms.sort_by(|a, b| a.name.cmp(&b.name));
    let body = streamed("an export", move |out| async move {
        write(&hub, format, &rooms, &out).await
    });
    let kind = match format {
        Format::Json => "application/json",
        Format::Html => "text/html; charset=utf-8",
    };
    ([(header::CONTENT_TYPE, kind)], body).into_response()
}

/// Where a streamed body's writer sends its chunks ([`streamed`]).
pub(crate) struct Chunks(tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>);

impl Chunks {
    /// Sends `text` on, once the reader has room for it; fails when the
    /// reader went away.
    pub(crate) async fn send(&self, text: String) -> Result<(), String> {
        self.0
            .send(Ok(Bytes::from(text)))
            .await
            .map_err(|_| "the reader went away".to_owned())
    }
}

/// A body that `write` writes, on a task of its own, a chunk at a time:
/// at most 4 chunks wait for a slow reader, so memory stays bounded
/// whatever is written. A write that fails (`what`, logged) ends the body
/// with an error: the reader sees it cut short, never a whole-looking end.
pub(crate) fn streamed<F, W>(what: &'static str, write: W) -> Body
where
    W: FnOnce(Chunks) -> F + Send + 'static,
    F: std::future::Future<Output = Result<(), String>> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    let failed = tx.clone();
    tokio::spawn(async move {
        if let Err(why) = write(Chunks(tx)).await {
            tracing::warn!(why, "{what} cut short");
            let _ = failed.send(Err(std::io::Error::other(why))).await;
        }
    });
    Body::from_stream(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    }))
}

/// Sends the export of `rooms` on `out`, a page at a time.
async fn write(
    hub: &crate::server::hub::HubHandle,
    format: Format,
    rooms: &[RoomRow],
    out: &Chunks,
) -> Result<(), String> {
    let send = |text: String| out.send(text);
    send(start(format, now_ms())).await?;
    for (i, room) in rooms.iter().enumerate() {
        send(room_start(format, room, i == 0)).await?;
        let (mut from, mut first) = (1, true);
        while from <= room.last_id {
            let to = (from + PAGE - 1).min(room.last_id);
            let name = room.name.clone();
            let page = hub
                .read_accounts(move |r| r.messages(&name, from, to, None))
                .await
                .map_err(|e| e.to_string())?;
            let mut chunk = String::new();
            for m in &page {
                message(format, m, first, &mut chunk);
                first = false;
            }
            send(chunk).await?;
            from = to + 1;
        }
        send(room_end(format).into()).await?;
    }
    send(end(format).into()).await
}

/// What comes before the rooms.
pub(crate) fn start(format: Format, now_ms: u64) -> String {
    match format {
        Format::Json => {
            format!(r#"{{"format":"chat-export","version":1,"exported_ms":{now_ms},"rooms":["#)
        }
        Format::Html => format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width\">\
             <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\
             <title>Chat export</title><style>{STYLE}</style></head>\
             <body><main><h1>Chat export</h1><p>Exported {} (UTC).</p>\n",
            utc(now_ms)
        ),
    }
}

/// The page's only style.
const STYLE: &str = "body{font:15px/1.45 system-ui,sans-serif;max-width:50rem;margin:auto;\
    padding:1rem;color:#111;background:#fff}ol{padding:0}li.m{list-style:none;margin:.5rem 0}\
    .who{font-weight:600}.meta{color:#555;font-size:.85em}.gone{color:#555;font-style:italic}\
    pre{white-space:pre-wrap}";

fn room_start(format: Format, room: &RoomRow, first: bool) -> String {
    match format {
        Format::Json => format!(
            "{}{{\"name\":{},\"last_id\":{},\"messages\":[",
            if first { "" } else { "," },
            serde_json::to_string(&room.name).expect("a string serialises"),
            room.last_id
        ),
        Format::Html => format!("<section><h2>#{}</h2><ol>\n", encode_safe(&room.name)),
    }
}

fn room_end(format: Format) -> &'static str {
    match format {
        Format::Json => "]}",
        Format::Html => "</ol></section>\n",
    }
}

fn end(format: Format) -> &'static str {
    match format {
        Format::Json => "]}\n",
        Format::Html => "</main></body></html>\n",
    }
}

/// Appends `m` to `out`.
pub(crate) fn message(format: Format, m: &ChatMessage, first: bool, out: &mut String) {
    match format {
        Format::Json => {
            if !first {
                out.push(',');
            }
            out.push_str(&serde_json::to_string(m).expect("a message serialises"));
        }
        Format::Html => html_message(m, out),
    }
}

/// One message as an `<li>`. Names, file names and quotes are escaped
/// here; the text is its `html`, the server's own rendering of it (only
/// the tags `render::check_markup` allows, every character of input
/// escaped), as the live page shows it.
fn html_message(m: &ChatMessage, out: &mut String) {
    let _ = write!(
        out,
        "<li class=\"m\" id=\"m-{}\"><span class=\"who\">{}</span> <span class=\"meta\">#{} · {}",
        m.id,
        encode_safe(&m.user),
        m.id,
        utc(m.ts)
    );
    if m.edited_ts.is_some() {
        out.push_str(" · edited");
    }
    out.push_str("</span>");
    if let Some(reply) = &m.reply_to {
        let _ = write!(
            out,
            "<div class=\"meta\">in reply to #{} {}: {}</div>",
            reply.id,
            encode_safe(&reply.user),
            encode_safe(&reply.text)
        );
    }
    if m.deleted {
        out.push_str("<div class=\"gone\">(deleted)</div>");
    } else {
        let _ = write!(out, "<div class=\"text\">{}</div>", m.html);
    }
    if !m.attachments.is_empty() {
        out.push_str("<ul class=\"meta\">");
        for a in &m.attachments {
            let _ = write!(
                out,
                "<li>file: {} ({}, {} bytes)</li>",
                encode_safe(&a.name),
                encode_safe(&a.mime),
                a.size
            );
        }
        out.push_str("</ul>");
    }
    if !m.reactions.is_empty() {
        out.push_str("<div class=\"meta\">");
        for r in &m.reactions {
            let _ = write!(out, "{} {} ", encode_safe(&r.emoji), r.count);
        }
        out.push_str("</div>");
    }
    out.push_str("</li>\n");
}

/// `ms` since the epoch as `YYYY-MM-DD HH:MM` (UTC), by the civil-from-days
/// algorithm (Howard Hinnant's): a date needs no calendar crate.
fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let (days, day_secs) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}",
        day_secs / 3600,
        day_secs % 3600 / 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_utc_civil_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00");
        assert_eq!(utc(951_782_400_000), "2000-02-29 00:00");
        assert_eq!(utc(1_796_605_260_000), "2026-12-07 01:01");
    }

    #[test]
    fn names_and_files_are_escaped_and_a_deleted_message_shows_no_text() {
        let mut m: ChatMessage = serde_json::from_value(serde_json::json!({
            "room": "general", "id": 7, "user": "<img src=x onerror=alert(1)>",
            "text": "hi", "html": "hi", "ts": 0,
        }))
        .unwrap();
        let mut out = String::new();
        html_message(&m, &mut out);
        assert!(!out.contains("<img"), "{out}");
        assert!(out.contains("&lt;img"), "{out}");
        m.deleted = true;
        m.html = "secret".into();
        let mut out = String::new();
        html_message(&m, &mut out);
        assert!(
            out.contains("(deleted)") && !out.contains("secret"),
            "{out}"
        );
    }
}
