//! The sidebar (joined rooms with unread counts, the join box, the other
//! rooms) and the member list of the room in view.

use super::state::{normalize_room, Chat, Room, ROOM_RULE};
use super::{plain_click, room_path};
use crate::protocol::{is_dm_room, is_valid_room, RoomRole, GENERAL_ROOM};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;

/// Rooms: the joined ones, a box to join or create one, and the others.
/// Each room is a link to its page (`/r/<room>`), so the list works
/// without JavaScript; with it, a click switches or joins in place.
#[component]
pub fn Sidebar() -> impl IntoView {
    let chat = expect_context::<Chat>();
    let draft = RwSignal::new(String::new());
    let on_input = move |ev| {
        let value = event_target_value(&ev);
        // Checked as typed, with the server's own rule; nothing is sent yet.
        let name = normalize_room(&value);
        let bad = !name.is_empty() && !is_valid_room(&name);
        chat.room_error.set(bad.then(|| ROOM_RULE.to_owned()));
        draft.set(value);
    };
    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        if chat.join(&draft.get_untracked()) {
            draft.set(String::new());
        }
    };
    let others = move || {
        let joined = chat.room_names();
        chat.rooms.track();
        chat.known_rooms.with(|known| {
            known
                .iter()
                .filter(|r| !joined.contains(r))
                .cloned()
                .collect::<Vec<_>>()
        })
    };
    // Rooms, or (`dm`) direct messages, in the order joined.
    let of_kind = move |dm: bool| -> Vec<Room> {
        chat.rooms.with(|rooms| {
            rooms
                .iter()
                .filter(|r| is_dm_room(&r.name) == dm)
                .cloned()
                .collect()
        })
    };
    view! {
        <nav class="sidebar" aria-label="Rooms">
            <h2 class="side-title">"Rooms"</h2>
            <ul class="room-list">
                <For each=move || of_kind(false) key=|r| r.name.clone() let:room>
                    <RoomItem room=room />
                                </For>
            </ul>
            <Show when=move || chat.rooms.with(|rooms| rooms.iter().any(|r| is_dm_room(&r.name)))>
                <h3 class="side-subtitle">"Direct messages"</h3>
                <ul class="room-list dms" data-testid="dms">
                    <For each=move || of_kind(true) key=|r| r.name.clone() let:room>
                        <RoomItem room=room />
                    </For>
                </ul>
            </Show>
            <super::invites::Invitations />
            <form class="join needs-js" on:submit=on_submit>
                <label for="join-room">"Join or create a room"</label>
                <div class="row">
                    <input
                        id="join-room"
                        type="text"
                        placeholder="room-name"
                        maxlength="64"
                        autocomplete="off"
                        spellcheck="false"
                        data-testid="join-room"
                        prop:value=move || draft.get()
                        on:input=on_input
                        aria-invalid=move || chat.room_error.with(Option::is_some).to_string()
                        aria-describedby="room-error"
                    />
                    <button type="submit">"Join"</button>
                </div>
                <p id="room-error" class="field-error" role="alert" data-testid="room-error">
                    {move || chat.room_error.get()}
                </p>
            </form>
            <super::invites::NewRoom />
            <Show when=move || !others().is_empty()>
                <h3 class="side-subtitle">"Other rooms"</h3>
                <ul class="room-list others">
                    <For each=others key=|r| r.clone() let:name>
                        <JoinLink name=name kind="other" />
                    </For>
                </ul>
            </Show>
        </nav>
    }
}

/// One of our rooms in the sidebar: a link to its page (`/r/<room>`), a
/// lock when it is private, a direct message by the other person's name,
/// its unread count, and "leave".
#[component]
fn RoomItem(room: Room) -> impl IntoView {
    let chat = expect_context::<Chat>();
    let name = room.name.to_string();
    let (show, leave) = (name.clone(), name.clone());
    let current = {
        let name = name.clone();
        Signal::derive(move || chat.current.get() == name)
    };
    let (unread, mentioned) = (room.unread, room.mentioned);
    let label = {
        let name = name.clone();
        move || {
            chat.my_room(&name)
                .and_then(|m| m.dm)
                .unwrap_or_else(|| name.clone())
        }
    };
    let dm = is_dm_room(&name);
    let private = {
        let name = name.clone();
        move || !dm && chat.is_private(&name)
    };
    let shown = label.clone();
    view! {
        <li class="room-item" class:current=current>
            <a
                class="room"
                href=room_path(&name)
                data-testid=format!("room-{name}")
                aria-current=move || current.get().then_some("page")
                on:click=move |ev| {
                    if plain_click(&ev) {
                        ev.prevent_default();
                        chat.switch(&show);
                    }
                }
            >
                <span class="hash" aria-hidden="true">{if dm { "@" } else { "#" }}</span>
                <span class="room-name">{label}</span>
                {move || private().then(|| view! { <Lock /> })}
                {move || {
                    let n = unread.get();
                    (n > 0)
                        .then(|| {
                            view! {
                                <span
                                    class="badge"
                                    class:mention=mentioned
                                    data-testid="unread"
                                    role="img"
                                    aria-label=move || {
                                        if mentioned.get() {
                                            format!("{n} unread, mentioning you")
                                        } else {
                                            format!("{n} unread")
                                        }
                                    }
                                >
                                    {n}
                                </span>
                            }
                        })
                }}
            </a>
            {(name != GENERAL_ROOM)
                .then(|| {
                    let what = move || match dm {
                        true => format!("Leave the conversation with {}", shown()),
                        false => format!("Leave #{}", shown()),
                    };
                    view! {
                        <button
                            type="button"
                            class="leave"
                            title=what.clone()
                            aria-label=what
                            on:click=move |_| chat.leave(&leave)
                        >
                            "×"
                        </button>
                    }
                })}
        </li>
    }
}

