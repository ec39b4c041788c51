//! The chat server binary: `cargo leptos serve`, `make run`, or run directly.

#[cfg(feature = "ssr")]
#[tokio::main]
async fn main() {
    use chat::server::{config::Config, serve, settings, shutdown_signal};
    use leptos::prelude::get_configuration;
    use tracing_subscriber::EnvFilter;

    // `chat admin …` asks a running server (see chat::admin_cli).
    if std::env::args().nth(1).as_deref() == Some("admin") {
        std::process::exit(chat::admin_cli::main(std::env::args()));
    }
    // First, before anything can fail: `--help` answers whatever the
    // environment holds, and a bad setting stops here, named.
    let settings = settings::Settings::parse_or_exit();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    for unknown in settings::unknown_variables() {
        tracing::warn!(
            variable = unknown,
            "unknown CHAT_* variable: no setting reads it (misspelt? see chat --help)"
        );
    }
    let mut config = match Config::from_settings(settings) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("configuration error: {e}");
            std::process::exit(2);
        }
    };
    // Each connection is a file descriptor: take every one the hard limit
    // allows (the soft limit is often 1,024). Kernel settings for more: README.
    let open_files = match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => {
            tracing::info!(limit, "open file limit");
            limit
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not raise the open file limit");
            rlimit::Resource::NOFILE
                .get()
                .map_or(1024, |(soft, _)| soft)
        }
    };
    if let Some(max) = config.fit_to_open_files(open_files) {
        tracing::warn!(
            max_connections = max,
            open_files,
            "CHAT_MAX_CONNECTIONS lowered to what the open file limit allows (README: Many connections)"
        );
    }
    let mut leptos_options = match get_configuration(None) {
        Ok(conf) => conf.leptos_options,
        Err(e) => {
            eprintln!("leptos configuration error: {e}");
            std::process::exit(2);
        }
    };
    // The build hashed the bundle's file names when it left their hashes
    // beside this binary (cargo-leptos `hash-files`), unless
    // LEPTOS_HASH_FILES says otherwise.
    if std::env::var_os("LEPTOS_HASH_FILES").is_none() {
        let beside = std::env::current_exe()
            .ok()
            .and_then(|exe| Some(exe.parent()?.join(&*leptos_options.hash_file)));
        leptos_options.hash_files = beside.is_some_and(|file| file.exists());
    }
    let addr = leptos_options.site_addr;
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on {addr}: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = serve(listener, config, leptos_options, shutdown_signal()).await {
        eprintln!("server error: {e}");
        std::process::exit(1);
    }
}

#[cfg(not(feature = "ssr"))]
pub fn main() {
    // The browser side starts from `chat::hydrate`; this binary needs `ssr`.
}
