//! A real-time chat: Leptos 0.8 pages rendered on the server and hydrated in
//! the browser, and an axum WebSocket hub speaking protocol v1.
//!
//! Module map:
//! - [`protocol`]: the wire types and validation rules, shared by server and browser.
//! - [`ui`]: the Leptos components (server-rendered, hydrated in the browser).
//! - `render` (feature `ssr`): message text to safe HTML.
//! - `server` (feature `ssr`): routes, the broadcast hub and WebSocket connections.
//! - `store` (feature `ssr`): rooms and messages behind the store traits; SQLite
//!   with group commit.
//! - `wsframe` (feature `ssr`): WebSocket framing for the load generator and tests.
//! - `admin_cli` (feature `ssr`): `chat admin …`, which asks a running server.
//!
//! What the binaries and tests use is re-exported here: [`serve`] (or an
//! [`App`] to drive without a listener), [`shutdown_signal`], [`Config`],
//! [`SyncMode`]. Integration tests live in
//! `tests/` (a real server on an ephemeral port, real WebSocket clients); the
//! browser suite lives in `end2end/`.

#![recursion_limit = "256"]

pub mod protocol;
pub mod ui;

#[cfg(feature = "ssr")]
pub mod admin_cli;
#[cfg(feature = "ssr")]
mod render;
#[cfg(feature = "ssr")]
pub mod server;
#[cfg(feature = "ssr")]
pub mod store;
#[cfg(feature = "ssr")]
pub mod wsframe;

#[cfg(feature = "ssr")]
pub use server::{config::Config, serve, shutdown_signal, App};
#[cfg(feature = "ssr")]
pub use store::SyncMode;

/// Entry points of the fuzz targets in `fuzz/` (cargo-fuzz, `make fuzz`):
/// not an API.
#[cfg(feature = "ssr")]
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::render::{check_markup, render_html};
    pub use crate::server::fuzz_client_bytes;
}

/// The browser entry point: hydrates the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(ui::App);
}

/// The chat page rendered afresh in the browser from the data it was
/// hydrated with (see `ui::fresh`): the end-to-end tests compare it with the
/// server's HTML to find text or attributes hydration would leave unpatched.
#[cfg(feature = "hydration-check")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn render_fresh() -> Option<String> {
    ui::render_fresh()
}
