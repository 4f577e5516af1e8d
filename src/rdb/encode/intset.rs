//! Intset writer (§7.3): smallest width that holds every element, ascending order.

/// Encodes sorted, distinct integers as an intset blob.
pub fn build(sorted: &[i64], out: &mut Vec<u8>) {
    let width: u32 = if sorted
        .iter()
        .all(|&v| v >= i16::MIN as i64 && v <= i16::MAX as i64)
    {
        2
    } else if sorted
        .iter()
        .all(|&v| v >= i32::MIN as i64 && v <= i32::MAX as i64)
    {
        4
    } else {
        8
    };
    out.extend_from_slice(&width.to_le_bytes());
    out.extend_from_slice(&(sorted.len() as u32).to_le_bytes());
    for &v in sorted {
        match width {
            2 => out.extend_from_slice(&(v as i16).to_le_bytes()),
            4 => out.extend_from_slice(&(v as i32).to_le_bytes()),
            _ => out.extend_from_slice(&v.to_le_bytes()),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn widths() {
        let mut v = Vec::new();
        super::build(&[-3, 7], &mut v);
        assert_eq!(v, [2, 0, 0, 0, 2, 0, 0, 0, 0xfd, 0xff, 7, 0]);
        let mut w = Vec::new();
        super::build(&[1, 1 << 40], &mut w);
        assert_eq!(w.len(), 8 + 16);
        let is = crate::rdb::encoding::intset::Intset::parse(&w, 0).unwrap();
        assert_eq!(is.iter().collect::<Vec<_>>(), vec![1, 1 << 40]);
    }
}
