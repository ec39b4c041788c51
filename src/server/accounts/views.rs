//! The sign-up, sign-in and account pages: server-rendered documents with
//! the chat's stylesheet and no script at all (they work without
//! JavaScript, and add nothing to the chat page's WASM). Leptos's `view!`
//! escapes every text and attribute, as on the chat page.

use crate::store::accounts::SessionRow;
use crate::store::grants::TokenRow;
use leptos::prelude::*;
use leptos_meta::HashedStylesheet;

/// A form's state to render again: what was typed (never a password) and why it was refused.
#[derive(Debug, Clone, Default)]
pub(super) struct FormState {
    /// The name typed.
    pub(super) name: String,
    /// The invite code, if any.
    pub(super) invite: String,
    /// Why it was refused.
    pub(super) error: Option<String>,
}

/// One document around `body`, titled `title`.
fn document(options: &LeptosOptions, title: &str, body: AnyView) -> String {
    let options = options.clone();
    let title = format!("{title} · Chat");
    let owner = Owner::new();
    owner.with(|| {
        view! {
            <!DOCTYPE html>
            <html lang="en">
                <head>
                    <meta charset="utf-8"/>
                    <meta name="viewport" content="width=device-width, initial-scale=1"/>
                    <meta name="color-scheme" content="light dark"/>
                    <title>{title}</title>
                    <link rel="icon" type="image/svg+xml" href="/favicon.svg"/>
                    <HashedStylesheet options/>
                </head>
                <body>
                    <main class="account-page">
                        <h1 class="brand">
                            <a href="/">
                                <img src="/favicon.svg" alt="" width="24" height="24"/>
                                "Chat"
                            </a>
                        </h1>
                        {body}
                    </main>
                </body>
            </html>
        }
        .to_html()
    })
}

/// A new password's field (sign-up, change), with the server's length
/// rule said to the browser too.
fn new_password(label: &'static str) -> impl IntoView {
    view! {
        <label for="password">{label}</label>
        <input
            id="password"
            name="password"
            type="password"
            autocomplete="new-password"
            required
            minlength="8"
            maxlength="256"
        />
    }
}

/// The refusal, if any, announced to screen readers.
fn error_view(error: Option<String>) -> impl IntoView {
    error.map(|e| {
        view! {
            <p class="form-error" role="alert" data-testid="account-error">
                {e}
            </p>
        }
    })
}

/// `GET /login` (and a refused sign-in).
pub(super) fn sign_in(options: &LeptosOptions, form: FormState) -> String {
    let body = view! {
        <h2>"Sign in"</h2>
        {error_view(form.error)}
        <form method="post" action="/login" class="account-form">
            <label for="name">"Name"</label>
            <input id="name" name="name" autocomplete="username" required value=form.name/>
            <label for="password">"Password"</label>
            <input
                id="password"
                name="password"
                type="password"
                autocomplete="current-password"
                required
            />
            <button type="submit">"Sign in"</button>
        </form>
        <p>"New here? " <a href="/signup">"Make an account"</a> " or " <a href="/">"chat as a guest"</a></p>
    };
    document(options, "Sign in", body.into_any())
}

/// `GET /signup` (and a refused sign-up). `guest`: the name the visitor
/// chats under now, which the account keeps.
pub(super) fn sign_up(options: &LeptosOptions, form: FormState, guest: Option<String>) -> String {
    let keep = guest.as_ref().map(|name| {
        view! {
            <p>"Keep the name " <strong>{name.clone()}</strong> " and your messages: set a password."</p>
        }
    });
    let name = match (form.name.is_empty(), guest) {
        (true, Some(guest)) => guest,
        _ => form.name,
    };
    let invite = (!form.invite.is_empty()).then(|| {
        view! { <input type="hidden" name="invite" value=form.invite/> }
    });
    let body = view! {
        <h2>"Make an account"</h2>
        {keep}
        {error_view(form.error)}
        <form method="post" action="/signup" class="account-form">
            <label for="name">"Name"</label>
            <input id="name" name="name" autocomplete="username" required maxlength="32" value=name/>
            {new_password("Password (8 to 256 characters)")}
            {invite}
            <button type="submit">"Make the account"</button>
        </form>
        <p>"Have one? " <a href="/login">"Sign in"</a></p>
    };
    document(options, "Make an account", body.into_any())
}

/// What the account page shows.
pub(super) struct AccountView {
    /// The account's name.
    pub(super) name: String,
    /// Its role (`admin`, `user`).
    pub(super) role: &'static str,
    /// Its sessions, most recently used first.
    pub(super) sessions: Vec<SessionRow>,
    /// Its API tokens, newest first.
    pub(super) tokens: Vec<TokenRow>,
    /// The session of this request.
    pub(super) current: [u8; 32],
    /// A message after a change (`role="status"`), or a refusal.
    pub(super) notice: Option<String>,
    /// A refusal of one of its forms.
    pub(super) error: Option<String>,
    /// A token made just now, shown this once.
    pub(super) new_token: Option<String>,
}

