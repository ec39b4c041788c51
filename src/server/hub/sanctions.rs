//! *1.2* (section 4): what moderators decided, held and enacted: each
//! identity's bans and mutes ([`Held`]), the server's bans, a decision
//! carried out here (from this node or another: [`Hub::enact`]), and slow
//! mode. Who may decide is [`super::moderation`]'s and the authorization
//! point's; what a sanction stops is decided there too.

use super::access::Act;
use super::{ConnId, Hub};
use crate::protocol::{ProtocolError, ServerFrame, CLOSE_BANNED};
use crate::store::moderation::{Decided, ModerationChange, Sanction, SanctionKind};
use crate::store::now_ms;
use std::sync::Arc;

/// An identity's bans and mutes in one room (or the server's ban): when
/// each ends (`Some(None)`: when lifted).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Held {
    /// The ban's end.
    ban: Option<Option<u64>>,
    /// The mute's end.
    mute: Option<Option<u64>>,
}

impl Held {
    /// True while `kind` holds at `now_ms` (it ends at its end exactly).
    pub(super) fn holds(&self, kind: SanctionKind, now_ms: u64) -> bool {
        let until = match kind {
            SanctionKind::Ban => self.ban,
            SanctionKind::Mute => self.mute,
        };
        until.is_some_and(|until| until.is_none_or(|u| now_ms < u))
    }

    fn slot(&mut self, kind: SanctionKind) -> &mut Option<Option<u64>> {
        match kind {
            SanctionKind::Ban => &mut self.ban,
            SanctionKind::Mute => &mut self.mute,
        }
    }

    /// Records `s` (its end).
    pub(super) fn set(&mut self, s: &Sanction) {
        *self.slot(s.kind) = Some(s.until_ms);
    }

    fn is_empty(&self) -> bool {
        self.ban.is_none() && self.mute.is_none()
    }
}

impl Hub {
    /// Whether `identity` is banned from the whole server now.
    pub(super) fn server_banned(&self, identity: &str) -> bool {
        self.server_bans
            .get(identity)
            .is_some_and(|h| h.holds(SanctionKind::Ban, now_ms()))
    }

    /// What moderators decided, as the store holds it, replaces what this
    /// node held: at start, and (*several nodes*) after a resync. Bans and
    /// mutes are held again and enacted (those banned meanwhile leave);
    /// settings that changed are told to their rooms (at start nobody is
    /// there to be told or to leave).
    pub(super) fn load_moderation(&mut self, decided: Decided) {
        for r in self.rooms.values_mut() {
            r.sanctions.clear();
        }
        self.server_bans.clear();
        let mut settings: std::collections::HashMap<String, crate::protocol::RoomSettings> =
            decided.settings.into_iter().collect();
        let changed: Vec<ModerationChange> = self
            .rooms
            .iter()
            .filter_map(|(name, r)| {
                let now = settings.remove(&**name).unwrap_or_default();
                (now != r.settings).then(|| ModerationChange::Settings {
                    room: name.to_string(),
                    settings: now,
                })
            })
            .collect();
        for change in changed {
            self.enact(&change);
        }
        for s in decided.sanctions {
            self.enact(&ModerationChange::Sanction(s));
        }
    }

    /// Records a sanction in memory.
    fn hold(&mut self, s: &Sanction) {
        let identity: Arc<str> = Arc::from(s.identity.as_str());
        let held = match &s.room {
            None => self.server_bans.entry(identity).or_default(),
            Some(room) => match self.rooms.get_mut(room.as_str()) {
                Some(r) => r.sanctions.entry(identity).or_default(),
                None => return,
            },
        };
        held.set(s);
    }

