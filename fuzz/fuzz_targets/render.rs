//! Any text through the sanitizer and the renderer: the `html` holds only
//! the markup `render_html` may write (`check_markup`: `<br>`, `<em>`,
//! `<strong>`, `<code>`, `<pre>`, and `http(s)` links with a fixed `rel`),
//! and nothing outside a tag can open or close one or an attribute.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);
    let Ok(text) = chat::protocol::sanitize_text(&raw) else {
        return;
    };
    let html = chat::fuzzing::render_html(&text);
    if let Err(e) = chat::fuzzing::check_markup(&html) {
        panic!("{raw:?}: {e}");
    }
});
