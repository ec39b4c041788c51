//! The Leptos UI, rendered on the server and hydrated in the browser.
//!
//! - [`shell`] and [`App`]: the HTML document and the chat page.
//! - [`PageData`]: what the server renders the page from (the `general`
//!   room's recent messages and members, the plain form's state); the same
//!   value is serialized into the page so hydration starts from it.
//! - `state`: the reactive state (rooms, members, messages, typing,
//!   connection) and how each server frame changes it.
//! - `rooms`, `messages`, `composer`: the sidebar and member list, the
//!   message list, the message form.
//! - `invites` (*1.2*): the "New room" dialog, invitations, the invite field.
//! - `mentions`: `@name` found in messages (marked, and "mentions you").
//! - `search`: the search box and results.
//! - `notify` (feature `hydrate`): browser notifications of mentions.
//! - `socket` (feature `hydrate`): the gloo-net WebSocket, reconnection with
//!   backoff, the identity kept in `localStorage`.
//! - `fresh` (feature `hydration-check`, tests only): the page rendered again
//!   in the browser from its hydration data, to find hydration mismatches.
//!
//! Without JavaScript the page is still a chat: the server renders the
//! messages, and the composer is a plain `POST /` form (see
//! `server::pages`). With JavaScript the same form is taken over and speaks
//! the WebSocket protocol.

mod attachments;
mod composer;
#[cfg(feature = "hydrate")]
mod fallback;
#[cfg(feature = "hydration-check")]
mod fresh;
mod invites;
mod mentions;
mod message_menu;
mod messages;
mod moderation;
#[cfg(feature = "ssr")]
pub(crate) use messages::iso;
#[cfg(feature = "hydrate")]
mod notify;
mod rooms;
mod search;
#[cfg(feature = "hydrate")]
mod socket;
pub mod state;
pub mod uploads;

use crate::protocol::{ChatMessage, ErrorCode, GENERAL_ROOM};
#[cfg(feature = "hydration-check")]
pub use fresh::render_fresh;
use leptos::either::Either;
use leptos::prelude::*;
use leptos::server::SharedValue;
use serde::{Deserialize, Serialize};
use state::{Alerts, Chat, Conn};

/// What the server renders the page from, serialized into it for hydration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PageData {
    /// The room shown first (`general`).
    pub room: String,
    /// Its most recent messages, oldest first.
    pub messages: Vec<ChatMessage>,
    /// Its first live members in member order (a `joined` reply's worth).
    pub members: Vec<String>,
    /// How many live members it has.
    #[serde(default)]
    pub member_count: usize,
    /// The rooms to list (as a `welcome` lists them): links without JavaScript.
    #[serde(default)]
    pub rooms: Vec<String>,
    /// The name to fill in: the refused form's, or a cookie of an earlier post.
    pub name: String,
    /// The refused form's text, so nothing typed is lost.
    pub text: String,
    /// Why the plain form's post was refused.
    pub error: Option<FormError>,
    /// True when the history could not be read (the store failed).
    pub unavailable: bool,
    /// *1.1*: the plain form's nonce: posting the same form twice posts once.
    #[serde(default)]
    pub nonce: String,
    /// *1.2*: the account's name when the visitor is signed in.
    #[serde(default)]
    pub account: Option<String>,
    /// *1.2*: the visitor's rooms (`welcome.mine`): locks on private
    /// rooms, direct messages by the other person's name, invitations.
    #[serde(default)]
    pub mine: Vec<crate::protocol::MyRoom>,
}

/// A refused form post, shown next to the form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FormError {
    /// The protocol's error code.
    pub code: ErrorCode,
    /// The human-readable reason.
    pub message: String,
}

