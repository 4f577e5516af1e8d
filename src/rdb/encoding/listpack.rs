//! Listpack (Redis ≥ 5 stream nodes, ≥ 7.0 small collections): `total_bytes u32 | count u16 |
//! element* | 0xFF`, each element followed by its back-length. Spec §7.5.

use super::Elem;
use crate::error::{Error, Result};

/// Size of the listpack header.
pub const HEADER_SIZE: usize = 6;
/// `num_elements` value meaning "unknown, count by walking".
pub const UNKNOWN_COUNT: u16 = u16::MAX;

/// A listpack blob whose header has been checked (shallow validation).
#[derive(Debug, Clone, Copy)]
pub struct Listpack<'a> {
    blob: &'a [u8],
    base: u64,
    declared: u16,
}

impl<'a> Listpack<'a> {
    /// Checks the header (size field equals the blob length, last byte 0xFF). `base` is the
    /// file offset of the blob (for errors).
    pub fn parse(blob: &'a [u8], base: u64) -> Result<Self> {
        if blob.len() < HEADER_SIZE + 1 {
            return Err(Error::corrupt(
                base,
                "a listpack of at least 7 bytes",
                format!("{} bytes", blob.len()),
            ));
        }
        let total = u32::from_le_bytes([blob[0], blob[1], blob[2], blob[3]]) as usize;
        if total != blob.len() {
            return Err(Error::corrupt(
                base,
                "a listpack size field equal to the string length",
                format!("{total} (string is {} bytes)", blob.len()),
            ));
        }
        if blob[blob.len() - 1] != 0xFF {
            return Err(Error::corrupt(
                base + blob.len() as u64 - 1,
                "the listpack terminator 0xFF",
                format!("0x{:02x}", blob[blob.len() - 1]),
            ));
        }
        let declared = u16::from_le_bytes([blob[4], blob[5]]);
        Ok(Listpack {
            blob,
            base,
            declared,
        })
    }

    /// The element count stored in the header, `None` when it is 65535 ("unknown").
    pub fn declared_count(&self) -> Option<u16> {
        (self.declared != UNKNOWN_COUNT).then_some(self.declared)
    }

    /// The whole blob.
    pub fn bytes(&self) -> &'a [u8] {
        self.blob
    }

    /// An iterator over the elements, validating each one (encoding, bounds, back-length)
    /// and, at the end, the terminator position and the declared count.
    pub fn iter(&self) -> ListpackIter<'a> {
        ListpackIter {
            blob: self.blob,
            base: self.base,
            pos: HEADER_SIZE,
            count: 0,
            declared: self.declared,
            done: false,
        }
    }
}

/// Iterator over listpack elements; fused after the end or the first error.
#[derive(Debug, Clone)]
pub struct ListpackIter<'a> {
    blob: &'a [u8],
    base: u64,
    pos: usize,
    count: u32,
    declared: u16,
    done: bool,
}

#[inline]
fn backlen_size(l: usize) -> usize {
    if l <= 127 {
        1
    } else if l < 16383 {
        2
    } else if l < 2_097_151 {
        3
    } else if l < 268_435_455 {
        4
    } else {
        5
    }
}

#[inline]
fn backlen_ok(bytes: &[u8], l: usize) -> bool {
    // Decode backwards exactly as lpDecodeBacklen does and compare.
    let mut val: u64 = 0;
    let mut shift = 0;
    for (i, &b) in bytes.iter().rev().enumerate() {
        val |= ((b & 127) as u64) << shift;
        let last = i + 1 == bytes.len();
        if b & 128 == 0 {
            return last && val == l as u64;
        }
        if last {
            return false;
        }
        shift += 7;
    }
    false
}

impl<'a> ListpackIter<'a> {
    /// Number of elements read so far.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// The file offset of the next element.
    pub fn offset(&self) -> u64 {
        self.base + self.pos as u64
    }

    fn err(&mut self, at: usize, expected: &'static str, found: String) -> Error {
        self.done = true;
        Error::corrupt(self.base + at as u64, expected, found).with_context("listpack")
    }

