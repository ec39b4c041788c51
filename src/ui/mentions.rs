//! Mentions: `@name` of a member, found in a message on both sides.
//!
//! A mention is `@` followed by a member's name, compared without regard to
//! case, and not followed by a letter, digit, `_` or `-` (`@ada` mentions
//! "Ada", `@adam` does not). A name with spaces is mentioned whole
//! (`@Ada Lovelace`). The page marks mentions in the server's `html`
//! ([`mark`]) with the room's members it knows, the same on the server and
//! in the browser, so hydration matches; whether a message mentions *you*
//! ([`mentions`]) is read from its `text`.

/// True for a character that continues a name (so `@ada` is not in `@adam`).
fn continues(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-'
}

/// The length in bytes of `name` (already lower-cased) at the start of
/// `rest` when it stands there as a whole name, compared without case.
fn name_at(rest: &str, lower: &str) -> Option<usize> {
    let mut chars = rest.char_indices();
    let mut want = lower.chars();
    let mut end = 0;
    while let Some(w) = want.next() {
        let (i, c) = chars.next()?;
        // One character's lower case may be several (`İ`): compare them all.
        let mut lowered = c.to_lowercase();
        if lowered.next() != Some(w) {
            return None;
        }
        for more in lowered {
            if want.next() != Some(more) {
                return None;
            }
        }
        end = i + c.len_utf8();
    }
    match rest[end..].chars().next() {
        Some(c) if continues(c) => None,
        _ => Some(end),
    }
}

/// True when `text` mentions `name`.
pub fn mentions(text: &str, name: &str) -> bool {
    let lower = name.to_lowercase();
    !lower.is_empty()
        && text
            .match_indices('@')
            .any(|(i, _)| name_at(&text[i + 1..], &lower).is_some())
}

/// `name` escaped as the server escapes text in `html` (`& < > " ' /`).
fn escaped(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            '/' => out.push_str("&#x2F;"),
            c => out.push(c),
        }
    }
    out
}

/// The server's `html` with each mention of one of `names` wrapped in
/// `<span class="mention">`, outside links and code. Only text between
/// tags is looked at, and only the span is added: the markup stays the
/// server's. The longest name wins (`@Ada Lovelace` over `@Ada`).
pub fn mark(html: &str, names: &[String]) -> String {
    if !html.contains('@') || names.is_empty() {
        return html.to_owned();
    }
    let wanted: Vec<String> = names.iter().map(|n| escaped(n).to_lowercase()).collect();
    let mut out = String::with_capacity(html.len() + 32);
    // Inside `<a>`, `<code>` or `<pre>`: nothing is marked.
    let mut inert = 0usize;
    let mut rest = html;
    while let Some(i) = rest.find(['<', '@']) {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        if rest.starts_with('<') {
            let end = rest.find('>').map_or(rest.len(), |e| e + 1);
            let tag = &rest[..end];
            if ["<a ", "<code>", "<pre>"]
                .iter()
                .any(|t| tag.starts_with(t))
            {
                inert += 1;
            } else if ["</a>", "</code>", "</pre>"].contains(&tag) {
                inert = inert.saturating_sub(1);
            }
            out.push_str(tag);
            rest = &rest[end..];
            continue;
        }
        let found = (inert == 0)
            .then(|| wanted.iter().filter_map(|n| name_at(&rest[1..], n)).max())
            .flatten();
        match found {
            Some(len) => {
                out.push_str("<span class=\"mention\">");
                out.push_str(&rest[..1 + len]);
                out.push_str("</span>");
                rest = &rest[1 + len..];
            }
            None => {
                out.push('@');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_mention_is_a_whole_name_without_regard_to_case() {
        assert!(mentions("hi @ada!", "Ada"));
        assert!(mentions("@ADA", "ada"));
        assert!(mentions("ping @Ada Lovelace, please", "Ada Lovelace"));
        assert!(mentions("@Élodie", "élodie"));
        assert!(!mentions("hi @adam", "Ada"));
        assert!(!mentions("hi @ada_b", "Ada"));
        assert!(!mentions("mail ada@example.org", "Ada"));
        assert!(!mentions("hi ada", "Ada"));
        assert!(!mentions("@", ""));
    }

    #[test]
    fn members_are_marked_in_text_but_not_in_links_or_code() {
        let html = "hi @ada and @bob, not @eve<br><code>@ada</code> \
                    <a href=\"https:&#x2F;&#x2F;x.org&#x2F;@ada\" rel=\"r\">@ada</a> @Ada";
        assert_eq!(
            mark(html, &names(&["Ada", "bob"])),
            "hi <span class=\"mention\">@ada</span> and <span class=\"mention\">@bob</span>, \
             not @eve<br><code>@ada</code> \
             <a href=\"https:&#x2F;&#x2F;x.org&#x2F;@ada\" rel=\"r\">@ada</a> \
             <span class=\"mention\">@Ada</span>"
        );
    }

    /// `escaped` stands in the browser for the server's `encode_safe`
    /// (not in the WASM): they must agree, or escaped names never match.
    #[cfg(feature = "ssr")]
    #[test]
    fn names_are_escaped_as_the_server_escapes_text() {
        for name in ["Ada", "R&D", "<b>", "\"q\" 'a' a/b", "é ü", "&amp;"] {
            assert_eq!(escaped(name), html_escape::encode_safe(name), "{name}");
        }
    }

    #[test]
    fn the_longest_name_wins_and_escaped_names_match() {
        assert_eq!(
            mark("@Ada Lovelace hi", &names(&["Ada", "Ada Lovelace"])),
            "<span class=\"mention\">@Ada Lovelace</span> hi"
        );
        assert_eq!(
            mark("to @R&amp;D now", &names(&["r&d"])),
            "to <span class=\"mention\">@R&amp;D</span> now"
        );
        assert_eq!(mark("no at sign", &names(&["Ada"])), "no at sign");
        assert_eq!(mark("@ada", &[]), "@ada");
    }
}
