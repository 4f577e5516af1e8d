//! Element counts read from value headers, without decoding values: the count prefix of
//! plain encodings, the element count in ziplist / listpack / intset / zipmap headers
//! (inflating only the first bytes of an LZF-compressed blob), summed over quicklist nodes.
//! The one implementation behind `stats`' fast counts and the writers' "is this an empty
//! collection" test.

use crate::rdb::cursor::{Cursor, RdbStr};
use crate::rdb::encoding::lzf;
use crate::rdb::format::*;

/// The first `n` bytes of a blob stored as an RDB string.
fn blob_head<'b>(s: RdbStr<'b>, n: usize, buf: &'b mut Vec<u8>) -> Option<&'b [u8]> {
    match s {
        RdbStr::Raw(b) => b.get(..n),
        RdbStr::Lzf { data, ulen, offset } => {
            lzf::decompress_prefix(data, ulen, n, buf, offset).ok()?;
            buf.get(..n)
        }
        RdbStr::Int(_) => None,
    }
}

fn u16_at(h: &[u8], at: usize) -> Option<u64> {
    Some(u64::from(u16::from_le_bytes([
        *h.get(at)?,
        *h.get(at + 1)?,
    ])))
}

/// Count from a ziplist header (`zllen` at byte 8), `None` if it saturated (65535).
fn ziplist_count(s: RdbStr<'_>, buf: &mut Vec<u8>) -> Option<u64> {
    let h = blob_head(s, 10, buf)?;
    u16_at(h, 8).filter(|&n| n != u64::from(u16::MAX))
}

/// Count from a listpack header (u16 at byte 4), `None` if unknown (65535).
fn listpack_count(s: RdbStr<'_>, buf: &mut Vec<u8>) -> Option<u64> {
    let h = blob_head(s, 6, buf)?;
    u16_at(h, 4).filter(|&n| n != u64::from(u16::MAX))
}

/// The element count of the value of type `t` whose encoding is `raw` (at file offset
/// `offset`), from its headers alone: `STRLEN` for a string, `LLEN`/`SCARD`/`ZCARD`/`HLEN`,
/// the number of set indices of an array. `None` when the headers do not hold it (a ziplist
/// or listpack with 65535+ elements, streams, modules) or cannot be read; `buf` is scratch.
pub fn header_count(
    dialect: Dialect,
    t: u8,
    raw: &[u8],
    offset: u64,
    buf: &mut Vec<u8>,
) -> Option<u64> {
    let mut cur = Cursor::new(raw, offset);
    let w = "a value header";
    match t {
        T_STRING => cur.string(w).ok().map(|s| s.len()),
        T_LIST | T_SET | T_ZSET | T_ZSET_2 | T_HASH | T_ARRAY | T_22 => cur.len(w).ok(),
        T_HASH_METADATA if dialect == Dialect::Redis => {
            cur.skip(8, w).ok()?;
            cur.len(w).ok()
        }
        T_HASH_ZIPMAP => {
            let s = cur.string(w).ok()?;
            let h = blob_head(s, 1, buf)?;
            h.first().map(|&n| u64::from(n)).filter(|&n| n < 254)
        }
        T_LIST_ZIPLIST => ziplist_count(cur.string(w).ok()?, buf),
        T_ZSET_ZIPLIST | T_HASH_ZIPLIST => ziplist_count(cur.string(w).ok()?, buf).map(|n| n / 2),
        T_SET_INTSET => {
            let h = blob_head(cur.string(w).ok()?, 8, buf)?;
            Some(u64::from(u32::from_le_bytes([h[4], h[5], h[6], h[7]])))
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
                let container = if t == T_LIST_QUICKLIST_2 {
                    cur.len(w).ok()?
                } else {
                    QUICKLIST_NODE_PACKED
                };
                let s = cur.string(w).ok()?;
                total += if container == QUICKLIST_NODE_PLAIN {
                    1
                } else if t == T_LIST_QUICKLIST {
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

/// True when an encoded value is a collection with no elements, which Redis skips on load
/// (and redis-check-rdb rejects) and never writes. Only looks at small values: every empty
/// encoding is a few bytes long.
pub fn is_empty_collection(dialect: Dialect, t: u8, raw: &[u8]) -> bool {
    if raw.len() > 256 || matches!(t, T_STRING | T_ARRAY) {
        return false;
    }
    header_count(dialect, t, raw, 0, &mut Vec::new()) == Some(0)
}
