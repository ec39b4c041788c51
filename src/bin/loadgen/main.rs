//! Load generator for the chat hub (protocol v1 over real WebSockets).
//!
//! ```text
//! loadgen fanout --url ws://127.0.0.1:3000/ws[,ws://…] --members 1000 --senders 4 [--rate N] [--window N]
//!                [--seconds 10] [--size 100] [--room bench] [--server-pid PID[,PID…]]
//! loadgen idle   --url ws://127.0.0.1:3000/ws --members 2000 --server-pid PID [--room idle]
//!                [--rooms N] [--sources N] [--burst N] [--size 100]
//! loadgen seed   --url ws://127.0.0.1:3000/ws --messages 30000 [--room general]
//! loadgen hostile --url ws://127.0.0.1:3000/ws [--rate 20] [--seconds 10] [--searchers 40]
//!                [--loaders 4] [--sources N] [--spin]
//! loadgen worst  --url ws://127.0.0.1:3000/ws [--messages N (stored in general)]
//! loadgen signins --url ws://127.0.0.1:3000/ws [--attempts 100] [--rate 20] [--seconds 10]
//!                [--sources N]
//! ```
//!
//! loadgen fanout … --changes 10 (that percent of the senders' frames are
//!                edits of their own last message and reactions, on and off)
//! loadgen purge  --url ws://127.0.0.1:3000/ws [--messages 10000] [--rate 20] [--seconds 5]
//! loadgen fanout|idle … --live (the members that only read use the HTTP
//!                fallback, Server-Sent Events from /live, not the WebSocket)
//! loadgen fanout|idle|wire … --deflate (WebSocket members offer
//!                permessage-deflate; fanout reports bytes per frame on the wire)
//! loadgen wire   --url ws://127.0.0.1:3000/ws [--size 100] [--room wire]
//! loadgen uploads --url ws://127.0.0.1:3000/ws [--uploaders 10] [--size N | --image]
//!                [--seconds 10] [--rate 20] [--server-pid PID]
//!
//! loadgen during --url ws://127.0.0.1:3000/ws [--seconds 10] [--rate 20] [--server-pid PID]
//!                -- COMMAND ARGS…
//!
//! `during`: see [`during`] (an operator's command, such as a backup or an
//! export: its time, the server's memory, and the pair's latency meanwhile).
//!
//! `uploads`: see [`uploads`] (*1.2*: uploads a second, the server's memory,
//! and the pair's latency while they run).
//!
//! `wire`: see [`wire`] (bytes on the wire for a live message and for a
//! `joined` of 50 messages, with and without permessage-deflate).
//!
//! `purge`: see [`purge`] (a moderator's purge of `--messages` messages:
//! how long it takes, and the pair's latency meanwhile).
//!
//! `signins`: see [`signins`] (sign-ins checked a second, and the pair's
//! latency while wrong ones arrive).
//!
//! `seed` and `hostile`: see [`hostile`] (the pair's latency while others
//! search as hard as their limits allow).
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

mod during;
mod fanout;
mod hostile;
mod idle;
mod live;
mod purge;
mod signins;
mod uploads;
mod wire;
mod ws;

use ws::Ws;

