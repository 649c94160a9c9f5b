//! The embedded backend: SQLite in WAL mode with full fsync on commit, so an
//! acknowledged write survives `kill -9` and power loss alike.

use std::os::unix::fs::PermissionsExt;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use crate::group_commit::{GroupCommit, Unit};
use crate::{Backend, Result, Store, StoreError};

/// Two pools on one file. Writes go through exactly one connection, so they
/// queue in order inside the process instead of colliding on SQLite's write
/// lock (where a loser sleeps in the busy handler for milliseconds). Reads use
/// read-only connections, which in WAL mode never wait for the writer.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    writer: SqlitePool,
    /// Refresh rotations and units of work share transactions.
    group: GroupCommit<sqlx::Sqlite>,
}

/// Read connections: enough for the cores, each with its own page cache.
const READERS: u32 = 4;

impl SqliteStore {
    pub async fn open(url: &str) -> Result<Self> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let file = options.get_filename().to_path_buf();
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await?;
        let pool = SqlitePoolOptions::new()
            .max_connections(READERS)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.create_if_missing(false).read_only(true))
            .await?;
        // The file holds password hashes: owner only. SQLite gives the WAL
        // and shared-memory files the same mode.
        if file.is_file() {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
        }
        Ok(Self {
            pool,
            group: GroupCommit::start(writer.clone(), 1),
            writer,
        })
    }
}

impl SqliteStore {
    /// Runs a unit of work through group commit (see [`GroupCommit`]).
    async fn write_unit<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: for<'c> FnMut(&'c mut sqlx::SqliteConnection) -> Unit<'c, T> + Send + 'static,
    {
        self.group.write(work).await
    }
}

mod queries {
    use super::SqliteStore;
    crate::sql::impl_sql_store!(SqliteStore, sqlx::SqliteConnection);
    crate::sql_audit::impl_sql_audit!(SqliteStore, sqlx::SqliteConnection);
    crate::sql_unit_of_work::impl_sql_unit_of_work!(SqliteStore, sqlx::SqliteConnection);
    crate::sql_mfa::impl_sql_mfa!(SqliteStore);
    crate::sql_outbox::impl_sql_outbox!(SqliteStore, "");
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn ping(&self) -> Result<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn migrate(&self) -> Result<()> {
        sqlx::migrate!("./migrations/sqlite")
            .run(&self.writer)
            .await?;
        Ok(())
    }
}
