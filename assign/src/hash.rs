//! The assignment hash: MurmurHash3 x86_32 (Austin Appleby's public-domain reference
//! `MurmurHash3_x86_32`) over colon-joined UTF-8 keys, and its mapping to 10,000 buckets.
//!
//! Every hash Abacus computes is `murmur3_x86_32(key, seed)` where `key` is the UTF-8 bytes of
//! its parts joined with `:` and the seed says what the hash is for (see [`Seed`]). The 32-bit
//! value `h` maps to a bucket as `floor(h × 10000 / 2^32)`. `assign/README.md` has the exact
//! layout and pseudo-code for other languages; `assign/tests/vectors.tsv` pins the values.

/// Number of buckets every hash is mapped to.
pub const BUCKETS: u32 = 10_000;

/// What a hash is for; the seed keeps the hashes of one user independent of each other even
/// when their keys have the same text (an experiment id that equals a namespace name).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seed {
    /// `namespace:user_id` → the user's bucket in the namespace (layer slices and traffic).
    Namespace = 0,
    /// `experiment_id:user_id` → the user's variant bucket in one experiment.
    Variant = 1,
    /// `flag:rule:user_id` (or `flag:user_id` for the rollout) → a flag allocation bucket.
    Flag = 2,
    /// `namespace:window:unit_value` → the variant bucket of a switchback unit in one window.
    Switchback = 3,
}

const C1: u32 = 0xcc9e_2d51;
const C2: u32 = 0x1b87_3593;

#[inline(always)]
fn mix_k(mut k: u32) -> u32 {
    k = k.wrapping_mul(C1);
    k = k.rotate_left(15);
    k.wrapping_mul(C2)
}

#[inline(always)]
fn mix_h(mut h: u32, k: u32) -> u32 {
    h ^= mix_k(k);
    h = h.rotate_left(13);
    h.wrapping_mul(5).wrapping_add(0xe654_6b64)
}

#[inline(always)]
fn fmix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

/// Streaming MurmurHash3 x86_32: [`Murmur3::write`] any number of byte slices, then
/// [`Murmur3::finish`]. The result equals the one-shot hash of the concatenated bytes, so keys
/// are hashed without building a string.
#[derive(Clone, Copy, Debug)]
pub struct Murmur3 {
    h: u32,
    tail: [u8; 4],
    tail_len: usize,
    len: usize,
}

impl Murmur3 {
    /// A hasher with `seed`.
    #[inline]
    pub fn new(seed: u32) -> Self {
        Self {
            h: seed,
            tail: [0; 4],
            tail_len: 0,
            len: 0,
        }
    }

    /// Feeds `bytes`.
    #[inline]
    pub fn write(&mut self, mut bytes: &[u8]) -> &mut Self {
        self.len += bytes.len();
        if self.tail_len > 0 {
            let take = (4 - self.tail_len).min(bytes.len());
            self.tail[self.tail_len..self.tail_len + take].copy_from_slice(&bytes[..take]);
            self.tail_len += take;
            bytes = &bytes[take..];
            if self.tail_len < 4 {
                return self;
            }
            self.h = mix_h(self.h, u32::from_le_bytes(self.tail));
            self.tail_len = 0;
        }
        let mut blocks = bytes.chunks_exact(4);
        for block in &mut blocks {
            self.h = mix_h(
                self.h,
                u32::from_le_bytes([block[0], block[1], block[2], block[3]]),
            );
        }
        let rest = blocks.remainder();
        self.tail[..rest.len()].copy_from_slice(rest);
        self.tail_len = rest.len();
        self
    }

    /// The 32-bit hash of everything written.
    #[inline]
    pub fn finish(&self) -> u32 {
        let mut h = self.h;
        if self.tail_len > 0 {
            let mut k = 0u32;
            for (i, b) in self.tail[..self.tail_len].iter().enumerate() {
                k ^= u32::from(*b) << (8 * i);
            }
            h ^= mix_k(k);
        }
        // The reference mixes in the length as a 32-bit value (keys longer than 4 GiB wrap).
        h ^= self.len as u32;
        fmix32(h)
    }
}

/// One-shot MurmurHash3 x86_32 of `bytes` with `seed` (what `mmh3.hash(bytes, seed,
/// signed=False)` returns in Python).
#[inline]
pub fn murmur3_x86_32(bytes: &[u8], seed: u32) -> u32 {
    let mut h = seed;
    let mut blocks = bytes.chunks_exact(4);
    for block in &mut blocks {
        h = mix_h(
            h,
            u32::from_le_bytes([block[0], block[1], block[2], block[3]]),
        );
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        let mut k = 0u32;
        for (i, b) in tail.iter().enumerate() {
            k ^= u32::from(*b) << (8 * i);
        }
        h ^= mix_k(k);
    }
    fmix32(h ^ bytes.len() as u32)
}

/// Keys up to this many bytes are hashed from a stack buffer (the fast path); longer keys
/// are streamed through [`Murmur3`] with the same result.
const STACK_KEY: usize = 256;

