//! The broadcast hub: one task that owns every session, room and identity.
//!
//! Connection tasks ([`super::conn`]) parse frames and send [`Command`]s here;
//! the hub answers through each connection's bounded outbound queue. Because a
//! single task applies every change, a `joined` reply and the broadcasts that
//! follow it are queued in order, and a room's messages reach every member in
//! id order with no gap and no duplicate. Nothing here awaits while holding
//! state: the loop takes a command and handles it synchronously.
//!
//! A `send` is validated here, then queued for the store's group-commit
//! thread, which gives it its id; the hub broadcasts it when the commit comes
//! back ([`Command::Committed`]). Each room remembers the last id it
//! broadcast, and every read from the store is cut there, so a `joined`
//! snapshot and the live messages after it meet with no gap and no overlap.
//!
//! A broadcast is serialized once into a shared [`Utf8Bytes`] and cloned (a
//! reference count) into each member's queue with `try_send`. The messages of
//! one room in one commit travel as one queue item ([`Outgoing::Frames`]), so a
//! busy room costs each member one queue operation per commit, not per
//! message; the queue's bound still counts frames. A member whose
//! queue is full is closed with [`CLOSE_TOO_SLOW`] and never holds the others
//! up; its reader sees the close and sends [`Command::Disconnect`], which
//! takes it out of its rooms.

use super::config::Config;
use crate::protocol::{
    sanitize_text, validate_name, validate_room, ChatMessage, ClientFrame, ErrorCode,
    PresenceState, ProtocolError, ServerFrame, UserInfo, CLOSE_REPLACED, CLOSE_TOO_SLOW,
    GENERAL_ROOM, HISTORY_DEFAULT_LIMIT,
};
use crate::render::render_html;
use crate::store::group_commit::{self, Done, Job};
use crate::store::{NewMessage, Reader, StoreError, Writer};
use axum::extract::ws::Utf8Bytes;
use futures::task::AtomicWaker;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::{mpsc, oneshot, Notify};

/// Identifies one WebSocket connection for its lifetime; never reused.
pub type ConnId = u64;

/// Close code for a server shutting down.
pub const CLOSE_GOING_AWAY: u16 = 1001;

/// A request to close one connection, shared by the hub, its reader and its writer.
///
/// Polled on every write, so it is cheap: a flag and one waker per side.
#[derive(Debug, Default)]
pub struct Closer {
    /// The close code and reason, once someone asked for a close.
    reason: Mutex<Option<(u16, &'static str)>>,
    /// Set once `reason` is.
    closed: AtomicBool,
    /// Wakes the reader waiting in [`Closer::closed`].
    reader: AtomicWaker,
    /// Wakes the writer waiting in [`Closer::closed`].
    writer: AtomicWaker,
}

/// Which task of a connection waits on its [`Closer`].
#[derive(Debug, Clone, Copy)]
pub enum Side {
    /// The task reading frames.
    Reader,
    /// The task writing frames.
    Writer,
}

impl Closer {
    /// Asks for the connection to be closed; the first reason wins.
    pub fn close(&self, code: u16, reason: &'static str) {
        let mut slot = self.reason.lock().expect("closer lock");
        if slot.is_none() {
            *slot = Some((code, reason));
        }
        drop(slot);
        self.closed.store(true, Ordering::Release);
        self.reader.wake();
        self.writer.wake();
    }

