//! Any text through the sanitizer and the renderer: the only markup in the
//! `html` is `<br>`, nothing can close an attribute, and decoding gives the
//! sanitized text back.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let raw = String::from_utf8_lossy(data);
    let Ok(text) = chat::protocol::sanitize_text(&raw) else {
        return;
    };
    let html = chat::fuzzing::render_html(&text);
    let without_br = html.replace("<br>", "");
    for forbidden in ['<', '>', '"', '\''] {
        assert!(!without_br.contains(forbidden), "{raw:?} -> {html:?}");
    }
    let decoded = html_escape_decode(&html.replace("<br>", "\n"));
    assert_eq!(decoded, text, "{raw:?} -> {html:?}");
});

/// Decodes the five entities `encode_safe` writes (and `&#x2F;`).
fn html_escape_decode(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#x2F;", "/")
        .replace("&amp;", "&")
}
