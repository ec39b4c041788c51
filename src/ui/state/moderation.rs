//! *1.2* (section 4): what the page asks as a moderator (kick, ban, mute,
//! purge, room settings, the audit log) and what it is told back.

use super::Chat;
use crate::protocol::{is_dm_room, AuditAction, AuditEntry, ClientFrame, RoomRole, RoomSettings};
use leptos::prelude::*;

/// The audit log as last read: its room (`None`: the server's), the
/// entries, whether older ones remain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditView {
    /// Whose log.
    pub room: Option<String>,
    /// Newest first.
    pub entries: Vec<AuditEntry>,
    /// Older entries remain.
    pub more: bool,
}

impl Chat {
    /// True when we moderate `room` (its moderators and owners; admins but
    /// in direct messages).
    pub fn moderates(&self, room: &str) -> bool {
        let role = self.my_room(room).and_then(|r| r.role);
        role >= Some(RoomRole::Moderator) || (self.admin.get() && !is_dm_room(room))
    }

    /// True when we may read `room`'s audit log (owners, admins).
    pub fn audits(&self, room: &str) -> bool {
        let role = self.my_room(room).and_then(|r| r.role);
        role == Some(RoomRole::Owner) || (self.admin.get() && !is_dm_room(room))
    }

    /// Kicks `user` out of `room`.
    pub fn kick(&self, room: &str, user: &str) {
        self.send(ClientFrame::Kick {
            room: room.to_owned(),
            user: user.to_owned(),
        });
    }

    /// Bans `user` from `room` (for `minutes`, or until unbanned).
    pub fn ban(&self, room: &str, user: &str, minutes: Option<u32>) {
        self.send(ClientFrame::Ban {
            room: Some(room.to_owned()),
            user: user.to_owned(),
            minutes,
            reason: None,
        });
    }

    /// Mutes `user` in `room` for `minutes`.
    pub fn mute(&self, room: &str, user: &str, minutes: u32) {
        self.send(ClientFrame::Mute {
            room: room.to_owned(),
            user: user.to_owned(),
            minutes,
        });
    }

    /// Deletes every message of `user` in `room`.
    pub fn purge(&self, room: &str, user: &str) {
        self.send(ClientFrame::Purge {
            room: room.to_owned(),
            user: user.to_owned(),
        });
    }

    /// Sets `room`'s settings.
    pub fn set_settings(&self, room: &str, settings: RoomSettings) {
        self.send(ClientFrame::RoomSettings {
            room: room.to_owned(),
            slow_mode_secs: Some(settings.slow_mode_secs),
            read_only: Some(settings.read_only),
            topic: Some(settings.topic),
        });
    }

    /// Asks for `room`'s audit log (older than `before`).
    pub fn ask_audit(&self, room: &str, before: Option<u64>) {
        self.send(ClientFrame::Audit {
            room: Some(room.to_owned()),
            before,
        });
    }

    /// `audit`: shown (a later page after the earlier ones).
    pub(super) fn on_audit(&self, entries: Vec<AuditEntry>, more: bool) {
        let room = Some(self.current.get_untracked());
        self.audit.update(|a| match a {
            Some(view)
                if view.room == room
                    && entries
                        .first()
                        .zip(view.entries.last())
                        .is_some_and(|(new, old)| new.id < old.id) =>
            {
                view.entries.extend(entries);
                view.more = more;
            }
            _ => {
                *a = Some(AuditView {
                    room,
                    entries,
                    more,
                })
            }
        });
    }

    /// `moderated`: said in the notice line.
    pub(super) fn on_moderated(&self, action: AuditAction, user: &str, count: Option<u64>) {
        let done = match action {
            AuditAction::Kick => format!("{user} was removed from the room"),
            AuditAction::Ban => format!("{user} is banned"),
            AuditAction::Unban => format!("{user} is no longer banned"),
            AuditAction::Mute => format!("{user} is muted"),
            AuditAction::Unmute => format!("{user} is no longer muted"),
            AuditAction::Purge => {
                format!("{} messages of {user} deleted", count.unwrap_or(0))
            }
            AuditAction::RoomSettings | AuditAction::Delete => return,
        };
        self.notice.set(Some(done));
    }

    /// `left` with a reason: the room goes, and we say why.
    pub(super) fn on_removed(&self, room: &str, reason: &str) {
        let why = match reason {
            "banned" => "you were banned from",
            _ => "a moderator removed you from",
        };
        self.notice.set(Some(format!("{why} #{room}")));
    }
}
