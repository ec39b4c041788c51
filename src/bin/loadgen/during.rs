//! `loadgen during … -- COMMAND ARGS…`: runs an operator's command (a
//! backup, an export) against a running server, a second into the
//! chatting pair's run: how long the command took, the server's peak
//! memory over what it was before (sampled every 10 ms), and the pair's
//! latency alone and while the command runs (issue 26).

use super::hostile::Pair;
use super::uploads::RssPeak;
use super::Args;
use std::time::{Duration, Instant};

pub(crate) async fn during(args: &Args) -> Result<(), String> {
    let Some((program, rest)) = args.command.split_first() else {
        return Err("during needs a command after --".into());
    };
    let tag = super::run_tag();
    let mut pair = Pair::join(&args.urls[0], &tag).await?;
    let alone = pair.measure(args).await?;
    let pid = args.server_pids.first().copied();
    let memory = RssPeak::start(pid, Duration::from_millis(10));
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
    let (before, peak) = memory.stop().await;
    if !ran.status.success() {
        return Err(format!(
            "{program} failed: {}{}",
            String::from_utf8_lossy(&ran.stdout),
            String::from_utf8_lossy(&ran.stderr)
        ));
    }
    let during = measured.await.map_err(|e| e.to_string())??;
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
