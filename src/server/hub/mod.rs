//! The broadcast hub: one task that owns every session, room and identity.
//!
//! Connection tasks ([`super::conn`]) parse frames and hand them to the hub
//! through [`HubHandle`], the only way in; the hub answers through each
//! connection's bounded [`Outbox`]. Because one thread applies every change,
//! a `joined` reply and the broadcasts that follow it are queued in order,
//! and a room's messages reach every member in id order with no gap and no
//! duplicate. The loop handles one command at a time; the only thing it
//! awaits is a store read (`join`, `history`, the page's snapshot), which
//! runs on tokio's blocking pool ([`Hub::read`]) so that it never stalls a
//! worker's other tasks, while the hub takes no other command until it is
//! back. Every write happens on the group-commit thread.
//!
//! How the reads leave the workers was chosen with `make bench` (medians of
//! three runs each; see the README): a hub thread of its own closed 410 of
//! 1,000 members as too slow at saturation (on 2 cores it outran the writer
//! tasks); `block_in_place` cost 20 % of persisted throughput at 100
//! members; awaiting `spawn_blocking` matched the old figures.
//!
//! - [`handle`]: [`HubHandle`], the typed way in.
//! - [`identity`]: `hello`, tokens, cookies, and who a form post speaks as.
//! - [`registry`]: the identities and the names they own (*1.1*).
//! - [`names`]: name checks and look-alike keys (*1.1*).
//! - [`rooms`]: join, leave, history, snapshot, broadcast.
//! - [`directory`]: the rooms `welcome` lists, `rooms` pages, unused rooms removed.
//! - [`members`]: member order and paging, presence or `member_count` (1.1).
//! - [`watch`]: a room's messages live without a name (1.1).
//! - [`search`]: full-text search of the stored messages (extension).
//! - [`reads`]: where each identity stopped reading (extension).
//! - [`post`]: `send`, the page's form post, the store hand-off and its result.
//! - [`bucket`]: the token bucket behind the rate limits.
//! - [`upkeep`]: what the hub does each tick by itself (deadlines, sweeps).
//! - [`fatal`]: the hub or its commit thread died: the server stops.
//! - [`remote`]: other nodes' sessions, and what this one tells them (PostgreSQL).
//!
//! A `send` is validated here, then queued for the store's group-commit
//! thread, which gives it its id; the hub broadcasts it when the commit comes
//! back. Each room remembers the last id it broadcast, and every read from
//! the store is cut there, so a `joined` snapshot and the live messages after
//! it meet with no gap and no overlap.

mod bucket;
mod directory;
mod fatal;
mod handle;
mod identity;
mod members;
mod names;
mod post;
mod reads;
mod registry;
mod remote;
mod rooms;
mod search;
#[cfg(test)]
mod tests;
mod upkeep;
mod watch;

use super::config::Config;
use super::outbox::{ConnGauge, ConnId, Outbox};
use super::stats;
use crate::protocol::{ClientFrame, ErrorCode, ProtocolError, ServerFrame, CLOSE_GOING_AWAY};
use crate::store::group_commit::{self, Job};
use crate::store::pg::cluster::{Event, Publisher};
use crate::store::pg::Notice;
use crate::store::{IdentityChange, StoreError, StoreReader, StoreWriter};
use bucket::Bucket;
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

pub(crate) use handle::HubHandle;
pub(crate) use identity::{addr_key, Client};
pub(crate) use post::{FormPost, Posted};
pub(crate) use rooms::Snapshot;

/// Where the answer to a request goes.
type Reply<T> = oneshot::Sender<Result<T, ProtocolError>>;

