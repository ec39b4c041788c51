//! *1.2*: passwords: the rules a new one must meet, and Argon2id hashing
//! and verification on threads of their own.
//!
//! A hash costs tens of milliseconds of one core and 19 MiB (OWASP's
//! minimum for Argon2id: m = 19 MiB, t = 2, p = 1; the measured cost is in
//! the README), so it never runs on the hub or on tokio's workers, and
//! never without bound: [`Hasher`] has a fixed number of threads and a
//! bounded queue, and a request that finds the queue full is refused at
//! once ([`Busy`]) instead of waiting, so a flood of sign-ins costs the
//! flood, not the chat or the blocking pool.
//!
//! An unknown name is verified against a dummy hash made with the same
//! parameters, so it takes the time a wrong password takes.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;
use tokio::sync::oneshot;

/// Fewest characters a password may have.
pub(crate) const MIN_PASSWORD_CHARS: usize = 8;
/// Most characters a password may have (hashing cost does not grow with
/// it, but the strength check's does).
pub(crate) const MAX_PASSWORD_CHARS: usize = 256;
/// Lowest zxcvbn score accepted (0–4): 3 is "safely unguessable: moderate
/// protection from offline slow-hash scenario" (10^10 guesses or more).
const MIN_SCORE: zxcvbn::Score = zxcvbn::Score::Three;
/// Characters of a password the strength check reads: zxcvbn's matching
/// grows faster than linearly, and a long password's start is what its
/// strength shows (the rest only adds to it).
const CHECKED_CHARS: usize = 100;

/// Why a new password is refused (the page says the message).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PasswordProblem {
    /// Under [`MIN_PASSWORD_CHARS`].
    Short,
    /// Over [`MAX_PASSWORD_CHARS`].
    Long,
    /// Common, or guessable from the name (zxcvbn below [`MIN_SCORE`]).
    Guessable,
}

impl PasswordProblem {
    /// What the page says.
    pub(crate) fn message(self) -> String {
        match self {
            PasswordProblem::Short => {
                format!("A password needs at least {MIN_PASSWORD_CHARS} characters.")
            }
            PasswordProblem::Long => {
                format!("A password may have at most {MAX_PASSWORD_CHARS} characters.")
            }
            PasswordProblem::Guessable => {
                "That password is too easy to guess (a common password, or close to your name): \
                 try a few unrelated words."
                    .into()
            }
        }
    }
}

/// Checks a new password's length in characters (cheap: a handler may).
pub(crate) fn check_length(password: &str) -> Result<(), PasswordProblem> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(PasswordProblem::Short);
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(PasswordProblem::Long);
    }
    Ok(())
}

/// Checks a new password for `name`: its length, then its strength. The
/// strength check takes milliseconds (zxcvbn: up to 8 ms for
/// [`CHECKED_CHARS`] of a repetitive password, measured on this machine),
/// so it runs on a hashing thread ([`Hasher::hash_new`]).
fn check_new(password: &str, name: &str) -> Result<(), PasswordProblem> {
    check_length(password)?;
    let end = password
        .char_indices()
        .nth(CHECKED_CHARS)
        .map_or(password.len(), |(i, _)| i);
    match zxcvbn::zxcvbn(&password[..end], &[name, "chat"]).score() >= MIN_SCORE {
        true => Ok(()),
        false => Err(PasswordProblem::Guessable),
    }
}

/// The hashing cost: Argon2id's memory (KiB), passes and lanes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cost {
    /// Memory per hash, KiB.
    pub(crate) memory_kib: u32,
    /// Passes over it.
    pub(crate) passes: u32,
    /// Lanes (threads of one hash; 1 here: the pool gives the parallelism).
    pub(crate) lanes: u32,
}

impl Cost {
    /// OWASP's minimum for Argon2id (m = 19 MiB, t = 2, p = 1).
    pub(crate) const OWASP: Cost = Cost {
        memory_kib: 19 * 1024,
        passes: 2,
        lanes: 1,
    };

