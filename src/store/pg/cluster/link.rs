//! The publishing thread: writes this node's sessions into the cluster
//! tables and tells the others (see [`super`]), renews its lease, and
//! removes nodes whose lease ran out.

use super::wire::{notice, Wire};
use super::{Event, CHANNEL};
use crate::store::{IdentityRow, StoreError};
use postgres::{Client, NoTls};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// Most events written in one transaction.
const MAX_BATCH: usize = 4096;
/// How soon a node retries after the database failed it.
const RETRY: Duration = Duration::from_secs(1);

/// Session rows (connection, identity) and member rows (connection, room).
type Rows = (Vec<(u64, IdentityRow)>, Vec<(u64, String)>);

/// This node's sessions as its tables should hold them.
#[derive(Debug, Default)]
struct Mirror {
    /// Welcomed connections and their identities.
    sessions: HashMap<u64, IdentityRow>,
    /// The rooms of each.
    rooms: HashMap<u64, BTreeSet<String>>,
}

impl Mirror {
    /// Applies `event`; returns the connection whose rows it changed.
    fn apply(&mut self, event: &Event) -> Option<u64> {
        match event {
            Event::Hello { conn, identity } => {
                self.sessions.insert(*conn, identity.clone());
                Some(*conn)
            }
            Event::Join { conn, room } => {
                self.rooms.entry(*conn).or_default().insert(room.clone());
                Some(*conn)
            }
            Event::Leave { conn, room } => {
                if let Some(rooms) = self.rooms.get_mut(conn) {
                    rooms.remove(room);
                }
                Some(*conn)
            }
            Event::Bye { conn } => {
                self.sessions.remove(conn);
                self.rooms.remove(conn);
                Some(*conn)
            }
            Event::Typing { .. }
            | Event::Identity(_)
            | Event::SessionsEnded(_)
            | Event::Account { .. }
            | Event::Erased(_)
            | Event::Access(_)
            | Event::Changed { .. }
            | Event::Moderation(_) => None,
        }
    }
}

/// The publishing thread's state.
pub(super) struct Link {
    /// Where the database is.
    url: String,
    /// This node's id.
    node: String,
    /// How long a node's row lives without renewal.
    lease: Duration,
    /// The connection, while it works.
    client: Option<Client>,
    /// When the connection was made.
    since: Instant,
    /// True when this node's rows must be written whole again.
    reset: bool,
    /// What the rows should be.
    mirror: Mirror,
}

impl Link {
    pub(super) fn new(url: &str, node: &str, lease: Duration) -> Link {
        Link {
            url: url.to_owned(),
            node: node.to_owned(),
            lease,
            client: None,
            since: Instant::now(),
            reset: true,
            mirror: Mirror::default(),
        }
    }

