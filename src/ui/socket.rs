//! The browser's WebSocket to the hub, over gloo-net: connecting, saying
//! hello, reconnecting with backoff, the idle ping, and the name and
//! joined rooms kept in `localStorage`.
//!
//! The identity is proven by the `HttpOnly` identity cookie the page and
//! the upgrade set (protocol 1.1): the browser sends it with every upgrade,
//! and the server's `welcome` then carries an empty token, so no script on
//! the page can read it. Only a browser that refuses cookies is given its
//! token; it is kept in `localStorage` (as in version 1) and sent with
//! `hello`.
//!
//! This is a driver of the model ([`Chat`]): it depends on it, never the
//! other way round. It installs the model's [`Link`] and owns everything
//! about transport ([`Driver`]). Each connection is one task that owns its
//! socket; a new connection bumps [`Driver::generation`], and whatever an
//! older one still delivers is ignored.

use super::state::{now_ms, Chat, Conn, Link};
use crate::protocol::{
    ClientFrame, ServerFrame, CLOSE_HELLO_TIMEOUT, CLOSE_REPLACED, CLOSE_SESSION_ENDED,
    GENERAL_ROOM,
};
use futures::channel::mpsc::{UnboundedReceiver, UnboundedSender};
use futures::future::{select, Either};
use futures::{SinkExt, StreamExt};
use gloo_net::websocket::{futures::WebSocket, Message, WebSocketError};
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// `localStorage` key of the identity (the name; the token only without cookies).
const IDENTITY_KEY: &str = "chat.identity";
/// `localStorage` key of the joined rooms.
const ROOMS_KEY: &str = "chat.rooms";
/// An application `ping` goes out after this long without sending (ms).
const PING_IDLE_MS: f64 = 25_000.0;
/// A connection that received nothing for this long is taken as dead (ms):
/// the idle ping's `pong` should have come long before.
const DEAD_AFTER_MS: f64 = 60_000.0;
/// First reconnection delay (ms); doubles each failed attempt.
const FIRST_BACKOFF_MS: f64 = 1_000.0;
/// Longest reconnection delay (ms).
const MAX_BACKOFF_MS: f64 = 30_000.0;
/// `localStorage` key of the time until which this browser goes live over
/// HTTP (*1.2*): its WebSocket failed on this network.
const FALLBACK_KEY: &str = "chat.fallback";
/// How long the fallback is remembered (ms), as pusher-js does: a network
/// that blocks WebSocket still blocks it on the next page load.
const FALLBACK_MS: f64 = 30.0 * 60_000.0;
/// A WebSocket that brings no frame this long after it was opened counts
/// as blocked (ms): some proxies accept the upgrade and then pass nothing.
const WS_SILENT_MS: u64 = 5_000;

/// What `localStorage` keeps of the identity.
#[derive(Serialize, Deserialize)]
struct Identity {
    /// The last accepted name.
    name: String,
    /// The token of the last `welcome`, when it carried one (no cookies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    token: Option<String>,
}

pub(super) fn storage() -> Option<web_sys::Storage> {
    window().local_storage().ok().flatten()
}

fn load<T: for<'de> Deserialize<'de>>(key: &str) -> Option<T> {
    let text = storage()?.get_item(key).ok().flatten()?;
    serde_json::from_str(&text).ok()
}

fn save<T: Serialize>(key: &str, value: &T) {
    if let (Some(storage), Ok(text)) = (storage(), serde_json::to_string(value)) {
        let _ = storage.set_item(key, &text);
    }
}

/// `ws://` or `wss://` + this page's host + `/ws`.
fn ws_url() -> String {
    let location = window().location();
    let scheme = match location.protocol().as_deref() {
        Ok("https:") => "wss",
        _ => "ws",
    };
    format!("{scheme}://{}/ws", location.host().unwrap_or_default())
}

