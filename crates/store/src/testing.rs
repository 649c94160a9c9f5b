//! Helpers for tests in this and other crates: a fresh, isolated database
//! per test on either backend.

use sqlx::Connection;

/// Where tests find Postgres: `LATCHKEY_TEST_DATABASE_URL`, or the local
/// default of a development machine.
pub fn postgres_test_url() -> String {
    std::env::var("LATCHKEY_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// True when running under CI, where a missing Postgres is a failure.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A URL to a new, empty schema of the test database. Returns `None` (after
/// saying so) when Postgres cannot be reached outside CI; under CI it fails.
#[allow(clippy::panic)]
pub async fn fresh_postgres_url() -> Option<String> {
    let base = postgres_test_url();
    let mut conn = match sqlx::PgConnection::connect(&base).await {
        Ok(c) => c,
        Err(e) if in_ci() => panic!("Postgres at {base} is required under CI: {e}"),
        Err(e) => {
            eprintln!(
                "SKIPPED: Postgres at {base} is not reachable ({e}); set LATCHKEY_TEST_DATABASE_URL"
            );
            return None;
        }
    };
    let schema = format!("lk_test_{}", uuid::Uuid::new_v4().simple());
    // The schema name is ours: a fixed prefix and hex digits.
    let create = sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"));
    if let Err(e) = sqlx::query(create).execute(&mut conn).await {
        panic!("cannot create a test schema in {base}: {e}");
    }
    let _ = conn.close().await;
    let sep = if base.contains('?') { '&' } else { '?' };
    Some(format!("{base}{sep}options[search_path]={schema}"))
}

/// A URL to a new SQLite database file inside `dir`.
pub fn sqlite_url(dir: &std::path::Path) -> String {
    crate::sqlite_url_in(dir)
}

/// The Redis for tests (`LATCHKEY_TEST_REDIS_URL`, else the local default),
/// or `None` after saying so when it cannot be reached outside CI.
#[allow(clippy::panic)]
pub async fn redis_test_url() -> Option<String> {
    let url = std::env::var("LATCHKEY_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    match crate::ephemeral::Redis::connect(&url).await {
        Ok(_) => Some(url),
        Err(e) if in_ci() => panic!("Redis at {url} is required under CI: {e}"),
        Err(e) => {
            eprintln!(
                "SKIPPED: Redis at {url} is not reachable ({e}); set LATCHKEY_TEST_REDIS_URL"
            );
            None
        }
    }
}
