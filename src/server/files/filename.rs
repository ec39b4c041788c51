//! A file's name made safe: as stored and shown (no path, no control or
//! direction-changing characters: Rocket.Chat #10604's CSS through a file
//! name, an RTL override making `exe.png` of `gnp.exe`), and as sent in
//! `Content-Disposition` (RFC 6266, with RFC 8187's `filename*` for the
//! UTF-8 name and a plain ASCII `filename` for old clients).

use crate::protocol::MAX_FILE_NAME_CHARS;

/// The name used when nothing usable is left.
const FALLBACK: &str = "file";

/// Characters that change the direction of the text around them (the
/// bidirectional embeddings, overrides and isolates, and the marks).
fn changes_direction(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `name` as kept: its last path part (after `/` or `\`), without control,
/// direction-changing or other invisible format characters, trimmed of
/// spaces and dots at both ends, cut to [`MAX_FILE_NAME_CHARS`]; `file`
/// when nothing is left.
pub(crate) fn clean(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let kept: String = last
        .chars()
        .filter(|&c| !c.is_control() && !changes_direction(c) && !is_invisible(c))
        .take(MAX_FILE_NAME_CHARS)
        .collect();
    let trimmed = kept.trim_matches(|c: char| c.is_whitespace() || c == '.');
    match trimmed {
        "" => FALLBACK.to_owned(),
        name => name.to_owned(),
    }
}

/// Zero-width and other format characters that show nothing.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200D}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{00AD}')
}

/// The `Content-Disposition` value for a file named `name` (already
/// [`clean`]): `inline` or `attachment`, an ASCII `filename` (every other
/// character, quote and backslash as `_`) and the exact UTF-8 name as
/// `filename*`.
pub(crate) fn disposition(inline: bool, name: &str) -> String {
    let kind = if inline { "inline" } else { "attachment" };
    let ascii: String = name
        .chars()
        .map(|c| match c {
            ' '..='~' if c != '"' && c != '\\' => c,
            _ => '_',
        })
        .collect();
    format!(
        "{kind}; filename=\"{ascii}\"; filename*=UTF-8''{}",
        attr_chars(name)
    )
}

/// `name` percent-encoded but for RFC 8187's `attr-char`s.
fn attr_chars(name: &str) -> String {
    let mut out = String::with_capacity(name.len() * 3);
    for b in name.bytes() {
        let plain = b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b);
        if plain {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_leaves_only_its_last_part_and_dots_cannot_climb() {
        assert_eq!(clean("../../etc/passwd"), "passwd");
        assert_eq!(clean("..\\..\\boot.ini"), "boot.ini");
        assert_eq!(clean(".."), "file");
        assert_eq!(clean("  .hidden. "), "hidden");
        assert_eq!(clean(""), "file");
    }

    #[test]
    fn control_direction_and_invisible_characters_are_removed() {
        assert_eq!(clean("a\nb\r\u{0}c.txt"), "abc.txt");
        assert_eq!(clean("invoice\u{202E}gnp.exe"), "invoicegnp.exe");
        assert_eq!(clean("x\u{200B}\u{2066}y.png"), "xy.png");
    }

    #[test]
    fn a_name_is_cut_at_its_bound_and_not_before() {
        let at = "é".repeat(MAX_FILE_NAME_CHARS);
        assert_eq!(clean(&at), at);
        let past = "é".repeat(MAX_FILE_NAME_CHARS + 1);
        assert_eq!(clean(&past).chars().count(), MAX_FILE_NAME_CHARS);
    }

    #[test]
    fn the_disposition_quotes_nothing_it_should_not_and_keeps_the_exact_name() {
        let d = disposition(false, "a \"quoted\"; name=x\\y ü.pdf");
        assert_eq!(
            d,
            "attachment; filename=\"a _quoted_; name=x_y _.pdf\"; \
             filename*=UTF-8''a%20%22quoted%22%3B%20name%3Dx%5Cy%20%C3%BC.pdf"
        );
        assert!(disposition(true, "p.png").starts_with("inline; "));
    }
}
