//! LZF decompression into a caller-owned buffer (liblzf format, as used by Redis).

use crate::error::{Error, Result};

/// Largest uncompressed size accepted relative to the compressed size. LZF's best case is a
/// back-reference of 264 bytes per 2 input bytes (~132:1); anything claiming more is corrupt.
const MAX_RATIO: u64 = 140;

/// Inflates `input` into `out` (cleared first), which must come to exactly `ulen` bytes.
/// `offset` is the file offset of `input`, used in errors.
pub fn decompress_into(input: &[u8], ulen: u64, out: &mut Vec<u8>, offset: u64) -> Result<()> {
    out.clear();
    if ulen
        > (input.len() as u64)
            .saturating_mul(MAX_RATIO)
            .saturating_add(64)
    {
        return Err(Error::corrupt(
            offset,
            "an LZF string whose length fits its compressed size",
            format!("{} compressed bytes claiming {ulen} bytes", input.len()),
        ));
    }
    crate::fuzzing::note_inflated(ulen);
    let ulen = ulen as usize;
    out.resize(ulen, 0);
    let buf = out.as_mut_slice();
    let mut ip = 0usize;
    let mut op = 0usize;
    let bad = |what: &str, ip: usize| {
        Error::corrupt(offset + ip as u64, "valid LZF data", what.to_string())
    };
    while let Some(&c) = input.get(ip) {
        let ctrl = c as usize;
        ip += 1;
        if ctrl < 32 {
            let n = ctrl + 1;
            let (Some(src), Some(dst)) = (input.get(ip..ip + n), buf.get_mut(op..op + n)) else {
                out.clear();
                return Err(bad("a literal run past the end of the input or output", ip));
            };
            dst.copy_from_slice(src);
            ip += n;
            op += n;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                let Some(&b) = input.get(ip) else {
                    out.clear();
                    return Err(bad("a back-reference past the end of the input", ip));
                };
                len += b as usize;
                ip += 1;
            }
            len += 2;
            let Some(&lo) = input.get(ip) else {
                out.clear();
                return Err(bad("a back-reference past the end of the input", ip));
            };
            ip += 1;
            let dist = ((ctrl & 0x1f) << 8) + lo as usize + 1;
            if dist > op || op + len > ulen {
                out.clear();
                return Err(bad("a back-reference outside the output", ip));
            }
            let start = op - dist;
            if dist >= len {
                buf.copy_within(start..start + len, op);
            } else {
                for k in 0..len {
                    buf[op + k] = buf[start + k];
                }
            }
            op += len;
        }
    }
    if op != ulen {
        out.truncate(op);
    }
    if out.len() != ulen {
        return Err(Error::corrupt(
            offset,
            "LZF data that inflates to the stored length",
            format!("{} bytes instead of {ulen}", out.len()),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
