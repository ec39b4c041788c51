//! The broadcast hub: one task that owns every session, room and identity.
//!
//! Connection tasks ([`super::conn`]) parse frames and hand them to the hub
//! through [`HubHandle`], the only way in; the hub answers through each
//! connection's bounded [`Outbox`]. Because one task applies every change,
//! a `joined` reply and the broadcasts that follow it are queued in order,
//! and a room's messages reach every member in id order with no gap and no
//! duplicate.
//!
//! **The hub never waits.** Each command is handled to its end without an
//! `await`: a store read (a join's replay, a history page, a search, the
//! page's snapshot, a name claim, another node's messages) is handed to the
//! [reader pool](crate::store::pool) and runs beside the hub
//! ([`offload`]). A read is cut at the id the room had broadcast when it
//! was asked; a reply that must come in order with the room's live frames
//! (`joined`, `watching`, `history`) holds its place in the connection's
//! queue ([`Slot`](super::outbox::Slot)), so what is broadcast meanwhile
//! waits behind it: no gap, no overlap. What needs the hub's state after a
//! read (a name claimed in the database, a catch-up) comes back as a
//! command ([`Command::Then`]). Work that needs no state leaves the hub
//! too: a `send`'s text is checked and rendered by its connection's task,
//! committed messages are encoded on the commit thread.
//!
//! Why not the old way: the hub awaited each read in turn, so 40
//! connections searching within their limits made every message wait
//! behind their searches (p99 1.6 s for a pair chatting at 20 messages/s on
//! 30,000 stored messages); see the README's Benchmarks.
//!
//! - [`handle`]: [`HubHandle`], the typed way in.
//! - [`accounts`]: sign-up, signed-in connections, sessions that end (*1.2*).
//! - [`identity`]: `hello`, tokens, cookies, and who a form post speaks as.
//! - [`registry`]: the identities and the names they own (*1.1*).
//! - [`names`]: name checks and look-alike keys (*1.1*).
//! - [`access`]: *1.2*, the one authorization point.
//! - [`standings`]: *1.2*, who belongs to (or is invited to) which room.
//! - [`private`]: *1.2*, `create`, `invite`, `set_role`, `dm`.
//! - [`room_forms`]: *1.2*, the page's forms for rooms (no JavaScript).
//! - [`rooms`]: join, leave, history, snapshot, broadcast.
//! - [`directory`]: the rooms `welcome` lists, `rooms` pages, unused rooms removed.
//! - [`members`]: member order and paging, presence or `member_count` (1.1).
//! - [`watch`]: a room's messages live without a name (1.1).
//! - [`search`]: full-text search of the stored messages (extension).
//! - [`reads`]: where each identity stopped reading (extension).
//! - [`post`]: `send`, the page's form post, the store hand-off and its result.
//! - [`changes`]: *1.2*, `edit`, `delete`, `react`, `unreact` and their frames.
//! - [`bucket`]: the token bucket behind the rate limits.
//! - [`upkeep`]: what the hub does each tick by itself (deadlines, sweeps).
//! - [`fatal`]: the hub or its commit thread died: the server stops.
//! - [`remote`]: other nodes' sessions, and what this one tells them (PostgreSQL).
//! - [`offload`]: reads off the hub task, and their answers.
//!
//! A `send` is validated here, then queued for the store's group-commit
//! thread, which gives it its id; the hub broadcasts it when the commit comes
//! back. Each room remembers the last id it broadcast, and every read from
//! the store is cut there.

mod access;
mod accounts;
mod bucket;
mod changes;
mod directory;
mod erase;
mod fatal;
mod files;
mod handle;
mod identity;
mod members;
mod moderation;
mod names;
mod offload;
mod post;
mod private;
mod reads;
mod registry;
mod remote;
mod room_forms;
mod rooms;
mod sanctions;
mod search;
mod standings;
#[cfg(test)]
mod tests;
mod upkeep;
mod watch;

