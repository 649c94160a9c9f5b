//! The scale-out backend: any number of Latchkey nodes share one Postgres.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use crate::group_commit::{GroupCommit, Unit};
use crate::{Backend, Result, Store};

#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// The same pool: Postgres takes concurrent writers itself. (The SQL
    /// shared with SQLite sends writes here and reads to `pool`.)
    writer: PgPool,
    /// Refresh rotations and units of work share transactions.
    group: GroupCommit<sqlx::Postgres>,
}

/// Committer tasks (each holding one connection while it commits a batch).
const COMMITTERS: usize = 2;
/// The longest a request waits for a connection. While Postgres is down
/// every wait ends here, so requests get a quick 503 rather than hang.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(2);
/// Postgres ends any statement that runs longer (a lock wait, a stuck
/// plan), so no request holds a connection without bound.
const STATEMENT_TIMEOUT_MS: u32 = 5_000;

impl PgStore {
    pub async fn open(url: &str) -> Result<Self> {
        let options = PgConnectOptions::from_str(url)?
            .application_name("latchkey")
            .options([("statement_timeout", STATEMENT_TIMEOUT_MS)]);
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        Ok(Self {
            group: GroupCommit::start(pool.clone(), COMMITTERS),
            writer: pool.clone(),
            pool,
        })
    }
}

impl PgStore {
    /// Runs a unit of work through group commit (see [`GroupCommit`]).
    async fn write_unit<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnMut(&'c mut sqlx::PgConnection) -> Unit<'c, T> + Send + 'static,
    {
        self.group.write(work).await
    }
}

mod queries {
    use super::PgStore;
    crate::sql::impl_sql_store!(PgStore, sqlx::PgConnection);
    crate::sql_audit::impl_sql_audit!(PgStore, sqlx::PgConnection);
    crate::sql_unit_of_work::impl_sql_unit_of_work!(PgStore, sqlx::PgConnection);
    crate::sql_mfa::impl_sql_mfa!(PgStore);
    crate::sql_outbox::impl_sql_outbox!(PgStore, " FOR UPDATE SKIP LOCKED");
}

#[async_trait]
impl Store for PgStore {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn migrate(&self) -> Result<()> {
        sqlx::migrate!("./migrations/postgres")
            .run(&self.pool)
            .await?;
        Ok(())
    }
}
