//! Repairing AOF sets: [`plan_fix`] decides what to keep of every file, [`write_fixed`]
//! writes the result as a new file or directory, [`apply_in_place`] replaces the input
//! (keeping a backup). Nothing is ever cut inside an RDB part.
//!
//! Three modes, which combine:
//! - default: what `redis-check-aof --fix` does: the damaged last file is cut at the end of
//!   its last complete top-level record (an unterminated transaction is dropped back to its
//!   `MULTI`). Damage in a file that is not the last one is refused, as Redis refuses it.
//! - `truncate_to_timestamp`: keep every record stamped ≤ T, like
//!   `redis-check-aof --truncate-to-timestamp`, but across all files: the file holding the
//!   first `#TS:` > T is cut at that annotation and every later INCR file is dropped from the
//!   manifest. A damaged tail of the last file before the cut point is cut as in the default
//!   mode.
//! - `salvage`: damaged regions anywhere (torn writes, zeroed pages) are skipped: reading
//!   resumes at the next offset where [`RESYNC_RECORDS`] records parse in a row (or the file
//!   ends cleanly), transactions cut by the damage are dropped whole, and every loss is
//!   reported with its byte range and time range.

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::aof::check::{check_set, FileStatus, ScanOptions, SetReport};
use crate::aof::manifest::{FileType, Manifest, ManifestEntry};
use crate::aof::reader::{AofItem, AofStream};
use crate::aof::resp::{parse_record, parse_timestamp, RawKind, Step};
use crate::aof::set::{name_to_os, AofKind, AofPart, AofSet};
use crate::error::{Error, ErrorKind, Result};
use crate::fsutil::{self, AtomicDir, AtomicFile};

/// One byte range in a `Vec` (clippy would read `vec![a..b]` as a mistake).
fn one(r: Range<u64>) -> Vec<Range<u64>> {
    std::iter::once(r).collect()
}

/// Records that must parse in a row after a candidate offset for `salvage` to resume there
/// (fewer when the file ends cleanly after them).
pub const RESYNC_RECORDS: usize = 8;

/// What to do.
#[derive(Debug, Clone, Copy, Default)]
pub struct FixOptions {
    /// Keep only records stamped ≤ this unix time (seconds).
    pub truncate_to_timestamp: Option<i64>,
    /// Skip damaged regions instead of cutting everything after them.
    pub salvage: bool,
    /// Options for reading (RDB checker options).
    pub scan: ScanOptions,
}

/// What happens to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileAction {
    /// Kept unchanged.
    Keep,
    /// Cut: only the first `n` bytes are kept.
    Truncate(u64),
    /// Only these byte ranges are kept, in order (salvage).
    Ranges(Vec<Range<u64>>),
    /// Dropped from the set (files after a timestamp cut).
    Remove,
}

impl FileAction {
    /// The ranges kept of a file of `size` bytes.
    pub fn kept(&self, size: u64) -> Vec<Range<u64>> {
        match self {
            FileAction::Keep => one(0..size),
            FileAction::Truncate(n) => one(0..*n),
            FileAction::Ranges(r) => r.clone(),
            FileAction::Remove => vec![],
        }
    }

    fn from_ranges(ranges: Vec<Range<u64>>, size: u64) -> FileAction {
        let ranges: Vec<Range<u64>> = ranges.into_iter().filter(|r| r.end > r.start).collect();
        match ranges.as_slice() {
            // An empty file has nothing to remove.
            [] if size == 0 => FileAction::Keep,
            [] => FileAction::Truncate(0),
            [r] if r.start == 0 && r.end == size => FileAction::Keep,
            [r] if r.start == 0 => FileAction::Truncate(r.end),
            _ => FileAction::Ranges(ranges),
        }
    }
}

/// Why bytes are not in the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LossKind {
    /// A damaged region skipped by salvage.
    Damaged,
    /// A damaged or incomplete tail cut off (what `redis-check-aof --fix` removes).
    Tail,
    /// Records after the `--truncate-to-timestamp` cut point.
    AfterTimestamp,
    /// A whole file dropped after the cut point.
    FileRemoved,
}

/// Bytes that are not in the output, and what is known about them.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Loss {
    /// Index of the file in the set.
    pub file: usize,
    /// Its name.
    pub name: String,
    /// Why.
    pub kind: LossKind,
    /// The byte range removed.
    pub start: u64,
    /// End of the byte range (exclusive).
    pub end: u64,
    /// What was wrong there (for damage).
    pub reason: String,
    /// The `#TS:` stamp in effect where the range starts: lost commands ran at or after it.
    pub from_timestamp: Option<i64>,
    /// The first `#TS:` stamp after the range: lost commands ran at or before it.
    pub to_timestamp: Option<i64>,
    /// For salvage: the database selected before the damage, which the kept commands after
    /// the range run in until the next `SELECT` (the damaged bytes may have held one).
    pub db_before: Option<u64>,
    /// For salvage: offset of the first `SELECT` after the range, if any.
    pub next_select: Option<u64>,
    /// For salvage: the file selects other databases too, so the database of the commands
    /// between the range and `next_select` is uncertain.
    pub db_uncertain: bool,
}