    /// Does what `change` says here (from this node or another): records
    /// it, and makes those it stops leave (a room's ban and a kick: `left`
    /// with the reason; the server's ban: closed with 4005); settings go
    /// to the room as `room_updated`.
    pub(super) fn enact(&mut self, change: &ModerationChange) {
        match change {
            ModerationChange::Sanction(s) => {
                self.hold(s);
                let identity: Arc<str> = Arc::from(s.identity.as_str());
                match (&s.room, s.kind) {
                    (Some(room), SanctionKind::Ban) => {
                        if let Some(key) = self.room_key(room) {
                            self.evict_for(&key, &identity, Some("banned"));
                        }
                    }
                    (None, SanctionKind::Ban) => self.close_banned(&identity),
                    (_, SanctionKind::Mute) => {}
                }
            }
            ModerationChange::Lift {
                room,
                identity,
                kind,
            } => {
                let held = match room {
                    None => self.server_bans.get_mut(identity.as_str()),
                    Some(room) => self
                        .rooms
                        .get_mut(room.as_str())
                        .and_then(|r| r.sanctions.get_mut(identity.as_str())),
                };
                if let Some(held) = held {
                    *held.slot(*kind) = None;
                    if held.is_empty() {
                        match room {
                            None => drop(self.server_bans.remove(identity.as_str())),
                            Some(room) => {
                                if let Some(r) = self.rooms.get_mut(room.as_str()) {
                                    r.sanctions.remove(identity.as_str());
                                }
                            }
                        }
                    }
                }
            }
            ModerationChange::Settings { room, settings } => {
                let Some(r) = self.rooms.get_mut(room.as_str()) else {
                    return;
                };
                if settings.slow_mode_secs == 0 {
                    r.last_post.clear();
                }
                r.settings = settings.clone();
                let frame = crate::server::payload::encode_json(&ServerFrame::RoomUpdated {
                    room: room.clone(),
                    settings: settings.clone(),
                });
                self.deliver_messages(room, &[frame]);
            }
            ModerationChange::Kick { room, identity } => {
                if let Some(key) = self.room_key(room) {
                    let identity: Arc<str> = Arc::from(identity.as_str());
                    self.evict_for(&key, &identity, Some("kicked"));
                }
            }
        }
    }

    /// The server's ban: every connection of `identity` here closes (4005).
    fn close_banned(&mut self, identity: &str) {
        let conns = self
            .registry
            .get(identity)
            .map(|i| i.conns.clone())
            .unwrap_or_default();
        for conn in conns {
            if let Some(s) = self.sessions.get(&conn) {
                s.outbox.close(CLOSE_BANNED, "banned from this server");
            }
            self.remove_session(conn);
        }
    }

    /// *1.2* slow mode: for a plain member's `send` in `room`, how long
    /// until it may post again (`Err`), or it may now (`Ok`, the time
    /// noted).
    pub(super) fn slow_mode(&mut self, conn: ConnId, room: &str) -> Result<(), ProtocolError> {
        // Most rooms have none: nothing more to ask on the hot path.
        if self
            .rooms
            .get(room)
            .is_none_or(|r| r.settings.slow_mode_secs == 0)
        {
            return Ok(());
        }
        let identity = self.me(conn)?;
        let viewer = self.viewer(conn);
        let role = self.authorize(&viewer, room, Act::Post)?;
        let admin = viewer.admin;
        self.slow_mode_of(identity, role, admin, room)
    }

    /// [`Hub::slow_mode`] for `identity` (its role in the room; an admin),
    /// from any path (a connection, the form, the HTTP API).
    pub(super) fn slow_mode_of(
        &mut self,
        identity: Arc<str>,
        role: Option<crate::protocol::RoomRole>,
        admin: bool,
        room: &str,
    ) -> Result<(), ProtocolError> {
        let Some(r) = self.rooms.get_mut(room) else {
            return Ok(());
        };
        let secs = r.settings.slow_mode_secs;
        if secs == 0 || role >= Some(crate::protocol::RoomRole::Moderator) || admin {
            return Ok(());
        }
        let now = now_ms();
        let interval = u64::from(secs) * 1000;
        if let Some(&last) = r.last_post.get(&identity) {
            if now < last + interval {
                return Err(ProtocolError::slow_mode(room, secs, last + interval - now));
            }
        }
        // Bounded: past 4096 posters, those whose interval has passed go.
        if r.last_post.len() >= 4096 {
            r.last_post.retain(|_, &mut t| now < t + interval);
        }
        r.last_post.insert(identity, now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timed_sanction_holds_until_its_end_and_not_at_it() {
        let mut held = Held::default();
        assert!(!held.holds(SanctionKind::Ban, 0));
        *held.slot(SanctionKind::Ban) = Some(Some(1_000));
        assert!(held.holds(SanctionKind::Ban, 999));
        assert!(!held.holds(SanctionKind::Ban, 1_000));
        assert!(!held.holds(SanctionKind::Mute, 999));
        *held.slot(SanctionKind::Mute) = Some(None);
        assert!(held.holds(SanctionKind::Mute, u64::MAX));
    }
}
