//! The room directory: which rooms `welcome` lists, the `rooms` pages, and
//! removing rooms nobody uses.
//!
//! `welcome` went to every new connection with every room (10,000 rooms:
//! about 350 KB, and a sort per `hello`); it now lists at most
//! [`Config::welcome_rooms`](crate::server::config::Config::welcome_rooms):
//! `general`, then the rooms where the most different people posted
//! lately (of the last different posters each room
//! remembers, [`POSTERS_KEPT`](super::rooms::POSTERS_KEPT)), the most recently active first among equals; and `rooms`
//! pages through the rest by name. So one client that makes many rooms and
//! posts in each (rooms with messages are kept) cannot fill every
//! visitor's sidebar: its rooms have one poster, and come after every room
//! where two people talked.
//! A room with no messages and no members for
//! [`Config::empty_room_ttl`](crate::server::config::Config::empty_room_ttl)
//! is removed (from memory here, from the store through the commit thread),
//! so rooms made and left empty cannot use up `CHAT_MAX_ROOMS` for good.
//! (*1.2*: a room anyone still belongs to, or is invited to, stays.)

use super::access::Act;
use super::rooms::Room;
use super::{ConnId, Hub};
use crate::protocol::{ProtocolError, ServerFrame, GENERAL_ROOM, MEMBERS_DEFAULT_LIMIT};
use crate::store::access::RoomKind;
use crate::store::group_commit::Job;
use std::cmp::Reverse;
use std::sync::Arc;

impl Hub {
    /// The rooms `welcome` lists: the public ones (all, or the most
    /// recently active ones when there are more), and (*1.2*) the others
    /// `identity` may see ([`Hub::authorize`]); sorted by name.
    pub(super) fn welcome_rooms(&self, identity: Option<&str>) -> Vec<String> {
        let max = self.config.welcome_rooms;
        let rank = |name: &Arc<str>, r: &Room| {
            let general = &**name == GENERAL_ROOM;
            (
                Reverse(general),
                Reverse(r.posters.len()),
                Reverse(r.active_ms),
            )
        };
        let mut rooms: Vec<(_, &Arc<str>)> = self
            .rooms
            .iter()
            .filter(|(_, r)| r.kind == RoomKind::Public)
            .map(|(n, r)| (rank(n, r), n))
            .collect();
        if rooms.len() > max {
            rooms.select_nth_unstable(max - 1);
            rooms.truncate(max);
        }
        let mut names: Vec<String> = rooms.into_iter().map(|(_, n)| n.to_string()).collect();
        if let Some(identity) = identity {
            let viewer = self.viewer_of(Some(identity));
            let theirs = self.mine.rooms_of(identity).filter(|name| {
                let r = self.rooms.get(*name);
                r.is_some_and(|r| r.kind != RoomKind::Public)
                    && self.authorize(&viewer, name, Act::See).is_ok()
            });
            names.extend(theirs.map(|n| n.to_string()));
        }
        names.sort_unstable();
        names
    }

    /// `rooms`: the next `limit` room names after `after`, by name.
    pub(super) fn on_rooms(
        &mut self,
        conn: ConnId,
        after: Option<&str>,
        limit: Option<i64>,
    ) -> Result<(), ProtocolError> {
        let limit = limit.map_or(MEMBERS_DEFAULT_LIMIT as usize, |l| l as usize);
        let viewer = self.viewer(conn);
        let mut names: Vec<&Arc<str>> = self
            .rooms
            .iter()
            .filter(|(name, r)| {
                after.is_none_or(|after| &***name > after)
                    && (r.kind == RoomKind::Public
                        || self.authorize(&viewer, name, Act::See).is_ok())
            })
            .map(|(name, _)| name)
            .collect();
        let more = names.len() > limit;
        if more {
            names.select_nth_unstable(limit - 1);
            names.truncate(limit);
        }
        names.sort_unstable();
        let rooms = names.into_iter().map(|n| n.to_string()).collect();
        self.session(conn)?
            .outbox
            .send(&ServerFrame::Rooms { rooms, more });
        Ok(())
    }

    /// Removes the rooms (but `general`) with no messages and no members
    /// since `empty_room_ttl` before `now_ms`.
    pub(super) fn remove_unused_rooms(&mut self, now_ms: u64) {
        let ttl = self.config.empty_room_ttl.as_millis() as u64;
        let unused: Vec<Arc<str>> = self
            .rooms
            .iter()
            .filter(|(name, r)| {
                r.last_id == 0
                    && r.count() == 0
                    && r.watchers.is_empty()
                    && r.standings.is_empty()
                    && now_ms.saturating_sub(r.active_ms) >= ttl
                    && &***name != GENERAL_ROOM
            })
            .map(|(name, _)| name.clone())
            .collect();
        for name in unused {
            // Nothing is lost if the queue is full: the room stays for now.
            if self.queue(Job::DeleteRoom(name.to_string())).is_ok() {
                self.rooms.remove(&name);
            }
        }
    }
}
