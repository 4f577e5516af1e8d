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

/// The CRC-64 an RDB's checksum covers (every byte up to and including the EOF opcode),
/// started on another thread of `scope` on the guess that the file ends with the EOF opcode and
/// its 8-byte checksum; [`EofCrc::finish`] takes that result when the guess was right and
/// hashes the right range otherwise.
pub struct EofCrc<'scope, 'd> {
    data: &'d [u8],
    guess: Option<usize>,
    thread: Option<std::thread::ScopedJoinHandle<'scope, u64>>,
}

impl<'scope, 'd: 'scope> EofCrc<'scope, 'd> {
    /// Starts hashing `data[..=len - 9]` on a thread of `scope` when `speculate`; otherwise
    /// everything is hashed by `finish`.
    pub fn start<'env>(
        scope: &'scope std::thread::Scope<'scope, 'env>,
        data: &'d [u8],
        speculate: bool,
    ) -> Self {
        let guess = data.len().checked_sub(9).filter(|_| speculate);
        let thread = guess.map(|g| scope.spawn(move || crc64(&data[..=g])));
        EofCrc {
            data,
            guess,
            thread,
        }
    }

    /// The CRC-64 of `data[..=eof]` (`eof`: the offset of the EOF opcode).
    pub fn finish(self, eof: usize) -> u64 {
        let range = || crc64(self.data.get(..=eof).unwrap_or(self.data));
        match self.thread {
            Some(h) if Some(eof) == self.guess => h.join().unwrap_or_else(|_| range()),
            _ => range(),
        }
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
