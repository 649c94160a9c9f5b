//! Short-lived shared state: rate-limit windows, failed-attempt counters,
//! lockouts. One trait; in process for a single node, in Redis when several
//! nodes must share one count. Nothing here needs to survive a restart.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use latchkey_core::UnixTime;

#[derive(Debug, thiserror::Error)]
#[error("ephemeral store: {0}")]
pub struct EphemeralError(pub String);

pub type EphemeralResult<T> = std::result::Result<T, EphemeralError>;

#[async_trait]
pub trait Ephemeral: Send + Sync + std::fmt::Debug {
    /// Adds one to the counter `key`, which starts at the first hit and lasts
    /// `window_secs`. Returns the count after this hit and the seconds left in
    /// the window. Exact under concurrency: n hits give n distinct counts.
    async fn hit(&self, key: &str, window_secs: u64, now: UnixTime) -> EphemeralResult<(u64, u64)>;
    /// Stores a value that expires after `ttl_secs`.
    async fn put(&self, key: &str, value: i64, ttl_secs: u64, now: UnixTime)
    -> EphemeralResult<()>;
    /// A live value and the seconds it has left.
    async fn get(&self, key: &str, now: UnixTime) -> EphemeralResult<Option<(i64, u64)>>;
    async fn remove(&self, key: &str) -> EphemeralResult<()>;
}

/// The single-node implementation. Time comes from the caller, so tests can
/// move it; expired entries are swept as the map grows.
#[derive(Debug, Default)]
pub struct InProcess {
    entries: Mutex<HashMap<String, (i64, UnixTime)>>,
}

/// Above this many entries, each write sweeps out the expired ones first.
const SWEEP_ABOVE: usize = 100_000;

impl InProcess {
    fn with<T>(
        &self,
        f: impl FnOnce(&mut HashMap<String, (i64, UnixTime)>) -> T,
    ) -> EphemeralResult<T> {
        let mut map = self
            .entries
            .lock()
            .map_err(|_| EphemeralError("poisoned lock".into()))?;
        Ok(f(&mut map))
    }
}

fn left(expires: UnixTime, now: UnixTime) -> u64 {
    u64::try_from(expires - now).unwrap_or(0)
}

#[async_trait]
impl Ephemeral for InProcess {
    async fn hit(&self, key: &str, window_secs: u64, now: UnixTime) -> EphemeralResult<(u64, u64)> {
        self.with(|map| {
            if map.len() > SWEEP_ABOVE {
                map.retain(|_, (_, expires)| *expires > now);
            }
            let window = i64::try_from(window_secs).unwrap_or(i64::MAX);
            let entry = map.entry(key.to_owned()).or_insert((0, now + window));
            if entry.1 <= now {
                *entry = (0, now + window);
            }
            entry.0 += 1;
            (u64::try_from(entry.0).unwrap_or(0), left(entry.1, now))
        })
    }

    async fn put(
        &self,
        key: &str,
        value: i64,
        ttl_secs: u64,
        now: UnixTime,
    ) -> EphemeralResult<()> {
        self.with(|map| {
            let ttl = i64::try_from(ttl_secs).unwrap_or(i64::MAX);
            map.insert(key.to_owned(), (value, now + ttl));
        })
    }

    async fn get(&self, key: &str, now: UnixTime) -> EphemeralResult<Option<(i64, u64)>> {
        self.with(|map| {
            map.get(key)
                .filter(|(_, expires)| *expires > now)
                .map(|(v, expires)| (*v, left(*expires, now)))
        })
    }

    async fn remove(&self, key: &str) -> EphemeralResult<()> {
        self.with(|map| {
            map.remove(key);
        })
    }
}

/// The several-node implementation: one Redis, shared by every node.
#[derive(Clone)]
pub struct Redis {
    conn: redis::aio::ConnectionManager,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Redis")
    }
}

fn redis_error(e: redis::RedisError) -> EphemeralError {
    EphemeralError(e.to_string())
}

impl Redis {
    pub async fn connect(url: &str) -> EphemeralResult<Self> {
        let client = redis::Client::open(url).map_err(redis_error)?;
        let conn = redis::aio::ConnectionManager::new(client)
            .await
            .map_err(redis_error)?;
        Ok(Self { conn })
    }
}

#[async_trait]
impl Ephemeral for Redis {
    async fn hit(
        &self,
        key: &str,
        window_secs: u64,
        _now: UnixTime,
    ) -> EphemeralResult<(u64, u64)> {
        let mut conn = self.conn.clone();
        // One atomic round trip: count, start the window on the first hit
        // only, and read what is left of it.
        let (count, _, ttl): (u64, i64, i64) = redis::pipe()
            .atomic()
            .incr(key, 1)
            .cmd("EXPIRE")
            .arg(key)
            .arg(window_secs)
            .arg("NX")
            .ttl(key)
            .query_async(&mut conn)
            .await
            .map_err(redis_error)?;
        Ok((count, u64::try_from(ttl).unwrap_or(window_secs)))
    }

    async fn put(
        &self,
        key: &str,
        value: i64,
        ttl_secs: u64,
        _now: UnixTime,
    ) -> EphemeralResult<()> {
        let mut conn = self.conn.clone();
        redis::cmd("SET")
            .arg(key)
            .arg(value)
            .arg("EX")
            .arg(ttl_secs.max(1))
            .query_async::<()>(&mut conn)
            .await
            .map_err(redis_error)
    }

    async fn get(&self, key: &str, _now: UnixTime) -> EphemeralResult<Option<(i64, u64)>> {
        let mut conn = self.conn.clone();
        let (value, ttl): (Option<i64>, i64) = redis::pipe()
            .atomic()
            .get(key)
            .ttl(key)
            .query_async(&mut conn)
            .await
            .map_err(redis_error)?;
        Ok(value.map(|v| (v, u64::try_from(ttl).unwrap_or(0))))
    }

    async fn remove(&self, key: &str) -> EphemeralResult<()> {
        let mut conn = self.conn.clone();
        redis::cmd("DEL")
            .arg(key)
            .query_async::<()>(&mut conn)
            .await
            .map_err(redis_error)
    }
}

/// In process, or Redis when a URL is given.
pub async fn ephemeral(redis_url: Option<&str>) -> EphemeralResult<std::sync::Arc<dyn Ephemeral>> {
    Ok(match redis_url {
        Some(url) => std::sync::Arc::new(Redis::connect(url).await?),
        None => std::sync::Arc::new(InProcess::default()),
    })
}
