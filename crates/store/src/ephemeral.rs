//! Short-lived shared state: rate-limit windows, failed-attempt counters,
//! lockouts. One trait; in process for a single node, in Redis when several
//! nodes must share one count (and in process again while Redis is down).
//! Nothing here needs to survive a restart.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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

/// How long one Redis call may take before Redis counts as down: a login
/// never waits on an unreachable Redis for longer than this, once.
pub const CALL_TIMEOUT: Duration = Duration::from_millis(100);
/// How long opening a connection to Redis may take at start-up (a node
/// whose Redis does not answer by then starts on its own counters)...
const CONNECT_AT_START: Duration = Duration::from_secs(2);
/// ...and, in the background, while it is down.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// How often a node whose Redis is down tries it again, in the background.
const RETRY_EVERY: Duration = Duration::from_millis(500);

/// The several-node implementation: one Redis, shared by every node.
/// [`Failover`] is what a node runs: this, with a way out when Redis is down.
#[derive(Clone)]
pub struct Redis {
    conn: redis::aio::MultiplexedConnection,
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
    /// A connection for direct use (tests, probes): nothing here gives up
    /// early, unlike the connections [`Failover`] opens.
    pub async fn connect(url: &str) -> EphemeralResult<Self> {
        let client = redis::Client::open(url).map_err(redis_error)?;
        Self::open(&client, Duration::from_secs(10), None).await
    }

    /// One connection, checked with a `PING`; each call on it gives up
    /// after `response` (if given).
    async fn open(
        client: &redis::Client,
        connect: Duration,
        response: Option<Duration>,
    ) -> EphemeralResult<Self> {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(connect))
            .set_response_timeout(response);
        let opened = async {
            let mut conn = client
                .get_multiplexed_async_connection_with_config(&config)
                .await
                .map_err(redis_error)?;
            redis::cmd("PING")
                .query_async::<()>(&mut conn)
                .await
                .map_err(redis_error)?;
            Ok(Self { conn })
        };
        tokio::time::timeout(connect + response.unwrap_or(connect), opened)
            .await
            .map_err(|_| EphemeralError("no answer from Redis".into()))?
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

/// Redis while it answers, this node's own counters while it does not.
///
/// The first call that fails or takes longer than [`CALL_TIMEOUT`] marks
/// Redis down (logged once, at warn); from then on every call goes to the
/// in-process counters at once, so limits and lockouts still hold, per node,
/// and no request waits on Redis. A background task tries Redis again every
/// [`RETRY_EVERY`] and, when it answers, the node goes back to it (logged
/// once). Counts made while Redis was down stay on the node that made them.
#[derive(Clone)]
pub struct Failover {
    shared: Arc<Shared>,
}

struct Shared {
    client: redis::Client,
    state: Mutex<State>,
    local: InProcess,
}

#[derive(Default)]
struct State {
    /// The connection while Redis answers; `None` while it is down.
    redis: Option<Redis>,
    /// Whether a task is trying Redis again.
    retrying: bool,
}

impl std::fmt::Debug for Failover {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Failover")
            .field("shared", &self.is_shared())
            .finish()
    }
}

impl Failover {
    /// Connects to Redis at `url`. Only a URL that cannot be a Redis URL is
    /// an error: an unreachable Redis starts the node on its own counters,
    /// with a warning, until Redis answers.
    pub async fn connect(url: &str) -> EphemeralResult<Self> {
        let client = redis::Client::open(url).map_err(redis_error)?;
        let first = Redis::open(&client, CONNECT_AT_START, Some(CALL_TIMEOUT)).await;
        let this = Self {
            shared: Arc::new(Shared {
                client,
                state: Mutex::new(State::default()),
                local: InProcess::default(),
            }),
        };
        match first {
            Ok(redis) => this.with_state(|s| s.redis = Some(redis)),
            Err(e) => {
                tracing::warn!(
                    error = %e,
                    "Redis does not answer; rate limits and lockouts count on this node alone until it does"
                );
                this.retry_in_background();
            }
        }
        Ok(this)
    }

