//! Intset (type 11): `encoding u32 | length u32 | length × intN`, all little-endian. Spec §7.3.

use crate::error::{Error, Result};

/// A checked intset blob.
#[derive(Debug, Clone, Copy)]
pub struct Intset<'a> {
    body: &'a [u8],
    width: usize,
    len: usize,
}

impl<'a> Intset<'a> {
    /// Checks the header and size arithmetic, refuses an empty intset, and (always, since it
    /// costs one comparison per element) checks strict ascending order.
    pub fn parse(blob: &'a [u8], base: u64) -> Result<Self> {
        if blob.len() < 8 {
            return Err(Error::corrupt(
                base,
                "an intset of at least 8 bytes",
                format!("{} bytes", blob.len()),
            ));
        }
        let width = u32::from_le_bytes([blob[0], blob[1], blob[2], blob[3]]) as usize;
        if !matches!(width, 2 | 4 | 8) {
            return Err(Error::corrupt(
                base,
                "an intset encoding of 2, 4 or 8",
                format!("{width}"),
            ));
        }
        let len = u32::from_le_bytes([blob[4], blob[5], blob[6], blob[7]]) as usize;
        if 8 + len * width != blob.len() {
            return Err(Error::corrupt(
                base + 4,
                "an intset length matching the string size",
                format!("{len} elements of {width} bytes in {} bytes", blob.len()),
            ));
        }
        if len == 0 {
            return Err(Error::corrupt(
                base + 4,
                "a non-empty intset",
                "0 elements".to_string(),
            ));
        }
        let s = Intset {
            body: &blob[8..],
            width,
            len,
        };
        let mut prev = None;
        for (i, v) in s.iter().enumerate() {
            if let Some(p) = prev {
                if v <= p {
                    return Err(Error::corrupt(
                        base + 8 + (i * width) as u64,
                        "intset elements in strictly ascending order",
                        format!("{v} after {p}"),
                    ));
                }
            }
            prev = Some(v);
        }
        Ok(s)
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty (never, for a parsed intset).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The elements in order.
    pub fn iter(&self) -> impl Iterator<Item = i64> + 'a {
        let w = self.width;
        self.body.chunks_exact(w).map(move |c| match w {
            2 => i16::from_le_bytes([c[0], c[1]]) as i64,
            4 => i32::from_le_bytes([c[0], c[1], c[2], c[3]]) as i64,
            _ => i64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]),
        })
    }
}
