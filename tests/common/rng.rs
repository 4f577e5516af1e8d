//! The tests' one pseudo-random generator: splitmix64, seeded, so that every failure
//! reproduces. Included by path (`#[path = ...] mod rng;`) by the test crates and support
//! modules that need it.
#![allow(dead_code)]

/// splitmix64 over a seed.
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0), as the type of `n` (`usize` or `u64`).
    pub fn below<T: Copy + TryInto<u64> + TryFrom<u64>>(&mut self, n: T) -> T {
        let n: u64 = n.try_into().unwrap_or(u64::MAX).max(1);
        T::try_from(self.next() % n).unwrap_or_else(|_| unreachable!())
    }

    /// One of `xs` (which must not be empty).
    pub fn pick<'a, X: ?Sized>(&mut self, xs: &[&'a X]) -> &'a X {
        xs[self.below(xs.len())]
    }

    /// True with probability `pct` %.
    pub fn chance(&mut self, pct: u64) -> bool {
        self.below(100u64) < pct
    }

    /// Shuffles `xs` in place (Fisher–Yates).
    pub fn shuffle<X>(&mut self, xs: &mut [X]) {
        for i in (1..xs.len()).rev() {
            let j = self.below(i + 1);
            xs.swap(i, j);
        }
    }

    /// A non-zero XOR mask.
    pub fn mask(&mut self) -> u8 {
        (self.below(255u64) + 1) as u8
    }
}
