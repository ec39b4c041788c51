//! Every setting of the server, as a flag and a `CHAT_*` environment
//! variable (`clap`, derive and `env`): `chat --help` lists each with its
//! default and bounds, a flag wins over its variable, and a value out of
//! bounds (or not UTF-8) stops the server naming the variable (exit 2).
//! Bounds are checked here, once, by the value parsers below; what clap
//! cannot say (two settings that go together, the defaults computed at
//! start) is in [`super::config`].

use crate::store::SyncMode;
use clap::Parser;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// The settings as given; [`super::config::Config::from_settings`] makes
/// them the server's configuration.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "chat",
    version,
    about = "A real-time chat: serves the page and its WebSocket on LEPTOS_SITE_ADDR \
             (default 127.0.0.1:3000). Every setting is a flag and a CHAT_* variable; \
             the flag wins.",
    after_help = "LEPTOS_SITE_ADDR, LEPTOS_SITE_ROOT and the other LEPTOS_* variables are \
                  Leptos's own (see README.md)."
)]
pub struct Settings {
    /// Data directory: the SQLite file and its lock [default: $XDG_DATA_HOME/chat, else ~/.local/share/chat]
    #[arg(long, env = "CHAT_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Keep everything in PostgreSQL instead of SQLite (postgres://user@host:port/db)
    #[arg(long, env = "CHAT_DATABASE_URL", value_name = "URL")]
    pub database_url: Option<String>,
    /// full: fsync every commit; normal: fsync at checkpoints only
    #[arg(long, env = "CHAT_SYNC", default_value = "full", value_parser = sync)]
    pub sync: SyncMode,
    /// Origins allowed to open /ws besides the server's own, comma-separated
    #[arg(long, env = "CHAT_ALLOWED_ORIGINS", value_delimiter = ',', value_parser = origin)]
    pub allowed_origins: Vec<String>,
    /// Host names requests may name besides localhost and IP addresses, comma-separated (*: any)
    #[arg(long, env = "CHAT_ALLOWED_HOSTS", value_delimiter = ',', value_parser = origin)]
    pub allowed_hosts: Vec<String>,
    /// `send` frames per second per connection (above 0)
    #[arg(long, env = "CHAT_RATE_PER_SEC", default_value = "10", value_parser = positive)]
    pub rate_per_sec: f64,
    /// `send` burst per connection (at least 1)
    #[arg(long, env = "CHAT_RATE_BURST", default_value = "20", value_parser = burst)]
    pub rate_burst: f64,
    /// Requests other than send and typing per second per connection (above 0)
    #[arg(long, env = "CHAT_REQUEST_RATE_PER_SEC", default_value = "20", value_parser = positive)]
    pub request_rate_per_sec: f64,
    /// And their burst (at least 1)
    #[arg(long, env = "CHAT_REQUEST_BURST", default_value = "100", value_parser = burst)]
    pub request_burst: f64,
    /// Rooms one connection may have joined (at least 1)
    #[arg(long, env = "CHAT_MAX_ROOMS_PER_CONN", default_value = "50", value_parser = count)]
    pub max_rooms_per_conn: usize,
    /// Rooms one identity may belong to, direct messages included (at least 1)
    #[arg(long, env = "CHAT_MAX_ROOMS_PER_IDENTITY", default_value = "200", value_parser = count)]
    pub max_rooms_per_identity: usize,
    /// Invitations one identity may have waiting (at least 1)
    #[arg(long, env = "CHAT_MAX_INVITES_PER_IDENTITY", default_value = "100", value_parser = count)]
    pub max_invites_per_identity: usize,
    /// Members and invited identities of one private room (at least 1)
    #[arg(long, env = "CHAT_MAX_PRIVATE_MEMBERS", default_value = "1000", value_parser = count)]
    pub max_private_members: usize,
    /// Rooms one connection may watch at once (at least 1)
    #[arg(long, env = "CHAT_MAX_WATCHED_ROOMS", default_value = "3", value_parser = count)]
    pub max_watched_rooms: usize,
    /// Rooms the server creates in all (at least 1)
    #[arg(long = "max-rooms", env = "CHAT_MAX_ROOMS", default_value = "10000", value_parser = count)]
    pub max_rooms_total: usize,
    /// Bytes queued for one client before it is closed as too slow (at least 65536)
    #[arg(long, env = "CHAT_OUTBOUND_BYTES", default_value = "1048576", value_parser = outbound)]
    pub outbound_bytes: usize,
    /// Offer permessage-deflate (RFC 7692) on /ws: on or off
    #[arg(long, env = "CHAT_WS_DEFLATE", default_value = "on", value_parser = on_off)]
    pub ws_deflate: bool,
    /// Frames shorter than this go uncompressed, bytes (0 to 1048576)
    #[arg(long, env = "CHAT_WS_DEFLATE_MIN_BYTES", default_value = "1024", value_parser = deflate_min)]
    pub ws_deflate_min_bytes: usize,
    /// WebSocket ping interval, s (0.01 to 86400)
    #[arg(long, env = "CHAT_PING_INTERVAL_SECS", default_value = "25", value_parser = seconds)]
    pub ping_interval_secs: f64,
    /// A connection silent this long is closed, s (0.01 to 86400)
    #[arg(long, env = "CHAT_IDLE_TIMEOUT_SECS", default_value = "60", value_parser = seconds)]
    pub idle_timeout_secs: f64,
    /// Most messages a join with `after` replays (at least 1)
    #[arg(long, env = "CHAT_REPLAY_CAP", default_value = "1000", value_parser = count)]
    pub replay_cap: usize,
    /// Identities kept; at the cap the one unused longest goes (at least 1)
    #[arg(long, env = "CHAT_MAX_IDENTITIES", default_value = "1000000", value_parser = count)]
    pub max_identities: usize,
    /// An identity owns its name until unused this long, days (above 0, at most 36500)
    #[arg(long, env = "CHAT_NAME_LEASE_DAYS", default_value = "30", value_parser = days)]
    pub name_lease_days: f64,
    /// New names one address (IPv6: its /64) may make at once (at least 1)
    #[arg(long, env = "CHAT_IDENTITY_BURST", default_value = "60", value_parser = burst)]
    pub identity_burst: f64,
    /// And then this many a minute (above 0)
    #[arg(long, env = "CHAT_IDENTITY_RATE_PER_MIN", default_value = "30", value_parser = positive)]
    pub identity_rate_per_min: f64,
    /// New names one IPv6 /48 may make at once (at least 1)
    #[arg(long, env = "CHAT_IDENTITY_NET_BURST", default_value = "240", value_parser = burst)]
    pub identity_net_burst: f64,
    /// And then this many a minute (above 0)
    #[arg(long, env = "CHAT_IDENTITY_NET_RATE_PER_MIN", default_value = "120", value_parser = positive)]
    pub identity_net_rate_per_min: f64,
    /// New names the whole server makes at once (at least 1)
    #[arg(long, env = "CHAT_IDENTITY_SERVER_BURST", default_value = "1200", value_parser = burst)]
    pub identity_server_burst: f64,
    /// And then this many a minute (above 0)
    #[arg(long, env = "CHAT_IDENTITY_SERVER_RATE_PER_MIN", default_value = "600", value_parser = positive)]
    pub identity_server_rate_per_min: f64,
    /// The site is served over HTTPS (a TLS proxy): Secure, __Host- cookies and HSTS (0 or 1)
    #[arg(long, env = "CHAT_SECURE_COOKIES", default_value = "0", value_parser = boolish, action = clap::ArgAction::Set)]
    pub secure_cookies: bool,
    /// Most names in a joined reply (at least 1)
    #[arg(long, env = "CHAT_MEMBER_PAGE", default_value = "100", value_parser = count)]
    pub member_page: usize,
    /// Rooms with more members get member_count instead of presence (at least 1)
    #[arg(long, env = "CHAT_PRESENCE_THRESHOLD", default_value = "100", value_parser = count)]
    pub presence_threshold: usize,
    /// WebSockets in all (at least 1; lowered to the open-file limit)
    #[arg(long, env = "CHAT_MAX_CONNECTIONS", default_value = "100000", value_parser = count)]
    pub max_connections: usize,
    /// WebSockets from one address (IPv6: its /64) (at least 1)
    #[arg(long = "max-connections-per-ip", env = "CHAT_MAX_CONNECTIONS_PER_IP", default_value = "256", value_parser = count)]
    pub max_connections_per_addr: usize,
    /// A WebSocket not welcomed this long after opening is closed, s (0.01 to 86400)
    #[arg(long, env = "CHAT_HELLO_TIMEOUT_SECS", default_value = "10", value_parser = seconds)]
    pub hello_timeout_secs: f64,
    /// With PostgreSQL: a node silent this long is taken for dead, s (0.01 to 86400)
    #[arg(long, env = "CHAT_NODE_LEASE_SECS", default_value = "15", value_parser = seconds)]
    pub node_lease_secs: f64,
    /// Request headers must arrive within this; idle keep-alive is closed after it, s (0.01 to 86400)
    #[arg(long, env = "CHAT_HEADER_TIMEOUT_SECS", default_value = "10", value_parser = seconds)]
    pub header_timeout_secs: f64,
    /// A request body must arrive within this, s (0.01 to 86400)
    #[arg(long, env = "CHAT_BODY_TIMEOUT_SECS", default_value = "10", value_parser = seconds)]
    pub body_timeout_secs: f64,
    /// Behind a proxy: the header holding the client's address (X-Real-IP, X-Forwarded-For)
    #[arg(long, env = "CHAT_CLIENT_IP_HEADER", value_parser = header_name)]
    pub client_ip_header: Option<axum::http::HeaderName>,
    /// Proxies besides loopback whose client-address header is believed, comma-separated
    #[arg(long, env = "CHAT_TRUSTED_PROXIES", value_delimiter = ',', value_parser = ip)]
    pub trusted_proxies: Vec<IpAddr>,
    /// search requests per second per connection and per identity (above 0)
    #[arg(long, env = "CHAT_SEARCH_RATE_PER_SEC", default_value = "1", value_parser = positive)]
    pub search_rate_per_sec: f64,
    /// And their burst (at least 1)
    #[arg(long, env = "CHAT_SEARCH_BURST", default_value = "5", value_parser = burst)]
    pub search_burst: f64,
    /// search requests per second per address (above 0)
    #[arg(long, env = "CHAT_SEARCH_ADDR_RATE_PER_SEC", default_value = "10", value_parser = positive)]
    pub search_addr_rate_per_sec: f64,
    /// And their burst (at least 1)
    #[arg(long, env = "CHAT_SEARCH_ADDR_BURST", default_value = "30", value_parser = burst)]
    pub search_addr_burst: f64,
    /// search requests per second on the whole server (above 0)
    #[arg(long, env = "CHAT_SEARCH_SERVER_RATE_PER_SEC", default_value = "20", value_parser = positive)]
    pub search_server_rate_per_sec: f64,
    /// And their burst (at least 1)
    #[arg(long, env = "CHAT_SEARCH_SERVER_BURST", default_value = "40", value_parser = burst)]
    pub search_server_burst: f64,
    /// How long one search may read, s (0.01 to 86400)
    #[arg(long, env = "CHAT_SEARCH_BUDGET_SECS", default_value = "0.25", value_parser = seconds)]
    pub search_budget_secs: f64,
    /// Page renders (GET /, /r/ROOM) per second per address (above 0)
    #[arg(long, env = "CHAT_PAGE_RATE_PER_SEC", default_value = "20", value_parser = positive)]
    pub page_rate_per_sec: f64,
    /// And their burst (at least 1): a classroom behind one address loading at once
    #[arg(long, env = "CHAT_PAGE_BURST", default_value = "60", value_parser = burst)]
    pub page_burst: f64,
    /// Readers of the store: reads that run at once beside the hub (at least 1)
    #[arg(long, env = "CHAT_STORE_READERS", default_value = "4", value_parser = count)]
    pub store_readers: usize,
    /// Of which searches may use at most this many (at least 1, fewer than the readers)
    #[arg(long, env = "CHAT_SEARCH_READERS", default_value = "1", value_parser = count)]
    pub search_readers: usize,
    /// Rooms one identity may create per minute, and at once (at least 1)
    #[arg(long, env = "CHAT_NEW_ROOMS_PER_MIN", default_value = "5", value_parser = burst)]
    pub new_rooms_per_min: f64,
    /// Rooms one address may create per minute, and at once (at least 1)
    #[arg(long, env = "CHAT_NEW_ROOMS_ADDR_PER_MIN", default_value = "20", value_parser = burst)]
    pub new_rooms_addr_per_min: f64,
    /// A room with no messages and no members this long is removed, s (0.01 to 86400)
    #[arg(long, env = "CHAT_EMPTY_ROOM_SECS", default_value = "3600", value_parser = seconds)]
    pub empty_room_secs: f64,
    /// Most rooms a welcome lists (at least 1)
    #[arg(long, env = "CHAT_WELCOME_ROOMS", default_value = "100", value_parser = count)]
    pub welcome_rooms: usize,
    /// Messages older than this are removed, days (above 0, at most 36500) [default: kept]
    #[arg(long, env = "CHAT_RETENTION_DAYS", value_parser = days)]
    pub retention_days: Option<f64>,
    /// *1.2*: authors may edit a message this long after posting, minutes (1 to 5256000) [default: always]
    #[arg(long, env = "CHAT_EDIT_WINDOW_MINS", value_parser = minutes)]
    pub edit_window_mins: Option<u64>,
    /// *1.2*: the largest file one may upload, MiB (1 to 4096)
    #[arg(long, env = "CHAT_MAX_UPLOAD_MB", default_value = "25", value_parser = mebibytes)]
    pub max_upload_mb: u64,
    /// *1.2*: the most bytes of files one identity may keep, MiB (1 to 4194304)
    #[arg(long, env = "CHAT_UPLOAD_QUOTA_MB", default_value = "1024", value_parser = quota_mebibytes)]
    pub upload_quota_mb: u64,
    /// A deleted account's messages: keep (shown as "deleted user") or remove
    #[arg(long, env = "CHAT_DELETED_USER_MESSAGES", default_value = "keep", value_parser = keep_remove)]
    pub deleted_user_messages: bool,
    /// *1.2*: images of more pixels than this are refused, megapixels (1 to 500)
    #[arg(long, env = "CHAT_MAX_IMAGE_MEGAPIXELS", default_value = "50", value_parser = megapixels)]
    pub max_image_megapixels: u64,
    /// *1.2*: uploads one identity may start per minute (above 0)
    #[arg(long, env = "CHAT_UPLOADS_PER_MIN", default_value = "30", value_parser = positive)]
    pub uploads_per_min: f64,
    /// And their burst (at least 1)
    #[arg(long, env = "CHAT_UPLOAD_BURST", default_value = "10", value_parser = burst)]
    pub upload_burst: f64,
    /// *1.2*: uploads one address may start per minute, all identities (above 0)
    #[arg(long, env = "CHAT_UPLOADS_ADDR_PER_MIN", default_value = "300", value_parser = positive)]
    pub uploads_addr_per_min: f64,
    /// And their burst (at least 1)
    #[arg(long, env = "CHAT_UPLOAD_ADDR_BURST", default_value = "100", value_parser = burst)]
    pub upload_addr_burst: f64,
    /// *1.2*: images that may wait to be re-made while one is (0 to 10000)
    #[arg(long, env = "CHAT_IMAGE_QUEUE", default_value = "16", value_parser = image_queue)]
    pub image_queue: usize,
    /// *1.2*: an upload's body must arrive within this, s (0.01 to 86400)
    #[arg(long, env = "CHAT_UPLOAD_TIMEOUT_SECS", default_value = "600", value_parser = seconds)]
    pub upload_timeout_secs: f64,
    /// *1.2*: where uploaded files are kept; several nodes share one directory [default: files/ in the data directory]
    #[arg(long, env = "CHAT_FILES_DIR", value_name = "DIR")]
    pub files_dir: Option<PathBuf>,
    /// Serve HTTPS directly with this PEM certificate chain (with --tls-key)
    #[arg(long, env = "CHAT_TLS_CERT", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// And this PEM private key (with --tls-cert)
    #[arg(long, env = "CHAT_TLS_KEY", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Who may make an account: open (anyone), invite (with an invite code), closed
    #[arg(long, env = "CHAT_REGISTRATION", default_value = "open", value_parser = registration)]
    pub registration: Registration,
    /// Guests (no account): on, or off (a hello without a session gets account_required)
    #[arg(long, env = "CHAT_GUESTS", default_value = "on", value_parser = on_off)]
    pub guests: bool,
    /// A signed-in session ends after this long unused, days (above 0, at most 36500)
    #[arg(long, env = "CHAT_SESSION_DAYS", default_value = "30", value_parser = days)]
    pub session_days: f64,
    /// Failed sign-ins one account may have in a window before 429 (at least 1)
    #[arg(long, env = "CHAT_SIGN_IN_FAILURES", default_value = "30", value_parser = count)]
    pub sign_in_failures: usize,
    /// Failed sign-ins one address (IPv6: /64) may have in a window: a classroom (at least 1)
    #[arg(long, env = "CHAT_SIGN_IN_ADDR_FAILURES", default_value = "300", value_parser = count)]
    pub sign_in_addr_failures: usize,
    /// The failure window, minutes (at least 1)
    #[arg(long, env = "CHAT_SIGN_IN_WINDOW_MINS", default_value = "15", value_parser = count)]
    pub sign_in_window_mins: usize,
    /// Argon2id memory per password hash, KiB (OWASP's minimum, 19456, or more)
    #[arg(long, env = "CHAT_PASSWORD_MEMORY_KIB", default_value = "19456", value_parser = password_memory)]
    pub password_memory_kib: u32,
    /// Threads that hash passwords (at least 1); more sign-ins wait in a short queue, then 503
    #[arg(long, env = "CHAT_HASH_THREADS", default_value = "1", value_parser = count)]
    pub hash_threads: usize,
    /// Where /healthz and /metrics are served (an address and port, or off)
    #[arg(long, env = "CHAT_OPS_ADDR", default_value = "127.0.0.1:9090", value_parser = ops_addr)]
    pub ops_addr: OpsAddr,
}

