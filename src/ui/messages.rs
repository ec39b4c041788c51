//! The room header, the message list (grouped by author, with notices, our
//! pending messages, scroll-back, auto-scroll and the "new messages" pill)
//! and the typing line.

use super::attachments::Attachments;
use super::mentions::{mark, mentions};
use super::message_menu::{EditBox, MessageMenu, Quote, Reactions};
use super::state::{Chat, Entry, Pending};
use crate::protocol::is_dm_room;
use leptos::either::Either;
use leptos::html;
use leptos::prelude::*;

/// Consecutive messages of one author closer than this share one header (ms).
const GROUP_WITHIN_MS: u64 = 5 * 60 * 1000;
/// Within this many pixels of the bottom counts as "at the bottom".
const BOTTOM_SLACK_PX: i32 = 48;

/// `HH:MM`: UTC on the server (and without JavaScript), local time in the browser.
pub(super) fn clock(ts: u64, local: bool) -> String {
    #[cfg(feature = "hydrate")]
    if local {
        let date = js_sys::Date::new(&wasm_bindgen::JsValue::from_f64(ts as f64));
        return format!("{:02}:{:02}", date.get_hours(), date.get_minutes());
    }
    let _ = local;
    let minutes = (ts / 60_000) % 1440;
    format!("{:02}:{:02} UTC", minutes / 60, minutes % 60)
}

/// ISO 8601 in UTC, for `<time datetime>` (and the account page's times).
pub(crate) fn iso(ts: u64) -> String {
    let secs = ts / 1000;
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// One row of the list: an entry, and whether it starts an author group.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    /// The entry.
    entry: Entry,
    /// True when the author header shows.
    first: bool,
    /// The id of the message before it in the list, if any (the divider
    /// goes above the first message after the last one read).
    prev_id: Option<u64>,
}

/// Marks the rows that start a group: a message after a notice, after
/// another author, or after a pause.
fn group(entries: &[Entry]) -> Vec<Row> {
    let mut previous: Option<(&str, u64)> = None;
    let mut prev_id = None;
    entries
        .iter()
        .map(|entry| {
            let before = prev_id;
            let first = match entry {
                Entry::Message(m) => {
                    prev_id = Some(m.id);
                    let first = previous.is_none_or(|(user, ts)| {
                        user != m.user || m.ts.saturating_sub(ts) > GROUP_WITHIN_MS
                    });
                    previous = Some((&m.user, m.ts));
                    first
                }
                Entry::Notice { .. } => {
                    previous = None;
                    false
                }
            };
            Row {
                entry: entry.clone(),
                first,
                prev_id: before,
            }
        })
        .collect()
}

/// The room's name and the member count (which opens the member panel on
/// narrow screens).
#[component]
pub fn RoomHeader() -> impl IntoView {
    let chat = expect_context::<Chat>();
    let count = move || chat.current_room().map_or(0, |r| r.member_count.get());
    view! {
        <header class="room-head">
            <h2 id="room-title">
                <span class="hash" aria-hidden="true">
                    {move || if is_dm_room(&chat.current.get()) { "@" } else { "#" }}
                </span>
                // *1.2*: a direct message by the other person's name.
                <span data-testid="room-title">
                    {move || {
                        let room = chat.current.get();
                        chat.my_room(&room).and_then(|m| m.dm).unwrap_or(room)
                    }}
                </span>
                {move || {
                    let room = chat.current.get();
                    (!is_dm_room(&room) && chat.is_private(&room))
                        .then(|| {
                            view! { <super::rooms::Lock /> }
                        })
                }}
            </h2>
            <super::search::SearchBox/>
            <button
                type="button"
                class="members-toggle needs-js"
                aria-controls="members"
                aria-expanded=move || chat.show_members.get().to_string()
                on:click=move |_| chat.show_members.update(|v| *v = !*v)
            >
                {move || format!("{} online", count())}
            </button>
            <JoinInvited />
            <super::moderation::RoomTools />
        </header>
    }
}

