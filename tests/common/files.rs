//! Uploads and file fetches over a real connection (bytes in, bytes out),
//! for the files suites.

use super::{Client, TestServer, WAIT};
use image::{DynamicImage, ImageFormat, RgbImage};
use serde_json::Value;
use std::io::Cursor;
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// An answer: status, headers (lower-cased names), body bytes.
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!("{e}: {}", String::from_utf8_lossy(&self.body));
        })
    }
}

/// One request over a fresh connection, read to its end; `chunked` sends
/// the body without a length, in 64 KiB chunks.
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    chunked: bool,
) -> Answer {
    let mut socket = TcpStream::connect(addr).await.unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (n, v) in headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    match chunked {
        true => head.push_str("Transfer-Encoding: chunked\r\n\r\n"),
        false => head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len())),
    }
    socket.write_all(head.as_bytes()).await.unwrap();
    // The server may answer (413) and close before the whole body is sent.
    if chunked {
        for chunk in body.chunks(64 * 1024) {
            let frame = [format!("{:x}\r\n", chunk.len()).as_bytes(), chunk, b"\r\n"].concat();
            if socket.write_all(&frame).await.is_err() {
                break;
            }
        }
        let _ = socket.write_all(b"0\r\n\r\n").await;
    } else {
        let _ = socket.write_all(body).await;
    }
    let mut all = Vec::new();
    let _ = tokio::time::timeout(WAIT, socket.read_to_end(&mut all))
        .await
        .expect("an answer in time");
    let split = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a whole head");
    let head = String::from_utf8_lossy(&all[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = all[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v == "chunked")
    {
        body = unchunk(&body);
    }
    Answer {
        status,
        headers,
        body,
    }
}

/// A chunked body's bytes.
fn unchunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = raw.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(std::str::from_utf8(&raw[..end]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.extend_from_slice(&raw[end + 2..end + 2 + size]);
        raw = &raw[end + 4 + size..];
    }
    out
}

/// Someone who may upload: a guest's identity cookie.
pub async fn guest(server: &TestServer, name: &str) -> (Client, String) {
    let (ws, welcome) = server.user(name).await;
    let token = welcome["token"].as_str().unwrap();
    (ws, format!("chat_id={token}"))
}

/// Uploads `bytes` named `name` as the chat's own page does.
pub async fn upload(server: &TestServer, cookie: &str, name: &str, bytes: &[u8]) -> Answer {
    upload_as(server, cookie, name, "application/octet-stream", bytes).await
}

pub async fn upload_as(
    server: &TestServer,
    cookie: &str,
    name: &str,
    declared: &str,
    bytes: &[u8],
) -> Answer {
    let headers = [
        ("Cookie", cookie),
        ("Sec-Fetch-Site", "same-origin"),
        ("Content-Type", declared),
        ("X-Filename", name),
    ];
    http(
        server.addr,
        "POST",
        "/api/v1/uploads",
        &headers,
        bytes,
        false,
    )
    .await
}

pub async fn fetch(server: &TestServer, cookie: &str, path: &str) -> Answer {
    http(server.addr, "GET", path, &[("Cookie", cookie)], b"", false).await
}

/// An image of `w`×`h` pixels encoded as `format`.
pub fn picture(w: u32, h: u32, format: ImageFormat) -> Vec<u8> {
    let img = RgbImage::from_fn(w, h, |x, y| image::Rgb([(x * 7) as u8, (y * 5) as u8, 90]));
    let mut out = Cursor::new(Vec::new());
    DynamicImage::ImageRgb8(img)
        .write_to(&mut out, format)
        .unwrap();
    out.into_inner()
}

/// `ws` sends `text` to `room` with `attachments`; the answer (its own
/// `message`, or an `error`).
pub async fn post_with(ws: &mut Client, room: &str, text: &str, attachments: &[&str]) -> Value {
    ws.send(serde_json::json!({
        "type": "send", "room": room, "text": text, "attachments": attachments,
    }))
    .await;
    loop {
        let v = ws.recv().await;
        if v["type"] == "error" || (v["type"] == "message" && v["text"] == text) {
            return v;
        }
    }
}

/// Waits until `path` is gone (the sweeper runs beside the requests).
pub async fn removed(path: &std::path::Path) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while path.exists() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} stays",
            path.display()
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
