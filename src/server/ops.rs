//! What operators ask the server: `GET /healthz` and `GET /metrics`.
//!
//! `/metrics` renders the counters of [`super::stats`] (documented there and
//! in the README) in Prometheus text format.
//!
//! `/healthz` answers 200 `ok` when the store commits a small write within
//! [`HEALTH_LIMIT`] (through the group-commit thread, behind whatever it is
//! writing, so a stuck or failing disk shows), else 503 with the reason.

use super::hub::HubHandle;
use super::stats;
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use std::time::Duration;

/// How long `/healthz` waits for the store's answer.
pub(crate) const HEALTH_LIMIT: Duration = Duration::from_secs(2);

/// `GET /healthz`.
pub(crate) async fn healthz(State(hub): State<HubHandle>) -> Response {
    match hub.health(HEALTH_LIMIT).await {
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
pub(crate) async fn metrics(State(hub): State<HubHandle>) -> Response {
    let Some(recorder) = stats::install() else {
        return (StatusCode::NOT_FOUND, "metrics are off\n").into_response();
    };
    metrics::gauge!(stats::CONNECTIONS).set(hub.gauge.live() as f64);
    metrics::gauge!(stats::HUB_QUEUE).set(hub.queue_depth() as f64);
    recorder.run_upkeep();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        recorder.render(),
    )
        .into_response()
}