use super::config::Config;
use super::outbox::{ConnGauge, ConnId, Outbox};
use super::stats;
use crate::protocol::{ClientFrame, ErrorCode, ProtocolError, ServerFrame, CLOSE_GOING_AWAY};
use crate::store::group_commit::{self, Job};
use crate::store::moderation::SanctionKind;
use crate::store::pg::cluster::{Event, Publisher};
use crate::store::pg::Notice;
use crate::store::pool::{Kind, ReaderPool};
use crate::store::{IdentityChange, StoreError, StoreReader, StoreWriter};

use crate::server::payload::Payload;
use fatal::Fatal;
use post::Tag;
use registry::Registry;
use remote::Cluster;
use rooms::Room;
use std::collections::{HashMap, HashSet, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

pub(crate) use accounts::{account_key, Ending, SignUp, SignedIn};
pub(crate) use bucket::Bucket;
pub(crate) use files::FileAsk;
pub(crate) use handle::HubHandle;
pub(crate) use identity::{addr_key, limit_bucket, Client};
pub(crate) use offload::Then;
pub(crate) use post::{FormPost, Posted, Request};
pub(crate) use room_forms::RoomForm;
pub(crate) use rooms::Snapshot;

/// Where the answer to a request goes.
type Reply<T> = oneshot::Sender<Result<T, ProtocolError>>;

/// What the [`HubHandle`] asks of the hub task.
#[derive(Debug)]
enum Command {
    /// A new connection, its outbound side, and where it comes from.
    Connect(ConnId, Outbox, Client),
    /// A frame from a connection, as its task prepared it.
    Frame(ConnId, Request),
    /// The connection is gone.
    Disconnect(ConnId),
    /// Results of one group commit, in commit order, each stored message's
    /// `message` frame encoded beside it (by the commit thread).
    Committed(Vec<group_commit::Done<Tag>>, Vec<Option<Payload>>),
    /// *1.2*: results of one batch's changes, in order.
    Changed(Vec<group_commit::ChangeDone<Tag>>),
    /// The rest of a command whose store read is done ([`offload`]).
    Then(Then),
    /// *1.2*: accounts and sessions ([`accounts`]).
    Account(accounts::AccountCommand),
    /// A room's recent messages and members, for the server-rendered page.
    Snapshot {
        /// Room name.
        room: String,
        /// Who asks (*1.2*: a room it may not see is missing).
        client: Client,
        /// Where the answer goes.
        reply: Reply<Snapshot>,
    },
    /// A message from the page's plain form (browsers without JavaScript):
    /// validated like `hello` + `send`, stored, broadcast, then answered.
    Post {
        /// The form's fields and who sent it.
        post: FormPost,
        /// The text checked and rendered (by the request's task), or why not.
        text: post::Checked,
        /// Gets the stored message, or why it was refused.
        reply: Reply<Posted>,
    },
    /// *1.2*: a room form of the page (no JavaScript), answered with the
    /// room to show next.
    RoomForm {
        /// Who asks.
        client: Client,
        /// What.
        form: RoomForm,
        /// Where the answer goes.
        reply: Reply<String>,
    },
    /// Whether an identity cookie's token proves a known identity (the
    /// upgrade replaces one that does not with a value it mints).
    Knows {
        /// The cookie's token.
        token: String,
        /// Where the answer goes.
        reply: oneshot::Sender<bool>,
    },
    /// *1.2* (section 4): whether an identity is banned from the server
    /// (the sign-in form refuses it).
    Banned {
        /// The identity id.
        identity: String,
        /// Where the answer goes.
        reply: oneshot::Sender<bool>,
    },
    /// *1.2* (section 5): whether a request may upload or fetch a file,
    /// and as whom.
    File {
        /// Who asks.
        client: Client,
        /// What.
        ask: FileAsk,
        /// Whether allowed, and the identity it speaks as.
        reply: oneshot::Sender<Option<Option<Arc<str>>>>,
    },
    /// Once a second: send the `member_count` frames that are due.
    Tick,
    /// What another node did (PostgreSQL): stored messages, changed its sessions.
    Remote(Notice),
    /// The health check: hand the commit thread a probe write, and the
    /// readers a probe read.
    Probe {
        /// The write's answer.
        write: oneshot::Sender<Result<(), StoreError>>,
        /// The read's answer.
        read: oneshot::Sender<Result<(), ProtocolError>>,
    },
    /// Close every connection with 1001, refuse new ones, and let the store
    /// finish what it has.
    Shutdown,
    /// Panics the hub (tests of what follows).
    #[cfg(test)]
    Panic,
}

/// Jobs queued for the commit thread before `send` answers `unavailable`.
const COMMIT_QUEUE: usize = 65_536;
/// Commands queued for the hub before connections wait to hand in more.
const COMMAND_QUEUE: usize = 8192;
/// How often `member_count` frames may go out (protocol 1.1: once a second).
const TICK: Duration = Duration::from_secs(1);

/// Starts the hub task and the store's group-commit thread; with a
/// `cluster` (PostgreSQL), the hub tells other nodes of its sessions, and
/// the thread behind it is joined at shutdown.
pub(crate) fn spawn(
    config: Arc<Config>,
    reader: impl StoreReader,
    writer: impl StoreWriter,
    cluster: Option<(Publisher, std::thread::JoinHandle<()>)>,
) -> Result<HubHandle, StoreError> {
    let (commands, mut rx) = mpsc::channel(COMMAND_QUEUE);
    let (jobs, job_rx) = mpsc::channel(COMMIT_QUEUE);
    let committed = commands.clone();
    let commit_bytes = config.outbound_bytes / 4;
    let fatal = Arc::new(Fatal::default());
    let watch = fatal.watch("the store's commit thread");
    let committer = group_commit::spawn(writer, job_rx, commit_bytes, move |outcome| {
        let _ = &watch; // dropped, and reporting, when the thread panics
                        // The hub never waits on the commit thread, so this cannot deadlock.
        let _ = committed.blocking_send(match outcome {
            group_commit::Outcome::Messages(done, took) => {
                metrics::histogram!(stats::COMMIT_SECONDS).record(took.as_secs_f64());
                let frames = post::encode_committed(&done);
                Command::Committed(done, frames)
            }
            group_commit::Outcome::Changes(done) => Command::Changed(done),
        });
    })
    .map_err(|e| StoreError::Failed(format!("cannot start the commit thread: {e}")))?;
    // The first reads run on a plain thread: a synchronous client that
    // drives its own runtime (PostgreSQL's) cannot block a tokio worker.
    let (publisher, publishing) = cluster.unzip();
    let new = || Hub::new(config, Box::new(reader), jobs);
    let mut hub = std::thread::scope(|s| s.spawn(new).join())
        .map_err(|_| StoreError::Failed("loading the store panicked".into()))??;
    hub.cluster = publisher.map(Cluster::new);
    hub.commands = Some(commands.downgrade());
    let reader = hub.reader.clone();
    let files_gone = hub.files_gone.clone();
    // The ticker holds a weak sender, so the hub still ends with its handles.
    let ticker = commands.downgrade();
    tokio::spawn(async move {
        let mut every = tokio::time::interval(TICK);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let Some(commands) = ticker.upgrade() else {
                return;
            };
            if commands.send(Command::Tick).await.is_err() {
                return;
            }
        }
    });
    let hub_task = tokio::spawn(async move {
        while let Some(command) = rx.recv().await {
            hub.handle(command);
        }
    });
    let watcher = fatal.clone();
    tokio::spawn(async move {
        if hub_task.await.is_err() {
            watcher.fail("the hub task");
        }
    });
    Ok(HubHandle {
        commands,
        reader,
        gauge: Arc::new(ConnGauge::default()),
        threads: Arc::new(Mutex::new(
            [Some(committer), publishing]
                .into_iter()
                .flatten()
                .collect(),
        )),
        fatal,
        files_gone,
    })
}

