//! Zipmap (type 9, Redis ≤ 2.4 hashes). Spec §7.4.

use crate::error::{Error, Result};

/// Decodes and validates a zipmap into (field, value) pairs borrowed from the blob.
/// Uniqueness of fields is checked by the caller.
pub fn pairs(blob: &[u8], base: u64) -> Result<Vec<(&[u8], &[u8])>> {
    let err = |at: usize, exp: &'static str, found: String| {
        Error::corrupt(base + at as u64, exp, found).with_context("zipmap")
    };
    if blob.len() < 2 {
        return Err(err(
            0,
            "a zipmap of at least 2 bytes",
            format!("{} bytes", blob.len()),
        ));
    }
    if blob[blob.len() - 1] != 0xFF {
        return Err(err(
            blob.len() - 1,
            "the zipmap terminator 0xFF",
            format!("0x{:02x}", blob[blob.len() - 1]),
        ));
    }
    let zmlen = blob[0];
    let mut p = 1usize;
    let mut out: Vec<(&[u8], &[u8])> = Vec::new();
    let read_len = |p: &mut usize| -> Result<usize> {
        let b = *blob
            .get(*p)
            .ok_or_else(|| err(*p, "a zipmap length", "end of zipmap".into()))?;
        if b < 254 {
            *p += 1;
            Ok(b as usize)
        } else if b == 254 {
            let h = blob
                .get(*p + 1..*p + 5)
                .ok_or_else(|| err(*p, "a 5-byte zipmap length", "end of zipmap".into()))?;
            let l = u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize;
            if l < 254 {
                return Err(err(
                    *p,
                    "a zipmap length < 254 in its 1-byte form",
                    format!("{l} in the 5-byte form"),
                ));
            }
            *p += 5;
            Ok(l)
        } else {
            Err(err(*p, "a zipmap length", "the terminator".into()))
        }
    };
    loop {
        match blob.get(p) {
            Some(0xFF) => break,
            Some(_) => {}
            None => return Err(err(p, "a zipmap entry", "end of zipmap".into())),
        }
        let klen = read_len(&mut p)?;
        let key = blob
            .get(p..p.saturating_add(klen))
            .filter(|_| p + klen < blob.len())
            .ok_or_else(|| {
                err(
                    p,
                    "a zipmap field inside the zipmap",
                    format!("length {klen}"),
                )
            })?;
        p += klen;
        let vlen = read_len(&mut p)?;
        let free = *blob
            .get(p)
            .ok_or_else(|| err(p, "a zipmap free byte", "end of zipmap".into()))?
            as usize;
        p += 1;
        let val = blob.get(p..p.saturating_add(vlen)).ok_or_else(|| {
            err(
                p,
                "a zipmap value inside the zipmap",
                format!("length {vlen}"),
            )
        })?;
        p += vlen;
        if p.saturating_add(free) >= blob.len() {
            return Err(err(
                p,
                "zipmap free space inside the zipmap",
                format!("{free} bytes"),
            ));
        }
        p += free;
        out.push((key, val));
    }
    if p + 1 != blob.len() {
        return Err(err(
            p,
            "the zipmap terminator at the end",
            format!("{} bytes after it", blob.len() - p - 1),
        ));
    }
    if out.is_empty() {
        return Err(err(0, "a non-empty zipmap", "0 entries".into()));
    }
    if zmlen != 254 && zmlen as usize != out.len() {
        return Err(err(
            0,
            "a zipmap count equal to the number of entries",
            format!("{zmlen} declared, {} found", out.len()),
        ));
    }
    Ok(out)
}
