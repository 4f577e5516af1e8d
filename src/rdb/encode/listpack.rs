//! Listpack writer (§7.5), with Redis's `lpEncodeGetType` choice of element encodings.

use crate::rdb::encoding::listpack::encode_backlen;
use crate::rdb::encoding::parse_i64_canonical;

/// Builds a listpack element by element.
#[derive(Debug, Clone)]
pub struct ListpackBuilder {
    buf: Vec<u8>,
    count: usize,
}

impl Default for ListpackBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ListpackBuilder {
    /// An empty listpack.
    pub fn new() -> Self {
        let mut buf = Vec::with_capacity(64);
        buf.extend_from_slice(&[0; 6]);
        ListpackBuilder { buf, count: 0 }
    }

    /// Empties the builder, keeping its allocation.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.buf.extend_from_slice(&[0; 6]);
        self.count = 0;
    }

    /// Elements so far.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Bytes so far including the header and the terminator to come (Redis's `lpBytes`).
    pub fn bytes(&self) -> usize {
        self.buf.len() + 1
    }

    /// Appends a string, stored as an integer when it is a canonical i64 (`lpStringToInt64`).
    pub fn push(&mut self, s: &[u8]) {
        match parse_i64_canonical(s) {
            Some(v) => self.push_int(v),
            None => self.push_str(s),
        }
    }

    /// Appends a string element without trying the integer forms.
    pub fn push_str(&mut self, s: &[u8]) {
        let start = self.buf.len();
        let n = s.len();
        if n < 64 {
            self.buf.push(0x80 | n as u8);
        } else if n < 4096 {
            self.buf.push(0xE0 | (n >> 8) as u8);
            self.buf.push(n as u8);
        } else {
            self.buf.push(0xF0);
            self.buf.extend_from_slice(&(n as u32).to_le_bytes());
        }
        self.buf.extend_from_slice(s);
        let size = self.buf.len() - start;
        encode_backlen(size, &mut self.buf);
        self.count += 1;
    }

    /// Appends an integer in its smallest form.
    pub fn push_int(&mut self, v: i64) {
        let start = self.buf.len();
        if (0..=127).contains(&v) {
            self.buf.push(v as u8);
        } else if (-4096..=4095).contains(&v) {
            let uv = if v < 0 {
                ((1 << 13) + v) as u16
            } else {
                v as u16
            };
            self.buf.push(0xC0 | (uv >> 8) as u8);
            self.buf.push(uv as u8);
        } else if (-32768..=32767).contains(&v) {
            self.buf.push(0xF1);
            self.buf.extend_from_slice(&(v as i16).to_le_bytes());
        } else if (-8_388_608..=8_388_607).contains(&v) {
            self.buf.push(0xF2);
            self.buf.extend_from_slice(&(v as i32).to_le_bytes()[..3]);
        } else if v >= i32::MIN as i64 && v <= i32::MAX as i64 {
            self.buf.push(0xF3);
            self.buf.extend_from_slice(&(v as i32).to_le_bytes());
        } else {
            self.buf.push(0xF4);
            self.buf.extend_from_slice(&v.to_le_bytes());
        }
        let size = self.buf.len() - start;
        encode_backlen(size, &mut self.buf);
        self.count += 1;
    }

    /// Replaces the first element, which must be an integer written by [`Self::push_int`]
    /// (used for stream master entry counts); rebuilds the listpack when the size changes.
    pub(crate) fn finish(&mut self) -> &[u8] {
        self.buf.push(0xFF);
        let total = self.buf.len() as u32;
        self.buf[..4].copy_from_slice(&total.to_le_bytes());
        let n = if self.count < 65535 {
            self.count as u16
        } else {
            65535
        };
        self.buf[4..6].copy_from_slice(&n.to_le_bytes());
        &self.buf
    }

    /// Terminates the listpack and returns its bytes (the builder must be cleared before reuse).
    pub fn build(&mut self) -> &[u8] {
        self.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb::encoding::listpack::Listpack;
    use crate::rdb::encoding::Elem;

    #[test]
    fn elements_round_trip_through_the_reader() {
        let mut b = ListpackBuilder::new();
        let ints = [
            0i64,
            127,
            128,
            -1,
            -4096,
            4095,
            4096,
            -32768,
            32767,
            8_388_607,
            -8_388_608,
            1 << 31,
            i64::MIN,
            i64::MAX,
        ];
        for v in ints {
            b.push(v.to_string().as_bytes());
        }
        let long = vec![b'z'; 5000];
        b.push(b"hello");
        b.push(&[b'y'; 100]);
        b.push(&long);
        b.push(b"007");
        let lp = b.build().to_vec();
        let got: Vec<Elem<'_>> = Listpack::parse(&lp, 0)
            .unwrap()
            .iter()
            .collect::<crate::Result<_>>()
            .unwrap();
        let mut want: Vec<Elem<'_>> = ints.iter().map(|&v| Elem::Int(v)).collect();
        let y = [b'y'; 100];
        want.extend([
            Elem::Bytes(b"hello"),
            Elem::Bytes(&y),
            Elem::Bytes(&long),
            Elem::Bytes(b"007"),
        ]);
        assert_eq!(got, want);
        // Sizes of the smallest forms.
        let mut s = ListpackBuilder::new();
        s.push(b"5");
        assert_eq!(s.build(), &[9, 0, 0, 0, 1, 0, 5, 1, 0xFF]);
    }
}
