//! Turns sanitized message text into the `html` field: a small subset of
//! Markdown, and nothing else.
//!
//! | typed | shown |
//! |---|---|
//! | `*em*` or `_em_` | `<em>` |
//! | `**strong**` | `<strong>` |
//! | `` `code` `` | `<code>` |
//! | a fenced (```` ``` ````) or indented code block | `<pre><code>` |
//! | `http://…` / `https://…`, bare or in `<…>` | `<a href rel="noopener noreferrer nofollow ugc" target="_blank">` |
//! | a line break; a blank line | `<br>`; `<br><br>` |
//!
//! Everything else (headings, lists, quotes, tables, `[text](url)` links,
//! images, raw HTML, other URL schemes such as `javascript:`) is shown as
//! it was typed. The renderer is written so that it can emit only the tags
//! of [`check_markup`]: every character of user input goes through
//! `html-escape`'s `encode_safe` (`& < > " ' /`), and entities stay as
//! typed (`&lt;` shows `&lt;`). Parsing is `pulldown-cmark` (CommonMark);
//! bare URLs are found by `linkify`. Text with no character Markdown or a
//! URL could use skips both (most messages): it is escaped line by line.

use linkify::{LinkFinder, LinkKind};
use pulldown_cmark::{Event, LinkType, Options, Parser, Tag, TagEnd};

/// The `rel` of every link.
const REL: &str = "noopener noreferrer nofollow ugc";

/// Renders sanitized text into safe HTML (see the module docs).
pub fn render_html(text: &str) -> String {
    if plain(text) {
        return escape_lines(text);
    }
    // Entities stay as typed: `&` reaches the parser as `&amp;`, which it
    // decodes back to `&` (code keeps it raw: see `unamp`).
    let source = text.replace('&', "&amp;");
    let mut out = String::with_capacity(text.len() * 2);
    // Where the last block ended in `source`: the lines between it and the
    // next become as many `<br>` (a blank line: two), as typed.
    let (mut skip, mut last_end) = (0usize, None::<usize>);
    let (mut in_code, mut in_link) = (false, false);
    // Plain text waits here until the next other event: the parser splits
    // it (at `&amp;`, for one), and a URL must be found whole.
    let mut text_run = String::new();
    for (event, range) in Parser::new_ext(&source, Options::empty()).into_offset_iter() {
        if let Event::Text(t) = &event {
            if skip == 0 && !in_code && !in_link {
                text_run.push_str(t);
                continue;
            }
        }
        if !text_run.is_empty() {
            linkify(&std::mem::take(&mut text_run), &mut out);
        }
        if skip > 0 {
            match event {
                Event::Start(_) => skip += 1,
                Event::End(_) => skip -= 1,
                _ => {}
            }
            continue;
        }
        let block = |out: &mut String, start: usize| {
            if let Some(end) = last_end {
                let end = if source[..end].ends_with('\n') {
                    end - 1
                } else {
                    end
                };
                let lines = source[end.min(start)..start].matches('\n').count().max(1);
                out.push_str(&"<br>".repeat(lines));
            }
        };
        match event {
            Event::Start(Tag::Paragraph) => block(&mut out, range.start),
            Event::End(TagEnd::Paragraph) => last_end = Some(range.end),
            Event::Start(Tag::CodeBlock(_)) => {
                block(&mut out, range.start);
                out.push_str("<pre><code>");
                in_code = true;
            }
            Event::End(TagEnd::CodeBlock) => {
                out.push_str("</code></pre>");
                in_code = false;
                last_end = Some(range.end);
            }
            Event::Start(Tag::Emphasis) => out.push_str("<em>"),
            Event::End(TagEnd::Emphasis) => out.push_str("</em>"),
            Event::Start(Tag::Strong) => out.push_str("<strong>"),
            Event::End(TagEnd::Strong) => out.push_str("</strong>"),
            Event::Start(Tag::Link {
                link_type: LinkType::Autolink,
                dest_url,
                ..
            }) if web(&dest_url) => {
                open_link(&mut out, &dest_url);
                in_link = true;
            }
            Event::End(TagEnd::Link) => {
                out.push_str("</a>");
                in_link = false;
            }
            Event::Text(t) if in_code => escape(&unamp(&t), &mut out),
            Event::Text(t) => escape(&t, &mut out), // in a link
            Event::Code(t) => {
                out.push_str("<code>");
                escape(&unamp(&t), &mut out);
                out.push_str("</code>");
            }
            Event::SoftBreak | Event::HardBreak => out.push_str("<br>"),
            // Anything else is shown as typed: a block or span whole.
            Event::Start(tag) => {
                let is_block = is_block(&tag);
                if is_block {
                    block(&mut out, range.start);
                }
                as_typed(&source[range.clone()], &mut out);
                skip = 1;
                if is_block {
                    last_end = Some(range.end);
                }
            }
            Event::Rule => {
                block(&mut out, range.start);
                as_typed(&source[range.clone()], &mut out);
                last_end = Some(range.end);
            }
            _ => as_typed(&source[range], &mut out),
        }
    }
    linkify(&text_run, &mut out);
    out
}

