//! How much uploading may be asked for: uploads per identity and per
//! client address (token buckets, 429 past them), and images waiting to be
//! re-made (503 past [`Config::image_queue`]). Both are decided before a
//! byte of the body is stored or a pixel decoded, and neither needs the
//! hub: a mutex held for a map lookup, and an atomic counter.

use crate::server::accounts::refuse_json;
use crate::server::config::Config;
use crate::server::hub::{addr_key, limit_bucket, Bucket};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Semaphore, SemaphorePermit};

/// Images re-made at once (each may hold `CHAT_MAX_IMAGE_MEGAPIXELS` × 4
/// bytes of pixels); the rest wait their turn, at most
/// [`Config::image_queue`] of them.
const IMAGE_JOBS: usize = 1;

/// The upload allowances; see the module docs.
pub(super) struct UploadLimits {
    /// Uploads a minute and burst, per identity.
    per_identity: (f64, f64),
    /// Uploads a minute and burst, per address (IPv6 by /64).
    per_addr: (f64, f64),
    /// The buckets.
    buckets: Mutex<Buckets>,
}

/// The buckets, by identity and by address.
#[derive(Default)]
struct Buckets {
    /// By identity.
    by_identity: HashMap<Arc<str>, Bucket>,
    /// By address key.
    by_addr: HashMap<IpAddr, Bucket>,
}

impl UploadLimits {
    pub(super) fn new(config: &Config) -> UploadLimits {
        UploadLimits {
            per_identity: (config.upload_rate_per_min / 60.0, config.upload_burst),
            per_addr: (
                config.upload_addr_rate_per_min / 60.0,
                config.upload_addr_burst,
            ),
            buckets: Mutex::default(),
        }
    }

    /// Takes one upload from `identity`'s allowance and `addr`'s, from
    /// neither unless both allow it; which did not otherwise.
    pub(super) fn take(&self, identity: &Arc<str>, addr: IpAddr) -> Result<(), Limited> {
        let (id_rate, id_burst) = self.per_identity;
        let (addr_rate, addr_burst) = self.per_addr;
        let addr = addr_key(addr);
        let mut buckets = self.buckets.lock().expect("upload limits lock");
        let Buckets {
            by_identity,
            by_addr,
        } = &mut *buckets;
        let mine = limit_bucket(by_identity, identity.clone(), id_rate, id_burst);
        if !mine.ready(id_rate, id_burst) {
            let wait = mine.wait(id_rate, id_burst);
            return Err(Limited::new(wait, self.per_identity, "per person"));
        }
        let ours = limit_bucket(by_addr, addr, addr_rate, addr_burst);
        if !ours.ready(addr_rate, addr_burst) {
            let wait = ours.wait(addr_rate, addr_burst);
            return Err(Limited::new(wait, self.per_addr, "from one address"));
        }
        ours.take(addr_rate, addr_burst);
        limit_bucket(by_identity, identity.clone(), id_rate, id_burst).take(id_rate, id_burst);
        Ok(())
    }
}

/// An allowance that did not allow an upload.
#[derive(Debug)]
pub(super) struct Limited {
    /// Until it would.
    wait: Duration,
    /// Its uploads a second and burst.
    allowance: (f64, f64),
    /// Whose ("per person", "from one address").
    what: &'static str,
}

impl Limited {
    fn new(wait: Duration, allowance: (f64, f64), what: &'static str) -> Limited {
        Limited {
            wait,
            allowance,
            what,
        }
    }

    /// 429 `rate_limited`, with when to try again (`Retry-After`).
    pub(super) fn response(&self) -> Response {
        let secs = self.wait.as_secs_f64().ceil().max(1.0) as u64;
        let (rate, burst) = self.allowance;
        let why = format!(
            "slow down: at most {} uploads a minute {} (bursts of {burst}); try again in {secs} s",
            rate * 60.0,
            self.what
        );
        with_retry_after(
            refuse_json(StatusCode::TOO_MANY_REQUESTS, "rate_limited", why),
            secs,
        )
    }
}

/// `answer` with `Retry-After: secs`.
fn with_retry_after(mut answer: Response, secs: u64) -> Response {
    answer
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    answer
}

/// The image queue is full.
#[derive(Debug)]
pub(super) struct QueueFull;

