//! The server: HTTP routes (the Leptos pages and `/ws`), start-up and shutdown.
//!
//! - [`accounts`]: *1.2* accounts: passwords, sessions, the sign-in routes and pages.
//! - [`settings`]: every setting, as a flag and a `CHAT_*` variable (clap).
//! - [`config`]: the configuration made of them.
//! - [`admission`]: WebSocket places, in all and per client address.
//! - [`hub`]: the broadcast hub task (sessions, rooms, identities, posting).
//! - [`outbox`]: a connection's outbound queue (bounded in bytes) and close
//!   request, shared with the hub.
//! - [`listen`]: the accept loop: hyper with header and idle timeouts, a
//!   bound on HTTP connections, bounded graceful shutdown.
//! - [`conn`]: one WebSocket connection (origin check, handshake, then one
//!   task that reads, writes and pings).
//! - [`frame`]: WebSocket framing: server frames encoded once, client frames parsed.
//! - [`payload`]: a server frame encoded once, its JSON and its compressed form.
//! - [`deflate`]: *1.2* `permessage-deflate`: negotiation, compression, bounded inflation.
//! - [`pages`]: the server-rendered page and its plain form.
//! - [`ops`]: `/healthz` and `/metrics`.
//! - [`stats`]: the metrics, each named once.
//! - [`tls`]: HTTPS and `wss://` with rustls (`CHAT_TLS_CERT`, `CHAT_TLS_KEY`).
//! - [`cookies`]: the identity and name cookies, and who a request is from.
//! - [`headers`]: security headers, the page's CSP, compression, caching.
//! - [`hosts`]: the `Host` every request names and the `Origin` of upgrades
//!   and form posts.
//! - [`files`]: *1.2* uploads, images re-made, files served.
//! - [`export`]: `chat admin export`, a room's history (or all) as JSON or HTML, streamed.

mod accounts;
mod admission;
pub mod config;
mod conn;
mod cookies;
mod deflate;
mod entry;
mod export;
mod files;
mod frame;
mod headers;
mod hosts;
mod hub;
mod listen;
mod live;
mod ops;
mod outbox;
mod pages;
mod payload;
mod room_forms;
pub mod settings;
mod stats;
mod tls;

pub use accounts::SECRET_FILE;
#[doc(hidden)]
pub use frame::fuzz_client_bytes;

use crate::store::{self, StoreError};
use crate::ui::shell;
use axum::routing::get;
use axum::Router;
use config::Config;
use entry::ConnState;
use hub::HubHandle;
use leptos::prelude::LeptosOptions;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Password hashes that may wait for a hashing thread; past them a
/// sign-in is refused at once (503) rather than queued: at about 50 ms a
/// hash, the last waits under a second per thread.
const HASH_QUEUE: usize = 16;

/// How long shutdown waits for connections to take their close frame.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// The whole application: `/ws`, the page and its form, and static files
/// (anything else is a server-rendered "not found").
fn router(
    leptos_options: LeptosOptions,
    ws: ConnState,
    live: live::LiveState,
    accounts: accounts::AccountState,
    uploads: files::FileState,
) -> Router {
    let pages = Router::new()
        .route("/", get(pages::show).post(pages::post))
        .route("/r/{room}", get(pages::show_linked))
        .route("/rooms", axum::routing::post(room_forms::create))
        .route("/r/{room}/invite", axum::routing::post(room_forms::invite))
        .route("/r/{room}/join", axum::routing::post(room_forms::join))
        .route("/dm", axum::routing::post(room_forms::dm))
        .with_state(pages::PageState {
            config: ws.config.clone(),
            hub: ws.hub.clone(),
            options: leptos_options.clone(),
            renders: Default::default(),
        });
    let files = Router::new()
        .fallback(leptos_axum::file_and_error_handler_with_context(
            headers::page_headers,
            shell,
        ))
        .with_state(leptos_options);
    let config = ws.config.clone();
    let live = Router::new()
        .route("/live", get(live::open).post(live::post))
        .with_state(live);
    let app = Router::new()
        .route("/ws", get(conn::ws_handler))
        .with_state(ws)
        .merge(live)
        .merge(headers::compressed(pages))
        .merge(accounts::api_router(accounts.clone()))
        .merge(accounts::router(accounts))
        .merge(headers::cached(files))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            config.body_timeout,
        ))
        // Uploads have a body timeout of their own.
        .merge(files::router(uploads));
    let https = config.secure_cookies || config.tls.is_some();
    headers::secured(app, https).layer(axum::middleware::from_fn_with_state(
        config,
        hosts::check_host,
    ))
}

