//! Encoders: the inverse of [`crate::rdb::encoding`]. They produce exactly the bytes Redis's
//! own writer produces for the same data where Redis's rules determine them (string int/LZF
//! encodings, length forms, ziplist/listpack/intset/zipmap entry encodings, stream node
//! layout), so that re-encoded values load in Redis as if Redis had saved them.
//!
//! Spec references are to `shared/spec/rdb-format.md`.

pub mod collection;
pub mod double;
pub mod intset;
pub mod listpack;
pub mod lzf;
pub mod stream;
pub mod ziplist;
pub mod zipmap;

use crate::rdb::encoding::parse_i64_canonical;
use lzf::LzfCompressor;

/// Appends an RDB length in its smallest form (§4.1). Lengths above `u32::MAX` use the
/// 9-byte `0x81` form, which only RDB ≥ 8 readers understand.
#[inline]
pub fn write_len(out: &mut Vec<u8>, n: u64) {
    if n < 64 {
        out.push(n as u8);
    } else if n < 16384 {
        out.push(0x40 | (n >> 8) as u8);
        out.push(n as u8);
    } else if n <= u32::MAX as u64 {
        out.push(0x80);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(0x81);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// Size in bytes of [`write_len`]'s output for `n`.
#[inline]
pub fn len_size(n: u64) -> usize {
    if n < 64 {
        1
    } else if n < 16384 {
        2
    } else if n <= u32::MAX as u64 {
        5
    } else {
        9
    }
}

/// Appends the int8/16/32 string encoding of `v` (`rdbEncodeInteger`), or returns false when
/// `v` does not fit in 32 bits.
#[inline]
pub fn write_int_encoded(out: &mut Vec<u8>, v: i64) -> bool {
    if v >= i8::MIN as i64 && v <= i8::MAX as i64 {
        out.extend_from_slice(&[0xC0, v as i8 as u8]);
    } else if v >= i16::MIN as i64 && v <= i16::MAX as i64 {
        out.push(0xC1);
        out.extend_from_slice(&(v as i16).to_le_bytes());
    } else if v >= i32::MIN as i64 && v <= i32::MAX as i64 {
        out.push(0xC2);
        out.extend_from_slice(&(v as i32).to_le_bytes());
    } else {
        return false;
    }
    true
}

/// What follows the header [`StringEncoder::write_head`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// Nothing: the header was the whole encoding (an int-encoded string).
    None,
    /// The input string, raw.
    Input,
    /// [`StringEncoder::take_compressed`].
    Compressed,
}

/// Writes RDB strings with Redis's `rdbSaveRawString` rules (§4.2): canonical integers of at
/// most 11 bytes that fit in 32 bits as int8/16/32; with compression on, strings longer than
/// 20 bytes LZF-compressed when that saves at least 4 bytes; everything else raw.
#[derive(Debug, Clone)]
pub struct StringEncoder {
    compression: bool,
    lzf: LzfCompressor,
    buf: Vec<u8>,
}

impl Default for StringEncoder {
    fn default() -> Self {
        Self::new(true)
    }
}

impl StringEncoder {
    /// An encoder; `compression` is Redis's `rdbcompression` (default yes).
    pub fn new(compression: bool) -> Self {
        StringEncoder {
            compression,
            lzf: LzfCompressor::default(),
            buf: Vec::new(),
        }
    }

    /// Whether LZF compression is on.
    pub fn compression(&self) -> bool {
        self.compression
    }

    /// Appends `s` encoded as an RDB string.
    pub fn write(&mut self, out: &mut Vec<u8>, s: &[u8]) {
        if s.len() <= 11 {
            if let Some(v) = parse_i64_canonical(s) {
                if write_int_encoded(out, v) {
                    return;
                }
            }
        }
        if self.compression && s.len() > 20 && self.lzf.compress(s, s.len() - 4, &mut self.buf) {
            out.push(0xC3);
            write_len(out, self.buf.len() as u64);
            write_len(out, s.len() as u64);
            out.extend_from_slice(&self.buf);
            return;
        }
        write_len(out, s.len() as u64);
        out.extend_from_slice(s);
    }

    /// Like [`Self::write`], but leaves the body of the encoding out of `out`: appends the
    /// header (and, for a short string, everything) and returns what must follow it, either
    /// `s` itself or its LZF-compressed form ([`Self::take_compressed`]). Lets a writer send a long
    /// string straight to its sink instead of copying it into a buffer.
    pub fn write_head(&mut self, out: &mut Vec<u8>, s: &[u8]) -> Body {
        if s.len() <= 11 {
            if let Some(v) = parse_i64_canonical(s) {
                if write_int_encoded(out, v) {
                    return Body::None;
                }
            }
        }
        if self.compression && s.len() > 20 && self.lzf.compress(s, s.len() - 4, &mut self.buf) {
            out.push(0xC3);
            write_len(out, self.buf.len() as u64);
            write_len(out, s.len() as u64);
            return Body::Compressed;
        }
        write_len(out, s.len() as u64);
        Body::Input
    }

    /// The compressed bytes of the last [`Self::write_head`] that returned
    /// [`Body::Compressed`] (the encoder allocates a new buffer next time).
    pub fn take_compressed(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    /// Appends an integer the way `rdbSaveLongLongAsStringObject` does: int-encoded when it
    /// fits in 32 bits, otherwise its decimal text raw (never compressed).
    pub fn write_i64(out: &mut Vec<u8>, v: i64) {
        if !write_int_encoded(out, v) {
            let mut b = itoa::Buffer::new();
            let s = b.format(v).as_bytes();
            write_len(out, s.len() as u64);
            out.extend_from_slice(s);
        }
    }

    /// Appends `s` raw (length + bytes), never int- or LZF-encoded.
    pub fn write_raw(out: &mut Vec<u8>, s: &[u8]) {
        write_len(out, s.len() as u64);
        out.extend_from_slice(s);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_use_the_smallest_form() {
        let cases: [(u64, &[u8]); 6] = [
            (0, &[0]),
            (63, &[63]),
            (64, &[0x40, 64]),
            (16383, &[0x7f, 0xff]),
            (16384, &[0x80, 0, 0, 0x40, 0]),
            (1 << 32, &[0x81, 0, 0, 0, 1, 0, 0, 0, 0]),
        ];
        for (n, want) in cases {
            let mut v = Vec::new();
            write_len(&mut v, n);
            assert_eq!(v, want, "{n}");
            assert_eq!(len_size(n), want.len());
        }
    }

    #[test]
    fn strings_follow_rdb_save_raw_string() {
        let mut e = StringEncoder::default();
        let enc = |e: &mut StringEncoder, s: &[u8]| {
            let mut v = Vec::new();
            e.write(&mut v, s);
            v
        };
        assert_eq!(enc(&mut e, b"64"), [0xC0, 64]);
        assert_eq!(enc(&mut e, b"-1"), [0xC0, 0xFF]);
        assert_eq!(enc(&mut e, b"300"), [0xC1, 0x2C, 0x01]);
        assert_eq!(enc(&mut e, b"1690916123"), [0xC2, 0x1B, 0x55, 0xC9, 0x64]);
        // Not canonical or too large: raw.
        assert_eq!(enc(&mut e, b"007"), [3, b'0', b'0', b'7']);
        assert_eq!(enc(&mut e, b"-0"), [2, b'-', b'0']);
        assert_eq!(
            enc(&mut e, b"4294967296"),
            [10, b'4', b'2', b'9', b'4', b'9', b'6', b'7', b'2', b'9', b'6']
        );
        assert_eq!(enc(&mut e, b"255.255.255"), b"\x0b255.255.255");
        let long = vec![b'a'; 100];
        let v = enc(&mut e, &long);
        assert_eq!(v[0], 0xC3);
        let mut raw = StringEncoder::new(false);
        assert_eq!(enc(&mut raw, &long)[..2], [0x40, 100]);
    }
}
