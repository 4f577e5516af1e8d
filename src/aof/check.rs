//! Checking and walking whole AOF sets.
//!
//! [`scan_set`] reads every file of a set in load order (the RDB part of a BASE or preamble
//! with the RDB checker, the RESP part with the AOF reader), hands every record to a
//! [`SetVisitor`] with its file index, and returns a [`SetReport`] whose [`Verdict`] and
//! truncation point are those of `redis-check-aof`. [`check_set`] is the same walk with no
//! visitor.

use std::ops::ControlFlow;
use std::path::PathBuf;

use crate::aof::reader::{AofItem, AofReader, AofStream, ReadFailure, StreamState};
use crate::aof::set::{AofKind, AofPart, AofSet, PartRole};
use crate::error::{Error, Result};
use crate::rdb::{check_rdb, CheckOptions as RdbCheckOptions, RdbReport};

/// Receives the records of a set in load order. Every method may stop the walk by returning
/// `ControlFlow::Break(())`.
pub trait SetVisitor {
    /// A file starts (index into [`AofSet::parts`]).
    fn file_start(&mut self, _index: usize, _part: &AofPart) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
    /// The RDB part of a file was checked: `data` holds the RDB bytes (through its checksum).
    fn rdb(&mut self, _index: usize, _data: &[u8], _report: &RdbReport) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
    /// A RESP record (with context: db, timestamp carried across files, transaction).
    fn item(&mut self, index: usize, item: &AofItem<'_>) -> ControlFlow<()>;
    /// A file ended (or stopped at damage); `report` says how.
    fn file_end(&mut self, _index: usize, _report: &FileReport) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
}

/// A visitor that does nothing (plain checking).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoVisitor;

impl SetVisitor for NoVisitor {
    fn item(&mut self, _index: usize, _item: &AofItem<'_>) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
}

/// Options for [`scan_set`].
#[derive(Debug, Clone, Copy, Default)]
pub struct ScanOptions {
    /// Options of the RDB checker for BASE files and preambles.
    pub rdb: RdbCheckOptions,
    /// Keep reading later files after a damaged one (for a fuller report; `redis-check-aof`
    /// stops). The visitor sees no records of files after the damaged one either way.
    pub continue_after_damage: bool,
    /// Read the RESP parts as redis-server's loader does (see [`AofReader::as_loader`]): a
    /// stray `EXEC` and a nested `MULTI` reach the visitor as commands instead of ending the
    /// walk as damage. For replaying; checkers keep redis-check-aof's verdict.
    pub as_loader: bool,
}

/// A summary of an RDB BASE or preamble.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RdbInfo {
    /// RDB version.
    pub version: Option<u32>,
    /// Keys.
    pub keys: u64,
    /// Offset just past the RDB (where the RESP tail starts).
    pub end_offset: Option<u64>,
    /// The `ctime` AUX field (unix seconds): when the RDB was written.
    pub ctime: Option<i64>,
    /// `redis-ver` AUX field.
    pub redis_ver: Option<String>,
}

impl RdbInfo {
    fn from_report(r: &RdbReport) -> RdbInfo {
        let aux = |k: &str| r.aux.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone());
        RdbInfo {
            version: r.header.map(|h| h.version),
            keys: r.keys,
            end_offset: r.end_offset,
            ctime: aux("ctime").and_then(|v| v.parse().ok()),
            redis_ver: aux("redis-ver"),
        }
    }
}

/// How a file of a set fared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileStatus {
    /// Every record is complete.
    Valid,
    /// The file is empty (valid).
    Empty,
    /// The RESP part is damaged or truncated at [`FileReport::ok_up_to`].
    Damaged,
    /// The RDB part (BASE or preamble) is damaged: nothing can be cut to fix it.
    RdbDamaged,
    /// The file listed in the manifest does not exist.
    Missing,
    /// Not read (an earlier file was damaged, or the visitor stopped).
    NotReached,
}

