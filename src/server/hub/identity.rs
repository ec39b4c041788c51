//! Who is speaking: `hello`, the identity a form post speaks as, and how
//! new identities are limited.
//!
//! *1.1*: an identity owns its name while it is connected or was used
//! within the name lease ([`registry`](super::registry)). A connection
//! proves an identity with the `token` of an earlier `welcome`, or, from a
//! browser, with the identity cookie its upgrade request carried (see
//! [`crate::server::cookies`]); a new identity made for a connection with
//! a cookie takes the cookie's value as its token, so the browser proves it
//! from then on without page scripts ever seeing it: its `welcome` carries
//! an empty `token`. A `hello` with a proven identity reclaims it, closing
//! an older connection that holds it with [`CLOSE_REPLACED`].

use super::accounts::SignedIn;
use super::bucket::Bucket;
use super::names::{self, Name};
use super::registry::new_id;
use super::{ConnId, Hub, Session};
use crate::protocol::{ProtocolError, ServerFrame, UserInfo, CLOSE_REPLACED};
use crate::server::cookies::new_token;
use crate::store::pg::cluster::Event;
use crate::store::{now_ms, StoreError, StoreReader};
use std::net::IpAddr;
use std::sync::Arc;

/// Where a request comes from: the client address and the identity cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Client {
    /// The peer's address (IPv6 counted by /64 for limits).
    pub(crate) addr: IpAddr,
    /// The identity cookie's token, when the request carried a well-formed one.
    pub(crate) cookie: Option<String>,
    /// A token the answer to this request sets as the cookie (it carried
    /// none, or one that proved nothing): a new identity takes it, and
    /// still tells the client, which may not keep cookies (unless
    /// `replaced`).
    pub(crate) minted: Option<String>,
    /// *1.2*: the session the request is signed in with (checked in the
    /// store by the routes): it speaks as that account.
    pub(crate) account: Option<SignedIn>,
    /// The request carried an identity cookie that proved no identity and
    /// `minted` replaces it: the client keeps cookies, so a new identity's
    /// `welcome` need not show its token to page scripts.
    pub(crate) replaced: bool,
}

/// The key of an IPv6 address's network, its /48 (one site, or one
/// customer of a provider, usually holds a whole /48: 65,536 /64s). `None`
/// for IPv4 (and IPv4-mapped) addresses, which [`addr_key`] counts whole.
pub(crate) fn net_key(addr: IpAddr) -> Option<IpAddr> {
    let IpAddr::V6(v6) = addr else { return None };
    if v6.to_ipv4_mapped().is_some() {
        return None;
    }
    let mut segments = v6.segments();
    segments[3..].fill(0);
    // Marked apart from every /64 key (whose segment 7 is 0 too): a /48
    // and the /64 at its start must not share a bucket.
    segments[7] = 0x48;
    Some(IpAddr::V6(segments.into()))
}

/// The key a client address is limited by: IPv4 as is, IPv6 by its /64
/// (one subscriber usually holds a whole /64).
pub(crate) fn addr_key(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let mut segments = v6.segments();
                segments[4..].fill(0);
                IpAddr::V6(segments.into())
            }
        },
        v4 => v4,
    }
}

/// The read that claims a name in the database ([`Hub::claim_needed`]).
pub(super) type NameClaim =
    Box<dyn FnOnce(&dyn StoreReader) -> Result<bool, StoreError> + Send + 'static>;

/// Who may speak as a name, before anything changes ([`Hub::claim`]).
pub(super) struct Claim {
    /// The identity the token or cookie proves, if any.
    proven: Option<Arc<str>>,
    /// The id a new identity gets (none was proven).
    new_id: Arc<str>,
    /// The token to give the client, when it came as `token` (not by cookie).
    shown: Option<String>,
}

impl Claim {
    /// *1.2*: the claim a session proves: its account's identity.
    pub(super) fn signed(identity: Arc<str>) -> Claim {
        Claim {
            proven: Some(identity),
            new_id: new_id(),
            shown: None,
        }
    }

