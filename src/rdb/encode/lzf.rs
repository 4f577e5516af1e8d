//! LZF compression exactly as Redis's bundled liblzf (`src/lzf_c.c`: `HLOG 16`, `VERY_FAST 1`,
//! `ULTRA_FAST 0`, the `ip + 4 < in_end` match guard) compresses, with the hash table
//! zero-initialised for every call so that the output depends only on the input.
//!
//! Redis compiles liblzf with `INIT_HTAB 0`, so its hash table holds whatever the previous
//! call left there: the *compressed bytes* Redis writes can differ from ours for the same
//! input (both inflate to the same data). Everything else (token format, match search,
//! literal runs, the `len - 4` output budget) is the same.

const HLOG: u32 = 16;
const HSIZE: usize = 1 << HLOG;
const MAX_LIT: usize = 1 << 5;
const MAX_OFF: usize = 1 << 13;
const MAX_REF: usize = (1 << 8) + (1 << 3);
/// Output budget from which [`LzfCompressor::compress`] uses a fresh zeroed buffer.
const LAZY_OUT: usize = 1 << 20;

/// A reusable LZF compressor (keeps its 256 KiB hash table between calls).
#[derive(Clone)]
pub struct LzfCompressor {
    htab: Vec<u32>,
    touched: Vec<u32>,
}

impl Default for LzfCompressor {
    fn default() -> Self {
        LzfCompressor {
            htab: vec![0; HSIZE],
            touched: Vec::new(),
        }
    }
}

impl std::fmt::Debug for LzfCompressor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LzfCompressor")
    }
}

#[inline]
fn idx(h: u32) -> usize {
    ((h >> (3 * 8 - HLOG)).wrapping_sub(h.wrapping_mul(5)) as usize) & (HSIZE - 1)
}

impl LzfCompressor {
    /// Compresses `input` into `out` (cleared first) using at most `max_out` bytes.
    /// Returns false (and leaves `out` unspecified) when the data does not fit, like
    /// `lzf_compress` returning 0.
    ///
    /// For a large `max_out` the output buffer is a fresh zeroed allocation, trimmed to the
    /// output afterwards: pages the output never reaches are never touched, so compressing a
    /// long, compressible string takes about the size of its output.
    pub fn compress(&mut self, input: &[u8], max_out: usize, out: &mut Vec<u8>) -> bool {
        let large = max_out >= LAZY_OUT;
        if large {
            *out = Vec::new();
            *out = vec![0; max_out + 1];
        }
        let r = self.compress_inner(input, max_out, out);
        if large {
            if r {
                out.shrink_to_fit();
            } else {
                *out = Vec::new();
            }
        }
        // Reset only the slots this call used, so the next call starts from a zeroed table.
        if self.touched.len() > HSIZE / 4 {
            self.htab.iter_mut().for_each(|x| *x = 0);
        } else {
            for &s in &self.touched {
                self.htab[s as usize] = 0;
            }
        }
        self.touched.clear();
        r
    }

    #[inline]
    fn set(&mut self, slot: usize, v: usize) {
        if self.htab[slot] == 0 {
            self.touched.push(slot as u32);
        }
        self.htab[slot] = v as u32;
    }