/// The HTML document: head with hydration scripts, body with [`App`]
/// (rendered by the server only).
#[cfg(feature = "ssr")]
pub fn shell(options: LeptosOptions) -> impl IntoView {
    // The browser keeps the title up to date with the unread count.
    let title = match use_context::<PageData>() {
        Some(data) => page_title(&first_room(&data), 0),
        None => "Not found · Chat".to_owned(),
    };
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="color-scheme" content="light dark"/>
                <meta name="description" content="A real-time chat: rooms, names, live messages."/>
                <title>{title}</title>
                <link rel="icon" type="image/svg+xml" href="/favicon.svg"/>
                // `/pkg/chat.<hash>.css` when the build hashed file names.
                <leptos_meta::HashedStylesheet options=options.clone()/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The application: the chat page (or "not found" for
/// any path that is neither the page nor a file).
#[component]
pub fn App() -> impl IntoView {
    // Run on the server only; the browser reads the serialized value.
    let data = SharedValue::new(use_context::<PageData>).into_inner();
    #[cfg(feature = "hydration-check")]
    if let Some(data) = &data {
        fresh::remember(data);
    }
    view! {
        {match data {
            Some(data) => Either::Left(view! { <ChatPage data/> }),
            None => Either::Right(view! {
                <main class="not-found">
                    <h1>"Page not found"</h1>
                    <p><a href="/">"Back to the chat"</a></p>
                </main>
            }),
        }}
    }
}

/// The chat: header, connection banner, rooms, messages, composer, members.
/// `live` is false only for the tests' fresh render (no connection, no title).
#[component]
fn ChatPage(data: PageData, #[prop(default = true)] live: bool) -> impl IntoView {
    let chat = Chat::new(&data);
    provide_context(chat);
    #[cfg(not(feature = "hydrate"))]
    let _ = live;
    #[cfg(feature = "hydrate")]
    if live {
        Effect::new(move |_| {
            untrack(|| {
                socket::start(chat);
                notify::start(chat);
            })
        });
        Effect::new(move |_| {
            document().set_title(&page_title(&chat.current.get(), chat.unread_total()));
        });
        socket::follow_address(chat);
    }
    view! {
        <div
            class="app"
            class:hydrated=move || chat.hydrated.get()
            class:show-members=move || chat.show_members.get()
        >
            <header class="top">
                <h1 class="brand">
                    <img src="/favicon.svg" alt="" width="24" height="24"/>
                    "Chat"
                </h1>
                <Identity/>
                <AccountLinks account=data.account.clone() guest=!data.name.is_empty()/>
            </header>
            <div class="banners">
                <Banner/>
                {move || {
                    chat.notice
                        .get()
                        .map(|text| {
                            view! {
                                <p class="banner warn" role="alert" data-testid="notice-banner">
                                    <span>{text}</span>
                                    <button type="button" on:click=move |_| chat.notice.set(None)>
                                        "Dismiss"
                                    </button>
                                </p>
                            }
                        })
                }}
                {data
                    .unavailable
                    .then(|| {
                        view! {
                            <p class="banner warn" role="alert">
                                "The history could not be read; new messages still arrive."
                            </p>
                        }
                    })}
            </div>
            <rooms::Sidebar/>
            <main
                class="pane"
                aria-labelledby="room-title"
                on:dragover=move |ev: leptos::ev::DragEvent| {
                    // *1.2* (section 5): files dropped onto the room are uploaded.
                    #[cfg(feature = "hydrate")]
                    if ev.data_transfer().is_some_and(|d| d.types().includes(&"Files".into(), 0)) {
                        ev.prevent_default();
                    }
                    #[cfg(not(feature = "hydrate"))]
                    let _ = ev;
                }
                on:drop=move |ev: leptos::ev::DragEvent| {
                    #[cfg(feature = "hydrate")]
                    if let Some(files) = ev.data_transfer().and_then(|d| d.files()) {
                        if files.length() > 0 {
                            ev.prevent_default();
                            expect_context::<state::Chat>().upload_files(&files);
                        }
                    }
                    #[cfg(not(feature = "hydrate"))]
                    let _ = ev;
                }
            >
                <messages::RoomHeader/>
                <search::SearchResults/>
                <messages::MessageList/>
                <composer::Composer data=data.clone()/>
            </main>
            <rooms::Members/>
        </div>
    }
}

/// Who you are, with a way to change the name (JavaScript only).
#[component]
fn Identity() -> impl IntoView {
    let chat = expect_context::<Chat>();
    view! {
        <div class="identity needs-js">
            {move || {
                chat.me
                    .get()
                    .map(|me| {
                        view! {
                            <span data-testid="me">
                                "You are " <strong>{me}</strong>
                            </span>
                            <button type="button" class="link" on:click=move |_| chat.change_name()>
                                "Change name"
                            </button>
                            <AlertsToggle/>
                        }
                    })
            }}
        </div>
    }
}

/// *1.2*: who is signed in, with a link to the account page; for a
/// guest, sign-in and "keep this name" (plain links: they work without
/// JavaScript, and the pages they open have none).
#[component]
fn AccountLinks(account: Option<String>, guest: bool) -> impl IntoView {
    let chat = expect_context::<Chat>();
    // A name chosen on this page (not only one the form remembered).
    let named = move || guest || chat.me.get().is_some();
    view! {
        <nav class="account-links" aria-label="Account">
            {match account {
                Some(name) => Either::Left(view! {
                    <span data-testid="signed-in">"Signed in as " <strong>{name}</strong></span>
                    <a href="/account">"Account"</a>
                }),
                None => Either::Right(view! {
                    <a href="/login" data-testid="sign-in">"Sign in"</a>
                    <a href="/signup">
                        {move || if named() { "Keep this name: set a password" } else { "Make an account" }}
                    </a>
                }),
            }}
        </nav>
    }
}

/// "Notify me of mentions" (when the browser has notifications; shown
/// once hydrated, since only the browser knows).
#[component]
fn AlertsToggle() -> impl IntoView {
    let chat = expect_context::<Chat>();
    let label = move || match chat.alerts.get() {
        Alerts::Unsupported => None,
        Alerts::Off => Some("Notify me of mentions"),
        Alerts::On => Some("Mention notifications on"),
        Alerts::Denied => Some("Notifications blocked"),
    };
    let toggle = move |_| {
        #[cfg(feature = "hydrate")]
        notify::toggle(chat);
    };
    move || {
        label().map(|text| {
            view! {
                <button
                    type="button"
                    class="link"
                    data-testid="alerts"
                    aria-pressed=move || (chat.alerts.get() == Alerts::On).to_string()
                    disabled=move || chat.alerts.get() == Alerts::Denied
                    on:click=toggle
                >
                    {text}
                </button>
            }
        })
    }
}

/// The connection state: a banner while offline, with a countdown and
/// "Retry now". Its structure stays put while the countdown ticks, so the
/// button keeps focus; screen readers hear the state, not every second.
#[component]
fn Banner() -> impl IntoView {
    let chat = expect_context::<Chat>();
    let said = move || match chat.conn.get() {
        Conn::Waiting { .. } => "Connection lost. Reconnecting automatically.",
        Conn::Connecting if chat.was_online.get() => "Reconnecting…",
        Conn::Replaced => "This chat is open in another tab or window.",
        Conn::SignedOut => "You were signed out. Reload to chat as a guest, or sign in again.",
        _ => "",
    };
    let shown = move || match chat.conn.get() {
        Conn::Waiting { until } => {
            let secs = ((until - chat.now.get()) / 1000.0).ceil().max(0.0) as u64;
            format!("Connection lost. Reconnecting in {secs} s…")
        }
        _ => said().to_owned(),
    };
    let button = move || match chat.conn.get() {
        Conn::Waiting { .. } => Some("Retry now"),
        Conn::Replaced => Some("Use it here"),
        _ => None,
    };
    // *1.2*: live over HTTP, said once and quietly (it works as well).
    let over_http = move || chat.fallback.get() && chat.conn.get() == Conn::Online;
    view! {
        <div class="banner-slot">
            <p class="sr-only" role="status">{said}</p>
            <Show when=over_http>
                <p class="transport-note" data-testid="fallback-note">
                    "Live over HTTP: this network blocks WebSocket."
                </p>
            </Show>
            <Show when=move || !said().is_empty()>
                <div class="banner" data-testid="banner">
                    <span aria-hidden="true">{shown}</span>
                    <Show when=move || button().is_some()>
                        <button type="button" on:click=move |_| chat.retry_now()>
                            {move || button().unwrap_or_default()}
                        </button>
                    </Show>
                </div>
            </Show>
        </div>
    }
}

/// The address of `room`'s page: `/` for `general`, else `/r/<room>`
/// (room names are `[a-z0-9_-]`: nothing to escape).
pub fn room_path(room: &str) -> String {
    match room {
        GENERAL_ROOM => "/".to_owned(),
        room => format!("/r/{room}"),
    }
}

/// The room a page address shows (`None`: not a room's address).
pub fn room_of_path(path: &str) -> Option<String> {
    match path {
        "/" => Some(GENERAL_ROOM.to_owned()),
        path => path.strip_prefix("/r/").map(str::to_owned),
    }
}

/// The document title for `room` with `unread` messages elsewhere.
pub fn page_title(room: &str, unread: u32) -> String {
    let base = match room {
        GENERAL_ROOM => "Chat".to_owned(),
        room => format!("{room} · Chat"),
    };
    match unread {
        0 => base,
        n => format!("({n}) {base}"),
    }
}

/// True for a plain left click on a link, which the page handles itself; a
/// click with a modifier (a new tab or window) is left to the browser.
fn plain_click(ev: &leptos::ev::MouseEvent) -> bool {
    ev.button() == 0 && !(ev.ctrl_key() || ev.meta_key() || ev.shift_key() || ev.alt_key())
}

/// The room the page shows first.
pub fn first_room(data: &PageData) -> String {
    if data.room.is_empty() {
        GENERAL_ROOM.to_owned()
    } else {
        data.room.clone()
    }
}