/// A room we may join, as a link to its page (`/r/<room>`): with
/// JavaScript a click joins in place. `kind` is `other` (a public room)
/// or `invited` (a private one we are invited to, marked with a lock).
#[component]
pub(super) fn JoinLink(name: String, kind: &'static str) -> impl IntoView {
    let chat = expect_context::<Chat>();
    let invited = kind == "invited";
    let join = name.clone();
    let (href, title, testid) = (
        room_path(&name),
        format!("Join #{name}"),
        format!("{kind}-{name}"),
    );
    view! {
        <li>
            <a
                class="room"
                href=href
                title=title
                data-testid=testid
                on:click=move |ev| {
                    if plain_click(&ev) {
                        ev.prevent_default();
                        match invited {
                            true => chat.open(&join),
                            false => drop(chat.join(&join)),
                        }
                    }
                }
            >
                <span class="hash" aria-hidden="true">"#"</span>
                <span class="room-name">{name}</span>
                {invited.then(|| view! { <Lock /> })}
            </a>
        </li>
    }
}

/// *1.2*: the mark of a private room (drawn: an emoji font may be missing).
#[component]
pub(super) fn Lock() -> impl IntoView {
    view! {
        <svg class="lock" role="img" aria-label="private" viewBox="0 0 16 16" width="12" height="12">
            <title>"Private: members only"</title>
            <path
                fill="currentColor"
                d="M4 7V5a4 4 0 0 1 8 0v2h1v8H3V7h1zm2 0h4V5a2 2 0 0 0-4 0v2z"
            ></path>
        </svg>
    }
}

/// Who is in the room in view.
#[component]
pub fn Members() -> impl IntoView {
    let chat = expect_context::<Chat>();
    let members = move || {
        chat.current_room()
            .map(|r| r.members.get())
            .unwrap_or_default()
    };
    let count = move || chat.current_room().map_or(0, |r| r.member_count.get());
    let shown = move || chat.current_room().map_or(0, |r| r.members.with(Vec::len));
    let more = move || chat.current_room().is_some_and(|r| r.members_more.get());
    // Scrolling the panel to within a screenful of its end asks for the next page.
    let on_scroll = move |ev: leptos::ev::Event| {
        let list = event_target::<leptos::web_sys::Element>(&ev);
        if list.scroll_top() + 2 * list.client_height() >= list.scroll_height() {
            chat.load_more_members();
        }
    };
    view! {
        <aside id="members" class="members" aria-labelledby="members-title" on:scroll=on_scroll>
            <h2 id="members-title" class="side-title">
                {move || format!("Members ({})", count())}
            </h2>
            <super::invites::InviteForm />
            <ul class="member-list" data-testid="members">
                <For each=members key=|m| m.clone() let:name>
                    {
                        // Reactive: a row made before `welcome` (another
                        // device's same name, in the page's first list) is
                        // reused when it names us.
                        let you = {
                            let name = name.clone();
                            Signal::derive(move || {
                                chat.me.with(|me| me.as_deref() == Some(name.as_str()))
                            })
                        };
                        let role = {
                            let name = name.clone();
                            move || {
                                let room = chat.current_room()?;
                                room.staff.with(|staff| {
                                    staff.iter().find(|(n, _)| *n == name).map(|(_, r)| *r)
                                })
                            }
                        };
                        let to = name.clone();
                        let message = format!("Message {name} directly");
                        view! {
                            <li>
                                <span class="dot" aria-hidden="true"></span>
                                <span class="member-name">{name.clone()}</span>
                                {move || you.get().then(|| view! { <span class="you">" (you)"</span> })}
                                {move || role().map(|r| {
                                    let label = match r {
                                        RoomRole::Owner => "owner",
                                        RoomRole::Moderator => "moderator",
                                        RoomRole::Member => "member",
                                    };
                                    view! { <span class="role-badge" data-testid="role">{label}</span> }
                                })}
                                {move || {
                                    let (to, message) = (to.clone(), message.clone());
                                    // A plain form too: `POST /dm` without JavaScript.
                                    (!you.get()).then(|| view! {
                                        <form
                                            class="dm-form"
                                            method="post"
                                            action="/dm"
                                            on:submit={
                                                let to = to.clone();
                                                move |ev: SubmitEvent| {
                                                    ev.prevent_default();
                                                    chat.dm(&to);
                                                }
                                            }
                                        >
                                            <input type="hidden" name="user" value=to.clone() />
                                            <button
                                                type="submit"
                                                class="dm"
                                                title=message.clone()
                                                aria-label=message
                                                data-testid=format!("dm-{to}")
                                            >
                                                "✉"
                                            </button>
                                        </form>
                                    })
                                }}
                            </li>
                        }
                    }
                </For>
                <Show when=more>
                    <li class="member-more">
                        <button type="button" class="link" on:click=move |_| chat.load_more_members()>
                            {move || format!("More members ({} not shown)", count().saturating_sub(shown()))}
                        </button>
                    </li>
                </Show>
            </ul>
        </aside>
    }
}
