//! The composer: one form that works with and without JavaScript.
//!
//! Without JavaScript it is a plain `POST /` form (name, text, room) that the
//! server handles with the hub's own validation. Once hydrated, submitting
//! sends over the WebSocket instead: the name field says hello (and then
//! hides), Enter sends, Shift+Enter adds a newline, typing notices go out at
//! most every 3 s, and a counter appears near the 2,000-character limit.

use super::state::Chat;
use super::uploads::{AttachButton, UploadList};
use super::{FormError, PageData};
use crate::protocol::{ErrorCode, MAX_TEXT_CHARS};
use leptos::ev::{KeyboardEvent, SubmitEvent};
use leptos::prelude::*;

/// The counter shows from this many characters on.
const COUNTER_FROM: usize = MAX_TEXT_CHARS - 200;

/// Text for inside `<textarea>`, which tachys writes unescaped (it is
/// RCDATA, where only `&` and `<` matter): without this a refused post whose
/// text holds `</textarea><script>…` would become markup when re-rendered.
fn rcdata(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;")
}

/// The form error that belongs under the text (not the name).
fn text_error(error: Option<&FormError>) -> Option<String> {
    error
        .filter(|e| !matches!(e.code, ErrorCode::BadName | ErrorCode::NameTaken))
        .map(|e| format!("Not sent: {}", e.message))
}

/// The message form.
#[cfg(test)]
mod tests {
    #[test]
    fn textarea_text_cannot_close_the_textarea() {
        assert_eq!(
            super::rcdata("</textarea><script>&amp;"),
            "&lt;/textarea>&lt;script>&amp;amp;"
        );
    }
}

#[component]
pub fn Composer(data: PageData) -> impl IntoView {
    let chat = expect_context::<Chat>();
    let text = RwSignal::new(data.text.clone());
    let error = RwSignal::new(text_error(data.error.as_ref()));
    let need_name = move || chat.me.get().is_none();
    let chars = move || text.with(|t| t.trim().chars().count());

    let submit = move || {
        if chat.me.get_untracked().is_none() && !chat.submit_name(&chat.wanted_name.get_untracked())
        {
            return;
        }
        // *1.2* (section 5): the files uploaded go with it.
        let files = match chat.ready_uploads() {
            Ok(files) => files,
            Err(e) => return error.set(Some(e)),
        };
        if text.with_untracked(|t| t.trim().is_empty()) && files.is_empty() {
            error.set(None);
            return;
        }
        let sent = files.len();
        match chat.post_with(&text.get_untracked(), files) {
            Ok(()) => {
                text.set(String::new());
                error.set(None);
                if sent > 0 {
                    chat.uploads.set(Vec::new());
                }
            }
            Err(e) => error.set(Some(e)),
        }
    };
    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        submit();
    };
    let on_keydown = move |ev: KeyboardEvent| {
        if ev.key() == "Enter" && !ev.shift_key() && !ev.is_composing() {
            ev.prevent_default();
            submit();
        }
        // *1.2*: Up in an empty composer edits our last message (as in Slack).
        if ev.key() == "ArrowUp" && text.with_untracked(|t| t.is_empty()) {
            let me = chat.me.get_untracked().unwrap_or_default();
            let last = chat.current_room().and_then(|r| r.last_own(&me));
            if let Some(m) = last {
                ev.prevent_default();
                chat.editing.set(Some((m.room, m.id)));
            }
        }
        if ev.key() == "Escape" && chat.replying.with_untracked(Option::is_some) {
            chat.replying.set(None);
        }
    };
    let counter = move || {
        let n = chars();
        if n > MAX_TEXT_CHARS {
            format!(
                "{} over the {MAX_TEXT_CHARS}-character limit",
                n - MAX_TEXT_CHARS
            )
        } else if n >= COUNTER_FROM {
            format!("{} characters left", MAX_TEXT_CHARS - n)
        } else {
            String::new()
        }
    };
    let placeholder = move || format!("Message #{}", chat.current.get());
    // Escaped only where it becomes HTML: in the browser it is a DOM text node
    // as it is (the tests' fresh render found the difference).
    let initial_text = if cfg!(feature = "ssr") {
        rcdata(&data.text)
    } else {
        data.text.clone()
    };

    view! {
        <form class="composer" method="post" action="/" on:submit=on_submit>
            <input type="hidden" name="room" value=move || chat.current.get()/>
            <input type="hidden" name="nonce" value=data.nonce.clone()/>
            <Show when=need_name>
                <div class="name-field">
                    <label for="name">"Your name"</label>
                    <input
                        id="name"
                        name="name"
                        type="text"
                        autocomplete="nickname"
                        maxlength="64"
                        required
                        data-testid="name"
                        value=chat.wanted_name.get_untracked()
                        prop:value=move || chat.wanted_name.get()
                        on:input=move |ev| chat.wanted_name.set(event_target_value(&ev))
                        aria-invalid=move || chat.name_error.with(Option::is_some).to_string()
                        aria-describedby="name-error"
                    />
                    <p id="name-error" class="field-error" role="alert" data-testid="name-error">
                        {move || chat.name_error.get()}
                    </p>
                </div>
            </Show>
            <super::message_menu::Replying />
            <div class="text-row">
                <label for="text" class="sr-only">{placeholder}</label>
                <textarea
                    id="text"
                    name="text"
                    rows="2"
                    placeholder=placeholder
                    data-testid="composer"
                    aria-describedby="text-error counter"
                    prop:value=move || text.get()
                    on:input=move |ev| {
                        text.set(event_target_value(&ev));
                        chat.typing();
                    }
                    on:keydown=on_keydown
                    on:paste=move |ev: leptos::ev::ClipboardEvent| {
                        // *1.2* (section 5): a pasted image (or file) is uploaded.
                        #[cfg(feature = "hydrate")]
                        if let Some(files) = ev.clipboard_data().and_then(|d| d.files()) {
                            if files.length() > 0 {
                                ev.prevent_default();
                                chat.upload_files(&files);
                            }
                        }
                        #[cfg(not(feature = "hydrate"))]
                        let _ = ev;
                    }
                >
                    {initial_text}
                </textarea>
                <AttachButton />
                <button type="submit" class="send" data-testid="send">
                    "Send"
                </button>
            </div>
            <UploadList />
            <div class="composer-foot">
                <p id="text-error" class="field-error" role="alert" data-testid="text-error">
                    {move || error.get()}
                </p>
                <span
                    id="counter"
                    class="counter"
                    class:over=move || { chars() > MAX_TEXT_CHARS }
                    aria-live="polite"
                    data-testid="counter"
                >
                    {counter}
                </span>
            </div>
            <p class="hint needs-js">
                {move || {
                    if chat.me.get().is_some() {
                        "Enter sends, Shift+Enter adds a line."
                    } else {
                        "Choose a name to join the conversation."
                    }
                }}
            </p>
        </form>
    }
}