/// One connection's state.
#[derive(Debug)]
struct Session {
    /// Its outbound side.
    outbox: Outbox,
    /// Where it comes from (address, identity cookie).
    client: Client,
    /// Its identity's id, once `hello` succeeded.
    identity: Option<Arc<str>>,
    /// Its display name, once `hello` succeeded.
    name: Arc<str>,
    /// Rooms joined.
    rooms: HashSet<Arc<str>>,
    /// *1.1*: rooms watched (`watch`).
    watching: HashSet<Arc<str>>,
    /// `send` rate limit.
    sends: Bucket,
    /// `typing` throttle.
    typing: Bucket,
    /// Rate limit of every other request.
    requests: Bucket,
    /// `search` rate limit (on top of `requests`).
    searches: Bucket,
    /// Frames held while a `hello` waits for its name to be claimed in the
    /// database (several nodes): handled in order once it is. `None` while
    /// nothing waits.
    held: Option<VecDeque<Request>>,
}

/// The hub's state; see the module docs.
struct Hub {
    /// Limits.
    config: Arc<Config>,
    /// The store's readers (the commit thread does every write): reads run
    /// there, beside the hub ([`offload`]).
    reader: Arc<ReaderPool>,
    /// The way back in for what a read hands the hub ([`Command::Then`]);
    /// `None` in the hub's unit tests, where reads run in place. Weak, so
    /// the hub still ends with its handles.
    commands: Option<mpsc::WeakSender<Command>>,
    /// Queue to the group-commit thread; `None` once shutting down.
    writer: Option<mpsc::Sender<Job<Tag>>>,
    /// *1.2*: told once a message with files may have gone (deleted,
    /// purged): the files sweeper wakes, so the bytes leave in seconds.
    files_gone: Arc<tokio::sync::Notify>,
    /// Live connections.
    sessions: HashMap<ConnId, Session>,
    /// Known rooms with their live members (and, *1.2*, their standings).
    rooms: HashMap<Arc<str>, Room>,
    /// *1.2*: the rooms each identity has a standing in.
    mine: standings::Mine,
    /// Identities and the names they own.
    registry: Registry,
    /// Identity changes the commit thread has not taken yet (its queue was full).
    unsaved: VecDeque<IdentityChange>,
    /// New identities per client address (IPv6: per /64, and per /48
    /// under [`identity::net_key`]'s keys).
    new_identities: HashMap<IpAddr, Bucket>,
    /// New identities on the whole server.
    new_identities_all: Bucket,
    /// Form posts per identity.
    form_by_identity: HashMap<Arc<str>, Bucket>,
    /// Form posts per client address.
    form_by_addr: HashMap<IpAddr, Bucket>,
    /// Rooms created per identity (all its connections, and reconnects).
    rooms_by_identity: HashMap<Arc<str>, Bucket>,
    /// Rooms created per client address.
    rooms_by_addr: HashMap<IpAddr, Bucket>,
    /// Searches per identity (all its connections).
    search_by_identity: HashMap<Arc<str>, Bucket>,
    /// Searches per client address.
    search_by_addr: HashMap<IpAddr, Bucket>,
    /// Searches on the whole server.
    search_all: Bucket,
    /// *1.2* (section 4): identities banned from the whole server.
    server_bans: HashMap<Arc<str>, sanctions::Held>,
    /// Ticks so far (for the identity sweep).
    ticks: u64,
    /// Rooms whose membership changed since the last tick while counted.
    counts_due: HashSet<Arc<str>>,
    /// Connections in the order they opened, with when they must have been
    /// welcomed by: checked each tick.
    hello_due: VecDeque<(Instant, ConnId)>,
    /// Set by [`Command::Shutdown`].
    shutting_down: bool,
    /// Other nodes' sessions and the way to tell them of ours (PostgreSQL);
    /// `None` alone, and once shutting down.
    cluster: Option<Cluster>,
}

