//! The server: HTTP routes (the Leptos pages and `/ws`), start-up and shutdown.
//!
//! - [`config`]: limits from `CHAT_*` environment variables.
//! - [`hub`]: the broadcast hub task (sessions, rooms, identities).
//! - [`conn`]: one WebSocket connection (origin check, reader, writer).

pub mod config;
pub mod conn;
pub mod hub;

use crate::store::{self, StoreError};
use crate::ui::{shell, App};
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use config::Config;
use conn::WsState;
use hub::HubHandle;
use leptos::prelude::LeptosOptions;
use leptos_axum::{generate_route_list, LeptosRoutes};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// How long shutdown waits for connections to take their close frame.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// The whole application: `/ws` plus the server-rendered pages and static files.
pub fn router(leptos_options: LeptosOptions, ws: WsState) -> Router {
    let routes = generate_route_list(App);
    let pages = Router::new()
        .leptos_routes(&leptos_options, routes, {
            let options = leptos_options.clone();
            move || shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler(shell))
        .with_state(leptos_options);
    Router::new()
        .route("/ws", get(conn::ws_handler))
        .with_state(ws)
        .merge(pages)
}

/// Opens the store under the configured data directory and starts the hub.
pub fn start_hub(config: Arc<Config>) -> Result<HubHandle, StoreError> {
    let (reader, writer) = store::open(&config.store)?;
    hub::spawn(config, reader, writer)
}

/// Opens the store, serves on `listener` until `shutdown` resolves, then
/// closes every WebSocket with 1001, lets the store commit what it holds, and
/// returns.
pub async fn serve(
    listener: TcpListener,
    config: Config,
    leptos_options: LeptosOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let config = Arc::new(config);
    let hub = start_hub(config.clone()).map_err(std::io::Error::other)?;
    tracing::info!(data_dir = %config.store.data_dir.display(), "store open");
    if let Ok(addr) = listener.local_addr() {
        tracing::info!("chat listening on http://{addr}");
    }
    let app = router(
        leptos_options,
        WsState {
            config,
            hub: hub.clone(),
        },
    );
    // Nagle's algorithm would hold small chat frames back by tens of ms.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(error = %e, "could not set TCP_NODELAY");
        }
    });
    axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            shutdown.await;
            tracing::info!(
                live = hub.gauge.live(),
                "shutting down: closing WebSockets with 1001"
            );
            hub.shutdown(SHUTDOWN_GRACE).await;
        })
        .await
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
