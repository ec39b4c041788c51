//! *1.2* (section 3): what a message row offers besides its text: its menu
//! (reply, react, edit, delete: buttons, so the keyboard reaches them as
//! everything else), its reactions, the quote of what it answers, and the
//! box that edits it in place. All text here is put in as text nodes:
//! names, excerpts and emoji are escaped like every other input.

use super::state::Chat;
use crate::protocol::{ChatMessage, Reaction, ReplyTo};
use leptos::ev::KeyboardEvent;
use leptos::prelude::*;

/// The picker's emoji: the common ones (any emoji may come from others).
const PICKS: [&str; 8] = ["👍", "❤️", "😂", "🎉", "😮", "😢", "🙏", "👀"];

/// The menu of message `m`: reply and react for everyone; edit for its
/// author; delete for its author and the room's moderators and owners
/// (after a confirmation).
#[component]
pub fn MessageMenu(m: ChatMessage) -> impl IntoView {
    let chat = expect_context::<Chat>();
    let (room, id) = (m.room.clone(), m.id);
    let own = {
        let user = m.user.clone();
        move || chat.me.with(|me| me.as_deref() == Some(user.as_str()))
    };
    let moderates = {
        let room = room.clone();
        move || chat.moderates(&room)
    };
    let (mod_room, author) = (room.clone(), m.user.clone());
    let own3 = own.clone();
    let moderates2 = moderates.clone();
    let picking = RwSignal::new(false);
    let confirming = RwSignal::new(false);
    let reply = {
        let m = m.clone();
        move |_| {
            chat.reply(&m);
            focus_composer();
        }
    };
    let (edit_room, delete_room, pick_room) = (room.clone(), room.clone(), room);
    let own2 = own.clone();
    view! {
        <div class="msg-menu needs-js" role="group" aria-label="Message actions">
            <button type="button" data-testid="reply" on:click=reply>"Reply"</button>
            <button
                type="button"
                data-testid="react"
                aria-expanded=move || picking.get().to_string()
                on:click=move |_| picking.update(|p| *p = !*p)
            >
                "React"
            </button>
            <Show when=own>
                <button
                    type="button"
                    data-testid="edit"
                    on:click={
                        let room = edit_room.clone();
                        move |_| chat.editing.set(Some((room.clone(), id)))
                    }
                >
                    "Edit"
                </button>
            </Show>
            <Show when=move || own2() || moderates()>
                <button
                    type="button"
                    data-testid="delete"
                    on:click=move |_| confirming.set(true)
                >
                    "Delete"
                </button>
            </Show>
            <Show when=move || moderates2() && !own3()>
                <super::moderation::ModeratorActions
                    room=mod_room.clone()
                    user=author.clone()
                />
            </Show>
            <Show when=move || confirming.get()>
                <span class="confirm" role="alert">
                    "Delete this message for everyone? "
                    <button
                        type="button"
                        class="danger"
                        data-testid="confirm-delete"
                        on:click={
                            let room = delete_room.clone();
                            move |_| {
                                confirming.set(false);
                                chat.delete_message(&room, id);
                            }
                        }
                    >
                        "Delete"
                    </button>
                    <button type="button" on:click=move |_| confirming.set(false)>
                        "Cancel"
                    </button>
                </span>
            </Show>
            <Show when=move || picking.get()>
                <span class="picker" role="group" aria-label="Pick a reaction">
                    {PICKS
                        .iter()
                        .map(|&emoji| {
                            let room = pick_room.clone();
                            view! {
                                <button
                                    type="button"
                                    data-testid="pick"
                                    aria-label=format!("React with {emoji}")
                                    on:click=move |_| {
                                        picking.set(false);
                                        chat.toggle_reaction(&room, id, emoji);
                                    }
                                >
                                    {emoji}
                                </button>
                            }
                        })
                        .collect_view()}
                </span>
            </Show>
        </div>
    }
}