impl Hub {
    fn new(
        config: Arc<Config>,
        reader: Box<dyn StoreReader>,
        writer: mpsc::Sender<Job<Tag>>,
    ) -> Result<Self, StoreError> {
        let rooms = rooms::load(reader.as_ref())?;
        let standings = reader.memberships()?;
        let decided = reader.moderation(crate::store::now_ms())?;
        let lease_ms = config.name_lease.as_millis().min(u64::MAX as u128) as u64;
        let mut registry = Registry::load(reader.identities()?, lease_ms);
        for (id, role) in reader.account_roles()? {
            registry.set_account(&id, role);
        }
        let server_searches = config.search_server_burst;
        let server_identities = config.identity_server_burst;
        let pool = ReaderPool::new(
            reader,
            config.store_readers,
            config.search_readers,
            offload::MAX_PENDING_READS,
        )?;
        let mut hub = Hub {
            config,
            reader: Arc::new(pool),
            commands: None,
            writer: Some(writer),
            files_gone: Arc::default(),
            sessions: HashMap::new(),
            rooms,
            mine: standings::Mine::default(),
            registry,
            unsaved: VecDeque::new(),
            new_identities: HashMap::new(),
            new_identities_all: Bucket::full(server_identities),
            form_by_identity: HashMap::new(),
            form_by_addr: HashMap::new(),
            rooms_by_identity: HashMap::new(),
            rooms_by_addr: HashMap::new(),
            search_by_identity: HashMap::new(),
            search_by_addr: HashMap::new(),
            search_all: Bucket::full(server_searches),
            server_bans: HashMap::new(),
            ticks: 0,
            counts_due: HashSet::new(),
            hello_due: VecDeque::new(),
            shutting_down: false,
            cluster: None,
        };
        hub.load_standings(standings);
        hub.load_moderation(decided);
        Ok(hub)
    }

