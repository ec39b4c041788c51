//! The files that are gone leave the files directory: every
//! [`Config::files_sweep_every`](crate::server::config::Config), and
//! within [`NUDGED_GAP`] of a message with files being deleted or purged
//! (the hub's `files_gone`), uploads
//! never posted within [`Config::unposted_ttl`] lose their rows (into
//! `files_gone`), then the bytes of every file in `files_gone` (posted
//! with a message since deleted, purged or past retention, or never
//! posted) are removed and their `files_gone` rows after them; and what an
//! interrupted upload left in `tmp/` goes once it is older than the upload
//! timeout. A file whose bytes cannot be removed now stays listed, and is
//! tried again next time.

use super::FileState;
use crate::store::accounts::AccountChange;
use crate::store::files::{FileChange, FileQuery};
use crate::store::now_ms;
use std::time::{Duration, SystemTime};

/// Unposted uploads removed per sweep (the rest at the next).
const UNPOSTED_BATCH: usize = 500;

/// The least time between two sweeps: a flood of deletions costs a sweep
/// (two reads, a write) a second, not one each.
pub(super) const NUDGED_GAP: Duration = Duration::from_secs(1);

/// Sweeps until the hub stops.
pub(super) async fn run(state: FileState) {
    let every = state.config.files_sweep_every;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let nudged = state.hub.files_gone.clone();
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = nudged.notified() => {}
        }
        if state.hub.stopped() {
            return;
        }
        if let Err(e) = sweep(&state).await {
            tracing::warn!(error = %e, "the files sweep stopped early; it goes on next time");
        }
        tokio::time::sleep(NUDGED_GAP.min(every)).await;
    }
}

/// One sweep.
async fn sweep(state: &FileState) -> Result<(), String> {
    let ttl_ms = state.config.unposted_ttl.as_millis().min(u64::MAX as u128) as u64;
    let query = FileQuery::Unposted {
        before_ms: now_ms().saturating_sub(ttl_ms),
        limit: UNPOSTED_BATCH,
    };
    let stale = state
        .hub
        .read_accounts(move |r| r.uploads(&query))
        .await
        .map_err(|e| e.to_string())?;
    if !stale.is_empty() {
        let ids = stale.into_iter().map(|row| row.id).collect();
        let change = AccountChange::File(FileChange::Remove(ids));
        state
            .hub
            .save_accounts(vec![change], true)
            .await
            .map_err(|e| e.to_string())?;
    }
    let gone = state
        .hub
        .read_accounts(|r| r.files_gone())
        .await
        .map_err(|e| e.to_string())?;
    let (dir, old) = (state.dir.clone(), state.config.upload_timeout * 2);
    let swept = tokio::task::spawn_blocking(move || {
        // Not while a backup copies the files its snapshot names.
        let _held = crate::store::backup::FILES_HELD
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let mut swept = Vec::with_capacity(gone.len());
        for id in gone {
            let thumb = dir.join(format!("{id}.thumb"));
            let removed =
                [dir.join(&id), thumb]
                    .iter()
                    .all(|path| match std::fs::remove_file(path) {
                        Ok(()) => true,
                        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
                    });
            if removed {
                swept.push(id);
            }
        }
        remove_stale_parts(&dir.join("tmp"), old);
        swept
    })
    .await
    .map_err(|e| e.to_string())?;
    if !swept.is_empty() {
        let change = AccountChange::File(FileChange::Swept(swept));
        state
            .hub
            .save_accounts(vec![change], true)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Removes what `tmp/` holds that was last written more than `old` ago
/// (an upload the server was stopped in the middle of).
fn remove_stale_parts(tmp: &std::path::Path, old: Duration) {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    let now = SystemTime::now();
    for entry in entries.flatten() {
        let written = entry.metadata().and_then(|m| m.modified());
        let stale = written.is_ok_and(|at| now.duration_since(at).unwrap_or_default() > old);
        if stale {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}