/// The transport: the open socket's queue and what reconnection needs.
#[derive(Clone, Copy)]
struct Driver {
    /// The model it feeds.
    chat: Chat,
    /// The open socket's outgoing queue.
    tx: StoredValue<Option<UnboundedSender<String>>>,
    /// Counts connections; frames of an older one are ignored.
    generation: StoredValue<u64>,
    /// The identity's token from `welcome`, when the cookie does not prove it.
    token: StoredValue<Option<String>>,
    /// Failed connection attempts since the last `welcome` (for backoff).
    attempts: StoredValue<u32>,
    /// When a frame was last sent (ms), for the idle ping.
    last_sent: StoredValue<f64>,
    /// When a frame was last received (ms), to notice a dead connection.
    last_received: StoredValue<f64>,
    /// *1.2*: a frame came on this connection (a WebSocket that brings
    /// none is taken as blocked).
    got_frame: StoredValue<bool>,
    /// *1.2*: until when to go live over HTTP (ms since the epoch; 0: not).
    fallback_until: StoredValue<f64>,
}

/// Runs once the page is hydrated: starts the clock, installs the model's
/// link, restores the identity and rooms (saving them from then on), and
/// connects: with a known name it says hello, without one it watches the
/// room in view (protocol 1.1) so that new messages show before a name.
pub fn start(chat: Chat) {
    let driver = Driver {
        chat,
        tx: StoredValue::new(None),
        generation: StoredValue::new(0),
        token: StoredValue::new(None),
        attempts: StoredValue::new(0),
        last_sent: StoredValue::new(0.0),
        last_received: StoredValue::new(0.0),
        got_frame: StoredValue::new(false),
        fallback_until: StoredValue::new(load::<f64>(FALLBACK_KEY).unwrap_or(0.0)),
    };
    chat.link.set_value(Some(Link {
        send: Callback::new(move |frame| driver.send(&frame)),
        hello: Callback::new(move |()| driver.hello_or_connect()),
        reconnect: Callback::new(move |()| driver.connect()),
        notify: Callback::new(move |mention| super::notify::mentioned(chat, &mention)),
    }));
    chat.hydrated.set(true);
    chat.now.set(now_ms());
    set_interval(move || driver.tick(), Duration::from_secs(1));
    if let Some(rooms) = load::<Vec<String>>(ROOMS_KEY) {
        // The room the page was rendered with (`/r/<room>`) stays in view.
        let first = chat.current.get_untracked();
        for room in rooms.iter().filter(|r| r.as_str() != GENERAL_ROOM) {
            chat.join(room);
        }
        chat.switch(&first);
    }
    // `/r/<room>#m<id>` (a search result opened in a new tab): that
    // message in context.
    let hash = window().location().hash().unwrap_or_default();
    if let Some(id) = hash.strip_prefix("#m").and_then(|id| id.parse().ok()) {
        chat.open_message(&chat.current.get_untracked(), id);
    }
    // From here on, every change to the joined rooms is remembered.
    Effect::new(move |_| {
        let names: Vec<String> = chat
            .rooms
            .with(|rooms| rooms.iter().map(|r| r.name.to_string()).collect());
        save(ROOMS_KEY, &names);
    });
    if let Some(identity) = load::<Identity>(IDENTITY_KEY).filter(|_| !chat.signed_in) {
        chat.wanted_name.set(identity.name);
        driver.token.set_value(identity.token);
    }
    // With a name: hello; without: watch the room in view.
    driver.connect();
}

/// Keeps the address bar on the room in view (`/r/<room>`, pushed on each
/// switch), and follows the browser's back and forward buttons to the room
/// an address names (joining it if need be).
pub fn follow_address(chat: Chat) {
    Effect::new(move |_| {
        let path = super::room_path(&chat.current.get());
        let Ok(now) = window().location().pathname() else {
            return;
        };
        if now != path {
            let _ = window()
                .history()
                .and_then(|h| h.push_state_with_url(&wasm_bindgen::JsValue::NULL, "", Some(&path)));
        }
    });
    let handle = window_event_listener(leptos::ev::popstate, move |_| {
        let path = window().location().pathname().unwrap_or_default();
        if let Some(room) = super::room_of_path(&path) {
            if chat.room(&room).is_some() {
                chat.switch(&room);
            } else {
                chat.join(&room);
            }
        }
    });
    // The page lives as long as the document.
    std::mem::forget(handle);
}