    /// Resolves with the close code and reason once [`Closer::close`] was
    /// called. One task per side may wait at a time.
    pub async fn closed(&self, side: Side) -> (u16, &'static str) {
        let waker = match side {
            Side::Reader => &self.reader,
            Side::Writer => &self.writer,
        };
        std::future::poll_fn(|cx| {
            waker.register(cx.waker());
            if self.closed.load(Ordering::Acquire) {
                let reason = *self.reason.lock().expect("closer lock");
                Poll::Ready(reason.expect("set before the flag"))
            } else {
                Poll::Pending
            }
        })
        .await
    }
}

/// One item of a connection's outbound queue: a frame, or several messages
/// of one room committed together (shared by every member, queued once).
#[derive(Debug, Clone)]
pub enum Outgoing {
    /// One serialized frame.
    Frame(Utf8Bytes),
    /// Serialized frames, in order.
    Frames(Arc<[Utf8Bytes]>),
}

impl Outgoing {
    /// How many frames this item holds.
    pub fn frames(&self) -> usize {
        match self {
            Outgoing::Frame(_) => 1,
            Outgoing::Frames(all) => all.len(),
        }
    }
}

/// Where the hub sends frames for one connection.
#[derive(Debug, Clone)]
pub struct Outbox {
    /// The queue drained by the connection's writer task.
    pub queue: mpsc::Sender<Outgoing>,
    /// Frames queued and not yet written; the queue's real bound.
    pub pending: Arc<AtomicUsize>,
    /// Most frames `pending` may reach before the client counts as too slow.
    pub limit: usize,
    /// Closes the connection.
    pub closer: Arc<Closer>,
}

impl Outbox {
    /// A queue of at most `limit` frames, and its receiving end.
    pub fn new(limit: usize) -> (Outbox, mpsc::Receiver<Outgoing>) {
        let (queue, rx) = mpsc::channel(limit.max(1));
        let outbox = Outbox {
            queue,
            pending: Arc::new(AtomicUsize::new(0)),
            limit,
            closer: Arc::new(Closer::default()),
        };
        (outbox, rx)
    }

    /// Queues an item; past `limit` frames the connection is closed as too slow.
    pub fn push(&self, item: Outgoing) {
        let n = item.frames();
        let over = self.pending.fetch_add(n, Ordering::Relaxed) + n > self.limit;
        if over
            || matches!(
                self.queue.try_send(item),
                Err(mpsc::error::TrySendError::Full(_))
            )
        {
            self.closer
                .close(CLOSE_TOO_SLOW, "too slow: outbound queue full");
        }
    }

    /// Queues one frame, serializing it.
    pub fn send(&self, frame: &ServerFrame) {
        self.push(Outgoing::Frame(Utf8Bytes::from(frame.to_json())));
    }
}

/// What connection tasks ask of the hub.
#[derive(Debug)]
pub enum Command {
    /// A new connection.
    Connect {
        /// Its id.
        conn: ConnId,
        /// Its outbound side.
        outbox: Outbox,
    },
    /// A parsed frame from a connection.
    Frame {
        /// The sender.
        conn: ConnId,
        /// The frame.
        frame: ClientFrame,
    },
    /// The connection is gone.
    Disconnect {
        /// Its id.
        conn: ConnId,
    },
    /// Results of one group commit, in commit order.
    Committed(Vec<Done<Tag>>),
    /// The server-rendered page asks for a room's recent messages and members.
    Snapshot {
        /// Room name.
        room: String,
        /// Where the answer goes.
        reply: oneshot::Sender<Result<Snapshot, ProtocolError>>,
    },
    /// A message from the page's plain form (browsers without JavaScript):
    /// validated like `hello` + `send`, stored, broadcast, then answered.
    Post {
        /// The display name given in the form.
        name: String,
        /// Room name.
        room: String,
        /// The text as typed.
        text: String,
        /// Gets the stored message, or why it was refused.
        reply: oneshot::Sender<Result<ChatMessage, ProtocolError>>,
    },
    /// Close every connection with 1001, refuse new ones, and let the store
    /// finish what it has.
    Shutdown,
}

/// Who waits for a message to be stored.
#[derive(Debug)]
pub enum Poster {
    /// A WebSocket connection: errors go to its queue, the message to its rooms.
    Conn(ConnId),
    /// A form post, answered with the stored message or the error.
    Form(oneshot::Sender<Result<ChatMessage, ProtocolError>>),
}

/// What travels with a message through the store: its poster and nonce.
pub type Tag = (Poster, Option<String>);

/// A room as the server-rendered page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    /// The most recent messages (as many as a `join` gets), oldest first.
    pub messages: Vec<ChatMessage>,
    /// Display names of the live members, sorted.
    pub members: Vec<String>,
}

/// Counts live connections (writer tasks) so shutdown can wait for them.
#[derive(Debug, Default)]
pub struct ConnGauge {
    /// Live writer tasks.
    count: AtomicUsize,
    /// Signalled each time a writer ends.
    changed: Notify,
}

