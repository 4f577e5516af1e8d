//! Ziplist (lists, hashes and zsets up to Redis 6.2): `zlbytes u32 | zltail u32 | zllen u16 |
//! entry* | 0xFF`. Spec §7.2. Redis validates ziplists fully on every load, and so do we.

use super::Elem;
use crate::error::{Error, Result};

const HEADER_SIZE: usize = 10;

/// A ziplist blob with a checked header.
#[derive(Debug, Clone, Copy)]
pub struct Ziplist<'a> {
    blob: &'a [u8],
    base: u64,
    zltail: usize,
    zllen: u16,
}

impl<'a> Ziplist<'a> {
    /// Checks the header: size ≥ 11, `zlbytes` = blob length, last byte 0xFF, `zltail` in range.
    pub fn parse(blob: &'a [u8], base: u64) -> Result<Self> {
        if blob.len() < HEADER_SIZE + 1 {
            return Err(Error::corrupt(
                base,
                "a ziplist of at least 11 bytes",
                format!("{} bytes", blob.len()),
            ));
        }
        let zlbytes = u32::from_le_bytes([blob[0], blob[1], blob[2], blob[3]]) as usize;
        if zlbytes != blob.len() {
            return Err(Error::corrupt(
                base,
                "a ziplist size field equal to the string length",
                format!("{zlbytes} (string is {} bytes)", blob.len()),
            ));
        }
        if blob[blob.len() - 1] != 0xFF {
            return Err(Error::corrupt(
                base + blob.len() as u64 - 1,
                "the ziplist terminator 0xFF",
                format!("0x{:02x}", blob[blob.len() - 1]),
            ));
        }
        let zltail = u32::from_le_bytes([blob[4], blob[5], blob[6], blob[7]]) as usize;
        if zltail > blob.len() - 1 {
            return Err(Error::corrupt(
                base + 4,
                "a ziplist tail offset inside the ziplist",
                format!("{zltail}"),
            ));
        }
        let zllen = u16::from_le_bytes([blob[8], blob[9]]);
        Ok(Ziplist {
            blob,
            base,
            zltail,
            zllen,
        })
    }

    /// An iterator over the entries, validating each and, at the end, `zltail` and `zllen`.
    pub fn iter(&self) -> ZiplistIter<'a> {
        ZiplistIter {
            zl: *self,
            pos: HEADER_SIZE,
            prev_size: 0,
            last_start: HEADER_SIZE,
            count: 0,
            done: false,
        }
    }
}

/// Iterator over ziplist entries; fused after the end or the first error.
#[derive(Debug, Clone)]
pub struct ZiplistIter<'a> {
    zl: Ziplist<'a>,
    pos: usize,
    prev_size: usize,
    last_start: usize,
    count: u32,
    done: bool,
}

impl<'a> ZiplistIter<'a> {
    fn err(&mut self, at: usize, expected: &'static str, found: String) -> Error {
        self.done = true;
        Error::corrupt(self.zl.base + at as u64, expected, found).with_context("ziplist")
    }

