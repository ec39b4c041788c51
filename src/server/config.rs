//! The server's configuration, made from its settings
//! ([`super::settings`]: every flag and `CHAT_*` variable, their defaults
//! and bounds); this module keeps only what clap cannot say. README §
//! Configuration.

pub use super::settings::Registration;
use super::settings::{self, Settings};
use crate::store::{default_data_dir, StoreOptions};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub use super::settings::MIN_OUTBOUND_BYTES;

/// Limits and knobs of the hub. `Default` gives the documented defaults.
#[derive(Debug, Clone)]
pub struct Config {
    /// Origins allowed to open `/ws` besides the server's own (`http://` + `Host`).
    pub allowed_origins: Vec<String>,
    /// Host names requests may name besides `localhost`, IP literals and
    /// the hosts of [`Config::allowed_origins`] (`*`: any); see `hosts`.
    pub allowed_hosts: Vec<String>,
    /// `send` frames refilled per second, per connection.
    pub rate_per_sec: f64,
    /// `send` frames a connection may burst.
    pub rate_burst: f64,
    /// Rooms one connection may have joined at once.
    pub max_rooms_per_conn: usize,
    /// *1.1*: rooms one connection may watch at once (`watch`, no name needed).
    pub max_watched_rooms: usize,
    /// *1.2*: rooms one identity may belong to (direct messages included).
    pub max_rooms_per_identity: usize,
    /// *1.2*: invitations one identity may have waiting.
    pub max_invites_per_identity: usize,
    /// *1.2*: members and invited identities of one private room.
    pub max_private_members: usize,
    /// Rooms the server will create in all.
    pub max_rooms_total: usize,
    /// Bytes queued for one client, until written to its socket, before it
    /// is closed as too slow. Replies (`joined`, `history`) are cut to a
    /// quarter of it, and one commit's messages stay under a quarter too.
    pub outbound_bytes: usize,
    /// *1.2*: `permessage-deflate` on the WebSocket: frames of at least
    /// this many bytes go compressed to clients that agreed on it; `None`:
    /// never offered (`CHAT_WS_DEFLATE`, `CHAT_WS_DEFLATE_MIN_BYTES`).
    pub deflate_min_bytes: Option<usize>,
    /// How often the server sends a WebSocket ping.
    pub ping_interval: Duration,
    /// A connection that sends nothing (not even a pong) for this long is dropped.
    pub idle_timeout: Duration,
    /// Where and how messages are stored.
    pub store: StoreOptions,
    /// Messages in a `joined` reply without `after`.
    pub join_recent: usize,
    /// Most messages replayed by `join` with `after`.
    pub replay_cap: usize,
    /// Identities the server keeps. At the cap, those past their name lease
    /// are forgotten; if none is, no new identity is created until one is.
    pub max_identities: usize,
    /// *1.1*: how long an unused identity keeps its name (and its token works).
    pub name_lease: Duration,
    /// *1.1*: new identities one client address may create per minute
    /// (after a burst of [`Config::identity_burst`]); IPv6 addresses count
    /// by /64.
    pub identity_rate_per_min: f64,
    /// *1.1*: new identities one client address may create at once.
    pub identity_burst: f64,
    /// Mark the identity cookie `Secure` (set it when the chat is served
    /// over HTTPS, directly or behind a proxy).
    pub secure_cookies: bool,
    /// *1.1*: most member names in a `joined` reply; a larger room's `joined`
    /// holds the first ones and the rest are paged with `members`.
    pub member_page: usize,
    /// *1.1*: rooms with more members than this (counted after the change)
    /// get `member_count` frames, at most once a second, instead of a
    /// `presence` frame per join and leave.
    pub presence_threshold: usize,
    /// Most WebSocket connections in all (lowered at start to what the
    /// open-file limit allows); more get 503.
    pub max_connections: usize,
    /// Most WebSocket connections from one client address (IPv6 by /64);
    /// more get 429.
    pub max_connections_per_addr: usize,
    /// A WebSocket that has not been welcomed (`hello`) this long after it
    /// opened is closed (4003).
    pub hello_timeout: Duration,
    /// With PostgreSQL: how long a node lives without renewing its lease
    /// (it renews every third of this); then the others end its sessions.
    pub node_lease: Duration,
    /// How long a client may take to send a request's headers, and how long
    /// an idle keep-alive connection is kept.
    pub header_timeout: Duration,
    /// How long a client may take to send a request's body (the form).
    pub body_timeout: Duration,
    /// A request header that holds the client's address, set by a reverse
    /// proxy (`X-Forwarded-For`: its last address); trusted only from
    /// loopback peers and [`Config::trusted_proxies`].
    pub client_ip_header: Option<axum::http::HeaderName>,
    /// Peers besides loopback whose [`Config::client_ip_header`] is trusted.
    pub trusted_proxies: Vec<std::net::IpAddr>,
    /// Requests other than `send` refilled per second, per connection.
    pub request_rate_per_sec: f64,
    /// Requests other than `send` a connection may burst.
    pub request_burst: f64,
    /// `search` requests refilled per second, per connection (each reads
    /// the full-text index).
    pub search_rate_per_sec: f64,
    /// `search` requests a connection may burst.
    pub search_burst: f64,
    /// How long one search may take before what it found is its page.
    pub search_budget: Duration,
    /// `search` requests refilled per second per client address (IPv6 by
    /// /64), every connection and identity there together.
    pub search_addr_rate_per_sec: f64,
    /// And their burst.
    pub search_addr_burst: f64,
    /// `search` requests refilled per second for the whole server.
    pub search_server_rate_per_sec: f64,
    /// And their burst.
    pub search_server_burst: f64,
    /// Where `/healthz` and `/metrics` are served (`CHAT_OPS_ADDR`), apart
    /// from the chat; `None` (`off`): not served.
    pub ops_addr: Option<std::net::SocketAddr>,
    /// New identities refilled per minute per IPv6 /48 (every /64 in it).
    pub identity_net_rate_per_min: f64,
    /// And their burst.
    pub identity_net_burst: f64,
    /// New identities refilled per minute on the whole server.
    pub identity_server_rate_per_min: f64,
    /// And their burst.
    pub identity_server_burst: f64,
    /// Page renders (`GET /`, `/r/<room>`) refilled per second per client
    /// address; past the burst, 429.
    pub page_rate_per_sec: f64,
    /// And their burst.
    pub page_burst: f64,
    /// Readers of the store, each with its own connection: how many reads
    /// (joins, history, searches, snapshots) run at once, beside the hub.
    pub store_readers: usize,
    /// How many of them may search at once (fewer than `store_readers`,
    /// so the other reads always find one; each search takes a core).
    pub search_readers: usize,
    /// Rooms one identity may create per minute (and at once), however
    /// many connections it has or makes.
    pub new_rooms_per_min: f64,
    /// Rooms one client address (IPv6: /64) may create per minute (and at once).
    pub new_rooms_addr_per_min: f64,
    /// A room with no messages and no members for this long is removed.
    pub empty_room_ttl: Duration,
    /// Most rooms `welcome` lists (the most recently active).
    pub welcome_rooms: usize,
    /// Messages older than this are removed (`None`: kept for ever).
    pub retention: Option<Duration>,
    /// *1.2*: how long after posting an author may edit (`None`: always).
    pub edit_window: Option<Duration>,
    /// *1.2*: the largest upload, bytes (`CHAT_MAX_UPLOAD_MB`).
    pub max_upload_bytes: u64,
    /// *1.2*: the most bytes of files one identity keeps (`CHAT_UPLOAD_QUOTA_MB`).
    pub upload_quota_bytes: u64,
    /// A deleted account's messages stay, shown as "deleted user" (else
    /// they are purged; `CHAT_DELETED_USER_MESSAGES`).
    pub keep_deleted_users_messages: bool,
    /// *1.2*: images of more pixels are refused (`CHAT_MAX_IMAGE_MEGAPIXELS`).
    pub max_image_pixels: u64,
    /// *1.2*: uploads one identity may start a minute (`CHAT_UPLOADS_PER_MIN`).
    pub upload_rate_per_min: f64,
    /// *1.2*: and at once (`CHAT_UPLOAD_BURST`).
    pub upload_burst: f64,
    /// *1.2*: uploads one address may start a minute (`CHAT_UPLOADS_ADDR_PER_MIN`).
    pub upload_addr_rate_per_min: f64,
    /// *1.2*: and at once (`CHAT_UPLOAD_ADDR_BURST`).
    pub upload_addr_burst: f64,
    /// *1.2*: images that may wait while one is re-made (`CHAT_IMAGE_QUEUE`).
    pub image_queue: usize,
    /// *1.2*: how long an upload's body may take (`CHAT_UPLOAD_TIMEOUT_SECS`).
    pub upload_timeout: Duration,
    /// *1.2*: uploads not posted within this are removed (a day).
    pub unposted_ttl: Duration,
    /// *1.2*: how often gone files are removed from the files directory.
    pub files_sweep_every: Duration,
    /// *1.2*: where uploaded files are kept (`CHAT_FILES_DIR`; `None`:
    /// `files/` in the data directory, see [`Config::files_dir`]).
    pub files_dir: Option<PathBuf>,
    /// Serve HTTPS and `wss://` with this certificate chain and key (PEM
    /// files), instead of plain HTTP.
    pub tls: Option<TlsFiles>,
    /// *1.2*: who may make an account (`CHAT_REGISTRATION`).
    pub registration: Registration,
    /// *1.2*: whether guests (no account) may say hello (`CHAT_GUESTS`).
    pub guests: bool,
    /// *1.2*: a session ends after this long unused.
    pub session_idle: Duration,
    /// Failed sign-ins per account in a window; past them, 429.
    pub sign_in_failures: u32,
    /// Failed sign-ins per client address (IPv6: /64) in a window.
    pub sign_in_addr_failures: u32,
    /// The window the failures are counted in.
    pub sign_in_window: Duration,
    /// Argon2id memory per hash (KiB); passes and lanes are OWASP's (2, 1).
    /// Tests lower it; the settings never go below OWASP's 19,456.
    pub password_memory_kib: u32,
    /// Threads that hash passwords.
    pub hash_threads: usize,
}

