//! The browser's WebSocket to the hub, over gloo-net: connecting, saying
//! hello, reconnecting with backoff, the idle ping, and the identity and
//! joined rooms kept in `localStorage`.
//!
//! Each connection is one task that owns its socket; [`Chat::link`] is the
//! way in. A new connection bumps [`Chat::generation`], and whatever an older
//! one still delivers is ignored.

use super::state::{now_ms, Chat, Conn};
use crate::protocol::{ClientFrame, ServerFrame, CLOSE_REPLACED, GENERAL_ROOM};
use futures::future::{select, Either};
use futures::{SinkExt, StreamExt};
use gloo_net::websocket::{futures::WebSocket, Message, WebSocketError};
use leptos::prelude::*;
use leptos::task::spawn_local;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// `localStorage` key of the identity (name and token).
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

/// What `localStorage` keeps of the identity.
#[derive(Serialize, Deserialize)]
struct Identity {
    /// The last accepted name.
    name: String,
    /// The token of the last `welcome`.
    token: String,
}

fn storage() -> Option<web_sys::Storage> {
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

/// Remembers the joined rooms, so a reload joins them again.
pub fn save_rooms(rooms: &[String]) {
    save(ROOMS_KEY, &rooms);
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

/// Runs once the page is hydrated: starts the clock, restores the identity
/// and rooms, and connects if a name is known.
pub fn start(chat: Chat) {
    chat.hydrated.set(true);
    chat.now.set(now_ms());
    set_interval(move || tick(chat), Duration::from_secs(1));
    if let Some(rooms) = load::<Vec<String>>(ROOMS_KEY) {
        for room in rooms.iter().filter(|r| r.as_str() != GENERAL_ROOM) {
            chat.join(room);
        }
        chat.switch(GENERAL_ROOM);
    }
    if let Some(identity) = load::<Identity>(IDENTITY_KEY) {
        chat.wanted_name.set(identity.name);
        chat.token.set_value(Some(identity.token));
        connect(chat);
    }
}

/// Every second: the clock, the idle ping, and a check for a dead connection.
fn tick(chat: Chat) {
    let now = now_ms();
    chat.now.set(now);
    if chat.conn.get_untracked() != Conn::Online {
        return;
    }
    if now - chat.last_received.get_value() > DEAD_AFTER_MS {
        leptos::logging::warn!("no answer from the server for 60 s: reconnecting");
        connect(chat);
    } else if now - chat.last_sent.get_value() >= PING_IDLE_MS {
        chat.send(&ClientFrame::Ping);
    }
}

/// A name was chosen: say hello on the open socket if it has not been
/// welcomed yet; otherwise (a rename, or no socket) open a new connection.
pub fn hello_or_connect(chat: Chat) {
    let open = chat.link.with_value(Option::is_some);
    if open && chat.me.get_untracked().is_none() && chat.conn.get_untracked() == Conn::Idle {
        chat.conn.set(Conn::Connecting);
        chat.send_hello();
    } else {
        connect(chat);
    }
}

/// Opens a new connection (closing any other), says hello, and serves it
/// until it closes; then schedules the next attempt.
pub fn connect(chat: Chat) {
    let generation = chat.generation.get_value() + 1;
    chat.generation.set_value(generation);
    chat.disconnected();
    chat.conn.set(Conn::Connecting);
    let mut socket = match WebSocket::open(&ws_url()) {
        Ok(socket) => socket,
        Err(e) => {
            leptos::logging::warn!("cannot open the WebSocket: {e}");
            retry_later(chat, generation);
            return;
        }
    };
    let (tx, mut outgoing) = futures::channel::mpsc::unbounded::<String>();
    chat.link.set_value(Some(tx));
    chat.last_received.set_value(now_ms());
    chat.send_hello();
    spawn_local(async move {
        let mut close_code = None;
        loop {
            // Either side's unfinished `next` is dropped here: both are cancel-safe.
            let next = match select(outgoing.next(), socket.next()).await {
                Either::Left((out, _)) => Either::Left(out),
                Either::Right((incoming, _)) => Either::Right(incoming),
            };
            match next {
                // Queued by the page: write it (the sink waits for the socket to open).
                Either::Left(Some(text)) => {
                    if socket.send(Message::Text(text)).await.is_err() {
                        break;
                    }
                }
                // The page replaced this connection: dropping the socket closes it.
                Either::Left(None) => return,
                Either::Right(Some(Ok(Message::Text(text)))) => {
                    if chat.generation.get_value() != generation {
                        return;
                    }
                    chat.last_received.set_value(now_ms());
                    match serde_json::from_str::<ServerFrame>(&text) {
                        Ok(frame) => on_frame(chat, frame),
                        Err(e) => leptos::logging::warn!("unreadable frame from the server: {e}"),
                    }
                }
                Either::Right(Some(Ok(Message::Bytes(_)))) => {}
                Either::Right(Some(Err(WebSocketError::ConnectionClose(event)))) => {
                    close_code = Some(event.code);
                    break;
                }
                // An error event; the close event follows.
                Either::Right(Some(Err(_))) => {}
                Either::Right(None) => break,
            }
        }
        if chat.generation.get_value() != generation {
            return;
        }
        chat.disconnected();
        if close_code == Some(CLOSE_REPLACED) {
            chat.conn.set(Conn::Replaced);
        } else {
            retry_later(chat, generation);
        }
    });
}

/// Handles a frame: remembers the identity on `welcome`, then updates the state.
fn on_frame(chat: Chat, frame: ServerFrame) {
    if let ServerFrame::Welcome { user, token, .. } = &frame {
        save(
            IDENTITY_KEY,
            &Identity {
                name: user.name.clone(),
                token: token.clone(),
            },
        );
    }
    chat.apply(frame, now_ms());
}

/// Shows "Reconnecting in N s…" and connects again after the backoff:
/// 1 s doubling to 30 s, each delay drawn from 75–125 % of its step.
fn retry_later(chat: Chat, generation: u64) {
    let attempt = chat.attempts.get_value();
    chat.attempts.set_value(attempt.saturating_add(1));
    let step = (FIRST_BACKOFF_MS * 2f64.powi(attempt.min(5) as i32)).min(MAX_BACKOFF_MS);
    let delay = (step * (0.75 + js_sys::Math::random() * 0.5)).min(MAX_BACKOFF_MS);
    chat.conn.set(Conn::Waiting {
        until: now_ms() + delay,
    });
    set_timeout(
        move || {
            let waiting = matches!(chat.conn.get_untracked(), Conn::Waiting { .. });
            if waiting && chat.generation.get_value() == generation {
                connect(chat);
            }
        },
        Duration::from_millis(delay as u64),
    );
}