    /// The identity the token or cookie proves, if any.
    pub(super) fn proven(&self) -> Option<&str> {
        self.proven.as_deref()
    }
}

/// Who a request speaks as, once its name is checked.
pub(super) struct Speaker {
    /// The identity's id.
    pub(super) id: Arc<str>,
    /// The token to give the client: `None` when the cookie already holds it.
    pub(super) token: Option<String>,
}

impl Hub {
    pub(super) fn on_hello(
        &mut self,
        conn: ConnId,
        raw_name: Option<String>,
        token: Option<String>,
    ) -> Result<(), ProtocolError> {
        if self.session(conn)?.identity.is_some() {
            return Err(ProtocolError::bad_request(
                "this connection already said hello; reconnect to change name",
            ));
        }
        let client = self.session(conn)?.client.clone();
        if !self.config.guests && client.account.is_none() {
            return Err(ProtocolError::account_required());
        }
        let name = match (&client.account, raw_name.as_deref()) {
            (Some(signed), None | Some("")) => self.account_name(signed)?,
            (_, Some(raw)) => names::check(raw)?,
            (None, None) => {
                return Err(ProtocolError::bad_request(
                    "hello needs a name (only a signed-in connection may leave it out)",
                ))
            }
        };
        let token = token.filter(|t| !t.is_empty());
        let claim = self.claim(&name, token.as_deref(), &client)?;
        // *1.2* (section 4): an identity banned from the server is refused.
        if claim
            .proven
            .as_deref()
            .is_some_and(|id| self.server_banned(id))
        {
            return Err(ProtocolError::banned(None));
        }
        let Some(ask) = self.claim_needed(&claim, &name) else {
            return self.welcome(conn, claim, &name, &client);
        };
        // Several nodes: the name is claimed in the database first. The
        // connection's next frames wait for it; the hub goes on.
        let ticket = self.admit_read()?;
        self.session(conn)?.held = Some(Default::default());
        self.read_then(ticket, ask, move |hub, claimed| {
            let held = match hub.sessions.get_mut(&conn) {
                Some(s) => s.held.take().unwrap_or_default(),
                None => return, // gone meanwhile
            };
            let welcomed = claimed.and_then(|claimed| {
                hub.claimed(claimed, &claim, &name)?;
                hub.welcome(conn, claim, &name, &client)
            });
            if let Err(e) = welcomed {
                hub.refuse(conn, e, None);
            }
            for request in held {
                hub.on_request(conn, request);
            }
        });
        Ok(())
    }

    /// `conn` speaks as `name` from now on: the identity `claim` proves (an
    /// older connection holding it closed) or a new one; `welcome`.
    fn welcome(
        &mut self,
        conn: ConnId,
        claim: Claim,
        name: &Name,
        client: &Client,
    ) -> Result<(), ProtocolError> {
        let speaker = self.speak(claim, name, client)?;
        let now = now_ms();
        // A guest's identity is one connection: a newer one replaces it.
        // An account's sessions are its devices: each keeps its own.
        let signed_in = client.account.is_some();
        if signed_in {
            self.registry.take_also(&speaker.id, conn, now);
        } else {
            let old = match self.registry.get(&speaker.id) {
                Some(identity) => identity.conns.clone(),
                None => Vec::new(),
            };
            for old in old.into_iter().filter(|&old| old != conn) {
                if let Some(s) = self.sessions.get(&old) {
                    s.outbox
                        .close(CLOSE_REPLACED, "replaced by a newer connection");
                }
                self.remove_session(old);
            }
            self.registry.take(&speaker.id, conn, now);
        }
        let role = self.registry.get(&speaker.id).and_then(|i| i.account);
        if let Some(identity) = self.registry.get(&speaker.id) {
            let identity = identity.row();
            self.publish(Event::Hello { conn, identity });
        }
        let name: Arc<str> = Arc::from(name.display.as_str());
        let user = UserInfo {
            id: speaker.id.to_string(),
            name: name.to_string(),
            account: role.is_some(),
            role: role.map_or("guest", |r| r.as_str()).to_owned(),
        };
        let session = self.sessions.get_mut(&conn).expect("checked by the caller");
        // The cookie's part is done: an idle connection keeps no strings.
        session.client.cookie = None;
        session.client.minted = None;
        session.identity = Some(speaker.id.clone());
        session.name = name;
        let token = match client.replaced {
            true => String::new(), // the cookie the upgrade set holds it
            false => speaker.token.unwrap_or_default(),
        };
        let welcome = ServerFrame::Welcome {
            user,
            token,
            rooms: self.welcome_rooms(Some(&speaker.id)),
            mine: self.my_rooms(&speaker.id),
        };
        self.sessions[&conn].outbox.send(&welcome);
        Ok(())
    }