impl Loss {
    /// Bytes removed.
    pub fn len(&self) -> u64 {
        self.end - self.start
    }

    /// True when nothing is removed.
    pub fn is_empty(&self) -> bool {
        self.end == self.start
    }
}

/// Where a timestamp cut falls.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TimestampCut {
    /// Index of the file cut.
    pub file: usize,
    /// Offset of the first `#TS:` above the limit (the file is cut there).
    pub offset: u64,
    /// Its stamp.
    pub timestamp: i64,
}

/// The outcome of [`plan_fix`]: an action per file, and every byte range removed.
#[derive(Debug, Clone)]
pub struct FixPlan {
    /// One action per part of the set.
    pub actions: Vec<FileAction>,
    /// What is removed, in file order.
    pub losses: Vec<Loss>,
    /// The check of the input.
    pub check: SetReport,
    /// The timestamp cut, when `truncate_to_timestamp` found a stamp above the limit.
    pub cut: Option<TimestampCut>,
    /// Remarks for the user (e.g. an RDB BASE written after the requested time).
    pub notes: Vec<String>,
}

impl FixPlan {
    /// True when the output equals the input.
    pub fn is_noop(&self) -> bool {
        self.actions.iter().all(|a| *a == FileAction::Keep)
    }

    /// Total bytes removed.
    pub fn bytes_removed(&self) -> u64 {
        self.losses.iter().map(Loss::len).sum()
    }
}

fn refuse(msg: String) -> Error {
    Error::new(ErrorKind::Corrupt {
        expected: "a repairable AOF",
        found: msg,
    })
}

