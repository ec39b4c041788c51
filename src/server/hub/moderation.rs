//! *1.2* (section 4): `kick`, `ban`/`unban`, `mute`/`unmute`,
//! `room_settings`, `purge` and `audit`.
//!
//! Who may ask is decided by the one authorization point
//! ([`super::access`]: `moderate` of the room, and [`outranks`] over the
//! person named; `audit` of the room, or an admin's for the server); what
//! a ban, a mute or a setting then stops is decided there too, on every
//! path. A decision is [`Hub::enact`]ed here at once, queued for the
//! commit thread with its audit entry (in queue order with standings and
//! messages, so it survives a restart), and told to the other nodes, which
//! enact it the same way.

use super::access::{outranks, Act, Denied};
use super::post::Poster;
use super::{ConnId, Hub};
use crate::protocol::{
    check_minutes, check_reason, check_topic, AuditAction, AuditEntry, ProtocolError, ServerFrame,
    AUDIT_PAGE, CLOSE_BANNED, MAX_SLOW_MODE_SECS,
};
use crate::store::access::{RoomKind, Standing};
use crate::store::changes::{ChangeKind, ChangeRequest};
use crate::store::group_commit::Job;
use crate::store::moderation::{
    AuditQuery, AuditRecord, Decided, ModerationChange, Sanction, SanctionKind,
};
use crate::store::now_ms;
use crate::store::pg::cluster::Event;
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

/// A moderator request's checked parts: the room (`None`: the server),
/// who asks, and whom it names.
struct Asked {
    room: Option<Arc<str>>,
    by: Arc<str>,
    by_name: String,
    target: Arc<str>,
    target_name: String,
}

impl Hub {
    /// Whether `identity` is banned from the whole server now.
    pub(super) fn server_banned(&self, identity: &str) -> bool {
        self.server_bans
            .get(identity)
            .is_some_and(|h| h.holds(SanctionKind::Ban, now_ms()))
    }

    /// Loads what moderators decided (at start).
    pub(super) fn load_moderation(&mut self, decided: Decided) {
        for s in decided.sanctions {
            self.hold(&s);
        }
        for (room, settings) in decided.settings {
            if let Some(r) = self.rooms.get_mut(room.as_str()) {
                r.settings = settings;
            }
        }
    }

    /// Checks that `conn` may moderate `room` (`None`: the server, for
    /// admins) over `user`.
    fn asked(
        &mut self,
        conn: ConnId,
        room: Option<&str>,
        user: &str,
    ) -> Result<Asked, ProtocolError> {
        let viewer = self.viewer(conn);
        let (key, role) = match room {
            Some(room) => {
                crate::protocol::validate_room_ref(room)?;
                let role = self.authorize(&viewer, room, Act::Moderate)?;
                (self.room_key(room), role)
            }
            None if viewer.admin => (None, None),
            None => {
                return Err(ProtocolError::forbidden(
                    "only admins ban from the whole server",
                ))
            }
        };
        let actor_admin = viewer.admin;
        let target = self.named(user)?;
        let target_admin = self.viewer_of(Some(&target)).admin;
        let target_role = key
            .as_ref()
            .and_then(|k| self.rooms.get(k)?.standings.get(&target)?.role());
        outranks(role, actor_admin, target_role, target_admin).map_err(|d| match d {
            Denied::Forbidden(why) => ProtocolError::forbidden(why),
            _ => ProtocolError::forbidden("not allowed"),
        })?;
        let target_name = self
            .registry
            .get(&target)
            .map_or_else(|| user.to_owned(), |i| i.name.to_string());
        Ok(Asked {
            room: key,
            by: self.me(conn)?,
            by_name: self.session(conn)?.name.to_string(),
            target,
            target_name,
        })
    }

    /// Enacts `change` here, stores it with its audit entry, tells the
    /// other nodes, and answers the asker with `moderated`.
    #[allow(clippy::too_many_arguments)]
    fn decide_and_tell(
        &mut self,
        conn: ConnId,
        asked: &Asked,
        action: AuditAction,
        change: ModerationChange,
        reason: Option<String>,
        detail: Option<String>,
    ) -> Result<(), ProtocolError> {
        let audit = AuditRecord {
            entry: AuditEntry {
                id: 0,
                ts: now_ms(),
                by: asked.by_name.clone(),
                action,
                room: asked.room.as_ref().map(|r| r.to_string()),
                user: Some(asked.target_name.clone()),
                reason,
                detail,
            },
            by_identity: asked.by.to_string(),
            target: Some(asked.target.to_string()),
        };
        let stored = match &change {
            ModerationChange::Kick { .. } => None,
            other => Some(other.clone()),
        };
        self.queue(Job::Moderation(stored, Some(audit)))?;
        self.publish(Event::Moderation(change.clone()));
        self.enact(&change);
        self.session(conn)?.outbox.send(&ServerFrame::Moderated {
            action,
            room: asked.room.as_ref().map(|r| r.to_string()),
            user: asked.target_name.clone(),
            count: None,
        });
        Ok(())
    }

