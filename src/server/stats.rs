//! What the server counts, for `GET /metrics` (Prometheus text format),
//! recorded with the `metrics` crate and rendered by its Prometheus
//! exporter. Every metric is named here, once:
//!
//! | metric | kind | what |
//! |---|---|---|
//! | `chat_connections` | gauge | WebSockets open now |
//! | `chat_messages_stored_total` | counter | messages committed (a resend of a nonce not counted) |
//! | `chat_deliveries_total` | counter | message frames queued for members (one per member per message) |
//! | `chat_refused_frames_total{code}` | counter | client frames answered with an `error`, by code |
//! | `chat_slow_client_closes_total` | counter | connections closed 4001 (outbound queue full) |
//! | `chat_refused_upgrades_total{reason}` | counter | `/ws` upgrades refused: `origin`, `server_full`, `address_full` |
//! | `chat_refused_hosts_total` | counter | requests refused for their `Host` (421) |
//! | `chat_store_commit_seconds` | histogram | time of one group commit (its messages in one transaction) |
//! | `chat_hub_queue_depth` | gauge | commands waiting for the hub |
//! | `chat_commit_queue_depth` | gauge | jobs waiting for the commit thread (sampled each second) |
//! | `chat_image_jobs` | gauge | uploaded images being re-made or waiting to be (at most 1 + `CHAT_IMAGE_QUEUE`) |
//!
//! The hot path records per commit, not per member: one counter add of
//! `members × messages` per room and commit.

use crate::protocol::ErrorCode;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::OnceLock;

/// The process's recorder; one for every server in the process (tests run
/// several).
static RECORDER: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the recorder once; `None` when another one is installed.
pub(crate) fn install() -> Option<&'static PrometheusHandle> {
    RECORDER
        .get_or_init(|| {
            let buckets = [
                0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0,
            ];
            PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(COMMIT_SECONDS.into()), &buckets)
                .ok()?
                .install_recorder()
                .map_err(|e| tracing::warn!(error = %e, "metrics are off"))
                .ok()
        })
        .as_ref()
}

pub(crate) const CONNECTIONS: &str = "chat_connections";
pub(crate) const STORED: &str = "chat_messages_stored_total";
pub(crate) const DELIVERIES: &str = "chat_deliveries_total";
pub(crate) const REFUSED_FRAMES: &str = "chat_refused_frames_total";
pub(crate) const SLOW_CLOSES: &str = "chat_slow_client_closes_total";
pub(crate) const REFUSED_UPGRADES: &str = "chat_refused_upgrades_total";
pub(crate) const REFUSED_HOSTS: &str = "chat_refused_hosts_total";
pub(crate) const COMMIT_SECONDS: &str = "chat_store_commit_seconds";
pub(crate) const HUB_QUEUE: &str = "chat_hub_queue_depth";
pub(crate) const COMMIT_QUEUE: &str = "chat_commit_queue_depth";
pub(crate) const IMAGE_JOBS: &str = "chat_image_jobs";

/// Counts a client frame refused with `code`.
pub(crate) fn refused_frame(code: ErrorCode) {
    metrics::counter!(REFUSED_FRAMES, "code" => code.name()).increment(1);
}

/// Counts an upgrade refused for `reason`.
pub(crate) fn refused_upgrade(reason: &'static str) {
    metrics::counter!(REFUSED_UPGRADES, "reason" => reason).increment(1);
}