/// Decides what to keep of every file. Refuses (with a damage [`Error`], exit 1) what cannot
/// be fixed: a damaged RDB part, a missing file, damage in a file that is not the last one
/// (without `salvage`), an invalid `#TS:` (with `truncate_to_timestamp`), or a timestamp
/// before everything.
pub fn plan_fix(set: &AofSet, opts: &FixOptions, progress: &mut dyn FnMut(u64)) -> Result<FixPlan> {
    let mut scan = opts.scan;
    scan.continue_after_damage = true;
    let check = check_set(set, scan, progress)?;
    let mut actions = Vec::with_capacity(set.parts.len());
    let mut losses = Vec::new();
    let mut notes = Vec::new();
    let mut cut: Option<TimestampCut> = None;
    let last = set.parts.len().saturating_sub(1);
    let mut carry_ts: Option<i64> = None;
    // The one cut rule ([`crate::aof::pitr::Cutter`]), fed the records that survive.
    let mut cutter = opts
        .truncate_to_timestamp
        .map(|unix| {
            crate::aof::pitr::Cutter::new(set, &crate::aof::pitr::When::Time { unix }.into())
        })
        .transpose()?;
    for (i, part) in set.parts.iter().enumerate() {
        let fr = &check.files[i];
        let name = part.name_lossy();
        if let Some(c) = &cut {
            // Everything after the cut point goes.
            let size = part.size.unwrap_or(0);
            losses.push(Loss {
                file: i,
                name: name.clone(),
                kind: LossKind::FileRemoved,
                start: 0,
                end: size,
                reason: format!("after the first #TS: above the limit ({})", c.timestamp),
                from_timestamp: None,
                to_timestamp: None,
                db_before: None,
                next_select: None,
                db_uncertain: false,
            });
            actions.push(FileAction::Remove);
            continue;
        }
        match fr.status {
            FileStatus::Missing => {
                return Err(refuse(format!(
                    "{} is listed in the manifest but missing",
                    part.path.display()
                )))
            }
            FileStatus::RdbDamaged => {
                let why = fr
                    .rdb_error
                    .as_ref()
                    .map(|e| e.to_string())
                    .unwrap_or_default();
                return Err(refuse(format!(
                    "the RDB part of {} is not sane ({why}); redsafe never cuts into an RDB (try `redsafe salvage` on it)",
                    part.path.display()
                )));
            }
            _ => {}
        }
        let size = fr.size;
        // Which ranges of the RESP part survive the damage.
        let mut kept: Vec<Range<u64>>;
        if fr.status == FileStatus::Damaged && opts.salvage {
            // Streamed, not mapped: a live INCR file may be truncated under a mapping.
            let (f, meta) = crate::mmap::open_input(&part.path)?;
            let s = salvage_resp(
                f,
                meta.len(),
                fr.resp_offset,
                carry_ts,
                i,
                &name,
                &part.path,
            )?;
            kept = one(0..fr.resp_offset);
            kept.extend(s.keep);
            losses.extend(s.losses);
        } else if fr.status == FileStatus::Damaged {
            let f = fr.failure.as_ref();
            // Timestamp mode: damage after the cut point does not matter.
            let cut_before = match cutter.as_mut() {
                Some(c) => find_ts_cut(c, i, part, fr.resp_offset, fr.ok_up_to, carry_ts)?,
                None => None,
            };
            if cut_before.is_none() && i != last {
                return Err(refuse(format!(
                    "{} is damaged at offset {} and is not the last file: redis-check-aof refuses to cut it too, since the files after it would be replayed without its tail; salvaging skips the damaged region and keeps the later files ({})",
                    name,
                    f.map(|f| f.error.offset().unwrap_or(0)).unwrap_or(0),
                    f.map(|f| f.error.to_string()).unwrap_or_default()
                )).with_remedy(crate::error::Remedy::Salvage));
            }
            kept = one(0..fr.ok_up_to);
            if cut_before.is_none() {
                losses.push(Loss {
                    file: i,
                    name: name.clone(),
                    kind: LossKind::Tail,
                    start: fr.ok_up_to,
                    end: size,
                    reason: f.map(|f| f.error.to_string()).unwrap_or_default(),
                    from_timestamp: f.and_then(|f| f.timestamp),
                    to_timestamp: None,
                    db_before: None,
                    next_select: None,
                    db_uncertain: false,
                });
                if let Some(f) = f.filter(|f| f.loader_goes_on) {
                    notes.push(format!(
                        "redis-server's own loader goes on past the {} at offset {} of {name} \
                         (redis-check-aof calls it damage): this cut drops {} bytes Redis would \
                         load; salvaging skips only that record (or its transaction) and keeps what follows",
                        f.command
                            .as_deref()
                            .map(crate::error::escape_bytes)
                            .unwrap_or_default(),
                        f.record_offset,
                        size.saturating_sub(fr.ok_up_to)
                    ));
                }
            }
        } else {
            kept = one(0..size);
        }
        // The timestamp cut, inside what is kept.
        if let (Some(t), Some(cutter)) = (opts.truncate_to_timestamp, cutter.as_mut()) {
            if let Some(rdb) = &fr.rdb {
                if let Some(ct) = rdb.ctime {
                    if ct > t && i == 0 {
                        notes.push(format!(
                            "the RDB part of {name} was written at {} ({ct}), after {t}: the result holds its state, not the state at {t}",
                            crate::time::format_rfc3339(ct)
                        ));
                    }
                }
            }
            let mut found = None;
            for r in &kept {
                let from = r.start.max(fr.resp_offset);
                if from >= r.end {
                    continue;
                }
                if let Some((off, ts)) = find_ts_cut(cutter, i, part, from, r.end, carry_ts)? {
                    found = Some((off, ts));
                    break;
                }
            }
            if let Some((off, ts)) = found {
                if i == 0 && off == 0 {
                    return Err(refuse(format!(
                        "{name} has nothing before timestamp {t} (its first #TS: is {ts})"
                    )));
                }
                let removed_from = off;
                let mut clipped = Vec::new();
                for r in &kept {
                    if r.start >= off {
                        continue;
                    }
                    clipped.push(r.start..r.end.min(off));
                }
                // Losses already recorded beyond the cut are moot.
                losses.retain(|l| !(l.file == i && l.start >= off));
                losses.push(Loss {
                    file: i,
                    name: name.clone(),
                    kind: LossKind::AfterTimestamp,
                    start: removed_from,
                    end: size,
                    reason: format!("records after #TS:{ts} (above {t})"),
                    from_timestamp: Some(ts),
                    to_timestamp: None,
                    db_before: None,
                    next_select: None,
                    db_uncertain: false,
                });
                kept = clipped;
                cut = Some(TimestampCut {
                    file: i,
                    offset: off,
                    timestamp: ts,
                });
            }
        }
        if fr.state.timestamp.is_some() {
            carry_ts = fr.state.timestamp;
        }
        actions.push(FileAction::from_ranges(kept, size));
    }
    if let (Some(t), None) = (opts.truncate_to_timestamp, &cut) {
        notes.push(format!(
            "no #TS: above {t}: nothing truncated by time (last stamp {})",
            check
                .last_timestamp()
                .map(|t| t.to_string())
                .unwrap_or_else(|| "none".into())
        ));
    }
    Ok(FixPlan {
        actions,
        losses,
        check,
        cut,
        notes,
    })
}

