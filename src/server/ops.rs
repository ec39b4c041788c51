//! What operators ask the server: `GET /healthz` and `GET /metrics`, on
//! a listener of their own (`CHAT_OPS_ADDR`, `127.0.0.1:9090` by default),
//! not on the chat's public address.
//!
//! `/metrics` renders the counters of [`super::stats`] (documented there and
//! in the README) in Prometheus text format.
//!
//! `/healthz` answers 200 `ok` when the store commits a small write
//! (through the group-commit thread, behind whatever it is writing, so a
//! stuck or failing disk shows) and answers a small read, each within
//! [`HEALTH_LIMIT`]; else 503 saying which failed (the store's own error
//! is logged, not shown). A result is reused for [`HEALTH_REUSE`], so
//! frequent probes cost one write a second at most.

use super::files::ImageQueue;
use super::hub::HubHandle;
use super::stats;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long `/healthz` waits for the store's answer.
pub(crate) const HEALTH_LIMIT: Duration = Duration::from_secs(2);
/// How long a health result is reused before the store is asked again.
pub(crate) const HEALTH_REUSE: Duration = Duration::from_secs(1);

/// A health check's answer: `ok`, or what failed.
type Health = Result<(), &'static str>;

/// What the operations routes share: the hub, and the last health result.
#[derive(Clone)]
pub(crate) struct OpsState {
    /// The hub (and through it the store).
    hub: HubHandle,
    /// When the store was last asked, and what it said.
    last: Arc<Mutex<Option<(Instant, Health)>>>,
    /// Serialises probes: those that come while one runs wait for its result.
    probing: Arc<tokio::sync::Mutex<()>>,
    /// The images being re-made (for `chat_image_jobs`).
    images: Arc<ImageQueue>,
}

/// `/healthz` and `/metrics`.
pub(crate) fn router(hub: HubHandle, images: Arc<ImageQueue>) -> Router {
    let state = OpsState {
        hub,
        images,
        last: Arc::default(),
        probing: Arc::default(),
    };
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .with_state(state)
}

impl OpsState {
    /// The last result, if recent enough.
    fn recent(&self) -> Option<Health> {
        let last = self.last.lock().expect("health lock");
        last.filter(|(at, _)| at.elapsed() < HEALTH_REUSE)
            .map(|(_, result)| result)
    }

    /// The store's health, asked at most once per [`HEALTH_REUSE`].
    async fn health(&self) -> Health {
        if let Some(result) = self.recent() {
            return result;
        }
        let _one = self.probing.lock().await;
        if let Some(result) = self.recent() {
            return result; // asked while this one waited
        }
        let result = self.hub.health(HEALTH_LIMIT).await;
        *self.last.lock().expect("health lock") = Some((Instant::now(), result));
        result
    }
}

/// `GET /healthz`.
async fn healthz(State(ops): State<OpsState>) -> Response {
    match ops.health().await {
        Ok(()) => (StatusCode::OK, "ok\n").into_response(),
        Err(why) => {
            tracing::warn!(why, "health check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("unhealthy: {why}\n"),
            )
                .into_response()
        }
    }
}

/// `GET /metrics`.
async fn metrics(State(OpsState { hub, images, .. }): State<OpsState>) -> Response {
    let Some(recorder) = stats::install() else {
        return (StatusCode::NOT_FOUND, "metrics are off\n").into_response();
    };
    metrics::gauge!(stats::CONNECTIONS).set(hub.gauge.live() as f64);
    metrics::gauge!(stats::HUB_QUEUE).set(hub.queue_depth() as f64);
    metrics::gauge!(stats::IMAGE_JOBS).set(images.depth() as f64);
    recorder.run_upkeep();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        recorder.render(),
    )
        .into_response()
}
