//! Fallback POSTs handed between nodes (protocol 1.2 section 6), so that a
//! load balancer needs no sticky sessions for them. Schema version 10
//! (`live.sql`).
//!
//! A node writes each fallback session it opens into `live_sessions`
//! ([`Handoff::hold`]) and removes it when the session ends. A POST that
//! reaches a node not holding its session is written into `live_posts`
//! under a random ticket, for the node that holds it, with a notice on
//! [`CHANNEL`] (`post \t holder \t ticket`), in one statement
//! ([`Handoff::forward`]); no row is written when no node holds the
//! session, and the POST is then answered as for an unknown session. The
//! holder's [`listen`](super::listen) thread hears the notice; the holder
//! takes the row ([`Handoff::take`]), applies it as a POST of its own, and
//! answers on the same channel (`done \t origin \t ticket \t status \t
//! reason`, [`Handoff::answer`]), which the origin's listen thread hears.
//!
//! NOTIFY's payload is at most 8000 bytes and a POST's body up to 64 KiB:
//! hence the table, and notices that only name a row. Everything runs on
//! one thread of its own with its own connection, behind a bounded queue:
//! the callers (async handlers) wait on a channel, never on the database.

use super::StoreError;
use postgres::{Client, NoTls};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use tokio::sync::oneshot;

/// The channel of handoff notices.
pub const CHANNEL: &str = "chat_live";
/// Statements that may wait for the handoff thread; past them a caller is
/// told the database is busy rather than queued.
const QUEUE: usize = 1024;

/// A statement for the handoff thread, run on its connection.
type Job = Box<dyn FnOnce(&mut Client) + Send>;

/// The way to the handoff thread (cheap to share: a queue's sender).
#[derive(Debug, Clone)]
pub struct Handoff {
    /// Statements for the thread.
    jobs: SyncSender<Job>,
    /// This node's id (as in its other notices).
    node: String,
}

/// A POST on its way to the node holding its session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posted {
    /// The node that got it, waiting for the answer.
    pub origin: String,
    /// The sha256 of the session id.
    pub hash: [u8; 32],
    /// Its sequence number.
    pub seq: u64,
    /// It ends the session (`&end=1`).
    pub ends: bool,
    /// Its frames, one per line, as received.
    pub body: Vec<u8>,
}

/// A handoff notice for this node, as [`parse`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiveNotice {
    /// A POST for a session of this node waits under this ticket.
    Post(u64),
    /// The answer to a POST this node forwarded.
    Done {
        /// The ticket it was forwarded under.
        ticket: u64,
        /// The HTTP status the holder answered.
        status: u16,
        /// Its reason (empty for 204).
        reason: String,
    },
}

impl Handoff {
    /// Starts the handoff thread for node `node` (it connects when the
    /// first statement comes, and again after a failure).
    pub fn start(url: &str, node: &str) -> std::io::Result<Handoff> {
        let (jobs, queue) = sync_channel::<Job>(QUEUE);
        let url = url.to_owned();
        std::thread::Builder::new()
            .name("pg-handoff".into())
            .spawn(move || run(&url, queue))?;
        Ok(Handoff {
            jobs,
            node: node.to_owned(),
        })
    }

