//! `loadgen seed` and `loadgen hostile`: a chatting pair's latency alone
//! and while others search as hard as their limits allow and load pages.
//!
//! `seed` posts `--messages` messages to `--room` (as fast as the server
//! takes them: start it with high send limits for this), each with words
//! the searches find: `a`, `and`, `about`, `all` and `common` in every
//! one, `alpha` in every other.
//!
//! `hostile` then (against a server with its default limits): a pair in a
//! room of its own, taking turns posting `--rate` messages a second (20)
//! together, each timed where the other receives it, for `--seconds` alone and again while `--searchers`
//! connections (40) search in turn for the costliest kinds of query (a
//! one-letter prefix, a short prefix, a word every message has, two such
//! words) as fast as the search limits allow (a burst of 5, then 1 a
//! second each), and `--loaders` clients (4) load the page in a loop. It
//! reports the pair's latency (p50, p99) both times, what the searches got
//! (results, refused, too long), pages per second, and whether the pair's
//! receiver got every message once, in order. With `--sources N` the
//! searchers connect from N loopback addresses (127.0.0.2, …). A loader
//! refused (429) waits the `Retry-After` second, as a browser's reload
//! loop would; with `--spin` it asks again at once (a connection flood).

use super::fanout::number_after;
use super::{member, Args};
use crate::ws::Ws;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The queries the searchers take turns at, costliest first.
const QUERIES: [&str; 4] = ["a", "co", "common", "common alpha"];