/// Decrements the [`ConnGauge`] when dropped.
#[derive(Debug)]
pub struct GaugeGuard(Arc<ConnGauge>);

impl ConnGauge {
    /// Counts one more live connection until the guard is dropped.
    pub fn enter(self: &Arc<Self>) -> GaugeGuard {
        self.count.fetch_add(1, Ordering::SeqCst);
        GaugeGuard(self.clone())
    }

    /// Live connections now.
    pub fn live(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    /// Waits until no connection is live, or `limit` passes.
    pub async fn drained(&self, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.live() == 0 {
                return;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return;
            }
        }
    }
}

impl Drop for GaugeGuard {
    fn drop(&mut self) {
        self.0.count.fetch_sub(1, Ordering::SeqCst);
        self.0.changed.notify_waiters();
    }
}

/// A cheap handle to the hub task.
#[derive(Debug, Clone)]
pub struct HubHandle {
    /// Commands into the hub.
    commands: mpsc::Sender<Command>,
    /// Live connections.
    pub gauge: Arc<ConnGauge>,
    /// The group-commit thread, joined at shutdown.
    committer: Arc<Mutex<Option<std::thread::JoinHandle<()>>>>,
}

impl HubHandle {
    /// Sends a command; false when the hub is gone.
    pub async fn send(&self, command: Command) -> bool {
        self.commands.send(command).await.is_ok()
    }

    /// A room's recent messages and live members, read at a point that the
    /// live stream continues without gap.
    pub async fn snapshot(&self, room: &str) -> Result<Snapshot, ProtocolError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Snapshot {
            room: room.to_owned(),
            reply,
        })
        .await;
        answer.await.unwrap_or_else(|_| Err(gone()))
    }

    /// Posts a message for someone without a WebSocket (the plain form): the
    /// same validation, store and broadcast as `send`. Resolves once stored.
    pub async fn post(
        &self,
        name: &str,
        room: &str,
        text: &str,
    ) -> Result<ChatMessage, ProtocolError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::Post {
            name: name.to_owned(),
            room: room.to_owned(),
            text: text.to_owned(),
            reply,
        })
        .await;
        answer.await.unwrap_or_else(|_| Err(gone()))
    }

    /// Closes every connection with 1001, waits (up to `limit`) for them to
    /// end, then for the store to commit what it holds and close.
    pub async fn shutdown(&self, limit: Duration) {
        if self.send(Command::Shutdown).await {
            self.gauge.drained(limit).await;
        }
        let committer = self.committer.lock().expect("committer lock").take();
        if let Some(thread) = committer {
            let joined = tokio::task::spawn_blocking(move || thread.join());
            if tokio::time::timeout(limit, joined).await.is_err() {
                tracing::warn!("the store did not close in time");
            }
        }
    }
}

/// The answer when the hub dropped a request: it is shutting down or overloaded.
fn gone() -> ProtocolError {
    ProtocolError::new(
        ErrorCode::Unavailable,
        "the server could not take this now; try again",
    )
}

/// Jobs queued for the commit thread before `send` answers `unavailable`.
const COMMIT_QUEUE: usize = 65_536;

/// Starts the hub task and the store's group-commit thread.
pub fn spawn(config: Arc<Config>, reader: Reader, writer: Writer) -> Result<HubHandle, StoreError> {
    let (commands, mut rx) = mpsc::channel(8192);
    let (jobs, job_rx) = mpsc::channel(COMMIT_QUEUE);
    let committed = commands.clone();
    let committer = group_commit::spawn(writer, job_rx, move |done| {
        // The hub never waits on the commit thread, so this cannot deadlock.
        let _ = committed.blocking_send(Command::Committed(done));
    })
    .map_err(|e| StoreError::Failed(format!("cannot start the commit thread: {e}")))?;
    let mut hub = Hub::new(config, reader, jobs)?;
    tokio::spawn(async move {
        while let Some(command) = rx.recv().await {
            hub.handle(command);
        }
    });
    Ok(HubHandle {
        commands,
        gauge: Arc::new(ConnGauge::default()),
        committer: Arc::new(Mutex::new(Some(committer))),
    })
}

/// A token bucket: `rate` tokens a second, at most `burst` saved.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Tokens now.
    tokens: f64,
    /// When `tokens` was last brought up to date.
    at: Instant,
}

