//! The search box (in the room header) and its results panel; a result
//! opens its message in context ([`Chat::open_message`]).

use super::messages::{clock, iso};
use super::state::{Chat, Found};
use super::{plain_click, room_path};
use crate::protocol::{ChatMessage, MAX_QUERY_CHARS};
use leptos::ev::SubmitEvent;
use leptos::prelude::*;

/// "Search messages" (JavaScript only: it speaks the socket's `search`).
#[component]
pub fn SearchBox() -> impl IntoView {
    let chat = expect_context::<Chat>();
    let draft = RwSignal::new(String::new());
    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        chat.search(&draft.get_untracked());
    };
    view! {
        <form class="search needs-js" role="search" on:submit=on_submit>
            <input
                type="search"
                aria-label="Search messages"
                placeholder="Search messages"
                maxlength=MAX_QUERY_CHARS.to_string()
                data-testid="search"
                prop:value=move || draft.get()
                on:input=move |ev| draft.set(event_target_value(&ev))
            />
        </form>
    }
}

/// What the panel's status line says.
fn status(found: &Found) -> String {
    let n = found.messages.len();
    if let Some(error) = &found.error {
        error.clone()
    } else if found.loading && n == 0 {
        "Searching…".to_owned()
    } else if n == 0 {
        format!("Nothing found for “{}”.", found.query)
    } else {
        let more = if found.next.is_some() { "+" } else { "" };
        let s = if n == 1 && more.is_empty() { "" } else { "s" };
        format!("{n}{more} result{s} for “{}”", found.query)
    }
}

/// One result: a link to the message in its room, then its text.
fn result(chat: Chat, m: ChatMessage) -> impl IntoView {
    let (room, id) = (m.room.clone(), m.id);
    let when = format!("{} {}", &iso(m.ts)[..10], clock(m.ts, true));
    let href = format!("{}#m{}", room_path(&m.room), m.id);
    view! {
        <li class="result" data-testid="result">
            <a
                class="result-link"
                href=href
                on:click=move |ev| {
                    if plain_click(&ev) {
                        ev.prevent_default();
                        chat.open_message(&room, id);
                    }
                }
            >
                <span class="hash" aria-hidden="true">"#"</span>
                {m.room}
                " · "
                <strong>{m.user}</strong>
                " · "
                <time datetime=iso(m.ts)>{when}</time>
            </a>
            // The server's `html`: every character of the input escaped.
            <div class="text" inner_html=m.html></div>
            <super::attachments::Attachments files=m.attachments />
        </li>
    }
}

/// The results of the search (closed when there is none).
#[component]
pub fn SearchResults() -> impl IntoView {
    let chat = expect_context::<Chat>();
    move || {
        chat.found.get().map(|found| {
            let (more, loading) = (found.next.is_some(), found.loading);
            view! {
                <section class="results" aria-label="Search results" data-testid="results">
                    <div class="results-head">
                        <p role="status" data-testid="results-status">{status(&found)}</p>
                        <button type="button" class="link" on:click=move |_| chat.found.set(None)>
                            "Close"
                        </button>
                    </div>
                    <ol class="result-list">
                        {found.messages.into_iter().map(|m| result(chat, m)).collect_view()}
                    </ol>
                    {more.then(|| view! {
                        <button
                            type="button"
                            class="older"
                            disabled=loading
                            on:click=move |_| chat.more_results()
                        >
                            "More results"
                        </button>
                    })}
                </section>
            }
        })
    }
}