/// What the [`HubHandle`] asks of the hub task.
#[derive(Debug)]
enum Command {
    /// A new connection, its outbound side, and where it comes from.
    Connect(ConnId, Outbox, Client),
    /// A parsed frame from a connection.
    Frame(ConnId, ClientFrame),
    /// The connection is gone.
    Disconnect(ConnId),
    /// Results of one group commit, in commit order.
    Committed(Vec<group_commit::Done<Tag>>),
    /// A room's recent messages and members, for the server-rendered page.
    Snapshot {
        /// Room name.
        room: String,
        /// Where the answer goes.
        reply: Reply<Snapshot>,
    },
    /// A message from the page's plain form (browsers without JavaScript):
    /// validated like `hello` + `send`, stored, broadcast, then answered.
    Post {
        /// The form's fields and who sent it.
        post: FormPost,
        /// Gets the stored message, or why it was refused.
        reply: Reply<Posted>,
    },
    /// Once a second: send the `member_count` frames that are due.
    Tick,
    /// What another node did (PostgreSQL): stored messages, changed its sessions.
    Remote(Notice),
    /// The health check: hand the commit thread a probe write.
    Probe(oneshot::Sender<Result<(), StoreError>>),
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
    let committer = group_commit::spawn(writer, job_rx, commit_bytes, move |done, took| {
        let _ = &watch; // dropped, and reporting, when the thread panics
        metrics::histogram!(stats::COMMIT_SECONDS).record(took.as_secs_f64());
        // The hub never waits on the commit thread, so this cannot deadlock.
        let _ = committed.blocking_send(Command::Committed(done));
    })
    .map_err(|e| StoreError::Failed(format!("cannot start the commit thread: {e}")))?;
    // The first reads run on a plain thread: a synchronous client that
    // drives its own runtime (PostgreSQL's) cannot block a tokio worker.
    let (publisher, publishing) = cluster.unzip();
    let new = || Hub::new(config, Box::new(reader), jobs);
    let mut hub = std::thread::scope(|s| s.spawn(new).join())
        .map_err(|_| StoreError::Failed("loading the store panicked".into()))??;
    hub.cluster = publisher.map(Cluster::new);
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
            hub.handle(command).await;
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
        gauge: Arc::new(ConnGauge::default()),
        threads: Arc::new(Mutex::new(
            [Some(committer), publishing]
                .into_iter()
                .flatten()
                .collect(),
        )),
        fatal,
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
    /// Rooms this connection may still create.
    creations: Bucket,
}

