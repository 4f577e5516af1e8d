//! Element counts read from headers, without decoding values: the count prefix of plain
//! encodings, the element count in ziplist / listpack / intset / zipmap headers (inflating
//! only the first bytes of an LZF-compressed blob), summed over quicklist nodes. Values
//! whose header does not hold the count (a ziplist or listpack with 65535+ elements,
//! streams, modules) are counted by decoding.
//!
//! "Elements" are what Redis's length commands return: `STRLEN` for strings, `LLEN`,
//! `SCARD`, `ZCARD`, `HLEN`, `XLEN`, and the number of set indices of an array.

use crate::error::{Error, Result};
use crate::rdb::cursor::{Cursor, RdbStr};
use crate::rdb::encoding::Elem;
use crate::rdb::format::*;
use crate::rdb::model::{StreamId, ValueType};
use crate::rdb::value::ArrayItem;
use crate::rdb::{DecodeOptions, Scratch, ValueHandle, ValueVisitor};

/// Inflates at least the first `want` bytes of an LZF stream into `out` (cleared first).
/// Stops early at the end of the input; never writes more than `want + 264` bytes.
pub fn lzf_prefix(input: &[u8], want: usize, out: &mut Vec<u8>) -> Result<()> {
    out.clear();
    let mut ip = 0usize;
    let bad = || Error::corrupt(0, "valid LZF data", "a reference outside the data");
    while out.len() < want {
        let Some(&c) = input.get(ip) else { break };
        let ctrl = c as usize;
        ip += 1;
        if ctrl < 32 {
            let n = ctrl + 1;
            let src = input.get(ip..ip + n).ok_or_else(bad)?;
            out.extend_from_slice(src);
            ip += n;
        } else {
            let mut len = ctrl >> 5;
            if len == 7 {
                len += *input.get(ip).ok_or_else(bad)? as usize;
                ip += 1;
            }
            len += 2;
            let lo = *input.get(ip).ok_or_else(bad)? as usize;
            ip += 1;
            let dist = ((ctrl & 0x1f) << 8) + lo + 1;
            if dist > out.len() {
                return Err(bad());
            }
            let start = out.len() - dist;
            for k in 0..len {
                let b = out[start + k];
                out.push(b);
            }
        }
    }
    Ok(())
}

/// The first `n` bytes of a blob stored as an RDB string.
fn blob_head<'b>(s: RdbStr<'b>, n: usize, buf: &'b mut Vec<u8>) -> Option<&'b [u8]> {
    match s {
        RdbStr::Raw(b) => b.get(..n),
        RdbStr::Lzf { data, .. } => {
            lzf_prefix(data, n, buf).ok()?;
            buf.get(..n)
        }
        RdbStr::Int(_) => None,
    }
}

fn u16_at(h: &[u8], at: usize) -> Option<u64> {
    Some(u16::from_le_bytes([*h.get(at)?, *h.get(at + 1)?]) as u64)
}

/// Count from a ziplist header (`zllen` at byte 8), `None` if it saturated (65535).
fn ziplist_count(s: RdbStr<'_>, buf: &mut Vec<u8>) -> Option<u64> {
    let h = blob_head(s, 10, buf)?;
    u16_at(h, 8).filter(|&n| n != u16::MAX as u64)
}

/// Count from a listpack header (u16 at byte 4), `None` if unknown (65535).
fn listpack_count(s: RdbStr<'_>, buf: &mut Vec<u8>) -> Option<u64> {
    let h = blob_head(s, 6, buf)?;
    u16_at(h, 4).filter(|&n| n != u16::MAX as u64)
}

/// Counts elements by decoding (the fallback).
#[derive(Default)]
struct Counter {
    n: u64,
}

impl ValueVisitor for Counter {
    fn string(&mut self, value: Elem<'_>) -> Result<()> {
        let mut b = itoa::Buffer::new();
        self.n = value.as_bytes(&mut b).len() as u64;
        Ok(())
    }
    fn list_item(&mut self, _: Elem<'_>) -> Result<()> {
        self.n += 1;
        Ok(())
    }
    fn set_member(&mut self, _: Elem<'_>) -> Result<()> {
        self.n += 1;
        Ok(())
    }
    fn zset_member(&mut self, _: Elem<'_>, _: f64) -> Result<()> {
        self.n += 1;
        Ok(())
    }
    fn hash_field(&mut self, _: Elem<'_>, _: Elem<'_>, _: Option<u64>) -> Result<()> {
        self.n += 1;
        Ok(())
    }
    fn stream_entry(&mut self, _: StreamId, _: &[Elem<'_>], _: &[Elem<'_>]) -> Result<()> {
        self.n += 1;
        Ok(())
    }
    fn array_item(&mut self, _: u64, _: ArrayItem<'_>) -> Result<()> {
        self.n += 1;
        Ok(())
    }
}

