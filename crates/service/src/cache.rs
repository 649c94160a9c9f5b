//! A small bounded map whose entries expire: what the token-check caches
//! (verified access tokens, open sessions) are built on.
//!
//! Bounded so that memory stays flat whatever the traffic: expired entries
//! are swept out once per lifetime, and when it is full anyway it starts
//! again empty (the entries are cheap to fetch again, and a burst of new
//! callers cannot grow it).

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct TtlCache<K, V> {
    entries: Mutex<Entries<K, V>>,
    ttl: Duration,
    capacity: usize,
}

#[derive(Debug)]
struct Entries<K, V> {
    map: HashMap<K, (Instant, V)>,
    swept: Instant,
}

impl<K, V> std::ops::Deref for Entries<K, V> {
    type Target = HashMap<K, (Instant, V)>;
    fn deref(&self) -> &Self::Target {
        &self.map
    }
}

impl<K, V> std::ops::DerefMut for Entries<K, V> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.map
    }
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    /// A cache of at most `capacity` entries, each kept for `ttl`. A zero
    /// `ttl` or `capacity` makes a cache that keeps nothing.
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            entries: Mutex::new(Entries {
                map: HashMap::new(),
                swept: Instant::now(),
            }),
            ttl,
            capacity,
        }
    }

    pub fn is_disabled(&self) -> bool {
        self.ttl.is_zero() || self.capacity == 0
    }

    fn lock(&self) -> MutexGuard<'_, Entries<K, V>> {
        // A panic while holding the lock leaves a map that is still a valid
        // map; carry on with it.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The value, if present and not expired.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        if self.is_disabled() {
            return None;
        }
        let entries = self.lock();
        let (added, value) = entries.get(key)?;
        (added.elapsed() < self.ttl).then(|| value.clone())
    }

    pub fn insert(&self, key: K, value: V) {
        if self.is_disabled() {
            return;
        }
        let mut entries = self.lock();
        self.make_room(&mut entries);
        entries.insert(key, (Instant::now(), value));
    }

    /// Inserts only if `still_valid` holds while the cache is locked, so
    /// that a value read before an invalidation cannot land after it.
    pub fn insert_if(&self, key: K, value: V, still_valid: impl FnOnce() -> bool) {
        if self.is_disabled() {
            return;
        }
        let mut entries = self.lock();
        if still_valid() {
            self.make_room(&mut entries);
            entries.insert(key, (Instant::now(), value));
        }
    }

    pub fn remove<Q>(&self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.lock().remove(key);
    }

    /// Keeps only the entries for which `keep` is true.
    pub fn retain(&self, mut keep: impl FnMut(&K, &V) -> bool) {
        self.lock().retain(|k, (_, v)| keep(k, v));
    }

    /// Changes an entry in place, keeping its age.
    pub fn update<Q>(&self, key: &Q, change: impl FnOnce(&mut V))
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        if let Some((_, value)) = self.lock().get_mut(key) {
            change(value);
        }
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn make_room(&self, entries: &mut Entries<K, V>) {
        let ttl = self.ttl;
        if entries.len() >= self.capacity || entries.swept.elapsed() >= ttl {
            entries.retain(|_, (added, _)| added.elapsed() < ttl);
            entries.swept = Instant::now();
        }
        if entries.len() >= self.capacity {
            entries.clear();
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire() {
        let cache = TtlCache::new(Duration::from_millis(30), 10);
        cache.insert("a", 1);
        assert_eq!(cache.get("a"), Some(1));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(cache.get("a"), None);
    }

    #[test]
    fn never_holds_more_than_its_capacity() {
        let cache = TtlCache::new(Duration::from_secs(60), 100);
        for i in 0..1000 {
            cache.insert(i, i);
            assert!(cache.len() <= 100);
        }
        assert_eq!(cache.get(&999), Some(999));
    }

    #[test]
    fn a_refused_insert_changes_nothing() {
        let cache = TtlCache::new(Duration::from_secs(60), 10);
        cache.insert_if("a", 1, || false);
        assert_eq!(cache.get("a"), None);
        cache.insert_if("a", 2, || true);
        assert_eq!(cache.get("a"), Some(2));
    }

    #[test]
    fn expired_entries_are_swept_out() {
        let cache = TtlCache::new(Duration::from_millis(30), 1000);
        for i in 0..100 {
            cache.insert(i, i);
        }
        std::thread::sleep(Duration::from_millis(40));
        cache.insert(1000, 0);
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn zero_ttl_keeps_nothing() {
        let cache = TtlCache::new(Duration::ZERO, 10);
        cache.insert("a", 1);
        assert_eq!(cache.get("a"), None);
        assert!(cache.is_empty());
    }

    #[test]
    fn remove_retain_and_update() {
        let cache = TtlCache::new(Duration::from_secs(60), 10);
        cache.insert(1, 10);
        cache.insert(2, 20);
        cache.insert(3, 30);
        cache.remove(&1);
        cache.retain(|_, v| *v != 20);
        cache.update(&3, |v| *v += 1);
        assert_eq!(cache.get(&1), None);
        assert_eq!(cache.get(&2), None);
        assert_eq!(cache.get(&3), Some(31));
    }
}
