//! *1.2*: making rooms and letting people in: the "New room" dialog, the
//! invitations waiting for us, and the owners' and moderators' invite
//! field. Each is a plain form too (`POST /rooms`, `/r/<room>/invite`), so
//! it works without JavaScript; with it, the socket does the work.

use super::rooms::JoinLink;
use super::state::Chat;
use crate::protocol::{is_dm_room, RoomRole, Visibility};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;

/// *1.2*: private rooms we are invited to and have not joined: each joins
/// on a click (a link to its page without JavaScript).
#[component]
pub(super) fn Invitations() -> impl IntoView {
    let chat = expect_context::<Chat>();
    let invited = move || {
        chat.mine.with(|mine| {
            mine.iter()
                .filter(|m| m.role.is_none())
                .map(|m| m.room.clone())
                .collect::<Vec<_>>()
        })
    };
    view! {
        <Show when=move || !invited().is_empty()>
            <h3 class="side-subtitle">"Invitations"</h3>
            <ul class="room-list invitations" data-testid="invitations">
                <For each=invited key=|r| r.clone() let:name>
                    <JoinLink name=name kind="invited" />
                </For>
            </ul>
        </Show>
    }
}

/// *1.2*: the "New room" dialog: a name, public or private, and people
/// to invite (suggested from the members of the rooms we share).
#[component]
pub(super) fn NewRoom() -> impl IntoView {
    let chat = expect_context::<Chat>();
    let (name, private, invites) = (
        RwSignal::new(String::new()),
        RwSignal::new(true),
        RwSignal::new(String::new()),
    );
    let open = RwSignal::new(false);
    let suggestions = move || {
        let me = chat.me.get();
        let mut names: Vec<String> = chat
            .rooms
            .with(|rooms| rooms.iter().flat_map(|r| r.members.get()).collect());
        names.sort();
        names.dedup();
        names.retain(|n| Some(n) != me.as_ref());
        names
    };
    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        if chat.create(
            &name.get_untracked(),
            private.get_untracked(),
            &invites.get_untracked(),
        ) {
            name.set(String::new());
            invites.set(String::new());
            open.set(false);
        }
    };
    // A `<details>` and a plain form: it opens and posts without
    // JavaScript (`POST /rooms`); with it, the socket makes the room.
    view! {
        <details class="new-room" prop:open=move || open.get()>
            <summary
                data-testid="new-room"
                on:click=move |ev| {
                    ev.prevent_default();
                    open.update(|o| *o = !*o);
                }
            >
                "New room"
            </summary>
            <form
                id="new-room-form"
                class="dialog"
                method="post"
                action="/rooms"
                aria-label="New room"
                on:submit=on_submit
            >
                <label for="new-room-name">"Name"</label>
                <input
                    id="new-room-name"
                    name="room"
                    type="text"
                    maxlength="32"
                    autocomplete="off"
                    spellcheck="false"
                    data-testid="new-room-name"
                    prop:value=move || name.get()
                    on:input=move |ev| name.set(event_target_value(&ev))
                />
                <fieldset>
                    <legend>"Who can see it"</legend>
                    <label>
                        <input
                            type="radio"
                            name="visibility"
                            value="private"
                            checked
                            data-testid="new-room-private"
                            prop:checked=move || private.get()
                            on:change=move |_| private.set(true)
                        />
                        " Private: only people you invite"
                    </label>
                    <label>
                        <input
                            type="radio"
                            name="visibility"
                            value="public"
                            prop:checked=move || !private.get()
                            on:change=move |_| private.set(false)
                        />
                        " Public: anyone"
                    </label>
                </fieldset>
                <label for="new-room-invite">"Invite (names, separated by commas)"</label>
                <input
                    id="new-room-invite"
                    name="invite"
                    type="text"
                    list="invite-suggestions"
                    autocomplete="off"
                    data-testid="new-room-invite"
                    prop:value=move || invites.get()
                    on:input=move |ev| invites.set(event_target_value(&ev))
                />
                <datalist id="invite-suggestions">
                    <For each=suggestions key=|n| n.clone() let:n>
                        <option value=n.clone()></option>
                    </For>
                </datalist>
                <button type="submit" data-testid="new-room-create">"Create"</button>
            </form>
        </details>
    }
}

/// *1.2*: "Invite", for the owners and moderators of a private room (a
/// plain form without JavaScript: `POST /r/<room>/invite`).
#[component]
pub(super) fn InviteForm() -> impl IntoView {
    let chat = expect_context::<Chat>();
    let user = RwSignal::new(String::new());
    let may = move || {
        let room = chat.current.get();
        !is_dm_room(&room)
            && chat.my_room(&room).is_some_and(|m| {
                m.visibility == Visibility::Private && m.role >= Some(RoomRole::Moderator)
            })
    };
    view! {
        <Show when=may>
            {move || {
                let room = chat.current.get();
                let action = format!("/r/{room}/invite");
                view! {
                    <form
                        class="invite"
                        method="post"
                        action=action
                        on:submit=move |ev: SubmitEvent| {
                            ev.prevent_default();
                            let name = user.get_untracked();
                            if !name.trim().is_empty() {
                                chat.invite(&room, name.trim());
                                user.set(String::new());
                            }
                        }
                    >
                        <label for="invite-user">"Invite someone"</label>
                        <div class="row">
                            <input
                                id="invite-user"
                                name="user"
                                type="text"
                                autocomplete="off"
                                list="invite-suggestions"
                                data-testid="invite-user"
                                prop:value=move || user.get()
                                on:input=move |ev| user.set(event_target_value(&ev))
                            />
                            <button type="submit">"Invite"</button>
                        </div>
                    </form>
                }
            }}
        </Show>
    }
}