    fn handle(&mut self, command: Command) {
        self.apply(command);
        self.save_identities();
    }

    /// Hands the registry's changes to the commit thread, in order, while
    /// its queue is less than half full (messages keep the rest); what waits
    /// goes with a later command or tick.
    fn save_identities(&mut self) {
        let changes = self.registry.take_changes();
        for change in &changes {
            if let IdentityChange::Forget(id) = change {
                self.forget_standings(id);
            }
        }
        self.publish_identities(&changes);
        self.unsaved.extend(changes);
        let Some(writer) = &self.writer else {
            return;
        };
        while writer.capacity() > writer.max_capacity() / 2 {
            let Some(change) = self.unsaved.pop_front() else {
                return;
            };
            if let Err(e) = writer.try_send(Job::Identity(change)) {
                let Job::Identity(change) = e.into_inner() else {
                    unreachable!("sent an identity job")
                };
                self.unsaved.push_front(change);
                return;
            }
        }
    }

    fn apply(&mut self, command: Command) {
        match command {
            Command::Connect(conn, outbox, client) => self.on_connect(conn, outbox, client),
            Command::Frame(conn, request) => self.on_request(conn, request),
            Command::Disconnect(conn) => self.remove_session(conn),
            Command::Committed(done, frames) => {
                for (room, upto) in self.on_committed(done, frames) {
                    self.catch_up(&room, upto);
                }
            }
            Command::Changed(done) => self.on_changed(done),
            Command::Then(then) => then.run(self),
            Command::Account(command) => self.on_account(command),
            Command::Remote(notice) => self.on_notice(notice),
            Command::Snapshot {
                room,
                client,
                reply,
            } => self.on_snapshot(&room, &client, reply),
            Command::Post { post, text, reply } => self.on_post(post, text, reply),
            Command::RoomForm {
                client,
                form,
                reply,
            } => self.on_room_form(client, form, reply),
            Command::Knows { token, reply } => drop(reply.send(self.knows(&token))),
            Command::File { client, ask, reply } => {
                let _ = reply.send(self.on_file(&client, &ask));
            }
            Command::Banned { identity, reply } => {
                let _ = reply.send(self.server_banned(&identity));
            }
            // Refused (queue full, shutting down): the dropped reply says so.
            Command::Probe { write, read } => {
                drop(self.queue(Job::Probe(write)));
                let answer = move |r| drop(read.send(r));
                match self.admit_read() {
                    Ok(ticket) => {
                        self.read_apart(ticket, Kind::Plain, |r| r.probe(), answer);
                    }
                    Err(e) => answer(Err(e)),
                }
            }
            Command::Tick => self.on_upkeep_tick(),
            #[cfg(test)]
            Command::Panic => panic!("the hub panics, as asked by a test"),
            Command::Shutdown => {
                self.shutting_down = true;
                self.save_identities();
                self.writer = None;
                // The publishing thread removes this node's sessions from
                // the cluster and ends.
                self.cluster = None;
                for s in self.sessions.values() {
                    s.outbox.close(CLOSE_GOING_AWAY, "server shutting down");
                }
            }
        }
    }