/// The result of reading one file of a set.
#[derive(Debug, Clone)]
pub struct FileReport {
    /// Index into [`AofSet::parts`].
    pub index: usize,
    /// File name.
    pub name: String,
    /// Path.
    pub path: PathBuf,
    /// Single, BASE or INCR.
    pub role: PartRole,
    /// Size in bytes (as read).
    pub size: u64,
    /// The RDB part, when the file starts with one.
    pub rdb: Option<RdbInfo>,
    /// The RDB checker's error, when the RDB part is damaged.
    pub rdb_error: Option<Error>,
    /// Offset where the RESP part starts (0, or the end of the RDB part).
    pub resp_offset: u64,
    /// Counters and the state at the end (last timestamp, db, ...).
    pub state: StreamState,
    /// `redis-check-aof`'s `ok_up_to` for this file: its size when valid.
    pub ok_up_to: u64,
    /// Where reading stopped, when the RESP part is damaged.
    pub failure: Option<ReadFailure>,
    /// Outcome.
    pub status: FileStatus,
    /// `redis-check-aof`'s `ok_up_to_line` (a counter that runs across files).
    pub redis_line: u64,
}

impl FileReport {
    /// True for valid and empty files.
    pub fn is_ok(&self) -> bool {
        matches!(self.status, FileStatus::Valid | FileStatus::Empty)
    }
}

/// The verdict on a set, as `redis-check-aof` (7.0) would give it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Valid (`... is valid`, exit 0).
    Valid,
    /// The last file is damaged; `redis-check-aof --fix` cuts it at `ok_up_to`.
    Truncatable {
        /// Index of the damaged file.
        file: usize,
        /// Where it would be cut.
        ok_up_to: u64,
    },
    /// A file that is not the last is damaged: `redis-check-aof --fix` refuses
    /// ("not the last file").
    DamagedNotLast {
        /// Index of the damaged file.
        file: usize,
        /// `redis-check-aof`'s `ok_up_to` in it.
        ok_up_to: u64,
    },
    /// The RDB part of a file is damaged ("RDB preamble of AOF file is not sane").
    RdbDamaged {
        /// Index of the file.
        file: usize,
    },
    /// A file listed in the manifest is missing.
    Missing {
        /// Index of the file.
        file: usize,
    },
}

impl Verdict {
    /// True when valid.
    pub fn is_ok(&self) -> bool {
        matches!(self, Verdict::Valid)
    }

    /// True when `redis-check-aof --fix` would repair it (by truncating the last file).
    pub fn is_truncatable(&self) -> bool {
        matches!(self, Verdict::Truncatable { .. })
    }

    /// The file concerned.
    pub fn file(&self) -> Option<usize> {
        match *self {
            Verdict::Valid => None,
            Verdict::Truncatable { file, .. }
            | Verdict::DamagedNotLast { file, .. }
            | Verdict::RdbDamaged { file }
            | Verdict::Missing { file } => Some(file),
        }
    }

    /// The truncation point in the damaged file.
    pub fn ok_up_to(&self) -> Option<u64> {
        match *self {
            Verdict::Truncatable { ok_up_to, .. } | Verdict::DamagedNotLast { ok_up_to, .. } => {
                Some(ok_up_to)
            }
            _ => None,
        }
    }

    /// A short name: `valid`, `truncatable`, `damaged-not-last`, `rdb-damaged`, `missing`.
    pub fn name(&self) -> &'static str {
        match self {
            Verdict::Valid => "valid",
            Verdict::Truncatable { .. } => "truncatable",
            Verdict::DamagedNotLast { .. } => "damaged-not-last",
            Verdict::RdbDamaged { .. } => "rdb-damaged",
            Verdict::Missing { .. } => "missing",
        }
    }
}

/// The result of [`scan_set`] / [`check_set`].
#[derive(Debug, Clone)]
pub struct SetReport {
    /// Single file or multi-part.
    pub kind: AofKind,
    /// One report per part, in load order.
    pub files: Vec<FileReport>,
    /// The verdict (from the first file that is not valid).
    pub verdict: Verdict,
    /// The visitor stopped the walk.
    pub stopped: bool,
}

