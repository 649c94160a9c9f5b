//! Access tokens recently verified and sessions recently read, so that a
//! token check is two memory lookups rather than a signature check and a
//! database read.
//!
//! A verified token is kept by its SHA-256 (the same bytes verify the same
//! way every time), with only what the check needs: fixed-size entries, so
//! the cache allocates nothing per token and memory stays flat.
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
/// Verified tokens kept at most (under 100 bytes each).
const TOKENS: usize = 50_000;
/// A token in use is verified again this often. (Well within a key's
/// lifetime: a key's tokens stay valid, until they expire, for as long as it
/// is published.)
const TOKEN_TTL: Duration = Duration::from_secs(30);

/// What a verified access token says that a token check needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifiedToken {
    pub sid: SessionId,
    pub sub: UserId,
    pub exp: UnixTime,
    pub nbf: UnixTime,
}

#[derive(Debug)]
pub struct TokenCache {
    entries: TtlCache<[u8; 32], VerifiedToken>,
}

impl TokenCache {
    pub fn new() -> Self {
        Self {
            entries: TtlCache::new(TOKEN_TTL, TOKENS),
        }
    }

    pub fn key(token: &str) -> [u8; 32] {
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
        let mut key = [0u8; 32];
        key.copy_from_slice(digest.as_ref());
        key
    }

    pub fn get(&self, key: &[u8; 32]) -> Option<VerifiedToken> {
        self.entries.get(key)
    }

    pub fn insert(&self, key: [u8; 32], verified: VerifiedToken) {
        self.entries.insert(key, verified);
    }
}

impl Default for TokenCache {
    fn default() -> Self {
        Self::new()
    }
}

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
            authenticated_at: 100,
            amr: vec!["pwd".into()],
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
