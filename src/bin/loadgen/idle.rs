//! `loadgen idle`: memory per idle connection, join time, delivery to every
//! room, and memory after a burst.

use super::{connect_all, room_of, Args};
use crate::ws::Ws;
use chat::wsframe::masked_text;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;

/// Resident memory of `pid` in KiB.
fn rss_kib(pid: u32) -> Result<u64, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("read /proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmRSS".to_string())
}

pub(crate) async fn idle(args: &Args) -> Result<(), String> {
    let pid = *args.server_pids.first().ok_or("idle needs --server-pid")?;
    let before = rss_kib(pid)?;
    let started = Instant::now();
    let members = connect_all(args).await?;
    let joined_in = started.elapsed().as_secs_f64();
    let count = members.len();
    // Like a browser, read what arrives (the presence notices or counts of
    // everyone joining after); count the messages.
    let delivered = Arc::new(AtomicU64::new(0));
    let mut writers = Vec::with_capacity(count);
    for Ws { mut frames, tx } in members {
        writers.push(tx);
        let delivered = delivered.clone();
        tokio::spawn(async move {
            while let Ok(Some(t)) = frames.next_text().await {
                if t.starts_with(br#"{"type":"message""#) {
                    delivered.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = rss_kib(pid)?;
    let per = (after.saturating_sub(before)) as f64 / count as f64;
    println!(
        "idle members={count} rooms={} sources={}: all connected and joined in {joined_in:.2} s; \
         server RSS {before} KiB before, {after} KiB after: {per:.2} KiB per joined idle connection",
        args.rooms, args.sources,
    );
    // One message into each room (from its first member); all must get it.
    let posted = Instant::now();
    for (i, tx) in writers.iter_mut().enumerate().take(args.rooms) {
        let frame = format!(
            r#"{{"type":"send","room":"{}","text":"probe"}}"#,
            room_of(args, i)
        );
        tx.write_all(&masked_text(frame.as_bytes()))
            .await
            .map_err(|e| e.to_string())?;
    }
    let deadline = posted + Duration::from_secs(30);
    while delivered.load(Ordering::Relaxed) < count as u64 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    println!(
        "idle members={count}: a message to each of {} rooms reached {} of {count} members in {:.2} s",
        args.rooms,
        delivered.load(Ordering::Relaxed),
        posted.elapsed().as_secs_f64(),
    );
    if args.burst > 0 {
        let text = "b".repeat(args.size);
        let want = count as u64 * (1 + args.burst as u64);
        let posted = Instant::now();
        for (i, tx) in writers.iter_mut().enumerate().take(args.rooms) {
            let frame = format!(
                r#"{{"type":"send","room":"{}","text":"{text}"}}"#,
                room_of(args, i)
            );
            let all: Vec<u8> = (0..args.burst)
                .flat_map(|_| masked_text(frame.as_bytes()))
                .collect();
            tx.write_all(&all).await.map_err(|e| e.to_string())?;
        }
        let deadline = posted + Duration::from_secs(60);
        while delivered.load(Ordering::Relaxed) < want && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let got = delivered.load(Ordering::Relaxed) - count as u64;
        tokio::time::sleep(Duration::from_secs(2)).await;
        let settled = rss_kib(pid)?;
        println!(
            "idle members={count}: a burst of {} messages of {} bytes per room reached {got} of {} \
             deliveries in {:.2} s; then {:.2} KiB RSS per connection",
            args.burst,
            args.size,
            want - count as u64,
            posted.elapsed().as_secs_f64() - 2.0,
            (settled.saturating_sub(before)) as f64 / count as f64,
        );
    }
    drop(writers);
    Ok(())
}
