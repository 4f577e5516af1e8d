//! CRC-64/REDIS (Jones polynomial, reflected, init 0): the RDB checksum.
//!
//! Computed with `crc-fast`'s SIMD implementation. Note that `crc64fast` computes
//! CRC-64/XZ, which is a different checksum.

use crc_fast::{CrcAlgorithm, Digest};

/// CRC-64/REDIS of `data`.
pub fn crc64(data: &[u8]) -> u64 {
    crc_fast::checksum(CrcAlgorithm::Crc64Redis, data)
}

/// A streaming CRC-64/REDIS.
#[derive(Clone)]
pub struct Crc64 {
    digest: Digest,
}

impl Default for Crc64 {
    fn default() -> Self {
        Crc64 {
            digest: Digest::new(CrcAlgorithm::Crc64Redis),
        }
    }
}

impl Crc64 {
    /// Adds bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.digest.update(data);
    }

    /// The checksum of everything added.
    pub fn finish(&self) -> u64 {
        self.digest.finalize()
    }
}

impl std::fmt::Debug for Crc64 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Crc64({:016x})", self.finish())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn check_value_is_the_jones_crc() {
        assert_eq!(super::crc64(b"123456789"), 0xe9c6d914c4b8d9ca);
        let reference = crc::Crc::<u64>::new(&crc::CRC_64_REDIS);
        let data: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        assert_eq!(super::crc64(&data), reference.checksum(&data));
        let mut s = super::Crc64::default();
        s.update(&data[..123]);
        s.update(&data[123..]);
        assert_eq!(s.finish(), reference.checksum(&data));
    }
}
