//! *1.2* (section 4): the moderators' controls: a message author's mute,
//! kick and ban (with or without deleting their messages), the room's
//! settings and topic, and the audit log. Buttons and form fields, so the
//! keyboard reaches each; every name, reason and topic is put in as a text
//! node (escaped like a message).

use super::state::Chat;
use crate::protocol::{RoomSettings, MAX_SLOW_MODE_SECS, MAX_TOPIC_CHARS};
use leptos::prelude::*;

/// How long the menu's mute lasts.
const MUTE_MINUTES: u32 = 10;

/// A message menu's moderator part, for `user`'s message in `room`.
#[component]
pub fn ModeratorActions(room: String, user: String) -> impl IntoView {
    let chat = expect_context::<Chat>();
    let confirming = RwSignal::new(false);
    let (r1, u1, r2, u2) = (room.clone(), user.clone(), room.clone(), user.clone());
    let (r3, u3, u4) = (room, user.clone(), user);
    view! {
        <button
            type="button"
            data-testid="mute"
            on:click=move |_| chat.mute(&r1, &u1, MUTE_MINUTES)
        >
            {format!("Mute {MUTE_MINUTES} min")}
        </button>
        <button type="button" data-testid="kick" on:click=move |_| chat.kick(&r2, &u2)>
            "Kick"
        </button>
        <button type="button" data-testid="ban" on:click=move |_| confirming.set(true)>
            "Ban"
        </button>
        <Show when=move || confirming.get()>
            <span class="confirm" role="alert">
                {format!("Ban {u4} from this room? ")}
                <button
                    type="button"
                    class="danger"
                    data-testid="confirm-ban"
                    on:click={
                        let (room, user) = (r3.clone(), u3.clone());
                        move |_| {
                            confirming.set(false);
                            chat.ban(&room, &user, None);
                        }
                    }
                >
                    "Ban"
                </button>
                <button
                    type="button"
                    class="danger"
                    data-testid="confirm-ban-purge"
                    on:click={
                        let (room, user) = (r3.clone(), u3.clone());
                        move |_| {
                            confirming.set(false);
                            chat.ban(&room, &user, None);
                            chat.purge(&room, &user);
                        }
                    }
                >
                    "Ban and delete their messages"
                </button>
                <button type="button" on:click=move |_| confirming.set(false)>
                    "Cancel"
                </button>
            </span>
        </Show>
    }
}

/// The current room's topic, and for its moderators its settings and for
/// its owners its audit log.
#[component]
pub fn RoomTools() -> impl IntoView {
    let chat = expect_context::<Chat>();
    let settings = move || {
        chat.current_room()
            .map(|r| r.settings.get())
            .unwrap_or_default()
    };
    let topic = move || settings().topic;
    view! {
        <Show when=move || !topic().is_empty()>
            <p class="topic" data-testid="topic">{topic}</p>
        </Show>
        <Show when=move || chat.moderates(&chat.current.get())>
            <SettingsDialog />
        </Show>
        <Show when=move || chat.audits(&chat.current.get())>
            <button
                type="button"
                class="needs-js"
                data-testid="audit"
                on:click=move |_| chat.ask_audit(&chat.current.get_untracked(), None)
            >
                "Audit log"
            </button>
        </Show>
        <AuditLog />
    }
}

/// A room's settings, in a disclosure: slow mode, read-only, topic.
#[component]
fn SettingsDialog() -> impl IntoView {
    let chat = expect_context::<Chat>();
    let now = move || {
        chat.current_room()
            .map(|r| r.settings.get())
            .unwrap_or_default()
    };
    let slow = RwSignal::new(String::new());
    let read_only = RwSignal::new(false);
    let topic = RwSignal::new(String::new());
    let open = move |_| {
        let s = now();
        slow.set(s.slow_mode_secs.to_string());
        read_only.set(s.read_only);
        topic.set(s.topic);
    };
    let save = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let slow_mode_secs = slow.get_untracked().trim().parse().unwrap_or(0);
        chat.set_settings(
            &chat.current.get_untracked(),
            RoomSettings {
                slow_mode_secs,
                read_only: read_only.get_untracked(),
                topic: topic.get_untracked(),
            },
        );
    };
    view! {
        <details class="room-settings needs-js" on:toggle=open>
            <summary data-testid="room-settings">"Room settings"</summary>
            <form on:submit=save>
                <label>
                    "Slow mode (seconds between messages, 0 for off) "
                    <input
                        type="number"
                        min="0"
                        max=MAX_SLOW_MODE_SECS.to_string()
                        data-testid="slow-mode"
                        prop:value=move || slow.get()
                        on:input=move |ev| slow.set(event_target_value(&ev))
                    />
                </label>
                <label>
                    <input
                        type="checkbox"
                        data-testid="read-only"
                        prop:checked=move || read_only.get()
                        on:change=move |ev| read_only.set(event_target_checked(&ev))
                    />
                    " Read-only (only moderators post)"
                </label>
                <label>
                    "Topic "
                    <input
                        type="text"
                        maxlength=MAX_TOPIC_CHARS.to_string()
                        data-testid="topic-input"
                        prop:value=move || topic.get()
                        on:input=move |ev| topic.set(event_target_value(&ev))
                    />
                </label>
                <button type="submit" data-testid="save-settings">"Save"</button>
            </form>
        </details>
    }
}

/// The audit log, once asked for: newest first, with a button for older
/// entries and one to close it.
#[component]
fn AuditLog() -> impl IntoView {
    let chat = expect_context::<Chat>();
    move || {
        chat.audit.get().map(|view| {
            let older = view.entries.last().map(|e| e.id);
            let room = view.room.clone().unwrap_or_default();
            view! {
                <section class="audit" aria-label="Audit log" data-testid="audit-log">
                    <h3>"Audit log"</h3>
                    <ol>
                        {view
                            .entries
                            .into_iter()
                            .map(|e| {
                                let whom = e.user.map(|u| format!(" {u}")).unwrap_or_default();
                                let why = e.reason.map(|r| format!(": {r}")).unwrap_or_default();
                                let what = e.detail.map(|d| format!(" ({d})")).unwrap_or_default();
                                let line = format!("{} {}{whom}{what}{why}", e.by, e.action.as_str());
                                view! { <li data-testid="audit-entry">{line}</li> }
                            })
                            .collect_view()}
                    </ol>
                    <Show when=move || view.more>
                        <button
                            type="button"
                            on:click={
                                let room = room.clone();
                                move |_| chat.ask_audit(&room, older)
                            }
                        >
                            "Older"
                        </button>
                    </Show>
                    <button type="button" on:click=move |_| chat.audit.set(None)>
                        "Close"
                    </button>
                </section>
            }
        })
    }
}
