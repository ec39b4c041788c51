//! *1.2*: accounts in the hub: signing up (a guest identity, or a new
//! one, becomes an account), connections signed in by a session (several
//! per account, on any node), and sessions that end (their connections
//! close with [`CLOSE_SESSION_ENDED`], on every node).
//!
//! The hub holds what it needs of an account: that the identity has one
//! and its role ([`Registry`](super::registry)). Passwords are hashed and
//! checked, and sessions read, by the routes
//! ([`crate::server::accounts`]), never here; their writes come through
//! the hub only to keep the commit thread's order (an account's identity is
//! stored before the account).

use super::identity::Claim;
use super::names::{self, Name};
use super::{Client, Command, ConnId, Hub, HubHandle, Reply};
use crate::protocol::{ErrorCode, ProtocolError, CLOSE_SESSION_ENDED};
use crate::store::accounts::{AccountChange, AccountRow, Role, SessionRow};
use crate::store::grants::{GrantChange, INVITE_REFUSED};
use crate::store::group_commit::Job;
use crate::store::pg::cluster::Event;
use crate::store::pool::Kind;
use crate::store::{now_ms, StoreError, StoreReader};
use std::sync::Arc;
use tokio::sync::oneshot;

/// A request signed in by a session or an API token, as the routes
/// checked it in the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SignedIn {
    /// SHA-256 of the session id.
    pub(crate) hash: [u8; 32],
    /// The account's identity id.
    pub(crate) identity: Arc<str>,
    /// Its server role.
    pub(crate) role: Role,
    /// The rooms it may join and post to, when an API token limits it;
    /// `None`: any room.
    pub(crate) rooms: Option<Arc<[String]>>,
}

/// A sign-up, its password already hashed (off the hub).
#[derive(Debug)]
pub(crate) struct SignUp {
    /// Who asks: its identity cookie's guest identity becomes the account.
    pub(crate) client: Client,
    /// The name wanted.
    pub(crate) name: String,
    /// The password's Argon2id PHC string.
    pub(crate) password: String,
    /// Its role (`admin` only from the admin command line).
    pub(crate) role: Role,
    /// The invite it uses (its hash), if one is needed: used in the same
    /// transaction, so an invite used up meanwhile refuses the sign-up.
    pub(crate) invite: Option<[u8; 32]>,
    /// The session to begin (its `identity` is filled in here), if any.
    pub(crate) session: Option<SessionRow>,
}

/// A sign-up done and committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SignedUp {
    /// The account's identity id (the guest's, when there was one).
    pub(crate) identity: Arc<str>,
    /// Its name.
    pub(crate) name: String,
}

/// Sessions to end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ending {
    /// This one session of `identity` (signing out).
    One {
        /// The account.
        identity: Arc<str>,
        /// The session's hash.
        hash: [u8; 32],
    },
    /// Every session of `identity` but `except` (signing out everywhere,
    /// with no exception; a password change, sparing the session that
    /// changed it).
    All {
        /// The account.
        identity: Arc<str>,
        /// The session kept.
        except: Option<[u8; 32]>,
    },
}

impl Ending {
    /// The account whose sessions end.
    fn identity(&self) -> &Arc<str> {
        match self {
            Ending::One { identity, .. } | Ending::All { identity, .. } => identity,
        }
    }

    /// True when the session `hash` ends.
    pub(crate) fn ends(&self, hash: &[u8; 32]) -> bool {
        match self {
            Ending::One { hash: one, .. } => one == hash,
            Ending::All { except, .. } => except.as_ref() != Some(hash),
        }
    }

    /// The store's change.
    fn change(&self) -> AccountChange {
        match self {
            Ending::One { hash, .. } => AccountChange::EndSession(*hash),
            Ending::All { identity, except } => AccountChange::EndSessions {
                identity: identity.to_string(),
                except: *except,
            },
        }
    }
}

/// Whose name [`AccountCommand::Name`] asks for.
#[derive(Debug)]
pub(crate) enum Who {
    /// An identity, by id.
    Identity(Arc<str>),
    /// The guest a request's identity cookie proves.
    Guest(Client),
}

/// Where "committed, or not" goes.
pub(crate) type Committed = oneshot::Sender<Result<(), StoreError>>;

