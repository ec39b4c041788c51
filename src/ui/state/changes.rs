//! *1.2* (section 3): messages that change, as the page holds them: the
//! `edited`, `deleted` and `reaction` frames applied to the rows shown,
//! and what the user asks (edit, delete, react, reply).

use super::{Chat, Entry, Room};
use crate::protocol::{
    apply_reaction, excerpt, sanitize_text, ChatMessage, ClientFrame, ReplyTo, ServerFrame,
};
use leptos::prelude::*;

impl Room {
    /// Changes message `id` where it is shown (nothing when it is not).
    pub(super) fn change_message(&self, id: u64, change: impl FnOnce(&mut ChatMessage)) {
        let shown = self.entries.with_untracked(|e| {
            e.iter()
                .position(|x| matches!(x, Entry::Message(m) if m.id == id))
        });
        if let Some(at) = shown {
            self.entries.update(|e| {
                if let Entry::Message(m) = &mut e[at] {
                    change(m);
                }
            });
        }
    }

    /// Our newest message shown that is not deleted (Up arrow edits it).
    pub fn last_own(&self, me: &str) -> Option<ChatMessage> {
        self.entries.with_untracked(|e| {
            e.iter().rev().find_map(|x| match x {
                Entry::Message(m) if m.user == me && !m.deleted => Some(m.clone()),
                _ => None,
            })
        })
    }
}

impl Chat {
    /// An `edited`, `deleted` or `reaction` frame. Each says the state it
    /// leaves, so one seen twice (a replay) changes nothing.
    pub(super) fn on_change(&self, frame: ServerFrame) {
        let me = self.me.get_untracked();
        match frame {
            ServerFrame::Edited {
                room,
                id,
                text,
                html,
                edited_ts,
            } => {
                let Some(r) = self.room(&room) else { return };
                r.change_message(id, |m| {
                    if !m.deleted {
                        m.text = text;
                        m.html = html;
                        m.edited_ts = Some(edited_ts);
                    }
                });
            }
            ServerFrame::Deleted { room, id } => {
                let Some(r) = self.room(&room) else { return };
                r.change_message(id, |m| {
                    *m = ChatMessage::deleted_form(m.room.clone(), m.id, m.ts);
                });
                if self.editing.with_untracked(|e| *e == Some((room, id))) {
                    self.editing.set(None);
                }
            }
            ServerFrame::Reaction {
                room,
                id,
                emoji,
                user,
                on,
                count,
            } => {
                let Some(r) = self.room(&room) else { return };
                let mine = me.as_deref() == Some(user.as_str());
                r.change_message(id, |m| {
                    apply_reaction(&mut m.reactions, &emoji, on, count, mine);
                });
            }
            _ => {}
        }
    }

    /// Saves an edit of our message `id` in `room` (checked as `send`'s).
    pub fn edit(&self, room: &str, id: u64, raw: &str) -> Result<(), String> {
        let text = sanitize_text(raw).map_err(|e| e.message)?;
        self.editing.set(None);
        let unchanged = self.room(room).is_some_and(|r| {
            r.entries.with_untracked(|e| {
                e.iter()
                    .any(|x| matches!(x, Entry::Message(m) if m.id == id && m.text == text))
            })
        });
        if !unchanged {
            self.send(ClientFrame::Edit {
                room: room.to_owned(),
                id,
                text,
            });
        }
        Ok(())
    }

    /// Deletes message `id` in `room` (the page asked to confirm).
    pub fn delete_message(&self, room: &str, id: u64) {
        self.send(ClientFrame::Delete {
            room: room.to_owned(),
            id,
        });
    }

    /// Adds our `emoji` to message `id`, or takes it back if it is ours.
    pub fn toggle_reaction(&self, room: &str, id: u64, emoji: &str) {
        let mine = self.room(room).is_some_and(|r| {
            r.entries.with_untracked(|e| {
                e.iter().any(|x| {
                    matches!(x, Entry::Message(m) if m.id == id
                        && m.reactions.iter().any(|r| r.emoji == emoji && r.mine))
                })
            })
        });
        let (room, emoji) = (room.to_owned(), emoji.to_owned());
        self.send(match mine {
            true => ClientFrame::Unreact { room, id, emoji },
            false => ClientFrame::React { room, id, emoji },
        });
    }

    /// Answers `m` with the next message (the composer shows what).
    pub fn reply(&self, m: &ChatMessage) {
        self.replying.set(Some(ReplyTo {
            id: m.id,
            user: m.user.clone(),
            text: excerpt(&m.text),
            deleted: false,
        }));
    }
}