/// True when `text` holds nothing Markdown or a URL could use.
fn plain(text: &str) -> bool {
    const MARKS: &[char] = &[
        '*', '_', '`', '<', '>', '[', ']', '!', '#', '-', '+', '=', '\\', '|', '~', '&', '\t',
    ];
    !text.contains(MARKS)
        && !text.contains("://")
        && text.split('\n').all(|line| {
            // An indented code block, or an ordered list item ("1." "2)").
            let trimmed = line.trim_start();
            let after_digits = trimmed.trim_start_matches(|c: char| c.is_ascii_digit());
            let numbered =
                after_digits.len() < trimmed.len() && after_digits.starts_with(['.', ')']);
            !(line.starts_with("    ") || numbered)
        })
}

/// Escapes `text` line by line, the lines joined by `<br>`.
fn escape_lines(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8 + 8);
    as_typed(text, &mut out);
    out
}

/// Appends `source` (as given to the parser) escaped, as typed: lines
/// joined by `<br>`, without a final line break.
fn as_typed(source: &str, out: &mut String) {
    let source = unamp(source);
    for (i, line) in source.trim_end_matches('\n').split('\n').enumerate() {
        if i > 0 {
            out.push_str("<br>");
        }
        escape(line, out);
    }
}

/// Undoes the `&` → `&amp;` done for the parser, where it decodes nothing.
fn unamp(s: &str) -> String {
    s.replace("&amp;", "&")
}

fn escape(text: &str, out: &mut String) {
    html_escape::encode_safe_to_string(text, out);
}