    /// The hasher for this cost.
    fn argon2(self) -> Argon2<'static> {
        let params = Params::new(self.memory_kib, self.passes, self.lanes, None)
            .expect("Argon2 parameters within its bounds");
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
    }
}

/// The hashing threads' queue is full: the request is refused at once
/// (503 with `Retry-After`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Busy;

/// A job for a hashing thread.
type Job = Box<dyn FnOnce(&Argon2<'static>) + Send>;

/// Hashing and verification off the hub and off tokio's workers; see the
/// module docs.
#[derive(Clone)]
pub(crate) struct Hasher {
    /// The threads' queue (bounded: a full one is [`Busy`]).
    jobs: SyncSender<Job>,
    /// A hash of a password no one has, for unknown names.
    dummy: Arc<str>,
}

impl Hasher {
    /// Starts `threads` hashing threads at `cost`, with room for `queue`
    /// waiting jobs.
    pub(crate) fn start(threads: usize, queue: usize, cost: Cost) -> std::io::Result<Hasher> {
        let (jobs, rx) = sync_channel::<Job>(queue);
        let run = |argon2: &Argon2<'static>, job: Job| job(argon2);
        // At the lowest CPU priority, as searches: a flood of sign-ins
        // costs the sign-ins, not the chat sharing their core.
        let setup = move || {
            crate::store::pool::lowest_priority("hashing");
            cost.argon2()
        };
        crate::store::pool::job_threads("hash", threads, rx, setup, run)?;
        let dummy = hash_with(&cost.argon2(), &crate::server::cookies::random_hex(16));
        Ok(Hasher {
            jobs,
            dummy: Arc::from(dummy),
        })
    }

    /// Runs `work` on a hashing thread.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Argon2<'static>) -> T + Send + 'static,
    ) -> Result<T, Busy> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |argon2| {
            let _ = tx.send(work(argon2));
        });
        match self.jobs.try_send(job) {
            Ok(()) => rx.await.map_err(|_| Busy),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => Err(Busy),
        }
    }

    /// The PHC string (`$argon2id$v=19$...`) of `password`, with a fresh salt.
    #[cfg(test)]
    async fn hash(&self, password: String) -> Result<String, Busy> {
        self.run(move |argon2| hash_with(argon2, &password)).await
    }

    /// A new password for `name` checked ([`check_new`]) and, when it
    /// passes, hashed: its PHC string (`$argon2id$v=19$...`), fresh salt.
    pub(crate) async fn hash_new(
        &self,
        password: String,
        name: String,
    ) -> Result<Result<String, PasswordProblem>, Busy> {
        self.run(move |argon2| {
            check_new(&password, &name)?;
            Ok(hash_with(argon2, &password))
        })
        .await
    }

    /// True when `password` matches `phc`. `None` (an unknown name) is
    /// checked against the dummy hash, so it costs the same, and is false.
    pub(crate) async fn verify(&self, password: String, phc: Option<String>) -> Result<bool, Busy> {
        let known = phc.is_some();
        let phc = phc.unwrap_or_else(|| self.dummy.to_string());
        let matched = self
            .run(move |argon2| match PasswordHash::new(&phc) {
                Ok(hash) => argon2.verify_password(password.as_bytes(), &hash).is_ok(),
                Err(_) => false, // a stored hash this build cannot read
            })
            .await?;
        Ok(known && matched)
    }
}