impl SetReport {
    /// The top-level truncation point of the set: in the damaged file, else the last file's
    /// (as the last `AOF analyzed` line of redis-check-aof); `None` for other damage.
    pub fn ok_up_to(&self) -> Option<u64> {
        match self.verdict {
            Verdict::Truncatable { ok_up_to, .. } | Verdict::DamagedNotLast { ok_up_to, .. } => {
                Some(ok_up_to)
            }
            Verdict::Valid => self.files.last().map(|f| f.ok_up_to),
            _ => None,
        }
    }

    /// True when the set is valid.
    pub fn is_ok(&self) -> bool {
        self.verdict.is_ok()
    }

    /// The report of the file the verdict is about.
    pub fn damaged_file(&self) -> Option<&FileReport> {
        self.verdict.file().and_then(|i| self.files.get(i))
    }

    /// The last `#TS:` stamp seen in the set.
    pub fn last_timestamp(&self) -> Option<i64> {
        self.files.iter().rev().find_map(|f| f.state.timestamp)
    }
}

/// Checks a set like `redis-check-aof` does (see [`Verdict`]), reading every file.
pub fn check_set(
    set: &AofSet,
    opts: ScanOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<SetReport> {
    scan_set(set, opts, &mut NoVisitor, progress)
}

/// Walks a set in load order, handing records to `visitor`. Returns `Err` only for I/O
/// errors; damage is reported in the [`SetReport`].
pub fn scan_set(
    set: &AofSet,
    opts: ScanOptions,
    visitor: &mut dyn SetVisitor,
    progress: &mut dyn FnMut(u64),
) -> Result<SetReport> {
    let mut files = Vec::with_capacity(set.parts.len());
    let mut verdict = Verdict::Valid;
    let mut carry_ts: Option<i64> = None;
    let mut crlfs: u64 = 0;
    let mut done_bytes = 0u64;
    let mut stopped = false;
    let last = set.parts.len().saturating_sub(1);
    for (index, part) in set.parts.iter().enumerate() {
        let reached = !stopped && (verdict.is_ok() || opts.continue_after_damage);
        let feed = !stopped && verdict.is_ok();
        let mut fr = FileReport {
            index,
            name: part.name_lossy(),
            path: part.path.clone(),
            role: part.role,
            size: part.size.unwrap_or(0),
            rdb: None,
            rdb_error: None,
            resp_offset: 0,
            state: StreamState {
                timestamp: carry_ts,
                line: 1,
                ..StreamState::default()
            },
            ok_up_to: 0,
            failure: None,
            status: FileStatus::NotReached,
            redis_line: 1 + crlfs,
        };
        if !reached {
            files.push(fr);
            continue;
        }
        let mut null = NoVisitor;
        let v: &mut dyn SetVisitor = if feed { visitor } else { &mut null };
        let r = scan_part(
            index, part, carry_ts, opts, v, &mut fr, progress, done_bytes,
        )?;
        if r.is_break() {
            stopped = true;
        }
        done_bytes += fr.size;
        progress(done_bytes);
        crlfs += fr.state.crlfs;
        fr.redis_line = 1 + crlfs;
        if fr.state.timestamp.is_some() {
            carry_ts = fr.state.timestamp;
        }
        if verdict.is_ok() {
            verdict = match fr.status {
                FileStatus::Valid | FileStatus::Empty | FileStatus::NotReached => Verdict::Valid,
                FileStatus::Damaged if index == last => Verdict::Truncatable {
                    file: index,
                    ok_up_to: fr.ok_up_to,
                },
                FileStatus::Damaged => Verdict::DamagedNotLast {
                    file: index,
                    ok_up_to: fr.ok_up_to,
                },
                FileStatus::RdbDamaged => Verdict::RdbDamaged { file: index },
                FileStatus::Missing => Verdict::Missing { file: index },
            };
        }
        if feed && v_end(visitor, index, &fr).is_break() {
            stopped = true;
        }
        files.push(fr);
    }
    Ok(SetReport {
        kind: set.kind,
        files,
        verdict,
        stopped,
    })
}

fn v_end(v: &mut dyn SetVisitor, index: usize, fr: &FileReport) -> ControlFlow<()> {
    v.file_end(index, fr)
}

/// Reads one part into `fr`.
#[allow(clippy::too_many_arguments)]
fn scan_part(
    index: usize,
    part: &AofPart,
    carry_ts: Option<i64>,
    opts: ScanOptions,
    visitor: &mut dyn SetVisitor,
    fr: &mut FileReport,
    progress: &mut dyn FnMut(u64),
    done_before: u64,
) -> Result<ControlFlow<()>> {
    let Some(size) = part.size else {
        fr.status = FileStatus::Missing;
        return Ok(ControlFlow::Continue(()));
    };
    if visitor.file_start(index, part).is_break() {
        return Ok(ControlFlow::Break(()));
    }
    if size == 0 {
        fr.status = FileStatus::Empty;
        return Ok(ControlFlow::Continue(()));
    }
    if part.rdb {
        // BASE files are immutable once renamed into place: map them. A single old-style
        // file may be live (Redis 6 appends to it): read it.
        let file = if part.role == PartRole::Base {
            crate::mmap::MappedFile::open(&part.path)?
        } else {
            crate::mmap::MappedFile::read(&part.path)?
        };
        let data = file.bytes();
        fr.size = data.len() as u64;
        let report = check_rdb(data, 0, opts.rdb);
        fr.rdb = Some(RdbInfo::from_report(&report));
        if !report.ok {
            fr.rdb_error = report
                .error
                .clone()
                .map(|e| e.in_file(&part.path).with_context("RDB part of the AOF"));
            fr.status = FileStatus::RdbDamaged;
            fr.ok_up_to = 0;
            return Ok(ControlFlow::Continue(()));
        }
        let end = report.end_offset.unwrap_or(data.len() as u64);
        let rdb_bytes = data.get(..end as usize).unwrap_or(data);
        let flow = visitor.rdb(index, rdb_bytes, &report);
        fr.resp_offset = end;
        if flow.is_break() {
            fr.status = FileStatus::Valid;
            fr.ok_up_to = end;
            return Ok(flow);
        }
        let tail = data.get(end as usize..).unwrap_or(&[]);
        let mut reader = AofReader::with_timestamp(tail, end, carry_ts).in_file(&part.path);
        if opts.as_loader {
            reader = reader.as_loader();
        }
        let mut flow = ControlFlow::Continue(());
        for item in reader.by_ref() {
            let Ok(item) = item else { break };
            if visitor.item(index, &item).is_break() {
                flow = ControlFlow::Break(());
                break;
            }
        }
        finish(fr, reader.state(), reader.failure(), data.len() as u64);
        return Ok(flow);
    }
    let (f, _) = crate::mmap::open_input(&part.path)?;
    let mut stream = AofStream::new(f, 0, size, carry_ts).in_file(&part.path);
    if opts.as_loader {
        stream = stream.as_loader();
    }
    let mut flow = ControlFlow::Continue(());
    let mut next_progress = 64u64 << 20;
    while let Some(item) = stream.next_item() {
        let item = match item {
            Ok(i) => i,
            Err(e) if !e.is_damage() => return Err(e),
            Err(_) => break,
        };
        let end = item.end();
        if visitor.item(index, &item).is_break() {
            flow = ControlFlow::Break(());
            break;
        }
        if end >= next_progress {
            progress(done_before + end);
            next_progress = end + (64 << 20);
        }
    }
    let size = stream.size();
    finish(fr, stream.state(), stream.failure(), size);
    Ok(flow)
}

fn finish(fr: &mut FileReport, st: &StreamState, failure: Option<&ReadFailure>, size: u64) {
    fr.state = st.clone();
    fr.size = size;
    match failure {
        Some(f) => {
            fr.failure = Some(f.clone());
            fr.ok_up_to = f.ok_up_to;
            fr.status = FileStatus::Damaged;
        }
        None => {
            fr.ok_up_to = st.ok_up_to;
            fr.status = FileStatus::Valid;
        }
    }
}
