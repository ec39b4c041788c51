//! Who may open a WebSocket: at most [`Config::max_connections`] in all and
//! [`Config::max_connections_per_addr`] from one client address (IPv6 by
//! /64), refused at the upgrade with 503 or 429 and a reason. A [`Ticket`]
//! holds a place until the connection ends.

use super::config::Config;
use super::hub::addr_key;
use axum::http::StatusCode;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// The places taken, by client address.
#[derive(Debug, Default)]
struct Taken {
    /// Places taken in all.
    total: usize,
    /// Places taken per address key (entries at zero are removed).
    by_addr: HashMap<IpAddr, usize>,
}

/// Connection places; see the module docs.
#[derive(Debug)]
pub(crate) struct Admission {
    /// Most connections in all.
    max_total: usize,
    /// Most connections from one address key.
    max_per_addr: usize,
    /// What is taken. A mutex: upgrades are rare next to messages.
    taken: Mutex<Taken>,
}

/// Why an upgrade was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The server holds its most connections.
    Full,
    /// This address holds its most connections.
    AddrFull,
}

impl Refusal {
    /// The status and body an upgrade is refused with.
    pub(crate) fn response(self) -> (StatusCode, &'static str) {
        match self {
            Refusal::Full => (
                StatusCode::SERVICE_UNAVAILABLE,
                "the server has its most connections (CHAT_MAX_CONNECTIONS); try again later",
            ),
            Refusal::AddrFull => (
                StatusCode::TOO_MANY_REQUESTS,
                "too many connections from your address (CHAT_MAX_CONNECTIONS_PER_IP)",
            ),
        }
    }

    /// The reason, as a metric label.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Refusal::Full => "server_full",
            Refusal::AddrFull => "address_full",
        }
    }
}

/// One connection's place, given back when dropped.
#[derive(Debug)]
pub(crate) struct Ticket {
    /// Where it was taken.
    admission: Arc<Admission>,
    /// The address key it counts for.
    key: IpAddr,
}

impl Admission {
    pub(crate) fn new(config: &Config) -> Arc<Admission> {
        Arc::new(Admission {
            max_total: config.max_connections,
            max_per_addr: config.max_connections_per_addr,
            taken: Mutex::new(Taken::default()),
        })
    }

    /// A place for a connection from `addr`, or why there is none.
    pub(crate) fn admit(self: &Arc<Self>, addr: IpAddr) -> Result<Ticket, Refusal> {
        let key = addr_key(addr);
        let mut taken = self.taken.lock().expect("admission lock");
        if taken.total >= self.max_total {
            return Err(Refusal::Full);
        }
        let mine = taken.by_addr.entry(key).or_default();
        if *mine >= self.max_per_addr {
            return Err(Refusal::AddrFull);
        }
        *mine += 1;
        taken.total += 1;
        Ok(Ticket {
            admission: self.clone(),
            key,
        })
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut taken = self.admission.taken.lock().expect("admission lock");
        taken.total -= 1;
        if let Some(mine) = taken.by_addr.get_mut(&self.key) {
            *mine -= 1;
            if *mine == 0 {
                taken.by_addr.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admission(total: usize, per_addr: usize) -> Arc<Admission> {
        Admission::new(&Config {
            max_connections: total,
            max_connections_per_addr: per_addr,
            ..Config::default()
        })
    }

    #[test]
    fn places_per_address_and_in_all_are_given_back_when_dropped() {
        let a = admission(3, 2);
        let one: IpAddr = "10.0.0.1".parse().unwrap();
        let two: IpAddr = "10.0.0.2".parse().unwrap();
        let first = a.admit(one).unwrap();
        let _second = a.admit(one).unwrap();
        assert_eq!(a.admit(one).unwrap_err(), Refusal::AddrFull);
        let _third = a.admit(two).unwrap();
        assert_eq!(a.admit(two).unwrap_err(), Refusal::Full);
        drop(first);
        assert!(a.admit(one).is_ok());
        assert!(a.taken.lock().unwrap().by_addr.len() <= 2);
    }

    #[test]
    fn one_ipv6_64_is_one_address() {
        let a = admission(10, 1);
        let _held = a.admit("2001:db8::1".parse().unwrap()).unwrap();
        let same = a.admit("2001:db8::ffff:1".parse().unwrap());
        assert_eq!(same.unwrap_err(), Refusal::AddrFull);
        assert!(a.admit("2001:db8:0:1::1".parse().unwrap()).is_ok());
    }
}