/// `password` hashed by `argon2` with a fresh 128-bit salt.
fn hash_with(argon2: &Argon2<'static>, password: &str) -> String {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).expect("the OS random source works");
    let salt = SaltString::encode_b64(&salt).expect("16 bytes make a salt");
    argon2
        .hash_password(password.as_bytes(), &salt)
        .expect("a password hashes")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cheap cost for tests that do not measure it.
    const CHEAP: Cost = Cost {
        memory_kib: 64,
        passes: 1,
        lanes: 1,
    };

    #[test]
    fn a_password_has_8_to_256_characters_counted_as_characters() {
        let strong = "vexed quartz jumps fog";
        assert_eq!(
            check_new(&"é".repeat(7), "ada"),
            Err(PasswordProblem::Short)
        );
        assert_eq!(check_new(&strong[..7], "ada"), Err(PasswordProblem::Short));
        // 8 characters (16 bytes) is long enough; its strength decides.
        assert_ne!(check_new("éàüöçñøå", "ada"), Err(PasswordProblem::Short));
        let at_bound: String = strong.chars().cycle().take(MAX_PASSWORD_CHARS).collect();
        assert_eq!(check_new(&at_bound, "ada"), Ok(()));
        let past: String = strong
            .chars()
            .cycle()
            .take(MAX_PASSWORD_CHARS + 1)
            .collect();
        assert_eq!(check_new(&past, "ada"), Err(PasswordProblem::Long));
    }

    #[test]
    fn common_passwords_and_ones_made_of_the_name_are_refused() {
        for weak in [
            "password",
            "12345678",
            "qwertyuiop",
            "iloveyou1",
            "Password1!",
        ] {
            assert_eq!(
                check_new(weak, "ada"),
                Err(PasswordProblem::Guessable),
                "{weak}"
            );
        }
        assert_eq!(
            check_new("lovelace", "lovelace"),
            Err(PasswordProblem::Guessable)
        );
        assert_eq!(check_new("vexed quartz jumps fog", "ada"), Ok(()));
    }

    #[tokio::test]
    async fn a_hash_is_an_argon2id_phc_string_at_the_cost_and_verifies_only_its_password() {
        let hasher = Hasher::start(1, 4, Cost::OWASP).unwrap();
        let new = |pw: &str| hasher.hash_new(pw.into(), "ada".into());
        assert_eq!(new("password").await, Ok(Err(PasswordProblem::Guessable)));
        assert_eq!(new("short").await, Ok(Err(PasswordProblem::Short)));
        let phc = new("vexed quartz jumps fog").await.unwrap().unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(!phc.contains("vexed"));
        let again = hasher.hash("vexed quartz jumps fog".into()).await.unwrap();
        assert_ne!(phc, again, "each hash has its own salt");
        let ok = |pw: &str, phc: Option<&str>| hasher.verify(pw.into(), phc.map(str::to_owned));
        assert_eq!(ok("vexed quartz jumps fog", Some(&phc)).await, Ok(true));
        assert_eq!(ok("vexed quartz jumps fo", Some(&phc)).await, Ok(false));
        assert_eq!(ok("vexed quartz jumps fog", None).await, Ok(false));
        assert_eq!(
            ok("vexed quartz jumps fog", Some("not a hash")).await,
            Ok(false)
        );
    }

    #[test]
    fn the_queue_holds_its_bound_and_refuses_one_past_it_at_once() {
        use futures::FutureExt;
        // The one thread held by a job of ours, so nothing leaves the
        // queue until we let it: its bound is exact. A first poll queues
        // a job (then waits for it: pending).
        let hasher = Hasher::start(1, 2, CHEAP).unwrap();
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let (started, taken) = std::sync::mpsc::channel::<()>();
        let hold = hasher.run(move |_| {
            started.send(()).unwrap();
            let _ = gate.recv();
        });
        assert!(hold.now_or_never().is_none());
        taken.recv().unwrap(); // the thread runs it: the queue is empty
        for _ in 0..2 {
            assert_eq!(hasher.hash("x".into()).now_or_never(), None, "queued");
        }
        assert_eq!(hasher.hash("x".into()).now_or_never(), Some(Err(Busy)));
        let verify = hasher.verify("x".into(), None).now_or_never();
        assert_eq!(verify, Some(Err(Busy)), "a verification too");
        release.send(()).unwrap();
    }
}
