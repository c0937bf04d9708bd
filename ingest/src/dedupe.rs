//! Remembers which `event_id`s a Kafka partition has already accepted, so that producer
//! resends and redeliveries are dropped before they reach ClickHouse.
//!
//! One [`DedupeSet`] exists per assigned partition (state follows partition ownership in the
//! consumer group, so several ingest processes never need to share memory: producers key
//! messages by `user_id`, which sends every resend of an event to the same partition). On
//! assignment the set is rebuilt from the event store (see `state`), so it survives restarts.
//!
//! Ids are remembered as 128-bit keyed hashes in a queue, oldest first, with a hash table
//! that points into the queue. An id is forgotten once it is older than the window (in 1/16
//! steps of the window), or earlier when the set holds `max_ids`: then the oldest ids go first,
//! one by one, and [`DedupeSet::evicted_early`] counts them. Ids forgotten early go into a
//! small Bloom filter (see [`Forgotten`]), so that a resend of one is reported as a possible
//! duplicate ([`Seen::PossiblyForgotten`]) instead of passing silently.
//!
//! The whole process has a bound too: [`cap_for`] splits `dedupe_max_bytes` evenly between
//! the partitions a process owns, and [`DedupeSet::set_max_ids`] shrinks a set when more
//! partitions arrive.
//!
//! Memory is bounded by [`max_heap_bytes`]: 16 bytes per queued id plus the table's buckets
//! (a 4-byte queue position and a control byte each), at most `next_power_of_two(16·(max_ids
//! + 1)/7)` buckets, 1.5 times that while the table grows, plus 4 bytes per id for the filter
//! of ids forgotten early — at most 55 bytes per id, about 43 for the default cap of 5,000,000
//! (216 MB); `cargo bench -p abacus-ingest --bench dedupe_memory` measures it.

use std::collections::VecDeque;

use hashbrown::HashTable;

pub use crate::forgotten::Forgotten;

/// A 128-bit fingerprint of an `event_id`: SipHash-1-3-128 with a random key per process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdHash(u64, u64);

impl IdHash {
    /// Fingerprints an id. Collisions (which would drop a genuine event) need about 2^64 ids,
    /// and the key keeps producers from crafting them.
    pub fn of(event_id: &str) -> Self {
        Self::of_bytes(event_id.as_bytes())
    }

    /// [`IdHash::of`] the id's UTF-8 bytes.
    pub fn of_bytes(event_id: &[u8]) -> Self {
        use siphasher::sip128::SipHasher13;
        // A random key per process (ids are never persisted as hashes; they are rebuilt from
        // ClickHouse), the same in every thread.
        static HASHER: std::sync::OnceLock<SipHasher13> = std::sync::OnceLock::new();
        let hasher = HASHER.get_or_init(|| SipHasher13::new_with_key(&rand::random()));
        let h = hasher.hash(event_id);
        Self(h.h1, h.h2)
    }

    /// The value the hash table uses (already uniformly random).
    fn table_hash(self) -> u64 {
        self.0
    }

    /// The second, independent half (for the filter of forgotten ids).
    pub(crate) fn filter_hash(self) -> u64 {
        self.1
    }
}

/// The most heap bytes a [`DedupeSet`] with this `max_ids` can hold (queue, table and time
/// slices), whatever the traffic.
pub fn max_heap_bytes(max_ids: usize) -> usize {
    let max_ids = max_ids.max(1);
    // hashbrown keeps at most 7/8 of its buckets full and grows (doubling) only when more than
    // half of that is in use; below, it rehashes in place.
    let buckets = (16 * (max_ids + 1)).div_ceil(7).next_power_of_two();
    let table = buckets * (std::mem::size_of::<u32>() + 1) + 16;
    // While the table grows, the old one (half the size) is still allocated.
    let growing = table / 2 + 16;
    let queue = max_ids * std::mem::size_of::<IdHash>();
    let slices = (SLICES + 2) * std::mem::size_of::<Slice>();
    table + growing + queue + slices + Forgotten::max_heap_bytes(max_ids)
}