impl Driver {
    /// Queues a frame on the open socket; false when there is none.
    fn send(&self, frame: &ClientFrame) -> bool {
        let Ok(json) = serde_json::to_string(frame) else {
            return false;
        };
        let sent = self.tx.with_value(|tx| {
            tx.as_ref()
                .is_some_and(|tx| tx.unbounded_send(json).is_ok())
        });
        if sent {
            self.last_sent.set_value(now_ms());
        }
        sent
    }

    /// `hello` with the wanted name and our token.
    fn send_hello(&self) -> bool {
        self.send(&ClientFrame::Hello {
            name: Some(self.chat.wanted_name.get_untracked().trim().to_owned()),
            token: self.token.get_value(),
        })
    }

    /// Every second: the clock, the idle ping, and a check for a dead connection.
    fn tick(&self) {
        let now = now_ms();
        self.chat.now.set(now);
        if self.chat.conn.get_untracked() != Conn::Online {
            return;
        }
        if now - self.last_received.get_value() > DEAD_AFTER_MS {
            leptos::logging::warn!("no answer from the server for 60 s: reconnecting");
            self.connect();
        } else if now - self.last_sent.get_value() >= PING_IDLE_MS {
            self.send(&ClientFrame::Ping);
        }
        // Over HTTP for long enough: see whether WebSocket works again.
        if self.chat.fallback.get_untracked() && now >= self.fallback_until.get_value() {
            self.fallback_until.set_value(now + FALLBACK_MS);
            self.probe();
        }
        // What a visible page shows has been read (a hidden one's has not).
        if !document().hidden() {
            self.chat.mark_read();
        }
    }

    /// A name was chosen: say hello on the open socket if it has not been
    /// welcomed yet; otherwise (a rename, or no socket) open a new connection.
    fn hello_or_connect(&self) {
        let chat = self.chat;
        let open = self.tx.with_value(Option::is_some);
        if open && chat.me.get_untracked().is_none() && chat.conn.get_untracked() == Conn::Idle {
            chat.conn.set(Conn::Connecting);
            self.send_hello();
        } else {
            self.connect();
        }
    }

    /// The socket is gone: forget its queue and tell the model.
    fn disconnected(&self) {
        self.tx.set_value(None);
        self.chat.disconnected();
    }

    /// Opens a new connection (closing any other), says hello, and serves it
    /// until it closes; then schedules the next attempt. *1.2*: over HTTP
    /// while this network is known to block WebSocket.
    fn connect(&self) {
        let (driver, chat) = (*self, self.chat);
        let generation = self.generation.get_value() + 1;
        self.generation.set_value(generation);
        self.disconnected();
        chat.conn.set(Conn::Connecting);
        let fallback = now_ms() < self.fallback_until.get_value();
        chat.fallback.set(fallback);
        let (tx, outgoing) = futures::channel::mpsc::unbounded::<String>();
        self.tx.set_value(Some(tx));
        self.last_received.set_value(now_ms());
        self.got_frame.set_value(false);
        if chat.wanted_name.get_untracked().trim().is_empty() {
            // No name yet (1.1): watch the room in view live until one is
            // chosen; `hello` then goes on this same connection.
            let room = chat.current.get_untracked().to_string();
            self.send(&ClientFrame::Watch { room });
            chat.conn.set(Conn::Idle);
        } else {
            self.send_hello();
        }
        if fallback {
            spawn_local(async move {
                let received = move |text: String| driver.received(generation, &text);
                let (code, _) = super::fallback::run(outgoing, received).await;
                driver.ended(generation, code);
            });
            return;
        }
        let socket = match WebSocket::open(&ws_url()) {
            Ok(socket) => socket,
            Err(e) => {
                leptos::logging::warn!("cannot open the WebSocket: {e}");
                self.blocked(generation);
                return;
            }
        };
        // Opened, and silent: as blocked as refused.
        set_timeout(
            move || {
                if driver.generation.get_value() == generation && !driver.got_frame.get_value() {
                    driver.blocked(generation);
                }
            },
            Duration::from_millis(WS_SILENT_MS),
        );
        spawn_local(async move {
            let code = serve_socket(socket, outgoing, move |text| {
                driver.received(generation, &text)
            })
            .await;
            driver.ended(generation, code);
        });
    }