/// The first 16 hex digits of a session's hash: how the page names it
/// (enough to tell an account's sessions apart; not the session id).
pub(super) fn session_label(hash: &[u8; 32]) -> String {
    hash[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// A time (ms since the epoch) as UTC, to the minute.
fn when(ms: u64) -> String {
    let iso = crate::ui::iso(ms); // 2026-05-28T20:26:40Z
    format!("{} {} UTC", &iso[..10], &iso[11..16])
}

/// `GET /account`.
pub(super) fn account(options: &LeptosOptions, page: AccountView) -> String {
    let rows = page
        .sessions
        .into_iter()
        .map(|s| {
            let this = s.hash == page.current;
            let label = session_label(&s.hash);
            view! {
                <tr data-testid="session-row">
                    <td>{s.agent.clone()} {this.then(|| view! { <strong>" (this device)"</strong> })}</td>
                    <td>{s.addr.clone()}</td>
                    <td>{when(s.used_ms)}</td>
                    <td>
                        <form method="post" action="/account/sessions/end">
                            <input type="hidden" name="session" value=label/>
                            <button type="submit">"Sign this one out"</button>
                        </form>
                    </td>
                </tr>
            }
        })
        .collect_view();
    let tokens = page
        .tokens
        .into_iter()
        .map(|t| {
            let label = session_label(&t.hash);
            let rooms = match t.rooms.is_empty() {
                true => "every room".to_owned(),
                false => t.rooms.join(", "),
            };
            view! {
                <li data-testid="token-row">
                    <strong>{t.label.clone()}</strong>
                    " · " {rooms} " · made " {when(t.created_ms)}
                    <form method="post" action="/account/tokens/revoke" class="inline-form">
                        <input type="hidden" name="token" value=label/>
                        <button type="submit">"Revoke"</button>
                    </form>
                </li>
            }
        })
        .collect_view();
    let body = view! {
        <h2>"Your account"</h2>
        <p data-testid="account-name">
            "Signed in as " <strong>{page.name}</strong> {(page.role == "admin").then_some(" (admin)")}
        </p>
        {page.notice.map(|n| view! { <p role="status">{n}</p> })}
        <p><a href="/">"Back to the chat"</a></p>
        <form method="post" action="/logout" class="inline-form">
            <button type="submit">"Sign out"</button>
        </form>
        <form method="post" action="/logout" class="inline-form">
            <input type="hidden" name="everywhere" value="1"/>
            <button type="submit">"Sign out everywhere"</button>
        </form>
        <h3>"Change the password"</h3>
        {error_view(page.error)}
        <form method="post" action="/account/password" class="account-form">
            <label for="current">"Current password"</label>
            <input id="current" name="current" type="password" autocomplete="current-password" required/>
            {new_password("New password (8 to 256 characters)")}
            <button type="submit">"Change it"</button>
        </form>
        <p>"Changing it signs out every other device."</p>
        <h3>"API tokens"</h3>
        <p>
            "A bot or a script posts as you with "
            <code>"Authorization: Bearer <token>"</code>
            " (see the README)."
        </p>
        {page
            .new_token
            .map(|token| {
                view! {
                    <p class="new-token">
                        <label for="new-token">"Your new token (shown this once)"</label>
                        <input id="new-token" readonly value=token data-testid="new-token"/>
                    </p>
                }
            })}
        <ul class="tokens">{tokens}</ul>
        <form method="post" action="/account/tokens" class="account-form">
            <label for="label">"Token name"</label>
            <input id="label" name="label" required maxlength="64"/>
            <label for="rooms">"Only these rooms (optional, separated by spaces)"</label>
            <input id="rooms" name="rooms"/>
            <button type="submit">"Make a token"</button>
        </form>
        <h3>"Where you are signed in"</h3>
        <table class="sessions">
            <thead>
                <tr>
                    <th scope="col">"Browser"</th>
                    <th scope="col">"Address"</th>
                    <th scope="col">"Last used"</th>
                    <th scope="col"><span class="sr-only">"Actions"</span></th>
                </tr>
            </thead>
            <tbody>{rows}</tbody>
        </table>
        <h3>"Your data"</h3>
        <p>
            "Everything this chat keeps about you (your name, messages, reactions, "
            "read marks, rooms, sessions, tokens and uploads), as one JSON file."
        </p>
        <form method="post" action="/account/data" class="inline-form">
            <button type="submit">"Download your data"</button>
        </form>
        <h3>"Delete your account"</h3>
        <p>
            "Every session ends, your name is free for anyone, your uploads are removed, "
            "and your messages stay as \"deleted user\" or are removed, as this chat is set up. "
            "It cannot be undone."
        </p>
        <form method="post" action="/account/delete" class="account-form">
            <label for="delete-password">"Your password, to confirm"</label>
            <input id="delete-password" name="password" type="password" autocomplete="current-password" required/>
            <button type="submit">"Delete my account"</button>
        </form>
    };
    document(options, "Your account", body.into_any())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_utc_dates() {
        assert_eq!(when(0), "1970-01-01 00:00 UTC");
        assert_eq!(when(1_780_000_000_000), "2026-05-28 20:26 UTC");
        assert_eq!(when(951_782_400_000), "2000-02-29 00:00 UTC");
    }

    #[test]
    fn what_was_typed_comes_back_escaped() {
        let options = LeptosOptions::builder().output_name("chat").build();
        let form = FormState {
            name: "\"><script>x</script>".into(),
            invite: String::new(),
            error: Some("<b>no</b>".into()),
        };
        let html = sign_in(&options, form);
        assert!(
            !html.contains("<script>x") && !html.contains("<b>no"),
            "{html}"
        );
        assert!(html.contains("&lt;b&gt;no&lt;/b&gt;"), "{html}");
        assert!(!html.contains("<script"), "no script at all: {html}");
    }
}