/// What the routes ask of the hub about accounts.
#[derive(Debug)]
pub(crate) enum AccountCommand {
    /// Make an account, and its first session.
    SignUp {
        /// The sign-up (boxed: the largest command by far).
        sign_up: Box<SignUp>,
        /// Answered once committed.
        reply: Reply<SignedUp>,
    },
    /// Store `changes` (sign-in sessions, failure counts, a password), in order.
    Save {
        /// The changes.
        changes: Vec<AccountChange>,
        /// Told once committed, if anyone waits.
        done: Option<Committed>,
    },
    /// The name of an identity: the one `identity` names, or the guest
    /// (no account) that a request's identity cookie proves.
    Name {
        /// Whose.
        who: Who,
        /// The answer; `None`: no such identity.
        reply: oneshot::Sender<Option<String>>,
    },
    /// A sign-up was not stored: the identity is no account after all.
    Unmake {
        /// Its identity.
        identity: Arc<str>,
    },
    /// Delete an account ([`super::erase`]).
    Erase(super::erase::Erasing),
    /// End sessions: stored, and their connections here and on every node closed.
    End {
        /// Which.
        ending: Ending,
        /// Told once committed.
        done: Option<Committed>,
    },
}

impl Hub {
    pub(super) fn on_account(&mut self, command: AccountCommand) {
        match command {
            AccountCommand::SignUp { sign_up, reply } => self.on_sign_up(*sign_up, reply),
            AccountCommand::Save { changes, done } => {
                for change in &changes {
                    if let AccountChange::SaveAccount(account) = change {
                        self.account_is(&account.identity, account.role);
                    }
                }
                self.queue_accounts(changes, done)
            }
            AccountCommand::Unmake { identity } => self.registry.unmake_account(&identity),
            AccountCommand::Name { who, reply } => {
                let identity = match &who {
                    Who::Identity(id) => self.registry.get(id),
                    Who::Guest(client) => client
                        .cookie
                        .as_deref()
                        .and_then(|c| self.registry.by_token(c))
                        .filter(|i| i.account.is_none()),
                };
                let _ = reply.send(identity.map(|i| i.name.to_string()));
            }
            AccountCommand::Erase(erasing) => self.on_erase(erasing),
            AccountCommand::End { ending, done } => {
                self.queue_accounts(vec![ending.change()], done);
                self.end_sessions(&ending);
                self.publish(Event::SessionsEnded(ending_event(&ending)));
            }
        }
    }

    /// Queues account changes after every identity change the hub holds,
    /// so they are stored in that order; a full queue answers `done` with
    /// the refusal.
    pub(super) fn queue_accounts(&mut self, changes: Vec<AccountChange>, done: Option<Committed>) {
        let fresh = self.registry.take_changes();
        self.publish_identities(&fresh);
        let mut identities: Vec<_> = self.unsaved.drain(..).collect();
        identities.extend(fresh);
        let job = Job::Accounts {
            identities,
            changes,
            done,
        };
        let Some(writer) = &self.writer else {
            return; // shutting down: the dropped `done` says so
        };
        if let Err(e) = writer.try_send(job) {
            let Job::Accounts {
                identities, done, ..
            } = e.into_inner()
            else {
                unreachable!("sent an accounts job")
            };
            self.unsaved.extend(identities);
            if let Some(done) = done {
                let busy = StoreError::Failed("the server is too busy; try again".into());
                let _ = done.send(Err(busy));
            }
        }
    }

    /// Each sweep: sessions unused for `CHAT_SESSION_DAYS` end, and failure
    /// counts whose window is over go (an attacker's typed names too).
    /// Nobody waits; a full queue leaves them to the next sweep.
    pub(super) fn expire_sessions(&mut self, now: u64) {
        let ms = |d: std::time::Duration| d.as_millis().min(u64::MAX as u128) as u64;
        let changes = vec![
            AccountChange::ExpireSessions {
                before_ms: now.saturating_sub(ms(self.config.session_idle)),
            },
            AccountChange::ForgetFailures {
                before_ms: now.saturating_sub(ms(self.config.sign_in_window)),
            },
        ];
        self.queue_accounts(changes, None);
    }

    /// Identity `id` has an account with `role`: here and on every node.
    fn account_is(&mut self, id: &str, role: Role) {
        self.registry.set_account(id, role);
        self.publish(Event::Account {
            identity: id.to_owned(),
            role,
        });
    }

    /// Closes the connections here of the sessions `ending` ends.
    pub(super) fn end_sessions(&mut self, ending: &Ending) {
        let conns: Vec<ConnId> = match self.registry.get(ending.identity()) {
            Some(identity) => identity.conns.clone(),
            None => return,
        };
        for conn in conns {
            // Ending them all also ends a connection that was the guest
            // before it signed up (no session, but the account's now).
            let ends =
                self.sessions
                    .get(&conn)
                    .is_some_and(|s| match (&s.client.account, ending) {
                        (Some(signed), _) => ending.ends(&signed.hash),
                        (None, Ending::All { .. }) => true,
                        (None, Ending::One { .. }) => false,
                    });
            if ends {
                self.sessions[&conn]
                    .outbox
                    .close(CLOSE_SESSION_ENDED, "signed out");
                self.remove_session(conn);
            }
        }
    }

