//! Load generator for the chat hub (protocol v1 over real WebSockets).
//!
//! ```text
//! loadgen fanout --url ws://127.0.0.1:3000/ws --members 1000 --senders 4 [--rate N] [--window N]
//!                [--seconds 10] [--size 100] [--room bench]
//! loadgen idle   --url ws://127.0.0.1:3000/ws --members 2000 --server-pid PID [--room idle]
//!                [--room-per-member]
//! ```
//!
//! `fanout` joins `--members` clients to one room; the first `--senders` of
//! them post. Without `--rate` they post as fast as the room can take it: all
//! senders together keep at most `--window` messages ahead of what they have
//! themselves received back. With `--rate` they post that many messages a
//! second in all. Every message carries its send time; receivers report
//! deliveries per second and latency percentiles (send to receipt).
//!
//! `idle` joins `--members` clients (to one room, or with `--room-per-member`
//! each to its own) and reports the server's resident memory per connection
//! (from `/proc/PID/status`).
//!
//! The server needs a high rate limit for this: `CHAT_RATE_PER_SEC=1000000
//! CHAT_RATE_BURST=1000000`. `make bench` runs the standard scenarios.

use chat::wsframe::masked_text;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

/// A minimal client-side WebSocket over one TCP stream: just enough protocol
/// to join and count frames, so the load generator spends as little CPU as
/// possible on the 2 cores it shares with the server it measures. (It does
/// not answer pings: runs are far shorter than the server's idle timeout.)
struct Ws {
    /// Incoming frames.
    frames: Frames,
    /// Write half.
    tx: OwnedWriteHalf,
}

/// The read side of a [`Ws`]: frames parsed straight out of one buffer.
struct Frames {
    /// Read half.
    rx: OwnedReadHalf,
    /// Bytes read but not yet parsed.
    buf: Vec<u8>,
    /// Start of unparsed data in `buf`.
    at: usize,
}

impl Ws {
    async fn connect(url: &str) -> Result<Ws, String> {
        let rest = url.strip_prefix("ws://").ok_or("only ws:// URLs")?;
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        let tcp = TcpStream::connect(host)
            .await
            .map_err(|e| format!("connect {host}: {e}"))?;
        // Browsers set TCP_NODELAY on WebSockets; so does this client.
        tcp.set_nodelay(true).map_err(|e| e.to_string())?;
        let (rx, mut tx) = tcp.into_split();
        let request = format!(
            "GET /{path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        tx.write_all(request.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut frames = Frames {
            rx,
            buf: Vec::with_capacity(16 * 1024),
            at: 0,
        };
        loop {
            if let Some(end) = frames.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                if !frames.buf.starts_with(b"HTTP/1.1 101") {
                    let head = String::from_utf8_lossy(&frames.buf).into_owned();
                    return Err(format!("upgrade refused: {head}"));
                }
                frames.at = end + 4;
                return Ok(Ws { frames, tx });
            }
            if !frames.fill().await? {
                return Err("connection closed during the upgrade".into());
            }
        }
    }

    async fn send(&mut self, payload: &str) -> Result<(), String> {
        self.tx
            .write_all(&masked_text(payload.as_bytes()))
            .await
            .map_err(|e| e.to_string())
    }
}

impl Frames {
    /// Reads more bytes; false at end of stream.
    async fn fill(&mut self) -> Result<bool, String> {
        if self.at > 0 && self.at == self.buf.len() {
            self.buf.clear();
            self.at = 0;
        } else if self.at > self.buf.capacity() / 2 {
            self.buf.drain(..self.at);
            self.at = 0;
        }
        let n = self
            .rx
            .read_buf(&mut self.buf)
            .await
            .map_err(|e| e.to_string())?;
        Ok(n > 0)
    }

    /// The next complete frame: (opcode, payload range in `buf`); `None` at end of stream.
    async fn next(&mut self) -> Result<Option<(u8, std::ops::Range<usize>)>, String> {
        loop {
            let b = &self.buf[self.at..];
            if b.len() >= 2 {
                let (len, head) = match b[1] & 0x7f {
                    126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
                    127 if b.len() >= 10 => (
                        u64::from_be_bytes(b[2..10].try_into().unwrap()) as usize,
                        10,
                    ),
                    126 | 127 => (usize::MAX, 0),
                    n => (n as usize, 2),
                };
                if len != usize::MAX && b.len() >= head + len {
                    let start = self.at + head;
                    self.at = start + len;
                    return Ok(Some((b[0] & 0x0f, start..start + len)));
                }
            }
            if !self.fill().await? {
                return Ok(None);
            }
        }
    }