impl Settings {
    /// Every setting at its default: no flag given, no variable read.
    pub fn defaults() -> Settings {
        use clap::{CommandFactory, FromArgMatches};
        let command = Settings::command().mut_args(|a| a.env(None));
        let matches = command.get_matches_from(["chat"]);
        Settings::from_arg_matches(&matches).expect("the defaults parse")
    }

    /// The settings of the command line and the environment; `--help` and
    /// `--version` print and exit 0, anything refused prints what and which
    /// variable, and exits 2.
    pub fn parse_or_exit() -> Settings {
        match Settings::try_parse() {
            Ok(settings) => settings,
            Err(e) if !e.use_stderr() => e.exit(), // --help, --version
            Err(e) => {
                eprintln!("configuration error: {}\n\n{}", refusal(&e), e.render());
                std::process::exit(2);
            }
        }
    }
}

/// A clap refusal as the variable it is about (the flag's `CHAT_*` name).
pub fn refusal(e: &clap::Error) -> super::config::ConfigError {
    use clap::error::{ContextKind, ContextValue};
    use clap::CommandFactory;
    let context = |kind| match e.get(kind) {
        Some(ContextValue::String(s)) => s.clone(),
        _ => String::new(),
    };
    let arg = context(ContextKind::InvalidArg);
    let long = arg
        .split_whitespace()
        .next()
        .unwrap_or("")
        .trim_start_matches("--");
    let command = Settings::command();
    let mut envs = command
        .get_arguments()
        .filter_map(|a| Some((a, a.get_env()?)));
    let var = match e.kind() {
        // clap says no more than that some value was not UTF-8: which one.
        clap::error::ErrorKind::InvalidUtf8 => envs
            .find(|(_, env)| std::env::var_os(env).is_some_and(|v| v.to_str().is_none()))
            .map(|(_, env)| env.to_string_lossy().into_owned()),
        _ => envs
            .find(|(a, _)| a.get_long() == Some(long))
            .map(|(_, env)| env.to_string_lossy().into_owned()),
    }
    .unwrap_or(arg);
    let expected = std::error::Error::source(e)
        .map_or_else(|| e.kind().to_string(), |cause| cause.to_string());
    super::config::ConfigError {
        var,
        value: context(ContextKind::InvalidValue),
        expected,
    }
}