/// Finds the first valid `#TS:` > `limit` in `part[from..to]` (records read from `from`,
/// which must be a record boundary). Returns its offset (the enclosing `MULTI` when inside a
/// transaction) and stamp. An invalid `#TS:` line is refused, as redis-check-aof does.
fn find_ts_cut(
    cutter: &mut crate::aof::pitr::Cutter,
    index: usize,
    part: &AofPart,
    from: u64,
    to: u64,
    carry_ts: Option<i64>,
) -> Result<Option<(u64, i64)>> {
    use crate::aof::check::SetVisitor;
    use crate::aof::pitr::CutReason;
    use std::io::{Seek, SeekFrom};
    let mut f = File::open(&part.path).map_err(|e| Error::io(&part.path, &e))?;
    f.seek(SeekFrom::Start(from))
        .map_err(|e| Error::io(&part.path, &e))?;
    let mut r = AofStream::new(f, from, to, carry_ts).in_file(&part.path);
    cutter.reset_transaction();
    while let Some(item) = r.next_item() {
        let item = match item {
            Ok(i) => i,
            Err(e) if !e.is_damage() => return Err(e),
            Err(_) => break,
        };
        if cutter.item(index, &item).is_break() {
            if let Some(e) = cutter.take_error() {
                return Err(e.with_context(format!(
                    "{} (redis-check-aof refuses it too)",
                    part.name_lossy()
                )));
            }
            if let (Some(c), Some(CutReason::Timestamp { stamp })) = (cutter.cut(), cutter.reason())
            {
                return Ok(Some((c.offset, *stamp)));
            }
            break;
        }
    }
    Ok(None)
}

/// The result of salvaging one file's RESP part.
struct Salvaged {
    keep: Vec<Range<u64>>,
    losses: Vec<Loss>,
}

/// Bytes read at a time while looking for a resynchronisation point.
const WINDOW_CHUNK: u64 = 1 << 20;

/// A window over a seekable input, read on demand: salvage parses candidate records in it,
/// in memory bounded by the records it looks at (plus [`WINDOW_CHUNK`]), not by the file.
struct Window<S> {
    src: S,
    /// Size of the input (smaller when it turned out shorter).
    len: u64,
    /// Offset of `buf[0]`.
    base: u64,
    buf: Vec<u8>,
}

impl<S: Read + Seek> Window<S> {
    fn new(src: S, len: u64) -> Self {
        Window {
            src,
            len,
            base: 0,
            buf: Vec::new(),
        }
    }

    /// End of the bytes held.
    fn held_end(&self) -> u64 {
        self.base + self.buf.len() as u64
    }