pub(crate) async fn seed(args: &Args) -> Result<(), String> {
    let url = &args.urls[0];
    let name = format!("seed{}", super::run_tag());
    let mut ws = member(url, 0, name, &args.room).await?;
    let (n, window) = (args.messages, 256u64);
    let (mut sent, mut echoed) = (0u64, 0u64);
    let started = Instant::now();
    while echoed < n {
        while sent < n && sent < echoed + window {
            let extra = if sent % 2 == 0 { " alpha" } else { "" };
            // Ordinary words: "a*" matches every message many times over
            // (a, and, about, all), as in a real chat's history.
            let text = format!("seed {sent} a common{extra} and about all words to find");
            ws.send(&format!(
                r#"{{"type":"send","room":"{}","text":"{text}"}}"#,
                args.room
            ))
            .await?;
            sent += 1;
        }
        match ws.frames.next_text().await? {
            Some(t) if t.starts_with(br#"{"type":"message""#) => echoed += 1,
            Some(t) if t.starts_with(br#"{"type":"error""#) => {
                return Err(format!("seed: {}", String::from_utf8_lossy(t)))
            }
            Some(_) => {}
            None => return Err("seed: connection ended".into()),
        }
    }
    println!(
        "seed: {n} messages into {} in {:.1}s",
        args.room,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// What the searchers got.
#[derive(Default)]
struct Searched {
    /// `results` frames.
    results: AtomicU64,
    /// `rate_limited` errors.
    refused: AtomicU64,
    /// `unavailable` errors (too long, or the server busy).
    too_long: AtomicU64,
    /// Pages loaded.
    pages: AtomicU64,
    /// Page loads refused (429).
    page_refusals: AtomicU64,
    /// Set to stop every searcher and loader.
    stop: AtomicBool,
}

pub(crate) async fn hostile(args: &Args) -> Result<(), String> {
    let url = args.urls[0].clone();
    let tag = super::run_tag();
    let mut pair = Pair::join(&url, &tag).await?;
    let alone = pair.measure(args).await?;
    let searched = Arc::new(Searched::default());
    let mut tasks = Vec::new();
    for i in 0..args.searchers {
        let source = match args.sources {
            0 | 1 => 0,
            n => (2 + i % n) as u8,
        };
        let ws = super::hello(&url, source, format!("hs{tag}-{i}")).await?;
        tasks.push(tokio::spawn(searcher(ws, i, searched.clone())));
    }
    let page = url.replace("ws://", "").replace("/ws", "");
    for _ in 0..args.loaders {
        tasks.push(tokio::spawn(loader(
            page.clone(),
            searched.clone(),
            args.spin,
        )));
    }
    let loaded = Instant::now();
    let hostile = pair.measure(args).await?;
    searched.stop.store(true, Ordering::Relaxed);
    let elapsed = loaded.elapsed().as_secs_f64();
    for task in tasks {
        let _ = task.await;
    }
    let s = &searched;
    println!(
        "hostile pair at {}/s together: alone p50 {:.1} ms p99 {:.1} ms; with {} searchers \
         ({} sources) and {} page loaders: p50 {:.1} ms p99 {:.1} ms; searches: {} results, \
         {} refused, {} too long; {:.0} pages/s ({:.0} refused/s{}); nothing lost: {}",
        args.rate,
        alone.0,
        alone.1,
        args.searchers,
        args.sources.max(1),
        args.loaders,
        hostile.0,
        hostile.1,
        s.results.load(Ordering::Relaxed),
        s.refused.load(Ordering::Relaxed),
        s.too_long.load(Ordering::Relaxed),
        s.pages.load(Ordering::Relaxed) as f64 / elapsed,
        s.page_refusals.load(Ordering::Relaxed) as f64 / elapsed,
        if args.spin {
            ", loaders not waiting"
        } else {
            ""
        },
        alone.2 && hostile.2,
    );
    Ok(())
}

/// The chatting pair whose latency is measured: two members of a room of
/// their own, and the id the next message must have.
pub(crate) struct Pair {
    /// Their room.
    room: String,
    /// One of them.
    a: Ws,
    /// The other.
    b: Ws,
    /// What the send times in the texts count from.
    epoch: Instant,
    /// The id the next message must have.
    next_id: u64,
}

impl Pair {
    /// Two members (named after `tag`) of a room of their own on `url`.
    pub(crate) async fn join(url: &str, tag: &str) -> Result<Pair, String> {
        let room = format!("pair{tag}");
        let a = member(url, 0, format!("ps{tag}"), &room).await?;
        let b = member(url, 0, format!("pr{tag}"), &room).await?;
        Ok(Pair {
            room,
            a,
            b,
            epoch: Instant::now(),
            next_id: 1,
        })
    }

    /// See [`pair`]: p50 and p99 (ms), and whether every id came once, in order.
    pub(crate) async fn measure(&mut self, args: &Args) -> Result<(f64, f64, bool), String> {
        let Pair {
            room,
            a,
            b,
            epoch,
            next_id,
        } = self;
        pair(args, room, a, b, *epoch, next_id).await
    }
}

/// The pair for `--seconds`: the two take turns posting, `--rate`
/// messages a second together (so each stays within the default send
/// limit), and each message is timed where the other receives it. Returns
/// p50 and p99 (ms) and whether every id came once, in order.
async fn pair(
    args: &Args,
    room: &str,
    a: &mut Ws,
    b: &mut Ws,
    epoch: Instant,
    next_id: &mut u64,
) -> Result<(f64, f64, bool), String> {
    let every = Duration::from_secs_f64(1.0 / args.rate);
    let count = (args.seconds * args.rate) as u64;
    let mut latencies = Vec::with_capacity(count as usize);
    let mut in_order = true;
    let mut due = tokio::time::Instant::now();
    for i in 0..count {
        tokio::time::sleep_until(due).await;
        due += every;
        let (from, to) = if i % 2 == 0 {
            (&mut *a, &mut *b)
        } else {
            (&mut *b, &mut *a)
        };
        let micros = epoch.elapsed().as_micros();
        from.send(&format!(
            r#"{{"type":"send","room":"{room}","text":"{micros}"}}"#
        ))
        .await?;
        let frame = next_message(to).await?;
        let sent = number_after(&frame, br#""text":""#).unwrap_or(0);
        let id = number_after(&frame, br#""id":"#).unwrap_or(0);
        latencies.push(epoch.elapsed().as_micros() as u64 - sent);
        in_order &= id == *next_id;
        *next_id = id + 1;
        // The sender's own copy: the same id.
        let echo = next_message(from).await?;
        in_order &= number_after(&echo, br#""id":"#) == Some(id);
    }
    latencies.sort_unstable();
    let pct = |p: f64| {
        let i = ((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1));
        latencies.get(i).map_or(f64::NAN, |&v| v as f64 / 1000.0)
    };
    Ok((pct(0.50), pct(0.99), in_order))
}

/// The next `message` frame of `ws`; an `error` ends the run.
async fn next_message(ws: &mut Ws) -> Result<Vec<u8>, String> {
    loop {
        match ws.frames.next_text().await? {
            Some(t) if t.starts_with(br#"{"type":"message""#) => return Ok(t.to_vec()),
            Some(t) if t.starts_with(br#"{"type":"error""#) => {
                return Err(format!("the pair: {}", String::from_utf8_lossy(t)))
            }
            Some(_) => {}
            None => return Err("the pair's connection was closed".into()),
        }
    }
}

/// One searcher: a burst of 5, then one a second, taking turns at the queries.
async fn searcher(mut ws: Ws, i: usize, searched: Arc<Searched>) {
    let started = tokio::time::Instant::now();
    let mut n = 0usize;
    while !searched.stop.load(Ordering::Relaxed) {
        let due = started + Duration::from_secs(n.saturating_sub(4) as u64);
        let query = QUERIES[(i + n) % QUERIES.len()];
        let frame = format!(r#"{{"type":"search","query":"{query}"}}"#);
        if tokio::time::Instant::now() >= due {
            if ws.send(&frame).await.is_err() {
                return;
            }
            n += 1;
        }
        let wait = due.max(tokio::time::Instant::now() + Duration::from_millis(50));
        match tokio::time::timeout_at(wait, ws.frames.next_text()).await {
            Ok(Ok(Some(t))) => {
                let counter = if t.starts_with(br#"{"type":"results""#) {
                    &searched.results
                } else if t.windows(14).any(|w| w == br#""rate_limited""#) {
                    &searched.refused
                } else {
                    &searched.too_long
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
            Ok(_) => return,
            Err(_) => {}
        }
    }
}

/// One page loader: `GET /` in a loop, a connection each.
async fn loader(addr: String, searched: Arc<Searched>, spin: bool) {
    let ask = format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    let mut answer = Vec::with_capacity(64 * 1024);
    while !searched.stop.load(Ordering::Relaxed) {
        let Ok(mut tcp) = tokio::net::TcpStream::connect(&addr).await else {
            return;
        };
        answer.clear();
        if tcp.write_all(ask.as_bytes()).await.is_err()
            || tcp.read_to_end(&mut answer).await.is_err()
        {
            return;
        }
        if answer.starts_with(b"HTTP/1.1 200") {
            searched.pages.fetch_add(1, Ordering::Relaxed);
        } else if answer.starts_with(b"HTTP/1.1 429") {
            searched.page_refusals.fetch_add(1, Ordering::Relaxed);
            if !spin {
                // As a browser's reload loop would: it waits Retry-After (1 s).
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// `loadgen worst`: times the costliest request of each kind, one at a
/// time on an idle server (seeded with `seed`): a join's replay (with and
/// without `after`), a history page, each kind of search, and the page.
/// Each is asked 5 times; the slowest and the median are reported.
pub(crate) async fn worst(args: &Args) -> Result<(), String> {
    let url = &args.urls[0];
    let tag = super::run_tag();
    let mut ws = super::hello(url, 0, format!("w{tag}")).await?;
    let empty = format!("empty{tag}");
    let room = &args.room;
    let asks: Vec<(String, String, &[u8])> = vec![
        (
            "join (50 recent)".into(),
            format!(r#"{{"type":"join","room":"{room}"}}"#),
            br#"{"type":"joined""#,
        ),
        (
            "join after 0 (the replay cap, 1000)".into(),
            format!(r#"{{"type":"join","room":"{room}","after":0}}"#),
            br#"{"type":"joined""#,
        ),
        (
            "history, 100 from the middle".into(),
            format!(
                r#"{{"type":"history","room":"{room}","before":{},"limit":100}}"#,
                args.messages / 2
            ),
            br#"{"type":"history""#,
        ),
    ];
    let searches = [
        ("a", None),
        ("co", None),
        ("com", None),
        ("common", None),
        ("common alpha", None),
        ("alpha words", None),
        ("nothingmatches", None),
        ("common", Some(empty.as_str())),
    ];
    let mut asks = asks;
    for (query, in_room) in searches {
        let room_field = in_room.map_or(String::new(), |r| format!(r#","room":"{r}""#));
        let label = match in_room {
            Some(_) => format!("search {query:?} in a room without it"),
            None => format!("search {query:?}"),
        };
        asks.push((
            label,
            format!(r#"{{"type":"search","query":"{query}"{room_field}}}"#),
            br#"{"type":"results""#,
        ));
    }
    // The room without matches exists: joined (and left) first.
    ws.send(&format!(r#"{{"type":"join","room":"{empty}"}}"#))
        .await?;
    wait_for(&mut ws, br#"{"type":"joined""#).await?;
    for (label, frame, answer) in &asks {
        let mut took = Vec::new();
        for _ in 0..5 {
            if frame.contains(r#""type":"join""#) {
                ws.send(&format!(r#"{{"type":"leave","room":"{room}"}}"#))
                    .await?;
                wait_for(&mut ws, br#"{"type":"left""#).await?;
            }
            // Within the search limits (a burst of 5, then 1 a second).
            tokio::time::sleep(Duration::from_millis(1100)).await;
            let start = Instant::now();
            ws.send(frame).await?;
            let got = wait_for(&mut ws, answer).await?;
            took.push(start.elapsed().as_secs_f64() * 1000.0);
            if !got.starts_with(answer) {
                println!("  {label}: {}", String::from_utf8_lossy(&got));
            }
        }
        took.sort_by(f64::total_cmp);
        println!(
            "worst {label}: slowest {:.1} ms, median {:.1} ms",
            took[4], took[2]
        );
    }
    let page = url.replace("ws://", "").replace("/ws", "");
    let mut took = Vec::new();
    for _ in 0..5 {
        let start = Instant::now();
        let mut tcp = tokio::net::TcpStream::connect(&page)
            .await
            .map_err(|e| e.to_string())?;
        let ask = format!("GET / HTTP/1.1\r\nHost: {page}\r\nConnection: close\r\n\r\n");
        tcp.write_all(ask.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut answer = Vec::new();
        tcp.read_to_end(&mut answer)
            .await
            .map_err(|e| e.to_string())?;
        took.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    took.sort_by(f64::total_cmp);
    println!(
        "worst the page: slowest {:.1} ms, median {:.1} ms",
        took[4], took[2]
    );
    Ok(())
}

/// The next frame that starts with `answer`, or an `error` (returned as is).
async fn wait_for(ws: &mut Ws, answer: &[u8]) -> Result<Vec<u8>, String> {
    loop {
        match ws.frames.next_text().await? {
            Some(t) if t.starts_with(answer) || t.starts_with(br#"{"type":"error""#) => {
                return Ok(t.to_vec())
            }
            Some(_) => {}
            None => return Err("connection ended".into()),
        }
    }
}
