//! LZF decompression into a caller-owned buffer (liblzf format, as used by Redis).

use crate::error::{Error, Result};

/// Largest uncompressed size accepted relative to the compressed size. LZF's best case is a
/// back-reference of 264 bytes per 2 input bytes (~132:1); anything claiming more is corrupt.
const MAX_RATIO: u64 = 140;

/// Bytes allocated past the end of the output so that short copies can move whole 16- or
/// 32-byte blocks (the excess is overwritten or cut off).
const SLACK: usize = 32;

/// The largest uncompressed length [`decompress_into`] and [`validate`] accept for
/// `compressed_len` bytes of LZF data; a string claiming more is refused as corrupt before
/// anything is allocated. So no LZF string inflates to more than this.
pub fn max_decompressed_len(compressed_len: usize) -> u64 {
    (compressed_len as u64)
        .saturating_mul(MAX_RATIO)
        .saturating_add(64)
}

fn check_ratio(input: &[u8], ulen: u64, offset: u64) -> Result<()> {
    if ulen > max_decompressed_len(input.len()) {
        return Err(Error::corrupt(
            offset,
            "an LZF string whose length fits its compressed size",
            format!("{} compressed bytes claiming {ulen} bytes", input.len()),
        ));
    }
    Ok(())
}

fn bad(offset: u64, what: &str, ip: usize) -> Error {
    Error::corrupt(offset + ip as u64, "valid LZF data", what.to_string())
}

fn short(offset: u64, got: usize, ulen: usize) -> Error {
    Error::corrupt(
        offset,
        "LZF data that inflates to the stored length",
        format!("{got} bytes instead of {ulen}"),
    )
}

/// Inflates `input` into `out` (cleared first), which must come to exactly `ulen` bytes.
/// `offset` is the file offset of `input`, used in errors.
pub fn decompress_into(input: &[u8], ulen: u64, out: &mut Vec<u8>, offset: u64) -> Result<()> {
    out.clear();
    check_ratio(input, ulen, offset)?;
    let ulen = ulen as usize;
    out.resize(ulen + SLACK, 0);
    match run::<true>(input, ulen, out, offset, usize::MAX) {
        Ok(op) => {
            out.truncate(op);
            if op != ulen {
                return Err(short(offset, op, ulen));
            }
            Ok(())
        }
        Err(e) => {
            out.clear();
            Err(e)
        }
    }
}

/// Checks that `input` is LZF data inflating to exactly `ulen` bytes without producing them:
/// the same verdict and error as [`decompress_into`], at a fraction of the cost (back-references
/// only need the output position).
pub fn validate(input: &[u8], ulen: u64, offset: u64) -> Result<()> {
    check_ratio(input, ulen, offset)?;
    let ulen = ulen as usize;
    let op = run::<false>(input, ulen, &mut [], offset, usize::MAX)?;
    if op != ulen {
        return Err(short(offset, op, ulen));
    }
    Ok(())
}

/// Inflates only the first `want` bytes (or all of them, when fewer) of `input`, an LZF
/// string of `ulen` bytes, into `out` (cleared first): enough to read a header. Checks what
/// it reads as [`decompress_into`] does; memory is bounded by `want`, not `ulen`.
pub fn decompress_prefix(
    input: &[u8],
    ulen: u64,
    want: usize,
    out: &mut Vec<u8>,
    offset: u64,
) -> Result<()> {
    out.clear();
    check_ratio(input, ulen, offset)?;
    let ulen = usize::try_from(ulen).unwrap_or(usize::MAX);
    let want = want.min(ulen);
    // One token writes at most 264 bytes (plus the block-copy slack) past where it starts.
    out.resize(want + 264 + SLACK, 0);
    match run::<true>(input, ulen, out, offset, want) {
        Ok(op) => {
            out.truncate(op.min(want));
            if op < want {
                return Err(short(offset, op, ulen));
            }
            Ok(())
        }
        Err(e) => {
            out.clear();
            Err(e)
        }
    }
}