    /// The claim of a signed-in request: its account's identity, under
    /// `name` (its own, or a free one it takes). An account unknown here
    /// (another node made it a moment ago) is refused: try again.
    pub(super) fn signed_claim(
        &mut self,
        signed: &SignedIn,
        name: &Name,
    ) -> Result<Claim, ProtocolError> {
        if self.registry.get(&signed.identity).is_none() {
            return Err(ProtocolError::unavailable(
                "your account is not known on this server yet; try again in a moment",
            ));
        }
        self.registry.set_account(&signed.identity, signed.role);
        let claim = Claim::signed(signed.identity.clone());
        self.check_owner(&claim, name)?;
        Ok(claim)
    }

    /// The name a signed-in `hello` without one speaks as: its account's.
    pub(super) fn account_name(&self, signed: &SignedIn) -> Result<Name, ProtocolError> {
        match self.registry.get(&signed.identity) {
            Some(identity) => names::check(&identity.name),
            None => Err(ProtocolError::unavailable(
                "your account is not known on this server yet; try again in a moment",
            )),
        }
    }

    /// An account's identity was renamed: sign-in finds it by the new name.
    pub(super) fn account_renamed(&mut self, id: &str, name: &Name) {
        let is_account = self.registry.get(id).is_some_and(|i| i.account.is_some());
        if is_account {
            let change = AccountChange::Rename {
                identity: id.to_owned(),
                name_key: name.keys[0].clone(),
            };
            self.queue_accounts(vec![change], None);
        }
    }

    fn on_sign_up(&mut self, sign_up: SignUp, reply: Reply<SignedUp>) {
        let checked = names::check(&sign_up.name).and_then(|name| {
            let claim = self.claim(&name, None, &sign_up.client)?;
            Ok((claim, name))
        });
        let (claim, name) = match checked {
            Ok(checked) => checked,
            Err(e) => return drop(reply.send(Err(e))),
        };
        let already = claim
            .proven()
            .and_then(|id| self.registry.get(id))
            .is_some_and(|i| i.account.is_some());
        if already {
            return drop(reply.send(Err(ProtocolError::name_taken(&name.display))));
        }
        let Some(ask) = self.claim_needed(&claim, &name) else {
            return self.sign_up_as(sign_up, claim, name, reply);
        };
        let ticket = match self.admit_read() {
            Ok(ticket) => ticket,
            Err(e) => return drop(reply.send(Err(e))),
        };
        self.read_then(ticket, ask, move |hub, claimed| {
            match claimed.and_then(|claimed| hub.claimed(claimed, &claim, &name)) {
                Ok(()) => hub.sign_up_as(sign_up, claim, name, reply),
                Err(e) => drop(reply.send(Err(e))),
            }
        });
    }

    /// The checked sign-up: the identity (renamed, or new within the
    /// limits on new identities) becomes an account; answered once stored.
    fn sign_up_as(&mut self, sign_up: SignUp, claim: Claim, name: Name, reply: Reply<SignedUp>) {
        let speaker = match self.speak(claim, &name, &sign_up.client) {
            Ok(speaker) => speaker,
            Err(e) => return drop(reply.send(Err(e))),
        };
        let now = now_ms();
        self.registry.make_account(&speaker.id, sign_up.role, now);
        let account = AccountRow {
            identity: speaker.id.to_string(),
            name_key: name.keys[0].clone(),
            password: sign_up.password,
            role: sign_up.role,
            created_ms: now,
        };
        let mut changes = Vec::with_capacity(3);
        if let Some(hash) = sign_up.invite {
            changes.push(AccountChange::Grant(GrantChange::UseInvite {
                hash,
                now_ms: now,
            }));
        }
        changes.push(AccountChange::SaveAccount(account));
        if let Some(session) = sign_up.session {
            changes.push(AccountChange::SaveSession(SessionRow {
                identity: speaker.id.to_string(),
                ..session
            }));
        }
        let (done, committed) = oneshot::channel();
        self.queue_accounts(changes, Some(done));
        // After the identity's own event (which `queue_accounts` published).
        self.publish(Event::Account {
            identity: speaker.id.to_string(),
            role: sign_up.role,
        });
        let signed_up = SignedUp {
            identity: speaker.id.clone(),
            name: name.display,
        };
        // Not stored (an invite used up meanwhile, a failed write): the
        // identity is no account after all.
        let commands = self.commands.clone();
        let identity = speaker.id;
        let answer = move |stored: Result<Result<(), StoreError>, _>| {
            let answer = match stored {
                Ok(Ok(())) => Ok(signed_up),
                Ok(Err(StoreError::Failed(why))) if why == INVITE_REFUSED => Err(
                    ProtocolError::new(ErrorCode::BadRequest, format!("{INVITE_REFUSED}.")),
                ),
                Ok(Err(e)) => Err(super::unavailable(e)),
                Err(_) => Err(ProtocolError::unavailable("the server is shutting down")),
            };
            if answer.is_err() {
                if let Some(commands) = commands.and_then(|c| c.upgrade()) {
                    let undo = Command::Account(AccountCommand::Unmake { identity });
                    let _ = commands.try_send(undo);
                }
            }
            let _ = reply.send(answer);
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn(async move { answer(committed.await) })),
            // The hub's unit tests, which have no runtime: a thread waits.
            Err(_) => drop(std::thread::spawn(move || {
                answer(committed.blocking_recv())
            })),
        }
    }
}