/// *1.2*: on the page of a room we are only invited to, "Join" (a plain
/// form without JavaScript: `POST /r/<room>/join`).
#[component]
fn JoinInvited() -> impl IntoView {
    let chat = expect_context::<Chat>();
    let invited = move || {
        let room = chat.current.get();
        chat.my_room(&room).is_some_and(|m| m.role.is_none())
    };
    view! {
        <Show when=invited>
            {move || {
                let room = chat.current.get();
                let action = format!("/r/{room}/join");
                view! {
                    <form
                        class="join-invited"
                        method="post"
                        action=action
                        on:submit=move |ev: leptos::ev::SubmitEvent| {
                            ev.prevent_default();
                            chat.open(&room);
                        }
                    >
                        <span>"You are invited to this private room."</span>
                        <button type="submit" data-testid="join-invited">"Join"</button>
                    </form>
                }
            }}
        </Show>
    }
}

/// The messages of the room in view, our pending ones after them, and the typing line.
#[component]
pub fn MessageList() -> impl IntoView {
    let chat = expect_context::<Chat>();
    let scroller = NodeRef::<html::Div>::new();
    let at_bottom = RwSignal::new(true);
    let new_below = RwSignal::new(false);
    let room = Memo::new(move |_| chat.current_room());
    let rows = Memo::new(move |_| {
        room.get()
            .map(|r| r.entries.with(|e| group(e)))
            .unwrap_or_default()
    });
    let pending = move || room.get().map(|r| r.pending.get()).unwrap_or_default();

    let has_older = move || room.get().is_some_and(|r| r.has_older.get());

    let scroll_to_bottom = move || {
        if let Some(el) = scroller.get_untracked() {
            el.set_scroll_top(el.scroll_height());
        }
        new_below.set(false);
    };
    // Something new at the end (or another room): follow it if the reader
    // was at the bottom, otherwise offer the pill. Older pages prepended by
    // "Load older" change neither the last key nor the room.
    let last = Memo::new(move |_| {
        let last_entry = rows.with(|r| r.last().map(|row| row.entry.key()));
        let pending = room.get().map_or(0, |r| r.pending.with(Vec::len));
        (chat.current.get(), last_entry, pending)
    });
    Effect::new(move |previous: Option<(String, Option<String>, usize)>| {
        let now = last.get();
        let switched = previous.as_ref().is_none_or(|p| p.0 != now.0);
        if switched || at_bottom.get_untracked() {
            request_animation_frame(scroll_to_bottom);
        } else if previous.is_some_and(|p| p.1 != now.1) {
            new_below.set(true);
        }
        now
    });
    // A message opened in context: scrolled to (the middle) once its row
    // is there; older pages arrive first when it was far back.
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| {
        let Some(target) = chat.target.get() else {
            return;
        };
        rows.track();
        request_animation_frame(move || {
            let Some(el) = scroller.get_untracked() else {
                return;
            };
            // A search result in the middle; the first unread message with
            // its divider at the top.
            let (selector, block) = match target.mark {
                true => (
                    format!("[data-id=\"{}\"]", target.id),
                    leptos::web_sys::ScrollLogicalPosition::Center,
                ),
                false => (
                    ".divider".to_owned(),
                    leptos::web_sys::ScrollLogicalPosition::Start,
                ),
            };
            if let Ok(Some(row)) = el.query_selector(&selector) {
                let options = leptos::web_sys::ScrollIntoViewOptions::new();
                options.set_block(block);
                row.scroll_into_view_with_scroll_into_view_options(&options);
            }
        });
    });
    let on_scroll = move |_| {
        if let Some(el) = scroller.get_untracked() {
            let bottom =
                el.scroll_top() + el.client_height() >= el.scroll_height() - BOTTOM_SLACK_PX;
            at_bottom.set(bottom);
            if bottom {
                new_below.set(false);
            }
        }
    };
    let typing = move || {
        let now = chat.now.get();
        let names: Vec<String> = room
            .get()
            .map(|r| {
                r.typing.with(|t| {
                    t.iter()
                        .filter(|(_, until)| *until > now)
                        .map(|(name, _)| name.clone())
                        .collect()
                })
            })
            .unwrap_or_default();
        match names.as_slice() {
            [] => String::new(),
            [one] => format!("{one} is typing…"),
            [a, b] => format!("{a} and {b} are typing…"),
            _ => "Several people are typing…".to_owned(),
        }
    };

    view! {
        <div class="list-wrap">
        <div class="scroller" node_ref=scroller on:scroll=on_scroll>
            <Show when=has_older>
                <button type="button" class="older needs-js" on:click=move |_| chat.load_older()>
                    "Load older messages"
                </button>
            </Show>
            // The live region wraps the list: `role="log"` on the `<ol>`
            // itself took its list semantics away (axe: listitem,
            // aria-allowed-role).
            <div role="log" aria-live="polite" aria-relevant="additions" aria-labelledby="room-title">
                <ol class="messages" aria-labelledby="room-title" data-testid="messages">
                    <For
                        each=move || rows.get()
                        key=|row| (row.entry.key(), row.entry.version(), row.first, row.prev_id)
                        let:row
                    >
                        <MessageRow row/>
                    </For>
                    <For each=pending key=|p| (p.nonce.clone(), p.error.clone()) let:p>
                        <PendingRow p/>
                    </For>
                </ol>
            </div>
            <div id="end"></div>
        </div>
        <Show when=move || new_below.get()>
            <button
                type="button"
                class="pill"
                data-testid="new-messages"
                on:click=move |_| scroll_to_bottom()
            >
                "New messages ↓"
            </button>
        </Show>
        </div>
        <p class="typing" data-testid="typing">{typing}</p>
    }
}