    /// A frame of connection `generation`; false once it was replaced.
    fn received(&self, generation: u64, text: &str) -> bool {
        if self.generation.get_value() != generation {
            return false;
        }
        self.last_received.set_value(now_ms());
        self.got_frame.set_value(true);
        match serde_json::from_str::<ServerFrame>(text) {
            Ok(frame) => self.on_frame(frame),
            Err(e) => leptos::logging::warn!("unreadable frame from the server: {e}"),
        }
        true
    }

    /// Connection `generation` ended (with the server's close code, if it
    /// gave one): what comes next depends on why.
    fn ended(&self, generation: u64, close_code: Option<u16>) {
        let chat = self.chat;
        if self.generation.get_value() != generation {
            return;
        }
        self.disconnected();
        if close_code == Some(CLOSE_REPLACED) {
            chat.conn.set(Conn::Replaced);
        } else if close_code == Some(CLOSE_SESSION_ENDED) {
            chat.conn.set(Conn::SignedOut);
        } else if close_code == Some(CLOSE_HELLO_TIMEOUT) {
            // No name was accepted in time: wait for the next one, which
            // opens a new connection (`hello_or_connect`).
            chat.conn.set(Conn::Idle);
        } else if !self.got_frame.get_value() && !chat.fallback.get_untracked() {
            self.blocked(generation);
        } else {
            if !self.got_frame.get_value() {
                // HTTP failed too: the server, not the network. WebSocket
                // first again.
                self.remember_fallback(0.0);
            }
            self.retry_later(generation);
        }
    }

    /// *1.2*: the WebSocket of connection `generation` failed to open, was
    /// refused, or brought nothing: go live over HTTP at once, for a while.
    fn blocked(&self, generation: u64) {
        if self.generation.get_value() != generation {
            return;
        }
        leptos::logging::warn!("WebSocket unavailable: going live over HTTP");
        self.remember_fallback(now_ms() + FALLBACK_MS);
        self.connect();
    }

    /// Keeps the fallback's end (0: not on it), here and for the next page.
    fn remember_fallback(&self, until: f64) {
        self.fallback_until.set_value(until);
        save(FALLBACK_KEY, &until);
    }

    /// *1.2*: opens a WebSocket that only pings: a `pong` in time means
    /// WebSocket works here again, and the chat moves back to it (the new
    /// connection's joins, `after` what was seen, lose and double nothing).
    fn probe(&self) {
        let driver = *self;
        let Ok(mut socket) = WebSocket::open(&ws_url()) else {
            return;
        };
        spawn_local(async move {
            let ping = serde_json::to_string(&ClientFrame::Ping).unwrap_or_default();
            let pong = async {
                if !opened(&mut socket).await {
                    return None;
                }
                socket.send(Message::Text(ping)).await.ok()?;
                match socket.next().await {
                    Some(Ok(Message::Text(text))) => Some(text.contains("pong")),
                    _ => None,
                }
            };
            let timeout = super::fallback::sleep(WS_SILENT_MS);
            if let Either::Left((Some(true), _)) = select(Box::pin(pong), timeout).await {
                if driver.chat.fallback.get_untracked() {
                    driver.remember_fallback(0.0);
                    driver.connect();
                }
            }
        });
    }

