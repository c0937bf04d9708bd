//! Ids a dedupe set forgot early because of its cap, remembered approximately: a blocked
//! Bloom filter (16 bits per id, 7 bits set in one 64-byte block, about 0.2% false positives)
//! in two generations of `max_ids / 2` ids each, so the most recent ~`max_ids` evictions are
//! covered and older ones age out. A resend of such an id is counted as a possible duplicate.
//!
//! Nothing is allocated until the cap first evicts an id; then at most
//! [`Forgotten::max_heap_bytes`] (about 4 bytes per id of the cap).

use crate::dedupe::IdHash;

const BITS_PER_ID: usize = 16;
const BLOCK_BITS: usize = 512;
const HASHES: u32 = 7;

type Block = [u64; 8];

/// The filter of one partition.
#[derive(Debug, Default)]
pub struct Forgotten {
    current: Vec<Block>,
    previous: Vec<Block>,
    inserted: usize,
}

fn per_generation(max_ids: usize) -> usize {
    (max_ids / 2).max(64)
}

fn blocks_for(max_ids: usize) -> usize {
    (per_generation(max_ids) * BITS_PER_ID).div_ceil(BLOCK_BITS)
}

/// The block of `h` and its bits within the block.
fn place(h: u64, blocks: usize) -> (usize, impl Iterator<Item = (usize, u64)>) {
    let mixed = (h ^ (h >> 31)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let block = ((u128::from(mixed) * blocks as u128) >> 64) as usize;
    let bits = (0..HASHES).map(move |i| {
        let bit = ((h >> (i * 9)) & 511) as usize;
        (bit / 64, 1u64 << (bit % 64))
    });
    (block, bits)
}

fn has(blocks: &[Block], h: u64) -> bool {
    if blocks.is_empty() {
        return false;
    }
    let (b, mut bits) = place(h, blocks.len());
    bits.all(|(word, mask)| blocks[b][word] & mask != 0)
}

impl Forgotten {
    /// The most heap bytes the filter of a set with this cap holds.
    pub fn max_heap_bytes(max_ids: usize) -> usize {
        2 * blocks_for(max_ids) * std::mem::size_of::<Block>()
    }

    /// Heap bytes allocated now.
    pub fn heap_bytes(&self) -> usize {
        (self.current.capacity() + self.previous.capacity()) * std::mem::size_of::<Block>()
    }

    /// Records an id forgotten by a set whose cap is `max_ids`.
    pub fn insert(&mut self, id: IdHash, max_ids: usize) {
        let blocks = blocks_for(max_ids);
        if self.current.len() != blocks {
            self.current = vec![[0; 8]; blocks];
            self.previous = Vec::new();
            self.inserted = 0;
        }
        if self.inserted >= per_generation(max_ids) {
            std::mem::swap(&mut self.current, &mut self.previous);
            if self.current.len() == blocks {
                self.current.iter_mut().for_each(|b| *b = [0; 8]);
            } else {
                self.current = vec![[0; 8]; blocks];
            }
            self.inserted = 0;
        }
        let (b, bits) = place(id.filter_hash(), blocks);
        for (word, mask) in bits {
            self.current[b][word] |= mask;
        }
        self.inserted += 1;
    }

    /// Whether `id` was probably forgotten early (never a false "no" for the ids of the
    /// current and previous generation).
    pub fn contains(&self, id: IdHash) -> bool {
        has(&self.current, id.filter_hash()) || has(&self.previous, id.filter_hash())
    }

    /// Frees the filter if a smaller cap (`max_ids`) makes it too large (it starts over).
    pub fn shrink(&mut self, max_ids: usize) {
        if self.current.len() > blocks_for(max_ids) {
            *self = Self::default();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u64) -> IdHash {
        IdHash::of(&format!("f-{n}"))
    }

    #[test]
    fn recent_ids_are_found_old_ones_age_out_and_false_positives_are_rare() {
        let mut f = Forgotten::default();
        assert!(!f.contains(id(0)));
        assert_eq!(f.heap_bytes(), 0);
        let cap = 20_000;
        for n in 0..50_000 {
            f.insert(id(n), cap);
        }
        // The current and previous generations (10,000 each) are all found.
        assert!((30_000..50_000).all(|n| f.contains(id(n))));
        let old = (0..20_000).filter(|n| f.contains(id(*n))).count();
        assert!(old < 200, "{old}");
        let never = (1_000_000..1_100_000)
            .filter(|n| f.contains(id(*n)))
            .count();
        assert!(never < 1000, "false positives: {never} of 100000");
        eprintln!("false positives: {never} of 100000, aged out found: {old} of 20000");
        assert!(f.heap_bytes() <= Forgotten::max_heap_bytes(cap));
        f.shrink(100);
        assert_eq!(f.heap_bytes(), 0);
    }
}