/// Counts by decoding the whole value.
pub fn count_by_decoding(v: &ValueHandle<'_>, scratch: &mut Scratch) -> Result<u64> {
    let mut c = Counter::default();
    v.visit(&mut c, scratch, DecodeOptions { deep: false })?;
    Ok(c.n)
}

/// The element count of a value, from its headers when they hold it (see the module docs).
pub fn element_count(v: &ValueHandle<'_>, scratch: &mut Scratch, buf: &mut Vec<u8>) -> Result<u64> {
    match fast_count(v, buf) {
        Some(n) => Ok(n),
        None if v.value_type() == ValueType::Module => Ok(0),
        None => count_by_decoding(v, scratch),
    }
}

/// The count from headers only, `None` when it needs decoding.
pub fn fast_count(v: &ValueHandle<'_>, buf: &mut Vec<u8>) -> Option<u64> {
    let dialect = v.ctx().dialect;
    let mut cur = Cursor::new(v.raw(), v.offset());
    let w = "a value header";
    match v.type_byte() {
        T_STRING => cur.string(w).ok().map(|s| s.len()),
        T_LIST | T_SET | T_ZSET | T_ZSET_2 | T_HASH | T_ARRAY => cur.len(w).ok(),
        T_22 => cur.len(w).ok(),
        T_HASH_METADATA if dialect == Dialect::Redis => {
            cur.skip(8, w).ok()?;
            cur.len(w).ok()
        }
        T_HASH_ZIPMAP => {
            let s = cur.string(w).ok()?;
            let h = blob_head(s, 1, buf)?;
            h.first().map(|&n| n as u64).filter(|&n| n < 254)
        }
        T_LIST_ZIPLIST => ziplist_count(cur.string(w).ok()?, buf),
        T_ZSET_ZIPLIST | T_HASH_ZIPLIST => ziplist_count(cur.string(w).ok()?, buf).map(|n| n / 2),
        T_SET_INTSET => {
            let h = blob_head(cur.string(w).ok()?, 8, buf)?;
            Some(u32::from_le_bytes([h[4], h[5], h[6], h[7]]) as u64)
        }
        T_SET_LISTPACK => listpack_count(cur.string(w).ok()?, buf),
        T_HASH_LISTPACK | T_ZSET_LISTPACK => {
            listpack_count(cur.string(w).ok()?, buf).map(|n| n / 2)
        }
        T_23 if dialect == Dialect::Redis => {
            listpack_count(cur.string(w).ok()?, buf).map(|n| n / 3)
        }
        T_HASH_LISTPACK_EX if dialect == Dialect::Redis => {
            cur.skip(8, w).ok()?;
            listpack_count(cur.string(w).ok()?, buf).map(|n| n / 3)
        }
        T_LIST_QUICKLIST | T_LIST_QUICKLIST_2 => {
            let nodes = cur.len(w).ok()?;
            let mut total = 0u64;
            for _ in 0..nodes {
                let container = if v.type_byte() == T_LIST_QUICKLIST_2 {
                    cur.len(w).ok()?
                } else {
                    QUICKLIST_NODE_PACKED
                };
                let s = cur.string(w).ok()?;
                total += if container == QUICKLIST_NODE_PLAIN {
                    1
                } else if v.type_byte() == T_LIST_QUICKLIST {
                    ziplist_count(s, buf)?
                } else {
                    listpack_count(s, buf)?
                };
            }
            Some(total)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lzf_prefix_inflates_the_start() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i % 13) as u8).collect();
        let c = lzf::compress(&data).unwrap();
        let mut out = Vec::new();
        for want in [1, 10, 33, 100, 4999] {
            lzf_prefix(&c, want, &mut out).unwrap();
            assert!(out.len() >= want && out.len() <= want + 264 + 32);
            assert_eq!(&out[..], &data[..out.len()]);
        }
        assert!(lzf_prefix(&[0xe0, 0xff, 0xff], 10, &mut out).is_err());
    }
}
