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
    check_minutes, check_reason, check_topic, AuditAction, ProtocolError, ServerFrame, AUDIT_PAGE,
    MAX_SLOW_MODE_SECS,
};
use crate::store::access::{RoomKind, Standing};
use crate::store::changes::{ChangeKind, ChangeRequest};
use crate::store::group_commit::Job;
use crate::store::moderation::{AuditQuery, AuditRecord, ModerationChange, Sanction, SanctionKind};
use crate::store::now_ms;
use crate::store::pg::cluster::Event;
use std::sync::Arc;

/// A moderator request's checked parts: the room (`None`: the server),
/// who asks, and whom it names.
struct Asked {
    room: Option<Arc<str>>,
    by: Arc<str>,
    by_name: String,
    target: Arc<str>,
    target_name: String,
}

impl Asked {
    /// The audit entry of `action` on this request.
    fn audit(&self, action: AuditAction) -> AuditRecord {
        AuditRecord::new(
            (&self.by, &self.by_name),
            action,
            self.room.as_deref(),
            Some((&self.target, &self.target_name)),
        )
    }
}

impl Hub {
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
        let mut audit = asked.audit(action);
        (audit.entry.reason, audit.entry.detail) = (reason, detail);
        self.decided(change, audit)?;
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

    /// `purge`: every message of `user` in the room is deleted (by the
    /// commit thread, [`crate::store::changes::PURGE_CHUNK`] a transaction;
    /// each member gets the `deleted` frames).
    pub(super) fn on_purge(
        &mut self,
        conn: ConnId,
        room: &str,
        user: &str,
    ) -> Result<(), ProtocolError> {
        let asked = self.asked(conn, Some(room), user)?;
        self.queue(Job::Moderation(None, Some(asked.audit(AuditAction::Purge))))?;
        let change = ChangeRequest {
            room: room.to_owned(),
            id: 0,
            by: asked.by.to_string(),
            name: asked.target_name.clone(),
            kind: ChangeKind::Purge {
                author: asked.target.to_string(),
                done: 0,
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
        let name = self.session(conn)?.name.to_string();
        let mut audit = AuditRecord::new((&by, &name), AuditAction::RoomSettings, Some(room), None);
        audit.entry.detail = serde_json::to_string(&settings).ok();
        self.decided(change, audit)
    }

    /// Stores `change` (a kick is only logged) with its `audit` entry,
    /// tells the other nodes, and enacts it here.
    fn decided(
        &mut self,
        change: ModerationChange,
        audit: AuditRecord,
    ) -> Result<(), ProtocolError> {
        let stored = match &change {
            ModerationChange::Kick { .. } => None,
            other => Some(other.clone()),
        };
        self.queue(Job::Moderation(stored, Some(audit)))?;
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
            Ok(crate::server::payload::encode_json(&ServerFrame::Audit {
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
}
