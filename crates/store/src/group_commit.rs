//! Group commit for the embedded backend.
//!
//! SQLite has one writer and syncs its log to disk on every commit, so
//! writes that each commit alone run one after another, each paying a sync.
//! Units of work sent here instead are run back to back by one task in one
//! transaction, which then commits (and syncs) once for all of them. Nobody
//! is answered before that commit: an acknowledged write is as durable as
//! before, only cheaper.
//!
//! A unit that fails spoils its batch's transaction, so the batch is rolled
//! back and every unit in it runs again alone, each getting its own answer.
//! Units must therefore be repeatable: each run starts from a rolled-back
//! state, so a unit that only talks to the database is.

use std::future::Future;
use std::pin::Pin;

use sqlx::{Acquire, SqliteConnection, SqlitePool};
use tokio::sync::{mpsc, oneshot};

use crate::{Result, StoreError};

/// Units waiting beyond this make their callers wait to queue.
const QUEUE: usize = 1024;
/// At most this many units share one transaction.
const MAX_BATCH: usize = 64;

pub type Unit<'c, T> = Pin<Box<dyn Future<Output = Result<T>> + Send + 'c>>;

/// One caller's unit, type-erased so that units of any output can queue
/// together.
trait Job: Send {
    /// Runs the unit inside the current transaction, keeping its output.
    fn run<'c>(&'c mut self, conn: &'c mut SqliteConnection) -> Unit<'c, ()>;
    /// Answers the caller: the kept output if `committed` is `Ok`.
    fn answer(self: Box<Self>, committed: Result<()>);
}

struct Typed<T, F> {
    work: F,
    output: Option<T>,
    reply: oneshot::Sender<Result<T>>,
}

impl<T, F> Job for Typed<T, F>
where
    T: Send,
    F: for<'c> FnMut(&'c mut SqliteConnection) -> Unit<'c, T> + Send,
{
    fn run<'c>(&'c mut self, conn: &'c mut SqliteConnection) -> Unit<'c, ()> {
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

/// The handle units are sent through; cheap to clone.
#[derive(Debug, Clone)]
pub struct GroupCommit {
    queue: mpsc::Sender<Box<dyn Job>>,
}

impl std::fmt::Debug for dyn Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Job")
    }
}

impl GroupCommit {
    /// Starts the task that runs units on `writer`'s connection. It stops
    /// when every handle is gone.
    pub fn start(writer: SqlitePool) -> Self {
        let (queue, units) = mpsc::channel(QUEUE);
        tokio::spawn(run(writer, units));
        Self { queue }
    }

    /// Runs `work` in a transaction shared with whatever else is queued, and
    /// answers once that transaction has committed.
    pub async fn write<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnMut(&'c mut SqliteConnection) -> Unit<'c, T> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(Typed {
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

async fn run(writer: SqlitePool, mut units: mpsc::Receiver<Box<dyn Job>>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while units.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let together = run_together(&writer, &mut batch).await;
        match together {
            Ok(()) => batch.drain(..).for_each(|job| job.answer(Ok(()))),
            Err(error) if batch.len() == 1 => {
                if let Some(job) = batch.pop() {
                    job.answer(Err(error));
                }
            }
            Err(_) => {
                for mut job in batch.drain(..) {
                    let alone = run_together(&writer, std::slice::from_mut(&mut job)).await;
                    job.answer(alone);
                }
            }
        }
    }
}

/// One transaction for all of `jobs`, committed only if every one succeeds.
async fn run_together(writer: &SqlitePool, jobs: &mut [Box<dyn Job>]) -> Result<()> {
    let mut conn = writer.acquire().await?;
    let mut tx = conn.begin().await?;
    for job in jobs.iter_mut() {
        job.run(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(())
}