    /// `kick`: `user`'s connections leave the room (`left`, `kicked`); in
    /// a private room it also loses its membership or invitation.
    pub(super) fn on_kick(
        &mut self,
        conn: ConnId,
        room: &str,
        user: &str,
    ) -> Result<(), ProtocolError> {
        let asked = self.asked(conn, Some(room), user)?;
        let change = ModerationChange::Kick {
            room: room.to_owned(),
            identity: asked.target.to_string(),
        };
        self.decide_and_tell(conn, &asked, AuditAction::Kick, change, None, None)?;
        self.end_private_standing(room, &asked.target);
        Ok(())
    }

    /// `ban`: as `kick`, until it ends; without a room, from the server.
    pub(super) fn on_ban(
        &mut self,
        conn: ConnId,
        room: Option<&str>,
        user: &str,
        minutes: Option<u32>,
        reason: Option<&str>,
    ) -> Result<(), ProtocolError> {
        let minutes = check_minutes(minutes)?;
        let reason = check_reason(reason)?;
        let asked = self.asked(conn, room, user)?;
        let change = ModerationChange::Sanction(Sanction {
            room: room.map(str::to_owned),
            identity: asked.target.to_string(),
            kind: SanctionKind::Ban,
            until_ms: minutes.map(|m| now_ms() + u64::from(m) * 60_000),
        });
        let detail = minutes.map(|m| format!("{m} minutes"));
        self.decide_and_tell(conn, &asked, AuditAction::Ban, change, reason, detail)?;
        if let Some(room) = room {
            self.end_private_standing(room, &asked.target);
        }
        Ok(())
    }

    /// `mute` for `minutes` (`Some`), or `unmute` / `unban` (`None`,
    /// `lift` of that kind).
    pub(super) fn on_mute(
        &mut self,
        conn: ConnId,
        room: &str,
        user: &str,
        minutes: u32,
    ) -> Result<(), ProtocolError> {
        let minutes = check_minutes(Some(minutes))?.unwrap_or(1);
        let asked = self.asked(conn, Some(room), user)?;
        let change = ModerationChange::Sanction(Sanction {
            room: Some(room.to_owned()),
            identity: asked.target.to_string(),
            kind: SanctionKind::Mute,
            until_ms: Some(now_ms() + u64::from(minutes) * 60_000),
        });
        let detail = Some(format!("{minutes} minutes"));
        self.decide_and_tell(conn, &asked, AuditAction::Mute, change, None, detail)
    }

    /// `unban` (`SanctionKind::Ban`) or `unmute`.
    pub(super) fn on_lift(
        &mut self,
        conn: ConnId,
        room: Option<&str>,
        user: &str,
        kind: SanctionKind,
    ) -> Result<(), ProtocolError> {
        let asked = self.asked(conn, room, user)?;
        let action = match kind {
            SanctionKind::Ban => AuditAction::Unban,
            SanctionKind::Mute => AuditAction::Unmute,
        };
        let change = ModerationChange::Lift {
            room: room.map(str::to_owned),
            identity: asked.target.to_string(),
            kind,
        };
        self.decide_and_tell(conn, &asked, action, change, None, None)
    }

    /// `purge`: every message of `user` in the room is deleted (one change
    /// the commit thread applies in one transaction; each member then gets
    /// the `deleted` frames).
    pub(super) fn on_purge(
        &mut self,
        conn: ConnId,
        room: &str,
        user: &str,
    ) -> Result<(), ProtocolError> {
        let asked = self.asked(conn, Some(room), user)?;
        self.queue(Job::Moderation(
            None,
            Some(AuditRecord {
                entry: AuditEntry {
                    id: 0,
                    ts: now_ms(),
                    by: asked.by_name.clone(),
                    action: AuditAction::Purge,
                    room: Some(room.to_owned()),
                    user: Some(asked.target_name.clone()),
                    reason: None,
                    detail: None,
                },
                by_identity: asked.by.to_string(),
                target: Some(asked.target.to_string()),
            }),
        ))?;
        let change = ChangeRequest {
            room: room.to_owned(),
            id: 0,
            by: asked.by.to_string(),
            name: asked.target_name.clone(),
            kind: ChangeKind::Purge {
                author: asked.target.to_string(),
            },
            now_ms: now_ms(),
        };
        self.queue(Job::Change {
            tag: (Poster::Conn(conn), None),
            change,
        })
    }