    /// Whether counts go to Redis (shared by every node) right now.
    pub fn is_shared(&self) -> bool {
        self.with_state(|s| s.redis.is_some())
    }

    fn with_state<T>(&self, f: impl FnOnce(&mut State) -> T) -> T {
        let mut state = self
            .shared
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        f(&mut state)
    }

    /// Runs `op` on Redis if it is up; `None` when it is down or has just
    /// failed (and is now marked down).
    async fn on_redis<T, F>(&self, op: impl FnOnce(Redis) -> F) -> Option<T>
    where
        F: std::future::Future<Output = EphemeralResult<T>>,
    {
        let redis = self.with_state(|s| s.redis.clone())?;
        let error = match tokio::time::timeout(CALL_TIMEOUT, op(redis)).await {
            Ok(Ok(value)) => return Some(value),
            Ok(Err(e)) => e,
            Err(_) => EphemeralError(format!("no answer in {} ms", CALL_TIMEOUT.as_millis())),
        };
        let was_up = self.with_state(|s| s.redis.take().is_some());
        if was_up {
            tracing::warn!(
                error = %error,
                "Redis does not answer; rate limits and lockouts count on this node alone until it does"
            );
        }
        self.retry_in_background();
        None
    }

    /// Starts the task that tries Redis again, unless one is running. It
    /// holds only a weak reference, so it ends with the store.
    fn retry_in_background(&self) {
        let start = self.with_state(|s| !std::mem::replace(&mut s.retrying, true));
        if !start {
            return;
        }
        let shared = Arc::downgrade(&self.shared);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(RETRY_EVERY).await;
                let Some(shared) = shared.upgrade() else {
                    return;
                };
                let this = Failover { shared };
                let reopened =
                    Redis::open(&this.shared.client, CONNECT_TIMEOUT, Some(CALL_TIMEOUT)).await;
                if let Ok(redis) = reopened {
                    this.with_state(|s| {
                        s.redis = Some(redis);
                        s.retrying = false;
                    });
                    tracing::info!(
                        "Redis answers again; rate limits and lockouts are shared again"
                    );
                    return;
                }
            }
        });
    }
}

#[async_trait]
impl Ephemeral for Failover {
    async fn hit(&self, key: &str, window_secs: u64, now: UnixTime) -> EphemeralResult<(u64, u64)> {
        let on_redis = self
            .on_redis(|r| async move { r.hit(key, window_secs, now).await })
            .await;
        match on_redis {
            Some(answer) => Ok(answer),
            None => self.shared.local.hit(key, window_secs, now).await,
        }
    }

    async fn put(
        &self,
        key: &str,
        value: i64,
        ttl_secs: u64,
        now: UnixTime,
    ) -> EphemeralResult<()> {
        let on_redis = self
            .on_redis(|r| async move { r.put(key, value, ttl_secs, now).await })
            .await;
        match on_redis {
            Some(()) => Ok(()),
            None => self.shared.local.put(key, value, ttl_secs, now).await,
        }
    }

    async fn get(&self, key: &str, now: UnixTime) -> EphemeralResult<Option<(i64, u64)>> {
        let on_redis = self
            .on_redis(|r| async move { r.get(key, now).await })
            .await;
        match on_redis {
            Some(answer) => Ok(answer),
            None => self.shared.local.get(key, now).await,
        }
    }

    async fn remove(&self, key: &str) -> EphemeralResult<()> {
        // From both: a count kept here while Redis was down goes too.
        let _ = self.on_redis(|r| async move { r.remove(key).await }).await;
        self.shared.local.remove(key).await
    }
}

/// In process, or Redis (with this node's own counters while it is down)
/// when a URL is given. Only a URL that is not a Redis URL is an error.
pub async fn ephemeral(redis_url: Option<&str>) -> EphemeralResult<Arc<dyn Ephemeral>> {
    Ok(match redis_url {
        Some(url) => Arc::new(Failover::connect(url).await?),
        None => Arc::new(InProcess::default()),
    })
}