    /// Who may speak as `name`: the identity `token` (else the cookie)
    /// proves, if any. Refused with `name_taken` when another identity owns
    /// the name. Changes nothing: [`Hub::speak`] acts on the claim.
    pub(super) fn claim(
        &mut self,
        name: &Name,
        token: Option<&str>,
        client: &Client,
    ) -> Result<Claim, ProtocolError> {
        if let Some(signed) = &client.account {
            return self.signed_claim(signed, name);
        }
        let by_token = token.and_then(|t| self.registry.by_token(t));
        let claim = match by_token {
            Some(identity) => Claim {
                proven: Some(identity.id.clone()),
                new_id: new_id(),
                shown: token.map(str::to_owned),
            },
            None => Claim {
                new_id: new_id(),
                proven: client
                    .cookie
                    .as_deref()
                    .and_then(|c| self.registry.by_token(c))
                    .map(|i| i.id.clone()),
                shown: None,
            },
        };
        self.check_owner(&claim, name)?;
        Ok(claim)
    }

    /// Refuses with `name_taken` when an identity other than the one
    /// `claim` proves owns `name`.
    pub(super) fn check_owner(&self, claim: &Claim, name: &Name) -> Result<(), ProtocolError> {
        let owner = self.registry.owner(name, now_ms()).map(|i| i.id.clone());
        if owner.is_some() && owner != claim.proven {
            return Err(ProtocolError::name_taken(&name.display));
        }
        Ok(())
    }

    /// With several nodes (PostgreSQL), the read that claims `name` for
    /// `claim`'s identity in the database: another node may have given it
    /// to another identity a moment ago, which the registry here hears of
    /// only later. `None` when nothing is to be asked: alone, the
    /// registry's answer is the whole truth, and an identity's own name
    /// keys are its own already.
    pub(super) fn claim_needed(&self, claim: &Claim, name: &Name) -> Option<NameClaim> {
        self.cluster.as_ref()?;
        let id = match &claim.proven {
            Some(id) => id.clone(),
            None => claim.new_id.clone(),
        };
        let own = self
            .registry
            .get(&id)
            .is_some_and(|i| *i.name == *name.display);
        if own {
            return None;
        }
        let (keys, now, lease) = (name.keys.to_vec(), now_ms(), self.registry.lease_ms());
        Some(Box::new(move |reader: &dyn StoreReader| {
            reader.claim_name(&keys, &id, now, lease)
        }))
    }

    /// The database's answer to a [`Hub::claim_needed`] read, checked
    /// against the registry again (it may have changed during the read).
    pub(super) fn claimed(
        &self,
        claimed: bool,
        claim: &Claim,
        name: &Name,
    ) -> Result<(), ProtocolError> {
        if !claimed {
            return Err(ProtocolError::name_taken(&name.display));
        }
        self.check_owner(claim, name)
    }

