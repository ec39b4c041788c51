//! `loadgen fanout`: deliveries per second, latency, CPU per delivery, and
//! that nothing was lost.

use super::{connect_all, Args};
use crate::ws::Ws;
use chat::wsframe::masked_text;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;

/// Shared counters of a fan-out run.
#[derive(Default)]
struct Counters {
    /// Message frames received by all members.
    deliveries: AtomicU64,
    /// Messages posted by all senders.
    sent: AtomicU64,
    /// Members whose connection ended early (closed by the server).
    dropped: AtomicU64,
    /// Messages received with an id other than the one after the last.
    out_of_order: AtomicU64,
    /// Set while latencies are being recorded.
    measuring: AtomicBool,
    /// Set to stop the senders.
    stop: AtomicBool,
}

/// The send time (µs since `epoch`) a message carries at the start of its text.
fn sent_micros(frame: &[u8]) -> Option<u64> {
    number_after(frame, br#""text":""#)
}

/// The digits right after `key` in `frame`, as a number.
pub(crate) fn number_after(frame: &[u8], key: &[u8]) -> Option<u64> {
    let start = frame.windows(key.len()).position(|w| w == key)? + key.len();
    let rest = &frame[start..];
    let end = rest
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(rest.len());
    std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
}

/// CPU time of every process of `pids` so far, summed (`None` for none).
fn servers_cpu(pids: &[u32]) -> Result<Option<f64>, String> {
    if pids.is_empty() {
        return Ok(None);
    }
    pids.iter()
        .map(|&pid| cpu_seconds(pid))
        .sum::<Result<f64, String>>()
        .map(Some)
}

/// CPU time (user + system) of `pid` so far, in seconds.
fn cpu_seconds(pid: u32) -> Result<f64, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map_err(|e| format!("read /proc/{pid}/stat: {e}"))?;
    // Fields after the command name (which may hold spaces) in parentheses;
    // utime and stime are the 14th and 15th, in USER_HZ (100) ticks.
    let rest = stat.rsplit_once(')').ok_or("bad stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .ok_or("bad stat")
    };
    Ok((ticks(11)? + ticks(12)?) / 100.0)
}

