//! Sessions recently read for a token check, so that checking an access
//! token is a memory lookup rather than a database read.
//!
//! This node forgets a session the moment it changes it here (logout,
//! revocation, password or email change, disabling), so on one node a
//! revocation takes effect at once. A change made by another node, or by
//! the admin CLI, reaches this node's cache within `session.check_cache_ms`
//! (1 s by default; 0 turns the cache off).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use latchkey_core::session::Session;
use latchkey_core::{SessionId, UnixTime, User, UserId};

use crate::cache::TtlCache;

/// Sessions kept at most (about 1 KiB each).
const CAPACITY: usize = 20_000;

#[derive(Debug)]
pub struct SessionCache {
    entries: TtlCache<SessionId, (Session, User)>,
    /// Counts invalidations, so that a read begun before one cannot fill
    /// the cache after it.
    epoch: AtomicU64,
}

impl SessionCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            entries: TtlCache::new(ttl, CAPACITY),
            epoch: AtomicU64::new(0),
        }
    }

    pub fn get(&self, id: &SessionId) -> Option<(Session, User)> {
        self.entries.get(id)
    }

    /// Take this before reading the store, and hand it to [`Self::fill`].
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// Remembers what the store said, unless something was forgotten since
    /// `epoch` (the read may predate that change).
    pub fn fill(&self, id: SessionId, value: (Session, User), epoch: u64) {
        self.entries
            .insert_if(id, value, || self.epoch.load(Ordering::SeqCst) == epoch);
    }

    pub fn touched(&self, id: &SessionId, now: UnixTime) {
        self.entries
            .update(id, |(session, _)| session.last_seen_at = now);
    }

    pub fn forget_session(&self, id: &SessionId) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.entries.remove(id);
    }

    pub fn forget_user(&self, user: UserId) {
        self.epoch.fetch_add(1, Ordering::SeqCst);
        self.entries.retain(|_, (_, u)| u.id != user);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    fn entry() -> (SessionId, (Session, User)) {
        let user = User {
            id: UserId::generate(),
            email: None,
            username: None,
            password_hash: String::new(),
            email_verified: false,
            disabled: false,
            custom_claims: serde_json::Map::new(),
            created_at: 100,
            updated_at: 100,
        };
        let session = Session {
            id: SessionId::generate(),
            user_id: user.id,
            created_at: 100,
            last_seen_at: 100,
            expires_at: 1000,
            ended_at: None,
            ip: None,
            user_agent: None,
            idle_timeout_secs: None,
        };
        (session.id, (session, user))
    }

    #[test]
    fn a_read_from_before_an_invalidation_is_not_kept() {
        let cache = SessionCache::new(Duration::from_secs(60));
        let (id, value) = entry();
        let before = cache.epoch();
        cache.forget_session(&id);
        cache.fill(id, value.clone(), before);
        assert!(cache.get(&id).is_none());
        cache.fill(id, value, cache.epoch());
        assert!(cache.get(&id).is_some());
    }

    #[test]
    fn forgetting_a_user_forgets_all_their_sessions() {
        let cache = SessionCache::new(Duration::from_secs(60));
        let (id, value) = entry();
        let user = value.1.id;
        let (other_id, other) = entry();
        cache.fill(id, value, cache.epoch());
        cache.fill(other_id, other, cache.epoch());
        cache.forget_user(user);
        assert!(cache.get(&id).is_none());
        assert!(cache.get(&other_id).is_some());
    }

    #[test]
    fn activity_updates_the_cached_session() {
        let cache = SessionCache::new(Duration::from_secs(60));
        let (id, value) = entry();
        cache.fill(id, value, cache.epoch());
        cache.touched(&id, 500);
        assert_eq!(cache.get(&id).unwrap().0.last_seen_at, 500);
    }
}
