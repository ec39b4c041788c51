//! The chat server binary: `cargo leptos serve`, `make run`, or run directly.

#[cfg(feature = "ssr")]
#[tokio::main]
async fn main() {
    use chat::server::{config::Config, serve, shutdown_signal};
    use leptos::prelude::get_configuration;
    use tracing_subscriber::EnvFilter;

    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("configuration error: {e}");
            std::process::exit(2);
        }
    };
    let leptos_options = match get_configuration(None) {
        Ok(conf) => conf.leptos_options,
        Err(e) => {
            eprintln!("leptos configuration error: {e}");
            std::process::exit(2);
        }
    };
    let addr = leptos_options.site_addr;
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    tracing::info!("chat listening on http://{addr}");
    if let Err(e) = serve(listener, config, leptos_options, shutdown_signal()).await {
        eprintln!("server error: {e}");
        std::process::exit(1);
    }
}

#[cfg(not(feature = "ssr"))]
pub fn main() {
    // The browser side starts from `chat::hydrate`; this binary needs `ssr`.
}