impl Bucket {
    fn full(burst: f64) -> Self {
        Bucket {
            tokens: burst,
            at: Instant::now(),
        }
    }

    /// Takes one token if there is one.
    fn take(&mut self, rate: f64, burst: f64) -> bool {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * rate).min(burst);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Typing notices forwarded per connection: 2 a second, bursts of 4; the rest are dropped.
const TYPING_RATE: f64 = 2.0;
const TYPING_BURST: f64 = 4.0;

/// One connection's state.
#[derive(Debug)]
struct Session {
    /// Its outbound side.
    outbox: Outbox,
    /// Its identity, once `hello` succeeded: the token.
    token: Option<Arc<str>>,
    /// Its display name, once `hello` succeeded.
    name: Arc<str>,
    /// Rooms joined.
    rooms: HashSet<Arc<str>>,
    /// `send` rate limit.
    sends: Bucket,
    /// `typing` throttle.
    typing: Bucket,
}

/// A remembered identity.
#[derive(Debug)]
struct Identity {
    /// Public id.
    id: String,
    /// Last display name.
    name: Arc<str>,
    /// The connection holding it now.
    conn: Option<ConnId>,
    /// Last time a connection took it (for evicting old offline identities).
    seen: Instant,
}

/// One room's live members.
#[derive(Debug, Default)]
struct Room {
    /// Members by connection: their outbound side.
    members: HashMap<ConnId, Outbox>,
    /// The id of the last message broadcast (0 before the first).
    last_id: u64,
}

/// The hub's state; see the module docs.
struct Hub {
    /// Limits.
    config: Arc<Config>,
    /// Reads history and creates rooms.
    reader: Reader,
    /// Queue to the group-commit thread; `None` once shutting down.
    writer: Option<mpsc::Sender<Job<Tag>>>,
    /// Live connections.
    sessions: HashMap<ConnId, Session>,
    /// Known rooms with their live members.
    rooms: HashMap<Arc<str>, Room>,
    /// Identities by token.
    identities: HashMap<Arc<str>, Identity>,
    /// Names held by live connections, lower-cased, to their connection.
    live_names: HashMap<String, ConnId>,
    /// `send` rate limits of form posters, by lower-cased name.
    form_buckets: HashMap<String, Bucket>,
    /// Set by [`Command::Shutdown`].
    shutting_down: bool,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).expect("the OS random source works");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

impl Hub {
    fn new(
        config: Arc<Config>,
        reader: Reader,
        writer: mpsc::Sender<Job<Tag>>,
    ) -> Result<Self, StoreError> {
        let mut rooms = HashMap::new();
        for (name, last_id) in reader.rooms()? {
            let room = Room {
                members: HashMap::new(),
                last_id,
            };
            rooms.insert(Arc::from(name), room);
        }
        rooms
            .entry(Arc::from(GENERAL_ROOM))
            .or_insert_with(Room::default);
        Ok(Hub {
            config,
            reader,
            writer: Some(writer),
            sessions: HashMap::new(),
            rooms,
            identities: HashMap::new(),
            live_names: HashMap::new(),
            form_buckets: HashMap::new(),
            shutting_down: false,
        })
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Connect { conn, outbox } => {
                if self.shutting_down {
                    outbox
                        .closer
                        .close(CLOSE_GOING_AWAY, "server shutting down");
                    return;
                }
                let burst = self.config.rate_burst;
                self.sessions.insert(
                    conn,
                    Session {
                        outbox,
                        token: None,
                        name: Arc::from(""),
                        rooms: HashSet::new(),
                        sends: Bucket::full(burst),
                        typing: Bucket::full(TYPING_BURST),
                    },
                );
            }
            Command::Frame { conn, frame } => {
                let nonce = frame.nonce().map(str::to_owned);
                if let Err(e) = self.on_frame(conn, frame) {
                    let frame = e.with_nonce(nonce.as_deref()).into_frame();
                    if let Some(s) = self.sessions.get(&conn) {
                        s.outbox.send(&frame);
                    }
                }
            }
            Command::Disconnect { conn } => self.remove_session(conn),
            Command::Committed(done) => self.on_committed(done),
            Command::Snapshot { room, reply } => {
                let _ = reply.send(self.on_snapshot(&room));
            }
            Command::Post {
                name,
                room,
                text,
                reply,
            } => match self.check_post(&name, &room, &text) {
                // On a store refusal the reply is dropped: the poster hears `unavailable`.
                Ok(message) => drop(self.store((Poster::Form(reply), None), message)),
                Err(e) => drop(reply.send(Err(e))),
            },
            Command::Shutdown => {
                self.shutting_down = true;
                self.writer = None;
                for s in self.sessions.values() {
                    s.outbox
                        .closer
                        .close(CLOSE_GOING_AWAY, "server shutting down");
                }
            }
        }
    }