    /// Handles a frame: on `welcome`, keeps the token and remembers the
    /// identity; then the model applies it.
    fn on_frame(&self, frame: ServerFrame) {
        if let ServerFrame::Welcome { user, token, .. } = &frame {
            // *1.2*: welcomed over HTTP: does WebSocket work here now (the
            // server came back after the failure, or the network changed)?
            if self.chat.fallback.get_untracked() {
                self.probe();
            }
            // Empty: the cookie proves the identity, and nothing keeps a token.
            let token = Some(token.clone()).filter(|t| !t.is_empty());
            self.token.set_value(token.clone());
            self.attempts.set_value(0);
            save(
                IDENTITY_KEY,
                &Identity {
                    name: user.name.clone(),
                    token,
                },
            );
        }
        self.chat.apply(frame, now_ms());
    }

    /// Shows "Reconnecting in N s…" and connects again after the backoff:
    /// 1 s doubling to 30 s, each delay drawn from 75–125 % of its step.
    fn retry_later(&self, generation: u64) {
        let driver = *self;
        let attempt = self.attempts.get_value();
        self.attempts.set_value(attempt.saturating_add(1));
        let step = (FIRST_BACKOFF_MS * 2f64.powi(attempt.min(5) as i32)).min(MAX_BACKOFF_MS);
        let delay = (step * (0.75 + js_sys::Math::random() * 0.5)).min(MAX_BACKOFF_MS);
        self.chat.conn.set(Conn::Waiting {
            until: now_ms() + delay,
        });
        set_timeout(
            move || {
                let waiting = matches!(driver.chat.conn.get_untracked(), Conn::Waiting { .. });
                if waiting && driver.generation.get_value() == generation {
                    driver.connect();
                }
            },
            Duration::from_millis(delay as u64),
        );
    }
}

/// Serves one WebSocket until it closes: frames the page queues go out, each
/// text frame received goes to `received` (false: the connection was
/// replaced, stop). Returns the server's close code, if it gave one.
async fn serve_socket(
    mut socket: WebSocket,
    mut outgoing: UnboundedReceiver<String>,
    received: impl Fn(String) -> bool,
) -> Option<u16> {
    loop {
        // Either side's unfinished `next` is dropped here: both are cancel-safe.
        let next = match select(outgoing.next(), socket.next()).await {
            Either::Left((out, _)) => Either::Left(out),
            Either::Right((incoming, _)) => Either::Right(incoming),
        };
        match next {
            // Queued by the page: write it once the socket is open. A socket
            // that never opens (refused) is not written to (the browser
            // would log an error); its close event comes next.
            Either::Left(Some(text)) => {
                if opened(&mut socket).await && socket.send(Message::Text(text)).await.is_err() {
                    return None;
                }
            }
            // The page replaced this connection: dropping the socket closes it.
            Either::Left(None) => return None,
            Either::Right(Some(Ok(Message::Text(text)))) => {
                if !received(text) {
                    return None;
                }
            }
            Either::Right(Some(Ok(Message::Bytes(_)))) => {}
            Either::Right(Some(Err(WebSocketError::ConnectionClose(event)))) => {
                return Some(event.code)
            }
            // An error event; the close event follows.
            Either::Right(Some(Err(_))) => {}
            Either::Right(None) => return None,
        }
    }
}

/// Waits while `socket` connects (gloo's sink wakes on open, error and
/// close: no timer, so a page whose clock is paused still gets here); true
/// once it is open.
async fn opened(socket: &mut WebSocket) -> bool {
    use futures::Sink;
    use gloo_net::websocket::State;
    let _ = std::future::poll_fn(|cx| {
        Sink::<Message>::poll_ready(std::pin::Pin::new(&mut *socket), cx)
    })
    .await;
    matches!(socket.state(), State::Open)
}
