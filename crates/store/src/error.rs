use latchkey_core::Error;

/// Which unique value a write collided with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conflict {
    Email,
    Username,
    Other,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("a unique value is already taken: {0:?}")]
    Conflict(Conflict),
    #[error("the token is unknown, used, expired or for another purpose")]
    TokenUnusable,
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// Sorts a sqlx error into a conflict on a named unique key, or keeps it.
    pub(crate) fn from_write(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e
            && db.is_unique_violation()
        {
            let text = format!("{} {}", db.constraint().unwrap_or_default(), db.message());
            let which = if text.contains("email_key") {
                Conflict::Email
            } else if text.contains("username_key") {
                Conflict::Username
            } else {
                Conflict::Other
            };
            return Self::Conflict(which);
        }
        Self::Database(e)
    }
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(Conflict::Username) => Error::UsernameTaken,
            StoreError::Database(
                sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed,
            ) => Error::Unavailable,
            other => Error::Internal(other.to_string()),
        }
    }
}