/// `CHAT_OPS_ADDR`: an address, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpsAddr(pub Option<SocketAddr>);

/// Variables of this project that are not server settings (the Makefile's
/// and the tests'): not warned about.
const NOT_SETTINGS: [&str; 2] = ["CHAT_TOOLS_DIR", "CHAT_TEST_BACKEND"];

/// The `CHAT_*` variables in the environment that no setting reads (a
/// misspelling, or a setting removed): the server warns of each at start.
pub fn unknown_variables() -> Vec<String> {
    use clap::CommandFactory;
    let command = Settings::command();
    let known: Vec<String> = command
        .get_arguments()
        .filter_map(|a| a.get_env())
        .map(|e| e.to_string_lossy().into_owned())
        .collect();
    let mut unknown: Vec<String> = std::env::vars_os()
        .map(|(k, _)| k.to_string_lossy().into_owned())
        .filter(|k| k.starts_with("CHAT_"))
        .filter(|k| !known.contains(k) && !NOT_SETTINGS.contains(&k.as_str()))
        .collect();
    unknown.sort();
    unknown
}

/// The shortest period a `*_SECS` setting may be.
pub const MIN_SECS: f64 = 0.01;
/// The longest: a day. (`Duration::from_secs_f64` panics past about
/// 1.8e19 s, and a zero period panics tokio's `interval`.)
pub const MAX_SECS: f64 = 86_400.0;
/// The smallest outbound bound: room for the largest message frame (about
/// 30 KB: 2,000 characters as text and as escaped HTML) twice over.
pub const MIN_OUTBOUND_BYTES: usize = 64 * 1024;