    /// Runs `statement` on the thread and gives its result back.
    async fn ask<T: Send + 'static>(
        &self,
        statement: impl FnOnce(&mut Client) -> Result<T, postgres::Error> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = oneshot::channel();
        self.send(move |client| drop(tx.send(statement(client))))?;
        match rx.await {
            Ok(result) => Ok(result?),
            Err(_) => Err(StoreError::Failed("the database is unreachable".into())),
        }
    }

    /// Queues `job`, or says the queue is full.
    fn send(&self, job: impl FnOnce(&mut Client) + Send + 'static) -> Result<(), StoreError> {
        match self.jobs.try_send(Box::new(job)) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => Err(StoreError::Failed("the database is busy".into())),
            Err(TrySendError::Disconnected(_)) => {
                Err(StoreError::Failed("the handoff thread is gone".into()))
            }
        }
    }

    /// Records that this node holds the session whose id hashes to `hash`.
    pub async fn hold(&self, hash: [u8; 32]) -> Result<(), StoreError> {
        let node = self.node.clone();
        self.ask(move |client| {
            client.execute(
                "INSERT INTO live_sessions (hash, node) VALUES ($1, $2) \
                 ON CONFLICT (hash) DO UPDATE SET node = EXCLUDED.node",
                &[&&hash[..], &node],
            )
        })
        .await
        .map(drop)
    }

    /// Queues `statement` without waiting; says `lost` in the log when it
    /// could not be queued or failed.
    fn tell(
        &self,
        lost: &'static str,
        statement: impl FnOnce(&mut Client) -> Result<u64, postgres::Error> + Send + 'static,
    ) {
        let sent = self.send(move |client| {
            if let Err(e) = statement(client) {
                tracing::warn!(error = %e, "{lost}");
            }
        });
        if let Err(e) = sent {
            tracing::warn!(error = %e, "{lost}");
        }
    }

    /// Removes the session's row (it ended); does not wait.
    pub fn release(&self, hash: [u8; 32]) {
        let node = self.node.clone();
        self.tell(
            "a fallback session's row stays until its node leaves",
            move |client| {
                client.execute(
                    "DELETE FROM live_sessions WHERE hash = $1 AND node = $2",
                    &[&&hash[..], &node],
                )
            },
        );
    }

    /// Writes POST `seq` of the session whose id hashes to `hash` (its
    /// frames `body`; `ends`: it ends the session) under `ticket` (below
    /// 2^63) for the node holding the session, and tells that node. False:
    /// no other node holds the session.
    pub async fn forward(
        &self,
        ticket: u64,
        hash: [u8; 32],
        seq: u64,
        ends: bool,
        body: Vec<u8>,
    ) -> Result<bool, StoreError> {
        let node = self.node.clone();
        self.ask(move |client| {
            let rows = client.execute(
                "WITH held AS (SELECT node FROM live_sessions WHERE hash = $2 AND node <> $3), \
                 posted AS (INSERT INTO live_posts (id, node, origin, hash, seq, ends, body) \
                   SELECT $1, node, $3, $2, $4, $5, $6 FROM held RETURNING node, id) \
                 SELECT pg_notify($7, 'post' || E'\\t' || node || E'\\t' || id) FROM posted",
                &[
                    &(ticket as i64),
                    &&hash[..],
                    &node,
                    &(seq as i64),
                    &ends,
                    &body,
                    &CHANNEL,
                ],
            )?;
            Ok(rows > 0)
        })
        .await
    }

    /// Takes the POST waiting for this node under `ticket` (`None`: its
    /// origin stopped waiting, or another took it).
    pub async fn take(&self, ticket: u64) -> Result<Option<Posted>, StoreError> {
        let node = self.node.clone();
        self.ask(move |client| {
            let row = client.query_opt(
                "DELETE FROM live_posts WHERE id = $1 AND node = $2 \
                 RETURNING origin, hash, seq, ends, body",
                &[&(ticket as i64), &node],
            )?;
            Ok(row.and_then(|row| {
                let hash: Vec<u8> = row.get(1);
                Some(Posted {
                    origin: row.get(0),
                    hash: hash.try_into().ok()?,
                    seq: row.get::<_, i64>(2) as u64,
                    ends: row.get(3),
                    body: row.get(4),
                })
            }))
        })
        .await
    }

    /// Tells `origin` what became of the POST it forwarded under `ticket`;
    /// does not wait.
    pub fn answer(&self, origin: &str, ticket: u64, status: u16, reason: &str) {
        // Reasons are this server's own short texts; a tab or a newline
        // would only break the notice's fields.
        let reason: String = reason.chars().filter(|c| !c.is_control()).collect();
        let notice = format!("done\t{origin}\t{ticket}\t{status}\t{reason}");
        self.tell(
            "a forwarded POST's answer was lost; its client retries",
            move |client| client.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &notice]),
        );
    }

    /// Removes the row of a POST whose answer this node stopped waiting
    /// for (if its holder has not taken it yet); does not wait.
    pub fn forget(&self, ticket: u64) {
        let _ = self.send(move |client| {
            let _ = client.execute("DELETE FROM live_posts WHERE id = $1", &[&(ticket as i64)]);
        });
    }
}

/// The handoff thread: one statement at a time on one connection, made
/// again after it broke. A statement that met the break fails (its caller
/// answers 503; the client retries).
fn run(url: &str, queue: Receiver<Job>) {
    let mut client: Option<Client> = None;
    while let Ok(job) = queue.recv() {
        if client.as_ref().is_none_or(Client::is_closed) {
            client = match Client::connect(url, NoTls) {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::warn!(error = %e, "the handoff thread cannot reach the database");
                    // The job is dropped: its caller hears "unreachable".
                    continue;
                }
            };
        }
        job(client.as_mut().expect("connected"));
    }
    // The synchronous client's drop needs no runtime here: a plain thread.
    drop(client);
}

/// A notice on [`CHANNEL`] for node `me`, if it is one (others' notices,
/// and malformed ones, are `None`).
pub fn parse(payload: &str, me: &str) -> Option<LiveNotice> {
    let mut parts = payload.splitn(5, '\t');
    let (kind, to, ticket) = (parts.next()?, parts.next()?, parts.next()?);
    if to != me {
        return None;
    }
    let ticket = ticket.parse().ok()?;
    match kind {
        "post" => Some(LiveNotice::Post(ticket)),
        "done" => Some(LiveNotice::Done {
            ticket,
            status: parts.next()?.parse().ok()?,
            reason: parts.next().unwrap_or_default().to_owned(),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_for_other_nodes_and_malformed_ones_are_not_read() {
        assert_eq!(parse("post\tme\t42", "me"), Some(LiveNotice::Post(42)));
        assert_eq!(parse("post\tyou\t42", "me"), None);
        assert_eq!(
            parse("done\tme\t7\t409\tnot the next POST", "me"),
            Some(LiveNotice::Done {
                ticket: 7,
                status: 409,
                reason: "not the next POST".into()
            })
        );
        assert_eq!(
            parse("done\tme\t7\t204\t", "me"),
            Some(LiveNotice::Done {
                ticket: 7,
                status: 204,
                reason: String::new()
            })
        );
        for bad in [
            "post\tme",
            "post\tme\tx",
            "done\tme\t7",
            "done\tme\t7\tok",
            "huh\tme\t1",
        ] {
            assert_eq!(parse(bad, "me"), None, "{bad:?}");
        }
    }
}
