//! Group commit.
//!
//! Every commit syncs the database's log to disk, and a write that commits
//! alone also pays its own `BEGIN` and `COMMIT` round trips. Units of work
//! sent here are instead run back to back by a committer task in one
//! transaction, which then commits (and syncs) once for all of them. Nobody
//! is answered before that commit: an acknowledged write is as durable as
//! before, only cheaper. SQLite (one writer) has one committer; Postgres a
//! few, each on its own connection.
//!
//! A unit that fails spoils its batch's transaction, so the batch is rolled
//! back and every unit in it runs again alone, each getting its own answer.
//! A commit that fails is not retried (it may have gone through), and every
//! unit in the batch gets the error.
//! Units must therefore be repeatable: each run starts from a rolled-back
//! state, so a unit that only talks to the database is.

use std::future::Future;
use std::pin::Pin;

use std::sync::Arc;

use sqlx::{Database, Pool};
use tokio::sync::{Mutex, mpsc, oneshot};

use crate::{Result, StoreError};

/// Units waiting beyond this make their callers wait to queue.
const QUEUE: usize = 1024;
/// At most this many units share one transaction.
const MAX_BATCH: usize = 64;

pub type Unit<'c, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'c>>;

/// One caller's unit, type-erased so that units of any output can queue
/// together.
trait Job<C>: Send {
    /// Runs the unit inside the current transaction, keeping its output.
    fn run<'c>(&'c mut self, conn: &'c mut C) -> Unit<'c, ()>;
    /// Answers the caller: the kept output if `committed` is `Ok`.
    fn answer(self: Box<Self>, committed: Result<()>);
}

struct Typed<T, F> {
    work: F,
    output: Option<T>,
    reply: oneshot::Sender<Result<T>>,
}

impl<C, T, F> Job<C> for Typed<T, F>
where
    C: Send,
    T: Send,
    F: for<'c> FnMut(&'c mut C) -> Unit<'c, T> + Send,
{
    fn run<'c>(&'c mut self, conn: &'c mut C) -> Unit<'c, ()> {
        Box::pin(async move {
            self.output = Some((self.work)(conn).await?);
            Ok(())
        })
    }

    fn answer(self: Box<Self>, committed: Result<()>) {
        let Self { output, reply, .. } = *self;
        let answer = committed.and_then(|()| {
            output.ok_or_else(|| StoreError::Corrupt("a committed unit left no output".into()))
        });
        // The caller may have gone away; the unit is committed all the same.
        let _ = reply.send(answer);
    }
}

type Queued<DB> = Box<dyn Job<<DB as Database>::Connection>>;

/// The handle units are sent through; cheap to clone.
pub struct GroupCommit<DB: Database> {
    queue: mpsc::Sender<Queued<DB>>,
}

impl<DB: Database> Clone for GroupCommit<DB> {
    fn clone(&self) -> Self {
        Self {
            queue: self.queue.clone(),
        }
    }
}

impl<DB: Database> std::fmt::Debug for GroupCommit<DB> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCommit").finish_non_exhaustive()
    }
}

impl<DB: Database> GroupCommit<DB> {
    /// Starts `committers` tasks that run units on connections of `pool`.
    /// They stop when every handle is gone.
    pub fn start(pool: Pool<DB>, committers: usize) -> Self {
        let (queue, units) = mpsc::channel(QUEUE);
        let units = Arc::new(Mutex::new(units));
        for _ in 0..committers.max(1) {
            tokio::spawn(run(pool.clone(), units.clone()));
        }
        Self { queue }
    }

    /// Runs `work` in a transaction shared with whatever else is queued, and
    /// answers once that transaction has committed.
    pub async fn write<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnMut(&'c mut DB::Connection) -> Unit<'c, T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Queued<DB> = Box::new(Typed {
            work,
            output: None,
            reply,
        });
        self.queue.send(job).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn stopped() -> StoreError {
    StoreError::Database(sqlx::Error::PoolClosed)
}

async fn run<DB: Database>(pool: Pool<DB>, units: Arc<Mutex<mpsc::Receiver<Queued<DB>>>>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    loop {
        // One committer at a time takes what is queued; the others wait
        // for the next batch while this one runs.
        if units.lock().await.recv_many(&mut batch, MAX_BATCH).await == 0 {
            return;
        }
        match run_together(&pool, &mut batch).await {
            Ok(()) => batch.drain(..).for_each(|job| job.answer(Ok(()))),
            // A unit failed before the commit, so nothing was written: each
            // unit runs again alone, to get its own answer.
            Err(Failed::Unit(_)) if batch.len() > 1 => {
                for mut job in batch.drain(..) {
                    let alone = run_together(&pool, std::slice::from_mut(&mut job))
                        .await
                        .map_err(Failed::into_error);
                    job.answer(alone);
                }
            }
            Err(failed) if batch.len() == 1 => {
                if let Some(job) = batch.pop() {
                    job.answer(Err(failed.into_error()));
                }
            }
            // A failed commit may still have committed (a connection lost
            // after sending it): running the units again could apply them
            // twice, so everyone gets the error.
            Err(failed) => {
                let message = failed.into_error().to_string();
                batch.drain(..).for_each(|job| {
                    job.answer(Err(StoreError::Database(sqlx::Error::Protocol(
                        message.clone(),
                    ))));
                });
            }
        }
    }
}

/// Where a batch failed.
enum Failed {
    /// Starting the transaction or running a unit: nothing was written.
    Unit(StoreError),
    /// The commit itself: its outcome is not known for certain.
    Commit(StoreError),
}

impl Failed {
    fn into_error(self) -> StoreError {
        match self {
            Self::Unit(e) | Self::Commit(e) => e,
        }
    }
}

/// One transaction for all of `jobs`, committed only if every one succeeds.
async fn run_together<DB: Database>(
    pool: &Pool<DB>,
    jobs: &mut [Queued<DB>],
) -> std::result::Result<(), Failed> {
    let mut tx = pool.begin().await.map_err(|e| Failed::Unit(e.into()))?;
    for job in jobs.iter_mut() {
        job.run(&mut tx).await.map_err(Failed::Unit)?;
    }
    tx.commit().await.map_err(|e| Failed::Commit(e.into()))
}
