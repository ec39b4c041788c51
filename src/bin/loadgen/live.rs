//! *1.2*: a fallback member for the load generator (`--live`): a stream of
//! Server-Sent Events from `/live` and its frames as [`Frames`] yields
//! them, joined by one POST. Only members that read; senders stay on the
//! WebSocket.

use crate::ws::{connect_tcp, Frames, Ws};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A fallback member of `room` as `name`: the stream opened, hello and
/// join posted, `joined` received.
pub(crate) async fn member(url: &str, source: u8, name: &str, room: &str) -> Result<Ws, String> {
    let (stream, host, _) = connect_tcp(url, source).await?;
    let (rx, mut tx) = stream.into_split();
    let request =
        format!("GET /live HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n");
    tx.write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut frames = Frames::sse(rx);
    let session = frames.session().await?;
    let body = format!(
        "{{\"type\":\"hello\",\"name\":\"{name}\"}}\n{{\"type\":\"join\",\"room\":\"{room}\"}}\n"
    );
    let (mut post, host, _) = connect_tcp(url, source).await?;
    let request = format!(
        "POST /live?session={session}&seq=0 HTTP/1.1\r\nHost: {host}\r\nOrigin: http://{host}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    post.write_all(request.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    let mut answer = Vec::new();
    post.read_to_end(&mut answer)
        .await
        .map_err(|e| e.to_string())?;
    if !answer.starts_with(b"HTTP/1.1 204") {
        return Err(format!("{name}: {}", String::from_utf8_lossy(&answer)));
    }
    loop {
        match frames.next_text().await? {
            Some(t) if t.starts_with(br#"{"type":"joined""#) => return Ok(Ws { frames, tx }),
            Some(t) if t.starts_with(br#"{"type":"error""#) => {
                return Err(format!("{name}: {}", String::from_utf8_lossy(t)))
            }
            Some(_) => {}
            None => return Err(format!("{name}: stream ended during join")),
        }
    }
}
