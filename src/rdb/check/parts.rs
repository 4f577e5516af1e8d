//! Checking a large file in parts, one thread per part, from speculative record boundaries
//! ([`crate::rdb::split`]): each part is parsed and validated on its own thread and used only
//! if the part before it ends exactly where it starts.

use crate::error::{Error, Result};
use crate::rdb::reader::{Header, RdbReader, Record};
use crate::rdb::split::UNKNOWN_DB;
use crate::rdb::value::{DecodeOptions, Scratch};

use super::{note_record, validate_one, Counter, Noted, RdbReport, Tally};

/// How a part of a split file ended.
enum PartEnd {
    /// At the next part's start, in database `db`: the next part is confirmed.
    Reached { db: u64 },
    /// At the end of the file or at the first error (the part read on past the next part's
    /// start when that was not a record boundary).
    Done(Result<Option<u64>>),
    /// Stopped early: an earlier part did not confirm this one.
    Abandoned,
}

/// What one part of a split file found.
struct Part {
    /// Header, AUX fields, databases, functions, modules, end of file.
    report: RdbReport,
    /// Keys after the part's first SELECTDB (all keys of the first part).
    tally: Tally,
    /// Keys before it: in the database the previous part ends in.
    inherited: Tally,
    /// True if the part ended before its first SELECTDB (its error, if any, and the next
    /// part's first keys are in the inherited database).
    ended_in_inherited_db: bool,
    end: PartEnd,
}

impl Part {
    /// A part that stopped (or never started) because an earlier part was not confirmed.
    fn abandoned(size: u64) -> Part {
        Part {
            report: RdbReport::empty(size),
            tally: Tally::default(),
            inherited: Tally::default(),
            ended_in_inherited_db: false,
            end: PartEnd::Abandoned,
        }
    }
}

/// Shared state of the parts of one split check.
struct PartsShared {
    /// Parts with an index at least this are not confirmed and stop.
    abandon_from: std::sync::atomic::AtomicUsize,
    /// Bytes read by all parts so far (for progress).
    done: std::sync::atomic::AtomicU64,
}

/// Parses and validates the part `index` of a split file, from `reader`'s position until
/// `stop` (the next part's start; `None` for the last part).
#[allow(clippy::too_many_arguments)]
fn check_part<'a>(
    mut reader: RdbReader<'a>,
    index: usize,
    mut stop: Option<u64>,
    shared: &PartsShared,
    dopts: DecodeOptions,
    now_ms: i64,
    size: u64,
    end: u64,
    progress: &mut dyn FnMut(u64),
) -> Part {
    use std::sync::atomic::Ordering;
    let mut part = Part::abandoned(size);
    let start = reader.offset();
    let mut in_inherited = index > 0;
    let mut hint = usize::MAX;
    let mut scratch = Scratch::default();
    let mut counter = Counter::default();
    // (Never returned: the reader ends with the EOF record or an error.)
    let mut result: Result<Option<u64>> = Err(Error::truncated(end, "the EOF opcode", 1));
    let mut records = 0u32;
    let mut reported = start;
    while let Some(item) = reader.next_visiting(&mut counter, &mut scratch, dopts) {
        let (item, visited) = match item {
            Ok(i) => i,
            Err(e) => {
                result = Err(e);
                break;
            }
        };
        // Keys first: the common case, validated in place without moving the record.
        if let Record::Entry(e) = &item.record {
            let tally = if in_inherited {
                &mut part.inherited
            } else {
                &mut part.tally
            };
            let r = validate_one(
                e.db,
                &e.key,
                e.expire_ms,
                &e.value,
                visited,
                tally,
                &mut hint,
                &mut scratch,
                &mut counter,
                dopts,
                now_ms,
            );
            if let Err(e) = r {
                result = Err(e);
                break;
            }
        } else {
            // (Not `reader.db() != UNKNOWN_DB`: a file may select that database number.)
            if matches!(item.record, Record::SelectDb(_)) {
                in_inherited = false;
            }
            if let Noted::Eof(checksum) = note_record(&mut part.report, &reader, item.record) {
                result = Ok(checksum);
                break;
            }
        }
        if let Some(s) = stop {
            let off = reader.offset();
            if off == s {
                part.end = PartEnd::Reached { db: reader.db() };
                part.ended_in_inherited_db = in_inherited;
                return part;
            }
            if off > s {
                // The next part's start was not a record boundary: read on to the end here.
                shared.abandon_from.fetch_min(index + 1, Ordering::Relaxed);
                stop = None;
            }
        }
        records = records.wrapping_add(1);
        if records.is_multiple_of(1024) {
            if shared.abandon_from.load(Ordering::Relaxed) <= index {
                return part;
            }
            let off = reader.offset();
            if off - reported >= 8 << 20 {
                let step = off - reported;
                progress(shared.done.fetch_add(step, Ordering::Relaxed) + step);
                reported = off;
            }
        }
    }
    if stop.is_some() {
        // Ended (error or end of file) before the next part's start.
        shared.abandon_from.fetch_min(index + 1, Ordering::Relaxed);
    }
    part.ended_in_inherited_db = in_inherited;
    part.end = PartEnd::Done(result);
    part
}

