//! A fresh browser-side render of the page, for finding hydration mismatches.
//!
//! Hydration adopts the server's DOM without comparing it: in a release
//! build tachys neither warns about nor patches a text or attribute that the
//! browser would have rendered differently (only a different structure is an
//! error). Such a difference stays on screen until its signal next changes.
//! [`render_fresh`] renders the chat page again in the browser, from the
//! same [`PageData`] the page was hydrated with, into a detached element and
//! with no connection; the end-to-end tests compare its HTML with the
//! server's response, so any difference is found.

use super::{ChatPage, PageData};
use leptos::mount::UnmountHandle;
use leptos::prelude::*;
use leptos::tachys::view::any_view::AnyViewState;
use std::cell::RefCell;
use wasm_bindgen::JsCast;

/// The fresh render's mount, kept until the next one: its effects are still
/// scheduled after it is rendered, and would find its signals disposed.
type Mounted = UnmountHandle<AnyViewState>;

thread_local! {
    /// The data the page was hydrated with (set once, by [`remember`]).
    static HYDRATED_WITH: RefCell<Option<PageData>> = const { RefCell::new(None) };
    /// The last fresh render (detached from the document).
    static LAST: RefCell<Option<Mounted>> = const { RefCell::new(None) };
}

/// Keeps the data the page is being hydrated with, for [`render_fresh`].
pub(super) fn remember(data: &PageData) {
    HYDRATED_WITH.with_borrow_mut(|d| *d = Some(data.clone()));
}

/// The chat page's HTML as the browser renders it from the hydration data,
/// or `None` before hydration (or on the "not found" page).
pub fn render_fresh() -> Option<String> {
    let data = HYDRATED_WITH.with_borrow(Clone::clone)?;
    let parent: web_sys::HtmlElement = document().create_element("div").ok()?.unchecked_into();
    let mounted = leptos::mount::mount_to(parent.clone(), move || {
        view! { <ChatPage data live=false/> }.into_any()
    });
    let html = parent.inner_html();
    LAST.with_borrow_mut(|last| *last = Some(mounted));
    Some(html)
}
