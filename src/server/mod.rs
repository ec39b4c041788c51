//! The server: HTTP routes (the Leptos pages and `/ws`), start-up and shutdown.
//!
//! - [`config`]: limits from `CHAT_*` environment variables.
//! - [`hub`]: the broadcast hub task (sessions, rooms, identities, posting).
//! - [`outbox`]: a connection's outbound queue (bounded in bytes) and close
//!   request, shared with the hub.
//! - [`conn`]: one WebSocket connection (origin check, handshake, then one
//!   task that reads, writes and pings).
//! - [`frame`]: WebSocket framing: server frames encoded once, client frames parsed.
//! - [`pages`]: the server-rendered page and its plain form.
//! - [`cookies`]: the identity and name cookies, and who a request is from.

pub mod config;
mod conn;
mod cookies;
mod frame;
mod hub;
mod outbox;
mod pages;

use crate::store::{self, StoreError};
use crate::ui::shell;
use axum::routing::get;
use axum::serve::ListenerExt;
use axum::Router;
use config::Config;
use conn::WsState;
use hub::HubHandle;
use leptos::prelude::LeptosOptions;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// How long shutdown waits for connections to take their close frame.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// The whole application: `/ws`, the page and its form, and static files
/// (anything else is a server-rendered "not found").
fn router(leptos_options: LeptosOptions, ws: WsState) -> Router {
    let pages = Router::new()
        .route("/", get(pages::show).post(pages::post))
        .with_state(pages::PageState {
            config: ws.config.clone(),
            hub: ws.hub.clone(),
            options: leptos_options.clone(),
        });
    let files = Router::new()
        .fallback(leptos_axum::file_and_error_handler(shell))
        .with_state(leptos_options);
    Router::new()
        .route("/ws", get(conn::ws_handler))
        .with_state(ws)
        .merge(pages)
        .merge(files)
}

/// The chat before it listens: its routes and the hub behind them. Tests
/// drive [`App::router`] directly (`tower::ServiceExt::oneshot`).
pub struct App {
    /// `/ws`, the page and its form, and static files.
    router: Router,
    /// The hub behind the routes.
    hub: HubHandle,
}

impl App {
    /// Opens the store under the configured data directory and starts the hub.
    pub fn new(config: Config, leptos_options: LeptosOptions) -> Result<App, StoreError> {
        // Leptos renders pages on tokio (leptos_axum's `leptos_routes` would do
        // this; the page routes here are mounted by hand). A second call fails
        // harmlessly, as when tests start several servers in one process.
        let _ = any_spawner::Executor::init_tokio();
        let config = Arc::new(config);
        let (reader, writer) = store::open(&config.store)?;
        let hub = hub::spawn(config.clone(), reader, writer)?;
        tracing::info!(data_dir = %config.store.data_dir.display(), "store open");
        let ws = WsState {
            config,
            hub: hub.clone(),
        };
        Ok(App {
            router: router(leptos_options, ws),
            hub,
        })
    }

    /// The routes (a cheap clone), served by the same hub.
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// Serves on `listener` until `shutdown` resolves, then closes every
    /// WebSocket with 1001, lets the store commit what it holds, and returns.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let App { router, hub } = self;
        if let Ok(addr) = listener.local_addr() {
            tracing::info!("chat listening on http://{addr}");
        }
        serve_router(listener, router, hub, shutdown).await
    }
}

/// Opens the store and serves the chat on `listener` until `shutdown`
/// resolves (see [`App::serve`]).
pub async fn serve(
    listener: TcpListener,
    config: Config,
    leptos_options: LeptosOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = App::new(config, leptos_options).map_err(std::io::Error::other)?;
    app.serve(listener, shutdown).await
}

async fn serve_router(
    listener: TcpListener,
    app: Router,
    hub: HubHandle,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    // Nagle's algorithm would hold small chat frames back by tens of ms.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(error = %e, "could not set TCP_NODELAY");
        }
    });
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
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