    /// The common elements (7-bit integers, strings under 64 bytes, 13-bit integers) with
    /// their one-byte back-length, read inline; `None` (nothing consumed) sends everything
    /// else, errors included, to [`ListpackIter::next_elem`].
    #[inline(always)]
    fn next_fast(&mut self) -> Option<Elem<'a>> {
        let blob = self.blob;
        let p = self.pos;
        let b0 = *blob.get(p)?;
        let (elem, size) = if b0 & 0x80 == 0 {
            (Elem::Int((b0 & 0x7f) as i64), 1)
        } else if b0 & 0xC0 == 0x80 {
            let len = (b0 & 0x3f) as usize;
            (Elem::Bytes(blob.get(p + 1..p + 1 + len)?), 1 + len)
        } else if b0 & 0xE0 == 0xC0 {
            let uv = (((b0 & 0x1f) as u64) << 8) | *blob.get(p + 1)? as u64;
            let v = if uv >= 1 << 12 {
                uv as i64 - (1 << 13)
            } else {
                uv as i64
            };
            (Elem::Int(v), 2)
        } else {
            return None;
        };
        // size ≤ 64: a one-byte back-length equal to the size, before the terminator.
        let end = p + size + 1;
        if end >= blob.len() || blob[p + size] != size as u8 {
            return None;
        }
        self.pos = end;
        self.count += 1;
        Some(elem)
    }

    #[inline(never)]
    fn next_elem(&mut self) -> Result<Option<Elem<'a>>> {
        let blob = self.blob;
        let p = self.pos;
        // The blob ends in 0xFF (checked in parse), so `p < len` finds the terminator.
        let b0 = match blob.get(p) {
            Some(&b) => b,
            None => return Err(self.err(p, "a listpack element", "end of listpack".into())),
        };
        let (elem, size): (Elem<'a>, usize) = if b0 & 0x80 == 0 {
            (Elem::Int((b0 & 0x7f) as i64), 1)
        } else if b0 & 0xC0 == 0x80 {
            let len = (b0 & 0x3f) as usize;
            match blob.get(p + 1..p + 1 + len) {
                Some(s) => (Elem::Bytes(s), 1 + len),
                None => {
                    return Err(self.err(
                        p,
                        "a listpack string inside the listpack",
                        format!("length {len}"),
                    ))
                }
            }
        } else if b0 & 0xE0 == 0xC0 {
            let b1 = match blob.get(p + 1) {
                Some(&b) => b,
                None => {
                    return Err(self.err(p, "a 13-bit listpack integer", "end of listpack".into()))
                }
            };
            let uv = (((b0 & 0x1f) as u64) << 8) | b1 as u64;
            let v = if uv >= 1 << 12 {
                uv as i64 - (1 << 13)
            } else {
                uv as i64
            };
            (Elem::Int(v), 2)
        } else if b0 & 0xF0 == 0xE0 {
            let b1 = match blob.get(p + 1) {
                Some(&b) => b,
                None => {
                    return Err(self.err(
                        p,
                        "a 12-bit listpack string length",
                        "end of listpack".into(),
                    ))
                }
            };
            let len = (((b0 & 0x0f) as usize) << 8) | b1 as usize;
            match blob.get(p + 2..p + 2 + len) {
                Some(s) => (Elem::Bytes(s), 2 + len),
                None => {
                    return Err(self.err(
                        p,
                        "a listpack string inside the listpack",
                        format!("length {len}"),
                    ))
                }
            }
        } else {
            match b0 {
                0xF0 => {
                    let len = match blob.get(p + 1..p + 5) {
                        Some(h) => u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize,
                        None => {
                            return Err(self.err(
                                p,
                                "a 32-bit listpack string length",
                                "end of listpack".into(),
                            ))
                        }
                    };
                    match p.checked_add(5 + len).and_then(|e| blob.get(p + 5..e)) {
                        Some(s) => (Elem::Bytes(s), 5 + len),
                        None => {
                            return Err(self.err(
                                p,
                                "a listpack string inside the listpack",
                                format!("length {len}"),
                            ))
                        }
                    }
                }
                0xF1 => match blob.get(p + 1..p + 3) {
                    Some(h) => (Elem::Int(i16::from_le_bytes([h[0], h[1]]) as i64), 3),
                    None => {
                        return Err(self.err(
                            p,
                            "a 16-bit listpack integer",
                            "end of listpack".into(),
                        ))
                    }
                },
                0xF2 => match blob.get(p + 1..p + 4) {
                    Some(h) => {
                        let v = (i32::from_le_bytes([0, h[0], h[1], h[2]]) >> 8) as i64;
                        (Elem::Int(v), 4)
                    }
                    None => {
                        return Err(self.err(
                            p,
                            "a 24-bit listpack integer",
                            "end of listpack".into(),
                        ))
                    }
                },
                0xF3 => match blob.get(p + 1..p + 5) {
                    Some(h) => (
                        Elem::Int(i32::from_le_bytes([h[0], h[1], h[2], h[3]]) as i64),
                        5,
                    ),
                    None => {
                        return Err(self.err(
                            p,
                            "a 32-bit listpack integer",
                            "end of listpack".into(),
                        ))
                    }
                },
                0xF4 => match blob.get(p + 1..p + 9) {
                    Some(h) => {
                        let mut a = [0u8; 8];
                        a.copy_from_slice(h);
                        (Elem::Int(i64::from_le_bytes(a)), 9)
                    }
                    None => {
                        return Err(self.err(
                            p,
                            "a 64-bit listpack integer",
                            "end of listpack".into(),
                        ))
                    }
                },
                0xFF => {
                    self.done = true;
                    if p + 1 != blob.len() {
                        return Err(self.err(
                            p,
                            "the listpack terminator at the end of the listpack",
                            format!("0xFF with {} bytes after it", blob.len() - p - 1),
                        ));
                    }
                    if self.declared != UNKNOWN_COUNT && self.declared as u32 != self.count {
                        return Err(self.err(
                            4,
                            "a listpack element count equal to the number of elements",
                            format!("{} declared, {} found", self.declared, self.count),
                        ));
                    }
                    return Ok(None);
                }
                _ => {
                    return Err(self.err(p, "a listpack element encoding", format!("0x{b0:02x}")));
                }
            }
        };
        let bl = backlen_size(size);
        let end = p + size + bl;
        // The element and its back-length must end before the terminator byte.
        if end >= blob.len() {
            return Err(self.err(
                p,
                "a listpack element that ends inside the listpack",
                format!("{} bytes", size + bl),
            ));
        }
        if !backlen_ok(&blob[p + size..end], size) {
            return Err(self.err(
                p + size,
                "a listpack back-length equal to the element size",
                format!("element of {size} bytes"),
            ));
        }
        self.pos = end;
        self.count += 1;
        Ok(Some(elem))
    }
}

