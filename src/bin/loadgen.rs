//! Load generator for the chat hub (protocol v1 over real WebSockets).
//!
//! ```text
//! loadgen fanout --url ws://127.0.0.1:3000/ws --members 1000 --senders 4 [--rate N] [--window N]
//!                [--seconds 10] [--size 100] [--room bench] [--server-pid PID]
//! loadgen idle   --url ws://127.0.0.1:3000/ws --members 2000 --server-pid PID [--room idle]
//!                [--rooms N] [--sources N] [--burst N] [--size 100]
//! ```
//!
//! `fanout` joins `--members` clients to one room; the first `--senders` of
//! them post. Without `--rate` they post as fast as the room can take it: all
//! senders together keep at most `--window` messages ahead of what they have
//! themselves received back. With `--rate` they post that many messages a
//! second in all. Every message carries its send time; receivers report
//! deliveries per second and latency percentiles (send to receipt), and with
//! `--server-pid` the server's CPU time per delivery (from `/proc/PID/stat`).
//! At the end the senders stop and every member must reach the last id, each
//! id once and in order: the run reports members incomplete and ids out of
//! order (both 0 when nothing was lost).
//!
//! `idle` joins `--members` clients (to one room, or spread over `--rooms N`
//! rooms `ROOM-0` … `ROOM-{N-1}`) and reports the time to connect and join
//! them all and the server's resident memory per connection (from
//! `/proc/PID/status`); then one member of each room posts a message and
//! every member must receive its room's. With `--burst N`, one member of
//! each room then posts N messages of `--size` bytes at once; once every
//! member has them all, the memory per connection is read again: what a
//! connection keeps after a burst.
//!
//! One source address reaches a server address from about 28,000 ports, so
//! past that the clients connect from `--sources N` loopback addresses
//! (127.0.0.2, 127.0.0.3, …; by default one per 20,000 clients).
//!
//! The server needs a high rate limit for this: `CHAT_RATE_PER_SEC=1000000
//! CHAT_RATE_BURST=1000000`. `make bench` runs the standard scenarios.

use chat::wsframe::masked_text;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::watch;

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
    /// Connects to `url`, from loopback source address `source` (0: any).
    async fn connect(url: &str, source: u8) -> Result<Ws, String> {
        let rest = url.strip_prefix("ws://").ok_or("only ws:// URLs")?;
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        let tcp = match host.parse::<SocketAddr>() {
            Ok(addr) if source > 0 => {
                let socket = TcpSocket::new_v4().map_err(|e| e.to_string())?;
                let from = SocketAddr::from(([127, 0, 0, source], 0));
                socket.bind(from).map_err(|e| format!("bind {from}: {e}"))?;
                socket.connect(addr).await
            }
            _ => TcpStream::connect(host).await,
        }
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
            buf: Vec::with_capacity(4 * 1024),
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
        if self.buf.capacity() - self.buf.len() < 1024 {
            self.buf.reserve(4 * 1024);
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
    /// Server process: its memory (`idle`) or CPU time (`fanout`).
    server_pid: Option<u32>,
    /// Rooms the members are spread over (`idle`).
    rooms: usize,
    /// Loopback source addresses to connect from (0: one per 20,000 clients).
    sources: usize,
    /// Messages each room gets at once after the idle measurement (`idle`).
    burst: usize,
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
        rooms: 1,
        sources: 0,
        burst: 0,
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
            "--rooms" => args.rooms = value()?.parse().map_err(|_| bad("rooms"))?,
            "--sources" => args.sources = value()?.parse().map_err(|_| bad("sources"))?,
            "--burst" => args.burst = value()?.parse().map_err(|_| bad("burst"))?,
            "--server-pid" => args.server_pid = Some(value()?.parse().map_err(|_| bad("pid"))?),
            other => return Err(format!("unknown flag {other:?}")),
        }
    }
    if args.senders > args.members || args.members == 0 {
        return Err("need 1 <= senders <= members".into());
    }
    if args.rooms == 0 || args.rooms > args.members {
        return Err("need 1 <= rooms <= members".into());
    }
    if args.sources == 0 {
        args.sources = args.members.div_ceil(20_000);
    }
    if args.sources > 250 {
        return Err("at most 250 source addresses".into());
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

/// Connects (from loopback address `source`, 0 for any), says hello as
/// `name` and joins `room`.
async fn member(url: &str, source: u8, name: String, room: &str) -> Result<Ws, String> {
    let mut ws = Ws::connect(url, source).await?;
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

/// The room of member `i`.
fn room_of(args: &Args, i: usize) -> String {
    match args.rooms {
        1 => args.room.clone(),
        n => format!("{}-{}", args.room, i % n),
    }
}

async fn connect_all(args: &Args) -> Result<Vec<Ws>, String> {
    let mut all = Vec::with_capacity(args.members);
    // With one source the system picks it; else 127.0.0.2, 127.0.0.3, …
    let source = |i: usize| match args.sources {
        1 => 0,
        n => (2 + i % n) as u8,
    };
    // A few at a time: fast, without flooding the accept queue.
    for chunk in (0..args.members).collect::<Vec<_>>().chunks(50) {
        let joins = chunk.iter().map(|&i| async move {
            member(&args.url, source(i), format!("lg{i}"), &room_of(args, i)).await
        });
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
fn number_after(frame: &[u8], key: &[u8]) -> Option<u64> {
    let start = frame.windows(key.len()).position(|w| w == key)? + key.len();
    let rest = &frame[start..];
    let end = rest
        .iter()
        .position(|b| !b.is_ascii_digit())
        .unwrap_or(rest.len());
    std::str::from_utf8(&rest[..end]).ok()?.parse().ok()
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

async fn fanout(args: &Args) -> Result<(), String> {
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
        last_ids.push(last_id.clone());
        let reader = {
            let c = c.clone();
            let received = received.clone();
            let mut last_rx = last_rx.clone();
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
                    if !t.starts_with(br#"{"type":"message""#) {
                        continue;
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
            // Keep the connection open until the run ends.
            let _tx = tx;
            std::future::pending::<()>().await;
        });
    }
    // Warm up, then measure.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let cpu0 = args.server_pid.map(cpu_seconds).transpose()?;
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
    let cpu = match (cpu0, args.server_pid) {
        (Some(before), Some(pid)) => Some(cpu_seconds(pid)? - before),
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
    let mode = if args.rate > 0.0 {
        format!("rate {}/s", args.rate)
    } else {
        format!("max, window {}", args.window)
    };
    let cpu = cpu.map_or(String::new(), |cpu| {
        format!(
            "; server CPU {:.2} s: {:.3} CPU-µs per delivery",
            cpu,
            cpu * 1e6 / deliveries.max(1) as f64
        )
    });
    println!(
        "fanout members={} senders={} {mode} size={}B for {elapsed:.1}s: \
         {:.0} messages/s posted, {:.0} deliveries/s; latency ms p50 {:.1} p99 {:.1} max {:.1} \
         ({} samples){cpu}; nothing lost: {} members short of id {last}, {} ids out of order, \
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