/// A message (with its author and time when it starts a group) or a notice;
/// "New since you left" above the first unread message.
#[component]
fn MessageRow(row: Row) -> impl IntoView {
    let chat = expect_context::<Chat>();
    match row.entry {
        Entry::Message(m) => {
            let (ts, id, room) = (m.ts, m.id, m.room.clone());
            // Its room (the one in view): where we stopped reading, its members.
            let in_room = chat.room(&m.room);
            // The first message after the last one read.
            let read = in_room.as_ref().map(|r| r.divider);
            let prev_id = row.prev_id;
            let divider = move || {
                read.and_then(|r| r.get())
                    .is_some_and(|read| id > read && prev_id.is_none_or(|p| p <= read))
                    .then(|| view! { <li class="divider" data-testid="divider">"New since you left"</li> })
            };
            let target = move || {
                chat.target.with(|t| {
                    t.as_ref()
                        .is_some_and(|t| t.mark && t.id == id && t.room == room)
                })
            };
            if m.deleted {
                return Either::Left(Either::Left(view! {
                    {divider}
                    <li class="msg deleted" class:first=row.first data-id=m.id data-testid="message">
                        <div class="meta">
                            <time datetime=iso(ts)>{move || clock(ts, chat.hydrated.get())}</time>
                        </div>
                        <div class="text plain" data-testid="text">"message deleted"</div>
                    </li>
                }));
            }
            // Mentions of the members the page knows (the same on both sides).
            let html = in_room.map_or_else(
                || m.html.clone(),
                |r| r.members.with_untracked(|names| mark(&m.html, names)),
            );
            let text = m.text.clone();
            let replied = m.reply_to.as_ref().map(|r| r.user.clone());
            let to_me = move || {
                chat.me.with(|me| {
                    me.as_deref()
                        .is_some_and(|me| mentions(&text, me) || replied.as_deref() == Some(me))
                })
            };
            let editing = {
                let room = m.room.clone();
                move || {
                    chat.editing
                        .with(|e| e.as_ref().is_some_and(|(r, i)| *r == room && *i == id))
                }
            };
            let quote = m.reply_to.clone().map(|reply| {
                view! { <Quote room=m.room.clone() reply /> }
            });
            let edited = m.edited_ts.map(|at| {
                view! { <span class="edited" title=iso(at) data-testid="edited">"(edited)"</span> }
            });
            let (editable, menu) = (m.clone(), m.clone());
            Either::Left(Either::Right(view! {
                {divider}
                <li
                    class="msg"
                    class:first=row.first
                    class:to-me=to_me
                    class:target=target
                    data-id=m.id
                    data-testid="message"
                >
                    <div class="meta">
                        <span class="author" data-testid="author">{m.user}</span>
                        <time datetime=iso(ts)>{move || clock(ts, chat.hydrated.get())}</time>
                    </div>
                    {quote}
                    <Show
                        when=editing
                        fallback=move || {
                            // The server's `html`: every character of the input escaped.
                            view! {
                                <div class="text" data-testid="text" inner_html=html.clone()></div>
                            }
                        }
                    >
                        <EditBox m=editable.clone() />
                    </Show>
                    {edited}
                    <Attachments files=m.attachments.clone() />
                    <Reactions room=m.room.clone() id reactions=m.reactions.clone() />
                    <MessageMenu m=menu />
                </li>
            }))
        }
        Entry::Notice { text, .. } => {
            Either::Right(view! { <li class="notice" data-testid="notice">{text}</li> })
        }
    }
}