    /// `room_settings`: the settings given change; every member and
    /// watcher hears `room_updated`.
    pub(super) fn on_room_settings(
        &mut self,
        conn: ConnId,
        room: &str,
        slow_mode_secs: Option<u32>,
        read_only: Option<bool>,
        topic: Option<&str>,
    ) -> Result<(), ProtocolError> {
        crate::protocol::validate_room_ref(room)?;
        self.authorize(&self.viewer(conn), room, Act::Moderate)?;
        if slow_mode_secs.is_some_and(|s| s > MAX_SLOW_MODE_SECS) {
            return Err(ProtocolError::bad_request(&format!(
                "slow_mode_secs must be 0 to {MAX_SLOW_MODE_SECS}"
            )));
        }
        let topic = topic.map(check_topic).transpose()?;
        let mut settings = self
            .rooms
            .get(room)
            .map(|r| r.settings.clone())
            .unwrap_or_default();
        if let Some(secs) = slow_mode_secs {
            settings.slow_mode_secs = secs;
        }
        if let Some(read_only) = read_only {
            settings.read_only = read_only;
        }
        if let Some(topic) = topic {
            settings.topic = topic;
        }
        let change = ModerationChange::Settings {
            room: room.to_owned(),
            settings: settings.clone(),
        };
        let by = self.me(conn)?;
        let audit = AuditRecord {
            entry: AuditEntry {
                id: 0,
                ts: now_ms(),
                by: self.session(conn)?.name.to_string(),
                action: AuditAction::RoomSettings,
                room: Some(room.to_owned()),
                user: None,
                reason: None,
                detail: serde_json::to_string(&settings).ok(),
            },
            by_identity: by.to_string(),
            target: None,
        };
        self.queue(Job::Moderation(Some(change.clone()), Some(audit)))?;
        self.publish(Event::Moderation(change.clone()));
        self.enact(&change);
        Ok(())
    }

    /// `audit`: a page of the log, newest first: a room's for its owners
    /// and admins; every room's for admins.
    pub(super) fn on_audit(
        &mut self,
        conn: ConnId,
        room: Option<String>,
        before: Option<u64>,
    ) -> Result<(), ProtocolError> {
        let viewer = self.viewer(conn);
        match &room {
            Some(room) => {
                crate::protocol::validate_room_ref(room)?;
                self.authorize(&viewer, room, Act::Audit)?;
            }
            None if viewer.admin => {}
            None => {
                return Err(ProtocolError::forbidden(
                    "only admins read the whole server's audit log",
                ))
            }
        }
        let ticket = self.admit_read()?;
        // The log holds every action queued before this request once the
        // commit thread answers a probe queued after them.
        let (stored, queued) = tokio::sync::oneshot::channel();
        self.queue(Job::Probe(stored))?;
        let wait = super::offload::beside();
        let outbox = self.session(conn)?.outbox.clone();
        let slot = outbox.reserve();
        let query = AuditQuery {
            room,
            before,
            limit: AUDIT_PAGE + 1,
        };
        let read = move |reader: &dyn crate::store::StoreReader| {
            if wait {
                let _ = queued.blocking_recv();
            }
            let mut records = reader.audit(&query)?;
            let more = records.len() > AUDIT_PAGE;
            records.truncate(AUDIT_PAGE);
            let entries = records.into_iter().map(|r| r.entry).collect();
            Ok(crate::server::frame::encode_json(&ServerFrame::Audit {
                entries,
                more,
            }))
        };
        self.read_apart(
            ticket,
            crate::store::pool::Kind::Plain,
            read,
            move |result| super::rooms::fill_or_close(slot, &outbox, result),
        );
        Ok(())
    }

    /// In a private room, a kick or a ban also ends the standing (here,
    /// in the store, on every node).
    fn end_private_standing(&mut self, room: &str, identity: &Arc<str>) {
        let Some(key) = self.room_key(room) else {
            return;
        };
        if self.rooms[&key].kind != RoomKind::Public
            && matches!(
                self.rooms[&key].standings.get(identity),
                Some(Standing::Member(_) | Standing::Invited)
            )
        {
            self.end_standing(&key, identity);
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
                let frame = crate::server::frame::encode_json(&ServerFrame::RoomUpdated {
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
