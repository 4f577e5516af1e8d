//! DUMP payloads for `RESTORE`: the value's type byte and raw encoded bytes exactly as in
//! the file, then the RDB version (u16 LE) and the CRC-64 of everything before it (LE).
//!
//! A server accepts a payload whose version is at most its own RDB version. When the target
//! is older than the file, a value whose encoding the target already knows is relabelled
//! with the target's version (the bytes are the same); any other value is refused with a
//! message naming the key, the encoding and the version it needs.

use crate::error::{Error, Result};
use crate::export::out::OutBuf;
use crate::rdb::crc::Crc64;
use crate::rdb::format::*;
use crate::rdb::{Entry, ValueHandle};
use crate::rdb::{EntryMeta, RdbReader, RdbWriter, Record};

/// The lowest RDB version whose loader understands a value stored with type byte `t`
/// (Redis numbering; Valkey's own types 22 and 23 need Valkey's RDB 80 and 81).
pub fn min_rdb_version(dialect: Dialect, t: u8) -> Option<u32> {
    Some(match (dialect, t) {
        (_, T_STRING | T_LIST | T_SET | T_ZSET | T_HASH) => 1,
        (_, T_HASH_ZIPMAP | T_LIST_ZIPLIST | T_SET_INTSET | T_ZSET_ZIPLIST) => 2,
        (_, T_HASH_ZIPLIST) => 4,
        (_, T_LIST_QUICKLIST) => 7,
        (_, T_ZSET_2 | T_MODULE_PRE_GA | T_MODULE_2) => 8,
        (_, T_STREAM_LISTPACKS) => 9,
        (_, T_HASH_LISTPACK | T_ZSET_LISTPACK | T_LIST_QUICKLIST_2 | T_STREAM_LISTPACKS_2) => 10,
        (_, T_SET_LISTPACK | T_STREAM_LISTPACKS_3) => 11,
        (Dialect::Valkey, T_22) => 80,
        (Dialect::Valkey, T_23) => 81,
        (Dialect::Redis, T_22 | T_23 | T_HASH_METADATA | T_HASH_LISTPACK_EX) => 12,
        (Dialect::Redis, T_STREAM_LISTPACKS_4) => 13,
        (Dialect::Redis, T_STREAM_LISTPACKS_5 | T_ARRAY) => 14,
        _ => return None,
    })
}

/// The version to write in the payload footer for a target of RDB version `target`
/// (`None` = the file's own version), or an error if the target cannot load the value.
pub fn payload_version(v: &ValueHandle<'_>, target: Option<u32>) -> Result<u16> {
    let file = v.ctx().version;
    let Some(target) = target.filter(|&t| t < file) else {
        return Ok(file as u16);
    };
    let need = min_rdb_version(v.ctx().dialect, v.type_byte());
    match need {
        Some(n) if n <= target && (target >= 8 || v.len() < (1usize << 32)) => Ok(target as u16),
        _ => Err(Error::usage(format!(
            "the target (RDB {target}) cannot load a {} value, which needs RDB {}; \
             write commands (RESP) instead for older targets",
            v.encoding_name(),
            need.map_or("?".to_string(), |n| n.to_string()),
        ))
        .at(v.offset())),
    }
}

/// A DUMP payload for a target of RDB version `target` that does not know the value's
/// encoding: the value is re-encoded for that version by [`crate::rdb::RdbWriter`] (as
/// `redsafe convert` would) and the payload built from the result. Fails when the target
/// cannot hold the value at all (e.g. a stream below RDB 9, hash field TTLs below 12).
pub fn converted_payload(e: &Entry<'_>, target: u32) -> Result<Vec<u8>> {
    let dialect = if target >= MIN_VALKEY_MAGIC_VERSION {
        Dialect::Valkey
    } else {
        Dialect::Redis
    };
    let mut w = RdbWriter::new(Vec::new(), dialect, target)?;
    let meta = EntryMeta::default();
    if !w.entry_handle(b"k", &meta, &e.value)?.written() {
        return Err(Error::usage(format!(
            "the value cannot be written for RDB {target}"
        )));
    }
    let file = w.finish()?;
    for item in RdbReader::new(&file) {
        if let Record::Entry(c) = item?.record {
            let mut p = Vec::with_capacity(c.value.len() + 11);
            p.push(c.value.type_byte());
            p.extend_from_slice(c.value.raw());
            p.extend_from_slice(&(target as u16).to_le_bytes());
            let crc = crate::rdb::crc::crc64(&p);
            p.extend_from_slice(&crc.to_le_bytes());
            return Ok(p);
        }
    }
    Err(Error::usage("re-encoding produced no value"))
}

/// Size in bytes of the DUMP payload of `v` (type byte + raw + 2 + 8).
pub fn payload_len(v: &ValueHandle<'_>) -> usize {
    v.len() + 11
}

/// Appends the DUMP payload of `v` with footer version `version` to `out`, in chunks
/// (flushing as it goes), without building it in memory.
pub fn write_payload(out: &mut OutBuf<'_>, v: &ValueHandle<'_>, version: u16) -> Result<()> {
    let mut crc = Crc64::default();
    let t = [v.type_byte()];
    crc.update(&t);
    out.buf.push(v.type_byte());
    for chunk in v.raw().chunks(1 << 20) {
        crc.update(chunk);
        out.buf.extend_from_slice(chunk);
        out.maybe_flush()?;
    }
    let ver = version.to_le_bytes();
    crc.update(&ver);
    out.buf.extend_from_slice(&ver);
    out.buf.extend_from_slice(&crc.finish().to_le_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_payload_equals_dump_payload() {
        // A tiny RDB: REDIS0009, SELECTDB 0, a string "k" = "hello", EOF + checksum 0.
        let mut rdb = b"REDIS0009\xfe\x00\x00\x01k\x05hello\xff".to_vec();
        rdb.extend_from_slice(&[0u8; 8]);
        let e = crate::rdb::RdbReader::new(&rdb)
            .filter_map(|i| match i.unwrap().record {
                crate::rdb::Record::Entry(e) => Some(e),
                _ => None,
            })
            .next()
            .unwrap();
        let mut sink = Vec::new();
        {
            let mut out = OutBuf::new(&mut sink);
            write_payload(&mut out, &e.value, 9).unwrap();
            out.finish().unwrap();
        }
        assert_eq!(sink, e.value.dump_payload());
        assert_eq!(sink.len(), payload_len(&e.value));
        // An older target can take a string (relabelled), not a newer encoding.
        assert_eq!(payload_version(&e.value, Some(6)).unwrap(), 6);
        assert_eq!(payload_version(&e.value, Some(11)).unwrap(), 9);
        assert_eq!(
            min_rdb_version(Dialect::Redis, T_LIST_QUICKLIST_2),
            Some(10)
        );
    }
}
