//! Browser notifications of mentions (the Notification API), opt-in: the
//! page asks for the permission only when "Notify me of mentions" is
//! clicked, remembers the choice in `localStorage`, and notifies only while
//! the tab is hidden (a visible page shows the mention itself).

use super::state::{Alerts, Chat, Mention};
use js_sys::futures::JsFuture;
use leptos::prelude::*;
use leptos::task::spawn_local;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{Notification, NotificationOptions, NotificationPermission};

/// `localStorage` key: "on" once notifications were asked for and allowed.
const ALERTS_KEY: &str = "chat.alerts";

fn remembered() -> bool {
    super::socket::storage()
        .and_then(|s| s.get_item(ALERTS_KEY).ok().flatten())
        .is_some_and(|v| v == "on")
}

fn remember(on: bool) {
    if let Some(storage) = super::socket::storage() {
        let _ = storage.set_item(ALERTS_KEY, if on { "on" } else { "off" });
    }
}

/// Offers notifications when the browser has them.
pub fn start(chat: Chat) {
    let has_api = js_sys::Reflect::has(&window(), &"Notification".into()).unwrap_or(false);
    if !has_api {
        return;
    }
    chat.alerts.set(match Notification::permission() {
        NotificationPermission::Denied => Alerts::Denied,
        NotificationPermission::Granted if remembered() => Alerts::On,
        _ => Alerts::Off,
    });
}

/// A message mentions us ([`super::state::Link::notify`]): a notification
/// while they are on and the tab is hidden.
pub fn mentioned(chat: Chat, mention: &Mention) {
    if chat.alerts.get_untracked() == Alerts::On && document().hidden() {
        show(chat, mention);
    }
}

/// One notification: "<author> in #<room>", the text as its body; a click
/// brings the tab forward with that room in view.
fn show(chat: Chat, mention: &Mention) {
    let options = NotificationOptions::new();
    options.set_body(&mention.text);
    options.set_tag(&format!("chat-{}", mention.room));
    let title = format!("{} in #{}", mention.user, mention.room);
    if let Ok(note) = Notification::new_with_options(&title, &options) {
        let room = mention.room.clone();
        let on_click = Closure::once_into_js(move || {
            let _ = window().focus();
            chat.switch(&room);
        });
        note.set_onclick(Some(on_click.unchecked_ref()));
    }
}

/// "Notify me of mentions": asks for the permission (once the browser
/// allows it, it is not asked again); clicked again, turns them off.
pub fn toggle(chat: Chat) {
    match chat.alerts.get_untracked() {
        Alerts::On => {
            remember(false);
            chat.alerts.set(Alerts::Off);
        }
        Alerts::Off => spawn_local(async move {
            let answer = match Notification::request_permission() {
                Ok(promise) => JsFuture::from(promise)
                    .await
                    .ok()
                    .and_then(|v| v.as_string()),
                Err(_) => None,
            };
            let state = match answer.as_deref() {
                Some("granted") => Alerts::On,
                Some("denied") => Alerts::Denied,
                _ => Alerts::Off,
            };
            remember(state == Alerts::On);
            chat.alerts.set(state);
        }),
        Alerts::Denied | Alerts::Unsupported => {}
    }
}
