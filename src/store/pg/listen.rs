//! What a node hears of the others: their commits on `chat_messages`
//! ([`super::CHANNEL`]), their sessions on `chat_cluster`
//! ([`cluster::CHANNEL`]) and fallback POSTs handed over on `chat_live`
//! ([`handoff::CHANNEL`]), all on one connection, so PostgreSQL hands them
//! over in commit order.

use super::cluster::{self, Remote, Snapshot};
use super::handoff::{self, LiveNotice};
use super::CHANNEL;
use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, NoTls};
use std::time::Duration;

/// What [`listen`] hears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Another node committed messages in `room` up to id `upto`.
    Stored {
        /// The room.
        room: String,
        /// Its newest id now.
        upto: u64,
    },
    /// The listening connection was (re)made: notices may have been
    /// missed. Every room is to be caught up, and the other nodes'
    /// sessions are these.
    Resync(Snapshot),
    /// Another node's sessions changed.
    Cluster(Remote),
    /// A fallback POST handed to this node, or the answer to one it handed
    /// on (for the fallback transport, not the hub).
    Live(LiveNotice),
}

/// Listens for other nodes' notices on a thread of its own and hands each
/// [`Notice`] to `on_notice`, until it returns false. A broken connection
/// is made again (every second while the database is away), followed by
/// [`Notice::Resync`].
pub fn listen(
    url: &str,
    node: &str,
    mut on_notice: impl FnMut(Notice) -> bool + Send + 'static,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let (url, node) = (url.to_owned(), node.to_owned());
    std::thread::Builder::new()
        .name("pg-listen".into())
        .spawn(move || loop {
            match listen_once(&url, &node, &mut on_notice) {
                Ok(false) => return,
                Ok(true) => tracing::warn!("the database's notices stopped; listening again"),
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen to the database; retrying");
                    std::thread::sleep(Duration::from_secs(1));
                }
            }
        })
}

/// One connection's worth of listening: false once `on_notice` says stop.
fn listen_once(
    url: &str,
    node: &str,
    on_notice: &mut impl FnMut(Notice) -> bool,
) -> Result<bool, postgres::Error> {
    let mut client = Client::connect(url, NoTls)?;
    client.batch_execute(&format!(
        "LISTEN {CHANNEL}; LISTEN {}; LISTEN {}",
        cluster::CHANNEL,
        handoff::CHANNEL
    ))?;
    // Read after LISTEN: what changes after this read is heard as well.
    let Ok(snapshot) = cluster::snapshot(&mut client, node) else {
        return Ok(true);
    };
    if !on_notice(Notice::Resync(snapshot)) {
        return Ok(false);
    }
    loop {
        let mut reread = false;
        {
            let mut notices = client.notifications();
            let mut notices = notices.blocking_iter();
            while let Some(notice) = notices.next()? {
                let heard = match notice.channel() {
                    CHANNEL => stored(notice.payload(), node),
                    handoff::CHANNEL => handoff::parse(notice.payload(), node).map(Notice::Live),
                    _ => match cluster::parse(notice.payload(), node) {
                        Some(Ok(remote)) => Some(Notice::Cluster(remote)),
                        Some(Err(())) => {
                            reread = true;
                            break;
                        }
                        None => None,
                    },
                };
                if heard.is_some_and(|notice| !on_notice(notice)) {
                    return Ok(false);
                }
            }
        }
        if !reread {
            return Ok(true);
        }
        // Another node wrote its rows again: read them all (the notices
        // that came meanwhile wait in the connection, in order).
        let Ok(snapshot) = cluster::snapshot(&mut client, node) else {
            return Ok(true);
        };
        if !on_notice(Notice::Cluster(Remote::Snapshot(snapshot))) {
            return Ok(false);
        }
    }
}

/// A commit notice (`node \t last id \t room`) of another node.
fn stored(payload: &str, me: &str) -> Option<Notice> {
    let mut parts = payload.splitn(3, '\t');
    let (from, upto, room) = (parts.next()?, parts.next()?, parts.next()?);
    if from == me {
        return None;
    }
    let upto = upto.parse().ok()?;
    Some(Notice::Stored {
        room: room.to_owned(),
        upto,
    })
}
