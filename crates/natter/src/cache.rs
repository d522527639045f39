//! A small time-bounded cache for hot lookups (tokens, user summaries), so a
//! message send costs no query on the request path. Each node caches for
//! CACHE_TTL seconds; changes made on this node drop their entries at once,
//! changes made on another node are seen within the TTL.

use std::hash::Hash;
use std::time::{Duration, Instant};

use dashmap::DashMap;

pub struct TtlCache<K, V> {
    entries: DashMap<K, (V, Instant)>,
    ttl: Duration,
    /// Beyond this many entries the cache starts over, so it never grows unbounded.
    capacity: usize,
}

impl<K: Eq + Hash + Clone, V: Clone> TtlCache<K, V> {
    pub fn new(ttl: Duration, capacity: usize) -> TtlCache<K, V> {
        TtlCache {
            entries: DashMap::new(),
            ttl,
            capacity,
        }
    }

    pub fn get(&self, key: &K) -> Option<V> {
        if self.ttl.is_zero() {
            return None;
        }
        let entry = self.entries.get(key)?;
        if entry.1.elapsed() < self.ttl {
            return Some(entry.0.clone());
        }
        drop(entry);
        self.entries.remove(key);
        None
    }

    pub fn insert(&self, key: K, value: V) {
        if self.ttl.is_zero() {
            return;
        }
        if self.entries.len() >= self.capacity {
            self.entries.clear();
        }
        self.entries.insert(key, (value, Instant::now()));
    }

    pub fn remove(&self, key: &K) {
        self.entries.remove(key);
    }

    /// Drops every entry the predicate matches.
    pub fn remove_where(&self, matches: impl Fn(&V) -> bool) {
        self.entries.retain(|_, (value, _)| !matches(value));
    }
}

/// "At most once per `every` per key", on this node: [`KeyedThrottle::due`] says
/// yes to the first call for a key and then no until `every` has passed.
/// Bookkeeping that must not cost a write per request (a session's last
/// activity) asks it first.
pub struct KeyedThrottle<K> {
    last: DashMap<K, Instant>,
    every: Duration,
    /// Beyond this many keys the ones not due are dropped (all of them if
    /// every one is recent), so it never grows unbounded.
    capacity: usize,
}

impl<K: Eq + Hash + Clone> KeyedThrottle<K> {
    pub fn new(every: Duration, capacity: usize) -> KeyedThrottle<K> {
        KeyedThrottle {
            last: DashMap::new(),
            every,
            capacity,
        }
    }

    /// True (and the key's clock restarts) if `key` was never due or was due
    /// at least `every` ago. Atomic per key: of concurrent callers one is told yes.
    pub fn due(&self, key: &K) -> bool {
        if self.last.len() >= self.capacity {
            self.last.retain(|_, at| at.elapsed() < self.every);
            // All still recent: start over (a few early repeats, once)
            // rather than sweep again on every call.
            if self.last.len() >= self.capacity {
                self.last.clear();
            }
        }
        let now = Instant::now();
        let mut due = false;
        self.last
            .entry(key.clone())
            .and_modify(|at| {
                if now.duration_since(*at) >= self.every {
                    *at = now;
                    due = true;
                }
            })
            .or_insert_with(|| {
                due = true;
                now
            });
        due
    }

    /// Forgets a key: its next call is due.
    pub fn forget(&self, key: &K) {
        self.last.remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_can_be_dropped() {
        let cache = TtlCache::new(Duration::from_millis(50), 10);
        cache.insert(1, "a");
        assert_eq!(cache.get(&1), Some("a"));
        cache.remove_where(|v| *v == "a");
        assert_eq!(cache.get(&1), None);
        cache.insert(2, "b");
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cache.get(&2), None);
        let off = TtlCache::new(Duration::ZERO, 10);
        off.insert(1, "x");
        assert_eq!(off.get(&1), None);
    }

    #[test]
    fn a_throttle_says_yes_once_per_period_per_key() {
        let throttle = KeyedThrottle::new(Duration::from_millis(50), 10);
        assert!(throttle.due(&1));
        assert!(!throttle.due(&1));
        assert!(throttle.due(&2));
        std::thread::sleep(Duration::from_millis(60));
        assert!(throttle.due(&1));
        assert!(!throttle.due(&1));
        throttle.forget(&1);
        assert!(throttle.due(&1));
    }
}