/// The hash of `parts` joined with `:`, for `seed`.
#[inline]
pub fn hash_key(seed: Seed, parts: &[&str]) -> u32 {
    let len = parts.iter().map(|p| p.len()).sum::<usize>() + parts.len().saturating_sub(1);
    if len <= STACK_KEY {
        let mut buf = [0u8; STACK_KEY];
        let mut at = 0;
        for (i, part) in parts.iter().enumerate() {
            if i > 0 {
                buf[at] = b':';
                at += 1;
            }
            buf[at..at + part.len()].copy_from_slice(part.as_bytes());
            at += part.len();
        }
        return murmur3_x86_32(&buf[..at], seed as u32);
    }
    let mut hasher = Murmur3::new(seed as u32);
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            hasher.write(b":");
        }
        hasher.write(part.as_bytes());
    }
    hasher.finish()
}

/// Maps a 32-bit hash to a bucket in `0..BUCKETS`: `floor(h × 10000 / 2^32)`.
///
/// Every bucket receives 429,496 or 429,497 of the 2^32 hash values, a relative difference of
/// 2.3e-6 (the same as `h % 10000` would have, but with contiguous hash ranges per bucket).
#[inline]
pub fn to_bucket(h: u32) -> u32 {
    ((u64::from(h) * u64::from(BUCKETS)) >> 32) as u32
}

/// The user's bucket in `namespace` (layer slices and traffic).
#[inline]
pub fn namespace_bucket(namespace: &str, user_id: &str) -> u32 {
    to_bucket(hash_key(Seed::Namespace, &[namespace, user_id]))
}

/// The user's variant bucket in experiment `experiment_id`.
#[inline]
pub fn variant_bucket(experiment_id: &str, user_id: &str) -> u32 {
    to_bucket(hash_key(Seed::Variant, &[experiment_id, user_id]))
}

/// The variant bucket of switchback unit `unit_value` in window `window` (the window index
/// in decimal, e.g. `17`; the unit value is the last part of the key).
#[inline]
pub fn switchback_bucket(namespace: &str, window: i64, unit_value: &str) -> u32 {
    let window = window.to_string();
    to_bucket(hash_key(
        Seed::Switchback,
        &[namespace, &window, unit_value],
    ))
}

/// The user's allocation bucket for `flag`, in `rule` or (without a rule) in the rollout.
#[inline]
pub fn flag_bucket(flag: &str, rule: Option<&str>, user_id: &str) -> u32 {
    let h = match rule {
        Some(rule) => hash_key(Seed::Flag, &[flag, rule, user_id]),
        None => hash_key(Seed::Flag, &[flag, user_id]),
    };
    to_bucket(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values published with the reference implementation and reproduced by most ports.
    #[test]
    fn matches_the_reference_values() {
        assert_eq!(murmur3_x86_32(b"", 0), 0);
        assert_eq!(murmur3_x86_32(b"", 1), 0x514e_28b7);
        assert_eq!(murmur3_x86_32(b"", 0xffff_ffff), 0x81f1_6f39);
        assert_eq!(murmur3_x86_32(&[0, 0, 0, 0], 0), 0x2362_f9de);
        assert_eq!(murmur3_x86_32(b"hello", 0), 0x248b_fa47);
        assert_eq!(
            murmur3_x86_32(b"The quick brown fox jumps over the lazy dog", 0),
            0x2e4f_f723
        );
        assert_eq!(murmur3_x86_32(b"aaaa", 0x9747_b28c), 0x5a97_808a);
        assert_eq!(murmur3_x86_32(b"abc", 0x9747_b28c), 0xc84a_62dd);
    }

    #[test]
    fn streaming_equals_one_shot_for_every_split() {
        let text = b"checkout:user-000123456789";
        let whole = murmur3_x86_32(text, 7);
        for i in 0..=text.len() {
            for j in i..=text.len() {
                let mut h = Murmur3::new(7);
                h.write(&text[..i]).write(&text[i..j]).write(&text[j..]);
                assert_eq!(h.finish(), whole, "split at {i}, {j}");
            }
        }
    }

    #[test]
    fn long_keys_take_the_streaming_path_with_the_same_result() {
        for n in [250, 254, 255, 256, 257, 300, 1000] {
            let user = "u".repeat(n);
            let mut key = b"ns:".to_vec();
            key.extend_from_slice(user.as_bytes());
            assert_eq!(
                hash_key(Seed::Variant, &["ns", &user]),
                Murmur3::new(1).write(&key).finish(),
                "{n}"
            );
            assert_eq!(
                hash_key(Seed::Variant, &["ns", &user]),
                murmur3_x86_32(&key, 1)
            );
        }
    }

    #[test]
    fn keys_are_colon_joined() {
        assert_eq!(
            hash_key(Seed::Namespace, &["checkout", "u1"]),
            murmur3_x86_32(b"checkout:u1", 0)
        );
        assert_eq!(
            hash_key(Seed::Flag, &["f", "r", "u1"]),
            murmur3_x86_32(b"f:r:u1", 2)
        );
    }

    #[test]
    fn buckets_cover_the_range() {
        assert_eq!(to_bucket(0), 0);
        assert_eq!(to_bucket(u32::MAX), BUCKETS - 1);
        assert_eq!(to_bucket(1 << 31), BUCKETS / 2);
    }
}