/// The chat before it listens: its routes and the hub behind them. Tests
/// drive [`App::router`] directly (`tower::ServiceExt::oneshot`).
pub struct App {
    /// `/ws`, the page and its form, and static files.
    router: Router,
    /// The hub behind the routes.
    hub: HubHandle,
    /// The configuration both serve.
    config: Arc<Config>,
    /// The admin routes' state (for the operations listener).
    admin: accounts::AdminState,
    /// The uploads' image queue (its depth is a metric).
    images: Arc<files::ImageQueue>,
}

impl App {
    /// Opens the store under the configured data directory and starts the hub.
    pub fn new(config: Config, leptos_options: LeptosOptions) -> Result<App, StoreError> {
        // Leptos renders pages on tokio (leptos_axum's `leptos_routes` would do
        // this; the page routes here are mounted by hand). A second call fails
        // harmlessly, as when tests start several servers in one process.
        let _ = any_spawner::Executor::init_tokio();
        let config = Arc::new(config);
        stats::install();
        let sessions = Arc::<live::Sessions>::default();
        let (hub, relay) = match &config.store.database_url {
            Some(url) => {
                // The synchronous client runs its own runtime, which cannot
                // start on a tokio worker: connect from a plain thread.
                let node = cookies::random_hex(8);
                let open = || store::pg::open(url, &config.store, &node);
                let (reader, writer) = std::thread::scope(|s| s.spawn(open).join())
                    .map_err(|_| StoreError::Failed("opening the store panicked".into()))??;
                tracing::info!(node, "store open: PostgreSQL");
                let cannot = |e: std::io::Error| StoreError::Failed(format!("cannot start: {e}"));
                let cluster =
                    store::pg::cluster::publish(url, &node, config.node_lease).map_err(cannot)?;
                let hub = hub::spawn(config.clone(), reader, writer, Some(cluster))?;
                let handoff = store::pg::Handoff::start(url, &node).map_err(cannot)?;
                let relay = live::Relay::new(handoff, sessions.clone(), hub.clone())
                    .map_err(|e| StoreError::Failed(format!("cannot start: {e}")))?;
                // Other nodes' commits and sessions: delivered here through
                // the hub; fallback POSTs handed between nodes: to the relay.
                let (to_hub, to_relay) = (hub.clone(), relay.clone());
                store::pg::listen(url, &node, move |notice| match notice {
                    store::pg::Notice::Live(notice) => {
                        to_relay.heard(notice);
                        true
                    }
                    notice => to_hub.remote_blocking(notice),
                })
                .map_err(cannot)?;
                (hub, Some(relay))
            }
            None => {
                let (reader, writer) = store::open(&config.store)?;
                tracing::info!(data_dir = %config.store.data_dir.display(), "store open");
                (hub::spawn(config.clone(), reader, writer, None)?, None)
            }
        };
        let ws = ConnState {
            admission: admission::Admission::new(&config),
            config: config.clone(),
            hub: hub.clone(),
        };
        let cost = accounts::Cost {
            memory_kib: config.password_memory_kib,
            ..accounts::Cost::OWASP
        };
        let hasher = accounts::Hasher::start(config.hash_threads, HASH_QUEUE, cost)
            .map_err(|e| StoreError::Failed(format!("cannot start the hashing threads: {e}")))?;
        let accounts = accounts::AccountState {
            config: config.clone(),
            hub: hub.clone(),
            hasher,
            options: leptos_options.clone(),
        };
        let secret =
            accounts::write_secret(&config.store.data_dir).map_err(|e| StoreError::Open {
                path: config.store.data_dir.join(accounts::SECRET_FILE),
                cause: format!("cannot write the admin secret: {e}"),
            })?;
        let admin = accounts::AdminState {
            accounts: accounts.clone(),
            secret: Arc::new(secret),
        };
        let live = live::LiveState {
            conn: ws.clone(),
            sessions,
            relay,
        };
        let files =
            files::FileState::new(config.clone(), hub.clone()).map_err(|e| StoreError::Open {
                path: config.files_dir(),
                cause: format!("cannot make the files directory: {e}"),
            })?;
        let images = files.images.clone();
        Ok(App {
            router: router(leptos_options, ws, live, accounts, files),
            images,
            hub,
            config,
            admin,
        })
    }