/// A number, finite (`inf` would make a bucket's arithmetic NaN).
fn finite(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err("expected a finite number".into()),
    }
}

/// A rate: above 0.
fn positive(s: &str) -> Result<f64, String> {
    finite(s)
        .ok()
        .filter(|v| *v > 0.0)
        .ok_or_else(|| "expected a positive number".into())
}

/// A burst: at least 1 (a bucket of less never grants anything).
fn burst(s: &str) -> Result<f64, String> {
    finite(s)
        .ok()
        .filter(|v| *v >= 1.0)
        .ok_or_else(|| "expected a number of at least 1".into())
}

/// A count: a whole number of at least 1.
/// *1.2*: who may make an account (`CHAT_REGISTRATION`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// Anyone.
    Open,
    /// Someone with a valid invite code.
    Invite,
    /// Nobody (the admin command line still can).
    Closed,
}

fn registration(s: &str) -> Result<Registration, String> {
    match s.trim() {
        "open" => Ok(Registration::Open),
        "invite" => Ok(Registration::Invite),
        "closed" => Ok(Registration::Closed),
        _ => Err("expected open, invite or closed".into()),
    }
}

fn on_off(s: &str) -> Result<bool, String> {
    match s.trim() {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err("expected on or off".into()),
    }
}

fn deflate_min(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(v) if v <= 1_048_576 => Ok(v),
        _ => Err("expected bytes from 0 to 1048576".into()),
    }
}