    fn session(&mut self, conn: ConnId) -> Result<&mut Session, ProtocolError> {
        // A frame racing its connection's removal (a kicked client) is dropped.
        self.sessions
            .get_mut(&conn)
            .ok_or_else(|| ProtocolError::new(ErrorCode::BadRequest, "connection closed"))
    }

    fn on_frame(&mut self, conn: ConnId, frame: ClientFrame) -> Result<(), ProtocolError> {
        let session = self.session(conn)?;
        let ready = session.token.is_some();
        match frame {
            ClientFrame::Ping => {
                session.outbox.send(&ServerFrame::Pong);
                Ok(())
            }
            ClientFrame::Hello { name, token } => self.on_hello(conn, &name, token.as_deref()),
            _ if !ready => Err(ProtocolError::new(
                ErrorCode::HelloRequired,
                "say hello with a name first",
            )),
            ClientFrame::Join { room, after } => self.on_join(conn, &room, after),
            ClientFrame::Leave { room } => self.on_leave(conn, &room),
            ClientFrame::Send { room, text, nonce } => self.on_send(conn, room, &text, nonce),
            ClientFrame::Typing { room } => self.on_typing(conn, &room),
            ClientFrame::History {
                room,
                before,
                limit,
            } => self.on_history(conn, &room, before, limit),
        }
    }

    fn on_hello(
        &mut self,
        conn: ConnId,
        name: &str,
        token: Option<&str>,
    ) -> Result<(), ProtocolError> {
        if self.session(conn)?.token.is_some() {
            return Err(ProtocolError::new(
                ErrorCode::BadRequest,
                "this connection already said hello; reconnect to change name",
            ));
        }
        let name = validate_name(name)?;
        let key = name.to_lowercase();
        let known: Option<Arc<str>> = token
            .and_then(|t| self.identities.get_key_value(t))
            .map(|(k, _)| k.clone());
        if let Some(&holder) = self.live_names.get(&key) {
            let holder_token = self.sessions.get(&holder).and_then(|s| s.token.clone());
            if known.is_none() || holder_token != known {
                return Err(name_taken(name));
            }
        }
        let token = match known {
            Some(token) => {
                let old = self.identities[&token].conn;
                if let Some(old) = old.filter(|&old| old != conn) {
                    if let Some(s) = self.sessions.get(&old) {
                        s.outbox
                            .closer
                            .close(CLOSE_REPLACED, "replaced by a newer connection");
                    }
                    self.remove_session(old);
                }
                token
            }
            None => {
                self.evict_identities();
                let token: Arc<str> = Arc::from(random_hex(16));
                self.identities.insert(
                    token.clone(),
                    Identity {
                        id: random_hex(8),
                        name: Arc::from(name),
                        conn: None,
                        seen: Instant::now(),
                    },
                );
                token
            }
        };
        let name: Arc<str> = Arc::from(name);
        let identity = self.identities.get_mut(&token).expect("identity exists");
        identity.name = name.clone();
        identity.conn = Some(conn);
        identity.seen = Instant::now();
        let user = UserInfo {
            id: identity.id.clone(),
            name: name.to_string(),
        };
        self.live_names.insert(key, conn);
        let session = self.sessions.get_mut(&conn).expect("checked above");
        session.token = Some(token.clone());
        session.name = name;
        let mut rooms: Vec<String> = self.rooms.keys().map(|r| r.to_string()).collect();
        rooms.sort();
        session.outbox.send(&ServerFrame::Welcome {
            user,
            token: token.to_string(),
            rooms,
        });
        Ok(())
    }

