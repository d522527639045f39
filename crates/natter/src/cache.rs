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

    /// Drops the expired entries and gives back the room they took: an
    /// entry nobody asks for again would otherwise stay until the cache fills
    /// (a thousand users gone quiet held their tokens after a load, issue 20).
    pub fn purge_expired(&self) {
        self.entries.retain(|_, (_, at)| at.elapsed() < self.ttl);
        shrink_if_sparse(&self.entries);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// Gives a map's spare room back to the allocator when it holds far fewer
/// entries than it has room for: a `remove` keeps the room, so a map that
/// once held a peak's entries would keep that peak's memory. A map still
/// near its size is left alone (shrinking rehashes every entry).
pub fn shrink_if_sparse<K: Eq + Hash, V>(map: &DashMap<K, V>) {
    if is_sparse(map.len(), map.capacity()) {
        map.shrink_to_fit();
    }
}

/// The same rule for a plain `HashMap`.
pub fn shrink_hash_map_if_sparse<K: Eq + Hash, V>(map: &mut std::collections::HashMap<K, V>) {
    if is_sparse(map.len(), map.capacity()) {
        map.shrink_to_fit();
    }
}

/// Room for at least four times the entries, and more than a small map's worth.
fn is_sparse(len: usize, capacity: usize) -> bool {
    capacity > SMALL_MAP && capacity > len.saturating_mul(4)
}

/// Capacity below which a map is never shrunk: not worth a rehash.
const SMALL_MAP: usize = 256;

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

    /// Forgets the keys that are due anyway (their period has passed), and
    /// gives back the room they took: nothing changes for callers.
    pub fn purge_due(&self) {
        self.last.retain(|_, at| at.elapsed() < self.every);
        shrink_if_sparse(&self.last);
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
    fn purging_drops_expired_entries_and_gives_the_room_back() {
        let cache = TtlCache::new(Duration::from_millis(50), 100_000);
        for key in 0..10_000 {
            cache.insert(key, key);
        }
        let peak = cache.entries.capacity();
        cache.purge_expired();
        assert_eq!(cache.len(), 10_000, "nothing had expired yet");
        std::thread::sleep(Duration::from_millis(60));
        cache.insert(-1, -1);
        cache.purge_expired();
        assert_eq!(cache.len(), 1, "only the fresh entry stays");
        assert_eq!(cache.get(&-1), Some(-1));
        assert!(
            cache.entries.capacity() < peak / 4,
            "capacity {} after the purge, {peak} at the peak",
            cache.entries.capacity()
        );
    }

    #[test]
    fn purging_a_throttle_forgets_only_keys_that_are_due_anyway() {
        let throttle = KeyedThrottle::new(Duration::from_millis(50), 100_000);
        for key in 0..5_000 {
            assert!(throttle.due(&key));
        }
        let peak = throttle.last.capacity();
        std::thread::sleep(Duration::from_millis(60));
        assert!(throttle.due(&0));
        throttle.purge_due();
        assert_eq!(throttle.last.len(), 1);
        assert!(!throttle.due(&0), "a recent key is kept");
        assert!(throttle.due(&1), "a purged key is due, as it was before");
        assert!(throttle.last.capacity() < peak / 4);
    }

    #[test]
    fn only_sparse_large_maps_are_shrunk() {
        let map: DashMap<i64, i64> = DashMap::new();
        for key in 0..10_000 {
            map.insert(key, key);
        }
        for key in 0..5_000 {
            map.remove(&key);
        }
        let before = map.capacity();
        shrink_if_sparse(&map);
        assert_eq!(map.capacity(), before, "half full is not sparse");
        for key in 5_000..9_990 {
            map.remove(&key);
        }
        shrink_if_sparse(&map);
        assert!(
            map.capacity() < before / 4,
            "10 entries keep {} of room",
            map.capacity()
        );
        assert_eq!(map.len(), 10);
        let mut plain: std::collections::HashMap<i64, i64> = (0..10_000).map(|k| (k, k)).collect();
        plain.retain(|k, _| *k < 10);
        shrink_hash_map_if_sparse(&mut plain);
        assert!(plain.capacity() < 1_000);
        assert!(!is_sparse(10, 200), "a small map is left alone");
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
