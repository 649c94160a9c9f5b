//! Helpers for tests in this and other crates: a fresh, isolated database
//! per test on either backend, and what the test binaries' harness needs to
//! report a test whose Postgres or Redis is not there as skipped.
//!
//! Outside CI, Postgres and Redis are each probed once per test binary, on
//! the first test that asks for them. When one cannot be reached, every test
//! that asks for it stops there and, run through [`run_test`], is reported as
//! ignored; [`skip_summary`] then counts them. Under CI it fails instead.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sqlx::Connection;
use tokio::sync::OnceCell;

/// Where tests find Postgres: `LATCHKEY_TEST_DATABASE_URL`, or the local
/// default of a development machine.
pub fn postgres_test_url() -> String {
    std::env::var("LATCHKEY_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// Where tests find Redis: `LATCHKEY_TEST_REDIS_URL`, or the local default.
pub fn redis_url() -> String {
    std::env::var("LATCHKEY_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// True when running under CI, where a missing Postgres is a failure.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Whether a service the tests need answered: its URL, or why not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reachability {
    Reachable { url: String },
    Unreachable { url: String, reason: String },
}

/// How long a probe waits for Postgres or Redis to answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

async fn probe<E: fmt::Display>(
    url: String,
    connect: impl Future<Output = Result<(), E>>,
) -> Reachability {
    match tokio::time::timeout(PROBE_TIMEOUT, connect).await {
        Ok(Ok(())) => Reachability::Reachable { url },
        Ok(Err(e)) => Reachability::Unreachable {
            url,
            reason: e.to_string(),
        },
        Err(_) => Reachability::Unreachable {
            url,
            reason: format!("no answer in {PROBE_TIMEOUT:?}"),
        },
    }
}

/// Postgres at [`postgres_test_url`]: connects once.
pub async fn probe_postgres() -> Reachability {
    let url = postgres_test_url();
    let connect = async {
        let conn = sqlx::PgConnection::connect(&url).await?;
        conn.close().await
    };
    probe(url.clone(), connect).await
}

/// Redis at [`redis_url`]: connects once.
pub async fn probe_redis() -> Reachability {
    let url = redis_url();
    let connect = async { crate::ephemeral::Redis::connect(&url).await.map(drop) };
    probe(url.clone(), connect).await
}

static POSTGRES: OnceCell<Reachability> = OnceCell::const_new();
static REDIS: OnceCell<Reachability> = OnceCell::const_new();

/// The first probe of `cell` in this process; says why once if it failed.
async fn probed_once<F: Future<Output = Reachability>>(
    cell: &'static OnceCell<Reachability>,
    service: &str,
    variable: &str,
    probe: impl FnOnce() -> F,
) -> &'static Reachability {
    cell.get_or_init(|| async {
        let found = probe().await;
        if let Reachability::Unreachable { url, reason } = &found {
            eprintln!(
                "{service} at {url} is not reachable ({reason}): the tests that need it are \
                 skipped; set {variable}"
            );
        }
        found
    })
    .await
}

/// What a test could not reach, and so why it did not run.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Skip {
    pub service: &'static str,
    pub url: String,
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "no {} at {}", self.service, self.url)
    }
}

type Slot = Arc<Mutex<Option<Skip>>>;

thread_local! {
    /// Where a skip of the test running on this thread is noted.
    static CURRENT: RefCell<Option<Slot>> = const { RefCell::new(None) };
}

/// Every skip of this process, for [`skip_summary`].
static SKIPPED: Mutex<BTreeMap<Skip, usize>> = Mutex::new(BTreeMap::new());

/// Notes that the running test stops here for want of `skip`. Outside
/// [`run_test`] nobody would count it, so it says so itself.
fn skipped(skip: Skip) {
    let noted = CURRENT.with(|current| match &*current.borrow() {
        Some(slot) => {
            slot.lock()
                .unwrap_or_else(PoisonError::into_inner)
                .get_or_insert(skip.clone());
            true
        }
        None => false,
    });
    if !noted {
        eprintln!("SKIPPED: {skip}");
    }
}

/// Sets (and on drop clears) the slot of the current thread.
struct Enter;

impl Enter {
    fn new(slot: &Slot) -> Self {
        CURRENT.with(|current| *current.borrow_mut() = Some(slot.clone()));
        Self
    }
}

impl Drop for Enter {
    fn drop(&mut self) {
        CURRENT.with(|current| *current.borrow_mut() = None);
    }
}