    /// Forgets the least recently seen offline identities beyond the cap.
    fn evict_identities(&mut self) {
        let cap = self.config.max_identities;
        if self.identities.len() < cap {
            return;
        }
        let mut offline: Vec<(Instant, Arc<str>)> = self
            .identities
            .iter()
            .filter(|(_, i)| i.conn.is_none())
            .map(|(t, i)| (i.seen, t.clone()))
            .collect();
        offline.sort();
        let excess = self.identities.len() + 1 - cap * 9 / 10;
        for (_, token) in offline.into_iter().take(excess) {
            self.identities.remove(&token);
        }
    }

    fn joined_room(&self, conn: ConnId, room: &str) -> Result<(), ProtocolError> {
        validate_room(room)?;
        match self.sessions.get(&conn) {
            Some(s) if s.rooms.contains(room) => Ok(()),
            _ => Err(ProtocolError::new(
                ErrorCode::NotInRoom,
                format!("join {room:?} first"),
            )),
        }
    }

    fn on_join(
        &mut self,
        conn: ConnId,
        room: &str,
        after: Option<u64>,
    ) -> Result<(), ProtocolError> {
        validate_room(room)?;
        let already = self.session(conn)?.rooms.contains(room);
        if !already && self.session(conn)?.rooms.len() >= self.config.max_rooms_per_conn {
            return Err(ProtocolError::new(
                ErrorCode::TooManyRooms,
                format!(
                    "a connection can join at most {} rooms",
                    self.config.max_rooms_per_conn
                ),
            ));
        }
        let room_key: Arc<str> = match self.rooms.get_key_value(room) {
            Some((k, _)) => k.clone(),
            None => {
                if self.rooms.len() >= self.config.max_rooms_total {
                    return Err(ProtocolError::new(
                        ErrorCode::TooManyRooms,
                        "the server has no room for more rooms",
                    ));
                }
                self.reader.create_room(room).map_err(unavailable)?;
                let key: Arc<str> = Arc::from(room);
                self.rooms.insert(key.clone(), Room::default());
                key
            }
        };
        let upto = self.rooms[&room_key].last_id;
        let (messages, missed) = match after {
            Some(after) => {
                let replay = self
                    .reader
                    .after(room, after, self.config.replay_cap, upto)
                    .map_err(unavailable)?;
                (replay.messages, replay.missed)
            }
            None => (
                self.reader
                    .before(room, None, self.config.join_recent, upto)
                    .map_err(unavailable)?,
                false,
            ),
        };
        let members_now = &self.rooms[&room_key].members;
        let me = self.sessions.get(&conn).expect("checked above");
        let mut members: Vec<String> = members_now
            .keys()
            .filter(|&&c| c != conn)
            .filter_map(|c| self.sessions.get(c).map(|s| s.name.to_string()))
            .chain(std::iter::once(me.name.to_string()))
            .collect();
        members.sort();
        me.outbox.send(&ServerFrame::Joined {
            room: room.to_owned(),
            members,
            messages,
            missed,
        });
        if already {
            return Ok(());
        }
        let outbox = me.outbox.clone();
        let name = me.name.to_string();
        self.rooms
            .get_mut(&room_key)
            .expect("room exists")
            .members
            .insert(conn, outbox);
        self.sessions
            .get_mut(&conn)
            .expect("checked above")
            .rooms
            .insert(room_key.clone());
        self.broadcast(
            &room_key,
            &ServerFrame::Presence {
                room: room.to_owned(),
                user: name,
                state: PresenceState::Joined,
            },
            Some(conn),
        );
        Ok(())
    }

    fn on_leave(&mut self, conn: ConnId, room: &str) -> Result<(), ProtocolError> {
        self.joined_room(conn, room)?;
        self.leave_room(conn, room);
        if let Some(s) = self.sessions.get(&conn) {
            s.outbox.send(&ServerFrame::Left {
                room: room.to_owned(),
            });
        }
        Ok(())
    }

