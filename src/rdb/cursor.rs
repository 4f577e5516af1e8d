//! A bounds-checked byte cursor over an in-memory RDB (or a part of one) that knows its
//! absolute file offset. Every read returns a `Result`; nothing here can panic on input.

use crate::error::{Error, Result};
use crate::rdb::format::{ENC_INT16, ENC_INT32, ENC_INT8, ENC_LZF};

/// A length field as stored: either a plain length or a "special encoding" tag (`11xxxxxx`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LenOrEncoding {
    /// A plain length.
    Len(u64),
    /// A string special encoding (int8/16/32, LZF).
    Encoding(u8),
}

/// A string as stored in an RDB: raw bytes, an integer, or LZF-compressed bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RdbStr<'a> {
    /// Raw bytes, borrowed from the input.
    Raw(&'a [u8]),
    /// An integer encoding; the string value is its decimal text.
    Int(i64),
    /// LZF-compressed bytes that inflate to `ulen` bytes.
    Lzf {
        /// The compressed bytes.
        data: &'a [u8],
        /// The uncompressed length stored in the file.
        ulen: u64,
        /// Absolute offset of `data` (for error messages).
        offset: u64,
    },
}

impl<'a> RdbStr<'a> {
    /// The decoded length in bytes.
    pub fn len(&self) -> u64 {
        match self {
            RdbStr::Raw(b) => b.len() as u64,
            RdbStr::Int(i) => itoa::Buffer::new().format(*i).len() as u64,
            RdbStr::Lzf { ulen, .. } => *ulen,
        }
    }

    /// True when the decoded string is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The decoded bytes. Raw strings are borrowed; integers are formatted into `scratch`
    /// and LZF strings inflated into it (its allocation is reused).
    pub fn decode<'s>(&self, scratch: &'s mut Vec<u8>) -> Result<&'s [u8]>
    where
        'a: 's,
    {
        match *self {
            RdbStr::Raw(b) => Ok(b),
            RdbStr::Int(i) => {
                scratch.clear();
                scratch.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
                Ok(scratch)
            }
            RdbStr::Lzf { data, ulen, offset } => {
                crate::rdb::encoding::lzf::decompress_into(data, ulen, scratch, offset)?;
                Ok(scratch)
            }
        }
    }

    /// Checks that the string decodes (LZF data inflates to its stored length) without
    /// producing its bytes: the verdict and error of [`RdbStr::decode`], much cheaper.
    pub fn validate(&self) -> Result<()> {
        match *self {
            RdbStr::Lzf { data, ulen, offset } => {
                crate::rdb::encoding::lzf::validate(data, ulen, offset)
            }
            _ => Ok(()),
        }
    }

    /// The decoded bytes as an owned vector.
    pub fn to_vec(&self) -> Result<Vec<u8>> {
        let mut v = Vec::new();
        match *self {
            RdbStr::Raw(b) => Ok(b.to_vec()),
            _ => {
                self.decode(&mut v)?;
                Ok(v)
            }
        }
    }
}

/// A cursor over `data`, whose first byte is at absolute offset `base` in the file.
#[derive(Debug, Clone)]
pub struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
    base: u64,
}

impl<'a> Cursor<'a> {
    /// A cursor at the start of `data`, which begins at file offset `base`.
    #[inline]
    pub fn new(data: &'a [u8], base: u64) -> Self {
        Cursor { data, pos: 0, base }
    }

    /// The absolute file offset of the next byte.
    #[inline]
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    /// Position relative to the start of `data`.
    #[inline]
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// Moves to a position relative to the start of `data` (must be ≤ len).
    #[inline]
    pub fn set_pos(&mut self, pos: usize) {
        self.pos = pos.min(self.data.len());
    }

