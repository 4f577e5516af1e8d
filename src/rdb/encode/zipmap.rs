//! Zipmap writer (§7.4), for hashes in RDB 2–3 files (Redis 2.4).

fn len(out: &mut Vec<u8>, n: usize) {
    if n < 254 {
        out.push(n as u8);
    } else {
        out.push(254);
        out.extend_from_slice(&(n as u32).to_le_bytes());
    }
}

/// Encodes field/value pairs as a zipmap blob (no free space, like a freshly built one).
pub fn build<'a>(pairs: impl ExactSizeIterator<Item = (&'a [u8], &'a [u8])>, out: &mut Vec<u8>) {
    let n = pairs.len();
    out.push(if n < 254 { n as u8 } else { 254 });
    for (f, v) in pairs {
        len(out, f.len());
        out.extend_from_slice(f);
        len(out, v.len());
        out.push(0);
        out.extend_from_slice(v);
    }
    out.push(0xFF);
}

#[cfg(test)]
mod tests {
    #[test]
    fn source_example() {
        let mut v = Vec::new();
        let pairs: Vec<(&[u8], &[u8])> = vec![(b"foo", b"bar"), (b"hello", b"world")];
        super::build(pairs.into_iter(), &mut v);
        assert_eq!(v, b"\x02\x03foo\x03\x00bar\x05hello\x05\x00world\xff");
        let p = crate::rdb::encoding::zipmap::pairs(&v, 0).unwrap();
        assert_eq!(p.len(), 2);
    }
}
