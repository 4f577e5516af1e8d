//! A rough estimate of what a key costs in a 64-bit Redis server's memory (jemalloc size
//! classes, dict entries, object headers, encodings), in the spirit of rdbtools' memory
//! report. It is an estimate: the server's real usage also depends on its version, its
//! allocator state and rehashing.

use crate::rdb::cursor::{Cursor, RdbStr};
use crate::rdb::format::*;
use crate::rdb::ValueHandle;

/// The jemalloc size class that serves a request of `n` bytes.
pub fn malloc_size(n: u64) -> u64 {
    if n <= 8 {
        return 8;
    }
    if n <= 128 {
        return n.div_ceil(16) * 16;
    }
    let p = 1u64 << (63 - (n - 1).leading_zeros()); // largest power of two < n
    let step = (p / 4).max(16);
    n.div_ceil(step) * step
}

/// Bytes of an sds string of length `len` (header, bytes, terminator), rounded to the class.
pub fn sds_size(len: u64) -> u64 {
    let hdr = if len < 1 << 8 {
        3
    } else if len < 1 << 16 {
        5
    } else if len < 1 << 32 {
        9
    } else {
        17
    };
    malloc_size(hdr + len + 1)
}

const ROBJ: u64 = 16;
const DICT_ENTRY: u64 = 24;
const DICT: u64 = 56;

/// Bytes of a dict's bucket array for `n` entries.
fn buckets(n: u64) -> u64 {
    malloc_size(n.max(4).next_power_of_two() * 8)
}

/// Uncompressed length of a blob stored as an RDB string.
fn blob_len(s: &RdbStr<'_>) -> u64 {
    s.len()
}

/// The estimated memory of a key (its name, dict entry, expiry) and its value, given the
/// value's element count.
pub fn estimate(key_len: usize, has_expire: bool, v: &ValueHandle<'_>, elements: u64) -> u64 {
    let top = malloc_size(DICT_ENTRY)
        + sds_size(key_len as u64)
        + 8
        + if has_expire {
            malloc_size(DICT_ENTRY) + 8
        } else {
            0
        };
    top + value_estimate(v, elements)
}

fn value_estimate(v: &ValueHandle<'_>, n: u64) -> u64 {
    let raw = v.len() as u64;
    let mut cur = Cursor::new(v.raw(), v.offset());
    let w = "a value header";
    // Bytes of element data, roughly: the serialized size minus about one length byte per element.
    let payload = raw.saturating_sub(n);
    let robj = malloc_size(ROBJ);
    match v.type_byte() {
        T_STRING => match cur.string(w) {
            Ok(RdbStr::Int(_)) => robj,
            Ok(s) if s.len() <= 44 => malloc_size(ROBJ + 3 + s.len() + 1),
            Ok(s) => robj + sds_size(s.len()),
            Err(_) => robj + raw,
        },
        T_HASH_ZIPMAP | T_LIST_ZIPLIST | T_SET_INTSET | T_ZSET_ZIPLIST | T_HASH_ZIPLIST
        | T_HASH_LISTPACK | T_ZSET_LISTPACK | T_SET_LISTPACK | T_23 => match cur.string(w) {
            Ok(s) => robj + malloc_size(blob_len(&s)),
            Err(_) => robj + raw,
        },
        T_HASH_LISTPACK_EX => robj + malloc_size(raw.saturating_sub(8)) + 16,
        T_LIST_QUICKLIST | T_LIST_QUICKLIST_2 => {
            let mut total = robj + malloc_size(40);
            let Ok(nodes) = cur.len(w) else {
                return robj + raw;
            };
            for _ in 0..nodes {
                if v.type_byte() == T_LIST_QUICKLIST_2 && cur.len(w).is_err() {
                    return total + raw;
                }
                match cur.string(w) {
                    Ok(s) => total += malloc_size(32) + malloc_size(blob_len(&s)),
                    Err(_) => return total + raw,
                }
            }
            total
        }
        // A plain list is loaded into a quicklist of listpacks: about the payload, packed.
        T_LIST => robj + malloc_size(40) + (n / 128 + 1) * malloc_size(32) + payload + n * 2,
        T_SET => robj + DICT + buckets(n) + n * (malloc_size(DICT_ENTRY) + 8) + payload,
        T_HASH | T_HASH_METADATA | T_22 => {
            robj + DICT + buckets(n) + n * (malloc_size(DICT_ENTRY) + 16) + payload
        }
        T_ZSET | T_ZSET_2 => {
            // dict + skiplist: each member has an sds, a dict entry and a skiplist node.
            robj + DICT
                + buckets(n)
                + malloc_size(32)
                + n * (malloc_size(DICT_ENTRY) + 8 + 64)
                + payload
        }
        T_STREAM_LISTPACKS | T_STREAM_LISTPACKS_2 | T_STREAM_LISTPACKS_3 | T_STREAM_LISTPACKS_4
        | T_STREAM_LISTPACKS_5 => {
            // Node listpacks (stored compressed, held inflated) in a radix tree, then the
            // metadata and consumer groups (PEL entries live in radix trees too).
            let mut total = robj + malloc_size(64);
            let Ok(nodes) = cur.len(w) else {
                return robj + raw;
            };
            for _ in 0..nodes {
                match (cur.string(w), cur.string(w)) {
                    (Ok(_), Ok(lp)) => total += malloc_size(blob_len(&lp)) + 64,
                    _ => return total + raw,
                }
            }
            total + (cur.remaining() as u64) * 16
        }
        _ => robj + raw + raw / 8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_classes() {
        assert_eq!(malloc_size(1), 8);
        assert_eq!(malloc_size(24), 32);
        assert_eq!(malloc_size(129), 160);
        assert_eq!(malloc_size(1000), 1024);
        assert_eq!(malloc_size(1025), 1280);
        assert_eq!(sds_size(10), 16);
    }
}