/// The cluster's word for `ending`.
pub(super) fn ending_event(ending: &Ending) -> crate::store::pg::cluster::Ended {
    use crate::store::pg::cluster::Ended;
    match ending {
        Ending::One { identity, hash } => Ended {
            identity: identity.to_string(),
            hash: Some(*hash),
            except: None,
        },
        Ending::All { identity, except } => Ended {
            identity: identity.to_string(),
            hash: None,
            except: *except,
        },
    }
}

/// `ending` as another node told it.
pub(super) fn ending_of(ended: crate::store::pg::cluster::Ended) -> Ending {
    let identity = Arc::from(ended.identity);
    match ended.hash {
        Some(hash) => Ending::One { identity, hash },
        None => Ending::All {
            identity,
            except: ended.except,
        },
    }
}

impl HubHandle {
    /// Runs an account read on the hub's readers (beside the hub, never on
    /// it): refused at once, as busy, when too many reads wait already.
    pub(crate) async fn read_accounts<T: Send + 'static>(
        &self,
        read: impl FnOnce(&dyn StoreReader) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let Ok(_pending) = self.reader.admit() else {
            return Err(StoreError::Failed("the server is busy; try again".into()));
        };
        self.reader.read(Kind::Plain, read).await
    }

    /// Makes an account (see [`SignUp`]); resolves once it is stored.
    pub(crate) async fn sign_up(&self, sign_up: SignUp) -> Result<SignedUp, ProtocolError> {
        let sign_up = Box::new(sign_up);
        self.request(|reply| Command::Account(AccountCommand::SignUp { sign_up, reply }))
            .await
    }

    /// The name of identity `identity`, if it is known.
    pub(crate) async fn name_of(&self, identity: Arc<str>) -> Option<String> {
        self.name(Who::Identity(identity)).await
    }

    /// The name of the guest `client`'s identity cookie proves, if any.
    pub(crate) async fn guest_name(&self, client: Client) -> Option<String> {
        self.name(Who::Guest(client)).await
    }

    async fn name(&self, who: Who) -> Option<String> {
        let (reply, answer) = oneshot::channel();
        let command = Command::Account(AccountCommand::Name { who, reply });
        self.commands.send(command).await.ok()?;
        answer.await.ok().flatten()
    }

    /// Stores account `changes` in order; resolves once they are stored
    /// when `wait`, else at once.
    pub(crate) async fn save_accounts(
        &self,
        changes: Vec<AccountChange>,
        wait: bool,
    ) -> Result<(), StoreError> {
        let (done, stored) = oneshot::channel();
        let done = wait.then_some(done);
        let command = Command::Account(AccountCommand::Save { changes, done });
        self.account_command(command, wait.then_some(stored)).await
    }

    /// Ends sessions (stored, and their connections closed with 4004 on
    /// every node); resolves once stored.
    pub(crate) async fn end_sessions(&self, ending: Ending) -> Result<(), StoreError> {
        let (done, stored) = oneshot::channel();
        let command = Command::Account(AccountCommand::End {
            ending,
            done: Some(done),
        });
        self.account_command(command, Some(stored)).await
    }

    pub(super) async fn account_command(
        &self,
        command: Command,
        stored: Option<oneshot::Receiver<Result<(), StoreError>>>,
    ) -> Result<(), StoreError> {
        let gone = || StoreError::Failed("the server is shutting down".into());
        self.commands.send(command).await.map_err(|_| gone())?;
        match stored {
            Some(stored) => stored.await.unwrap_or_else(|_| Err(gone())),
            None => Ok(()),
        }
    }
}

/// The key an account is found by at sign-in for a typed `name` (its
/// name's first look-alike key, as the account row keeps it); `None` for a
/// name no identity can have.
pub(crate) fn account_key(name: &str) -> Option<String> {
    names::check(name).ok().map(|name| name.keys[0].clone())
}
