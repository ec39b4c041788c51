//! `loadgen wire`: bytes on the wire with and without `permessage-deflate`
//! (protocol 1.2): for a `joined` of a room holding 50 messages of about
//! `--size` bytes of text, and for one live message like them. One reader
//! offers compression, one does not; the server's threshold
//! (`CHAT_WS_DEFLATE_MIN_BYTES`) decides what goes compressed.

use super::{member, run_tag, Args};
use crate::ws::Ws;

/// Messages in the room before the readers join (a `joined` holds 50).
const MESSAGES: usize = 50;

/// Text of about `size` bytes, as varied as chat: words picked by a small
/// generator (so it does not compress like a run of one letter).
fn text(i: usize, size: usize) -> String {
    const WORDS: [&str; 24] = [
        "the", "deploy", "is", "green", "again", "after", "lunch", "can", "you", "review", "my",
        "branch", "tomorrow", "morning", "thanks", "meeting", "moved", "to", "three", "ok",
        "sounds", "good", "see", "logs",
    ];
    let mut state = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let mut out = format!("{i}");
    while out.len() < size {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.push(' ');
        out.push_str(WORDS[(state % WORDS.len() as u64) as usize]);
    }
    out.truncate(size);
    out
}

/// The next frame whose JSON starts with `prefix`: (JSON bytes, wire bytes).
async fn frame_of(ws: &mut Ws, prefix: &str) -> Result<(usize, usize), String> {
    loop {
        match ws.frames.next_text().await? {
            Some(t) if t.starts_with(prefix.as_bytes()) => {
                let json = t.len();
                return Ok((json, ws.frames.last_wire));
            }
            Some(t) if t.starts_with(br#"{"type":"error""#) => {
                return Err(String::from_utf8_lossy(t).into_owned())
            }
            Some(_) => {}
            None => return Err("the connection ended".into()),
        }
    }
}

pub(crate) async fn wire(args: &Args) -> Result<(), String> {
    let url = &args.urls[0];
    let tag = run_tag();
    let room = format!("{}{tag}", args.room);
    let mut poster = member(url, 0, format!("wp{tag}"), &room).await?;
    for i in 0..MESSAGES {
        let t = text(i, args.size);
        poster
            .send(&format!(
                r#"{{"type":"send","room":"{room}","text":"{t}"}}"#
            ))
            .await?;
        frame_of(&mut poster, r#"{"type":"message""#).await?;
    }
    let mut readers = Vec::new();
    let mut joined = Vec::new();
    for (n, offer) in [false, true].into_iter().enumerate() {
        let mut ws = Ws::connect_offering(url, 0, offer).await?;
        ws.send(&format!(r#"{{"type":"hello","name":"wr{n}{tag}"}}"#))
            .await?;
        ws.send(&format!(r#"{{"type":"join","room":"{room}"}}"#))
            .await?;
        joined.push(frame_of(&mut ws, r#"{"type":"joined""#).await?);
        readers.push(ws);
    }
    let t = text(MESSAGES, args.size);
    poster
        .send(&format!(
            r#"{{"type":"send","room":"{room}","text":"{t}"}}"#
        ))
        .await?;
    let mut live = Vec::new();
    for ws in &mut readers {
        live.push(frame_of(ws, r#"{"type":"message""#).await?);
    }
    let ratio = |(json, wire): (usize, usize)| 100.0 * wire as f64 / json as f64;
    println!(
        "wire size={}B: joined of {MESSAGES}: {} B plain, {} B with permessage-deflate ({:.0}%); \
         live message: {} B plain, {} B with permessage-deflate ({:.0}%)",
        args.size,
        joined[0].1,
        joined[1].1,
        ratio(joined[1]),
        live[0].1,
        live[1].1,
        ratio(live[1]),
    );
    Ok(())
}
