//! Server configuration from environment variables (see README § Configuration).

use crate::store::{default_data_dir, StoreOptions, SyncMode};
use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

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
    /// Rooms the server will create in all.
    pub max_rooms_total: usize,
    /// Bytes queued for one client, until written to its socket, before it
    /// is closed as too slow. Replies (`joined`, `history`) are cut to a
    /// quarter of it, and one commit's messages stay under a quarter too.
    pub outbound_bytes: usize,
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
    /// Serve HTTPS and `wss://` with this certificate chain and key (PEM
    /// files), instead of plain HTTP.
    pub tls: Option<TlsFiles>,
}

/// Where the TLS certificate chain and its private key are (PEM).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// `CHAT_TLS_CERT`: the certificate chain, leaf first.
    pub cert: PathBuf,
    /// `CHAT_TLS_KEY`: the private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            allowed_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            rate_per_sec: 10.0,
            rate_burst: 20.0,
            max_rooms_per_conn: 50,
            max_watched_rooms: 3,
            max_rooms_total: 10_000,
            outbound_bytes: 1024 * 1024,
            ping_interval: Duration::from_secs(25),
            idle_timeout: Duration::from_secs(60),
            store: StoreOptions {
                data_dir: default_data_dir(),
                sync: SyncMode::Full,
                busy_timeout: Duration::from_secs(5),
                database_url: None,
            },
            join_recent: 50,
            replay_cap: 1000,
            max_identities: 1_000_000,
            name_lease: Duration::from_secs(30 * 24 * 3600),
            identity_rate_per_min: 30.0,
            identity_burst: 60.0,
            secure_cookies: false,
            member_page: 100,
            presence_threshold: 100,
            max_connections: 100_000,
            max_connections_per_addr: 256,
            hello_timeout: Duration::from_secs(10),
            node_lease: Duration::from_secs(15),
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            client_ip_header: None,
            trusted_proxies: Vec::new(),
            request_rate_per_sec: 20.0,
            request_burst: 100.0,
            search_rate_per_sec: 1.0,
            search_burst: 5.0,
            search_budget: Duration::from_millis(250),
            search_addr_rate_per_sec: 10.0,
            search_addr_burst: 30.0,
            search_server_rate_per_sec: 20.0,
            search_server_burst: 40.0,
            ops_addr: Some(std::net::SocketAddr::from(([127, 0, 0, 1], 9090))),
            identity_net_rate_per_min: 120.0,
            identity_net_burst: 240.0,
            identity_server_rate_per_min: 600.0,
            identity_server_burst: 1200.0,
            store_readers: 4,
            search_readers: 1,
            new_rooms_per_min: 5.0,
            new_rooms_addr_per_min: 20.0,
            empty_room_ttl: Duration::from_secs(3600),
            welcome_rooms: 100,
            retention: None,
            tls: None,
        }
    }
}

/// A configuration variable that could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The variable's name.
    pub var: &'static str,
    /// Its value.
    pub value: String,
    /// What it should be.
    pub expected: &'static str,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}={:?} is not valid: expected {}",
            self.var, self.value, self.expected
        )
    }
}

impl std::error::Error for ConfigError {}

/// The smallest outbound bound: room for the largest message frame (about
/// 30 KB: 2,000 characters as text and as escaped HTML) twice over.
pub const MIN_OUTBOUND_BYTES: usize = 64 * 1024;

/// Descriptors kept for other things than WebSockets: a thousand HTTP
/// connections (page loads and upgrades in progress), the store, the
/// listener, logs. More HTTP connections than that, when WebSockets hold
/// the rest, wait in the accept loop (which backs off on `EMFILE`).
const OTHER_FILES: u64 = 1024 + 64;

/// The shortest period a `*_SECS` variable may set.
const MIN_SECS: f64 = 0.01;
/// The longest period a `*_SECS` variable may set: a day.
const MAX_SECS: f64 = 86_400.0;

