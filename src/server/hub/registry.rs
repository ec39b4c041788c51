//! *1.1*: the identities, and which one owns each name.
//!
//! An identity owns its name, online or offline, until it has been unused
//! for the name lease; then the name is free, and the identity may be
//! forgotten. Tokens are known only by their SHA-256 (a token is 128 random
//! bits, so a fast hash is enough). The registry is the truth while the
//! server runs; every change is also recorded as an [`IdentityChange`] for
//! the store (the hub hands them to the commit thread), which loads them at
//! the next start.
//!
//! The identities no connection holds are also kept in the order of their
//! last use ([`Registry::idle`]), so forgetting those past their lease
//! ([`Registry::sweep`]) and, at the cap, the one unused longest
//! ([`Registry::evict_oldest`]) cost what they remove, not a walk over
//! every identity: an attempt at a name at the cap used to sweep them all.

use super::names::{self, Name};
use super::ConnId;
use crate::server::cookies::random_hex;
use crate::store::accounts::Role;
use crate::store::{IdentityChange, IdentityRow};
use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

/// One identity.
#[derive(Debug)]
pub(super) struct Identity {
    /// Public id (`user.id`).
    pub(super) id: Arc<str>,
    /// SHA-256 of its token.
    token_hash: [u8; 32],
    /// Its display name.
    pub(super) name: Arc<str>,
    /// Its name's keys (see [`names::keys`]).
    keys: [String; 2],
    /// The connections holding it now: one for a guest (a newer one
    /// replaces it), any number for an account's signed-in sessions.
    pub(super) conns: Vec<ConnId>,
    /// The other nodes' connections holding it now (PostgreSQL), by node id
    /// and connection.
    pub(super) remote: Vec<(Arc<str>, u64)>,
    /// Last use (ms since the epoch): when it was last taken or let go.
    seen_ms: u64,
    /// *1.2*: its account's role, when it has one: an account owns its
    /// name for good (no lease, never evicted at the cap).
    pub(super) account: Option<Role>,
}

impl Identity {
    /// A stored identity, held by no connection.
    fn offline(row: IdentityRow) -> Identity {
        Identity {
            id: Arc::from(row.id),
            token_hash: row.token_hash,
            keys: names::keys(&row.name),
            name: Arc::from(row.name),
            conns: Vec::new(),
            remote: Vec::new(),
            seen_ms: row.seen_ms,
            account: None,
        }
    }

    /// True while nothing but its lease keeps it: no connection here or on
    /// another node holds it, and it is no account. Only these are in
    /// [`Registry::idle`], to be swept or evicted.
    fn sweepable(&self) -> bool {
        self.conns.is_empty() && self.remote.is_empty() && self.account.is_none()
    }

    /// The identity as the store keeps it.
    pub(super) fn row(&self) -> IdentityRow {
        IdentityRow {
            id: self.id.to_string(),
            token_hash: self.token_hash,
            name: self.name.to_string(),
            seen_ms: self.seen_ms,
        }
    }
}

/// Every identity, by id, token hash and name key.
#[derive(Debug)]
pub(super) struct Registry {
    /// Identities by id.
    by_id: HashMap<Arc<str>, Identity>,
    /// Ids by token hash.
    by_token: HashMap<[u8; 32], Arc<str>>,
    /// Ids by name key; a key may point at an identity whose lease ran out.
    by_key: HashMap<String, Arc<str>>,
    /// The identities no connection holds (here or on another node), by
    /// last use, oldest first.
    idle: BTreeSet<(u64, Arc<str>)>,
    /// How long an unused identity keeps its name (ms).
    lease_ms: u64,
    /// Changes not yet handed to the store.
    changes: Vec<IdentityChange>,
}

/// A new identity's id: 64 random bits in hex.
pub(super) fn new_id() -> Arc<str> {
    Arc::from(random_hex(8))
}

/// SHA-256 of a token.
pub(super) use crate::server::cookies::secret_hash as token_hash;

impl Registry {
    /// The identities the store kept.
    pub(super) fn load(rows: Vec<IdentityRow>, lease_ms: u64) -> Registry {
        let mut registry = Registry {
            by_id: HashMap::with_capacity(rows.len()),
            by_token: HashMap::with_capacity(rows.len()),
            by_key: HashMap::with_capacity(rows.len() * 2),
            idle: BTreeSet::new(),
            lease_ms,
            changes: Vec::new(),
        };
        for row in rows {
            registry.insert(Identity::offline(row));
        }
        registry
    }

