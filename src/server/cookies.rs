//! The two cookies, and the [`Client`] a request comes from.
//!
//! - `chat_id` (*1.1*): the browser's identity token, `HttpOnly` (page
//!   scripts never see it), `SameSite=Lax`; under HTTPS (`CHAT_TLS_CERT`
//!   or `CHAT_SECURE_COOKIES`) `Secure` and named `__Host-chat_id`, which
//!   browsers accept only from the host itself over HTTPS (no sibling
//!   subdomain or plain-HTTP hop can plant it). Every value is minted by
//!   the server: the page and the `/ws` upgrade set a fresh one when a
//!   request has none, or one that proves no identity (the upgrade asks the
//!   hub); the identity made for that browser (by `hello` or the form)
//!   takes a token minted for that answer, never a value the request
//!   carried, so a cookie someone planted is never adopted. Browsers send
//!   cookies with same-origin WebSocket upgrades, and the upgrade's origin
//!   check keeps other sites from using them.
//! - `chat_name`: the name the form last posted with, to fill the form in.
//! - *1.2* `chat_session` (`__Host-chat_session` under HTTPS): a signed-in
//!   session's id, 256 random bits minted at each sign-in (never a value
//!   the request carried), kept by the store only as its SHA-256; same
//!   attributes as `chat_id`, lasting as long as a session may go unused.

use super::config::Config;
use super::hub::Client;
use crate::protocol::validate_name;
use axum::extract::{ConnectInfo, Request};
use axum::http::{header, HeaderMap, HeaderValue};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// The identity cookie's name over plain HTTP.
pub(crate) const IDENTITY_COOKIE: &str = "chat_id";
/// Its name under HTTPS: `__Host-` (Secure, `Path=/`, no `Domain`).
pub(crate) const HOST_IDENTITY_COOKIE: &str = "__Host-chat_id";
/// The session cookie's name over plain HTTP.
pub(crate) const SESSION_COOKIE: &str = "chat_session";
/// Its name under HTTPS.
pub(crate) const HOST_SESSION_COOKIE: &str = "__Host-chat_session";
/// The name cookie's name.
const NAME_COOKIE: &str = "chat_name";
/// How long the name cookie lasts (s): a year.
const NAME_COOKIE_SECS: u64 = 365 * 24 * 3600;

/// `bytes` random bytes from the OS, as lower-case hex.
pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the OS random source works");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// SHA-256 of a secret the server minted (an identity token, a session
/// id, an API token, an invite code, the admin secret): all the store and
/// the hub keep of it. Each has 128 random bits or more, so a fast hash is
/// enough.
pub(crate) fn secret_hash(secret: &str) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(secret.as_bytes()).into()
}

/// A new identity token: 128 random bits.
pub(crate) fn new_token() -> String {
    random_hex(16)
}

/// A new session id: 256 random bits.
pub(crate) fn new_session_id() -> String {
    random_hex(32)
}

/// True for `len` lower-case hex digits ([`new_token`]: 32, [`new_session_id`]: 64).
fn hex_of(value: &str, len: usize) -> bool {
    value.len() == len
        && value
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// True for a value [`new_token`] could have made.
fn well_formed(token: &str) -> bool {
    hex_of(token, 32)
}

/// The values of cookie `name` in `headers`.
fn values<'a>(headers: &'a HeaderMap, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(move |pair| pair.trim().strip_prefix(name)?.strip_prefix('='))
}

/// True when the cookies are for HTTPS only.
fn secure(config: &Config) -> bool {
    config.secure_cookies || config.tls.is_some()
}

/// The identity cookie's name under `config` (see the module docs).
fn identity_cookie(config: &Config) -> &'static str {
    match secure(config) {
        true => HOST_IDENTITY_COOKIE,
        false => IDENTITY_COOKIE,
    }
}

/// The session cookie's name under `config`.
fn session_cookie(config: &Config) -> &'static str {
    match secure(config) {
        true => HOST_SESSION_COOKIE,
        false => SESSION_COOKIE,
    }
}

/// The session id the request's cookie carries, if well-formed.
pub(crate) fn session_id(headers: &HeaderMap, config: &Config) -> Option<String> {
    values(headers, session_cookie(config))
        .find(|v| hex_of(v, 64))
        .map(str::to_owned)
}

/// `Set-Cookie` for a new session's id.
pub(crate) fn set_session(id: &str, config: &Config) -> HeaderValue {
    let max_age = config.session_idle.as_secs();
    set_cookie(session_cookie(config), id, max_age, config)
}

/// `Set-Cookie` that removes the session cookie (signed out).
pub(crate) fn clear_session(config: &Config) -> HeaderValue {
    set_cookie(session_cookie(config), "", 0, config)
}

/// The identity token the request's cookie carries, if well-formed.
pub(crate) fn identity(headers: &HeaderMap, config: &Config) -> Option<String> {
    values(headers, identity_cookie(config))
        .find(|v| well_formed(v))
        .map(str::to_owned)
}

/// Who sent `request`: its address and its identity cookie. When it carried
/// no identity cookie, a new token is minted for the answer to set
/// ([`Client::minted`]).
pub(crate) fn client(request: &Request, config: &Config) -> Client {
    let cookie = identity(request.headers(), config);
    Client {
        addr: client_addr(request, config),
        minted: cookie.is_none().then(new_token),
        cookie,
        replaced: false,
        account: None,
    }
}

/// The client's address: the peer's (unspecified when the server runs
/// without connection info, as in tests driving the router directly), or,
/// from a loopback peer or a trusted proxy, what the configured header says
/// (`X-Forwarded-For`: the last address, the one the proxy added). A header
/// that is missing or unreadable leaves the peer's address.
fn client_addr(request: &Request, config: &Config) -> IpAddr {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip());
    let Some(name) = &config.client_ip_header else {
        return peer;
    };
    if !peer.is_loopback() && !config.trusted_proxies.contains(&peer) {
        return peer;
    }
    request
        .headers()
        .get_all(name)
        .iter()
        .next_back()
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(peer)
}