    /// Makes the window hold `[keep_from, end)` (clamped to the input), dropping what lies
    /// before `keep_from` when more has to be read.
    fn cover(&mut self, keep_from: u64, end: u64) -> std::io::Result<()> {
        let end = end.min(self.len);
        if keep_from >= self.base && end <= self.held_end() {
            return Ok(());
        }
        if keep_from < self.base || keep_from > self.held_end() {
            self.buf.clear();
            self.base = keep_from;
        } else {
            self.buf.drain(..(keep_from - self.base) as usize);
            self.base = keep_from;
        }
        let have = self.held_end();
        if end <= have {
            return Ok(());
        }
        let want = usize::try_from(end - have).unwrap_or(usize::MAX);
        self.src.seek(SeekFrom::Start(have))?;
        let old = self.buf.len();
        self.buf.resize(old + want, 0);
        let mut got = 0;
        while got < want {
            match self.src.read(&mut self.buf[old + got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.buf.truncate(old + got);
        if got < want {
            // The input is shorter than announced: it ends here.
            self.len = self.held_end();
        }
        Ok(())
    }

    /// Parses the record at absolute offset `pos` (≥ `keep_from`), reading as much as it
    /// needs; the positions in the step are relative to `self.base`.
    fn record(&mut self, keep_from: u64, pos: u64) -> std::io::Result<Step> {
        if pos < self.base {
            self.cover(keep_from, pos + WINDOW_CHUNK)?;
        }
        loop {
            let rel = (pos - self.base) as usize;
            let step = parse_record(&self.buf, rel, self.len - self.base);
            if !matches!(step, Step::NeedMore) {
                return Ok(step);
            }
            let have = self.held_end();
            let grow = (have - keep_from).max(WINDOW_CHUNK);
            self.cover(keep_from, have.saturating_add(grow))?;
        }
    }
}

/// True when the input at `c` starts a run of valid records (see [`RESYNC_RECORDS`]).
fn resync_ok<S: Read + Seek>(w: &mut Window<S>, c: u64) -> std::io::Result<bool> {
    let mut pos = c;
    let mut cmds = 0;
    loop {
        match w.record(c, pos)? {
            Step::Record(r) => {
                if r.kind == RawKind::Command {
                    cmds += 1;
                    if cmds >= RESYNC_RECORDS {
                        return Ok(true);
                    }
                } else if pos == c {
                    // Only a valid #TS: line starts a resynchronisation, never arbitrary text.
                    let line = w.buf.get(r.start..r.end).unwrap_or(&[]);
                    if !matches!(parse_timestamp(line), Some(Ok(_))) || r.crlfs == 0 {
                        return Ok(false);
                    }
                }
                pos = w.base + r.end as u64;
            }
            Step::End => return Ok(cmds > 0),
            Step::Error(_) | Step::NeedMore => return Ok(false),
        }
    }
}

/// The first offset ≥ `from` where records parse again.
fn find_resync<S: Read + Seek>(w: &mut Window<S>, from: u64) -> std::io::Result<Option<u64>> {
    let mut p = from;
    while p < w.len {
        w.cover(p, p.saturating_add(WINDOW_CHUNK))?;
        if p >= w.held_end() {
            break;
        }
        let rel = (p - w.base) as usize;
        let Some(i) = memchr::memchr2(b'*', b'#', &w.buf[rel..]) else {
            p = w.held_end();
            continue;
        };
        let c = p + i as u64;
        if resync_ok(w, c)? {
            return Ok(Some(c));
        }
        p = c + 1;
    }
    Ok(None)
}

struct Pending {
    start: u64,
    end: u64,
    reason: String,
    from_ts: Option<i64>,
    db_before: u64,
}

/// Salvages the RESP part of one file (`len` bytes of `src`, records from `start`), reading
/// it as a stream: memory is bounded by the largest record looked at, not by the file.
fn salvage_resp<S: Read + Seek>(
    src: S,
    len: u64,
    start: u64,
    carry_ts: Option<i64>,
    file: usize,
    name: &str,
    path: &Path,
) -> Result<Salvaged> {
    let io = |e: std::io::Error| Error::io(path, &e);
    let mut w = Window::new(src, len);
    let mut keep = Vec::new();
    let mut losses = Vec::new();
    let mut seg = start;
    let mut ts = carry_ts;
    let mut db = 0u64;
    let mut dbs_seen = std::collections::BTreeSet::new();
    let mut pending: Option<Pending> = None;
    let mut pending_done: Vec<(Pending, Option<i64>, Option<u64>)> = Vec::new();
    loop {
        let len = w.len;
        w.src.seek(SeekFrom::Start(seg)).map_err(io)?;
        // Not `in_file`: a loss's reason is reported under the file's name already.
        let mut r = AofStream::new(&mut w.src, seg, len, ts);
        // The reader starts in db 0; carry the db across a resynchronisation.
        let mut saw_multi = false;
        let mut first_ts: Option<i64> = None;
        let mut first_select: Option<u64> = None;
        let mut cur_db = db;
        while let Some(item) = r.next_item() {
            let item = match item {
                Ok(i) => i,
                Err(e) if !e.is_damage() => return Err(e.in_file(path)),
                Err(_) => break,
            };
            match item {
                AofItem::Command(c) => {
                    if c.is("multi") {
                        saw_multi = true;
                    }
                    if c.is("select") {
                        first_select.get_or_insert(c.offset);
                        cur_db = c.db;
                        dbs_seen.insert(c.db);
                    }
                }
                AofItem::Annotation(a) => {
                    if a.timestamp.is_some() && first_ts.is_none() {
                        first_ts = a.timestamp;
                    }
                }
            }
        }
        let fail = r.failure().cloned();
        let end_ts = r.state().timestamp;
        if r.size() < len {
            w.len = r.size();
        }
        let len = w.len;
        if let Some(f) = &fail {
            let orphan_exec = !f.truncated
                && f.multi.is_none()
                && f.command
                    .as_deref()
                    .is_some_and(|c| c.eq_ignore_ascii_case(b"exec"))
                && pending.is_some()
                && !saw_multi;
            if orphan_exec {
                // The transaction's MULTI was in the damaged region: drop the rest of it.
                let rs = f.record_offset;
                if let Step::Record(rec) = w.record(rs, rs).map_err(io)? {
                    let rec_end = w.base + rec.end as u64;
                    if let Some(p) = pending.as_mut() {
                        p.end = rec_end;
                        p.reason
                            .push_str("; the rest of a transaction whose MULTI was lost");
                    }
                    seg = rec_end;
                    ts = end_ts;
                    continue;
                }
            }
        }
        // Close the pending loss: its end is where this segment started.
        if let Some(p) = pending.take() {
            let to_ts = first_ts.or(fail.as_ref().and_then(|f| f.timestamp));
            pending_done.push((p, to_ts, first_select));
        }
        match fail {
            None => {
                if seg != len {
                    keep.push(seg..len);
                }
                break;
            }
            Some(f) => {
                if f.ok_up_to > seg {
                    keep.push(seg..f.ok_up_to);
                }
                let reason = f.error.to_string();
                match find_resync(&mut w, f.record_offset + 1).map_err(io)? {
                    None => {
                        pending_done.push((
                            Pending {
                                start: f.ok_up_to,
                                end: w.len,
                                reason,
                                from_ts: f.timestamp,
                                db_before: cur_db,
                            },
                            None,
                            None,
                        ));
                        break;
                    }
                    Some(rpos) => {
                        pending = Some(Pending {
                            start: f.ok_up_to,
                            end: rpos,
                            reason,
                            from_ts: f.timestamp,
                            db_before: cur_db,
                        });
                        seg = rpos;
                        ts = f.timestamp;
                        db = cur_db;
                    }
                }
            }
        }
    }
    let len = w.len;
    for (p, to_ts, next_select) in pending_done {
        let tail = p.end == len;
        losses.push(Loss {
            file,
            name: name.to_string(),
            kind: if tail {
                LossKind::Tail
            } else {
                LossKind::Damaged
            },
            start: p.start,
            end: p.end,
            reason: p.reason,
            from_timestamp: p.from_ts,
            to_timestamp: if tail { None } else { to_ts },
            db_before: (!tail).then_some(p.db_before),
            next_select: if tail { None } else { next_select },
            db_uncertain: !tail && dbs_seen.iter().any(|&d| d != p.db_before),
        });
    }
    Ok(Salvaged { keep, losses })
}

/// The manifest of the output: the input's, without removed files and HISTORY entries, and
/// without `endoffset` on files whose size changed.
pub fn output_manifest(set: &AofSet, actions: &[FileAction]) -> Option<Manifest> {
    set.manifest.as_ref()?;
    let mut m = Manifest::default();
    for (part, action) in set.parts.iter().zip(actions) {
        if *action == FileAction::Remove {
            continue;
        }
        let mut e = part
            .entry
            .clone()
            .unwrap_or_else(|| ManifestEntry::new(part.name.clone(), 1, FileType::Incr));
        if *action != FileAction::Keep {
            e.extra
                .retain(|(k, _)| !k.eq_ignore_ascii_case(b"endoffset"));
        }
        m.entries.push(e);
    }
    Some(m)
}

fn copy_kept(part: &AofPart, action: &FileAction, out: &mut File, out_path: &Path) -> Result<()> {
    let size = part.size.unwrap_or(0);
    let mut src = File::open(&part.path).map_err(|e| Error::io(&part.path, &e))?;
    for r in action.kept(size) {
        fsutil::copy_range(&mut src, r, out).map_err(|e| Error::io(out_path, &e))?;
    }
    out.sync_all().map_err(|e| Error::io(out_path, &e))
}

/// Whether the output must be read back before it is committed. Files kept whole or cut at
/// a top-level record boundary (what truncation and timestamp cuts produce) were validated
/// record by record while planning; pieces joined by salvage are checked again (their joins
/// create new record sequences).
fn needs_verify(actions: &[FileAction]) -> bool {
    actions.iter().any(|a| matches!(a, FileAction::Ranges(_)))
}

/// Verifies that an output set is valid (every output is checked before it is committed).
fn verify_output(set: &AofSet, scan: ScanOptions) -> Result<()> {
    let r = check_set(set, scan, &mut |_| {})?;
    if r.is_ok() {
        return Ok(());
    }
    let detail = r
        .damaged_file()
        .and_then(|f| {
            f.failure
                .as_ref()
                .map(|x| x.error.to_string())
                .or(f.rdb_error.as_ref().map(|e| e.to_string()))
        })
        .unwrap_or_default();
    Err(Error::new(ErrorKind::Corrupt {
        expected: "a valid repaired AOF (internal check of the output before committing it)",
        found: detail,
    }))
}

/// Writes the repaired set to `out`: a file for a single-file set, a directory (files and
/// manifest) for a multi-part set. The output is checked, then committed atomically;
/// an existing `out` is refused unless `overwrite`.
pub fn write_fixed(set: &AofSet, plan: &FixPlan, out: &Path, overwrite: bool) -> Result<()> {
    let scan = ScanOptions::default();
    match set.kind {
        AofKind::Aof => {
            let part = set
                .parts
                .first()
                .ok_or_else(|| Error::usage("empty AOF set"))?;
            set.inputs().check_output(out)?;
            let mut f = AtomicFile::create(out, overwrite)?;
            let tmp = f.temp_path().to_path_buf();
            copy_kept(part, &plan.actions[0], f.file(), &tmp)?;
            if needs_verify(&plan.actions) {
                verify_output(&AofSet::open_file(&tmp)?, scan)?;
            }
            f.commit()
        }
        AofKind::MultiPartAof => {
            let manifest = output_manifest(set, &plan.actions)
                .ok_or_else(|| Error::usage("multi-part set without a manifest"))?;
            let mname = set
                .manifest_name()
                .unwrap_or_else(|| OsString::from("appendonly.aof.manifest"));
            write_aof_dir(out, &mname, set, &plan.actions, &manifest, overwrite)
        }
    }
}

/// Writes a multi-part AOF directory atomically: for each part of `set` not removed, its
/// kept ranges (per `actions`) under the same name, then `manifest` as `manifest_name`; the
/// directory is checked, then renamed into place. Reusable by any tool that produces a new
/// AOF directory from an existing set (point-in-time restore, filters).
pub fn write_aof_dir(
    out: &Path,
    manifest_name: &std::ffi::OsStr,
    set: &AofSet,
    actions: &[FileAction],
    manifest: &Manifest,
    overwrite: bool,
) -> Result<()> {
    set.inputs().check_output(out)?;
    let dir = AtomicDir::create(out, overwrite)?;
    for (part, action) in set.parts.iter().zip(actions) {
        if *action == FileAction::Remove {
            continue;
        }
        let name = name_to_os(&part.name);
        let p = dir.path().join(&name);
        let mut f = dir.create_file(&name)?;
        copy_kept(part, action, &mut f, &p)?;
    }
    dir.write_file(manifest_name, &manifest.to_bytes())?;
    if needs_verify(actions) {
        let tmp_set = AofSet::open_manifest(&dir.path().join(manifest_name))?;
        verify_output(&tmp_set, ScanOptions::default())?;
    }
    dir.commit()
}

/// What [`apply_in_place`] did.
#[derive(Debug, Clone)]
pub struct InPlaceResult {
    /// Where the original files are kept (a file, or a directory of hard links/copies).
    pub backup: PathBuf,
    /// Files rewritten or removed.
    pub changed: Vec<PathBuf>,
}

/// Replaces the input with the repaired set, keeping a backup beside it: for a single file
/// `<name>.redsafe-backup-<time>` (a hard link to the original, or a copy); for a directory
/// `<dir>.redsafe-backup-<time>/` holding the manifest and every changed or removed file.
/// Order: backup, new manifest, rewritten files (each atomic), then removed files: every
/// intermediate state is a loadable set. Stop Redis before repairing its files in place.
pub fn apply_in_place(set: &AofSet, plan: &FixPlan) -> Result<InPlaceResult> {
    let scan = ScanOptions::default();
    match set.kind {
        AofKind::Aof => {
            let part = set
                .parts
                .first()
                .ok_or_else(|| Error::usage("empty AOF set"))?;
            let backup = fsutil::backup_path(&part.path);
            fsutil::link_or_copy(&part.path, &backup)?;
            // Read from the backup (the original inode) while replacing the name.
            let src = AofPart {
                path: backup.clone(),
                ..part.clone()
            };
            let mut f = AtomicFile::create(&part.path, true)?;
            let tmp = f.temp_path().to_path_buf();
            copy_kept(&src, &plan.actions[0], f.file(), &tmp)?;
            if needs_verify(&plan.actions) {
                verify_output(&AofSet::open_file(&tmp)?, scan)?;
            }
            f.commit()?;
            Ok(InPlaceResult {
                backup,
                changed: vec![part.path.clone()],
            })
        }
        AofKind::MultiPartAof => {
            let manifest_path = set
                .manifest_path
                .clone()
                .ok_or_else(|| Error::usage("multi-part set without a manifest"))?;
            let manifest = output_manifest(set, &plan.actions)
                .ok_or_else(|| Error::usage("multi-part set without a manifest"))?;
            let backup = fsutil::backup_path(&set.dir);
            std::fs::create_dir(&backup).map_err(|e| Error::io(&backup, &e))?;
            let mname = set
                .manifest_name()
                .unwrap_or_else(|| OsString::from("appendonly.aof.manifest"));
            fsutil::link_or_copy(&manifest_path, &backup.join(&mname))?;
            for (part, action) in set.parts.iter().zip(&plan.actions) {
                if *action != FileAction::Keep && part.size.is_some() {
                    fsutil::link_or_copy(&part.path, &backup.join(name_to_os(&part.name)))?;
                }
            }
            fsutil::fsync_dir(&backup)?;
            // Write every rewritten file under a temporary name in the AOF directory (from
            // the backup, i.e. the original inode), and check the new set before touching
            // anything.
            let mut staged: Vec<(AtomicFile, PathBuf)> = Vec::new();
            let mut check_parts = Vec::new();
            for (part, action) in set.parts.iter().zip(&plan.actions) {
                match action {
                    FileAction::Remove => {}
                    FileAction::Keep => check_parts.push(part.clone()),
                    _ => {
                        let src = AofPart {
                            path: backup.join(name_to_os(&part.name)),
                            ..part.clone()
                        };
                        let mut f = AtomicFile::create(&part.path, true)?;
                        let tmp = f.temp_path().to_path_buf();
                        copy_kept(&src, action, f.file(), &tmp)?;
                        check_parts.push(AofPart {
                            path: tmp.clone(),
                            size: std::fs::metadata(&tmp).ok().map(|m| m.len()),
                            ..part.clone()
                        });
                        staged.push((f, part.path.clone()));
                    }
                }
            }
            if needs_verify(&plan.actions) {
                let check = AofSet {
                    parts: check_parts,
                    ..set.clone()
                };
                verify_output(&check, scan)?;
            }
            // Commit: manifest first (a manifest without the removed files over the old
            // files is a consistent set), then each rewritten file, then removals.
            fsutil::write_atomic(&manifest_path, &manifest.to_bytes(), true)?;
            let mut changed = vec![manifest_path.clone()];
            for (f, path) in staged {
                f.commit()?;
                changed.push(path);
            }
            for (part, action) in set.parts.iter().zip(&plan.actions) {
                if *action == FileAction::Remove && part.size.is_some() {
                    std::fs::remove_file(&part.path).map_err(|e| Error::io(&part.path, &e))?;
                    changed.push(part.path.clone());
                }
            }
            fsutil::fsync_dir(&set.dir)?;
            Ok(InPlaceResult { backup, changed })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aof::resp::encode_command;

    fn cmd(args: &[&str]) -> Vec<u8> {
        let mut v = Vec::new();
        encode_command(args, &mut v);
        v
    }

    /// Salvages a whole in-memory file named `f`.
    fn salvage_all(data: &[u8]) -> Salvaged {
        salvage_resp(
            std::io::Cursor::new(data),
            data.len() as u64,
            0,
            None,
            0,
            "f",
            Path::new("f"),
        )
        .unwrap()
    }

    #[test]
    fn resync_skips_zeroed_region_and_orphan_transaction_tail() {
        let mut data = Vec::new();
        data.extend(b"#TS:100\r\n");
        for i in 0..20 {
            data.extend(cmd(&["SET", &format!("a{i}"), "v"]));
        }
        let damage_start = data.len();
        data.extend(cmd(&["MULTI"]));
        data.extend(cmd(&["SET", "t1", "x"]));
        let zero_from = data.len();
        data.extend(cmd(&["SET", "t2", "x"]));
        data.extend(cmd(&["SET", "t3", "x"]));
        let zero_to = data.len() - 3;
        data.extend(cmd(&["SET", "t4", "x"]));
        data.extend(cmd(&["EXEC"]));
        let resume = data.len();
        data.extend(b"#TS:105\r\n");
        for i in 0..20 {
            data.extend(cmd(&["SET", &format!("b{i}"), "v"]));
        }
        for b in &mut data[zero_from..zero_to] {
            *b = 0;
        }
        let s = salvage_all(&data);
        assert_eq!(
            s.keep,
            vec![0..damage_start as u64, resume as u64..data.len() as u64]
        );
        assert_eq!(s.losses.len(), 1);
        let l = &s.losses[0];
        assert_eq!((l.start, l.end), (damage_start as u64, resume as u64));
        assert_eq!((l.from_timestamp, l.to_timestamp), (Some(100), Some(105)));
        assert_eq!(l.kind, LossKind::Damaged);
    }

    #[test]
    fn resync_ignores_resp_inside_values() {
        let mut data = Vec::new();
        let inner = cmd(&["SET", "x", "y"]);
        let v = String::from_utf8(inner.repeat(3)).unwrap();
        data.extend(cmd(&["SET", "k", &v]));
        data.extend(cmd(&["SET", "k2", "v"]));
        // Damage the first command's header: resync must not land inside its value (only 3
        // commands parse there, then the value's end breaks the run).
        data[1] = b'x';
        let mut w = Window::new(std::io::Cursor::new(&data[..]), data.len() as u64);
        let r = find_resync(&mut w, 1).unwrap().unwrap();
        assert_eq!(r as usize, data.len() - cmd(&["SET", "k2", "v"]).len());
    }
    #[test]
    fn salvage_streams_across_window_chunks() {
        // Damage at the end of the first chunk, 3 MiB of zeros, then a value larger than a
        // chunk where records parse again: same ranges as the offsets built here, and the
        // window never holds the zeroed region.
        let chunk = WINDOW_CHUNK as usize;
        let mut data = Vec::new();
        let mut i = 0;
        while data.len() < chunk - 20 {
            data.extend(cmd(&["SET", &format!("a{i}"), "v"]));
            i += 1;
        }
        let damage_start = data.len();
        data.extend(cmd(&["SET", "half", &"h".repeat(100)]));
        let zero_from = damage_start + 8;
        data.resize(data.len() + 3 * chunk, 0);
        let resume = data.len();
        let big = "b".repeat(chunk * 3 / 2);
        data.extend(cmd(&["SET", "big", &big]));
        for i in 0..5 {
            data.extend(cmd(&["SET", &format!("c{i}"), "v"]));
        }
        for b in &mut data[zero_from..resume] {
            *b = 0;
        }
        let s = salvage_all(&data);
        assert_eq!(
            s.keep,
            vec![0..damage_start as u64, resume as u64..data.len() as u64]
        );
        assert_eq!(s.losses.len(), 1);
        assert_eq!(
            (s.losses[0].start, s.losses[0].end),
            (damage_start as u64, resume as u64)
        );
        let mut w = Window::new(std::io::Cursor::new(&data[..]), data.len() as u64);
        assert_eq!(
            find_resync(&mut w, zero_from as u64).unwrap(),
            Some(resume as u64)
        );
        assert!(
            w.buf.capacity() <= 4 * chunk,
            "window holds {} bytes",
            w.buf.capacity()
        );
    }
}