pub(crate) async fn fanout(args: &Args) -> Result<(), String> {
    let epoch = Instant::now();
    let counters = Arc::new(Counters::default());
    let members = connect_all(args).await?;
    eprintln!("{} members joined {}", members.len(), args.room);
    let padding = "x".repeat(args.size.saturating_sub(21));
    // The last id every member must reach, once the senders have stopped.
    let (last_tx, last_rx) = watch::channel(u64::MAX);
    let mut tasks = Vec::new();
    let mut last_ids = Vec::new();
    for (i, ws) in members.into_iter().enumerate() {
        let Ws { mut frames, mut tx } = ws;
        let c = counters.clone();
        let is_sender = i < args.senders;
        // Latency is sampled on every 10th member (and every sender).
        let sample = is_sender || i % 10 == 0;
        let received = Arc::new(AtomicU64::new(0));
        let last_id = Arc::new(AtomicU64::new(0));
        // *1.2*: a sender's own newest message (what its edits change),
        // known by the sender index its nonces end with.
        let own_last = Arc::new(AtomicU64::new(0));
        let own_nonce = format!("{i:08x}\"");
        last_ids.push(last_id.clone());
        let last_seen = last_id.clone();
        let reader = {
            let c = c.clone();
            let received = received.clone();
            let mut last_rx = last_rx.clone();
            let own_last = own_last.clone();
            tokio::spawn(async move {
                let mut latencies: Vec<u32> = Vec::new();
                // Published to the shared total in steps: one contended atomic
                // per frame would take CPU from the server being measured.
                let mut unpublished = 0u64;
                let mut last = 0u64;
                let complete = loop {
                    let t = tokio::select! {
                        t = frames.next_text() => match t {
                            Ok(Some(t)) => t,
                            _ => break false,
                        },
                        _ = last_rx.changed() => {
                            if last >= *last_rx.borrow() {
                                break true;
                            }
                            continue;
                        }
                    };
                    // *1.2*: edits and reactions are deliveries too (not
                    // timed, not numbered).
                    if t.starts_with(br#"{"type":"edited""#)
                        || t.starts_with(br#"{"type":"reaction""#)
                    {
                        received.fetch_add(1, Ordering::Relaxed);
                        unpublished += 1;
                        if unpublished >= 64 {
                            c.deliveries.fetch_add(unpublished, Ordering::Relaxed);
                            unpublished = 0;
                        }
                        continue;
                    }
                    if !t.starts_with(br#"{"type":"message""#) {
                        continue;
                    }
                    if is_sender
                        && t.windows(own_nonce.len())
                            .any(|w| w == own_nonce.as_bytes())
                    {
                        if let Some(id) = number_after(t, br#""id":"#) {
                            own_last.store(id, Ordering::Relaxed);
                        }
                    }
                    if let Some(id) = number_after(t, br#""id":"#) {
                        if last != 0 && id != last + 1 {
                            c.out_of_order.fetch_add(1, Ordering::Relaxed);
                        }
                        last = id;
                        last_id.store(id, Ordering::Relaxed);
                    }
                    received.fetch_add(1, Ordering::Relaxed);
                    unpublished += 1;
                    if unpublished >= 64 {
                        c.deliveries.fetch_add(unpublished, Ordering::Relaxed);
                        unpublished = 0;
                    }
                    if sample && c.measuring.load(Ordering::Relaxed) {
                        if let Some(sent) = sent_micros(t) {
                            let now = epoch.elapsed().as_micros() as u64;
                            latencies.push(now.saturating_sub(sent) as u32);
                        }
                    }
                    if last >= *last_rx.borrow() {
                        break true;
                    }
                };
                c.deliveries.fetch_add(unpublished, Ordering::Relaxed);
                if !complete {
                    c.dropped.fetch_add(1, Ordering::Relaxed);
                }
                (complete, latencies)
            })
        };
        tasks.push(reader);
        if !is_sender {
            // Keep the write half alive so the connection stays open.
            tokio::spawn(async move {
                let _tx = tx;
                std::future::pending::<()>().await;
            });
            continue;
        }
        let room = args.room.clone();
        let padding = padding.clone();
        let (rate, window, senders) = (args.rate, args.window, args.senders as u64);
        // Every `every`-th frame is a change (`--changes` percent).
        let every = (args.changes > 0.0).then(|| (100.0 / args.changes).round().max(1.0) as u64);
        tokio::spawn(async move {
            let mut frames_sent = 0u64;
            let mut changes_made = 0u64;
            let mut react_on = 0u64;
            let per_sender = rate / senders as f64;
            let mut tick = (rate > 0.0).then(|| {
                let mut t = tokio::time::interval(Duration::from_secs_f64(1.0 / per_sender));
                t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                t
            });
            while !c.stop.load(Ordering::Relaxed) {
                match &mut tick {
                    Some(t) => {
                        t.tick().await;
                    }
                    None => {
                        // Stay within the window of what this member has received back.
                        if c.sent.load(Ordering::Relaxed)
                            >= received.load(Ordering::Relaxed) + window
                        {
                            tokio::time::sleep(Duration::from_micros(200)).await;
                            continue;
                        }
                    }
                }
                let now = epoch.elapsed().as_micros();
                frames_sent += 1;
                let own = own_last.load(Ordering::Relaxed);
                let change = every.filter(|e| frames_sent.is_multiple_of(*e) && own > 0).map(|_| {
                    changes_made += 1;
                    // An edit of our last message, then a reaction on and
                    // off (on the newest message when it was put on).
                    match changes_made % 3 {
                        0 => format!(
                            r#"{{"type":"edit","room":"{room}","id":{own},"text":"{now} edited"}}"#
                        ),
                        1 => {
                            react_on = last_seen.load(Ordering::Relaxed).max(1);
                            format!(
                                r#"{{"type":"react","room":"{room}","id":{react_on},"emoji":"👍"}}"#
                            )
                        }
                        _ => format!(
                            r#"{{"type":"unreact","room":"{room}","id":{react_on},"emoji":"👍"}}"#
                        ),
                    }
                });
                // A nonce on every send, 32 hex characters as the browser's:
                // the store checks and indexes it (protocol 1.1); it ends
                // with the sender's index.
                let seq = c.sent.load(Ordering::Relaxed) as u32;
                let frame = change.unwrap_or_else(|| {
                    format!(
                        r#"{{"type":"send","room":"{room}","text":"{now} {padding}","nonce":"{now:016x}{seq:08x}{i:08x}"}}"#
                    )
                });
                if tx.write_all(&masked_text(frame.as_bytes())).await.is_err() {
                    break;
                }
                c.sent.fetch_add(1, Ordering::Relaxed);
            }
            // Keep the connection open until the run ends.
            let _tx = tx;
            std::future::pending::<()>().await;
        });
    }
    // Warm up, then measure.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let cpu0 = servers_cpu(&args.server_pids)?;
    let (d0, s0) = (
        counters.deliveries.load(Ordering::Relaxed),
        counters.sent.load(Ordering::Relaxed),
    );
    counters.measuring.store(true, Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(args.seconds)).await;
    counters.measuring.store(false, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    let deliveries = counters.deliveries.load(Ordering::Relaxed) - d0;
    let sent = counters.sent.load(Ordering::Relaxed) - s0;
    let cpu = match (cpu0, servers_cpu(&args.server_pids)?) {
        (Some(before), Some(after)) => Some(after - before),
        _ => None,
    };
    // Stop posting; once the last messages are out, every member must reach
    // the newest id any member saw.
    counters.stop.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let last = last_ids
        .iter()
        .map(|l| l.load(Ordering::Relaxed))
        .max()
        .unwrap_or(0);
    let _ = last_tx.send(last);
    let mut latencies: Vec<u32> = Vec::new();
    let mut incomplete = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    for t in tasks {
        match tokio::time::timeout_at(deadline, t).await {
            Ok(Ok((true, l))) => latencies.extend(l),
            _ => incomplete += 1,
        }
    }
    latencies.sort_unstable();
    let pct = |p: f64| -> f64 {
        if latencies.is_empty() {
            return f64::NAN;
        }
        let i = ((latencies.len() as f64 * p) as usize).min(latencies.len() - 1);
        latencies[i] as f64 / 1000.0
    };
    let mut mode = if args.rate > 0.0 {
        format!("rate {}/s", args.rate)
    } else {
        format!("max, window {}", args.window)
    };
    if args.changes > 0.0 {
        mode.push_str(&format!(", {}% edits and reactions", args.changes));
    }
    let cpu = cpu.map_or(String::new(), |cpu| {
        format!(
            "; server CPU {:.2} s: {:.3} CPU-µs per delivery",
            cpu,
            cpu * 1e6 / deliveries.max(1) as f64
        )
    });
    // Counted as each member's reader ended (the members short of the last
    // id not among them).
    let texts = crate::ws::TEXTS.load(Ordering::Relaxed);
    let wire = format!(
        "; on the wire {:.1} B per text frame ({} of {texts} compressed)",
        crate::ws::WIRE.load(Ordering::Relaxed) as f64 / texts.max(1) as f64,
        crate::ws::DEFLATED.load(Ordering::Relaxed),
    );
    println!(
        "fanout members={} senders={} {mode} size={}B for {elapsed:.1}s: \
         {:.0} messages/s posted, {:.0} deliveries/s; latency ms p50 {:.1} p99 {:.1} max {:.1} \
         ({} samples){cpu}{wire}; nothing lost: {} members short of id {last}, {} ids out of order, \
         {} members dropped",
        args.members,
        args.senders,
        args.size,
        sent as f64 / elapsed,
        deliveries as f64 / elapsed,
        pct(0.50),
        pct(0.99),
        pct(1.0),
        latencies.len(),
        incomplete,
        counters.out_of_order.load(Ordering::Relaxed),
        counters.dropped.load(Ordering::Relaxed),
    );
    Ok(())
}