/// The runtime a test runs on, as `#[tokio::test]` would build it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `#[tokio::test]`
    CurrentThread,
    /// `#[tokio::test(flavor = "multi_thread", worker_threads = 2)]`
    MultiThread,
}

/// Runs one async test on a runtime of its own, as `#[tokio::test]` does.
/// `Err` when it stopped because Postgres or Redis could not be reached
/// (a panic of the test goes on up).
#[allow(clippy::expect_used)]
pub fn run_test<F: Future<Output = ()>>(flavor: Flavor, test: F) -> Result<(), Skip> {
    let slot = Slot::default();
    let mut builder = match flavor {
        Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread(),
        Flavor::MultiThread => {
            let mut b = tokio::runtime::Builder::new_multi_thread();
            b.worker_threads(2);
            b
        }
    };
    // Every thread of the runtime notes a skip in this test's slot.
    let for_threads = slot.clone();
    builder.enable_all().on_thread_start(move || {
        CURRENT.with(|current| *current.borrow_mut() = Some(for_threads.clone()));
    });
    {
        let _entered = Enter::new(&slot);
        builder
            .build()
            .expect("Failed building the Runtime")
            .block_on(test);
    }
    let skip = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
    match skip {
        None => Ok(()),
        Some(skip) => {
            *SKIPPED
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(skip.clone())
                .or_default() += 1;
            Err(skip)
        }
    }
}

/// One line per service the tests of this process could not reach:
/// `SKIPPED (no Postgres at <url>): N tests`.
pub fn skip_summary() -> Vec<String> {
    SKIPPED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .map(|(skip, n)| {
            let tests = if *n == 1 { "test" } else { "tests" };
            format!("SKIPPED ({skip}): {n} {tests}")
        })
        .collect()
}

/// `RUST_TEST_THREADS`, which the built-in test harness reads.
pub fn test_threads_from_env() -> Option<usize> {
    std::env::var("RUST_TEST_THREADS").ok()?.parse().ok()
}

/// The `#[test]` and `#[tokio::test]` attributes left in the `.rs` files of
/// `dir` (`file:line`). A test binary with its own harness never runs them.
pub fn attribute_tests_in(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut found = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(dir)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<_, _>>()?;
    files.sort();
    for file in files {
        if file.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&file)?;
            for (i, line) in text.lines().enumerate() {
                let line = line.trim_start();
                if line.starts_with("#[test]") || line.starts_with("#[tokio::test") {
                    found.push(format!("{}:{}", file.display(), i + 1));
                }
            }
        }
    }
    Ok(found)
}

/// A URL to a new, empty schema of the test database. Returns `None` when
/// Postgres could not be reached outside CI (the test is then skipped, see
/// [`run_test`]); under CI it fails.
#[allow(clippy::panic)]
pub async fn fresh_postgres_url() -> Option<String> {
    let base = postgres_test_url();
    if !in_ci() {
        let found = probed_once(
            &POSTGRES,
            "Postgres",
            "LATCHKEY_TEST_DATABASE_URL",
            probe_postgres,
        )
        .await;
        if let Reachability::Unreachable { url, .. } = found {
            skipped(Skip {
                service: "Postgres",
                url: url.clone(),
            });
            return None;
        }
    }
    let mut conn = match sqlx::PgConnection::connect(&base).await {
        Ok(c) => c,
        Err(e) if in_ci() => panic!("Postgres at {base} is required under CI: {e}"),
        Err(e) => panic!("Postgres at {base} answered at first, but not now: {e}"),
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
/// or `None` when it could not be reached outside CI (the test is then
/// skipped, see [`run_test`]); under CI it fails.
#[allow(clippy::panic)]
pub async fn redis_test_url() -> Option<String> {
    let url = redis_url();
    if !in_ci() {
        let found = probed_once(&REDIS, "Redis", "LATCHKEY_TEST_REDIS_URL", probe_redis).await;
        if let Reachability::Unreachable { url, .. } = found {
            skipped(Skip {
                service: "Redis",
                url: url.clone(),
            });
            return None;
        }
    }
    match crate::ephemeral::Redis::connect(&url).await {
        Ok(_) => Some(url),
        Err(e) if in_ci() => panic!("Redis at {url} is required under CI: {e}"),
        Err(e) => panic!("Redis at {url} answered at first, but not now: {e}"),
    }
}