    fn compress_inner(&mut self, input: &[u8], max_out: usize, out: &mut Vec<u8>) -> bool {
        let in_len = input.len();
        if in_len == 0 || max_out == 0 || in_len >= u32::MAX as usize {
            return false;
        }
        // Like Redis (`zmalloc(outlen + 1)`): the run-start byte may land one past `max_out`
        // before the bound checks refuse the output.
        // (`compress` gives a large budget a fresh zeroed buffer of that size.)
        if max_out < LAZY_OUT {
            out.clear();
            out.resize(max_out + 1, 0);
        }
        let out_end = max_out;
        let mut ip = 0usize;
        let mut op = 1usize; // start run
        let mut lit: usize = 0;
        let frst = |p: usize| -> u32 { ((input[p] as u32) << 8) | input[p + 1] as u32 };
        if in_len >= 2 {
            let mut hval = frst(0);
            while ip + 2 < in_len {
                hval = (hval << 8) | input[ip + 2] as u32;
                let slot = idx(hval);
                let rf = self.htab[slot] as usize;
                self.set(slot, ip);
                let off = ip.wrapping_sub(rf).wrapping_sub(1);
                if rf < ip
                    && off < MAX_OFF
                    && ip + 4 < in_len
                    && rf > 0
                    && input[rf + 2] == input[ip + 2]
                    && input[rf] == input[ip]
                    && input[rf + 1] == input[ip + 1]
                {
                    let mut len = 2usize;
                    let maxlen = (in_len - ip - len).min(MAX_REF);
                    out[op - lit - 1] = (lit as u8).wrapping_sub(1); // stop run
                    op -= (lit == 0) as usize; // undo run if length is zero
                    if op + 3 + 1 >= out_end {
                        return false;
                    }
                    loop {
                        len += 1;
                        if !(len < maxlen && input[rf + len] == input[ip + len]) {
                            break;
                        }
                    }
                    len -= 2; // len is now #octets - 1
                    ip += 1;
                    if len < 7 {
                        out[op] = ((off >> 8) + (len << 5)) as u8;
                        op += 1;
                    } else {
                        out[op] = ((off >> 8) + (7 << 5)) as u8;
                        out[op + 1] = (len - 7) as u8;
                        op += 2;
                    }
                    out[op] = off as u8;
                    op += 1;
                    lit = 0;
                    op += 1; // start run
                    ip += len + 1;
                    if ip + 2 >= in_len {
                        break;
                    }
                    ip -= 2;
                    hval = frst(ip);
                    hval = (hval << 8) | input[ip + 2] as u32;
                    self.set(idx(hval), ip);
                    ip += 1;
                    hval = (hval << 8) | input[ip + 2] as u32;
                    self.set(idx(hval), ip);
                    ip += 1;
                } else {
                    if op >= out_end {
                        return false;
                    }
                    lit += 1;
                    out[op] = input[ip];
                    op += 1;
                    ip += 1;
                    if lit == MAX_LIT {
                        out[op - lit - 1] = (lit as u8).wrapping_sub(1);
                        lit = 0;
                        op += 1;
                    }
                }
            }
        }
        if op + 3 > out_end {
            return false;
        }
        while ip < in_len {
            if op >= out_end {
                return false;
            }
            lit += 1;
            out[op] = input[ip];
            op += 1;
            ip += 1;
            if lit == MAX_LIT {
                out[op - lit - 1] = (lit as u8).wrapping_sub(1);
                lit = 0;
                op += 1;
            }
        }
        if op > out_end {
            return false;
        }
        out[op - lit - 1] = (lit as u8).wrapping_sub(1); // end run
        op -= (lit == 0) as usize;
        out.truncate(op);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inflate(c: &[u8], n: usize) -> Vec<u8> {
        let mut out = Vec::new();
        crate::rdb::encoding::lzf::decompress_into(c, n as u64, &mut out, 0).unwrap();
        out
    }

    #[test]
    fn round_trips_and_matches_the_lzf_crate() {
        let mut z = LzfCompressor::default();
        let mut seed = 7u64;
        for round in 0..300 {
            let n = (round * 37) % 3000 + 21;
            let mut data = Vec::with_capacity(n);
            for i in 0..n {
                seed = seed
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let r = (seed >> 33) as u8;
                data.push(if round % 3 == 0 {
                    r
                } else {
                    b'a' + (r % (1 + (round % 7) as u8)) + (i % 3) as u8
                });
            }
            let mut out = Vec::new();
            if z.compress(&data, data.len() - 4, &mut out) {
                assert!(out.len() <= data.len() - 4);
                assert_eq!(inflate(&out, data.len()), data);
                // The lzf crate implements the same algorithm with a zeroed table.
                if let Ok(c) = lzf::compress(&data) {
                    assert_eq!(c, out, "round {round}");
                }
            }
        }
    }

    #[test]
    fn incompressible_data_is_refused() {
        let mut z = LzfCompressor::default();
        let data: Vec<u8> = (0..64u32).map(|i| (i * 151 % 256) as u8).collect();
        let mut out = Vec::new();
        assert!(!z.compress(&data, data.len() - 4, &mut out));
        let run = vec![b'x'; 100];
        assert!(z.compress(&run, 96, &mut out));
        assert_eq!(inflate(&out, 100), run);
    }

    /// Budgets from `LAZY_OUT` up take the fresh-buffer path: the output is the same as the
    /// lzf crate's, trimmed to its size, and a refusal leaves `out` empty; a small call after
    /// a large one still works.
    #[test]
    fn large_budgets_compress_like_the_lzf_crate() {
        let mut z = LzfCompressor::default();
        let mut data = vec![0u8; 3 << 20];
        data[(1 << 20) + 7] = 1;
        data[(3 << 20) - 1] = 9;
        let mut out = Vec::new();
        assert!(z.compress(&data, data.len() - 4, &mut out));
        assert_eq!(out, lzf::compress(&data).unwrap());
        assert_eq!(out.capacity(), out.len());
        assert_eq!(inflate(&out, data.len()), data);
        let mut seed = 1u64;
        let noise: Vec<u8> = (0..2 << 20)
            .map(|_| {
                seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
                (seed >> 33) as u8
            })
            .collect();
        assert!(!z.compress(&noise, noise.len() - 4, &mut out));
        assert_eq!(out.capacity(), 0);
        let run = vec![b'y'; 100];
        assert!(z.compress(&run, 96, &mut out));
        assert_eq!(inflate(&out, 100), run);
    }
}