/// `Set-Cookie` for `name=value` (ASCII), lasting `max_age_secs`, with the
/// attributes both cookies share.
fn set_cookie(name: &str, value: &str, max_age_secs: u64, config: &Config) -> HeaderValue {
    let secure = if secure(config) { "; Secure" } else { "" };
    let cookie =
        format!("{name}={value}; Path=/; Max-Age={max_age_secs}; SameSite=Lax; HttpOnly{secure}");
    HeaderValue::from_str(&cookie).expect("an ASCII cookie")
}

/// `Set-Cookie` for the identity token: it lasts as long as the name lease.
pub(crate) fn set_identity(token: &str, config: &Config) -> HeaderValue {
    let max_age = config.name_lease.as_secs();
    set_cookie(identity_cookie(config), token, max_age, config)
}

/// The name an earlier form post remembered, if it is still a valid name.
pub(crate) fn name(headers: &HeaderMap) -> Option<String> {
    values(headers, NAME_COOKIE).find_map(|value| {
        let encoded = format!("n={value}");
        let (_, name) = form_urlencoded::parse(encoded.as_bytes()).next()?;
        validate_name(&name).ok().map(str::to_owned)
    })
}

/// `Set-Cookie` remembering the form's name.
pub(crate) fn set_name(name: &str, config: &Config) -> HeaderValue {
    let encoded: String = form_urlencoded::byte_serialize(name.as_bytes()).collect();
    set_cookie(NAME_COOKIE, &encoded, NAME_COOKIE_SECS, config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_name_cookie_is_decoded_and_checked() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; chat_name=Zo%C3%AB+K; c=d"),
        );
        assert_eq!(name(&headers).as_deref(), Some("Zoë K"));
        headers.insert(header::COOKIE, HeaderValue::from_static("chat_name=%07"));
        assert_eq!(name(&headers), None);
    }

    #[test]
    fn only_a_well_formed_identity_cookie_counts() {
        let token = new_token();
        let mut headers = HeaderMap::new();
        let cookie = format!("chat_id=nope; chat_id={token}");
        headers.insert(header::COOKIE, HeaderValue::from_str(&cookie).unwrap());
        let config = Config::default();
        assert_eq!(identity(&headers, &config), Some(token));
        for bad in [
            "chat_id=ABCDEF",
            "chat_id=",
            "chat_idx=00000000000000000000000000000000",
        ] {
            headers.insert(header::COOKIE, HeaderValue::from_static(bad));
            assert_eq!(identity(&headers, &config), None, "{bad}");
        }
    }

    #[test]
    fn the_session_cookie_is_minted_hashed_elsewhere_and_host_only_under_https() {
        let id = new_session_id();
        assert_eq!(id.len(), 64, "256 bits");
        let plain = Config::default();
        let set = set_session(&id, &plain);
        let set = set.to_str().unwrap();
        assert!(set.starts_with(&format!("chat_session={id}; Path=/; Max-Age=2592000;")));
        assert!(set.contains("SameSite=Lax; HttpOnly") && !set.contains("Secure"));
        let secure = Config {
            secure_cookies: true,
            ..Config::default()
        };
        let set = set_session(&id, &secure);
        assert!(set.to_str().unwrap().starts_with("__Host-chat_session="));
        assert!(set.to_str().unwrap().ends_with("; Secure"));
        let cleared = clear_session(&secure);
        assert!(cleared
            .to_str()
            .unwrap()
            .starts_with("__Host-chat_session=; Path=/; Max-Age=0;"));
        // Only a value of the right shape, under the right name, is read.
        let mut headers = HeaderMap::new();
        let both = format!("chat_session={id}; __Host-chat_session=nothex");
        headers.insert(header::COOKIE, HeaderValue::from_str(&both).unwrap());
        assert_eq!(session_id(&headers, &plain), Some(id.clone()));
        assert_eq!(
            session_id(&headers, &secure),
            None,
            "plain name under HTTPS"
        );
        let short = format!("chat_session={}", &id[..63]);
        headers.insert(header::COOKIE, HeaderValue::from_str(&short).unwrap());
        assert_eq!(session_id(&headers, &plain), None);
    }

    #[test]
    fn the_identity_cookie_is_http_only_lax_and_secure_when_asked() {
        let config = Config::default();
        let plain = set_identity("ab", &config);
        let plain = plain.to_str().unwrap();
        assert!(plain.contains("HttpOnly") && plain.contains("SameSite=Lax"));
        assert!(plain.contains("Max-Age=2592000") && !plain.contains("Secure"));
        let secure = Config {
            secure_cookies: true,
            ..Config::default()
        };
        let cookie = set_identity("ab", &secure);
        let cookie = cookie.to_str().unwrap();
        assert!(cookie.starts_with("__Host-chat_id=ab; Path=/;"), "{cookie}");
        assert!(cookie.ends_with("; Secure") && !cookie.contains("Domain"));
        // Under HTTPS only the __Host- cookie counts: a plain one could
        // have been planted by a sibling domain or over plain HTTP.
        let token = new_token();
        let mut headers = HeaderMap::new();
        let plain = format!("chat_id={token}");
        headers.insert(header::COOKIE, HeaderValue::from_str(&plain).unwrap());
        assert_eq!(identity(&headers, &secure), None);
        let host = format!("__Host-chat_id={token}");
        headers.insert(header::COOKIE, HeaderValue::from_str(&host).unwrap());
        assert_eq!(identity(&headers, &secure), Some(token));
    }
}