    /// The routes (a cheap clone), served by the same hub.
    pub fn router(&self) -> Router {
        self.router.clone()
    }

    /// The operations routes, `/healthz` and `/metrics` ([`ops`]), and the
    /// admin routes (`chat admin`): for the operations listener, not the
    /// public one.
    pub fn ops_router(&self) -> Router {
        let admin = accounts::admin_router(self.admin.clone());
        ops::router(self.hub.clone(), self.images.clone())
            .merge(admin)
            .layer(axum::middleware::from_fn_with_state(
                self.config.clone(),
                hosts::check_host,
            ))
    }

    /// Serves on `listener` (and the operations routes on `ops`, if given)
    /// until `shutdown` resolves, then closes every WebSocket with 1001,
    /// lets the store commit what it holds, and returns.
    pub async fn serve(
        self,
        listener: TcpListener,
        ops: Option<TcpListener>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let ops = ops.map(|ops| {
            if let Ok(addr) = ops.local_addr() {
                tracing::info!("operations (/healthz, /metrics) on http://{addr}");
            }
            let router = self.ops_router();
            tokio::spawn(async move { axum::serve(ops, router).await })
        });
        let App {
            router,
            hub,
            config,
            ..
        } = self;
        if let Ok(addr) = listener.local_addr() {
            tracing::info!("chat listening on {}://{addr}", config.scheme());
        }
        let served = serve_router(listener, router, hub, config, shutdown).await;
        if let Some(ops) = ops {
            ops.abort();
        }
        served
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
    let ops = match config.ops_addr {
        Some(addr) => Some(TcpListener::bind(addr).await.map_err(|e| {
            std::io::Error::other(format!("cannot listen on CHAT_OPS_ADDR {addr}: {e}"))
        })?),
        None => None,
    };
    let app = App::new(config, leptos_options).map_err(std::io::Error::other)?;
    app.serve(listener, ops, shutdown).await
}

async fn serve_router(
    listener: TcpListener,
    app: Router,
    hub: HubHandle,
    config: Arc<Config>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let on_stop = hub.clone();
    let stop = async move {
        shutdown.await;
        tracing::info!(
            live = on_stop.gauge.live(),
            "shutting down: closing WebSockets with 1001"
        );
        on_stop.shutdown(SHUTDOWN_GRACE).await;
    };
    let tls = config.tls.as_ref().map(tls::acceptor).transpose()?;
    tokio::select! {
        () = listen::accept_loop(listener, app, &config, tls, stop, SHUTDOWN_GRACE) => Ok(()),
        what = hub.died() => {
            // The store keeps what was committed; the commit thread ends
            // once the dead hub's queue is dropped.
            hub.shutdown(SHUTDOWN_GRACE).await;
            Err(std::io::Error::other(format!(
                "{what} died (a bug: see the log above); stopping so that a supervisor restarts the server"
            )))
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_server_stops_with_an_error_when_the_hub_dies() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.store.data_dir = dir.path().to_owned();
        let options = LeptosOptions::builder().output_name("chat").build();
        let app = App::new(config, options).unwrap();
        let hub = app.hub.clone();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let served = tokio::spawn(app.serve(listener, None, std::future::pending()));
        hub.panic().await;
        let err = tokio::time::timeout(Duration::from_secs(10), served)
            .await
            .expect("serve ends")
            .unwrap()
            .unwrap_err();
        assert!(err.to_string().starts_with("the hub task died"), "{err}");
    }
}
