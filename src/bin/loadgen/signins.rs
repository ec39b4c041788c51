//! `loadgen signins`: how many sign-ins one node checks a second, and a
//! chatting pair's latency while wrong sign-ins arrive at `--rate` a
//! second (100).
//!
//! Each attempt is its own connection posting `/login` as the page's form
//! would (`Sec-Fetch-Site: same-origin`) with a name no account has and a
//! wrong password: the server verifies it against its dummy hash, as it
//! would a real account's, and counts a failure. With `--sources N` each
//! attempt names one of N addresses in `X-Forwarded-For` (start the server
//! with `CHAT_CLIENT_IP_HEADER=X-Forwarded-For`; loopback is trusted), so
//! the per-address failure limit does not answer them all with a cheap
//! 429. It reports the pair's latency (p50, p99) alone and during the
//! flood, and the attempts answered per second: checked (401: a full
//! Argon2id verify), refused by the failure limits (429), refused as busy
//! (503: the hashing queue was full).

use super::hostile::Pair;
use super::Args;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the attempts got.
#[derive(Default)]
struct Answers {
    /// 401: checked.
    checked: AtomicU64,
    /// 429: over a failure limit.
    limited: AtomicU64,
    /// 503: the hashing queue was full.
    busy: AtomicU64,
    /// Anything else (or no answer).
    other: AtomicU64,
    /// Set when the flood ends.
    stop: AtomicBool,
}

pub(crate) async fn signins(args: &Args) -> Result<(), String> {
    let url = args.urls[0].clone();
    let tag = super::run_tag();
    let mut pair = Pair::join(&url, &tag).await?;
    let alone = pair.measure(args).await?;
    let answers = Arc::new(Answers::default());
    let page = url.replace("ws://", "").replace("/ws", "");
    let flood = tokio::spawn(flood(
        page,
        args.attempts,
        args.sources,
        tag,
        answers.clone(),
    ));
    let started = Instant::now();
    let during = pair.measure(args).await?;
    answers.stop.store(true, Ordering::Relaxed);
    let elapsed = started.elapsed().as_secs_f64();
    let _ = flood.await;
    let per_sec = |n: &AtomicU64| n.load(Ordering::Relaxed) as f64 / elapsed;
    println!(
        "sign-ins: {} wrong ones a second asked ({} sources); {:.1}/s checked (401), \
         {:.1}/s refused by the failure limits (429), {:.1}/s refused as busy (503), {:.1}/s other; \
         the pair at {}/s: alone p50 {:.1} ms p99 {:.1} ms, during p50 {:.1} ms p99 {:.1} ms; \
         nothing lost: {}",
        args.attempts,
        args.sources.max(1),
        per_sec(&answers.checked),
        per_sec(&answers.limited),
        per_sec(&answers.busy),
        per_sec(&answers.other),
        args.rate,
        alone.0,
        alone.1,
        during.0,
        during.1,
        alone.2 && during.2,
    );
    Ok(())
}

/// `rate` attempts a second until told to stop, each a task of its own.
async fn flood(addr: String, rate: f64, sources: usize, tag: String, answers: Arc<Answers>) {
    let every = Duration::from_secs_f64(1.0 / rate.max(0.001));
    let mut due = tokio::time::Instant::now();
    let mut n = 0u64;
    let mut tasks = tokio::task::JoinSet::new();
    while !answers.stop.load(Ordering::Relaxed) {
        tokio::time::sleep_until(due).await;
        due += every;
        let from = match sources {
            0 | 1 => None,
            s => Some(format!(
                "10.9.{}.{}",
                (n as usize % s) / 250,
                (n as usize % s) % 250 + 1
            )),
        };
        let body = format!("name=nobody{tag}x{n}&password=not+the+password+at+all");
        let forwarded = from
            .map(|a| format!("X-Forwarded-For: {a}\r\n"))
            .unwrap_or_default();
        let ask = format!(
            "POST /login HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
             Sec-Fetch-Site: same-origin\r\n{forwarded}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        let (addr, answers) = (addr.clone(), answers.clone());
        tasks.spawn(async move {
            let status = attempt(&addr, &ask).await;
            let counter = match status {
                Some(401) => &answers.checked,
                Some(429) => &answers.limited,
                Some(503) => &answers.busy,
                _ => &answers.other,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        });
        n += 1;
        while tasks.try_join_next().is_some() {}
    }
    while tasks.join_next().await.is_some() {}
}

/// One attempt: the status of the answer, if one came.
async fn attempt(addr: &str, ask: &str) -> Option<u16> {
    let mut tcp = tokio::net::TcpStream::connect(addr).await.ok()?;
    tcp.write_all(ask.as_bytes()).await.ok()?;
    let mut answer = Vec::with_capacity(4096);
    tcp.read_to_end(&mut answer).await.ok()?;
    let line = answer.split(|&b| b == b'\r').next()?;
    std::str::from_utf8(line)
        .ok()?
        .split(' ')
        .nth(1)?
        .parse()
        .ok()
}
