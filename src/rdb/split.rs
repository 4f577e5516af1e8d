//! Speculative record boundaries: where to start parsing the middle of an RDB file without
//! having parsed what comes before, so that parts of one file can be read on several cores.
//!
//! An RDB file has no index and no sync markers: the only way to know where a record starts is
//! to parse every record before it. A *candidate* boundary is a position from which a run of
//! records parses (and whose keys are not empty); it can be wrong — a value's bytes may look
//! like records — so a caller that reads a part from a candidate must confirm it: the part
//! before it, read from its own start, has to end exactly at the candidate (see
//! [`crate::rdb::check`]). Between records the reader carries no state but the header and the
//! current database, so a confirmed part read from a candidate yields exactly what one
//! sequential pass would, apart from the database of its records before its first SELECTDB.

use crate::rdb::format::*;
use crate::rdb::reader::{Header, RdbReader, Record};
use crate::rdb::value::value_type_of;

/// How far past each split point candidates are looked for.
pub const SEARCH_WINDOW: usize = 1 << 20;

/// Records that must parse from a position for it to be a candidate.
pub const PROBE_RECORDS: usize = 64;

/// A parse started at the wrong place (inside a value) often reads a few bytes as a record
/// or two and then lands on a real record start, after which it follows the real records:
/// the candidate is therefore not where the probe starts but where its record number
/// `SETTLE_RECORDS` starts.
pub const SETTLE_RECORDS: usize = 16;

/// The database number a reader started at a candidate uses until it reads a SELECTDB: the
/// real one is only known when the part before it is confirmed.
pub const UNKNOWN_DB: u64 = u64::MAX;

/// Up to `parts - 1` increasing candidate boundaries splitting `data` (an RDB whose header is
/// `header`; `data[0]` at file offset `base`) into parts of roughly equal size. A split point
/// with no candidate within [`SEARCH_WINDOW`] bytes (e.g. inside a value larger than that) is
/// left out, so fewer boundaries (none) may come back.
pub fn candidate_boundaries(data: &[u8], base: u64, header: Header, parts: usize) -> Vec<usize> {
    let parts = parts.max(1);
    let split_points: Vec<usize> = (1..parts)
        .map(|k| (data.len() as u128 * k as u128 / parts as u128) as usize)
        .collect();
    candidate_boundaries_at(data, base, header, &split_points)
}

/// Up to one candidate boundary per split point of `split_points` (increasing offsets into
/// `data`): the first candidate at or after the point, before the next point and within
/// [`SEARCH_WINDOW`] bytes of it; points with none are left out.
pub fn candidate_boundaries_at(
    data: &[u8],
    base: u64,
    header: Header,
    split_points: &[usize],
) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::new();
    for (k, &point) in split_points.iter().enumerate() {
        let from = point.max(out.last().map_or(9, |&b| b + 1));
        let limit = split_points.get(k + 1).copied().unwrap_or(data.len());
        if let Some(b) = find_candidate(data, base, header, from, limit.min(from + SEARCH_WINDOW)) {
            out.push(b);
        }
    }
    out
}

/// Starting at the first position in `from..to` from which [`PROBE_RECORDS`] records (or
/// every record up to the end of the file) parse with no empty key among them, the start of
/// that run's record number [`SETTLE_RECORDS`] (or of its EOF, if that comes first).
pub fn find_candidate(
    data: &[u8],
    base: u64,
    header: Header,
    from: usize,
    to: usize,
) -> Option<usize> {
    search(data, base, header, from, to, &mut { PROBE_BUDGET })
}

/// [`find_candidate`], parsing at most `budget` records in all: bytes that parse as dozens of
/// records from nearly every position (a long run of one short pattern inside a value) must
/// not make the search itself slow.
fn search(
    data: &[u8],
    base: u64,
    header: Header,
    from: usize,
    to: usize,
    budget: &mut usize,
) -> Option<usize> {
    for pos in from..to.min(data.len()) {
        if *budget == 0 {
            return None;
        }
        if plausible_start(header, data[pos]) {
            if let Some(c) = probe(data, base, header, pos, budget) {
                return Some(c);
            }
        }
    }
    None
}

/// Records parsed in all while looking for one candidate.
pub const PROBE_BUDGET: usize = 100_000;

/// True for a byte that can start a record in the keyspace: a value type, an expiry, an LRU
/// or LFU opcode, SELECTDB, RESIZEDB or EOF.
fn plausible_start(header: Header, b: u8) -> bool {
    value_type_of(header.dialect, b).is_some()
        || matches!(
            b,
            OP_EXPIRETIME_MS
                | OP_EXPIRETIME
                | OP_SELECTDB
                | OP_RESIZEDB
                | OP_FREQ
                | OP_IDLE
                | OP_EOF
                | OP_SLOT_INFO
        )
}