    fn on_connect(&mut self, conn: ConnId, outbox: Outbox, client: Client) {
        if self.shutting_down {
            outbox.close(CLOSE_GOING_AWAY, "server shutting down");
            return;
        }
        let burst = self.config.rate_burst;
        self.expect_hello(conn);
        self.sessions.insert(
            conn,
            Session {
                outbox,
                client,
                identity: None,
                name: Arc::from(""),
                rooms: HashSet::new(),
                watching: HashSet::new(),
                sends: Bucket::full(burst),
                typing: Bucket::full(rooms::TYPING_BURST),
                searches: Bucket::full(self.config.search_burst),
                requests: Bucket::full(self.config.request_burst),
                held: None,
            },
        );
    }

    /// A frame from `conn`: held while its `hello` waits, else handled; a
    /// refusal is answered with an `error` (carrying the frame's nonce).
    fn on_request(&mut self, conn: ConnId, request: Request) {
        let limit = self.config.request_burst as usize;
        if let Some(held) = self.sessions.get_mut(&conn).and_then(|s| s.held.as_mut()) {
            if held.len() < limit {
                held.push_back(request);
                return;
            }
            let e = ProtocolError::new(
                ErrorCode::RateLimited,
                format!("slow down: at most {limit} requests wait for your hello"),
            );
            return self.refuse(conn, e, request.nonce());
        }
        let nonce = request.nonce().map(str::to_owned);
        if let Err(e) = self.on_frame(conn, request) {
            self.refuse(conn, e, nonce.as_deref());
        }
    }

    /// Answers a refused request of `conn` with an `error`.
    fn refuse(&mut self, conn: ConnId, e: ProtocolError, nonce: Option<&str>) {
        stats::refused_frame(e.code);
        let frame = e.with_nonce(nonce).into_frame();
        if let Some(s) = self.sessions.get(&conn) {
            s.outbox.send(&frame);
        }
    }

    fn session(&mut self, conn: ConnId) -> Result<&mut Session, ProtocolError> {
        // A frame racing its connection's removal (a kicked client) is dropped.
        self.sessions
            .get_mut(&conn)
            .ok_or_else(|| ProtocolError::bad_request("connection closed"))
    }

