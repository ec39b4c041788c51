//! The browser's WebSocket to the hub, over gloo-net.

use crate::protocol::{ClientFrame, ServerFrame};
use futures::{SinkExt, StreamExt};
use gloo_net::websocket::{futures::WebSocket, Message};
use leptos::prelude::*;
use leptos::task::spawn_local;

/// `ws://` or `wss://` + this page's host + `/ws`.
fn ws_url() -> String {
    let location = web_sys::window().expect("a browser window").location();
    let scheme = match location.protocol().as_deref() {
        Ok("https:") => "wss",
        _ => "ws",
    };
    format!("{scheme}://{}/ws", location.host().unwrap_or_default())
}

/// Opens the socket, says hello as a guest, and reports the state in `status`.
pub fn connect(status: RwSignal<String>) {
    let socket = match WebSocket::open(&ws_url()) {
        Ok(socket) => socket,
        Err(e) => {
            status.set(format!("Cannot connect: {e}"));
            return;
        }
    };
    let (mut tx, mut rx) = socket.split();
    spawn_local(async move {
        let name = format!("guest-{}", (js_sys::Math::random() * 10_000.0) as u32);
        let hello = serde_json::to_string(&ClientFrame::Hello { name, token: None })
            .expect("frames serialize");
        if tx.send(Message::Text(hello)).await.is_err() {
            status.set("Disconnected".into());
            return;
        }
        while let Some(Ok(message)) = rx.next().await {
            if let Message::Text(text) = message {
                if let Ok(ServerFrame::Welcome { user, .. }) = serde_json::from_str(&text) {
                    status.set(format!("Connected as {}", user.name));
                }
            }
        }
        status.set("Disconnected".into());
    });
}
