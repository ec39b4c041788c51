//! `loadgen purge`: a moderator's `purge` (protocol 1.2 section 4) of
//! `--messages` messages of one identity: how long until the moderator is
//! answered and until a reader has every `deleted` frame, and the chatting
//! pair's latency (in a room of its own) while it runs.

use super::hostile::Pair;
use super::{member, run_tag, Args};
use crate::fanout::number_after;
use std::time::Instant;

pub(crate) async fn purge(args: &Args) -> Result<(), String> {
    let url = &args.urls[0];
    let tag = run_tag();
    let room = format!("purge{tag}");
    // The first to join a new room owns it.
    let mut moderator = member(url, 0, format!("pm{tag}"), &room).await?;
    let mut spammer = member(url, 0, format!("px{tag}"), &room).await?;
    let mut reader = member(url, 0, format!("pd{tag}"), &room).await?;
    // The spammer's messages, 256 in flight at most.
    let n = args.messages;
    let (mut sent, mut echoed) = (0u64, 0u64);
    while echoed < n {
        while sent < n && sent < echoed + 256 {
            spammer
                .send(&format!(
                    r#"{{"type":"send","room":"{room}","text":"spam {sent}"}}"#
                ))
                .await?;
            sent += 1;
        }
        match spammer.frames.next_text().await? {
            Some(t) if t.starts_with(br#"{"type":"message""#) => echoed += 1,
            Some(t) if t.starts_with(br#"{"type":"error""#) => {
                return Err(format!("seeding: {}", String::from_utf8_lossy(t)))
            }
            Some(_) => {}
            None => return Err("the spammer's connection ended".into()),
        }
    }
    // The reader has them all too before the purge starts.
    let mut seen = 0;
    while seen < n {
        match reader.frames.next_text().await? {
            Some(t) if t.starts_with(br#"{"type":"message""#) => seen += 1,
            Some(_) => {}
            None => return Err("the reader's connection ended".into()),
        }
    }
    eprintln!("{n} messages posted to {room}");
    let mut pair = Pair::join(url, &tag).await?;
    let pair_args = args.clone();
    let measured = tokio::spawn(async move { pair.measure(&pair_args).await });
    // A second into the pair's run, the purge.
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let started = Instant::now();
    moderator
        .send(&format!(
            r#"{{"type":"purge","room":"{room}","user":"px{tag}"}}"#
        ))
        .await?;
    let answered = loop {
        match moderator.frames.next_text().await? {
            Some(t) if t.starts_with(br#"{"type":"moderated""#) => {
                break (
                    started.elapsed(),
                    number_after(t, br#""count":"#).unwrap_or(0),
                );
            }
            Some(t) if t.starts_with(br#"{"type":"error""#) => {
                return Err(format!("purge: {}", String::from_utf8_lossy(t)))
            }
            Some(_) => {}
            None => return Err("the moderator's connection ended".into()),
        }
    };
    let mut deleted = 0;
    while deleted < n {
        match reader.frames.next_text().await? {
            Some(t) if t.starts_with(br#"{"type":"deleted""#) => deleted += 1,
            Some(_) => {}
            None => return Err("the reader's connection ended".into()),
        }
    }
    let everywhere = started.elapsed();
    let (p50, p99, in_order) = measured.await.map_err(|e| e.to_string())??;
    println!(
        "purge of {} messages: answered after {:.0} ms, every deleted frame at a reader after \
         {:.0} ms; pair during p50 {p50:.1} ms p99 {p99:.1} ms; every id once, in order: {in_order}",
        answered.1,
        answered.0.as_secs_f64() * 1000.0,
        everywhere.as_secs_f64() * 1000.0,
    );
    Ok(())
}