/// Where the TLS certificate chain and its private key are (PEM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// `CHAT_TLS_CERT`: the certificate chain, leaf first.
    pub cert: PathBuf,
    /// `CHAT_TLS_KEY`: the private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

impl Config {
    /// *1.2*: the directory uploaded files are kept in.
    pub fn files_dir(&self) -> PathBuf {
        self.files_dir
            .clone()
            .unwrap_or_else(|| self.store.data_dir.join("files"))
    }
}

impl Default for Config {
    /// The documented defaults: the settings' own ([`Settings`]), with no
    /// flag and no variable read.
    fn default() -> Self {
        Config::from_settings(Settings::defaults()).expect("the defaults are valid")
    }
}

/// A setting that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The variable's name (`CHAT_…`; its flag is the same in lower case).
    pub var: String,
    /// Its value.
    pub value: String,
    /// What it should be.
    pub expected: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}={:?} is not valid: {}",
            self.var, self.value, self.expected
        )
    }
}

impl std::error::Error for ConfigError {}

/// Descriptors kept for other things than WebSockets: a thousand HTTP
/// connections (page loads and upgrades in progress), the store, the
/// listener, logs. More HTTP connections than that, when WebSockets hold
/// the rest, wait in the accept loop (which backs off on `EMFILE`).
const OTHER_FILES: u64 = 1024 + 64;

