//! Group commit: one thread owns the [`Writer`] and commits, in one
//! transaction, every message that queued up while the previous commit ran.
//!
//! Under light load each message is its own batch (no added latency); under
//! heavy load batches grow by themselves, so one fsync serves many messages.

use super::{NewMessage, StoreError, Writer};
use crate::protocol::ChatMessage;
use tokio::sync::mpsc;

/// Most messages in one transaction.
pub const MAX_BATCH: usize = 4096;

/// One message to store, with a caller's tag (who sent it, its nonce…).
#[derive(Debug)]
pub struct Job<T> {
    /// Handed back with the result.
    pub tag: T,
    /// The message.
    pub message: NewMessage,
}

/// The result of one job.
pub type Done<T> = (T, Result<ChatMessage, StoreError>);

/// Starts the commit thread. `done` gets each batch's results, in order;
/// the thread ends once every sender of `jobs` is dropped and the queue is
/// drained, after which the database connection is closed.
pub fn spawn<T, F>(
    mut writer: Writer,
    mut jobs: mpsc::Receiver<Job<T>>,
    mut done: F,
) -> std::io::Result<std::thread::JoinHandle<()>>
where
    T: Send + 'static,
    F: FnMut(Vec<Done<T>>) + Send + 'static,
{
    std::thread::Builder::new()
        .name("group-commit".into())
        .spawn(move || {
            let mut tags = Vec::new();
            let mut messages = Vec::new();
            while let Some(first) = jobs.blocking_recv() {
                tags.push(first.tag);
                messages.push(first.message);
                while messages.len() < MAX_BATCH {
                    match jobs.try_recv() {
                        Ok(job) => {
                            tags.push(job.tag);
                            messages.push(job.message);
                        }
                        Err(_) => break,
                    }
                }
                let results = writer.append(&messages);
                messages.clear();
                done(tags.drain(..).zip(results).collect());
            }
        })
}
