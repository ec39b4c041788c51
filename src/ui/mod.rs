//! The Leptos UI, rendered on the server and hydrated in the browser.
//!
//! - [`shell`]: the HTML document around the app.
//! - [`App`]: the router and the chat page.
//! - `socket` (feature `hydrate`): the gloo-net WebSocket client.

#[cfg(feature = "hydrate")]
mod socket;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::StaticSegment;

/// The HTML document: head with hydration scripts, body with [`App`].
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <link rel="icon" type="image/svg+xml" href="/favicon.svg"/>
                <AutoReload options=options.clone()/>
                <HydrationScripts options/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The application: styles, title and routes.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="leptos" href="/pkg/chat.css"/>
        <Title text="Chat"/>
        <Router>
            <Routes fallback=|| "Page not found.".into_view()>
                <Route path=StaticSegment("") view=ChatPage/>
            </Routes>
        </Router>
    }
}

/// The chat page. For now: the connection state, shown once the hydrated
/// page has said hello over the WebSocket and received its `welcome`.
#[component]
fn ChatPage() -> impl IntoView {
    let status = RwSignal::new(String::from("Connecting…"));
    #[cfg(feature = "hydrate")]
    Effect::new(move |_| socket::connect(status));
    view! {
        <main class="chat">
            <h1>"Chat"</h1>
            <p class="status" data-testid="status" aria-live="polite">
                {move || status.get()}
            </p>
        </main>
    }
}
