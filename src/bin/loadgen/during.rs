//! `loadgen during … -- COMMAND ARGS…`: runs an operator's command (a
//! backup, an export) against a running server, a second into the
//! chatting pair's run: how long the command took, the server's peak
//! memory over what it was before (sampled every 10 ms), and the pair's
//! latency alone and while the command runs (issue 26).

use super::hostile::Pair;
use super::uploads::rss_kib;
use super::Args;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) async fn during(args: &Args) -> Result<(), String> {
    let Some((program, rest)) = args.command.split_first() else {
        return Err("during needs a command after --".into());
    };
    let tag = super::run_tag();
    let mut pair = Pair::join(&args.urls[0], &tag).await?;
    let alone = pair.measure(args).await?;
    let pid = args.server_pids.first().copied();
    let before = pid.map_or(0, rss_kib);
    let (stop, peak) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicU64::new(before)),
    );
    let sampler = pid.map(|pid| {
        let (stop, peak) = (stop.clone(), peak.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
    });
    let pair_args = args.clone();
    let measured = tokio::spawn(async move { pair.measure(&pair_args).await });
    tokio::time::sleep(Duration::from_secs(1)).await;
    let started = Instant::now();
    let (name, rest) = (program.clone(), rest.to_vec());
    let ran =
        tokio::task::spawn_blocking(move || std::process::Command::new(&name).args(&rest).output())
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("{program}: {e}"))?;
    let took = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    if let Some(sampler) = sampler {
        let _ = sampler.await;
    }
    if !ran.status.success() {
        return Err(format!(
            "{program} failed: {}{}",
            String::from_utf8_lossy(&ran.stdout),
            String::from_utf8_lossy(&ran.stderr)
        ));
    }
    let during = measured.await.map_err(|e| e.to_string())??;
    let peak = peak.load(Ordering::Relaxed);
    println!(
        "the command took {:.0} ms{}; server RSS {before} KiB before, {peak} KiB at most \
         ({} KiB more); the pair at {}/s: alone p50 {:.1} ms p99 {:.1} ms, during p50 {:.1} ms \
         p99 {:.1} ms; nothing lost: {}; it said: {}",
        took.as_secs_f64() * 1000.0,
        if took.as_secs_f64() + 1.0 > args.seconds {
            " (longer than the pair's run: raise --seconds)"
        } else {
            ""
        },
        peak.saturating_sub(before),
        args.rate,
        alone.0,
        alone.1,
        during.0,
        during.1,
        alone.2 && during.2,
        String::from_utf8_lossy(&ran.stdout).trim(),
    );
    Ok(())
}