fn password_memory(s: &str) -> Result<u32, String> {
    match s.trim().parse::<u32>() {
        Ok(v) if (19_456..=4_194_304).contains(&v) => Ok(v),
        _ => Err("expected KiB from 19456 (OWASP's minimum) to 4194304".into()),
    }
}

fn count(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(v) if v >= 1 => Ok(v),
        _ => Err("expected a whole number of at least 1".into()),
    }
}

/// A whole number from `min` to `max`, or why not.
fn within(s: &str, min: u64, max: u64) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(v) if (min..=max).contains(&v) => Ok(v),
        _ => Err(format!("expected a whole number from {min} to {max}")),
    }
}

/// The largest upload, MiB.
fn mebibytes(s: &str) -> Result<u64, String> {
    within(s, 1, 4096)
}

/// An identity's quota, MiB (at most 4 TiB).
fn quota_mebibytes(s: &str) -> Result<u64, String> {
    within(s, 1, 4 << 20)
}

/// Images waiting to be re-made.
fn image_queue(s: &str) -> Result<usize, String> {
    within(s, 0, 10_000).map(|v| v as usize)
}

/// An image's most pixels, millions.
fn megapixels(s: &str) -> Result<u64, String> {
    within(s, 1, 500)
}

/// Seconds, 0.01 to 86400.
fn seconds(s: &str) -> Result<f64, String> {
    finite(s)
        .ok()
        .filter(|v| (MIN_SECS..=MAX_SECS).contains(v))
        .ok_or_else(|| "expected a number of seconds from 0.01 to 86400".into())
}

