//! Remembers which `event_id`s a Kafka partition has already accepted, so that producer
//! resends and redeliveries are dropped before they reach ClickHouse.
//!
//! One [`DedupeSet`] exists per assigned partition (state follows partition ownership in the
//! consumer group, so several ingest processes never need to share memory: producers key
//! messages by `user_id`, which sends every resend of an event to the same partition). On
//! assignment the set is rebuilt from the event store (see `state`), so it survives restarts.
//!
//! Ids are remembered as 128-bit hashes in time generations: an id is forgotten once its
//! generation is older than the window. Memory is bounded by `max_ids` — when full, the oldest
//! generation is dropped early (the effective window shrinks and a warning says so).
//! Cost per remembered id: a 24-byte map entry (16-byte hash + 4-byte generation, padded)
//! at hashbrown's load factor, plus 16 bytes in its generation list — about 45–60 bytes,
//! measured by `cargo bench -p abacus-ingest --bench dedupe_memory`.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hash, Hasher};

/// A 128-bit fingerprint of an `event_id` (two independent SipHash-1-3 values).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdHash(u64, u64);

impl Hash for IdHash {
    fn hash<H: Hasher>(&self, state: &mut H) {
        // The value is already uniformly random: feed one word to the pass-through hasher.
        state.write_u64(self.0);
    }
}

impl IdHash {
    /// Fingerprints an id. Collisions (which would drop a genuine event) need about 2^64 ids.
    pub fn of(event_id: &str) -> Self {
        use std::hash::{BuildHasher, RandomState};
        // Random keys per process (ids are never persisted as hashes; they are rebuilt from
        // ClickHouse), the same in every thread.
        static KEYS: std::sync::OnceLock<(RandomState, RandomState)> = std::sync::OnceLock::new();
        let (a, b) = KEYS.get_or_init(|| (RandomState::new(), RandomState::new()));
        Self(a.hash_one(event_id), b.hash_one(event_id))
    }
}

/// Pass-through hasher for keys that are already hashes.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

struct Generation {
    id: u32,
    /// Start of the generation, epoch seconds.
    start: i64,
    members: Vec<IdHash>,
}

/// The remembered ids of one partition.
pub struct DedupeSet {
    map: HashMap<IdHash, u32, BuildHasherDefault<PassThrough>>,
    generations: VecDeque<Generation>,
    next_generation: u32,
    window_secs: i64,
    generation_secs: i64,
    max_ids: usize,
    evicted_early: u64,
}

impl std::fmt::Debug for DedupeSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DedupeSet")
            .field("ids", &self.map.len())
            .field("generations", &self.generations.len())
            .field("window_secs", &self.window_secs)
            .finish()
    }
}

/// The outcome of [`DedupeSet::insert`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seen {
    /// First time within the window: accept.
    New,
    /// Already accepted within the window: drop.
    Duplicate,
}

impl DedupeSet {
    /// An empty set that remembers ids for `window_secs` (in 1/16 steps), at most `max_ids`.
    pub fn new(window_secs: u64, max_ids: usize) -> Self {
        let window_secs = i64::try_from(window_secs.max(1)).unwrap_or(i64::MAX / 4);
        Self {
            map: HashMap::default(),
            generations: VecDeque::new(),
            next_generation: 0,
            window_secs,
            generation_secs: (window_secs / 16).max(1),
            max_ids: max_ids.max(1),
            evicted_early: 0,
        }
    }

    /// Records `id` as seen at `now` (epoch seconds) and says whether it is new.
    pub fn insert(&mut self, id: IdHash, now: i64) -> Seen {
        self.expire(now);
        if self.map.contains_key(&id) {
            return Seen::Duplicate;
        }
        while self.map.len() >= self.max_ids && self.generations.len() > 1 {
            self.drop_oldest();
            self.evicted_early += 1;
        }
        let generation = self.current_generation(now);
        generation.members.push(id);
        let generation_id = generation.id;
        self.map.insert(id, generation_id);
        Seen::New
    }