/// A message's reactions: one button each (count, ours pressed), a click
/// toggles ours. Without JavaScript, plain text.
#[component]
pub fn Reactions(room: String, id: u64, reactions: Vec<Reaction>) -> impl IntoView {
    let chat = expect_context::<Chat>();
    (!reactions.is_empty()).then(|| {
        view! {
            <ul class="reactions" aria-label="Reactions" data-testid="reactions">
                {reactions
                    .into_iter()
                    .map(|r| {
                        let room = room.clone();
                        let label = format!("{} {}", r.emoji, r.count);
                        let emoji = r.emoji.clone();
                        view! {
                            <li>
                                <button
                                    type="button"
                                    class="reaction"
                                    class:mine=r.mine
                                    aria-pressed=r.mine.to_string()
                                    data-testid="reaction"
                                    on:click=move |_| chat.toggle_reaction(&room, id, &emoji)
                                >
                                    {label}
                                </button>
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
        }
    })
}

/// The quote of what a reply answers: a link that opens the original.
#[component]
pub fn Quote(room: String, reply: ReplyTo) -> impl IntoView {
    let chat = expect_context::<Chat>();
    let id = reply.id;
    let href = format!("/r/{room}#m{id}");
    let open = move |ev: leptos::ev::MouseEvent| {
        ev.prevent_default();
        chat.open_message(&room, id);
    };
    let (user, text) = match reply.deleted {
        true => (String::new(), "(message deleted)".to_owned()),
        false => (reply.user, reply.text),
    };
    view! {
        <a class="quote" href=href on:click=open data-testid="quote">
            <span class="quote-user">{user}</span>
            " "
            <span class="quote-text">{text}</span>
        </a>
    }
}

/// Edits our message `m` in place: Enter saves, Escape (or Cancel) leaves
/// it as it was.
#[component]
pub fn EditBox(m: ChatMessage) -> impl IntoView {
    let chat = expect_context::<Chat>();
    let text = RwSignal::new(m.text.clone());
    let error = RwSignal::new(None::<String>);
    let (room, id) = (m.room.clone(), m.id);
    let save = {
        let room = room.clone();
        move || {
            if let Err(e) = chat.edit(&room, id, &text.get_untracked()) {
                error.set(Some(e));
            } else {
                focus_composer();
            }
        }
    };
    let save2 = save.clone();
    let on_keydown = move |ev: KeyboardEvent| match ev.key().as_str() {
        "Enter" if !ev.shift_key() && !ev.is_composing() => {
            ev.prevent_default();
            save();
        }
        "Escape" => {
            ev.prevent_default();
            chat.editing.set(None);
            focus_composer();
        }
        _ => {}
    };
    let field = format!("edit-{id}");
    view! {
        <div class="edit-box">
            <label class="sr-only" for=field.clone()>"Edit your message"</label>
            <textarea
                id=field
                data-testid="edit-text"
                rows="2"
                prop:value=move || text.get()
                on:input=move |ev| text.set(event_target_value(&ev))
                on:keydown=on_keydown
                autofocus
            ></textarea>
            <p class="hint">"Enter saves, Escape cancels."</p>
            <p class="field-error" role="alert">{move || error.get()}</p>
            <button type="button" data-testid="save-edit" on:click=move |_| save2()>"Save"</button>
            <button type="button" on:click=move |_| chat.editing.set(None)>"Cancel"</button>
        </div>
    }
}

/// What the next message answers, above the composer, with a way out.
#[component]
pub fn Replying() -> impl IntoView {
    let chat = expect_context::<Chat>();
    move || {
        chat.replying.get().map(|r| {
            view! {
                <div class="replying" data-testid="replying">
                    <span>"Replying to "<strong>{r.user}</strong>": "{r.text}</span>
                    <button
                        type="button"
                        class="link"
                        aria-label="Cancel the reply"
                        on:click=move |_| chat.replying.set(None)
                    >
                        "×"
                    </button>
                </div>
            }
        })
    }
}

/// Puts the keyboard back in the composer.
fn focus_composer() {
    #[cfg(feature = "hydrate")]
    {
        use leptos::wasm_bindgen::JsCast;
        let el = leptos::prelude::document().get_element_by_id("text");
        if let Some(el) = el.and_then(|e| e.dyn_into::<leptos::web_sys::HtmlElement>().ok()) {
            let _ = el.focus();
        }
    }
}
