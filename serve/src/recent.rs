//! The set of recently published exposure ids: a bounded, sharded set of 64-bit keys (the first
//! 8 bytes of an exposure id's SHA-256) with FIFO eviction, so that an evaluation whose exposure
//! was published recently is not sent again.

use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Mutex;

/// A bounded set of recently published ids (FIFO eviction), in 16 shards.
#[derive(Debug)]
pub struct RecentIds {
    shards: Vec<Mutex<Shard>>,
    per_shard: usize,
}

#[derive(Debug, Default)]
struct Shard {
    set: HashSet<u64, BuildHasherDefault<KeyHasher>>,
    order: VecDeque<u64>,
}

/// The keys are already uniform bits of a SHA-256: hashing them again (SipHash) is wasted work.
#[derive(Debug, Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// The shard of a key: its top 4 bits (the set inside a shard uses the low bits).
fn shard_of(key: u64) -> usize {
    (key >> 60) as usize
}

impl RecentIds {
    /// Remembers up to `capacity` ids (0: remembers nothing).
    pub fn new(capacity: usize) -> Self {
        Self {
            shards: (0..16).map(|_| Mutex::new(Shard::default())).collect(),
            per_shard: capacity.div_ceil(16),
        }
    }

    /// Adds `key`; false when it was already there.
    pub fn insert(&self, key: u64) -> bool {
        if self.per_shard == 0 {
            return true;
        }
        let Ok(mut shard) = self.shards[shard_of(key)].lock() else {
            return true;
        };
        if !shard.set.insert(key) {
            return false;
        }
        shard.order.push_back(key);
        while shard.order.len() > self.per_shard {
            if let Some(old) = shard.order.pop_front() {
                shard.set.remove(&old);
            }
        }
        true
    }

    /// Forgets `key` (its delivery failed).
    pub fn remove(&self, key: u64) {
        if let Ok(mut shard) = self.shards[shard_of(key)].lock() {
            shard.set.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_ids_are_bounded() {
        let r = RecentIds::new(32);
        assert!(r.insert(1));
        assert!(!r.insert(1));
        r.remove(1);
        assert!(r.insert(1));
        for k in 0..10_000u64 {
            r.insert(k * 16 + 1);
        }
        assert!(r.insert(1), "the oldest ids are forgotten");
    }

    #[test]
    fn keys_spread_over_the_shards_by_their_top_bits() {
        // One id per shard: sixteen keys that differ only in their top 4 bits all stay.
        let r = RecentIds::new(16);
        let keys: Vec<u64> = (0..16u64).map(|i| (i << 60) | 7).collect();
        for &k in &keys {
            assert!(r.insert(k));
        }
        for &k in &keys {
            assert!(!r.insert(k), "{k:x} was evicted by a key of another shard");
        }
    }
}