    fn on_frame(&mut self, conn: ConnId, request: Request) -> Result<(), ProtocolError> {
        let (rate, burst) = (self.config.request_rate_per_sec, self.config.request_burst);
        let session = self.session(conn)?;
        let ready = session.identity.is_some();
        // `send` and `typing` have buckets of their own; a frame that did
        // not parse counts as a request.
        let counted = !matches!(
            request,
            Request::Send { .. }
                | Request::Edit { .. }
                | Request::Frame(
                    ClientFrame::Typing { .. }
                        | ClientFrame::Delete { .. }
                        | ClientFrame::React { .. }
                        | ClientFrame::Unreact { .. }
                )
        );
        if counted && !session.requests.take(rate, burst) {
            return Err(ProtocolError::new(
                ErrorCode::RateLimited,
                format!("slow down: at most {rate} requests a second (bursts of {burst})"),
            ));
        }
        let frame = match request {
            Request::Frame(frame) => frame,
            Request::Refused(e) => return Err(e),
            Request::Send { .. } if !ready => return Err(ProtocolError::hello_required()),
            Request::Send {
                room,
                text,
                nonce,
                reply_to,
                attachments,
            } => return self.on_send(conn, room, text, nonce, reply_to, attachments),
            Request::Edit { .. } if !ready => return Err(ProtocolError::hello_required()),
            Request::Edit { room, id, text } => {
                return self.on_change(conn, &room, id, changes::Asked::Edit(text))
            }
        };
        match frame {
            ClientFrame::Ping => {
                session.outbox.send(&ServerFrame::Pong);
                Ok(())
            }
            ClientFrame::Hello { name, token } => self.on_hello(conn, name, token),
            ClientFrame::Watch { room } => self.on_watch(conn, &room),
            ClientFrame::Unwatch { room } => self.on_unwatch(conn, &room),
            _ if !ready => Err(ProtocolError::hello_required()),
            ClientFrame::Join { room, after } => self.on_join(conn, &room, after),
            ClientFrame::Leave { room } => self.on_leave(conn, &room),
            ClientFrame::Send { .. } => unreachable!("prepared as Request::Send"),
            ClientFrame::Typing { room } => self.on_typing(conn, &room),
            ClientFrame::History {
                room,
                before,
                limit,
            } => self.on_history(conn, &room, before, limit),
            ClientFrame::Members { room, after, limit } => {
                self.on_members(conn, &room, after.as_deref(), limit)
            }
            ClientFrame::Rooms { after, limit } => self.on_rooms(conn, after.as_deref(), limit),
            ClientFrame::Read { room, id } => self.on_read(conn, &room, id),
            ClientFrame::Create { room, visibility } => self.on_create(conn, &room, visibility),
            ClientFrame::Invite { room, user } => self.on_invite(conn, &room, &user),
            ClientFrame::SetRole { room, user, role } => self.on_set_role(conn, &room, &user, role),
            ClientFrame::Dm { user } => self.on_dm(conn, &user),
            ClientFrame::Kick { room, user } => self.on_kick(conn, &room, &user),
            ClientFrame::Ban {
                room,
                user,
                minutes,
                reason,
            } => self.on_ban(conn, room.as_deref(), &user, minutes, reason.as_deref()),
            ClientFrame::Unban { room, user } => {
                self.on_lift(conn, room.as_deref(), &user, SanctionKind::Ban)
            }
            ClientFrame::Mute {
                room,
                user,
                minutes,
            } => self.on_mute(conn, &room, &user, minutes),
            ClientFrame::Unmute { room, user } => {
                self.on_lift(conn, Some(&room), &user, SanctionKind::Mute)
            }
            ClientFrame::RoomSettings {
                room,
                slow_mode_secs,
                read_only,
                topic,
            } => self.on_room_settings(conn, &room, slow_mode_secs, read_only, topic.as_deref()),
            ClientFrame::Purge { room, user } => self.on_purge(conn, &room, &user),
            ClientFrame::Audit { room, before } => self.on_audit(conn, room, before),
            ClientFrame::Edit { .. } => unreachable!("prepared as Request::Edit"),
            ClientFrame::Delete { room, id } => {
                self.on_change(conn, &room, id, changes::Asked::Delete)
            }
            ClientFrame::React { room, id, emoji } => {
                self.on_change(conn, &room, id, changes::Asked::React(emoji, true))
            }
            ClientFrame::Unreact { room, id, emoji } => {
                self.on_change(conn, &room, id, changes::Asked::React(emoji, false))
            }
            ClientFrame::Search {
                query,
                room,
                before,
                limit,
            } => {
                let asked = search::Asked {
                    query,
                    room,
                    before,
                    limit,
                };
                self.on_search(conn, asked)
            }
        }
    }

    /// Forgets a connection: leaves its rooms (telling the others) and frees its name.
    fn remove_session(&mut self, conn: ConnId) {
        let rooms: Vec<Arc<str>> = match self.sessions.get(&conn) {
            Some(s) => s.rooms.iter().cloned().collect(),
            None => return,
        };
        for room in rooms {
            self.leave_room(conn, &room);
        }
        self.stop_watching(conn);
        if let Some(session) = self.sessions.remove(&conn) {
            if session.identity.is_some() {
                self.publish(Event::Bye { conn });
            }
            self.release_identity(conn, &session);
        }
    }
}

/// The store failed: logged here, `unavailable` for the client.
fn unavailable(e: StoreError) -> ProtocolError {
    tracing::error!(error = %e, "store failure");
    ProtocolError::unavailable("the server could not store this; try again")
}