    /// The whole underlying slice.
    #[inline]
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    /// Bytes not yet read.
    #[inline]
    pub fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    /// The unread bytes.
    #[inline]
    pub fn rest(&self) -> &'a [u8] {
        self.data.get(self.pos..).unwrap_or(&[])
    }

    /// True when every byte has been read.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// The bytes between two relative positions.
    #[inline]
    pub fn slice(&self, from: usize, to: usize) -> &'a [u8] {
        self.data.get(from..to).unwrap_or(&[])
    }

    /// Reads one byte.
    #[inline]
    pub fn u8(&mut self, what: &'static str) -> Result<u8> {
        match self.data.get(self.pos) {
            Some(&b) => {
                self.pos += 1;
                Ok(b)
            }
            None => Err(Error::truncated(self.offset(), what, 1)),
        }
    }

    /// Looks at the next byte without consuming it.
    #[inline]
    pub fn peek(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }

    /// Reads `n` bytes.
    #[inline]
    pub fn bytes(&mut self, n: u64, what: &'static str) -> Result<&'a [u8]> {
        let rem = self.remaining() as u64;
        if n > rem {
            return Err(Error::truncated(self.offset(), what, n - rem));
        }
        let start = self.pos;
        self.pos += n as usize;
        Ok(&self.data[start..self.pos])
    }

    /// Reads exactly `N` bytes into an array.
    #[inline]
    pub fn array<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N]> {
        let b = self.bytes(N as u64, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(b);
        Ok(a)
    }

    /// Skips `n` bytes.
    #[inline]
    pub fn skip(&mut self, n: u64, what: &'static str) -> Result<()> {
        self.bytes(n, what).map(|_| ())
    }

    /// Reads a little-endian u16.
    #[inline]
    pub fn u16_le(&mut self, what: &'static str) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    /// Reads a little-endian u32.
    #[inline]
    pub fn u32_le(&mut self, what: &'static str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    /// Reads a little-endian i32.
    #[inline]
    pub fn i32_le(&mut self, what: &'static str) -> Result<i32> {
        Ok(i32::from_le_bytes(self.array(what)?))
    }

    /// Reads a little-endian u64.
    #[inline]
    pub fn u64_le(&mut self, what: &'static str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// Reads a little-endian i64.
    #[inline]
    pub fn i64_le(&mut self, what: &'static str) -> Result<i64> {
        Ok(i64::from_le_bytes(self.array(what)?))
    }

    /// Reads a little-endian f64.
    #[inline]
    pub fn f64_le(&mut self, what: &'static str) -> Result<f64> {
        Ok(f64::from_le_bytes(self.array(what)?))
    }

    /// Reads a big-endian u64.
    #[inline]
    pub fn u64_be(&mut self, what: &'static str) -> Result<u64> {
        Ok(u64::from_be_bytes(self.array(what)?))
    }

    /// Reads a length field, which may be a special-encoding tag (§4.1).
    #[inline]
    pub fn len_or_encoding(&mut self, what: &'static str) -> Result<LenOrEncoding> {
        let start = self.offset();
        let b = self.u8(what)?;
        match b >> 6 {
            0 => Ok(LenOrEncoding::Len((b & 0x3f) as u64)),
            1 => {
                let b2 = self.u8(what)?;
                Ok(LenOrEncoding::Len((((b & 0x3f) as u64) << 8) | b2 as u64))
            }
            2 => match b {
                0x80 => Ok(LenOrEncoding::Len(
                    u32::from_be_bytes(self.array(what)?) as u64
                )),
                0x81 => Ok(LenOrEncoding::Len(u64::from_be_bytes(self.array(what)?))),
                _ => Err(Error::corrupt(
                    start,
                    "a length encoding (0x80 or 0x81)",
                    format!("0x{b:02x}"),
                )),
            },
            _ => Ok(LenOrEncoding::Encoding(b & 0x3f)),
        }
    }

    /// Reads a plain length (a special-encoding tag is an error).
    #[inline]
    pub fn len(&mut self, what: &'static str) -> Result<u64> {
        let start = self.offset();
        match self.len_or_encoding(what)? {
            LenOrEncoding::Len(n) => Ok(n),
            LenOrEncoding::Encoding(e) => Err(Error::corrupt(
                start,
                what,
                format!("a string encoding tag 0x{:02x}", 0xc0 | e),
            )),
        }
    }

    /// Reads a count of items that each take at least `min_item_bytes` bytes, refusing a count
    /// the remaining input cannot hold (so untrusted counts never drive allocation).
    ///
    /// Such a count is reported as a truncation at the count's offset, as Redis does ("Unexpected
    /// EOF"): the input ends before the items it announces, whether the file was cut short (the
    /// common case) or the count itself is damaged; the number of missing bytes tells which.
    #[inline]
    pub fn count(&mut self, what: &'static str, min_item_bytes: u64) -> Result<u64> {
        let start = self.offset();
        let n = self.len(what)?;
        let need = n.saturating_mul(min_item_bytes.max(1));
        let rem = self.remaining() as u64;
        if need > rem {
            return Err(Error::truncated(start, what, need - rem));
        }
        Ok(n)
    }

    /// Reads an RDB string (§4.2) without decoding it.
    #[inline(always)]
    pub fn string(&mut self, what: &'static str) -> Result<RdbStr<'a>> {
        // Fast paths: a raw string shorter than 64 bytes (one length byte), or an LZF string
        // whose two lengths are under 64 bytes or 16 KiB, that is all there.
        if let Some(&b) = self.data.get(self.pos) {
            if b < 0x40 {
                let from = self.pos + 1;
                if let Some(s) = self.data.get(from..from + b as usize) {
                    self.pos = from + b as usize;
                    return Ok(RdbStr::Raw(s));
                }
            } else if b == 0xc0 | ENC_LZF {
                if let Some(s) = self.lzf_fast() {
                    return Ok(s);
                }
            }
        }
        self.string_slow(what)
    }

    /// A 6- or 14-bit length at `at`: (length, bytes used).
    #[inline(always)]
    fn short_len_at(&self, at: usize) -> Option<(usize, usize)> {
        let b = *self.data.get(at)?;
        match b >> 6 {
            0 => Some(((b & 0x3f) as usize, 1)),
            1 => {
                let b2 = *self.data.get(at + 1)?;
                Some(((((b & 0x3f) as usize) << 8) | b2 as usize, 2))
            }
            _ => None,
        }
    }

    /// An LZF string with short lengths, all there (the cursor is on its 0xC3 byte); `None`
    /// leaves the cursor unchanged for [`Cursor::string_slow`].
    #[inline(always)]
    fn lzf_fast(&mut self) -> Option<RdbStr<'a>> {
        let (clen, n1) = self.short_len_at(self.pos + 1)?;
        let (ulen, n2) = self.short_len_at(self.pos + 1 + n1)?;
        let from = self.pos + 1 + n1 + n2;
        let data = self.data.get(from..from + clen)?;
        self.pos = from + clen;
        Some(RdbStr::Lzf {
            data,
            ulen: ulen as u64,
            offset: self.base + from as u64,
        })
    }

    #[inline(never)]
    fn string_slow(&mut self, what: &'static str) -> Result<RdbStr<'a>> {
        let start = self.offset();
        match self.len_or_encoding(what)? {
            LenOrEncoding::Len(n) => Ok(RdbStr::Raw(self.bytes(n, what)?)),
            LenOrEncoding::Encoding(e) => match e {
                ENC_INT8 => Ok(RdbStr::Int(self.u8(what)? as i8 as i64)),
                ENC_INT16 => Ok(RdbStr::Int(i16::from_le_bytes(self.array(what)?) as i64)),
                ENC_INT32 => Ok(RdbStr::Int(i32::from_le_bytes(self.array(what)?) as i64)),
                ENC_LZF => {
                    let clen = self.len(what)?;
                    let ulen = self.len(what)?;
                    let offset = self.offset();
                    let data = self.bytes(clen, what)?;
                    Ok(RdbStr::Lzf { data, ulen, offset })
                }
                _ => Err(Error::corrupt(
                    start,
                    "a string encoding (int8, int16, int32 or LZF)",
                    format!("encoding type {e}"),
                )),
            },
        }
    }

    /// Reads a string that must be stored raw or as an integer and returns its bytes
    /// (LZF strings are inflated into `scratch`).
    #[inline]
    pub fn string_bytes<'s>(
        &mut self,
        what: &'static str,
        scratch: &'s mut Vec<u8>,
    ) -> Result<&'s [u8]>
    where
        'a: 's,
    {
        let s = self.string(what)?;
        s.decode(scratch)
    }
}
