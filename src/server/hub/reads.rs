//! `read` (*extension*): where an identity stopped reading a room, kept in
//! the store ([`crate::store::reads`]) and handed back in the next
//! `joined` of that room as `last_read`.

use super::{ConnId, Hub};
use crate::protocol::ProtocolError;
use crate::store::group_commit::Job;
use crate::store::reads::ReadMark;

impl Hub {
    /// Queues the mark (at most the room's newest id). Nothing answers; a
    /// mark the full queue refuses is dropped (the next one covers it).
    pub(super) fn on_read(
        &mut self,
        conn: ConnId,
        room: &str,
        id: u64,
    ) -> Result<(), ProtocolError> {
        self.joined_room(conn, room)?;
        let newest = self.rooms.get(room).map_or(0, |r| r.last_id);
        let identity = self.session(conn)?.identity.clone();
        if let Some(identity) = identity.filter(|_| newest > 0 && id > 0) {
            let mark = ReadMark {
                identity: identity.to_string(),
                room: room.to_owned(),
                id: id.min(newest),
            };
            let _ = self.queue(Job::Read(mark));
        }
        Ok(())
    }
}