/// Checks a file split into parts at `bounds` (candidate record boundaries) on `threads`
/// threads, each taking the next part not yet started; merges the parts that the chain of
/// confirmations reaches. `None` if the parts do not form a chain (they always do; kept as a
/// fallback rather than a panic).
#[allow(clippy::too_many_arguments)]
pub(super) fn walk_parts(
    data: &[u8],
    base: u64,
    header: Header,
    bounds: &[usize],
    threads: usize,
    dopts: DecodeOptions,
    now_ms: i64,
    report: &mut RdbReport,
    progress: &mut dyn FnMut(u64),
) -> Option<Result<Option<u64>>> {
    use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    let size = data.len() as u64;
    let end = base + size;
    let shared = PartsShared {
        abandon_from: AtomicUsize::new(usize::MAX),
        done: AtomicU64::new(0),
    };
    let stop_of = |i: usize| bounds.get(i).map(|&b| base + b as u64);
    // Parts are handed out in order to whichever thread is free, so that a thread slowed by
    // denser data (or by the checksum thread) simply takes fewer of them.
    let nparts = bounds.len() + 1;
    let next = AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<Option<Part>>> =
        (0..nparts).map(|_| std::sync::Mutex::new(None)).collect();
    let worker = |progress: &mut dyn FnMut(u64)| loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        if i >= nparts || shared.abandon_from.load(Ordering::Relaxed) <= i {
            break;
        }
        let reader = match i {
            0 => RdbReader::with_base(data, base),
            _ => RdbReader::resume_at_base(data, base, bounds[i - 1], header, UNKNOWN_DB),
        };
        let part = check_part(
            reader,
            i,
            stop_of(i),
            &shared,
            dopts,
            now_ms,
            size,
            end,
            progress,
        );
        *slots[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(part);
    };
    std::thread::scope(|s| {
        let handles: Vec<_> = (1..threads.min(nparts))
            .map(|_| s.spawn(|| worker(&mut |_| {})))
            .collect();
        worker(progress);
        for h in handles {
            // A panic while validating must not turn into a verdict: pass it on.
            h.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
        }
    });
    // Parts never started (after an abandoned one) count as abandoned.
    let parts: Vec<Part> = slots
        .into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .unwrap_or_else(|| Part::abandoned(size))
        })
        .collect();
    // The confirmed chain: parts that reached the next one's start, then one that ended.
    let last = parts
        .iter()
        .position(|p| !matches!(p.end, PartEnd::Reached { .. }))?;
    if matches!(parts[last].end, PartEnd::Abandoned) {
        return None;
    }
    let dialect = header.dialect;
    let mut db = 0;
    report.parts = last + 1;
    for part in parts.into_iter().take(last + 1) {
        let r = part.report;
        report.header = report.header.or(r.header);
        report.aux.extend(r.aux);
        for d in r.dbs.into_keys() {
            report.dbs.entry(d).or_default();
        }
        report.functions.extend(r.functions);
        report.modules.extend(r.modules);
        let mut inherited = part.inherited;
        inherited.rename_db(db);
        inherited.merge_into(report, dialect);
        part.tally.merge_into(report, dialect);
        match part.end {
            // A part without a SELECTDB ends in the database it started in.
            PartEnd::Reached { db: d } if !part.ended_in_inherited_db => db = d,
            PartEnd::Reached { .. } => {}
            PartEnd::Done(result) => {
                report.eof_offset = r.eof_offset;
                report.end_offset = r.end_offset;
                report.trailing_bytes = r.trailing_bytes;
                progress(size);
                return Some(result.map_err(|e| {
                    if part.ended_in_inherited_db {
                        e.replace_db(UNKNOWN_DB, db)
                    } else {
                        e
                    }
                }));
            }
            PartEnd::Abandoned => return None,
        }
    }
    None
}
