//! *1.2* (section 3): messages that change: the parts of a message object
//! an edit, a deletion, a reaction or a reply adds, and their rules.

use serde::{Deserialize, Serialize};

/// Most different emoji on one message (`bad_request` past it).
pub const MAX_REACTIONS: usize = 20;
/// Longest `emoji`, in bytes.
pub const MAX_EMOJI_BYTES: usize = 32;
/// How many characters of the answered message a reply quotes.
pub const REPLY_EXCERPT_CHARS: usize = 140;

/// One emoji's reactions on a message, as `joined`, `history` and
/// `search` give them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reaction {
    /// The emoji.
    pub emoji: String,
    /// How many identities reacted with it.
    pub count: u32,
    /// True when the reader's identity is one of them.
    #[serde(default)]
    pub mine: bool,
}

/// What a reply answers, as it was when the reply was posted.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ReplyTo {
    /// The answered message's id (same room).
    pub id: u64,
    /// Its author's display name (absent when it was deleted by then).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    /// Its first [`REPLY_EXCERPT_CHARS`] characters (absent when deleted).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
    /// True when the answered message was gone when the reply was posted.
    #[serde(default, skip_serializing_if = "super::is_false")]
    pub deleted: bool,
}

/// The first [`REPLY_EXCERPT_CHARS`] characters of `text`.
pub fn excerpt(text: &str) -> String {
    text.chars().take(REPLY_EXCERPT_CHARS).collect()
}

/// Adds (`on`) or removes one identity's `emoji` in `reactions`, as a
/// `reaction` frame says (`count`, when the frame has it, is the total
/// now: a frame seen twice changes nothing). An emoji left with no
/// reaction goes.
pub fn apply_reaction(
    reactions: &mut Vec<Reaction>,
    emoji: &str,
    on: bool,
    count: Option<u32>,
    mine: bool,
) {
    let at = reactions.iter().position(|r| r.emoji == emoji);
    let r = match at {
        Some(i) => &mut reactions[i],
        None if !on => return,
        None => {
            reactions.push(Reaction {
                emoji: emoji.to_owned(),
                count: 0,
                mine: false,
            });
            reactions.last_mut().expect("just pushed")
        }
    };
    r.count = count.unwrap_or(if on {
        r.count + 1
    } else {
        r.count.saturating_sub(1)
    });
    if mine {
        r.mine = on;
    }
    if r.count == 0 {
        reactions.retain(|r| r.emoji != emoji);
    }
}

/// Checks a reaction's `emoji`: one grapheme cluster of emoji characters
/// (with their joiners, selectors, skin tones, keycaps and tags), at most
/// [`MAX_EMOJI_BYTES`] bytes, and not a bare digit, `#` or `*` (which
/// Unicode counts as emoji characters too).
#[cfg(feature = "ssr")]
pub fn validate_emoji(emoji: &str) -> Result<(), super::ProtocolError> {
    use unicode_properties::UnicodeEmoji;
    use unicode_segmentation::UnicodeSegmentation;
    let bad = || {
        super::ProtocolError::bad_request(&format!(
            "a reaction is one emoji (at most {MAX_EMOJI_BYTES} bytes)"
        ))
    };
    if emoji.is_empty() || emoji.len() > MAX_EMOJI_BYTES || emoji.graphemes(true).count() != 1 {
        return Err(bad());
    }
    let allowed =
        |c: char| c.is_emoji_char_or_emoji_component() || c == '\u{200d}' || c == '\u{fe0f}';
    if !emoji.chars().all(allowed) || emoji.is_ascii() {
        return Err(bad());
    }
    Ok(())
}