    /// Takes `conn` out of `room` and tells the others.
    fn leave_room(&mut self, conn: ConnId, room: &str) {
        let Some(session) = self.sessions.get_mut(&conn) else {
            return;
        };
        session.rooms.remove(room);
        let name = session.name.to_string();
        if let Some(r) = self.rooms.get_mut(room) {
            r.members.remove(&conn);
        }
        self.broadcast(
            room,
            &ServerFrame::Presence {
                room: room.to_owned(),
                user: name,
                state: PresenceState::Left,
            },
            None,
        );
    }

    fn on_send(
        &mut self,
        conn: ConnId,
        room: String,
        text: &str,
        nonce: Option<String>,
    ) -> Result<(), ProtocolError> {
        let (rate, burst) = (self.config.rate_per_sec, self.config.rate_burst);
        if !self.session(conn)?.sends.take(rate, burst) {
            return Err(rate_limited(rate, burst));
        }
        self.joined_room(conn, &room)?;
        let text = sanitize_text(text)?;
        let user = self.session(conn)?.name.to_string();
        self.store((Poster::Conn(conn), nonce), new_message(room, user, text))
    }

    /// Queues a validated message for the commit thread.
    fn store(&self, tag: Tag, message: NewMessage) -> Result<(), ProtocolError> {
        let Some(writer) = &self.writer else {
            return Err(ProtocolError::new(
                ErrorCode::Unavailable,
                "the server is shutting down",
            ));
        };
        writer.try_send(Job { tag, message }).map_err(|_| {
            ProtocolError::new(
                ErrorCode::Unavailable,
                "the server is too busy to store this; try again",
            )
        })
    }

    /// Validates a form post as `hello` + `send` would: the name, that no live
    /// connection holds it, the room (which must exist), the poster's rate
    /// limit and the text.
    fn check_post(
        &mut self,
        name: &str,
        room: &str,
        text: &str,
    ) -> Result<NewMessage, ProtocolError> {
        let name = validate_name(name)?;
        let key = name.to_lowercase();
        if self.live_names.contains_key(&key) {
            return Err(name_taken(name));
        }
        validate_room(room)?;
        if !self.rooms.contains_key(room) {
            return Err(no_such_room(room));
        }
        let text = sanitize_text(text)?;
        let (rate, burst) = (self.config.rate_per_sec, self.config.rate_burst);
        if self.form_buckets.len() >= self.config.max_identities {
            // Forget posters whose bucket has refilled: they lose nothing.
            let now = Instant::now();
            self.form_buckets
                .retain(|_, b| now.duration_since(b.at).as_secs_f64() * rate < burst);
        }
        let bucket = self
            .form_buckets
            .entry(key)
            .or_insert_with(|| Bucket::full(burst));
        if !bucket.take(rate, burst) {
            return Err(rate_limited(rate, burst));
        }
        Ok(new_message(room.to_owned(), name.to_owned(), text))
    }

    /// The recent messages and live members of an existing room.
    fn on_snapshot(&self, room: &str) -> Result<Snapshot, ProtocolError> {
        validate_room(room)?;
        let Some(r) = self.rooms.get(room) else {
            return Err(no_such_room(room));
        };
        let messages = self
            .reader
            .before(room, None, self.config.join_recent, r.last_id)
            .map_err(unavailable)?;
        let mut members: Vec<String> = r
            .members
            .keys()
            .filter_map(|c| self.sessions.get(c).map(|s| s.name.to_string()))
            .collect();
        members.sort();
        Ok(Snapshot { messages, members })
    }

    /// Broadcasts what the store committed; tells the senders of what it could not.
    /// The messages of one room in one commit go to each member as one item.
    fn on_committed(&mut self, done: Vec<Done<Tag>>) {
        let mut by_room: Vec<(String, Vec<Utf8Bytes>)> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for ((poster, nonce), result) in done {
            match result {
                Ok(message) => {
                    if let Poster::Form(reply) = poster {
                        let _ = reply.send(Ok(message.clone()));
                    }
                    if let Some(room) = self.rooms.get_mut(message.room.as_str()) {
                        debug_assert_eq!(message.id, room.last_id + 1);
                        room.last_id = message.id;
                    }
                    let room = message.room.clone();
                    let frame = ServerFrame::Message(ChatMessage { nonce, ..message });
                    let json = Utf8Bytes::from(frame.to_json());
                    let slot = *index.entry(room).or_insert_with_key(|room| {
                        by_room.push((room.clone(), Vec::new()));
                        by_room.len() - 1
                    });
                    by_room[slot].1.push(json);
                }
                Err(e) => {
                    let error = unavailable(e).with_nonce(nonce.as_deref());
                    match poster {
                        Poster::Conn(conn) => {
                            if let Some(s) = self.sessions.get(&conn) {
                                s.outbox.send(&error.into_frame());
                            }
                        }
                        Poster::Form(reply) => drop(reply.send(Err(error))),
                    }
                }
            }
        }
        for (room, mut frames) in by_room {
            let item = match frames.len() {
                1 => Outgoing::Frame(frames.pop().expect("one frame")),
                _ => Outgoing::Frames(Arc::from(frames)),
            };
            self.deliver(&room, item, None);
        }
    }