/// The per-partition cap when a process owns `partitions` partitions: `max_ids`, lowered so
/// that all of them together stay within `max_bytes` (by [`max_heap_bytes`]).
pub fn cap_for(max_ids: usize, max_bytes: usize, partitions: usize) -> usize {
    let share = max_bytes / partitions.max(1);
    let max_ids = max_ids.max(1);
    if max_heap_bytes(max_ids) <= share {
        return max_ids;
    }
    // The largest cap whose bound fits the share (the bound grows with the cap).
    let (mut lo, mut hi) = (1, max_ids);
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if max_heap_bytes(mid) <= share {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    lo
}

/// Steps of the window in which ids are forgotten.
const SLICES: usize = 16;

/// Ids queued from `start` (epoch seconds) on begin at sequence number `first`.
#[derive(Clone, Copy, Debug)]
struct Slice {
    start: i64,
    first: u64,
}

/// The remembered ids of one partition.
pub struct DedupeSet {
    /// Sequence numbers (mod 2^32) of remembered ids, hashed by the id they point to.
    table: HashTable<u32>,
    /// Ids in the order they were remembered; `queue[0]` has sequence number `head`.
    queue: VecDeque<IdHash>,
    head: u64,
    slices: VecDeque<Slice>,
    window_secs: i64,
    slice_secs: i64,
    max_ids: usize,
    evicted_early: u64,
    forgotten: Forgotten,
}

impl std::fmt::Debug for DedupeSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DedupeSet")
            .field("ids", &self.table.len())
            .field("max_ids", &self.max_ids)
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
    /// Not remembered, but probably forgotten early because of the cap (a Bloom filter says
    /// so, with about 0.2% false positives): accept, and count it as a possible duplicate.
    PossiblyForgotten,
}

impl DedupeSet {
    /// An empty set that remembers ids for `window_secs` (in 1/16 steps), at most `max_ids`.
    pub fn new(window_secs: u64, max_ids: usize) -> Self {
        let window_secs = i64::try_from(window_secs.max(1)).unwrap_or(i64::MAX / 4);
        Self {
            table: HashTable::new(),
            queue: VecDeque::new(),
            head: 0,
            slices: VecDeque::new(),
            window_secs,
            slice_secs: (window_secs / SLICES as i64).max(1),
            // Sequence numbers are compared modulo 2^32.
            max_ids: max_ids.clamp(1, u32::MAX as usize / 2),
            evicted_early: 0,
            forgotten: Forgotten::default(),
        }
    }

    /// Changes the cap. A lower cap forgets the oldest ids at once (counted as evicted early)
    /// and gives the memory back, so the process-wide bound holds after a rebalance.
    pub fn set_max_ids(&mut self, max_ids: usize) {
        let max_ids = max_ids.clamp(1, u32::MAX as usize / 2);
        if max_ids >= self.max_ids {
            self.max_ids = max_ids;
            return;
        }
        self.max_ids = max_ids;
        while self.queue.len() > max_ids {
            if let Some(id) = self.pop_oldest() {
                self.evicted_early += 1;
                self.forgotten.insert(id, max_ids);
            }
        }
        self.queue.shrink_to(max_ids);
        let (queue, head) = (&self.queue, self.head as u32);
        self.table.shrink_to(max_ids, |&s| {
            queue[s.wrapping_sub(head) as usize].table_hash()
        });
        self.forgotten.shrink(max_ids);
    }

    /// Position in `queue` of the remembered `id`, if any.
    fn find(&self, id: IdHash) -> Option<usize> {
        let (queue, head) = (&self.queue, self.head as u32);
        self.table
            .find(id.table_hash(), |&seq| {
                queue.get(seq.wrapping_sub(head) as usize) == Some(&id)
            })
            .map(|&seq| seq.wrapping_sub(head) as usize)
    }

    /// Records `id` as seen at `now` (epoch seconds) and says whether it is new.
    pub fn insert(&mut self, id: IdHash, now: i64) -> Seen {
        self.expire(now);
        if self.find(id).is_some() {
            return Seen::Duplicate;
        }
        while self.queue.len() >= self.max_ids {
            if let Some(old) = self.pop_oldest() {
                self.evicted_early += 1;
                self.forgotten.insert(old, self.max_ids);
            }
        }
        self.open_slice(now);
        if self.queue.len() == self.queue.capacity() {
            // Grow by doubling, but never past the cap.
            let more = self
                .queue
                .len()
                .max(1024)
                .min(self.max_ids - self.queue.len());
            self.queue.reserve_exact(more);
        }
        let seq = (self.head + self.queue.len() as u64) as u32;
        self.queue.push_back(id);
        let (queue, head) = (&self.queue, self.head as u32);
        self.table.insert_unique(id.table_hash(), seq, |&s| {
            queue[s.wrapping_sub(head) as usize].table_hash()
        });
        if self.forgotten.contains(id) {
            Seen::PossiblyForgotten
        } else {
            Seen::New
        }
    }

