//! A bounded pool of threads for password hashing, off the async runtime.
//! At most `threads + queue` jobs are running or waiting; past that a job is
//! refused at once (the request gets 503 with Retry-After) instead of
//! waiting without bound.
//!
//! A place can be reserved before a request does anything else
//! ([`HashPool::reserve`]), so a login that would be refused stops before
//! its lookups and before it counts as an attempt on the account.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use latchkey_core::Error;

type Job = Box<dyn FnOnce() + Send>;

#[derive(Debug, Clone)]
pub struct HashPool {
    jobs: SyncSender<Job>,
    /// Jobs reserved, waiting or running.
    taken: Arc<AtomicUsize>,
    places: usize,
    threads: usize,
}

pub const QUEUE_DEPTH_METRIC: &str = "latchkey_hash_pool_queue_depth";

/// A place in the pool, held from [`HashPool::reserve`] until its job is
/// done (or the reservation is dropped unused).
#[derive(Debug)]
pub struct Reservation {
    pool: HashPool,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let left = self.pool.taken.fetch_sub(1, Ordering::SeqCst) - 1;
        self.pool.report_depth(left);
    }
}

impl Reservation {
    /// Runs `f` on a pool thread and waits for its answer.
    pub async fn run<T, F>(self, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let jobs = self.pool.jobs.clone();
        // The reservation travels with the job and frees its place as soon
        // as the job has run, before the caller hears back (so a caller's
        // next request never finds its own place still taken).
        let job: Job = Box::new(move || {
            let output = f();
            drop(self);
            let _ = tx.send(output);
        });
        // Never full: the channel has room for every place.
        jobs.try_send(job)
            .map_err(|_| Error::Internal("the hash pool has stopped".into()))?;
        rx.await
            .map_err(|_| Error::Internal("a hash job was dropped".into()))
    }
}

impl HashPool {
    pub fn new(threads: usize, queue: usize) -> std::io::Result<Self> {
        let threads = threads.max(1);
        let places = threads + queue;
        let (jobs, rx) = sync_channel::<Job>(places);
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("latchkey-hash-{i}"))
                .spawn(move || work(&rx))?;
        }
        Ok(Self {
            jobs,
            taken: Arc::new(AtomicUsize::new(0)),
            places,
            threads,
        })
    }

    /// A place for one job, or 503 when every place is taken.
    pub fn reserve(&self) -> Result<Reservation, Error> {
        let mut taken = self.taken.load(Ordering::SeqCst);
        loop {
            if taken >= self.places {
                metrics::counter!("latchkey_hash_pool_rejected_total").increment(1);
                return Err(Error::Overloaded {
                    retry_after_secs: 1,
                });
            }
            match self.taken.compare_exchange_weak(
                taken,
                taken + 1,
                Ordering::SeqCst,
                Ordering::SeqCst,
            ) {
                Ok(_) => break,
                Err(now) => taken = now,
            }
        }
        self.report_depth(taken + 1);
        Ok(Reservation { pool: self.clone() })
    }

    /// The queue-depth gauge: the places taken beyond the running threads.
    fn report_depth(&self, taken: usize) {
        metrics::gauge!(QUEUE_DEPTH_METRIC).set(taken.saturating_sub(self.threads) as f64);
    }

    /// Reserves a place and runs `f` there.
    pub async fn run<T, F>(&self, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        self.reserve()?.run(f).await
    }
}

fn work(rx: &Mutex<Receiver<Job>>) {
    loop {
        let job = match rx.lock() {
            Ok(guard) => guard.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        job();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn runs_jobs_and_refuses_when_full() {
        let pool = HashPool::new(1, 1).unwrap();
        assert_eq!(pool.run(|| 2 + 2).await.unwrap(), 4);
        // Occupy the thread, fill the one queue slot, then one more is refused.
        let (release, hold) = std::sync::mpsc::channel::<()>();
        let busy = pool.clone();
        let first = tokio::spawn(async move { busy.run(move || hold.recv().ok()).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let queued = pool.clone();
        let second = tokio::spawn(async move { queued.run(|| 1).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        let third = pool.run(|| 1).await;
        assert!(matches!(third, Err(Error::Overloaded { .. })), "{third:?}");
        release.send(()).unwrap();
        assert!(first.await.unwrap().is_ok());
        assert_eq!(second.await.unwrap().unwrap(), 1);
    }

    #[tokio::test]
    async fn a_reservation_holds_its_place_until_dropped() {
        let pool = HashPool::new(1, 0).unwrap();
        let held = pool.reserve().unwrap();
        assert!(matches!(pool.reserve(), Err(Error::Overloaded { .. })));
        drop(held);
        let again = pool.reserve().unwrap();
        assert_eq!(again.run(|| 7).await.unwrap(), 7);
        // Its job done, the place is free again.
        assert_eq!(pool.run(|| 8).await.unwrap(), 8);
    }
}
