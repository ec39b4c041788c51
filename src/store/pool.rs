//! Readers for the hub, each with its own connection, so that reads run
//! side by side and never on the hub's task.
//!
//! A read takes a place ([`Semaphore`]) and then an idle reader, runs on
//! tokio's blocking pool, and gives the reader back whatever happened: a
//! read that fails or panics (a bug) costs that read alone, never the ones
//! after it (a `Mutex` around one reader was poisoned by a panic, and every
//! later read answered `unavailable`).
//!
//! Searches are the costly kind: they hold a second place of their own
//! ([`Kind::Search`]), fewer than there are readers, so joins, history
//! pages and the page's snapshot always find a reader however many
//! searches queue. And they run on threads of their own at the lowest CPU
//! priority (`nice` 19), so on a busy core the chat (the hub, the
//! connections) goes first: measured with `make bench`'s hostile search
//! load on one core, a chatting pair's p99 went from 7.7 ms with searches
//! on tokio's blocking pool to the figure in the README.

use super::{StoreError, StoreReader};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// What a read is, for its places.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A join's replay, a history page, a snapshot, a name claim, a catch-up.
    Plain,
    /// A full-text search: also holds a search place.
    Search,
}

/// The hub's readers; see the module docs.
pub struct ReaderPool {
    /// Readers not in use now.
    idle: Mutex<Vec<Box<dyn StoreReader>>>,
    /// One place per reader.
    places: Semaphore,
    /// Searches running at once, at most.
    searches: Semaphore,
    /// Reads asked for and not yet answered (queued or running).
    pending: AtomicUsize,
    /// Most reads that may be pending at once: past it, a read is refused.
    max_pending: usize,
    /// The search threads' queue (see the module docs).
    search_jobs: Mutex<std::sync::mpsc::Sender<Job>>,
}

/// A search handed to the search threads.
type Job = Box<dyn FnOnce() + Send>;

/// The lowest CPU priority: searches yield the core to the chat.
const SEARCH_NICE: i32 = 19;

/// Starts `count` threads named `{name}-{i}` that take jobs from `jobs`
/// until every sender is gone: each runs `setup` once, then `run` with
/// what it made for every job it takes. (The search threads here, the
/// password hashing threads of `server::accounts`.)
pub(crate) fn job_threads<J: Send + 'static, S>(
    name: &str,
    count: usize,
    jobs: std::sync::mpsc::Receiver<J>,
    setup: impl Fn() -> S + Clone + Send + 'static,
    run: impl Fn(&S, J) + Clone + Send + 'static,
) -> std::io::Result<()> {
    let jobs = Arc::new(Mutex::new(jobs));
    for i in 0..count {
        let (jobs, setup, run) = (jobs.clone(), setup.clone(), run.clone());
        std::thread::Builder::new()
            .name(format!("{name}-{i}"))
            .spawn(move || {
                let made = setup();
                loop {
                    let job = jobs.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    match job {
                        Ok(job) => run(&made, job),
                        Err(_) => return, // every sender is gone
                    }
                }
            })?;
    }
    Ok(())
}

/// Gives the calling thread (alone: Linux keeps a nice value per
/// thread) the lowest CPU priority, so that on a busy core the chat goes
/// first. `what` names the thread in the warning when it cannot.
pub(crate) fn lowest_priority(what: &str) {
    // SAFETY: setpriority has no memory-safety preconditions.
    let niced = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, SEARCH_NICE) };
    if niced != 0 {
        tracing::warn!("{what} thread kept its priority (setpriority failed)");
    }
}

/// Starts `count` search threads, each at [`SEARCH_NICE`].
fn search_threads(count: usize) -> std::io::Result<std::sync::mpsc::Sender<Job>> {
    let (tx, rx) = std::sync::mpsc::channel::<Job>();
    let nice = || lowest_priority("search");
    job_threads("search", count, rx, nice, |_, job: Job| job())?;
    Ok(tx)
}

impl std::fmt::Debug for ReaderPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReaderPool")
            .field("pending", &self.pending())
            .field("max_pending", &self.max_pending)
            .finish_non_exhaustive()
    }
}

/// Refused: too many reads are waiting already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

impl ReaderPool {
    /// A pool of `first` and `count - 1` more readers of the same store
    /// ([`StoreReader::another`]), of which at most `searches` search at
    /// once (at least 1, fewer than `count` when `count` > 1), and at most
    /// `max_pending` reads wait or run.
    pub fn new(
        first: Box<dyn StoreReader>,
        count: usize,
        searches: usize,
        max_pending: usize,
    ) -> Result<ReaderPool, StoreError> {
        let count = count.max(1);
        let mut idle = Vec::with_capacity(count);
        for _ in 1..count {
            idle.push(first.another()?);
        }
        idle.push(first);
        let searches = searches.clamp(1, count.saturating_sub(1).max(1));
        let search_jobs = search_threads(searches)
            .map_err(|e| StoreError::Failed(format!("cannot start the search threads: {e}")))?;
        Ok(ReaderPool {
            idle: Mutex::new(idle),
            places: Semaphore::new(count),
            searches: Semaphore::new(searches),
            pending: AtomicUsize::new(0),
            max_pending,
            search_jobs: Mutex::new(search_jobs),
        })
    }

