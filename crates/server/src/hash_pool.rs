//! A bounded pool of threads for password hashing, off the async runtime.
//! When every thread is busy and the queue is full, a job is refused at once
//! (the request gets 503 with Retry-After) instead of waiting without bound.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};

use latchkey_core::Error;

type Job = Box<dyn FnOnce() + Send>;

#[derive(Debug, Clone)]
pub struct HashPool {
    jobs: SyncSender<Job>,
    waiting: Arc<AtomicUsize>,
}

pub const QUEUE_DEPTH_METRIC: &str = "latchkey_hash_pool_queue_depth";

impl HashPool {
    pub fn new(threads: usize, queue: usize) -> std::io::Result<Self> {
        let (jobs, rx) = sync_channel::<Job>(queue);
        let rx = Arc::new(Mutex::new(rx));
        let waiting = Arc::new(AtomicUsize::new(0));
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            let waiting = waiting.clone();
            std::thread::Builder::new()
                .name(format!("latchkey-hash-{i}"))
                .spawn(move || work(&rx, &waiting))?;
        }
        Ok(Self { jobs, waiting })
    }

    /// Runs `f` on a pool thread and waits for its answer.
    pub async fn run<T, F>(&self, f: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(f());
        });
        // Counted before sending: a worker may take the job at once.
        let depth = self.waiting.fetch_add(1, Ordering::SeqCst) + 1;
        if let Err(refused) = self.jobs.try_send(job) {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            return Err(match refused {
                TrySendError::Full(_) => {
                    metrics::counter!("latchkey_hash_pool_rejected_total").increment(1);
                    Error::Overloaded {
                        retry_after_secs: 1,
                    }
                }
                TrySendError::Disconnected(_) => {
                    Error::Internal("the hash pool has stopped".into())
                }
            });
        }
        metrics::gauge!(QUEUE_DEPTH_METRIC).set(depth as f64);
        rx.await
            .map_err(|_| Error::Internal("a hash job was dropped".into()))
    }
}

fn work(rx: &Mutex<Receiver<Job>>, waiting: &AtomicUsize) {
    loop {
        let job = match rx.lock() {
            Ok(guard) => guard.recv(),
            Err(_) => return,
        };
        let Ok(job) = job else { return };
        let depth = waiting.fetch_sub(1, Ordering::SeqCst).saturating_sub(1);
        metrics::gauge!(QUEUE_DEPTH_METRIC).set(depth as f64);
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
}
