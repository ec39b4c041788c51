//! The command line's HTTP to the operations listener: a few lines over a
//! plain `TcpStream` to a loopback port. [`request`]: one request,
//! `Connection: close`, a JSON answer with a length. [`save`]: a streamed
//! download (an export, an archive) into a file or standard output, whole
//! only when it ends as its format ends.

use super::Failure;
use serde_json::Value;
use std::io::{BufRead, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

/// How long an ordinary admin request may take to be answered.
pub(super) const ANSWER_WAIT: Duration = Duration::from_secs(30);
/// How long a backup, an account's deletion, or a pause within an
/// export, may take.
pub(super) const LONG_WAIT: Duration = Duration::from_secs(24 * 3600);

/// `s` for a URL's query (room names are ASCII letters, digits, `-`, `_`;
/// anything else is escaped).
pub(super) fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// What an I/O error talking to `addr` means: no server answers there.
fn unreachable(addr: SocketAddr) -> impl Fn(std::io::Error) -> Failure {
    move |e| {
        Failure::Unreachable(format!(
            "no chat server answers on {addr} (CHAT_OPS_ADDR): {e}"
        ))
    }
}

/// A connection to `addr` that waits `wait` at most for each read, with
/// `head` written.
fn open(addr: SocketAddr, wait: Duration, head: &str) -> Result<TcpStream, Failure> {
    let mut stream =
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(unreachable(addr))?;
    let _ = stream.set_read_timeout(Some(wait));
    stream
        .write_all(head.as_bytes())
        .map_err(unreachable(addr))?;
    Ok(stream)
}

/// The status of an HTTP status line (0 when it has none).
fn status_of(status_line: &str) -> u16 {
    status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// A refusal with `status` and `body`: the server's JSON `message`, else
/// the status and the body as they came.
fn refusal(status: u16, body: &str) -> Failure {
    let json: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    Failure::Refused(
        json["message"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("HTTP {status}: {body}")),
    )
}

/// One request to the operations listener; the JSON answer of a 2xx.
pub(super) fn request(
    addr: SocketAddr,
    secret: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
    wait: Duration,
) -> Result<Value, Failure> {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {secret}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = open(addr, wait, &head)?;
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).map_err(unreachable(addr))?;
    let answer = String::from_utf8_lossy(&answer);
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    let status = status_of(head);
    if (200..300).contains(&status) {
        return Ok(serde_json::from_str(body).unwrap_or(Value::Null));
    }
    Err(refusal(status, body))
}

/// [`download`] into `out` (standard output when `None`); what to print.
pub(super) fn save(
    addr: SocketAddr,
    secret: &str,
    path: &str,
    out: Option<&Path>,
    format: &str,
) -> Result<String, Failure> {
    let Some(file) = out else {
        let mut stdout = std::io::stdout().lock();
        download(addr, secret, path, &mut stdout, format)?;
        return Ok(String::new());
    };
    let mut f = std::fs::File::create(file)
        .map_err(|e| Failure::Refused(format!("cannot write {}: {e}", file.display())))?;
    let bytes = download(addr, secret, path, &mut f, format)?;
    Ok(format!("wrote {bytes} bytes into {}", file.display()))
}

/// `GET path` of an export in `format` streamed into `out` (HTTP/1.0, so
/// the body ends with the connection and is not chunked); the bytes
/// written, or the refusal. A server that stops midway only closes the
/// connection: an export is whole when it ends as its format ends.
fn download(
    addr: SocketAddr,
    secret: &str,
    path: &str,
    out: &mut dyn Write,
    format: &str,
) -> Result<u64, Failure> {
    let head =
        format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\nAuthorization: Bearer {secret}\r\n\r\n");
    let mut reader = std::io::BufReader::new(open(addr, LONG_WAIT, &head)?);
    let mut status_line = String::new();
    reader
        .read_line(&mut status_line)
        .map_err(unreachable(addr))?;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).map_err(unreachable(addr))?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
    }
    let status = status_of(&status_line);
    if status != 200 {
        let mut body = String::new();
        let _ = reader.read_to_string(&mut body);
        return Err(refusal(status, &body));
    }
    let stopped = |e: std::io::Error| Failure::Refused(format!("the export stopped: {e}"));
    let (mut copied, mut tail, mut buf) = (0u64, Vec::new(), vec![0; 64 * 1024]);
    loop {
        let n = reader.read(&mut buf).map_err(stopped)?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n]).map_err(stopped)?;
        copied += n as u64;
        tail.extend_from_slice(&buf[..n]);
        let keep = tail.len().saturating_sub(16);
        tail.drain(..keep);
    }
    out.flush().map_err(stopped)?;
    let end: &[u8] = if format == "html" {
        b"</html>\n"
    } else {
        b"]}\n"
    };
    if !tail.ends_with(end) {
        return Err(Failure::Refused(format!(
            "the export stopped after {copied} bytes (see the server's log); what was written is incomplete"
        )));
    }
    Ok(copied)
}