/// The candidate a run of records parsed from `pos` gives, if they parse (each record parsed
/// is taken from `budget`).
fn probe(data: &[u8], base: u64, header: Header, pos: usize, budget: &mut usize) -> Option<usize> {
    let mut r = RdbReader::resume_at_base(data, base, pos, header, UNKNOWN_DB);
    let mut settled = None;
    for i in 0..PROBE_RECORDS {
        *budget = budget.saturating_sub(1);
        let start = (r.offset() - base) as usize;
        if i == SETTLE_RECORDS {
            settled = Some(start);
        }
        match r.next() {
            // A run of zero bytes parses as string records with empty keys: not a candidate.
            Some(Ok(item)) => match item.record {
                Record::Entry(e) if e.key.is_empty() => return None,
                // Only the real end of the file: an EOF followed by its checksum and nothing
                // more (an RDB preamble's EOF is followed by RESP, which the caller's
                // sequential part reaches anyway).
                Record::Eof { trailing, .. } => {
                    return (trailing == 0).then_some(settled.unwrap_or(start))
                }
                _ => {}
            },
            Some(Err(_)) | None => return None,
        }
    }
    settled
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb::writer::{EntryMeta, RdbWriter, WriterOptions};
    use crate::rdb::{Dialect, Value};

    fn file(n: usize) -> Vec<u8> {
        let mut w = RdbWriter::new(Vec::new(), Dialect::Redis, 11).unwrap();
        w.select_db(0).unwrap();
        for i in 0..n {
            let v = Value::String(format!("value-{i}").into_bytes());
            let meta = EntryMeta {
                expire_ms: (i % 3 == 0).then_some(1_900_000_000_000 + i as i64),
                ..Default::default()
            };
            w.entry_value(format!("key:{i}").as_bytes(), &meta, &v)
                .unwrap();
        }
        w.finish().unwrap()
    }

    /// Every candidate found in a file of short string records is a real record boundary
    /// (one the sequential reader stops at).
    #[test]
    fn candidates_are_real_boundaries() {
        let data = file(5000);
        let header = Header::parse(&data, 0).unwrap();
        let mut starts = std::collections::HashSet::new();
        let mut r = RdbReader::new(&data);
        starts.insert(r.offset() as usize);
        while let Some(Ok(_)) = r.next() {
            starts.insert(r.offset() as usize);
        }
        for parts in 2..=8 {
            let b = candidate_boundaries(&data, 0, header, parts);
            assert_eq!(b.len(), parts - 1, "{parts} parts: {b:?}");
            assert!(b.windows(2).all(|w| w[0] < w[1]));
            for x in b {
                assert!(starts.contains(&x), "{x} is not a record boundary");
            }
        }
    }

    /// A value that parses as records from nearly every position gives up after the probe
    /// budget rather than parsing PROBE_RECORDS records at each of a million positions.
    #[test]
    fn search_is_bounded() {
        let opts = WriterOptions {
            compression: false,
            ..Default::default()
        };
        let mut w = RdbWriter::with_options(Vec::new(), Dialect::Redis, 11, opts).unwrap();
        w.select_db(0).unwrap();
        // "\0\x01a\x01b" parses as a string record from any of its five rotations that
        // starts with the type byte; every 50th copy is broken, so a probe from anywhere
        // fails after at most 50 records.
        let mut v = Vec::new();
        for i in 0..400_000 {
            v.extend_from_slice(if i % 50 == 49 {
                b"\0\x01a\xc5b"
            } else {
                b"\0\x01a\x01b"
            });
        }
        w.entry_value(b"k", &EntryMeta::default(), &Value::String(v))
            .unwrap();
        let data = w.finish().unwrap();
        let header = Header::parse(&data, 0).unwrap();
        assert!(candidate_boundaries(&data, 0, header, 2).is_empty());
        // The search stopped because its budget ran out, not because it tried every position.
        let mut budget = PROBE_BUDGET;
        let mid = data.len() / 2;
        assert_eq!(search(&data, 0, header, mid, data.len(), &mut budget), None);
        assert_eq!(budget, 0);
    }

    /// Inside one large value of zero bytes there is no candidate.
    #[test]
    fn zeros_are_not_records() {
        let opts = WriterOptions {
            compression: false,
            ..Default::default()
        };
        let mut w = RdbWriter::with_options(Vec::new(), Dialect::Redis, 11, opts).unwrap();
        w.select_db(0).unwrap();
        w.entry_value(
            b"k",
            &EntryMeta::default(),
            &Value::String(vec![0; 100_000]),
        )
        .unwrap();
        let data = w.finish().unwrap();
        let header = Header::parse(&data, 0).unwrap();
        let eof = data.len() - 9;
        // At most the EOF opcode (a real boundary), never a position inside the value.
        for b in candidate_boundaries(&data, 0, header, 2) {
            assert_eq!(b, eof);
        }
    }
}
