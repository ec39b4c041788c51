//! A batch in a handful of statements, whatever its size: the rooms locked
//! in one (in row-id order, so two nodes writing the same rooms never
//! deadlock), the nonce lookups in one, the inserts in one (`unnest` of
//! arrays), then each room's counter and notice. One statement per message
//! cost a round trip each: 2,842 messages/s at 100 members, measured.
//! A batch that fails here is redone message by message (`append_isolated`,
//! with savepoints), so that one bad message is left out and the others go on.

use super::{as_u64, PgWriter, CHANNEL};
use crate::protocol::ChatMessage;
use crate::store::read_back;
use crate::store::{now_ms, NewMessage, StoreError, Stored, NONCE_WINDOW_MS};
use std::collections::HashMap;

/// (room row id, author, nonce): what makes a resend a repeat.
type NonceKey = (i64, String, String);

impl PgWriter {
    /// Stores `batch` in one transaction with few statements; any failure
    /// fails all (nothing written, no id used).
    pub(super) fn append_batched(
        &mut self,
        batch: &[NewMessage],
    ) -> Result<Vec<Result<Stored, StoreError>>, StoreError> {
        let node = self.node.clone();
        let mut tx = self.conn.get()?.transaction()?;
        let mut rooms = lock_rooms(&mut tx, batch)?;
        let originals = find_repeats(&mut tx, batch, &rooms)?;
        let replies = super::changes::reply_snapshots(&mut tx, batch, &rooms)?;
        // What this batch stores, by the key a resend within it would repeat.
        let mut staged: HashMap<NonceKey, ChatMessage> = HashMap::new();
        let mut results = Vec::with_capacity(batch.len());
        let mut rows = Rows::default();
        for msg in batch {
            let (room_id, last) = rooms[msg.room.as_str()];
            let key = nonce_key(room_id, msg);
            let repeat = key.as_ref().and_then(|k| {
                staged.get(k).or_else(|| {
                    originals
                        .get(k)
                        .filter(|m| m.ts >= msg.ts.saturating_sub(NONCE_WINDOW_MS))
                })
            });
            if let Some(original) = repeat {
                results.push(Ok(Stored {
                    message: original.clone(),
                    repeat: true,
                }));
                continue;
            }
            let id = last + 1;
            // *1.2* (section 5): the attachments are the author's, and now
            // posted (a refusal changes nothing and uses no id).
            let attachments = match super::super::files::claim_pg(&mut tx, msg, id) {
                Ok(attachments) => attachments,
                Err(refusal @ StoreError::Refused(_)) => {
                    results.push(Err(refusal));
                    continue;
                }
                Err(e) => return Err(e),
            };
            rooms.insert(msg.room.clone(), (room_id, id));
            let reply = msg
                .reply_to
                .and_then(|to| replies.get(&(room_id, to)).cloned());
            rows.push(room_id, id, msg, &reply);
            let mut message = msg.stored_with(id, reply);
            message.attachments = attachments;
            if let Some(key) = key {
                staged.insert(key, message.clone());
            }
            results.push(Ok(Stored {
                message,
                repeat: false,
            }));
        }
        tx.execute(
            "INSERT INTO messages (room_id, id, \"user\", text, ts, author, nonce, \
                                   reply_to, reply_user, reply_text) \
             SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], \
             $5::bigint[], $6::text[], $7::text[], $8::bigint[], $9::text[], $10::text[])",
            &[
                &rows.room_ids,
                &rows.ids,
                &rows.users,
                &rows.texts,
                &rows.ts,
                &rows.authors,
                &rows.nonces,
                &rows.reply_to,
                &rows.reply_user,
                &rows.reply_text,
            ],
        )?;
        for (room, &(room_id, last)) in &rooms {
            tx.execute(
                "UPDATE rooms SET last_id = $2 WHERE id = $1 AND last_id < $2",
                &[&room_id, &(last as i64)],
            )?;
            let notice = format!("{node}\t{last}\t{room}");
            tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &notice])?;
        }
        tx.commit()?;
        Ok(results)
    }
}