/// True for `http://` and `https://` URLs (any case), the only ones linked.
fn web(url: &str) -> bool {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

fn open_link(out: &mut String, url: &str) {
    out.push_str("<a href=\"");
    escape(url, out);
    out.push_str("\" rel=\"");
    out.push_str(REL);
    out.push_str("\" target=\"_blank\">");
}

/// Appends `text` escaped, its `http(s)` URLs as links.
fn linkify(text: &str, out: &mut String) {
    let mut finder = LinkFinder::new();
    finder.kinds(&[LinkKind::Url]);
    for span in finder.spans(text) {
        match span.kind() {
            Some(LinkKind::Url) if web(span.as_str()) => {
                open_link(out, span.as_str());
                escape(span.as_str(), out);
                out.push_str("</a>");
            }
            _ => escape(span.as_str(), out),
        }
    }
}

fn is_block(tag: &Tag) -> bool {
    !matches!(
        tag,
        Tag::Emphasis
            | Tag::Strong
            | Tag::Strikethrough
            | Tag::Link { .. }
            | Tag::Image { .. }
            | Tag::Superscript
            | Tag::Subscript
    )
}

/// Checks that `html` holds only the markup [`render_html`] may write:
/// `<br>`, `<em>`, `<strong>`, `<code>`, `<pre>` (and their ends), and
/// links to `http(s)` URLs with the fixed `rel` and `target`; outside tags,
/// no `<`, `>`, quote or apostrophe. For tests and the fuzz target.
pub fn check_markup(html: &str) -> Result<(), String> {
    const PLAIN: &[&str] = &[
        "<br>",
        "<em>",
        "</em>",
        "<strong>",
        "</strong>",
        "<code>",
        "</code>",
        "<pre>",
        "</pre>",
        "</a>",
    ];
    let mut rest = html;
    while let Some(at) = rest.find(['<', '>', '"', '\'']) {
        if !rest[at..].starts_with('<') {
            return Err(format!("a bare {:?} in {html:?}", &rest[at..at + 1]));
        }
        let tag_end = rest[at..]
            .find('>')
            .ok_or(format!("an open tag in {html:?}"))?
            + at
            + 1;
        let tag = &rest[at..tag_end];
        let link = tag
            .strip_prefix("<a href=\"")
            .and_then(|t| t.strip_suffix(&format!("\" rel=\"{REL}\" target=\"_blank\">")))
            .is_some_and(|url| {
                !url.contains(['"', '<', '>', '\'']) && web(&html_escape::decode_html_entities(url))
            });
        if !link && !PLAIN.contains(&tag) {
            return Err(format!("the tag {tag:?} in {html:?}"));
        }
        rest = &rest[tag_end..];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{check_markup, render_html};
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
    fn every_payload_stays_inert() {
        for payload in PAYLOADS {
            let text = sanitize_text(payload).unwrap();
            let html = render_html(&text);
            check_markup(&html).unwrap_or_else(|e| panic!("{payload:?}: {e}"));
            assert!(!html.contains("<a"), "{payload:?} linked: {html:?}");
        }
    }

    #[test]
    fn the_subset_renders_and_everything_else_shows_as_typed() {
        let cases = [
            ("**b** and *e* and _e_", "<strong>b</strong> and <em>e</em> and <em>e</em>"),
            ("run `ls <dir> & x`", "run <code>ls &lt;dir&gt; &amp; x</code>"),
            ("```\nfn a() {}\n```", "<pre><code>fn a() {}\n</code></pre>"),
            ("a\nb\n\nc", "a<br>b<br><br>c"),
            ("a\n\n\n\nb", "a<br><br><br><br>b"),
            ("<script>x</script>\nline 2", "&lt;script&gt;x&lt;&#x2F;script&gt;<br>line 2"),
            ("# title\ntext", "# title<br>text"),
            ("text\n```\ncode\n```\nmore", "text<br><pre><code>code\n</code></pre><br>more"),
            (
                "see https://example.org/a?b=1&c=2.",
                "see <a href=\"https:&#x2F;&#x2F;example.org&#x2F;a?b=1&amp;c=2\" \
                 rel=\"noopener noreferrer nofollow ugc\" target=\"_blank\">\
                 https:&#x2F;&#x2F;example.org&#x2F;a?b=1&amp;c=2</a>.",
            ),
            ("<https://x.org>", "<a href=\"https:&#x2F;&#x2F;x.org\" rel=\"noopener noreferrer nofollow ugc\" target=\"_blank\">https:&#x2F;&#x2F;x.org</a>"),
            // Not in the subset: as typed.
            ("# title", "# title"),
            ("- one\n- two", "- one<br>- two"),
            ("> quoted", "&gt; quoted"),
            ("[click](https://x.org)", "[click](https:&#x2F;&#x2F;x.org)"),
            ("[x](javascript:alert(1))", "[x](javascript:alert(1))"),
            ("javascript:alert(1)", "javascript:alert(1)"),
            ("<javascript:alert(1)>", "&lt;javascript:alert(1)&gt;"),
            ("ftp://x.org/f", "ftp:&#x2F;&#x2F;x.org&#x2F;f"),
            ("![i](https://x.org/i.png)", "![i](https:&#x2F;&#x2F;x.org&#x2F;i.png)"),
            ("<b>bold?</b>", "&lt;b&gt;bold?&lt;&#x2F;b&gt;"),
            // Entities stay as typed, in text and in code.
            ("&lt;b&gt; &amp;", "&amp;lt;b&amp;gt; &amp;amp;"),
            ("`&lt;`", "<code>&amp;lt;</code>"),
            // Plain text: the fast path, as before.
            ("hello there", "hello there"),
            ("2024 was fine\n1 or 2", "2024 was fine<br>1 or 2"),
        ];
        for (typed, shown) in cases {
            assert_eq!(render_html(typed), shown, "{typed:?}");
            check_markup(shown).unwrap();
        }
    }

    #[test]
    fn the_markup_check_refuses_what_the_renderer_never_writes() {
        for bad in [
            "<b>x</b>",
            "<a href=\"javascript:alert(1)\" rel=\"noopener noreferrer nofollow ugc\" target=\"_blank\">x</a>",
            "<a href=\"https://x\" onclick=\"y\">x</a>",
            "x > y",
            "say \"hi\"",
            "<br",
        ] {
            assert!(check_markup(bad).is_err(), "{bad:?}");
        }
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
                    proptest::sample::select(vec![
                        "<", ">", "\"", "'", "&", "\n", "<br>", "&#60;", "/", "*", "**", "_", "`",
                        "```\n", "    ", "# ", "- ", "1. ", "> ", "[a](", ")", "https://x.org/",
                        "<https://a.b>", "javascript:", "\\", "&amp;",
                    ])
                        .prop_map(str::to_owned),
                ],
                1..12,
            ).prop_map(|parts| parts.concat())
        ) {
            if let Ok(text) = sanitize_text(&raw) {
                let html = render_html(&text);
                proptest::prop_assert!(check_markup(&html).is_ok(), "{:?}", check_markup(&html));
                // Text the fast path takes decodes back to itself.
                if super::plain(&text) {
                    let decoded = html_escape::decode_html_entities(&html.replace("<br>", "\n"))
                        .into_owned();
                    proptest::prop_assert_eq!(decoded, text);
                }
            }
        }
    }
}