impl<'a> Iterator for ListpackIter<'a> {
    type Item = Result<Elem<'a>>;

    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if let Some(e) = self.next_fast() {
            return Some(Ok(e));
        }
        self.next_elem().transpose()
    }
}

/// Encodes the back-length of an element of encoded size `l` into `out`.
pub fn encode_backlen(l: usize, out: &mut Vec<u8>) {
    match backlen_size(l) {
        1 => out.push(l as u8),
        2 => out.extend_from_slice(&[(l >> 7) as u8, ((l & 127) | 128) as u8]),
        3 => out.extend_from_slice(&[
            (l >> 14) as u8,
            (((l >> 7) & 127) | 128) as u8,
            ((l & 127) | 128) as u8,
        ]),
        4 => out.extend_from_slice(&[
            (l >> 21) as u8,
            (((l >> 14) & 127) | 128) as u8,
            (((l >> 7) & 127) | 128) as u8,
            ((l & 127) | 128) as u8,
        ]),
        _ => out.extend_from_slice(&[
            (l >> 28) as u8,
            (((l >> 21) & 127) | 128) as u8,
            (((l >> 14) & 127) | 128) as u8,
            (((l >> 7) & 127) | 128) as u8,
            ((l & 127) | 128) as u8,
        ]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backlen_round_trips() {
        for l in [
            1usize,
            127,
            128,
            16382,
            16383,
            2_097_150,
            2_097_151,
            268_435_454,
            268_435_455,
        ] {
            let mut v = Vec::new();
            encode_backlen(l, &mut v);
            assert_eq!(v.len(), backlen_size(l));
            assert!(backlen_ok(&v, l), "{l}");
            assert!(!backlen_ok(&v, l + 1), "{l}");
        }
    }

    #[test]
    fn decodes_a_small_listpack() {
        // "a", 5, -1 (int13), 300 (int13)
        let mut lp = vec![0, 0, 0, 0, 4, 0];
        lp.extend_from_slice(&[0x81, b'a', 2]);
        lp.extend_from_slice(&[0x05, 1]);
        lp.extend_from_slice(&[0xDF, 0xFF, 2]);
        lp.extend_from_slice(&[0xC1, 0x2C, 2]);
        lp.push(0xFF);
        let n = lp.len() as u32;
        lp[..4].copy_from_slice(&n.to_le_bytes());
        let l = Listpack::parse(&lp, 0).unwrap();
        let v: Vec<_> = l.iter().collect::<Result<_>>().unwrap();
        assert_eq!(
            v,
            vec![
                Elem::Bytes(b"a"),
                Elem::Int(5),
                Elem::Int(-1),
                Elem::Int(300)
            ]
        );
        let mut bad = lp.clone();
        bad[4] = 3;
        assert!(Listpack::parse(&bad, 0).unwrap().iter().any(|e| e.is_err()));
    }
}