impl QueueFull {
    /// 503 `unavailable`, with `Retry-After`.
    pub(super) fn response(&self) -> Response {
        let why = "the server is making other images; try again in a moment";
        with_retry_after(
            refuse_json(StatusCode::SERVICE_UNAVAILABLE, "unavailable", why),
            2,
        )
    }
}

/// Images being re-made or waiting to be.
#[derive(Debug)]
pub(crate) struct ImageQueue {
    /// Places to run ([`IMAGE_JOBS`]).
    run: Semaphore,
    /// Images admitted: running and waiting.
    admitted: AtomicUsize,
    /// Most admitted: [`IMAGE_JOBS`] + [`Config::image_queue`].
    most: usize,
}

impl ImageQueue {
    pub(super) fn new(config: &Config) -> ImageQueue {
        ImageQueue {
            run: Semaphore::new(IMAGE_JOBS),
            admitted: AtomicUsize::new(0),
            most: IMAGE_JOBS + config.image_queue,
        }
    }

    /// A place in the queue, or (when it is full) nothing taken.
    pub(super) fn admit(&self) -> Result<Place<'_>, QueueFull> {
        let admitted = self
            .admitted
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.most).then_some(n + 1)
            });
        match admitted {
            Ok(_) => Ok(Place { queue: self }),
            Err(_) => Err(QueueFull),
        }
    }

    /// Images running and waiting now (the `chat_image_jobs` gauge).
    pub(crate) fn depth(&self) -> usize {
        self.admitted.load(Ordering::Acquire)
    }
}

/// A place in the [`ImageQueue`], given back when dropped.
#[derive(Debug)]
pub(super) struct Place<'a> {
    /// Whose.
    queue: &'a ImageQueue,
}

impl Place<'_> {
    /// Waits for a turn to run (`None`: the server is stopping).
    pub(super) async fn turn(&self) -> Option<SemaphorePermit<'_>> {
        self.queue.run.acquire().await.ok()
    }
}

impl Drop for Place<'_> {
    fn drop(&mut self) {
        self.queue.admitted.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(image_queue: usize, per_min: f64, burst: f64) -> Config {
        Config {
            image_queue,
            upload_rate_per_min: per_min,
            upload_burst: burst,
            upload_addr_rate_per_min: per_min * 2.0,
            upload_addr_burst: burst * 2.0,
            ..Config::default()
        }
    }

    #[test]
    fn the_image_queue_admits_its_bound_refuses_one_past_and_frees_a_place_when_one_ends() {
        let queue = ImageQueue::new(&config(2, 1.0, 1.0));
        let places: Vec<_> = (0..IMAGE_JOBS + 2).map(|_| queue.admit()).collect();
        assert!(places.iter().all(Result::is_ok));
        assert_eq!(queue.depth(), 3);
        let refused = queue.admit().expect_err("one past the bound").response();
        assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(refused.headers().contains_key(header::RETRY_AFTER));
        drop(places);
        assert_eq!(queue.depth(), 0);
        assert!(queue.admit().is_ok());
    }

    #[test]
    fn an_identity_gets_its_burst_and_an_address_twice_that_across_identities() {
        let limits = UploadLimits::new(&config(0, 1e-9, 2.0));
        let (a, b, c): (Arc<str>, Arc<str>, Arc<str>) = ("a".into(), "b".into(), "c".into());
        let addr: IpAddr = "192.0.2.1".parse().unwrap();
        assert!(limits.take(&a, addr).is_ok());
        assert!(limits.take(&a, addr).is_ok());
        let refused = limits
            .take(&a, addr)
            .expect_err("past a's burst")
            .response();
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(refused.headers().contains_key(header::RETRY_AFTER));
        // A refused upload took nothing from the address: b has two more.
        assert!(limits.take(&b, addr).is_ok());
        assert!(limits.take(&b, addr).is_ok());
        assert_eq!(
            limits.take(&c, addr).err().map(|r| r.response().status()),
            Some(StatusCode::TOO_MANY_REQUESTS),
            "past the address's burst of 4"
        );
        // Another address is another allowance.
        assert!(limits.take(&c, "192.0.2.2".parse().unwrap()).is_ok());
    }
}