/// Makes the batch's rooms that are missing and locks their rows until the
/// commit, in row-id order (two nodes locking the same rooms cannot
/// deadlock): room name -> (row id, newest id).
pub(super) fn lock_rooms(
    tx: &mut postgres::Transaction<'_>,
    batch: &[NewMessage],
) -> Result<HashMap<String, (i64, u64)>, StoreError> {
    let mut names: Vec<&str> = batch.iter().map(|m| m.room.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    tx.execute(
        "INSERT INTO rooms (name, created_ms) SELECT unnest($1::text[]), $2 \
         ON CONFLICT (name) DO NOTHING",
        &[&names, &(now_ms() as i64)],
    )?;
    let rows = tx.query(
        "SELECT name, id, last_id FROM rooms WHERE name = ANY($1) ORDER BY id FOR UPDATE",
        &[&names],
    )?;
    Ok(rows
        .iter()
        .map(|r| (r.get(0), (r.get(1), as_u64(r.get(2)))))
        .collect())
}

/// The key of `msg` if it has an author and a nonce.
fn nonce_key(room_id: i64, msg: &NewMessage) -> Option<NonceKey> {
    Some((room_id, msg.author.clone()?, msg.nonce.clone()?))
}

/// The newest stored message for each (room, author, nonce) of the batch,
/// within the window of the batch's oldest message: one query.
fn find_repeats(
    tx: &mut postgres::Transaction<'_>,
    batch: &[NewMessage],
    rooms: &HashMap<String, (i64, u64)>,
) -> Result<HashMap<NonceKey, ChatMessage>, StoreError> {
    let keyed: Vec<(NonceKey, &str)> = batch
        .iter()
        .filter_map(|m| Some((nonce_key(rooms[m.room.as_str()].0, m)?, m.room.as_str())))
        .collect();
    if keyed.is_empty() {
        return Ok(HashMap::new());
    }
    let since = batch.iter().map(|m| m.ts).min().unwrap_or(0);
    let since = since.saturating_sub(NONCE_WINDOW_MS) as i64;
    let room_ids: Vec<i64> = keyed.iter().map(|((r, _, _), _)| *r).collect();
    let authors: Vec<&str> = keyed.iter().map(|((_, a, _), _)| a.as_str()).collect();
    let nonces: Vec<&str> = keyed.iter().map(|((_, _, n), _)| n.as_str()).collect();
    let rows = tx.query(
        "SELECT DISTINCT ON (m.room_id, m.author, m.nonce) \
                m.room_id, m.author, m.nonce, m.id, m.\"user\", m.text, m.ts \
         FROM messages m \
         JOIN unnest($1::bigint[], $2::text[], $3::text[]) AS k(room_id, author, nonce) \
           ON m.room_id = k.room_id AND m.author = k.author AND m.nonce = k.nonce \
         WHERE m.ts >= $4 \
         ORDER BY m.room_id, m.author, m.nonce, m.id DESC",
        &[&room_ids, &authors, &nonces, &since],
    )?;
    let room_of: HashMap<i64, &str> = keyed.iter().map(|((r, _, _), n)| (*r, *n)).collect();
    Ok(rows
        .iter()
        .map(|r| {
            let key: NonceKey = (r.get(0), r.get(1), r.get(2));
            let room = room_of[&key.0].to_owned();
            let nonce = Some(key.2.clone());
            let message = read_back(room, r.get(3), r.get(4), r.get(5), r.get(6), nonce);
            (key, message)
        })
        .collect())
}

/// The batch's new rows, as the columns `unnest` takes.
#[derive(Default)]
struct Rows {
    /// `room_id` of each row.
    room_ids: Vec<i64>,
    /// `id` of each row.
    ids: Vec<i64>,
    /// `user` (display name) of each row.
    users: Vec<String>,
    /// `text` of each row.
    texts: Vec<String>,
    /// `ts` of each row.
    ts: Vec<i64>,
    /// `author` (identity id) of each row.
    authors: Vec<Option<String>>,
    /// `nonce` of each row.
    nonces: Vec<Option<String>>,
    /// *1.2*: `reply_to` of each row.
    reply_to: Vec<Option<i64>>,
    /// *1.2*: `reply_user` (the answered message's name; `None`: gone).
    reply_user: Vec<Option<String>>,
    /// *1.2*: `reply_text` (its first characters).
    reply_text: Vec<Option<String>>,
}

impl Rows {
    fn push(&mut self, room_id: i64, id: u64, msg: &NewMessage, reply: &Option<(String, String)>) {
        let (user, text) = reply.clone().unzip();
        self.reply_to.push(msg.reply_to.map(|r| r as i64));
        self.reply_user.push(user);
        self.reply_text.push(text);
        self.room_ids.push(room_id);
        self.ids.push(id as i64);
        self.users.push(msg.user.clone());
        self.texts.push(msg.text.clone());
        self.ts.push(msg.ts as i64);
        self.authors.push(msg.author.clone());
        self.nonces.push(msg.nonce.clone());
    }
}
