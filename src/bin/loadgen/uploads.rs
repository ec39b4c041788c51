//! `loadgen uploads`: *1.2* (section 5) files under load. `--uploaders N`
//! (10) identities each upload one file after another for `--seconds`:
//! `--size` bytes of noise (a download), or with `--image` a 12-megapixel
//! JPEG (4000×3000, re-made by the server and given a thumbnail). It
//! reports uploads a second, the median and slowest upload, the server's
//! resident memory before and at its highest (sampled every 20 ms from
//! `/proc/PID/status`, `--server-pid`), and a chatting pair's latency
//! (p50, p99) alone and while the uploads run.

use super::hostile::Pair;
use super::Args;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The server's resident memory, KiB (0 when it cannot be read).
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The server's resident memory sampled on a task of its own until
/// stopped: what it was at the start, and its highest (KiB; 0 and 0
/// without a pid).
pub(crate) struct RssPeak {
    before: u64,
    peak: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl RssPeak {
    /// Starts sampling `pid`'s memory every `every`.
    pub(crate) fn start(pid: Option<u32>, every: Duration) -> RssPeak {
        let before = pid.map_or(0, rss_kib);
        let (peak, stop) = (
            Arc::new(AtomicU64::new(before)),
            Arc::new(AtomicBool::new(false)),
        );
        let task = pid.map(|pid| {
            let (peak, stop) = (peak.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                    tokio::time::sleep(every).await;
                }
            })
        });
        RssPeak {
            before,
            peak,
            stop,
            task,
        }
    }

    /// Stops sampling: the memory at the start and the highest seen (KiB).
    pub(crate) async fn stop(self) -> (u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(task) = self.task {
            let _ = task.await;
        }
        (self.before, self.peak.load(Ordering::Relaxed))
    }
}

