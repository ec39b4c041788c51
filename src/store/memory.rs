//! An in-memory [`HistoryStore`]: the last `keep` messages of each room.

use super::{HistoryStore, NewMessage, Replay, StoreError};
use crate::protocol::{ChatMessage, GENERAL_ROOM};
use std::collections::{BTreeMap, VecDeque};

/// One room's log.
#[derive(Debug, Default)]
struct RoomLog {
    /// The id the next message gets.
    next_id: u64,
    /// The newest messages, oldest first, ids consecutive.
    messages: VecDeque<ChatMessage>,
}

/// Keeps the newest messages of every room in memory; lost on restart.
#[derive(Debug)]
pub struct MemoryStore {
    /// Rooms by name.
    rooms: BTreeMap<String, RoomLog>,
    /// How many messages each room keeps.
    keep: usize,
}

impl MemoryStore {
    /// A store with only `general`, keeping `keep` messages per room.
    pub fn new(keep: usize) -> Self {
        let mut store = MemoryStore {
            rooms: BTreeMap::new(),
            keep: keep.max(1),
        };
        store.ensure_room(GENERAL_ROOM).expect("memory never fails");
        store
    }

    fn log(&self, room: &str) -> Option<&RoomLog> {
        self.rooms.get(room)
    }
}

impl HistoryStore for MemoryStore {
    fn rooms(&self) -> Vec<String> {
        self.rooms.keys().cloned().collect()
    }

    fn ensure_room(&mut self, room: &str) -> Result<(), StoreError> {
        self.rooms
            .entry(room.to_owned())
            .or_insert_with(|| RoomLog {
                next_id: 1,
                messages: VecDeque::new(),
            });
        Ok(())
    }

    fn append(&mut self, msg: NewMessage) -> Result<ChatMessage, StoreError> {
        self.ensure_room(&msg.room)?;
        let log = self.rooms.get_mut(&msg.room).expect("just ensured");
        let stored = ChatMessage {
            id: log.next_id,
            room: msg.room,
            user: msg.user,
            text: msg.text,
            html: msg.html,
            ts: msg.ts,
            nonce: None,
        };
        log.next_id += 1;
        if log.messages.len() == self.keep {
            log.messages.pop_front();
        }
        log.messages.push_back(stored.clone());
        Ok(stored)
    }

    fn recent(&self, room: &str, limit: usize) -> Result<Vec<ChatMessage>, StoreError> {
        self.before(room, None, limit)
    }

    fn after(&self, room: &str, after: u64, cap: usize) -> Result<Replay, StoreError> {
        let Some(log) = self.log(room) else {
            return Ok(Replay::default());
        };
        let newer: Vec<&ChatMessage> = log.messages.iter().filter(|m| m.id > after).collect();
        let first_kept = log.messages.front().map_or(log.next_id, |m| m.id);
        let lost_old =
            first_kept > after.saturating_add(1) && after.saturating_add(1) < log.next_id;
        let skip = newer.len().saturating_sub(cap);
        Ok(Replay {
            messages: newer[skip..].iter().map(|m| (*m).clone()).collect(),
            missed: lost_old || skip > 0,
        })
    }

    fn before(
        &self,
        room: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        let Some(log) = self.log(room) else {
            return Ok(Vec::new());
        };
        let older: Vec<&ChatMessage> = log
            .messages
            .iter()
            .filter(|m| before.is_none_or(|b| m.id < b))
            .collect();
        let skip = older.len().saturating_sub(limit);
        Ok(older[skip..].iter().map(|m| (*m).clone()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn post(store: &mut MemoryStore, room: &str, n: usize) {
        for i in 0..n {
            store
                .append(NewMessage {
                    room: room.into(),
                    user: "u".into(),
                    text: format!("m{i}"),
                    html: format!("m{i}"),
                    ts: 0,
                })
                .unwrap();
        }
    }

    #[test]
    fn ids_are_per_room_and_consecutive() {
        let mut s = MemoryStore::new(10);
        post(&mut s, "a", 3);
        post(&mut s, "b", 2);
        let ids: Vec<u64> = s.recent("a", 50).unwrap().iter().map(|m| m.id).collect();
        assert_eq!(ids, [1, 2, 3]);
        assert_eq!(s.recent("b", 50).unwrap().last().unwrap().id, 2);
        assert_eq!(s.rooms(), ["a", "b", "general"]);
    }

    #[test]
    fn keeps_only_the_newest_and_reports_what_was_missed() {
        let mut s = MemoryStore::new(5);
        post(&mut s, "a", 8); // keeps 4..=8
        let r = s.after("a", 0, 100).unwrap();
        assert_eq!(r.messages.first().unwrap().id, 4);
        assert!(r.missed);
        let r = s.after("a", 3, 100).unwrap();
        assert_eq!((r.messages.len(), r.missed), (5, false));
        let r = s.after("a", 5, 2).unwrap();
        assert_eq!(r.messages.iter().map(|m| m.id).collect::<Vec<_>>(), [7, 8]);
        assert!(r.missed);
        assert_eq!(s.after("a", 8, 100).unwrap(), Replay::default());
        let page = s.before("a", Some(7), 2).unwrap();
        assert_eq!(page.iter().map(|m| m.id).collect::<Vec<_>>(), [5, 6]);
    }
}
