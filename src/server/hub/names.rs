//! *1.1*: names as people see them. A name is NFC-normalized with runs of
//! spaces made one; invisible, direction-changing and blank-looking
//! characters are refused (`bad_name`); and two names that look alike are
//! one name: compared case-insensitively and by confusable skeleton
//! (Unicode TR 39, through `unicode-security`).
//!
//! The tables stay on the server: the browser checks only what
//! [`validate_name`] checks, and the server's answer covers the rest.

use crate::protocol::{validate_name, ErrorCode, ProtocolError};
use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;
use unicode_security::general_security_profile::IdentifierType;
use unicode_security::{skeleton, GeneralSecurityProfile};

/// A checked name and the keys it is compared by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Name {
    /// What is shown: NFC, trimmed, single spaces.
    pub(super) display: String,
    /// Two names are the same name when any of their keys are equal.
    pub(super) keys: [String; 2],
}

/// Checks `raw` as a display name and computes its keys.
pub(super) fn check(raw: &str) -> Result<Name, ProtocolError> {
    let nfc: String = validate_name(raw)?.nfc().collect();
    let mut display = String::with_capacity(nfc.len());
    for c in nfc.chars() {
        if !(c == ' ' && display.ends_with(' ')) {
            display.push(c);
        }
    }
    if display.starts_with(is_combining_mark) {
        return Err(bad("a name cannot start with a combining mark"));
    }
    for c in display.chars() {
        refuse_char(c)?;
    }
    let display = validate_name(&display)?.to_owned();
    let keys = keys(&display);
    Ok(Name { display, keys })
}

/// The keys of a display name: the skeleton of its lower case, and the
/// skeleton of the lower case of its skeleton. Case folding and the
/// skeleton do not commute ("I" and "l" share a skeleton, "I" and "i" a
/// lower case), so a name is taken when either key is.
pub(super) fn keys(display: &str) -> [String; 2] {
    let lower = display.to_lowercase();
    let folded: String = skeleton(&lower).collect();
    let skeleton_first = skeleton(display).collect::<String>().to_lowercase();
    [folded, skeleton(&skeleton_first).collect()]
}

/// Refuses a character that would hide or disguise a name.
fn refuse_char(c: char) -> Result<(), ProtocolError> {
    let code = c as u32;
    if c != ' ' && (c.is_whitespace() || c == '\u{2800}') {
        return Err(bad(&format!(
            "a name cannot contain blank-looking characters (U+{code:04X}); use a plain space"
        )));
    }
    match c.identifier_type() {
        Some(IdentifierType::Default_Ignorable) => Err(bad(&format!(
            "a name cannot contain invisible or direction-changing characters (U+{code:04X})"
        ))),
        // Not in the tables: unassigned (in this Unicode version) or private use.
        Some(IdentifierType::Not_Character) | None => Err(bad(&format!(
            "a name cannot contain unassigned or private-use characters (U+{code:04X})"
        ))),
        _ => Ok(()),
    }
}

fn bad(message: &str) -> ProtocolError {
    ProtocolError::new(ErrorCode::BadName, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn same(a: &str, b: &str) -> bool {
        let (a, b) = (check(a).unwrap().keys, check(b).unwrap().keys);
        a.iter().any(|k| b.contains(k))
    }

    #[test]
    fn look_alikes_are_one_name() {
        assert!(same("Ada", "ada"));
        assert!(same("Ada", "ADA"));
        assert!(same("Ada", "\u{410}da"), "Cyrillic A");
        assert!(same("Ada", "Ad\u{430}"), "Cyrillic a");
        assert!(same("Ian", "ian"));
        assert!(same("Ian", "lan"), "capital I and small L");
        assert!(same("Zoë", "Zoe\u{308}"), "NFC");
        assert!(same("Ada Lovelace", "Ada   Lovelace"), "runs of spaces");
        assert!(!same("Ada", "Bob"));
        assert!(!same("Ada", "Adam"));
    }

    #[test]
    fn invisible_bidi_and_blank_characters_are_bad_names() {
        for raw in [
            "Ada\u{200B}", // zero-width space
            "Ad\u{200D}a", // zero-width joiner
            "\u{202E}adA", // right-to-left override
            "Ada\u{2066}", // left-to-right isolate
            "Ada\u{061C}", // Arabic letter mark
            "\u{3164}",    // Hangul filler: looks blank
            "Ada\u{3164}",
            "\u{2800}",         // Braille blank
            "Ada\u{00A0}Byron", // no-break space
            "Ada\u{3000}Byron", // ideographic space
            "\u{FEFF}Ada",      // zero-width no-break space
            "Ada\u{E000}",      // private use
            "\u{301}Ada",       // a leading combining mark
            "Ada\u{AD}",        // soft hyphen
        ] {
            let e = check(raw).expect_err(raw);
            assert_eq!(e.code, ErrorCode::BadName, "{raw:?}");
        }
    }

    #[test]
    fn ordinary_names_of_many_scripts_pass_as_typed() {
        for raw in [
            "Ada",
            "Zoë K",
            "李小龍",
            "Дмитрий",
            "José-María",
            "O'Brien",
            "小明 🙂",
            "김민수",
        ] {
            assert_eq!(check(raw).unwrap().display, raw);
        }
        assert_eq!(check("  Ada   Byron ").unwrap().display, "Ada Byron");
    }
}