/// Command-line options.
#[derive(Debug, Clone)]
struct Args {
    /// `fanout` or `idle`.
    mode: String,
    /// WebSocket URLs of the nodes (`--url a,b`): member `i` uses the
    /// `i % n`-th, so a room's members are split evenly over the nodes.
    urls: Vec<String>,
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
    /// Server processes (`--server-pid a,b`): their memory (`idle`: the
    /// first) or CPU time (`fanout`: summed).
    server_pids: Vec<u32>,
    /// Rooms the members are spread over (`idle`).
    rooms: usize,
    /// Loopback source addresses to connect from (0: one per 20,000 clients).
    sources: usize,
    /// Messages each room gets at once after the idle measurement (`idle`).
    burst: usize,
    /// Messages to post (`seed`).
    messages: u64,
    /// Connections searching (`hostile`).
    searchers: usize,
    /// Clients loading the page in a loop (`hostile`).
    loaders: usize,
    /// Loaders ask again at once when refused (`hostile`).
    spin: bool,
    /// Wrong sign-ins a second (`signins`).
    attempts: f64,
    /// *1.2*: percent of the senders' frames that are edits and reactions
    /// instead of messages (`fanout`).
    changes: f64,
    /// *1.2*: the members that only read connect over the HTTP fallback
    /// (`/live`, Server-Sent Events) instead of the WebSocket (`fanout`,
    /// `idle`).
    live: bool,
    /// *1.2*: identities uploading at once (`uploads`).
    uploaders: usize,
    /// *1.2*: upload a 12-megapixel JPEG instead of `--size` bytes of noise.
    image: bool,
    /// What `during` runs (everything after `--`).
    command: Vec<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        mode: String::new(),
        urls: vec!["ws://127.0.0.1:3000/ws".into()],
        members: 1000,
        senders: 4,
        rate: 0.0,
        window: 256,
        seconds: 10.0,
        size: 100,
        room: "bench".into(),
        server_pids: Vec::new(),
        rooms: 1,
        sources: 0,
        burst: 0,
        messages: 30_000,
        searchers: 40,
        loaders: 4,
        spin: false,
        attempts: 100.0,
        changes: 0.0,
        live: false,
        uploaders: 10,
        image: false,
        command: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    const MODES: [&str; 10] = [
        "fanout", "idle", "seed", "hostile", "worst", "signins", "purge", "wire", "uploads",
        "during",
    ];
    args.mode = it
        .next()
        .ok_or("missing mode: fanout, idle, seed or hostile")?;
    if !MODES.contains(&args.mode.as_str()) {
        return Err(format!(
            "unknown mode {:?}: {}",
            args.mode,
            MODES.join(", ")
        ));
    }
    if args.mode == "seed" || args.mode == "worst" {
        args.room = "general".into();
    }
    while let Some(flag) = it.next() {
        if flag == "--" {
            args.command = it.by_ref().collect();
            break;
        }
        if flag == "--spin" {
            args.spin = true;
            continue;
        }
        if flag == "--live" {
            args.live = true;
            continue;
        }
        if flag == "--image" {
            args.image = true;
            continue;
        }
        if flag == "--deflate" {
            ws::DEFLATE.store(true, std::sync::atomic::Ordering::Relaxed);
            continue;
        }
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        let bad = |v: &str| format!("bad value {v:?} for {flag}");
        match flag.as_str() {
            "--url" => args.urls = value()?.split(',').map(str::to_owned).collect(),
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
            "--messages" => args.messages = value()?.parse().map_err(|_| bad("messages"))?,
            "--searchers" => args.searchers = value()?.parse().map_err(|_| bad("searchers"))?,
            "--loaders" => args.loaders = value()?.parse().map_err(|_| bad("loaders"))?,
            "--attempts" => args.attempts = value()?.parse().map_err(|_| bad("attempts"))?,
            "--changes" => args.changes = value()?.parse().map_err(|_| bad("changes"))?,
            "--uploaders" => args.uploaders = value()?.parse().map_err(|_| bad("uploaders"))?,
            "--server-pid" => {
                let pids = value()?;
                args.server_pids = pids
                    .split(',')
                    .map(|p| p.parse().map_err(|_| bad(p)))
                    .collect::<Result<_, _>>()?;
            }
            other => return Err(format!("unknown flag {other:?}")),
        }
    }
    if args.senders > args.members || args.members == 0 {
        return Err("need 1 <= senders <= members".into());
    }
    if args.rooms == 0 || args.rooms > args.members {
        return Err("need 1 <= rooms <= members".into());
    }
    if matches!(
        args.mode.as_str(),
        "hostile" | "signins" | "purge" | "uploads" | "during"
    ) && args.rate <= 0.0
    {
        args.rate = 20.0;
    }
    if args.sources == 0
        && !matches!(
            args.mode.as_str(),
            "hostile" | "signins" | "uploads" | "during"
        )
    {
        args.sources = args.members.div_ceil(20_000);
    }
    if args.sources > 250 && args.mode != "signins" {
        return Err("at most 250 source addresses".into());
    }
    Ok(args)
}

#[tokio::main]
async fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("loadgen: {e}\n(see the doc comment in src/bin/loadgen/main.rs)");
            std::process::exit(2);
        }
    };
    let result = match args.mode.as_str() {
        "idle" => idle::idle(&args).await,
        "seed" => hostile::seed(&args).await,
        "hostile" => hostile::hostile(&args).await,
        "worst" => hostile::worst(&args).await,
        "signins" => signins::signins(&args).await,
        "purge" => purge::purge(&args).await,
        "wire" => wire::wire(&args).await,
        "uploads" => uploads::uploads(&args).await,
        "during" => during::during(&args).await,
        _ => fanout::fanout(&args).await,
    };
    if let Err(e) = result {
        eprintln!("loadgen: {e}");
        std::process::exit(1);
    }
}

/// Connects (from loopback address `source`, 0 for any) and says hello
/// as `name`, its `welcome` read.
async fn hello(url: &str, source: u8, name: String) -> Result<Ws, String> {
    let mut ws = Ws::connect(url, source).await?;
    ws.send(&format!(r#"{{"type":"hello","name":"{name}"}}"#))
        .await?;
    loop {
        match ws.frames.next_text().await? {
            Some(t) if t.starts_with(br#"{"type":"welcome""#) => return Ok(ws),
            Some(t) if t.starts_with(br#"{"type":"error""#) => {
                return Err(format!("{name}: {}", String::from_utf8_lossy(t)))
            }
            Some(_) => {}
            None => return Err(format!("{name}: connection ended during hello")),
        }
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
            let (url, name) = (
                &args.urls[i % args.urls.len()],
                format!("lg{}-{i}", run_tag()),
            );
            if args.live && i >= args.senders {
                return live::member(url, source(i), &name, &room_of(args, i)).await;
            }
            member(url, source(i), name, &room_of(args, i)).await
        });
        for ws in futures::future::join_all(joins).await {
            all.push(ws?);
        }
    }
    Ok(all)
}

/// A tag of this run for member names: names stay their identity's after
/// a run ends (protocol 1.1), so each run of the load generator needs new ones.
fn run_tag() -> String {
    static TAG: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TAG.get_or_init(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        format!("{:x}", (std::process::id() as u64) << 20 ^ nanos as u64)
    })
    .clone()
}
