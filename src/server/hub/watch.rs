//! *1.1*, "Watching without a name": `watch` gives a connection a room's
//! messages live, before (or without) `hello`, with no membership: watchers
//! are not in member lists, counts or presence, and get no typing or
//! presence frames. A connection watches at most
//! [`Config::max_watched_rooms`](crate::server::config::Config::max_watched_rooms)
//! rooms. A connection that also joined the room gets its messages once,
//! as a member; leaving the room keeps the watch.

use super::access::Act;
use super::rooms::{fill_or_close, fit};
use super::{ConnId, Hub};
use crate::protocol::{validate_room_ref, ErrorCode, ProtocolError, ServerFrame};
use crate::server::payload::encode_json;
use crate::store::pool::Kind;
use crate::store::StoreReader;
use std::sync::Arc;

impl Hub {
    /// *1.2*: only a room the connection may read ([`Hub::authorize`]);
    /// before `hello`, public rooms only.
    pub(super) fn on_watch(&mut self, conn: ConnId, room: &str) -> Result<(), ProtocolError> {
        validate_room_ref(room)?;
        self.authorize(&self.viewer(conn), room, Act::Read)?;
        let Some((key, r)) = self.rooms.get_key_value(room) else {
            return Err(ProtocolError::no_such_room(room));
        };
        let (key, upto) = (key.clone(), r.last_id);
        let max = self.config.max_watched_rooms;
        let session = self.session(conn)?;
        if !session.watching.contains(room) && session.watching.len() >= max {
            return Err(ProtocolError::new(
                ErrorCode::TooManyRooms,
                format!("a connection can watch at most {max} rooms"),
            ));
        }
        let ticket = self.admit_read()?;
        let session = self.session(conn)?;
        session.watching.insert(key.clone());
        let (member, outbox) = (session.rooms.contains(room), session.outbox.clone());
        let r = self.rooms.get_mut(&key).expect("rooms stay while watched");
        if !member {
            r.watchers.insert(conn, outbox.clone());
        }
        let member_count = r.count();
        // Its messages from here wait behind the reply (see `on_join`).
        let slot = outbox.reserve();
        let (name, recent, budget) = (
            room.to_owned(),
            self.config.join_recent,
            self.reply_budget(),
        );
        let read = move |reader: &dyn StoreReader| {
            let mut messages = reader.before(&name, None, recent, upto, None)?;
            fit(&mut messages, budget);
            Ok(encode_json(&ServerFrame::Watching {
                room: name,
                messages,
                member_count,
            }))
        };
        self.read_apart(ticket, Kind::Plain, read, move |result| {
            fill_or_close(slot, &outbox, result)
        });
        Ok(())
    }

    pub(super) fn on_unwatch(&mut self, conn: ConnId, room: &str) -> Result<(), ProtocolError> {
        validate_room_ref(room)?;
        let session = self.session(conn)?;
        if !session.watching.remove(room) {
            return Err(ProtocolError::new(
                ErrorCode::BadRequest,
                format!("not watching {room:?}"),
            ));
        }
        let outbox = session.outbox.clone();
        if let Some(r) = self.rooms.get_mut(room) {
            r.watchers.remove(&conn);
        }
        outbox.send(&ServerFrame::Unwatched {
            room: room.to_owned(),
        });
        Ok(())
    }

    /// `conn` joined (`member`) or left `room`: a watch of it is served by
    /// the membership while there is one, by the watch again after.
    pub(super) fn watch_follows_membership(&mut self, conn: ConnId, room: &Arc<str>, member: bool) {
        let Some(session) = self.sessions.get(&conn) else {
            return;
        };
        if !session.watching.contains(room) {
            return;
        }
        let outbox = session.outbox.clone();
        if let Some(r) = self.rooms.get_mut(room) {
            match member {
                true => drop(r.watchers.remove(&conn)),
                false => drop(r.watchers.insert(conn, outbox)),
            }
        }
    }

    /// Ends every watch of `conn` (it is gone).
    pub(super) fn stop_watching(&mut self, conn: ConnId) {
        let Some(session) = self.sessions.get_mut(&conn) else {
            return;
        };
        for room in std::mem::take(&mut session.watching) {
            if let Some(r) = self.rooms.get_mut(&room) {
                r.watchers.remove(&conn);
            }
        }
    }
}