/// Days, above 0 and at most 36500.
fn days(s: &str) -> Result<f64, String> {
    finite(s)
        .ok()
        .filter(|v| *v > 0.0 && *v <= 36_500.0)
        .ok_or_else(|| "expected a number of days above 0 and at most 36500".into())
}

/// Whole minutes, 1 to 5,256,000 (ten years).
fn minutes(s: &str) -> Result<u64, String> {
    match s.trim().parse::<u64>() {
        Ok(v) if (1..=5_256_000).contains(&v) => Ok(v),
        _ => Err("expected a whole number of minutes from 1 to 5256000".into()),
    }
}

/// Bytes, at least [`MIN_OUTBOUND_BYTES`].
fn outbound(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(v) if v >= MIN_OUTBOUND_BYTES => Ok(v),
        _ => Err("expected a number of bytes of at least 65536".into()),
    }
}

/// An origin or host, as compared: lower case, no trailing `/`.
fn origin(s: &str) -> Result<String, String> {
    Ok(s.trim().trim_end_matches('/').to_ascii_lowercase())
}

/// `keep` (true) or `remove`.
fn keep_remove(s: &str) -> Result<bool, String> {
    match s.trim() {
        "keep" => Ok(true),
        "remove" => Ok(false),
        _ => Err("expected keep or remove".into()),
    }
}

fn sync(s: &str) -> Result<SyncMode, String> {
    match s.trim() {
        "full" => Ok(SyncMode::Full),
        "normal" => Ok(SyncMode::Normal),
        _ => Err("expected full or normal".into()),
    }
}

fn boolish(s: &str) -> Result<bool, String> {
    match s.trim() {
        "" | "0" | "false" => Ok(false),
        "1" | "true" => Ok(true),
        _ => Err("expected 1 or 0".into()),
    }
}

fn header_name(s: &str) -> Result<axum::http::HeaderName, String> {
    s.trim()
        .parse()
        .map_err(|_| "expected a header name, e.g. X-Forwarded-For or X-Real-IP".into())
}

fn ip(s: &str) -> Result<IpAddr, String> {
    s.trim()
        .parse()
        .map_err(|_| "expected IP addresses separated by commas".into())
}

fn ops_addr(s: &str) -> Result<OpsAddr, String> {
    match s.trim() {
        "off" => Ok(OpsAddr(None)),
        addr => addr
            .parse()
            .map(|a| OpsAddr(Some(a)))
            .map_err(|_| "expected an address and port, e.g. 127.0.0.1:9090, or off".into()),
    }
}
