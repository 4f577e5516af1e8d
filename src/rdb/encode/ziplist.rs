//! Ziplist writer (§7.2) with Redis's `zipTryEncoding` choice of entry encodings. Files for
//! RDB < 6 only use the int16/32/64 forms (the 24-bit, 8-bit and immediate forms came in 2.6).

use crate::rdb::encoding::parse_i64_canonical;

/// Builds a ziplist entry by entry.
#[derive(Debug, Clone)]
pub struct ZiplistBuilder {
    buf: Vec<u8>,
    count: usize,
    prev_size: usize,
    last_start: usize,
    small_ints: bool,
}

impl ZiplistBuilder {
    /// An empty ziplist. `small_ints`: use the RDB ≥ 6 integer forms.
    pub fn new(small_ints: bool) -> Self {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&[0; 10]);
        ZiplistBuilder {
            buf,
            count: 0,
            prev_size: 0,
            last_start: 10,
            small_ints,
        }
    }

    /// Empties the builder.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.buf.extend_from_slice(&[0; 10]);
        self.count = 0;
        self.prev_size = 0;
        self.last_start = 10;
    }

    /// Entries so far.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Bytes including header and the terminator to come (`ziplistBlobLen`).
    pub fn bytes(&self) -> usize {
        self.buf.len() + 1
    }

    /// Appends a string; canonical integers of fewer than 32 bytes are stored as integers.
    pub fn push(&mut self, s: &[u8]) {
        let start = self.buf.len();
        if self.prev_size < 254 {
            self.buf.push(self.prev_size as u8);
        } else {
            self.buf.push(0xFE);
            self.buf
                .extend_from_slice(&(self.prev_size as u32).to_le_bytes());
        }
        match (s.len() < 32).then(|| parse_i64_canonical(s)).flatten() {
            Some(v) => self.int(v),
            None => {
                let n = s.len();
                if n <= 63 {
                    self.buf.push(n as u8);
                } else if n <= 16383 {
                    self.buf.push(0x40 | (n >> 8) as u8);
                    self.buf.push(n as u8);
                } else {
                    self.buf.push(0x80);
                    self.buf.extend_from_slice(&(n as u32).to_be_bytes());
                }
                self.buf.extend_from_slice(s);
            }
        }
        self.last_start = start;
        self.prev_size = self.buf.len() - start;
        self.count += 1;
    }

    fn int(&mut self, v: i64) {
        if self.small_ints && (0..=12).contains(&v) {
            self.buf.push(0xF1 + v as u8);
        } else if self.small_ints && v >= i8::MIN as i64 && v <= i8::MAX as i64 {
            self.buf.extend_from_slice(&[0xFE, v as i8 as u8]);
        } else if v >= i16::MIN as i64 && v <= i16::MAX as i64 {
            self.buf.push(0xC0);
            self.buf.extend_from_slice(&(v as i16).to_le_bytes());
        } else if self.small_ints && (-8_388_608..=8_388_607).contains(&v) {
            self.buf.push(0xF0);
            self.buf.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
        } else if v >= i32::MIN as i64 && v <= i32::MAX as i64 {
            self.buf.push(0xD0);
            self.buf.extend_from_slice(&(v as i32).to_le_bytes());
        } else {
            self.buf.push(0xE0);
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
    }

    /// Terminates the ziplist and returns its bytes.
    pub fn build(&mut self) -> &[u8] {
        self.buf.push(0xFF);
        let total = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&total.to_le_bytes());
        self.buf[4..8].copy_from_slice(&(self.last_start as u32).to_le_bytes());
        let n = if self.count < 65535 {
            self.count as u16
        } else {
            65535
        };
        self.buf[8..10].copy_from_slice(&n.to_le_bytes());
        &self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb::encoding::ziplist::Ziplist;
    use crate::rdb::encoding::Elem;

    #[test]
    fn reproduces_the_source_example_and_round_trips() {
        let mut b = ZiplistBuilder::new(true);
        b.push(b"2");
        b.push(b"5");
        assert_eq!(
            b.build(),
            &[0x0f, 0, 0, 0, 0x0c, 0, 0, 0, 0x02, 0, 0x00, 0xf3, 0x02, 0xf6, 0xff]
        );
        for small in [true, false] {
            let mut b = ZiplistBuilder::new(small);
            let big = vec![b'q'; 20000];
            let mid = vec![b'm'; 300];
            let items: Vec<&[u8]> = vec![
                b"0",
                b"-100",
                b"1000",
                b"100000",
                b"5000000000",
                b"x",
                &mid,
                &big,
                b"after",
            ];
            for i in &items {
                b.push(i);
            }
            let zl = b.build().to_vec();
            let got: Vec<Vec<u8>> = Ziplist::parse(&zl, 0)
                .unwrap()
                .iter()
                .map(|e| e.unwrap().to_vec())
                .collect();
            let want: Vec<Vec<u8>> = items.iter().map(|s| s.to_vec()).collect();
            assert_eq!(got, want);
            let first = Ziplist::parse(&zl, 0)
                .unwrap()
                .iter()
                .next()
                .unwrap()
                .unwrap();
            assert_eq!(first, Elem::Int(0));
        }
    }
}