    /// Forgets `id` (used when an accepted event is finally not written, e.g. quarantined by
    /// ClickHouse, so a corrected resend is accepted).
    pub fn forget(&mut self, id: IdHash) {
        self.map.remove(&id);
    }

    /// Whether `id` is remembered.
    pub fn contains(&self, id: IdHash) -> bool {
        self.map.contains_key(&id)
    }

    /// Number of remembered ids.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// How often the size cap forced a generation out before its time.
    pub fn evicted_early(&self) -> u64 {
        self.evicted_early
    }

    /// Approximate heap bytes used (map buckets and generation lists).
    pub fn heap_bytes(&self) -> usize {
        let entry = std::mem::size_of::<(IdHash, u32)>() + 1;
        let members: usize = self.generations.iter().map(|g| g.members.capacity()).sum();
        self.map.capacity() * entry + members * std::mem::size_of::<IdHash>()
    }

    fn current_generation(&mut self, now: i64) -> &mut Generation {
        let start = now - now.rem_euclid(self.generation_secs);
        let needs_new = self.generations.back().is_none_or(|g| g.start < start);
        if needs_new {
            let id = self.next_generation;
            self.next_generation = self.next_generation.wrapping_add(1);
            self.generations.push_back(Generation {
                id,
                start,
                members: Vec::new(),
            });
        }
        // Ids loaded with an older time than the newest generation go to the newest one.
        self.generations.back_mut().expect("a generation exists")
    }

    fn expire(&mut self, now: i64) {
        while let Some(oldest) = self.generations.front() {
            if oldest.start + self.generation_secs + self.window_secs > now {
                break;
            }
            self.drop_oldest();
        }
    }

    fn drop_oldest(&mut self) {
        if let Some(generation) = self.generations.pop_front() {
            for id in generation.members {
                if self.map.get(&id) == Some(&generation.id) {
                    self.map.remove(&id);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_inside_the_window_are_seen() {
        let mut set = DedupeSet::new(3600, 1000);
        let a = IdHash::of("a");
        assert_eq!(set.insert(a, 1000), Seen::New);
        assert_eq!(set.insert(a, 1001), Seen::Duplicate);
        assert_eq!(set.insert(IdHash::of("b"), 1001), Seen::New);
        assert_eq!(set.len(), 2);
    }

    #[test]
    fn ids_are_forgotten_after_the_window() {
        let mut set = DedupeSet::new(3600, 1000);
        let a = IdHash::of("a");
        set.insert(a, 0);
        assert_eq!(set.insert(a, 3000), Seen::Duplicate);
        // The generation of t=0 ends at 225 s; it is dropped once 225 + 3600 has passed.
        assert_eq!(set.insert(IdHash::of("z"), 3825), Seen::New);
        assert!(!set.contains(a));
        assert_eq!(set.insert(a, 3826), Seen::New);
    }

    #[test]
    fn the_size_cap_drops_the_oldest_generation_first() {
        let mut set = DedupeSet::new(1600, 10); // generations of 100 s
        for i in 0..6 {
            set.insert(IdHash::of(&format!("old{i}")), 0);
        }
        for i in 0..6 {
            set.insert(IdHash::of(&format!("new{i}")), 150);
        }
        assert!(set.len() <= 10);
        assert_eq!(set.evicted_early(), 1);
        assert!(!set.contains(IdHash::of("old0")));
        assert!(set.contains(IdHash::of("new5")));
    }

    #[test]
    fn forget_lets_an_id_in_again() {
        let mut set = DedupeSet::new(60, 10);
        let a = IdHash::of("a");
        set.insert(a, 0);
        set.forget(a);
        assert_eq!(set.insert(a, 1), Seen::New);
    }

    #[test]
    fn hashes_are_stable_within_a_process_and_distinct() {
        assert_eq!(IdHash::of("x"), IdHash::of("x"));
        assert_ne!(IdHash::of("x"), IdHash::of("y"));
    }
}