    fn on_typing(&mut self, conn: ConnId, room: &str) -> Result<(), ProtocolError> {
        self.joined_room(conn, room)?;
        let session = self.session(conn)?;
        if !session.typing.take(TYPING_RATE, TYPING_BURST) {
            return Ok(());
        }
        let user = session.name.to_string();
        self.broadcast(
            room,
            &ServerFrame::Typing {
                room: room.to_owned(),
                user,
            },
            Some(conn),
        );
        Ok(())
    }

    fn on_history(
        &mut self,
        conn: ConnId,
        room: &str,
        before: Option<u64>,
        limit: Option<i64>,
    ) -> Result<(), ProtocolError> {
        self.joined_room(conn, room)?;
        let limit = limit.map_or(HISTORY_DEFAULT_LIMIT as usize, |l| l as usize);
        let upto = self.rooms.get(room).map_or(0, |r| r.last_id);
        let messages = self
            .reader
            .before(room, before, limit, upto)
            .map_err(unavailable)?;
        self.session(conn)?.outbox.send(&ServerFrame::History {
            room: room.to_owned(),
            messages,
        });
        Ok(())
    }

    /// Serializes `frame` once and queues it for every member of `room` but `except`.
    fn broadcast(&self, room: &str, frame: &ServerFrame, except: Option<ConnId>) {
        self.deliver(
            room,
            Outgoing::Frame(Utf8Bytes::from(frame.to_json())),
            except,
        );
    }

    /// Queues `item` (cloning a reference) for every member of `room` but `except`.
    fn deliver(&self, room: &str, item: Outgoing, except: Option<ConnId>) {
        let Some(r) = self.rooms.get(room) else {
            return;
        };
        for (&member, outbox) in &r.members {
            if Some(member) != except {
                outbox.push(item.clone());
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
        let Some(session) = self.sessions.remove(&conn) else {
            return;
        };
        if let Some(token) = session.token {
            if let Some(identity) = self.identities.get_mut(&token) {
                if identity.conn == Some(conn) {
                    identity.conn = None;
                }
            }
            let key = session.name.to_lowercase();
            if self.live_names.get(&key) == Some(&conn) {
                self.live_names.remove(&key);
            }
        }
    }
}

/// `name_taken`: a live connection holds `name`.
fn name_taken(name: &str) -> ProtocolError {
    ProtocolError::new(ErrorCode::NameTaken, format!("the name {name:?} is in use"))
}

/// `rate_limited`, saying the limit.
fn rate_limited(rate: f64, burst: f64) -> ProtocolError {
    ProtocolError::new(
        ErrorCode::RateLimited,
        format!("slow down: at most {rate} messages a second (bursts of {burst})"),
    )
}

/// `bad_room` for a well-formed name that no room has.
fn no_such_room(room: &str) -> ProtocolError {
    ProtocolError::new(ErrorCode::BadRoom, format!("there is no room {room:?}"))
}

/// A message ready for the store, stamped now.
fn new_message(room: String, user: String, text: String) -> NewMessage {
    NewMessage {
        html: render_html(&text),
        room,
        user,
        text,
        ts: now_ms(),
    }
}

fn unavailable(e: StoreError) -> ProtocolError {
    tracing::error!(error = %e, "store failure");
    ProtocolError::new(
        ErrorCode::Unavailable,
        "the server could not store this; try again",
    )
}
