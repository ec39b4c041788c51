//! Who is in a room, in member order, and how the members hear of each other
//! (protocol 1.1, "Rooms of any size").
//!
//! Member order is case-insensitive, then exact. A `joined` reply lists the
//! first `member_page` names and the count; `members` pages through the
//! rest. In a room of at most `presence_threshold` members (counted after
//! the change) every join and leave is a `presence` frame to the others, as
//! in version 1; in a larger one nobody hears of single joins and leaves:
//! the room is marked, and the hub's once-a-second [`Hub::on_tick`] sends its
//! `member_count` if it changed. So filling a room of N costs O(N) frames,
//! not O(N²).

use super::rooms::Room;
use super::{ConnId, Hub};
use crate::protocol::{
    member_key, PresenceState, ProtocolError, ServerFrame, MEMBERS_DEFAULT_LIMIT,
};
use crate::server::outbox::Outbox;
use std::ops::Bound;
use std::sync::Arc;

/// A member's place in member order ([`member_key`], owned). A live name
/// belongs to one identity, so this is unique in a room; the same identity
/// may briefly hold it on two nodes (moving), so the order counts holders.
pub(super) type MemberKey = (String, Arc<str>);

fn key(name: &str) -> MemberKey {
    let (folded, name) = member_key(name);
    (folded, Arc::from(name))
}

impl Room {
    /// How many members the room has (on every node): its distinct names.
    pub(super) fn count(&self) -> usize {
        self.order.len()
    }

    /// Adds `conn` (named `name`) to the room; true when the name is new here.
    pub(super) fn add_member(&mut self, conn: ConnId, name: &str, outbox: Outbox) -> bool {
        self.members.insert(conn, outbox);
        self.add_name(name)
    }

    /// Takes `conn` (named `name`) out of the room; true when the name left.
    pub(super) fn remove_member(&mut self, conn: ConnId, name: &str) -> bool {
        self.members.remove(&conn).is_some() && self.remove_name(name)
    }

    /// One more holder of `name` (here, or on another node); true when new.
    pub(super) fn add_name(&mut self, name: &str) -> bool {
        let holders = self.order.entry(key(name)).or_default();
        *holders += 1;
        *holders == 1
    }

    /// One holder of `name` fewer; true when none is left.
    pub(super) fn remove_name(&mut self, name: &str) -> bool {
        let key = key(name);
        match self.order.get_mut(&key) {
            Some(holders) if *holders > 1 => {
                *holders -= 1;
                false
            }
            Some(_) => self.order.remove(&key).is_some(),
            None => false,
        }
    }

    /// Up to `limit` names strictly after `after` in member order, and
    /// whether more follow.
    pub(super) fn page(&self, after: Option<&str>, limit: usize) -> (Vec<String>, bool) {
        let start = match after {
            Some(name) => Bound::Excluded(key(name)),
            None => Bound::Unbounded,
        };
        let mut names = self
            .order
            .range((start, Bound::Unbounded))
            .map(|(k, _)| k.1.to_string());
        let page: Vec<String> = names.by_ref().take(limit).collect();
        let more = names.next().is_some();
        (page, more)
    }
}

impl Hub {
    /// `members`: the next page of a joined room's member list.
    pub(super) fn on_members(
        &mut self,
        conn: ConnId,
        room: &str,
        after: Option<&str>,
        limit: Option<i64>,
    ) -> Result<(), ProtocolError> {
        self.joined_room(conn, room)?;
        let limit = limit.map_or(MEMBERS_DEFAULT_LIMIT as usize, |l| l as usize);
        let (names, more) = self.rooms[room].page(after, limit);
        self.session(conn)?.outbox.send(&ServerFrame::Members {
            room: room.to_owned(),
            names,
            more,
        });
        Ok(())
    }

    /// Tells the members of `room` (but `except`) that `user` joined or
    /// left: a `presence` frame in a small room, a `member_count` at the
    /// next tick in a large one.
    pub(super) fn announce(
        &mut self,
        room: &Arc<str>,
        user: &str,
        state: PresenceState,
        except: Option<ConnId>,
    ) {
        let Some(r) = self.rooms.get(room) else {
            return;
        };
        if r.count() > self.config.presence_threshold || r.count_sent > 0 {
            self.counts_due.insert(room.clone());
        }
        if r.count() <= self.config.presence_threshold {
            self.broadcast(
                room,
                &ServerFrame::Presence {
                    room: room.to_string(),
                    user: user.to_owned(),
                    state,
                },
                except,
            );
        }
    }

    /// Once a second: each room whose membership changed since the last
    /// tick, and that is (or was, at its last count) above the threshold,
    /// gets its `member_count` if the count differs from the last one sent.
    pub(super) fn on_tick(&mut self) {
        let threshold = self.config.presence_threshold;
        for room in std::mem::take(&mut self.counts_due) {
            let Some(r) = self.rooms.get_mut(&room) else {
                continue;
            };
            let count = r.count();
            if count == r.count_sent {
                continue;
            }
            // Back at or below the threshold, one last count, then presence again.
            r.count_sent = if count > threshold { count } else { 0 };
            self.broadcast(
                &room,
                &ServerFrame::MemberCount {
                    room: room.to_string(),
                    count,
                },
                None,
            );
        }
    }
}