    fn next_entry(&mut self) -> Result<Option<Elem<'a>>> {
        let blob = self.zl.blob;
        let p = self.pos;
        let first = match blob.get(p) {
            Some(&b) => b,
            None => return Err(self.err(p, "a ziplist entry", "end of ziplist".into())),
        };
        if first == 0xFF {
            self.done = true;
            if p + 1 != blob.len() {
                return Err(self.err(
                    p,
                    "the ziplist terminator at the end of the ziplist",
                    format!("0xFF with {} bytes after it", blob.len() - p - 1),
                ));
            }
            let expected_tail = if self.count == 0 {
                HEADER_SIZE
            } else {
                self.last_start
            };
            if self.zl.zltail != expected_tail {
                return Err(self.err(
                    4,
                    "a ziplist tail offset pointing at the last entry",
                    format!("{} (last entry at {expected_tail})", self.zl.zltail),
                ));
            }
            if self.zl.zllen != u16::MAX && self.zl.zllen as u32 != self.count {
                return Err(self.err(
                    8,
                    "a ziplist entry count equal to the number of entries",
                    format!("{} declared, {} found", self.zl.zllen, self.count),
                ));
            }
            return Ok(None);
        }
        // prevlen
        let (prevlen, mut q) = if first < 254 {
            (first as usize, p + 1)
        } else {
            match blob.get(p + 1..p + 5) {
                Some(h) => (u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize, p + 5),
                None => {
                    return Err(self.err(p, "a 5-byte ziplist prevlen", "end of ziplist".into()))
                }
            }
        };
        if prevlen != self.prev_size {
            return Err(self.err(
                p,
                "a ziplist prevlen equal to the previous entry's size",
                format!("{prevlen} (previous entry is {} bytes)", self.prev_size),
            ));
        }
        let enc = match blob.get(q) {
            Some(&b) => b,
            None => return Err(self.err(q, "a ziplist entry encoding", "end of ziplist".into())),
        };
        let (elem, data_end): (Elem<'a>, usize) = match enc >> 6 {
            0..=2 => {
                let (len, hdr) = match enc >> 6 {
                    0 => ((enc & 0x3f) as usize, 1),
                    1 => match blob.get(q + 1) {
                        Some(&b) => ((((enc & 0x3f) as usize) << 8) | b as usize, 2),
                        None => {
                            return Err(self.err(
                                q,
                                "a 14-bit ziplist string length",
                                "end of ziplist".into(),
                            ))
                        }
                    },
                    _ => match blob.get(q + 1..q + 5) {
                        Some(h) => (u32::from_be_bytes([h[0], h[1], h[2], h[3]]) as usize, 5),
                        None => {
                            return Err(self.err(
                                q,
                                "a 32-bit ziplist string length",
                                "end of ziplist".into(),
                            ))
                        }
                    },
                };
                q += hdr;
                match q.checked_add(len).filter(|&e| e < blob.len()) {
                    Some(e) => (Elem::Bytes(&blob[q..e]), e),
                    None => {
                        return Err(self.err(
                            p,
                            "a ziplist string inside the ziplist",
                            format!("length {len}"),
                        ))
                    }
                }
            }
            _ => {
                q += 1;
                let (n, v): (usize, Option<i64>) = match enc {
                    0xC0 => (
                        2,
                        blob.get(q..q + 2)
                            .map(|h| i16::from_le_bytes([h[0], h[1]]) as i64),
                    ),
                    0xD0 => (
                        4,
                        blob.get(q..q + 4)
                            .map(|h| i32::from_le_bytes([h[0], h[1], h[2], h[3]]) as i64),
                    ),
                    0xE0 => (
                        8,
                        blob.get(q..q + 8).map(|h| {
                            let mut a = [0u8; 8];
                            a.copy_from_slice(h);
                            i64::from_le_bytes(a)
                        }),
                    ),
                    0xF0 => (
                        3,
                        blob.get(q..q + 3)
                            .map(|h| (i32::from_le_bytes([0, h[0], h[1], h[2]]) >> 8) as i64),
                    ),
                    0xFE => (1, blob.get(q).map(|&b| b as i8 as i64)),
                    0xF1..=0xFD => (0, Some(((enc & 0x0f) as i64) - 1)),
                    _ => {
                        return Err(self.err(
                            q - 1,
                            "a ziplist entry encoding",
                            format!("0x{enc:02x}"),
                        ))
                    }
                };
                match v {
                    Some(v) if q + n < blob.len() => (Elem::Int(v), q + n),
                    _ => {
                        return Err(self.err(
                            p,
                            "a ziplist integer inside the ziplist",
                            format!("{n} bytes"),
                        ))
                    }
                }
            }
        };
        self.last_start = p;
        self.prev_size = data_end - p;
        self.pos = data_end;
        self.count += 1;
        Ok(Some(elem))
    }
}

impl<'a> Iterator for ZiplistIter<'a> {
    type Item = Result<Elem<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        self.next_entry().transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_source_example() {
        let zl = [
            0x0f, 0, 0, 0, 0x0c, 0, 0, 0, 0x02, 0, 0x00, 0xf3, 0x02, 0xf6, 0xff,
        ];
        let z = Ziplist::parse(&zl, 0).unwrap();
        let v: Vec<_> = z.iter().collect::<Result<_>>().unwrap();
        assert_eq!(v, vec![Elem::Int(2), Elem::Int(5)]);
        let mut bad = zl;
        bad[12] = 3;
        assert!(Ziplist::parse(&bad, 0).unwrap().iter().any(|e| e.is_err()));
    }
}
