//! Turns sanitized message text into the `html` field.
//!
//! Every character of user input goes through `html-escape`'s `encode_safe`
//! (which escapes `& < > " ' /`); the only markup the server adds is `<br>`
//! between lines. Nothing a user types can become markup.

/// Renders sanitized text into safe HTML: each line escaped, lines joined by `<br>`.
pub fn render_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8 + 8);
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push_str("<br>");
        }
        html_escape::encode_safe_to_string(line, &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::render_html;
    use crate::protocol::sanitize_text;
    use proptest::strategy::Strategy;

    /// Classic XSS payloads: none may leave a `<` or `>` of its own, a quote
    /// that could close an attribute, or anything but `<br>` as markup.
    const PAYLOADS: &[&str] = &[
        "<script>alert(1)</script>",
        "<img src=x onerror=alert(1)>",
        "<svg/onload=alert(1)>",
        "\"><script>alert(document.cookie)</script>",
        "'><img src=x onerror=alert(1)>",
        "<a href=\"javascript:alert(1)\">x</a>",
        "<iframe srcdoc=\"<script>alert(1)</script>\">",
        "<body onload=alert(1)>",
        "<scr<script>ipt>alert(1)</scr</script>ipt>",
        "&lt;script&gt;alert(1)&lt;/script&gt;",
        "<<SCRIPT>alert(\"XSS\");//<</SCRIPT>",
        "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)>",
        "<div style=\"background:url(javascript:alert(1))\">",
        "</textarea><script>alert(1)</script>",
        "<!--<img src=\"--><img src=x onerror=alert(1)//\">",
        "\u{0}<script\u{0}>alert(1)</script>",
        "<br onmouseover=alert(1)>",
        "line1\n<b>line2</b>",
        "`${alert(1)}`",
        "<ſcript>alert(1)</ſcript>",
    ];

    #[test]
    fn escapes_every_payload() {
        for payload in PAYLOADS {
            let text = sanitize_text(payload).unwrap();
            let html = render_html(&text);
            let without_br = html.replace("<br>", "");
            for forbidden in ['<', '>', '"', '\''] {
                assert!(
                    !without_br.contains(forbidden),
                    "{payload:?} rendered as {html:?} keeps {forbidden:?}"
                );
            }
            // Decoding the entities gives back exactly the text, lines joined by <br>.
            let lines = html.replace("<br>", "\n");
            let decoded = html_escape::decode_html_entities(&lines);
            assert_eq!(decoded, text, "{payload:?}");
        }
    }

    #[test]
    fn newlines_become_br_and_nothing_else_is_markup() {
        assert_eq!(render_html("a\n<b>"), "a<br>&lt;b&gt;");
        assert_eq!(render_html("x & y"), "x &amp; y");
        assert_eq!(render_html("a\tb"), "a\tb");
        assert_eq!(render_html("<br>"), "&lt;br&gt;");
    }

    proptest::proptest! {
        /// Any text a client can send (any characters, the payloads' pieces
        /// mixed in): the only markup in its `html` is `<br>`, nothing can
        /// close an attribute, and decoding gives the text back.
        #[test]
        fn rendered_html_never_holds_markup_from_its_input(
            raw in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::string::string_regex("(?s).{0,20}").unwrap(),
                    proptest::sample::select(PAYLOADS.to_vec()).prop_map(str::to_owned),
                    proptest::sample::select(vec!["<", ">", "\"", "'", "&", "\n", "<br>", "&#60;", "/"])
                        .prop_map(str::to_owned),
                ],
                1..12,
            ).prop_map(|parts| parts.concat())
        ) {
            if let Ok(text) = sanitize_text(&raw) {
                let html = render_html(&text);
                let without_br = html.replace("<br>", "");
                for forbidden in ['<', '>', '"', '\''] {
                    proptest::prop_assert!(!without_br.contains(forbidden), "{html:?}");
                }
                let decoded = html_escape::decode_html_entities(&html.replace("<br>", "\n"))
                    .into_owned();
                proptest::prop_assert_eq!(decoded, text);
            }
        }
    }
}