    /// Counts one more pending read, or refuses it when `max_pending` are.
    /// The returned guard counts it off when dropped.
    pub fn admit(self: &Arc<Self>) -> Result<Pending, Busy> {
        let now = self.pending.fetch_add(1, Ordering::AcqRel) + 1;
        if now > self.max_pending {
            self.pending.fetch_sub(1, Ordering::AcqRel);
            return Err(Busy);
        }
        Ok(Pending(self.clone()))
    }

    /// Reads pending now (queued or running).
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Acquire)
    }

    /// Runs `read` on a reader of its own, on tokio's blocking pool, once a
    /// place is free; a panic inside it is an error of this read alone.
    pub async fn read<T: Send + 'static>(
        self: &Arc<Self>,
        kind: Kind,
        read: impl FnOnce(&dyn StoreReader) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let closed = |_| StoreError::Failed("the readers are closed".into());
        let _search = match kind {
            Kind::Search => Some(self.searches.acquire().await.map_err(closed)?),
            Kind::Plain => None,
        };
        let _place = self.places.acquire().await.map_err(closed)?;
        let pool = self.clone();
        if kind == Kind::Search {
            let (tx, rx) = tokio::sync::oneshot::channel();
            let job: Job = Box::new(move || drop(tx.send(pool.run(read))));
            let sent = self.search_jobs.lock().expect("jobs lock").send(job);
            sent.map_err(|_| StoreError::Failed("the search threads are gone".into()))?;
            return rx
                .await
                .unwrap_or_else(|_| Err(StoreError::Failed("a search was lost".into())));
        }
        tokio::task::spawn_blocking(move || pool.run(read))
            .await
            .unwrap_or_else(|e| Err(StoreError::Failed(format!("read failed: {e}"))))
    }

    /// Runs `read` here, now, on an idle reader (start-up, and the hub's
    /// tests, which have no runtime). With a place taken, one is idle.
    pub fn run<T>(
        &self,
        read: impl FnOnce(&dyn StoreReader) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let reader = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let Some(reader) = reader else {
            return Err(StoreError::Failed("no reader is idle".into()));
        };
        let result = catch_unwind(AssertUnwindSafe(|| read(reader.as_ref())));
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(reader);
        result.unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(StoreError::Failed(format!("a read panicked: {what}")))
        })
    }
}

/// One read counted as pending until dropped (see [`ReaderPool::admit`]).
pub struct Pending(Arc<ReaderPool>);

impl Drop for Pending {
    fn drop(&mut self) {
        self.0.pending.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(count: usize, max_pending: usize) -> (Arc<ReaderPool>, tempfile::TempDir) {
        let (dir, reader, _writer) = crate::store::temp_store();
        let pool = ReaderPool::new(Box::new(reader), count, 1, max_pending).unwrap();
        (Arc::new(pool), dir)
    }

    #[test]
    fn a_read_that_panics_fails_alone_and_the_next_read_works() {
        let (pool, _dir) = pool(1, 10);
        let panicked = pool.run(|_| -> Result<(), StoreError> { panic!("a bug in a read") });
        assert_eq!(
            panicked,
            Err(StoreError::Failed(
                "a read panicked: a bug in a read".into()
            ))
        );
        let rooms = pool.run(|r| r.rooms()).unwrap();
        assert_eq!(rooms[0].name, "general", "the reader came back");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn reads_run_side_by_side_on_readers_of_their_own() {
        let (pool, _dir) = pool(3, 10);
        // Three reads that each wait until all three run at once: with one
        // reader (or a lock around one) this never finishes.
        let barrier = Arc::new(std::sync::Barrier::new(3));
        let reads = (0..3).map(|_| {
            let (pool, barrier) = (pool.clone(), barrier.clone());
            tokio::spawn(async move {
                pool.read(Kind::Plain, move |r| {
                    barrier.wait();
                    r.rooms()
                })
                .await
            })
        });
        let all = futures::future::join_all(reads);
        let done = tokio::time::timeout(std::time::Duration::from_secs(10), all)
            .await
            .expect("three readers at once");
        assert!(done.into_iter().all(|r| r.unwrap().is_ok()));
    }

    #[tokio::test]
    async fn a_search_runs_on_a_search_thread_at_the_lowest_priority() {
        let (pool, _dir) = pool(2, 10);
        let (name, nice) = pool
            .read(Kind::Search, |_| {
                let name = std::thread::current().name().map(str::to_owned);
                // SAFETY: getpriority has no memory-safety preconditions.
                let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
                Ok((name, nice))
            })
            .await
            .unwrap();
        assert_eq!((name.as_deref(), nice), (Some("search-0"), SEARCH_NICE));
        let plain = pool
            .read(Kind::Plain, |_| {
                Ok(unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) })
            })
            .await
            .unwrap();
        assert_eq!(plain, 0, "other reads keep the normal priority");
    }

    #[test]
    fn pending_reads_are_bounded_at_the_limit_and_counted_off_when_done() {
        let (pool, _dir) = pool(1, 2);
        let a = pool.admit().unwrap();
        let b = pool.admit().unwrap();
        assert_eq!(pool.admit().err(), Some(Busy), "one past the bound");
        assert_eq!(pool.pending(), 2);
        drop(a);
        let _c = pool.admit().expect("a place again");
        drop(b);
        assert_eq!(pool.pending(), 1);
    }
}
