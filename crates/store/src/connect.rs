//! Chooses the backend once, from the database URL.

use std::sync::Arc;

use crate::postgres::PgStore;
use crate::sqlite::SqliteStore;
use crate::{Result, Store};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// `None` when the URL names neither backend.
    pub fn from_url(url: &str) -> Option<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Self::Postgres)
        } else if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else {
            None
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Sqlite => "sqlite",
            Self::Postgres => "postgres",
        }
    }
}

/// The embedded default: a SQLite file inside the data directory.
pub fn sqlite_url_in(dir: &std::path::Path) -> String {
    format!("sqlite://{}/latchkey.db", dir.display())
}

/// Opens the store a URL names. Call [`Store::migrate`] before use.
pub async fn connect(url: &str) -> Result<Arc<dyn Store>> {
    match Backend::from_url(url) {
        Some(Backend::Postgres) => Ok(Arc::new(PgStore::open(url).await?)),
        Some(Backend::Sqlite) => Ok(Arc::new(SqliteStore::open(url).await?)),
        None => Err(crate::StoreError::Database(sqlx::Error::Configuration(
            "the database URL must start with sqlite: or postgres://".into(),
        ))),
    }
}

/// Opens the store and brings its schema up to date.
pub async fn migrate(url: &str) -> Result<Arc<dyn Store>> {
    let store = connect(url).await?;
    store.migrate().await?;
    Ok(store)
}