    pub(super) fn run(&mut self, rx: Receiver<Event>) {
        let mut next_beat = Instant::now();
        loop {
            let wait = next_beat.saturating_duration_since(Instant::now());
            let mut batch = Vec::new();
            match rx.recv_timeout(wait) {
                Ok(event) => batch.push(event),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return self.leave(),
            }
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(event) => batch.push(event),
                    Err(_) => break,
                }
            }
            if let Err(e) = self.turn(&batch, &mut next_beat) {
                tracing::warn!(error = %e, "cannot reach the other nodes; retrying");
                self.client = None;
                self.reset = true;
                next_beat = Instant::now() + RETRY;
            }
        }
    }

    /// Writes and tells `batch`, then renews the lease if it is time.
    fn turn(&mut self, batch: &[Event], next_beat: &mut Instant) -> Result<(), StoreError> {
        let touched: HashSet<u64> = batch.iter().filter_map(|e| self.mirror.apply(e)).collect();
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.client = Some(Client::connect(&self.url, NoTls)?);
            self.since = Instant::now();
            self.reset = true;
        }
        if self.reset {
            self.write_all()?;
        } else if !batch.is_empty() {
            self.write(batch, &touched)?;
        }
        if Instant::now() >= *next_beat {
            self.renew()?;
            *next_beat = Instant::now() + self.lease / 3;
        }
        Ok(())
    }

    fn client(&mut self) -> &mut Client {
        self.client.as_mut().expect("connected in turn")
    }

    /// Rewrites the rows of `touched` connections from the mirror and sends
    /// every event of `batch`, in one transaction.
    fn write(&mut self, batch: &[Event], touched: &HashSet<u64>) -> Result<(), StoreError> {
        let node = self.node.clone();
        let notices: Vec<String> = batch.iter().map(|e| notice(&node, e)).collect();
        let conns: Vec<i64> = touched.iter().map(|&c| c as i64).collect();
        let (sessions, members) = self.rows(touched.iter().copied());
        let mut tx = self.client().transaction()?;
        tx.execute(
            "DELETE FROM cluster_members WHERE node = $1 AND conn = ANY($2)",
            &[&node, &conns],
        )?;
        tx.execute(
            "DELETE FROM cluster_sessions WHERE node = $1 AND conn = ANY($2)",
            &[&node, &conns],
        )?;
        insert_rows(&mut tx, &node, &sessions, &members)?;
        tx.execute(
            "SELECT pg_notify($1, x) FROM unnest($2::text[]) AS x",
            &[&CHANNEL, &notices],
        )?;
        Ok(tx.commit()?)
    }

    /// Writes every row of this node again and tells the others to read them.
    fn write_all(&mut self) -> Result<(), StoreError> {
        let node = self.node.clone();
        let conns: Vec<u64> = self.mirror.sessions.keys().copied().collect();
        let (sessions, members) = self.rows(conns.into_iter());
        let reset = serde_json::to_string(&Wire::Reset { n: node.clone() }).expect("encodes");
        let mut tx = self.client().transaction()?;
        tx.execute(
            "INSERT INTO cluster_nodes (id, seen) VALUES ($1, now()) \
             ON CONFLICT (id) DO UPDATE SET seen = now()",
            &[&node],
        )?;
        delete_rows(&mut tx, std::slice::from_ref(&node))?;
        insert_rows(&mut tx, &node, &sessions, &members)?;
        tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &reset])?;
        tx.commit()?;
        self.reset = false;
        tracing::info!(node, sessions = sessions.len(), "cluster rows written");
        Ok(())
    }

    /// The mirror's rows of `conns`.
    fn rows(&self, conns: impl Iterator<Item = u64>) -> Rows {
        let (mut sessions, mut members) = (Vec::new(), Vec::new());
        for conn in conns {
            let Some(identity) = self.mirror.sessions.get(&conn) else {
                continue;
            };
            sessions.push((conn, identity.clone()));
            for room in self.mirror.rooms.get(&conn).into_iter().flatten() {
                members.push((conn, room.clone()));
            }
        }
        (sessions, members)
    }

    /// Renews this node's lease; then, once connected for a lease, removes
    /// the nodes whose lease ran out and tells everyone.
    fn renew(&mut self) -> Result<(), StoreError> {
        let node = self.node.clone();
        let renewed = self.client().execute(
            "UPDATE cluster_nodes SET seen = now() WHERE id = $1",
            &[&node],
        )?;
        if renewed == 0 {
            // Another node took this one for dead: be here again, whole.
            tracing::warn!(node, "this node's lease had been ended; rejoining");
            return self.write_all();
        }
        if self.since.elapsed() < self.lease {
            return Ok(());
        }
        let lease_ms = self.lease.as_secs_f64() * 1000.0;
        let mut tx = self.client().transaction()?;
        let gone: Vec<String> = tx
            .query(
                "DELETE FROM cluster_nodes \
                 WHERE seen < now() - $1::float8 * interval '1 millisecond' RETURNING id",
                &[&lease_ms],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect();
        if gone.is_empty() {
            return Ok(());
        }
        delete_rows(&mut tx, &gone)?;
        let notices: Vec<String> = gone
            .iter()
            .map(|n| serde_json::to_string(&Wire::Gone { n: n.clone() }).expect("encodes"))
            .collect();
        tx.execute(
            "SELECT pg_notify($1, x) FROM unnest($2::text[]) AS x",
            &[&CHANNEL, &notices],
        )?;
        tx.commit()?;
        tracing::warn!(?gone, "nodes past their lease removed");
        Ok(())
    }

    /// The hub ended: remove this node's rows and say it is gone.
    fn leave(&mut self) {
        let node = self.node.clone();
        let Some(client) = self.client.as_mut() else {
            return;
        };
        let gone = serde_json::to_string(&Wire::Gone { n: node.clone() }).expect("encodes");
        let left = client.transaction().and_then(|mut tx| {
            delete_rows(&mut tx, std::slice::from_ref(&node))?;
            tx.execute("DELETE FROM cluster_nodes WHERE id = $1", &[&node])?;
            tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &gone])?;
            tx.commit()
        });
        if let Err(e) = left {
            tracing::warn!(error = %e, "could not leave the cluster; the lease will end it");
        }
    }
}

/// Deletes the session and member rows of `nodes`, with their fallback
/// sessions and the POSTs waiting for them (see `handoff.rs`).
fn delete_rows(
    tx: &mut postgres::Transaction<'_>,
    nodes: &[String],
) -> Result<(), postgres::Error> {
    tx.execute("DELETE FROM live_sessions WHERE node = ANY($1)", &[&nodes])?;
    tx.execute("DELETE FROM live_posts WHERE node = ANY($1)", &[&nodes])?;
    tx.execute(
        "DELETE FROM cluster_members WHERE node = ANY($1)",
        &[&nodes],
    )?;
    tx.execute(
        "DELETE FROM cluster_sessions WHERE node = ANY($1)",
        &[&nodes],
    )?;
    Ok(())
}

/// Inserts session and member rows of `node` (a statement each).
fn insert_rows(
    tx: &mut postgres::Transaction<'_>,
    node: &str,
    sessions: &[(u64, IdentityRow)],
    members: &[(u64, String)],
) -> Result<(), StoreError> {
    if !sessions.is_empty() {
        let conn: Vec<i64> = sessions.iter().map(|(c, _)| *c as i64).collect();
        let id: Vec<&str> = sessions.iter().map(|(_, i)| i.id.as_str()).collect();
        let hash: Vec<&[u8]> = sessions.iter().map(|(_, i)| &i.token_hash[..]).collect();
        let name: Vec<&str> = sessions.iter().map(|(_, i)| i.name.as_str()).collect();
        let seen: Vec<i64> = sessions.iter().map(|(_, i)| i.seen_ms as i64).collect();
        tx.execute(
            "INSERT INTO cluster_sessions (node, conn, identity, token_hash, name, seen_ms) \
             SELECT $1, * FROM unnest($2::int8[], $3::text[], $4::bytea[], $5::text[], $6::int8[])",
            &[&node, &conn, &id, &hash, &name, &seen],
        )?;
    }
    if !members.is_empty() {
        let conn: Vec<i64> = members.iter().map(|(c, _)| *c as i64).collect();
        let room: Vec<&str> = members.iter().map(|(_, r)| r.as_str()).collect();
        tx.execute(
            "INSERT INTO cluster_members (node, conn, room) \
             SELECT $1, * FROM unnest($2::int8[], $3::text[]) ON CONFLICT DO NOTHING",
            &[&node, &conn, &room],
        )?;
    }
    Ok(())
}