/// The hub's state; see the module docs.
struct Hub {
    /// Limits.
    config: Arc<Config>,
    /// Reads history (the commit thread does every write); shared with the
    /// blocking pool, where the reads run.
    reader: Arc<Mutex<Box<dyn StoreReader>>>,
    /// Queue to the group-commit thread; `None` once shutting down.
    writer: Option<mpsc::Sender<Job<Tag>>>,
    /// Live connections.
    sessions: HashMap<ConnId, Session>,
    /// Known rooms with their live members.
    rooms: HashMap<Arc<str>, Room>,
    /// Identities and the names they own.
    registry: Registry,
    /// Identity changes the commit thread has not taken yet (its queue was full).
    unsaved: VecDeque<IdentityChange>,
    /// New identities per client address.
    new_identities: HashMap<IpAddr, Bucket>,
    /// Form posts per identity.
    form_by_identity: HashMap<Arc<str>, Bucket>,
    /// Form posts per client address.
    form_by_addr: HashMap<IpAddr, Bucket>,
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
        let lease_ms = config.name_lease.as_millis().min(u64::MAX as u128) as u64;
        let registry = Registry::load(reader.identities()?, lease_ms);
        Ok(Hub {
            config,
            reader: Arc::new(Mutex::new(reader)),
            writer: Some(writer),
            sessions: HashMap::new(),
            rooms,
            registry,
            unsaved: VecDeque::new(),
            new_identities: HashMap::new(),
            form_by_identity: HashMap::new(),
            form_by_addr: HashMap::new(),
            ticks: 0,
            counts_due: HashSet::new(),
            hello_due: VecDeque::new(),
            shutting_down: false,
            cluster: None,
        })
    }

    async fn handle(&mut self, command: Command) {
        self.apply(command).await;
        self.save_identities();
    }

    /// Hands the registry's changes to the commit thread, in order, while
    /// its queue is less than half full (messages keep the rest); what waits
    /// goes with a later command or tick.
    fn save_identities(&mut self) {
        let changes = self.registry.take_changes();
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

    async fn apply(&mut self, command: Command) {
        match command {
            Command::Connect(conn, outbox, client) => self.on_connect(conn, outbox, client),
            Command::Frame(conn, frame) => {
                let nonce = frame.nonce().map(str::to_owned);
                if let Err(e) = self.on_frame(conn, frame).await {
                    stats::refused_frame(e.code);
                    let frame = e.with_nonce(nonce.as_deref()).into_frame();
                    if let Some(s) = self.sessions.get(&conn) {
                        s.outbox.send(&frame);
                    }
                }
            }
            Command::Disconnect(conn) => self.remove_session(conn),
            Command::Committed(done) => {
                for (room, upto) in self.on_committed(done) {
                    self.catch_up(&room, upto).await;
                }
            }
            Command::Remote(notice) => self.on_notice(notice).await,
            Command::Snapshot { room, reply } => {
                let _ = reply.send(self.on_snapshot(&room).await);
            }
            Command::Post { post, reply } => self.on_post(post, reply).await,
            // Refused (queue full, shutting down): the dropped reply says so.
            Command::Probe(reply) => drop(self.queue(Job::Probe(reply))),
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
                creations: Bucket::full(self.config.new_rooms_per_min),
            },
        );
    }

    fn session(&mut self, conn: ConnId) -> Result<&mut Session, ProtocolError> {
        // A frame racing its connection's removal (a kicked client) is dropped.
        self.sessions
            .get_mut(&conn)
            .ok_or_else(|| ProtocolError::bad_request("connection closed"))
    }

    async fn on_frame(&mut self, conn: ConnId, frame: ClientFrame) -> Result<(), ProtocolError> {
        let (rate, burst) = (self.config.request_rate_per_sec, self.config.request_burst);
        let session = self.session(conn)?;
        let ready = session.identity.is_some();
        // `send` and `typing` have buckets of their own.
        let counted = !matches!(frame, ClientFrame::Send { .. } | ClientFrame::Typing { .. });
        if counted && !session.requests.take(rate, burst) {
            return Err(ProtocolError::new(
                ErrorCode::RateLimited,
                format!("slow down: at most {rate} requests a second (bursts of {burst})"),
            ));
        }
        match frame {
            ClientFrame::Ping => {
                session.outbox.send(&ServerFrame::Pong);
                Ok(())
            }
            ClientFrame::Hello { name, token } => {
                self.on_hello(conn, &name, token.as_deref()).await
            }
            ClientFrame::Watch { room } => self.on_watch(conn, &room).await,
            ClientFrame::Unwatch { room } => self.on_unwatch(conn, &room),
            _ if !ready => Err(ProtocolError::hello_required()),
            ClientFrame::Join { room, after } => self.on_join(conn, &room, after).await,
            ClientFrame::Leave { room } => self.on_leave(conn, &room),
            ClientFrame::Send { room, text, nonce } => self.on_send(conn, room, &text, nonce),
            ClientFrame::Typing { room } => self.on_typing(conn, &room),
            ClientFrame::History {
                room,
                before,
                limit,
            } => self.on_history(conn, &room, before, limit).await,
            ClientFrame::Members { room, after, limit } => {
                self.on_members(conn, &room, after.as_deref(), limit)
            }
            ClientFrame::Rooms { after, limit } => self.on_rooms(conn, after.as_deref(), limit),
            ClientFrame::Read { room, id } => self.on_read(conn, &room, id),
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
                self.on_search(conn, asked).await
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

impl Hub {
    /// Runs a store read on tokio's blocking pool and waits for it; without
    /// a runtime (the hub's unit tests) it runs in place.
    async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&dyn StoreReader) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, ProtocolError> {
        let reader = self.reader.clone();
        let run = move || read(reader.lock().expect("reader lock").as_ref());
        let result = if tokio::runtime::Handle::try_current().is_ok() {
            tokio::task::spawn_blocking(run)
                .await
                .unwrap_or_else(|e| Err(StoreError::Failed(format!("read failed: {e}"))))
        } else {
            run()
        };
        result.map_err(unavailable)
    }
}

/// The store failed: logged here, `unavailable` for the client.
fn unavailable(e: StoreError) -> ProtocolError {
    tracing::error!(error = %e, "store failure");
    ProtocolError::unavailable("the server could not store this; try again")
}
