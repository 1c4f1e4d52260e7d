//! A bounded per-isolate cache of rows read from D1, each trusted for a fixed time after
//! it was read. Used for API keys (`api_keys::CachedKeys`) and plugins' active versions
//! (`plugins::find_cached`): a change to a row reaches other isolates within the cache's
//! time, at once in the isolate that made it (which calls [`TtlCache::forget`]).
//! Absent rows are never held, so what is created shows on the next read.

use std::collections::HashMap;

/// Values by key, each with when it was read from the store (Unix ms).
#[derive(Debug)]
pub struct TtlCache<V> {
    entries: HashMap<String, (V, u64)>,
    ttl_ms: u64,
    capacity: usize,
}

impl<V: Clone> TtlCache<V> {
    /// A cache trusting each value `ttl_ms` after it was read and holding at most
    /// `capacity` values; when full, the expired ones go, then the oldest.
    pub fn new(ttl_ms: u64, capacity: usize) -> Self {
        TtlCache {
            entries: HashMap::new(),
            ttl_ms,
            capacity,
        }
    }

    /// The value held under `key` if it was read less than the cache's time before
    /// `now_ms`.
    pub fn get(&self, key: &str, now_ms: u64) -> Option<V> {
        let (value, read_at) = self.entries.get(key)?;
        (now_ms.saturating_sub(*read_at) < self.ttl_ms).then(|| value.clone())
    }

    /// Drops every value for which `doomed(key, value)` holds.
    pub fn forget(&mut self, mut doomed: impl FnMut(&str, &V) -> bool) {
        self.entries.retain(|k, (v, _)| !doomed(k, v));
    }

    /// Holds `value`, read from the store at `now_ms`, under `key`, within the bound.
    pub fn put(&mut self, key: &str, value: V, now_ms: u64) {
        if self.entries.len() >= self.capacity && !self.entries.contains_key(key) {
            let ttl = self.ttl_ms;
            self.entries
                .retain(|_, (_, read_at)| now_ms.saturating_sub(*read_at) < ttl);
            if self.entries.len() >= self.capacity {
                let oldest = self
                    .entries
                    .iter()
                    .min_by_key(|(_, (_, read_at))| *read_at)
                    .map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    self.entries.remove(&k);
                }
            }
        }
        self.entries.insert(key.to_string(), (value, now_ms));
    }

    /// How many values are held, expired or not.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_value_is_trusted_for_the_cache_time_after_it_was_read() {
        let mut cache = TtlCache::new(10, 4);
        cache.put("a", 1, 100);
        assert_eq!(cache.get("a", 100), Some(1));
        assert_eq!(cache.get("a", 109), Some(1));
        assert_eq!(cache.get("a", 110), None, "expired");
        assert_eq!(cache.get("b", 100), None);
    }

    #[test]
    fn the_cache_holds_at_most_its_bound_dropping_the_expired_then_the_oldest() {
        const N: usize = 64;
        const TTL: u64 = 1_000;
        let mut cache = TtlCache::new(TTL, N);
        for i in 0..N {
            cache.put(&format!("h{i}"), i, i as u64);
        }
        assert_eq!(cache.len(), N);
        cache.put("new", 0, N as u64);
        assert_eq!(cache.len(), N);
        assert!(cache.get("h0", N as u64).is_none(), "the oldest went");
        assert!(cache.get("h1", N as u64).is_some());
        cache.forget(|_, v| *v == 1);
        assert!(cache.get("h1", N as u64).is_none(), "forgotten by value");
        assert!(cache.get("h2", N as u64).is_some());
        cache.put("h1", 1, N as u64);
        // Later, every one read before now - TTL has expired: they all go at once.
        let later = N as u64 + TTL;
        cache.put("later", 0, later);
        assert_eq!(cache.len(), 1);
        assert!(cache.get("later", later).is_some());
    }
}