/// The file each upload sends.
fn payload(args: &Args) -> Result<Vec<u8>, String> {
    if !args.image {
        // Noise: nothing for the sniffer to take as an image.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        return Ok((0..args.size)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect());
    }
    let img = image::RgbImage::from_fn(4000, 3000, |x, y| {
        image::Rgb([(x % 251) as u8, (y % 241) as u8, ((x * y) % 239) as u8])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    image::DynamicImage::ImageRgb8(img)
        .write_to(&mut out, image::ImageFormat::Jpeg)
        .map_err(|e| e.to_string())?;
    Ok(out.into_inner())
}

/// A guest identity's cookie: hello over `url`, its `welcome` token.
async fn identity(url: &str, name: &str) -> Result<String, String> {
    let mut ws = super::ws::Ws::connect(url, 0).await?;
    ws.send(&format!(r#"{{"type":"hello","name":"{name}"}}"#))
        .await?;
    loop {
        match ws.frames.next_text().await? {
            Some(t) if t.starts_with(br#"{"type":"welcome""#) => {
                let v: serde_json::Value = serde_json::from_slice(t).map_err(|e| e.to_string())?;
                let token = v["token"].as_str().ok_or("no token")?;
                return Ok(format!("chat_id={token}"));
            }
            Some(_) => {}
            None => return Err("connection ended during hello".into()),
        }
    }
}

/// One request over a fresh connection, read to its end: the status and
/// the body's length and bytes (the body is dropped past 64 KiB: only
/// an upload's answer is read).
async fn request(addr: &str, head: &str, body: &[u8]) -> Result<(u16, usize, Vec<u8>), String> {
    let mut socket = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| e.to_string())?;
    socket
        .write_all(head.as_bytes())
        .await
        .map_err(|e| e.to_string())?;
    socket.write_all(body).await.map_err(|e| e.to_string())?;
    let (mut kept, mut total, mut buf) = (Vec::new(), 0, vec![0; 64 * 1024]);
    loop {
        let n = socket.read(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        total += n;
        if kept.len() < 64 * 1024 {
            kept.extend_from_slice(&buf[..n]);
        }
    }
    let line = String::from_utf8_lossy(&kept[..kept.len().min(16)]).into_owned();
    let status = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status in {line:?}"))?;
    Ok((status, total, kept))
}

/// One upload: its status, and the stored file's id.
async fn upload(addr: &str, cookie: &str, body: &[u8]) -> Result<(u16, Option<String>), String> {
    let head = format!(
        "POST /api/v1/uploads HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Cookie: {cookie}\r\nSec-Fetch-Site: same-origin\r\nX-Filename: bench.bin\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    let (status, _, answer) = request(addr, &head, body).await?;
    let id = answer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .and_then(|at| serde_json::from_slice::<serde_json::Value>(&answer[at + 4..]).ok())
        .and_then(|v| v["id"].as_str().map(str::to_owned));
    Ok((status, id))
}

/// One download of file `id`: the bytes received (head included).
async fn download(addr: &str, cookie: &str, id: &str) -> Result<usize, String> {
    let head = format!(
        "GET /files/{id} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nCookie: {cookie}\r\n\r\n"
    );
    match request(addr, &head, b"").await? {
        (200, total, _) => Ok(total),
        (status, ..) => Err(format!("download answered {status}")),
    }
}

/// Each uploader downloads its last upload, over and over, for
/// `seconds`: the bytes a second, and the server's RSS growth (peak)
/// over what it was before.
async fn downloads(
    addr: &str,
    files: Vec<(String, String)>,
    seconds: f64,
    pid: Option<u32>,
) -> Result<(f64, u64, u64), String> {
    let before = pid.map_or(0, rss_kib);
    let peak = Arc::new(AtomicU64::new(before));
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let mut tasks = Vec::new();
    for (cookie, id) in files {
        let (addr, peak) = (addr.to_owned(), peak.clone());
        tasks.push(tokio::spawn(async move {
            let mut bytes = 0;
            while Instant::now() < until {
                bytes += download(&addr, &cookie, &id).await?;
                if let Some(pid) = pid {
                    peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                }
            }
            Ok::<usize, String>(bytes)
        }));
    }
    let mut bytes = 0;
    for task in tasks {
        bytes += task.await.map_err(|e| e.to_string())??;
    }
    let peak = peak.load(Ordering::Relaxed);
    Ok((
        bytes as f64 / seconds / 1e6,
        before,
        peak.saturating_sub(before),
    ))
}

pub(crate) async fn uploads(args: &Args) -> Result<(), String> {
    let url = args.urls[0].clone();
    let addr = url.replace("ws://", "").replace("/ws", "");
    let tag = super::run_tag();
    let body = Arc::new(payload(args)?);
    let pid = args.server_pids.first().copied();
    let mut pair = Pair::join(&url, &tag).await?;
    let alone = pair.measure(args).await?;
    let mut cookies = Vec::new();
    for i in 0..args.uploaders {
        cookies.push(identity(&url, &format!("up{tag}-{i}")).await?);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let (done, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let times = Arc::new(Mutex::new(Vec::new()));
    let memory = RssPeak::start(pid, Duration::from_millis(20));
    let started = Instant::now();
    let mut tasks: Vec<tokio::task::JoinHandle<Option<(String, String)>>> = Vec::new();
    for cookie in cookies {
        let (addr, body, stop) = (addr.clone(), body.clone(), stop.clone());
        let (done, failed, times) = (done.clone(), failed.clone(), times.clone());
        tasks.push(tokio::spawn(async move {
            let mut last = None;
            while !stop.load(Ordering::Relaxed) {
                let at = Instant::now();
                match upload(&addr, &cookie, &body).await {
                    Ok((201, id)) => {
                        done.fetch_add(1, Ordering::Relaxed);
                        times.lock().unwrap().push(at.elapsed().as_secs_f64() * 1e3);
                        last = id.or(last);
                    }
                    _ => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            last.map(|id| (cookie, id))
        }));
    }
    let during = pair.measure(args).await?;
    stop.store(true, Ordering::Relaxed);
    let mut files = Vec::new();
    for task in tasks {
        files.extend(task.await.ok().flatten());
    }
    let elapsed = started.elapsed().as_secs_f64();
    let (before, peak) = memory.stop().await;
    let mut times = times.lock().unwrap().clone();
    times.sort_by(f64::total_cmp);
    let median = times.get(times.len() / 2).copied().unwrap_or(f64::NAN);
    let slowest = times.last().copied().unwrap_or(f64::NAN);
    let n = done.load(Ordering::Relaxed);
    println!(
        "uploads: {} uploaders of {} ({} bytes): {n} stored ({:.2}/s, {:.1} MB/s), {} refused; \
         an upload took median {median:.1} ms, at most {slowest:.1} ms; server RSS {before} KiB \
         before, {} KiB at most ({} KiB more); the pair at {}/s: alone p50 {:.1} ms p99 {:.1} ms, \
         during p50 {:.1} ms p99 {:.1} ms; nothing lost: {}",
        args.uploaders,
        if args.image {
            "a 12-megapixel JPEG"
        } else {
            "noise"
        },
        body.len(),
        n as f64 / elapsed,
        n as f64 * body.len() as f64 / elapsed / 1e6,
        failed.load(Ordering::Relaxed),
        peak,
        peak.saturating_sub(before),
        args.rate,
        alone.0,
        alone.1,
        during.0,
        during.1,
        alone.2 && during.2,
    );
    let (uploaders, seconds) = (files.len(), args.seconds.min(5.0));
    let (rate, before, more) = downloads(&addr, files, seconds, pid).await?;
    println!(
        "downloads: {uploaders} at once from the files directory for {seconds} s: \
         {rate:.1} MB/s; server RSS {before} KiB before ({more} KiB more at most)"
    );
    Ok(())
}