/// Walks the LZF tokens, checking every run against the input and the `ulen`-byte output;
/// with `WRITE` also produces the bytes into `buf` (`ulen + SLACK` bytes, or `stop + 264 +
/// SLACK` when stopping early). Stops at the first token starting at or after `stop`. Returns
/// the output length reached.
#[inline(always)]
fn run<const WRITE: bool>(
    input: &[u8],
    ulen: usize,
    buf: &mut [u8],
    offset: u64,
    stop: usize,
) -> Result<usize> {
    let mut ip = 0usize;
    let mut op = 0usize;
    while let Some(&c) = input.get(ip) {
        if op >= stop {
            break;
        }
        let ctrl = c as usize;
        ip += 1;
        if ctrl < 32 {
            let n = ctrl + 1;
            if op + n > ulen || ip + n > input.len() {
                return Err(bad(
                    offset,
                    "a literal run past the end of the input or output",
                    ip,
                ));
            }
            if WRITE {
                // `op + 32 <= buf.len()` holds since `op <= ulen`.
                match input.get(ip..ip + 32) {
                    Some(src) => buf[op..op + 32].copy_from_slice(src),
                    None => buf[op..op + n].copy_from_slice(&input[ip..ip + n]),
                }
            }
            ip += n;
            op += n;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                let Some(&b) = input.get(ip) else {
                    return Err(bad(
                        offset,
                        "a back-reference past the end of the input",
                        ip,
                    ));
                };
                len += b as usize;
                ip += 1;
            }
            len += 2;
            let Some(&lo) = input.get(ip) else {
                return Err(bad(
                    offset,
                    "a back-reference past the end of the input",
                    ip,
                ));
            };
            ip += 1;
            let dist = ((ctrl & 0x1f) << 8) + lo as usize + 1;
            if dist > op || op + len > ulen {
                return Err(bad(offset, "a back-reference outside the output", ip));
            }
            if WRITE {
                copy_back(buf, op, dist, len);
            }
            op += len;
        }
    }
    Ok(op)
}

/// Copies `len` bytes from `dist` bytes back to `op`, LZ77-style (the source may overlap the
/// destination, repeating the last `dist` bytes).
#[inline(always)]
fn copy_back(buf: &mut [u8], op: usize, dist: usize, len: usize) {
    let start = op - dist;
    if dist >= 16 {
        // Forward copy in 16-byte blocks: each block reads only bytes written before it
        // (dist >= 16); the last block may spill into the slack.
        let mut k = 0;
        while k < len {
            let mut t = [0u8; 16];
            t.copy_from_slice(&buf[start + k..start + k + 16]);
            buf[op + k..op + k + 16].copy_from_slice(&t);
            k += 16;
        }
    } else if dist == 1 {
        let b = buf[start];
        buf[op..op + len].fill(b);
    } else {
        for k in 0..len {
            buf[op + k] = buf[start + k];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_inflates_the_start_only() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i % 17) as u8 + b'a').collect();
        let c = lzf::compress(&data).unwrap();
        let mut out = Vec::new();
        for want in [0, 1, 10, 100, 4999, 5000, 9000] {
            decompress_prefix(&c, data.len() as u64, want, &mut out, 0).unwrap();
            assert_eq!(out, data[..want.min(data.len())], "want {want}");
        }
        assert!(decompress_prefix(&[0xe0, 0xff, 0xff], 1000, 10, &mut out, 0).is_err());
        assert!(decompress_prefix(&c[..3], data.len() as u64, 4000, &mut out, 0).is_err());
    }

    #[test]
    fn matches_the_lzf_crate_on_compressible_data() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i % 17) as u8 + b'a').collect();
        let c = lzf::compress(&data).unwrap();
        let mut out = Vec::new();
        decompress_into(&c, data.len() as u64, &mut out, 0).unwrap();
        assert_eq!(out, data);
        assert!(decompress_into(&c, data.len() as u64 + 1, &mut out, 0).is_err());
        assert!(decompress_into(&c[..c.len() - 1], data.len() as u64, &mut out, 0).is_err());
    }

    /// `validate` gives exactly the verdict and error of `decompress_into`, on valid data
    /// from the reference compressor and on every truncation and single-byte change of it.
    #[test]
    fn validate_agrees_with_decompress() {
        let mut data: Vec<u8> = (0..3000u32).map(|i| (i % 23) as u8 + b'a').collect();
        data.extend((0..500u32).map(|i| (i * 7919 % 251) as u8));
        data.extend(std::iter::repeat_n(b'z', 300));
        for p in 2..16u32 {
            data.extend((0..200u32).map(|i| (i % p) as u8 + b'A'));
        }
        let c = lzf::compress(&data).unwrap();
        let mut out = Vec::new();
        let agree = |input: &[u8], ulen: u64, out: &mut Vec<u8>| {
            let a = decompress_into(input, ulen, out, 100).map_err(|e| e.to_string());
            let b = validate(input, ulen, 100).map_err(|e| e.to_string());
            assert_eq!(a, b, "input {} bytes, ulen {ulen}", input.len());
        };
        agree(&c, data.len() as u64, &mut out);
        assert_eq!(out, data);
        for cut in 0..c.len() {
            agree(&c[..cut], data.len() as u64, &mut out);
        }
        for i in 0..c.len() {
            for x in [0u8, 1, 0x1f, 0x20, 0xe0, 0xff] {
                let mut m = c.clone();
                m[i] = x;
                agree(&m, data.len() as u64, &mut out);
                if out.len() == data.len() {
                    // Same bytes as the reference decompressor.
                    assert_eq!(
                        Ok(out.clone()),
                        lzf::decompress(&m, data.len()).map_err(|_| ())
                    );
                }
            }
        }
    }
}