    /// Forgets `id` (used when an accepted event is finally not written, e.g. refused by
    /// ClickHouse, so that a corrected resend is accepted).
    pub fn forget(&mut self, id: IdHash) {
        let (queue, head) = (&self.queue, self.head as u32);
        if let Ok(entry) = self.table.find_entry(id.table_hash(), |&seq| {
            queue.get(seq.wrapping_sub(head) as usize) == Some(&id)
        }) {
            entry.remove();
        }
    }

    /// Whether `id` is remembered.
    pub fn contains(&self, id: IdHash) -> bool {
        self.find(id).is_some()
    }

    /// Number of remembered ids.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// The cap on remembered ids.
    pub fn max_ids(&self) -> usize {
        self.max_ids
    }

    /// How many ids the size cap forced out before their window ended.
    pub fn evicted_early(&self) -> u64 {
        self.evicted_early
    }

    /// Start (epoch seconds) of the time slice of the oldest remembered id: since the cap
    /// evicts oldest first, ids seen after it are still remembered.
    pub fn oldest_remembered(&self) -> Option<i64> {
        let mut oldest = None;
        for slice in &self.slices {
            if slice.first > self.head {
                break;
            }
            oldest = Some(slice.start);
        }
        oldest.filter(|_| !self.queue.is_empty())
    }

    /// Heap bytes allocated now (table, queue and slices).
    pub fn heap_bytes(&self) -> usize {
        self.table.allocation_size()
            + self.queue.capacity() * std::mem::size_of::<IdHash>()
            + self.slices.capacity() * std::mem::size_of::<Slice>()
            + self.forgotten.heap_bytes()
    }

    /// Starts a new time slice if `now` is past the newest one. Ids loaded with an older time
    /// than the newest slice (a rebuild reads them in time order) join the newest slice.
    fn open_slice(&mut self, now: i64) {
        if self
            .slices
            .back()
            .is_some_and(|s| (s.start..s.start + self.slice_secs).contains(&now))
        {
            // Within the newest slice (nearly always): no division.
            return;
        }
        let start = now - now.rem_euclid(self.slice_secs);
        if self.slices.back().is_none_or(|s| s.start < start) {
            let first = self.head + self.queue.len() as u64;
            // Slices whose ids were all evicted by the cap say nothing any more.
            while self.slices.len() >= 2 && self.slices[1].first <= self.head {
                self.slices.pop_front();
            }
            if self.slices.len() > SLICES + 1 {
                // Only with a clock that jumps: merge the two oldest slices.
                let oldest = self.slices.pop_front().expect("len > 1");
                self.slices[0].first = oldest.first;
            }
            self.slices.push_back(Slice { start, first });
        }
    }

    /// Forgets the ids whose slice ended more than the window ago.
    fn expire(&mut self, now: i64) {
        while let Some(oldest) = self.slices.front() {
            if oldest.start + self.slice_secs + self.window_secs > now {
                break;
            }
            let end = self
                .slices
                .get(1)
                .map_or(self.head + self.queue.len() as u64, |next| next.first);
            while self.head < end && !self.queue.is_empty() {
                let _ = self.pop_oldest();
            }
            self.slices.pop_front();
        }
    }

    /// Removes the oldest queued id; returns it if it was still remembered (not forgotten).
    fn pop_oldest(&mut self) -> Option<IdHash> {
        let id = self.queue.pop_front()?;
        let seq = self.head as u32;
        self.head += 1;
        let entry = self.table.find_entry(id.table_hash(), |&s| s == seq).ok()?;
        entry.remove();
        Some(id)
    }
}

#[cfg(test)]
#[path = "dedupe_tests.rs"]
mod tests;