    /// The next text frame's payload; `None` at end of stream or on a close frame.
    async fn next_text(&mut self) -> Result<Option<&[u8]>, String> {
        loop {
            match self.next().await? {
                Some((0x1, r)) => return Ok(Some(&self.buf[r])),
                Some((0x8, _)) | None => return Ok(None),
                Some(_) => {}
            }
        }
    }
}

/// Command-line options.
#[derive(Debug, Clone)]
struct Args {
    /// `fanout` or `idle`.
    mode: String,
    /// WebSocket URL of the hub.
    url: String,
    /// Clients in the room (senders included).
    members: usize,
    /// How many of them post.
    senders: usize,
    /// Messages per second in all; 0 means as fast as delivered.
    rate: f64,
    /// Messages in flight at most, when posting as fast as possible.
    window: u64,
    /// Length of the measurement.
    seconds: f64,
    /// Message text length in bytes.
    size: usize,
    /// Room name.
    room: String,
    /// Server process, for `idle`.
    server_pid: Option<u32>,
    /// Each member in a room of its own (`ROOM-i`) instead of one shared room.
    room_per_member: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        mode: String::new(),
        url: "ws://127.0.0.1:3000/ws".into(),
        members: 1000,
        senders: 4,
        rate: 0.0,
        window: 256,
        seconds: 10.0,
        size: 100,
        room: "bench".into(),
        server_pid: None,
        room_per_member: false,
    };
    let mut it = std::env::args().skip(1);
    args.mode = it.next().ok_or("missing mode: fanout or idle")?;
    if args.mode != "fanout" && args.mode != "idle" {
        return Err(format!("unknown mode {:?}: fanout or idle", args.mode));
    }
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        let bad = |v: &str| format!("bad value {v:?} for {flag}");
        match flag.as_str() {
            "--url" => args.url = value()?,
            "--room" => args.room = value()?,
            "--members" => args.members = value()?.parse().map_err(|_| bad("members"))?,
            "--senders" => args.senders = value()?.parse().map_err(|_| bad("senders"))?,
            "--rate" => args.rate = value()?.parse().map_err(|_| bad("rate"))?,
            "--window" => args.window = value()?.parse().map_err(|_| bad("window"))?,
            "--seconds" => args.seconds = value()?.parse().map_err(|_| bad("seconds"))?,
            "--size" => args.size = value()?.parse().map_err(|_| bad("size"))?,
            "--room-per-member" => args.room_per_member = true,
            "--server-pid" => args.server_pid = Some(value()?.parse().map_err(|_| bad("pid"))?),
            other => return Err(format!("unknown flag {other:?}")),
        }
    }
    if args.senders > args.members || args.members == 0 {
        return Err("need 1 <= senders <= members".into());
    }
    Ok(args)
}

#[tokio::main]
async fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("loadgen: {e}\n(see the doc comment in src/bin/loadgen.rs)");
            std::process::exit(2);
        }
    };
    let result = if args.mode == "idle" {
        idle(&args).await
    } else {
        fanout(&args).await
    };
    if let Err(e) = result {
        eprintln!("loadgen: {e}");
        std::process::exit(1);
    }
}