impl Config {
    /// `https` when the server serves TLS itself, else `http`: the scheme
    /// of its own origin.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }

    /// Lowers [`Config::max_connections`] to what `open_files` descriptors
    /// allow; returns the new value when it was lowered.
    pub fn fit_to_open_files(&mut self, open_files: u64) -> Option<usize> {
        let room = open_files.saturating_sub(OTHER_FILES).max(1);
        let room = usize::try_from(room).unwrap_or(usize::MAX);
        (self.max_connections > room).then(|| {
            self.max_connections = room;
            room
        })
    }

    /// The configuration of `args` (flags, after the program's name) and
    /// the `CHAT_*` variables, as the binary reads them; an error names
    /// the variable. (`--help` is an error here too: the binary prints it.)
    pub fn from_args<I, T>(args: I) -> Result<Config, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::Parser;
        let settings = Settings::try_parse_from(args).map_err(|e| settings::refusal(&e))?;
        Config::from_settings(settings)
    }

    /// The configuration of checked `settings`: what clap cannot say (two
    /// settings that go together, the defaults computed at start, units).
    pub fn from_settings(s: Settings) -> Result<Config, ConfigError> {
        let secs = Duration::from_secs_f64;
        let days = |d: f64| Duration::from_secs_f64(d * 86_400.0);
        let tls = match (s.tls_cert, s.tls_key) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (cert, _) => {
                return Err(ConfigError {
                    var: if cert.is_some() {
                        "CHAT_TLS_KEY"
                    } else {
                        "CHAT_TLS_CERT"
                    }
                    .into(),
                    value: String::new(),
                    expected: "a PEM file path: CHAT_TLS_CERT and CHAT_TLS_KEY go together".into(),
                })
            }
        };
        let nonempty = |v: Vec<String>| v.into_iter().filter(|o| !o.is_empty()).collect();
        Ok(Config {
            allowed_origins: nonempty(s.allowed_origins),
            allowed_hosts: nonempty(s.allowed_hosts),
            rate_per_sec: s.rate_per_sec,
            rate_burst: s.rate_burst,
            max_rooms_per_conn: s.max_rooms_per_conn,
            max_watched_rooms: s.max_watched_rooms,
            max_rooms_per_identity: s.max_rooms_per_identity,
            max_invites_per_identity: s.max_invites_per_identity,
            max_private_members: s.max_private_members,
            max_rooms_total: s.max_rooms_total,
            outbound_bytes: s.outbound_bytes,
            deflate_min_bytes: s.ws_deflate.then_some(s.ws_deflate_min_bytes),
            ping_interval: secs(s.ping_interval_secs),
            idle_timeout: secs(s.idle_timeout_secs),
            store: StoreOptions {
                data_dir: s.data_dir.unwrap_or_else(default_data_dir),
                sync: s.sync,
                busy_timeout: Duration::from_secs(5),
                database_url: s.database_url.filter(|v| !v.trim().is_empty()),
            },
            join_recent: 50,
            replay_cap: s.replay_cap,
            max_identities: s.max_identities,
            name_lease: days(s.name_lease_days),
            identity_rate_per_min: s.identity_rate_per_min,
            identity_burst: s.identity_burst,
            secure_cookies: s.secure_cookies,
            member_page: s.member_page,
            presence_threshold: s.presence_threshold,
            max_connections: s.max_connections,
            max_connections_per_addr: s.max_connections_per_addr,
            hello_timeout: secs(s.hello_timeout_secs),
            node_lease: secs(s.node_lease_secs),
            header_timeout: secs(s.header_timeout_secs),
            body_timeout: secs(s.body_timeout_secs),
            client_ip_header: s.client_ip_header,
            trusted_proxies: s.trusted_proxies,
            request_rate_per_sec: s.request_rate_per_sec,
            request_burst: s.request_burst,
            search_rate_per_sec: s.search_rate_per_sec,
            search_burst: s.search_burst,
            search_budget: secs(s.search_budget_secs),
            search_addr_rate_per_sec: s.search_addr_rate_per_sec,
            search_addr_burst: s.search_addr_burst,
            search_server_rate_per_sec: s.search_server_rate_per_sec,
            search_server_burst: s.search_server_burst,
            ops_addr: s.ops_addr.0,
            identity_net_rate_per_min: s.identity_net_rate_per_min,
            identity_net_burst: s.identity_net_burst,
            identity_server_rate_per_min: s.identity_server_rate_per_min,
            identity_server_burst: s.identity_server_burst,
            page_rate_per_sec: s.page_rate_per_sec,
            page_burst: s.page_burst,
            store_readers: s.store_readers,
            search_readers: s.search_readers,
            new_rooms_per_min: s.new_rooms_per_min,
            new_rooms_addr_per_min: s.new_rooms_addr_per_min,
            empty_room_ttl: secs(s.empty_room_secs),
            welcome_rooms: s.welcome_rooms,
            retention: s.retention_days.map(days),
            edit_window: s.edit_window_mins.map(|m| Duration::from_secs(m * 60)),
            max_upload_bytes: s.max_upload_mb << 20,
            upload_quota_bytes: s.upload_quota_mb << 20,
            keep_deleted_users_messages: s.deleted_user_messages,
            max_image_pixels: s.max_image_megapixels * 1_000_000,
            upload_rate_per_min: s.uploads_per_min,
            upload_burst: s.upload_burst,
            upload_addr_rate_per_min: s.uploads_addr_per_min,
            upload_addr_burst: s.upload_addr_burst,
            image_queue: s.image_queue,
            upload_timeout: secs(s.upload_timeout_secs),
            files_dir: s.files_dir,
            unposted_ttl: Duration::from_secs(24 * 3600),
            files_sweep_every: Duration::from_secs(600),
            tls,
            registration: s.registration,
            guests: s.guests,
            session_idle: days(s.session_days),
            sign_in_failures: s.sign_in_failures.min(u32::MAX as usize) as u32,
            sign_in_addr_failures: s.sign_in_addr_failures.min(u32::MAX as usize) as u32,
            sign_in_window: Duration::from_secs(60 * s.sign_in_window_mins as u64),
            password_memory_kib: s.password_memory_kib,
            hash_threads: s.hash_threads,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::SyncMode;

    /// The configuration of `pairs`, each `CHAT_X` given as its flag `--x`.
    fn from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let flags = pairs.iter().map(|(var, value)| {
            let flag = var
                .trim_start_matches("CHAT_")
                .to_lowercase()
                .replace('_', "-");
            format!("--{flag}={value}")
        });
        Config::from_args(std::iter::once("chat".to_owned()).chain(flags))
    }

    #[test]
    fn reads_variables_and_keeps_defaults() {
        let c = from(&[
            ("CHAT_RATE_PER_SEC", "2.5"),
            ("CHAT_ALLOWED_ORIGINS", "https://Chat.Example/, http://a:1"),
            ("CHAT_DATA_DIR", "/tmp/x"),
            ("CHAT_SYNC", "normal"),
        ])
        .unwrap();
        assert_eq!(c.rate_per_sec, 2.5);
        assert_eq!(c.rate_burst, 20.0);
        assert_eq!(c.allowed_origins, ["https://chat.example", "http://a:1"]);
        assert_eq!(c.store.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(c.store.sync, SyncMode::Normal);
    }

    #[test]
    fn rejects_bad_values_with_the_variable_named() {
        let e = from(&[("CHAT_OUTBOUND_BYTES", "65535")]).unwrap_err();
        assert_eq!(e.var, "CHAT_OUTBOUND_BYTES");
        let c = from(&[("CHAT_OUTBOUND_BYTES", "65536")]).unwrap();
        assert_eq!(c.outbound_bytes, 65_536);
        assert!(from(&[("CHAT_RATE_BURST", "lots")]).is_err());
        assert!(from(&[("CHAT_PING_INTERVAL_SECS", "-1")]).is_err());
        assert_eq!(from(&[("CHAT_SYNC", "off")]).unwrap_err().var, "CHAT_SYNC");
        assert_eq!(
            from(&[("CHAT_MEMBER_PAGE", "0")]).unwrap_err().var,
            "CHAT_MEMBER_PAGE"
        );
        assert_eq!(from(&[("CHAT_MEMBER_PAGE", "1")]).unwrap().member_page, 1);
        assert_eq!(
            from(&[("CHAT_PRESENCE_THRESHOLD", "0")]).unwrap_err().var,
            "CHAT_PRESENCE_THRESHOLD"
        );
    }

    #[test]
    fn the_name_lease_and_identity_limits_are_checked_at_their_bounds() {
        let lease = |v: &str| from(&[("CHAT_NAME_LEASE_DAYS", v)]).map(|c| c.name_lease);
        assert_eq!(
            lease("36500").unwrap(),
            Duration::from_secs(36_500 * 86_400)
        );
        assert_eq!(lease("0.5").unwrap(), Duration::from_secs(43_200));
        for bad in ["36500.01", "0", "-1", "inf", "NaN", "soon"] {
            assert_eq!(lease(bad).unwrap_err().var, "CHAT_NAME_LEASE_DAYS", "{bad}");
        }
        assert_eq!(
            Config::default().name_lease,
            Duration::from_secs(30 * 86_400)
        );
        let c = from(&[("CHAT_IDENTITY_BURST", "5"), ("CHAT_SECURE_COOKIES", "1")]).unwrap();
        assert_eq!((c.identity_burst, c.secure_cookies), (5.0, true));
        assert!(from(&[("CHAT_IDENTITY_RATE_PER_MIN", "0")]).is_err());
        let e = from(&[("CHAT_SECURE_COOKIES", "yes")]).unwrap_err();
        assert_eq!(e.var, "CHAT_SECURE_COOKIES");
    }

    #[test]
    fn extreme_periods_and_rates_are_refused_with_the_variable_named_not_a_panic() {
        for var in ["CHAT_IDLE_TIMEOUT_SECS", "CHAT_PING_INTERVAL_SECS"] {
            let secs = |v: &str| {
                from(&[(var, v)]).map(|c| match var {
                    "CHAT_IDLE_TIMEOUT_SECS" => c.idle_timeout,
                    _ => c.ping_interval,
                })
            };
            assert_eq!(secs("86400").unwrap(), Duration::from_secs(86_400));
            assert_eq!(secs("0.01").unwrap(), Duration::from_millis(10));
            for bad in [
                "86400.001",
                "0.0099",
                "1e30",
                "inf",
                "-inf",
                "NaN",
                "0",
                "1e-300",
            ] {
                let e = secs(bad).unwrap_err();
                assert_eq!(e.var, var, "{bad}");
                assert!(e.to_string().contains("0.01 to 86400"), "{e}");
            }
        }
        for var in [
            "CHAT_RATE_PER_SEC",
            "CHAT_RATE_BURST",
            "CHAT_IDENTITY_BURST",
        ] {
            for bad in ["inf", "NaN", "0"] {
                assert_eq!(from(&[(var, bad)]).unwrap_err().var, var, "{bad}");
            }
            assert!(from(&[(var, "1e30")]).is_ok(), "large but finite: {var}");
        }
        let tls = from(&[("CHAT_TLS_CERT", "/c.pem"), ("CHAT_TLS_KEY", "/k.pem")]).unwrap();
        assert_eq!(tls.scheme(), "https");
        assert_eq!(Config::default().scheme(), "http");
        assert_eq!(
            from(&[("CHAT_TLS_CERT", "/c.pem")]).unwrap_err().var,
            "CHAT_TLS_KEY"
        );
        assert_eq!(
            from(&[("CHAT_TLS_KEY", "/k.pem")]).unwrap_err().var,
            "CHAT_TLS_CERT"
        );
        let mut c = Config::default();
        assert_eq!(c.fit_to_open_files(101_088), None, "room for 100,000");
        assert_eq!(c.fit_to_open_files(101_087), Some(99_999));
        assert_eq!(c.fit_to_open_files(20_000), Some(18_912));
        assert_eq!(c.fit_to_open_files(10), Some(1), "never zero");
        for bad in ["1e30", "18446744073709551616", "-1"] {
            let e = from(&[("CHAT_REPLAY_CAP", bad)]).unwrap_err();
            assert_eq!(e.var, "CHAT_REPLAY_CAP");
        }
    }
}
