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
    let mut config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("configuration error: {e}");
            std::process::exit(2);
        }
    };
    if let Some(max) = config.fit_to_open_files(open_files) {
        tracing::warn!(
            max_connections = max,
            open_files,
            "CHAT_MAX_CONNECTIONS lowered to what the open file limit allows (README: Many connections)"
        );
    }
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--data-dir" => match args.next() {
                Some(dir) => config.store.data_dir = dir.into(),
                None => usage("--data-dir needs a directory"),
            },
            "--database-url" => match args.next() {
                Some(url) => config.store.database_url = Some(url),
                None => usage("--database-url needs a postgres:// URL"),
            },
            "-h" | "--help" => {
                println!("{USAGE}");
                return;
            }
            other => {
                if let Some(dir) = other.strip_prefix("--data-dir=") {
                    config.store.data_dir = dir.into();
                } else if let Some(url) = other.strip_prefix("--database-url=") {
                    config.store.database_url = Some(url.to_owned());
                } else {
                    usage(&format!("unknown argument {other:?}"));
                }
            }
        }
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

#[cfg(feature = "ssr")]
const USAGE: &str = "usage: chat [--data-dir DIR] [--database-url postgres://...]

Serves the chat on LEPTOS_SITE_ADDR (default 127.0.0.1:3000), keeping rooms and
messages in DIR/chat.sqlite3 (default: $CHAT_DATA_DIR, else
$XDG_DATA_HOME/chat, else ~/.local/share/chat), or in PostgreSQL with
--database-url (or $CHAT_DATABASE_URL). Other settings: CHAT_*
environment variables, see README.md.";

#[cfg(feature = "ssr")]
fn usage(problem: &str) -> ! {
    eprintln!("{problem}\n\n{USAGE}");
    std::process::exit(2);
}

#[cfg(not(feature = "ssr"))]
pub fn main() {
    // The browser side starts from `chat::hydrate`; this binary needs `ssr`.
}