/// Connects, says hello as `name` and joins `room`.
async fn member(url: &str, name: String, room: &str) -> Result<Ws, String> {
    let mut ws = Ws::connect(url).await?;
    ws.send(&format!(r#"{{"type":"hello","name":"{name}"}}"#))
        .await?;
    ws.send(&format!(r#"{{"type":"join","room":"{room}"}}"#))
        .await?;
    loop {
        match ws.frames.next_text().await? {
            Some(t) if t.starts_with(br#"{"type":"joined""#) => return Ok(ws),
            Some(t) if t.starts_with(br#"{"type":"error""#) => {
                return Err(format!("{name}: {}", String::from_utf8_lossy(t)))
            }
            Some(_) => {}
            None => return Err(format!("{name}: connection ended during join")),
        }
    }
}

async fn connect_all(args: &Args) -> Result<Vec<Ws>, String> {
    let mut all = Vec::with_capacity(args.members);
    // A few at a time: fast, without flooding the accept queue.
    for chunk in (0..args.members).collect::<Vec<_>>().chunks(50) {
        let room = |i: usize| match args.room_per_member {
            true => format!("{}-{i}", args.room),
            false => args.room.clone(),
        };
        let joins = chunk
            .iter()
            .map(|&i| async move { member(&args.url, format!("lg{i}"), &room(i)).await });
        for ws in futures::future::join_all(joins).await {
            all.push(ws?);
        }
    }
    Ok(all)
}

/// Shared counters of a fan-out run.
#[derive(Default)]
struct Counters {
    /// Message frames received by all members.
    deliveries: AtomicU64,
    /// Messages posted by all senders.
    sent: AtomicU64,
    /// Members whose connection ended early (closed by the server).
    dropped: AtomicU64,
    /// Set while latencies are being recorded.
    measuring: AtomicBool,
    /// Set to stop everyone.
    stop: AtomicBool,
}

/// The send time (µs since `epoch`) a message carries at the start of its text.
fn sent_micros(frame: &[u8]) -> Option<u64> {
    let key = br#""text":""#;
    let start = frame.windows(key.len()).position(|w| w == key)? + key.len();
    let rest = &frame[start..];
    let end = rest
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(rest.len());
    std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
}

async fn fanout(args: &Args) -> Result<(), String> {
    let epoch = Instant::now();
    let counters = Arc::new(Counters::default());
    let members = connect_all(args).await?;
    eprintln!("{} members joined {}", members.len(), args.room);
    let padding = "x".repeat(args.size.saturating_sub(21));
    let mut tasks = Vec::new();
    for (i, ws) in members.into_iter().enumerate() {
        let Ws { mut frames, mut tx } = ws;
        let c = counters.clone();
        let is_sender = i < args.senders;
        // Latency is sampled on every 10th member (and every sender).
        let sample = is_sender || i % 10 == 0;
        let received = Arc::new(AtomicU64::new(0));
        let reader = {
            let c = c.clone();
            let received = received.clone();
            tokio::spawn(async move {
                let mut latencies: Vec<u32> = Vec::new();
                // Published to the shared total in steps: one contended atomic
                // per frame would take CPU from the server being measured.
                let mut unpublished = 0u64;
                while let Ok(Some(t)) = frames.next_text().await {
                    if !t.starts_with(br#"{"type":"message""#) {
                        continue;
                    }
                    received.fetch_add(1, Ordering::Relaxed);
                    unpublished += 1;
                    if unpublished == 64 {
                        c.deliveries.fetch_add(unpublished, Ordering::Relaxed);
                        unpublished = 0;
                    }
                    if sample && c.measuring.load(Ordering::Relaxed) {
                        if let Some(sent) = sent_micros(t) {
                            let now = epoch.elapsed().as_micros() as u64;
                            latencies.push(now.saturating_sub(sent) as u32);
                        }
                    }
                    if c.stop.load(Ordering::Relaxed) {
                        break;
                    }
                }
                c.deliveries.fetch_add(unpublished, Ordering::Relaxed);
                if !c.stop.load(Ordering::Relaxed) {
                    c.dropped.fetch_add(1, Ordering::Relaxed);
                }
                latencies
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
        tokio::spawn(async move {
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
                let frame =
                    format!(r#"{{"type":"send","room":"{room}","text":"{now} {padding}"}}"#);
                if tx.write_all(&masked_text(frame.as_bytes())).await.is_err() {
                    break;
                }
                c.sent.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    // Warm up, then measure.
    tokio::time::sleep(Duration::from_secs(1)).await;
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
    counters.stop.store(true, Ordering::Relaxed);
    let dropped = counters.dropped.load(Ordering::Relaxed);
    // Readers stop on their next message; the rest are abandoned at exit.
    let mut latencies: Vec<u32> = Vec::new();
    for t in tasks {
        if let Ok(Ok(l)) = tokio::time::timeout(Duration::from_millis(200), t).await {
            latencies.extend(l);
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
    let mode = if args.rate > 0.0 {
        format!("rate {}/s", args.rate)
    } else {
        format!("max, window {}", args.window)
    };
    println!(
        "fanout members={} senders={} {mode} size={}B for {elapsed:.1}s: \
         {:.0} messages/s posted, {:.0} deliveries/s; latency ms p50 {:.1} p99 {:.1} max {:.1} \
         ({} samples); members dropped early: {dropped}",
        args.members,
        args.senders,
        args.size,
        sent as f64 / elapsed,
        deliveries as f64 / elapsed,
        pct(0.50),
        pct(0.99),
        pct(1.0),
        latencies.len(),
    );
    Ok(())
}

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

async fn idle(args: &Args) -> Result<(), String> {
    let pid = args.server_pid.ok_or("idle needs --server-pid")?;
    let before = rss_kib(pid)?;
    let started = Instant::now();
    let members = connect_all(args).await?;
    let joined_in = started.elapsed().as_secs_f64();
    let count = members.len();
    // Like a browser, read (and here discard) what arrives: the presence
    // notices of everyone joining after.
    let mut writers = Vec::with_capacity(count);
    for Ws { mut frames, tx } in members {
        writers.push(tx);
        tokio::spawn(async move { while let Ok(Some(_)) = frames.next_text().await {} });
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = rss_kib(pid)?;
    let per = (after.saturating_sub(before)) as f64 / count as f64;
    println!(
        "idle members={count}: all connected and joined in {joined_in:.2} s; server RSS {before} KiB before, {after} KiB after: {per:.2} KiB per joined idle connection"
    );
    drop(writers);
    Ok(())
}