    /// Speaks as `name` on a checked claim: the proven identity, renamed to
    /// `name` if need be, or a new one (within the limits on new identities).
    pub(super) fn speak(
        &mut self,
        claim: Claim,
        name: &Name,
        client: &Client,
    ) -> Result<Speaker, ProtocolError> {
        let now = now_ms();
        if let Some(id) = claim.proven {
            let identity = self.registry.get(&id).expect("claimed just now");
            if *identity.name != *name.display {
                self.registry.rename(&id, name.clone(), now);
                self.account_renamed(&id, name);
            }
            return Ok(Speaker {
                id,
                token: claim.shown,
            });
        }
        self.may_create_identity(client.addr, now)?;
        // Minted for this answer, never the request's cookie: a value
        // planted in the browser must not become the identity's token.
        let token = client.minted.clone().unwrap_or_else(new_token);
        let shown = Some(token.clone());
        let id = self
            .registry
            .create_as(claim.new_id, &token, name.clone(), now);
        Ok(Speaker { id, token: shown })
    }

    /// Takes one new identity from every allowance it counts against (its
    /// address's, IPv6 by /64; its network's, IPv6 by /48; the server's),
    /// nothing unless all allow it; and makes room under the cap: those
    /// past their lease first, else the identity unused longest.
    fn may_create_identity(&mut self, addr: IpAddr, now: u64) -> Result<(), ProtocolError> {
        let c = &self.config;
        let per_addr = (c.identity_rate_per_min / 60.0, c.identity_burst);
        let per_net = (c.identity_net_rate_per_min / 60.0, c.identity_net_burst);
        let per_server = (
            c.identity_server_rate_per_min / 60.0,
            c.identity_server_burst,
        );
        let refused = |(rate, burst): (f64, f64), what: &str| {
            Err(ProtocolError::rate_limited_new_names(
                rate * 60.0,
                burst,
                what,
            ))
        };
        let key = addr_key(addr);
        if !limit_bucket(&mut self.new_identities, key, per_addr.0, per_addr.1)
            .ready(per_addr.0, per_addr.1)
        {
            return refused(per_addr, "from your address");
        }
        let net = net_key(addr);
        if let Some(net) = net {
            if !limit_bucket(&mut self.new_identities, net, per_net.0, per_net.1)
                .ready(per_net.0, per_net.1)
            {
                return refused(per_net, "from your network");
            }
        }
        if !self.new_identities_all.ready(per_server.0, per_server.1) {
            return refused(per_server, "on this server");
        }
        if self.registry.len() >= self.config.max_identities
            && self.registry.sweep(now) == 0
            && !self.registry.evict_oldest()
        {
            tracing::warn!(
                identities = self.registry.len(),
                "identity cap reached; every identity is held by a connection"
            );
            return Err(ProtocolError::unavailable(
                "the server cannot take new names now; try again later",
            ));
        }
        self.new_identities_all.take(per_server.0, per_server.1);
        if let Some(net) = net {
            limit_bucket(&mut self.new_identities, net, per_net.0, per_net.1)
                .take(per_net.0, per_net.1);
        }
        limit_bucket(&mut self.new_identities, key, per_addr.0, per_addr.1)
            .take(per_addr.0, per_addr.1);
        Ok(())
    }

    /// True when `token` proves a known identity (a cookie worth keeping).
    pub(super) fn knows(&self, token: &str) -> bool {
        self.registry.by_token(token).is_some()
    }

    /// Frees the identity `session` held on `conn` (it is gone): offline
    /// now, it keeps its name for the lease.
    pub(super) fn release_identity(&mut self, conn: ConnId, session: &Session) {
        if let Some(id) = &session.identity {
            self.registry.release(id, conn, now_ms());
        }
    }
}

/// The bucket of `key` in `buckets`, made full if new. When the map is at
/// its bound, buckets that have refilled are dropped first (they lose nothing).
pub(crate) fn limit_bucket<K: std::hash::Hash + Eq>(
    buckets: &mut std::collections::HashMap<K, Bucket>,
    key: K,
    rate: f64,
    burst: f64,
) -> &mut Bucket {
    if buckets.len() >= MAX_BUCKETS {
        let now = std::time::Instant::now();
        buckets.retain(|_, b| !b.is_full(now, rate, burst));
    }
    buckets.entry(key).or_insert_with(|| Bucket::full(burst))
}

/// Most rate-limit buckets kept per kind before full ones are dropped.
const MAX_BUCKETS: usize = 100_000;
