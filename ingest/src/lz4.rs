//! LZ4 in ClickHouse's compressed-block framing: the body of an `INSERT` sent with
//! `decompress=1`, the same bytes the clickhouse crate sends when its client compresses.
//!
//! Ingest compresses its RowBinary itself so that the output buffer is reused from chunk to
//! chunk: the crate zero-fills a new buffer of the largest possible compressed size for every
//! chunk, which cost as much as a fifth of the compression itself.
//!
//! A block: a 16-byte checksum (CityHash128 v1.0.2 of the rest of the block, high half first),
//! the method byte (`0x82`, LZ4), the block's size without the checksum and the uncompressed
//! size (both `u32`, little-endian), then the LZ4 block.

use std::sync::Mutex;

use bytes::Bytes;

const CHECKSUM: usize = 16;
const HEADER: usize = 9;
const LZ4: u8 = 0x82;

/// Why a chunk could not be compressed.
#[derive(Debug, thiserror::Error)]
pub enum CompressError {
    /// More than 4 GiB in one block.
    #[error("a block of {0} bytes is too large to compress (the limit is 4 GiB)")]
    TooLarge(usize),
    /// The LZ4 encoder failed (not expected: the output has the largest size it may need).
    #[error("lz4 compression failed: {0}")]
    Lz4(#[from] lz4_flex::block::CompressError),
}

/// Compresses chunks into blocks with one output buffer, reused (shared by clones of a sink;
/// held only while a chunk is compressed).
#[derive(Default)]
pub struct Compressor {
    scratch: Mutex<Vec<u8>>,
}

impl std::fmt::Debug for Compressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Compressor").finish_non_exhaustive()
    }
}

impl Compressor {
    /// [`compress_block`] with this compressor's buffer.
    pub fn compress(&self, chunk: &[u8]) -> Result<Bytes, CompressError> {
        let mut scratch = self.scratch.lock().unwrap_or_else(|p| p.into_inner());
        compress_block(chunk, &mut scratch)
    }
}

/// Compresses `chunk` into one block. `scratch` is reused from call to call (it is zeroed only
/// when it grows).
pub fn compress_block(chunk: &[u8], scratch: &mut Vec<u8>) -> Result<Bytes, CompressError> {
    let max = CHECKSUM + HEADER + lz4_flex::block::get_maximum_output_size(chunk.len());
    if scratch.len() < max {
        scratch.resize(max, 0);
    }
    let compressed = lz4_flex::block::compress_into(chunk, &mut scratch[CHECKSUM + HEADER..max])?;
    let block = HEADER + compressed;
    let too_large = || CompressError::TooLarge(chunk.len());
    let block_len = u32::try_from(block).map_err(|_| too_large())?;
    let chunk_len = u32::try_from(chunk.len()).map_err(|_| too_large())?;
    let (checksum, rest) = scratch.split_at_mut(CHECKSUM);
    let rest = &mut rest[..block];
    rest[0] = LZ4;
    rest[1..5].copy_from_slice(&block_len.to_le_bytes());
    rest[5..9].copy_from_slice(&chunk_len.to_le_bytes());
    let hash = cityhash_rs::cityhash_102_128(rest);
    checksum.copy_from_slice(&hash.rotate_right(64).to_le_bytes());
    Ok(Bytes::copy_from_slice(&scratch[..CHECKSUM + block]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_hold_their_sizes_a_checksum_and_the_lz4_data() {
        let data: Vec<u8> = (0..100_000u32)
            .flat_map(|i| (i % 251).to_le_bytes())
            .collect();
        let mut scratch = Vec::new();
        for chunk in [&data[..], &data[..10], &[][..], &data[..5000]] {
            let block = compress_block(chunk, &mut scratch).expect("compresses");
            assert_eq!(block[CHECKSUM], LZ4);
            let size = u32::from_le_bytes(block[17..21].try_into().expect("4 bytes")) as usize;
            let raw = u32::from_le_bytes(block[21..25].try_into().expect("4 bytes")) as usize;
            assert_eq!((size, raw), (block.len() - CHECKSUM, chunk.len()));
            let hash = cityhash_rs::cityhash_102_128(&block[CHECKSUM..]).rotate_right(64);
            assert_eq!(block[..CHECKSUM], hash.to_le_bytes());
            let back = lz4_flex::block::decompress(&block[CHECKSUM + HEADER..], raw)
                .expect("decompresses");
            assert_eq!(back, chunk);
        }
    }
}