    /// How many identities there are.
    pub(super) fn len(&self) -> usize {
        self.by_id.len()
    }

    /// The identity with this id.
    pub(super) fn get(&self, id: &str) -> Option<&Identity> {
        self.by_id.get(id)
    }

    /// The identity `token` proves, if any.
    pub(super) fn by_token(&self, token: &str) -> Option<&Identity> {
        let id = self.by_token.get(&token_hash(token))?;
        self.by_id.get(id)
    }

    /// True while `identity` holds its name: connected, or used within the lease.
    fn leased(&self, identity: &Identity, now_ms: u64) -> bool {
        !identity.sweepable() || now_ms.saturating_sub(identity.seen_ms) < self.lease_ms
    }

    /// The identity that owns `name` now, if any.
    pub(super) fn owner<'a>(&'a self, name: &'a Name, now_ms: u64) -> Option<&'a Identity> {
        self.holders(name)
            .find(|identity| self.leased(identity, now_ms))
    }

    /// The identities `name`'s keys point at, leased or not.
    fn holders<'a>(&'a self, name: &'a Name) -> impl Iterator<Item = &'a Identity> + 'a {
        name.keys
            .iter()
            .filter_map(|k| self.by_id.get(self.by_key.get(k)?))
    }

    /// How long an unused identity keeps its name (ms).
    pub(super) fn lease_ms(&self) -> u64 {
        self.lease_ms
    }

    /// A new identity with `token`, owning `name` (the caller checked that
    /// it is free); returns its id.
    #[cfg(test)]
    pub(super) fn create(&mut self, token: &str, name: Name, now_ms: u64) -> Arc<str> {
        self.create_as(new_id(), token, name, now_ms)
    }

    /// [`Registry::create`] with the id `id` (chosen before, see [`new_id`]).
    pub(super) fn create_as(
        &mut self,
        id: Arc<str>,
        token: &str,
        name: Name,
        now_ms: u64,
    ) -> Arc<str> {
        self.free_keys(&name, now_ms);
        let identity = Identity {
            id: id.clone(),
            token_hash: token_hash(token),
            name: Arc::from(name.display),
            keys: name.keys,
            conns: Vec::new(),
            remote: Vec::new(),
            seen_ms: now_ms,
            account: None,
        };
        self.changes.push(IdentityChange::Save(identity.row()));
        self.insert(identity);
        id
    }

    /// Moves identity `id` to `name` (free, or its own) and frees its old name.
    pub(super) fn rename(&mut self, id: &str, name: Name, now_ms: u64) {
        self.free_keys(&name, now_ms);
        if let Some(identity) = self.move_keys(id, name, now_ms) {
            let row = identity.row();
            self.changes.push(IdentityChange::Save(row));
        }
    }

    /// Gives identity `id` the name `name` and its keys.
    fn move_keys(&mut self, id: &str, name: Name, now_ms: u64) -> Option<&Identity> {
        self.edit(id, |i| i.seen_ms = i.seen_ms.max(now_ms));
        let identity = self.by_id.get_mut(id)?;
        for key in &identity.keys {
            if self.by_key.get(key).is_some_and(|owner| **owner == *id) {
                self.by_key.remove(key);
            }
        }
        identity.name = Arc::from(name.display);
        identity.keys = name.keys;
        for key in &identity.keys {
            self.by_key.insert(key.clone(), identity.id.clone());
        }
        Some(identity)
    }

    /// Changes identity `id` by `change`, keeping [`Registry::idle`] in step
    /// (it holds the identity while no connection does, by its last use).
    fn edit(&mut self, id: &str, change: impl FnOnce(&mut Identity)) {
        let Some(identity) = self.by_id.get_mut(id) else {
            return;
        };
        if identity.sweepable() {
            self.idle.remove(&(identity.seen_ms, identity.id.clone()));
        }
        change(identity);
        if identity.sweepable() {
            self.idle.insert((identity.seen_ms, identity.id.clone()));
        }
    }

    /// An identity as another node has it now (PostgreSQL): added, or
    /// renamed, here too. That node stores it; nothing is recorded here.
    pub(super) fn merge_remote(&mut self, row: IdentityRow) {
        match self.by_id.get(row.id.as_str()) {
            Some(known) if *known.name == *row.name => {
                self.edit(&row.id, |i| i.seen_ms = i.seen_ms.max(row.seen_ms));
            }
            Some(_) => {
                let keys = names::keys(&row.name);
                let name = Name {
                    display: row.name,
                    keys,
                };
                self.move_keys(&row.id, name, row.seen_ms);
            }
            None => self.insert(Identity::offline(row)),
        }
    }

    /// *1.2*: identity `id` has an account with `role` (the store keeps
    /// the account; this is what the hub needs of it).
    pub(super) fn set_account(&mut self, id: &str, role: Role) {
        self.edit(id, |identity| identity.account = Some(role));
    }

    /// *1.2*: guest identity `id` becomes an account with `role`. Its token
    /// is replaced by one nobody holds: the browser's identity cookie and any
    /// `welcome` token stop proving it, so only a session does from now on
    /// (signing out must leave nothing else that signs in).
    pub(super) fn make_account(&mut self, id: &str, role: Role, now_ms: u64) {
        let Some(identity) = self.by_id.get(id) else {
            return;
        };
        self.by_token.remove(&identity.token_hash);
        let sealed = token_hash(&random_hex(32));
        self.by_token.insert(sealed, identity.id.clone());
        self.update(id, now_ms, |i| {
            i.token_hash = sealed;
            i.account = Some(role);
        });
    }

    /// *1.2*: identity `id`'s sign-up was not stored: a guest again (its
    /// token stays one nobody holds, so it goes with its lease).
    pub(super) fn unmake_account(&mut self, id: &str) {
        self.edit(id, |identity| identity.account = None);
    }

    /// Connection `conn` took identity `id` (older ones were closed first).
    pub(super) fn take(&mut self, id: &str, conn: ConnId, now_ms: u64) {
        self.update(id, now_ms, |i| {
            i.conns = vec![conn];
            i.remote.clear();
        });
    }

    /// *1.2*: connection `conn` holds account identity `id` too, beside
    /// its other signed-in connections.
    pub(super) fn take_also(&mut self, id: &str, conn: ConnId, now_ms: u64) {
        self.update(id, now_ms, |i| {
            if !i.conns.contains(&conn) {
                i.conns.push(conn);
            }
        });
    }

    /// Another node's connection `holder` took identity `id`: alone (this
    /// node closed its own first), or, for an account, `also`.
    pub(super) fn hold_remote(&mut self, id: &str, holder: (Arc<str>, u64), also: bool) {
        self.edit(id, |identity| {
            if !also {
                identity.conns.clear();
                identity.remote.clear();
            }
            if !identity.remote.contains(&holder) {
                identity.remote.push(holder);
            }
        });
    }

    /// Another node's connection `holder` ended (or its node did): if it
    /// held identity `id`, nobody does now, and its lease runs from `now_ms`.
    pub(super) fn release_remote(&mut self, id: &str, holder: &(Arc<str>, u64), now_ms: u64) {
        self.edit(id, |identity| {
            if let Some(at) = identity.remote.iter().position(|h| h == holder) {
                identity.remote.swap_remove(at);
                identity.seen_ms = identity.seen_ms.max(now_ms);
            }
        });
    }

    /// Connection `conn` ended: if it held identity `id`, nobody does now.
    pub(super) fn release(&mut self, id: &str, conn: ConnId, now_ms: u64) {
        if self.by_id.get(id).is_some_and(|i| i.conns.contains(&conn)) {
            self.update(id, now_ms, |i| i.conns.retain(|&c| c != conn));
        }
    }

    /// Identity `id` was used now without a connection (a form post).
    pub(super) fn used(&mut self, id: &str, now_ms: u64) {
        self.update(id, now_ms, |_| {});
    }

    fn update(&mut self, id: &str, now_ms: u64, change: impl FnOnce(&mut Identity)) {
        self.edit(id, |identity| {
            change(identity);
            identity.seen_ms = now_ms;
        });
        if let Some(identity) = self.by_id.get(id) {
            self.changes.push(IdentityChange::Save(identity.row()));
        }
    }

    /// Forgets every offline identity whose lease ran out, oldest first;
    /// returns how many. Costs what it forgets.
    pub(super) fn sweep(&mut self, now_ms: u64) -> usize {
        let mut forgotten = 0;
        while let Some((seen, id)) = self.idle.first().cloned() {
            if now_ms.saturating_sub(seen) < self.lease_ms {
                break;
            }
            self.forget(&id);
            forgotten += 1;
        }
        forgotten
    }

    /// Forgets the identity no connection holds that was unused longest,
    /// within its lease or not (the cap is reached: a new name must always
    /// be possible, and one network's flood can only push out identities
    /// idler than its own). False when every identity is held.
    pub(super) fn evict_oldest(&mut self) -> bool {
        let Some((_, id)) = self.idle.first().cloned() else {
            return false;
        };
        tracing::info!(%id, "identity cap reached: forgot the identity unused longest");
        self.forget(&id);
        true
    }

    /// The changes since the last call, for the store.
    pub(super) fn take_changes(&mut self) -> Vec<IdentityChange> {
        std::mem::take(&mut self.changes)
    }

    /// Forgets the expired owners of `name`'s keys, so the keys can move.
    fn free_keys(&mut self, name: &Name, now_ms: u64) {
        let expired: Vec<Arc<str>> = self
            .holders(name)
            .filter(|i| !self.leased(i, now_ms))
            .map(|i| i.id.clone())
            .collect();
        for id in &expired {
            self.forget(id);
        }
    }

    fn insert(&mut self, identity: Identity) {
        if identity.sweepable() {
            self.idle.insert((identity.seen_ms, identity.id.clone()));
        }
        self.by_token
            .insert(identity.token_hash, identity.id.clone());
        for key in &identity.keys {
            self.by_key.insert(key.clone(), identity.id.clone());
        }
        self.by_id.insert(identity.id.clone(), identity);
    }

    /// Forgets identity `id` now, whatever holds it (its account is being
    /// deleted: its connections were closed first): its name is free.
    pub(super) fn forget_now(&mut self, id: &str) {
        self.forget(id);
    }

    fn forget(&mut self, id: &str) {
        let Some(identity) = self.by_id.remove(id) else {
            return;
        };
        self.idle.remove(&(identity.seen_ms, identity.id.clone()));
        self.by_token.remove(&identity.token_hash);
        for key in &identity.keys {
            if self.by_key.get(key).is_some_and(|owner| **owner == *id) {
                self.by_key.remove(key);
            }
        }
        self.changes.push(IdentityChange::Forget(id.to_owned()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEASE: u64 = 1_000;

    fn name(raw: &str) -> Name {
        names::check(raw).unwrap()
    }

    #[test]
    fn a_name_is_owned_until_exactly_the_lease_has_passed_unused() {
        let mut r = Registry::load(Vec::new(), LEASE);
        let ada = r.create("t-ada", name("Ada"), 10_000);
        r.take(&ada, 1, 10_000);
        // Connected: owned however long ago it was taken.
        assert!(r.owner(&name("ada"), 10_000 + 5 * LEASE).is_some());
        r.release(&ada, 1, 20_000);
        let owner = |r: &Registry, at| r.owner(&name("\u{410}da"), at).map(|i| i.id.clone());
        assert_eq!(owner(&r, 20_000 + LEASE - 1), Some(ada.clone()));
        assert_eq!(owner(&r, 20_000 + LEASE), None);
        // The name moves; the old identity is forgotten, with its token.
        let other = r.create("t-other", name("ADA"), 20_000 + LEASE);
        assert!(r.by_token("t-ada").is_none());
        assert_eq!(owner(&r, 20_000 + LEASE), Some(other));
        let changes = r.take_changes();
        assert!(changes.contains(&IdentityChange::Forget(ada.to_string())));
    }

    #[test]
    fn renaming_frees_the_old_name_and_tokens_are_kept_as_hashes() {
        let mut r = Registry::load(Vec::new(), LEASE);
        let id = r.create("secret", name("Ada"), 0);
        r.rename(&id, name("Grace"), 1);
        assert!(r.owner(&name("ada"), 2).is_none());
        assert_eq!(r.owner(&name("grace"), 2).unwrap().id, id);
        assert_eq!(r.by_token("secret").unwrap().id, id);
        let rows: Vec<IdentityRow> = r
            .take_changes()
            .into_iter()
            .filter_map(|c| match c {
                IdentityChange::Save(row) => Some(row),
                IdentityChange::Forget(_) => None,
            })
            .collect();
        assert_eq!(rows.last().unwrap().name, "Grace");
        assert_eq!(rows.last().unwrap().token_hash, token_hash("secret"));
        // Loaded again (a restart): the same owner, by name and token.
        let again = Registry::load(rows[1..].to_vec(), LEASE);
        assert_eq!(again.owner(&name("GRACE"), 2).unwrap().id, id);
        assert_eq!(again.by_token("secret").unwrap().id, id);
    }

    #[test]
    fn at_the_cap_the_identity_unused_longest_goes_and_a_held_one_never() {
        let mut r = Registry::load(Vec::new(), LEASE);
        let held = r.create("a", name("Held"), 0);
        r.take(&held, 1, 0);
        let oldest = r.create("b", name("Oldest"), 10);
        let newer = r.create("c", name("Newer"), 20);
        // Used again later (a form post): now the newest.
        r.used(&oldest, 30);
        assert!(r.evict_oldest());
        assert!(r.get(&newer).is_none(), "unused longest");
        assert!(r.get(&oldest).is_some() && r.get(&held).is_some());
        assert!(r.evict_oldest());
        assert!(r.get(&oldest).is_none());
        assert!(!r.evict_oldest(), "only a held identity is left");
        assert!(r.get(&held).is_some());
        // Let go: it can go too, and so can one another node held.
        r.release(&held, 1, 40);
        let remote = r.create("d", name("Remote"), 50);
        r.hold_remote(&remote, (Arc::from("node"), 9), false);
        assert!(r.evict_oldest());
        assert!(r.get(&held).is_none());
        assert!(!r.evict_oldest(), "held on another node");
        r.release_remote(&remote, &(Arc::from("node"), 9), 60);
        assert!(r.evict_oldest());
        assert_eq!(r.len(), 0);
    }

    #[test]
    fn a_sweep_forgets_only_identities_past_their_lease() {
        let mut r = Registry::load(Vec::new(), LEASE);
        let old = r.create("a", name("Old"), 0);
        let live = r.create("b", name("Live"), 0);
        r.take(&live, 7, 0);
        let recent = r.create("c", name("Recent"), LEASE);
        assert_eq!(r.sweep(LEASE), 1);
        assert!(r.get(&old).is_none());
        assert!(r.get(&live).is_some() && r.get(&recent).is_some());
    }

    #[test]
    fn an_account_owns_its_name_past_any_lease_and_is_never_swept_or_evicted() {
        let mut r = Registry::load(Vec::new(), LEASE);
        let ada = r.create("a", name("Ada"), 0);
        let guest = r.create("b", name("Guest"), 0);
        r.set_account(&ada, Role::User);
        let long_after = 100 * LEASE;
        assert_eq!(r.sweep(long_after), 1, "the guest alone");
        assert!(r.get(&guest).is_none());
        assert_eq!(r.owner(&name("ADA"), long_after).unwrap().id, ada);
        // A new identity (the hub refuses the name first: `name_taken`)
        // never forgets an account as it would an expired owner.
        r.create("c", name("Other"), long_after);
        let _ = r.create_as(new_id(), "d", name("Ada"), long_after);
        assert_eq!(r.get(&ada).map(|i| i.account), Some(Some(Role::User)));
        r.sweep(long_after * 3);
        assert_eq!(r.len(), 1, "the guests swept, the account kept");
        // At the cap only guests make room.
        r.create("e", name("Eve"), long_after);
        assert!(r.evict_oldest());
        assert!(!r.evict_oldest(), "an account is never evicted");
        assert!(r.get(&ada).is_some());
        // Held and let go, it is still no guest.
        r.take(&ada, 1, long_after);
        r.release(&ada, 1, long_after);
        assert_eq!(r.sweep(long_after * 5), 0);
        assert!(!r.evict_oldest());
    }
}