impl Config {
    /// Reads the `CHAT_*` variables; unset ones keep their defaults.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|k| std::env::var(k).ok())
    }

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

    /// Reads configuration through `get` (the environment, or a map in tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let d = Config::default();
        // Finite numbers only: `inf` would make a bucket's arithmetic NaN.
        let num = |var: &'static str, default: f64| -> Result<f64, ConfigError> {
            parse(&get, var, default, "a positive number", |v: &f64| {
                v.is_finite() && *v > 0.0
            })
        };
        let count = |var: &'static str, default: usize| -> Result<usize, ConfigError> {
            parse(&get, var, default, "a whole number of at least 1", |v| {
                *v >= 1
            })
        };
        // Bounded both ways: `Duration::from_secs_f64` panics past about
        // 1.8e19 s, and a zero period panics tokio's `interval`.
        let secs = |var: &'static str, default: Duration| -> Result<Duration, ConfigError> {
            parse(
                &get,
                var,
                default.as_secs_f64(),
                "a number of seconds from 0.01 to 86400",
                |v: &f64| (MIN_SECS..=MAX_SECS).contains(v),
            )
            .map(Duration::from_secs_f64)
        };
        let days = |var: &'static str, default: f64| -> Result<Duration, ConfigError> {
            parse(
                &get,
                var,
                default,
                "a number of days above 0 and at most 36500",
                |days: &f64| *days > 0.0 && *days <= 36_500.0,
            )
            .map(|days| Duration::from_secs_f64(days * 86_400.0))
        };
        let list = |var: &str| -> Vec<String> {
            get(var)
                .map(|v| {
                    v.split(',')
                        .map(|o| o.trim().trim_end_matches('/').to_ascii_lowercase())
                        .filter(|o| !o.is_empty())
                        .collect()
                })
                .unwrap_or_default()
        };
        Ok(Config {
            allowed_origins: list("CHAT_ALLOWED_ORIGINS"),
            allowed_hosts: list("CHAT_ALLOWED_HOSTS"),
            rate_per_sec: num("CHAT_RATE_PER_SEC", d.rate_per_sec)?,
            rate_burst: num("CHAT_RATE_BURST", d.rate_burst)?,
            max_rooms_per_conn: count("CHAT_MAX_ROOMS_PER_CONN", d.max_rooms_per_conn)?,
            max_watched_rooms: count("CHAT_MAX_WATCHED_ROOMS", d.max_watched_rooms)?,
            max_rooms_total: count("CHAT_MAX_ROOMS", d.max_rooms_total)?,
            outbound_bytes: parse(
                &get,
                "CHAT_OUTBOUND_BYTES",
                d.outbound_bytes,
                "a number of bytes of at least 65536",
                |v| *v >= MIN_OUTBOUND_BYTES,
            )?,
            ping_interval: secs("CHAT_PING_INTERVAL_SECS", d.ping_interval)?,
            idle_timeout: secs("CHAT_IDLE_TIMEOUT_SECS", d.idle_timeout)?,
            store: StoreOptions {
                data_dir: get("CHAT_DATA_DIR")
                    .filter(|v| !v.is_empty())
                    .map_or(d.store.data_dir, PathBuf::from),
                sync: match get("CHAT_SYNC").as_deref().map(str::trim) {
                    None | Some("full") => SyncMode::Full,
                    Some("normal") => SyncMode::Normal,
                    Some(other) => {
                        return Err(ConfigError {
                            var: "CHAT_SYNC",
                            value: other.to_owned(),
                            expected: "full or normal",
                        })
                    }
                },
                busy_timeout: d.store.busy_timeout,
                database_url: get("CHAT_DATABASE_URL").filter(|v| !v.trim().is_empty()),
            },
            join_recent: d.join_recent,
            replay_cap: count("CHAT_REPLAY_CAP", d.replay_cap)?,
            max_identities: count("CHAT_MAX_IDENTITIES", d.max_identities)?,
            name_lease: days(
                "CHAT_NAME_LEASE_DAYS",
                d.name_lease.as_secs_f64() / 86_400.0,
            )?,
            identity_rate_per_min: num("CHAT_IDENTITY_RATE_PER_MIN", d.identity_rate_per_min)?,
            identity_burst: num("CHAT_IDENTITY_BURST", d.identity_burst)?,
            secure_cookies: match get("CHAT_SECURE_COOKIES").as_deref().map(str::trim) {
                None | Some("" | "0" | "false") => false,
                Some("1" | "true") => true,
                Some(other) => {
                    return Err(ConfigError {
                        var: "CHAT_SECURE_COOKIES",
                        value: other.to_owned(),
                        expected: "1 or 0",
                    })
                }
            },
            member_page: count("CHAT_MEMBER_PAGE", d.member_page)?,
            presence_threshold: count("CHAT_PRESENCE_THRESHOLD", d.presence_threshold)?,
            max_connections: count("CHAT_MAX_CONNECTIONS", d.max_connections)?,
            max_connections_per_addr: count(
                "CHAT_MAX_CONNECTIONS_PER_IP",
                d.max_connections_per_addr,
            )?,
            hello_timeout: secs("CHAT_HELLO_TIMEOUT_SECS", d.hello_timeout)?,
            node_lease: secs("CHAT_NODE_LEASE_SECS", d.node_lease)?,
            header_timeout: secs("CHAT_HEADER_TIMEOUT_SECS", d.header_timeout)?,
            body_timeout: secs("CHAT_BODY_TIMEOUT_SECS", d.body_timeout)?,
            client_ip_header: match get("CHAT_CLIENT_IP_HEADER").as_deref().map(str::trim) {
                None | Some("") => None,
                Some(name) => Some(name.parse().map_err(|_| ConfigError {
                    var: "CHAT_CLIENT_IP_HEADER",
                    value: name.to_owned(),
                    expected: "a header name, e.g. X-Forwarded-For or X-Real-IP",
                })?),
            },
            trusted_proxies: list("CHAT_TRUSTED_PROXIES")
                .iter()
                .map(|ip| {
                    ip.parse().map_err(|_| ConfigError {
                        var: "CHAT_TRUSTED_PROXIES",
                        value: ip.clone(),
                        expected: "IP addresses separated by commas",
                    })
                })
                .collect::<Result<_, _>>()?,
            request_rate_per_sec: num("CHAT_REQUEST_RATE_PER_SEC", d.request_rate_per_sec)?,
            request_burst: num("CHAT_REQUEST_BURST", d.request_burst)?,
            search_rate_per_sec: num("CHAT_SEARCH_RATE_PER_SEC", d.search_rate_per_sec)?,
            search_burst: num("CHAT_SEARCH_BURST", d.search_burst)?,
            search_budget: secs("CHAT_SEARCH_BUDGET_SECS", d.search_budget)?,
            search_addr_rate_per_sec: num(
                "CHAT_SEARCH_ADDR_RATE_PER_SEC",
                d.search_addr_rate_per_sec,
            )?,
            search_addr_burst: num("CHAT_SEARCH_ADDR_BURST", d.search_addr_burst)?,
            search_server_rate_per_sec: num(
                "CHAT_SEARCH_SERVER_RATE_PER_SEC",
                d.search_server_rate_per_sec,
            )?,
            search_server_burst: num("CHAT_SEARCH_SERVER_BURST", d.search_server_burst)?,
            ops_addr: match get("CHAT_OPS_ADDR").as_deref().map(str::trim) {
                None | Some("") => d.ops_addr,
                Some("off") => None,
                Some(addr) => Some(addr.parse().map_err(|_| ConfigError {
                    var: "CHAT_OPS_ADDR",
                    value: addr.to_owned(),
                    expected: "an address and port, e.g. 127.0.0.1:9090, or off",
                })?),
            },
            identity_net_rate_per_min: num(
                "CHAT_IDENTITY_NET_RATE_PER_MIN",
                d.identity_net_rate_per_min,
            )?,
            identity_net_burst: num("CHAT_IDENTITY_NET_BURST", d.identity_net_burst)?,
            identity_server_rate_per_min: num(
                "CHAT_IDENTITY_SERVER_RATE_PER_MIN",
                d.identity_server_rate_per_min,
            )?,
            identity_server_burst: num("CHAT_IDENTITY_SERVER_BURST", d.identity_server_burst)?,
            store_readers: count("CHAT_STORE_READERS", d.store_readers)?,
            search_readers: count("CHAT_SEARCH_READERS", d.search_readers)?,
            new_rooms_per_min: num("CHAT_NEW_ROOMS_PER_MIN", d.new_rooms_per_min)?,
            new_rooms_addr_per_min: num("CHAT_NEW_ROOMS_ADDR_PER_MIN", d.new_rooms_addr_per_min)?,
            empty_room_ttl: secs("CHAT_EMPTY_ROOM_SECS", d.empty_room_ttl)?,
            welcome_rooms: count("CHAT_WELCOME_ROOMS", d.welcome_rooms)?,
            retention: get("CHAT_RETENTION_DAYS")
                .map(|_| days("CHAT_RETENTION_DAYS", 0.0))
                .transpose()?,
            tls: tls_files(&get)?,
        })
    }
}

/// `CHAT_TLS_CERT` and `CHAT_TLS_KEY`: both or neither.
fn tls_files(get: &impl Fn(&str) -> Option<String>) -> Result<Option<TlsFiles>, ConfigError> {
    let path = |var| get(var).filter(|v| !v.trim().is_empty());
    match (path("CHAT_TLS_CERT"), path("CHAT_TLS_KEY")) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => Ok(Some(TlsFiles {
            cert: cert.into(),
            key: key.into(),
        })),
        (cert, _) => Err(ConfigError {
            var: if cert.is_some() {
                "CHAT_TLS_KEY"
            } else {
                "CHAT_TLS_CERT"
            },
            value: String::new(),
            expected: "a PEM file path: CHAT_TLS_CERT and CHAT_TLS_KEY go together",
        }),
    }
}

fn parse<T: FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    var: &'static str,
    default: T,
    expected: &'static str,
    valid: impl Fn(&T) -> bool,
) -> Result<T, ConfigError> {
    match get(var) {
        None => Ok(default),
        Some(raw) => match raw.trim().parse::<T>() {
            Ok(v) if valid(&v) => Ok(v),
            _ => Err(ConfigError {
                var,
                value: raw,
                expected,
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn from(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
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