/// One of our messages the server has not confirmed: "sending…", or why it
/// was refused with "Retry" and "Discard".
#[component]
fn PendingRow(p: Pending) -> impl IntoView {
    let chat = expect_context::<Chat>();
    let room = chat.current.get_untracked();
    let me = move || chat.me.get().unwrap_or_else(|| chat.wanted_name.get());
    let failed = p.error.is_some();
    let (retry_room, retry_nonce) = (room.clone(), p.nonce.clone());
    let (drop_room, drop_nonce) = (room, p.nonce);
    view! {
        <li class="msg first pending" class:failed=failed data-testid="pending">
            <div class="meta">
                <span class="author">{me}</span>
                <span class="state">{if failed { "not sent" } else { "sending…" }}</span>
            </div>
            <div class="text plain">{p.text}</div>
            <Attachments files=p.attachments />
            {p
                .error
                .map(|error| {
                    view! {
                        <p class="field-error" role="alert" data-testid="send-error">
                            {error}
                            " "
                            <button
                                type="button"
                                class="link"
                                on:click=move |_| chat.retry(&retry_room, &retry_nonce)
                            >
                                "Retry"
                            </button>
                            " "
                            <button
                                type="button"
                                class="link"
                                on:click=move |_| chat.discard(&drop_room, &drop_nonce)
                            >
                                "Discard"
                            </button>
                        </p>
                    }
                })}
        </li>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ChatMessage;

    fn message(id: u64, user: &str, ts: u64) -> Entry {
        Entry::Message(ChatMessage {
            room: "r".into(),
            id,
            user: user.into(),
            text: "t".into(),
            html: "t".into(),
            ts,
            ..ChatMessage::default()
        })
    }

    #[test]
    fn consecutive_messages_of_one_author_are_grouped() {
        let entries = [
            message(1, "alice", 0),
            message(2, "alice", 60_000),
            message(3, "bob", 61_000),
            Entry::Notice {
                seq: 1,
                text: "carol joined".into(),
            },
            message(4, "bob", 62_000),
            message(5, "bob", 62_000 + GROUP_WITHIN_MS + 1),
        ];
        let firsts: Vec<bool> = group(&entries).iter().map(|r| r.first).collect();
        assert_eq!(firsts, [true, false, true, false, true, true]);
    }

    #[test]
    fn times_render_in_utc_on_the_server() {
        assert_eq!(iso(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso(1_795_000_000_123), "2026-11-18T11:06:40Z");
        assert_eq!(clock(1_795_000_000_123, false), "11:06 UTC");
        assert_eq!(iso(951_782_400_000), "2000-02-29T00:00:00Z");
    }
}
