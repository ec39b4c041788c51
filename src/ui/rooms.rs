//! The sidebar (joined rooms with unread counts, the join box, the other
//! rooms) and the member list of the room in view.

use super::state::{normalize_room, Chat, ROOM_RULE};
use super::{plain_click, room_path};
use crate::protocol::{is_valid_room, GENERAL_ROOM};
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
    view! {
        <nav class="sidebar" aria-label="Rooms">
            <h2 class="side-title">"Rooms"</h2>
            <ul class="room-list">
                <For each=move || chat.rooms.get() key=|r| r.name.clone() let:room>
                    {
                        let name = room.name.to_string();
                        let (show, leave) = (name.clone(), name.clone());
                        let current = {
                            let name = name.clone();
                            Signal::derive(move || chat.current.get() == name)
                        };
                        let (unread, mentioned) = (room.unread, room.mentioned);
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
                                    <span class="hash" aria-hidden="true">"#"</span>
                                    <span class="room-name">{name.clone()}</span>
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
                                        view! {
                                            <button
                                                type="button"
                                                class="leave"
                                                title=format!("Leave #{name}")
                                                aria-label=format!("Leave #{name}")
                                                on:click=move |_| chat.leave(&leave)
                                            >
                                                "×"
                                            </button>
                                        }
                                    })}
                            </li>
                        }
                    }
                </For>
            </ul>
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
            <Show when=move || !others().is_empty()>
                <h3 class="side-subtitle">"Other rooms"</h3>
                <ul class="room-list others">
                    <For each=others key=|r| r.clone() let:name>
                        {
                            let join = name.clone();
                            let title = format!("Join #{name}");
                            let (href, testid) = (room_path(&name), format!("other-{name}"));
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
                                                chat.join(&join);
                                            }
                                        }
                                    >
                                        <span class="hash" aria-hidden="true">"#"</span>
                                        <span class="room-name">{name}</span>
                                    </a>
                                </li>
                            }
                        }
                    </For>
                </ul>
            </Show>
        </nav>
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
            <ul class="member-list" data-testid="members">
                <For each=members key=|m| m.clone() let:name>
                    {
                        let you = chat.me.with_untracked(|me| me.as_deref() == Some(name.as_str()));
                        view! {
                            <li>
                                <span class="dot" aria-hidden="true"></span>
                                <span class="member-name">{name}</span>
                                {you.then(|| view! { <span class="you">" (you)"</span> })}
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
