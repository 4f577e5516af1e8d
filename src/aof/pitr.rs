//! Point-in-time restore of AOF sets.
//!
//! Three pieces, kept apart so that a later RDB output (a replay engine) plugs in:
//! - [`When::parse`]: the user's target (`1700000000`, `2026-11-22 10:42:16`,
//!   `2026-11-22T10:42:16+01:00`, `latest`, `before:FLUSHALL`).
//! - [`plan_cut`]: reads a set (never writes) and finds where to cut it: a file index and a
//!   byte offset ([`CutPlan`]). For a time target the rule is exactly
//!   `redis-check-aof --truncate-to-timestamp`'s: everything stamped ≤ T is kept, the cut is
//!   at the first `#TS:` line whose value is > T. It applies across the whole set (BASE, then
//!   every INCR in manifest order, the last stamp carried from file to file), where Redis's
//!   tool refuses every file but the last.
//!   This is the one implementation of the timestamp cut: `fix --truncate-to-timestamp`
//!   should call `plan_cut(set, &When::Time { unix }.into())` and truncate at
//!   [`CutPlan::cut`] rather than re-implement it.
//! - [`RestoreOutput`]: writes what the plan keeps. [`DirOutput`] writes a new multi-part AOF
//!   directory that `redis-server --appendonly yes --dir OUT` loads.
//!
//! ```no_run
//! use redsafe::aof::AofSet;
//! use redsafe::aof::pitr::{plan_cut, DirOutput, RestoreOutput, When};
//! let set = AofSet::open("/var/lib/redis/appendonlydir".as_ref())?;
//! let plan = plan_cut(&set, &When::parse("2026-11-22 10:42:16")?.into())?;
//! let mut out = DirOutput::new("/tmp/restored".into(), false);
//! let summary = out.write(&set, &plan, &mut |_| {})?;
//! println!("{} files written", summary.files.len());
//! # Ok::<(), redsafe::Error>(())
//! ```

use std::ffi::OsString;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use crate::aof::check::{scan_set, FileReport, ScanOptions, SetReport, SetVisitor, Verdict};
use crate::aof::manifest::{FileType, Manifest, ManifestEntry};
use crate::aof::reader::AofItem;
use crate::aof::set::{AofPart, AofSet, PartRole};
use crate::error::{Error, Result};
use crate::fsutil::{copy_range, fsync_dir, AtomicDir};
use crate::rdb::RdbReport;

// ---------------------------------------------------------------------------------------
// WHEN

/// A restore target as the user gives it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum When {
    /// Everything stamped at or before this unix second.
    Time {
        /// Unix seconds.
        unix: i64,
    },
    /// Everything (the whole set).
    Latest,
    /// Just before the first occurrence of a command (case-insensitive name), even inside
    /// one second; before its `MULTI` when it is inside a transaction.
    BeforeCommand {
        /// The command name as given.
        command: String,
    },
}

impl When {
    /// Parses unix seconds, RFC 3339 (`2026-11-22T10:42:16Z`, `...+01:00`, fractions
    /// dropped), `YYYY-MM-DD HH:MM:SS` (UTC unless followed by `Z`, `UTC` or an offset),
    /// `latest`, or `before:COMMAND`.
    pub fn parse(s: &str) -> Result<When> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("latest") {
            return Ok(When::Latest);
        }
        if let Some(rest) = t
            .strip_prefix("before:")
            .or_else(|| t.strip_prefix("BEFORE:"))
        {
            let name = rest.trim();
            if name.is_empty() || name.bytes().any(|c| c.is_ascii_whitespace() || c < 0x21) {
                return Err(Error::usage(format!(
                    "invalid WHEN '{s}': before: needs a command name, e.g. before:FLUSHALL"
                )));
            }
            return Ok(When::BeforeCommand {
                command: name.to_string(),
            });
        }
        crate::time::parse_time(t)
            .map(|unix| When::Time { unix })
            .map_err(|why| {
                Error::usage(format!(
                    "invalid WHEN '{s}': {why}; expected unix seconds, RFC 3339 \
                     (2026-11-22T10:42:16Z, 2026-11-22T10:42:16+01:00), \
                     'YYYY-MM-DD HH:MM:SS' (UTC), 'latest' or 'before:COMMAND'"
                ))
            })
    }
}

// ---------------------------------------------------------------------------------------
// Targets and plans

/// A file of a set named on the command line: by index or by name.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(untagged)]
pub enum FileRef {
    /// Index into [`AofSet::parts`] (0 = the BASE of a multi-part set).
    Index(usize),
    /// File name as in the manifest.
    Name(String),
}

/// What [`plan_cut`] looks for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Target {
    /// A [`When`].
    When(When),
    /// An explicit cut: keep `file` up to `offset` (a record boundary, not inside a
    /// transaction) and drop every later file. For sets without timestamps.
    Offset {
        /// The file.
        file: FileRef,
        /// Byte offset in it.
        offset: u64,
    },
}

impl From<When> for Target {
    fn from(w: When) -> Target {
        Target::When(w)
    }
}

impl Target {
    /// Parses `FILE:OFFSET` (file name or index) for [`Target::Offset`].
    pub fn parse_offset(s: &str) -> Result<Target> {
        let (f, o) = s.rsplit_once(':').ok_or_else(|| {
            Error::usage(format!(
                "invalid restore offset '{s}': expected FILE:OFFSET"
            ))
        })?;
        let offset = o.trim().parse::<u64>().map_err(|_| {
            Error::usage(format!(
                "invalid restore offset '{s}': '{o}' is not a byte offset"
            ))
        })?;
        if f.is_empty() {
            return Err(Error::usage(format!(
                "invalid restore offset '{s}': missing file name"
            )));
        }
        let file = match f.parse::<usize>() {
            Ok(i) => FileRef::Index(i),
            Err(_) => FileRef::Name(f.to_string()),
        };
        Ok(Target::Offset { file, offset })
    }
}

/// Why the set is cut where it is.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum CutReason {
    /// At the first `#TS:` annotation whose stamp is after the target.
    Timestamp {
        /// That stamp.
        stamp: i64,
    },
    /// Before the first occurrence of the command (or its transaction's `MULTI`).
    Command {
        /// The command name as written in the file.
        name: String,
        /// Offset of the command itself (the cut may be earlier, at its `MULTI`).
        command_offset: u64,
    },
    /// At the offset the user gave.
    Offset,
    /// At the end of the last complete record of a last file whose tail is truncated (what
    /// Redis's `aof-load-truncated yes` loads).
    TruncatedTail,
}

/// Where to cut: everything before `offset` in file `file` is kept, with every earlier file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct CutPoint {
    /// Index into [`AofSet::parts`].
    pub file: usize,
    /// Byte offset in that file.
    pub offset: u64,
}

/// What happens to one file of the set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "keep", rename_all = "kebab-case")]
pub enum FileKeep {
    /// Kept whole (`size` bytes as the set was opened).
    Whole {
        /// Bytes.
        size: u64,
    },
    /// Kept up to `len` bytes.
    Prefix {
        /// Bytes kept.
        len: u64,
    },
    /// Left out (after the cut).
    Dropped,
}

/// The result of [`plan_cut`]: where the set is cut and what is kept.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CutPlan {
    /// The target asked for.
    pub target: Target,
    /// The cut, `None` when everything is kept.
    pub cut: Option<CutPoint>,
    /// Why there (when there is a cut).
    pub reason: Option<CutReason>,
    /// One entry per part of the set, in load order.
    pub files: Vec<FileKeep>,
    /// Commands kept (RESP commands of the kept bytes, `MULTI`/`EXEC`/`SELECT` included; the
    /// keys of an RDB BASE are counted in `base_keys`).
    pub commands_kept: u64,
    /// Keys in the RDB part of the BASE (or preamble).
    pub base_keys: u64,
    /// The last `#TS:` stamp in the kept part (carried across files).
    pub last_timestamp: Option<i64>,
    /// The first `#TS:` stamp of the set.
    pub first_timestamp: Option<i64>,
    /// When the BASE was written: its RDB `ctime`, or the first `#TS:` of a RESP BASE.
    pub base_time: Option<i64>,
    /// `#TS:` annotations seen while planning.
    pub timestamps_seen: u64,
}

impl CutPlan {
    /// Total bytes kept.
    pub fn bytes_kept(&self) -> u64 {
        self.files
            .iter()
            .map(|k| match k {
                FileKeep::Whole { size } => *size,
                FileKeep::Prefix { len } => *len,
                FileKeep::Dropped => 0,
            })
            .sum()
    }
}

/// The one rule that decides where a set is cut for a [`Target`]: fed the records of a set
/// in load order (it is a [`SetVisitor`]), it stops the walk at the cut. [`plan_cut`] drives
/// it over a set on disk; the replay engine drives it while replaying (so `compact --at` and
/// `digest --at` cut exactly where `restore --at` does); `fix --truncate-to-timestamp` and
/// `filter --until-first` are callers of [`plan_cut`]. After the walk, [`Cutter::finish`]
/// checks the result (a time before the BASE, no stamps, a command that never occurs,
/// damage before the cut) and gives the [`CutPlan`].
pub struct Cutter {
    target: Target,
    /// Resolved `(file, offset)` for offset targets.
    at_offset: Option<(usize, u64)>,
    /// Command names of a `before:` target.
    before: Vec<String>,
    cut: Option<CutPoint>,
    reason: Option<CutReason>,
    error: Option<Error>,
    commands: u64,
    /// Commands counted when the open MULTI started.
    commands_at_multi: u64,
    open_multi: Option<u64>,
    last_ts: Option<i64>,
    last_ts_at_multi: Option<i64>,
    first_ts: Option<i64>,
    timestamps: u64,
    base_ctime: Option<i64>,
    base_first_ts: Option<i64>,
    base_keys: u64,
    set_paths: Vec<PathBuf>,
    last_start: u64,
}

impl Cutter {
    /// A cutter for `target` over `set` (resolves a `FILE:OFFSET` target's file).
    pub fn new(set: &AofSet, target: &Target) -> Result<Cutter> {
        if set.parts.is_empty() {
            return Err(Error::usage(format!(
                "{}: the manifest lists no BASE and no INCR file: nothing to restore",
                set.dir.display()
            )));
        }
        let at_offset = match target {
            Target::Offset { file, offset } => Some((resolve_file(set, file)?, *offset)),
            Target::When(_) => None,
        };
        let before = match target {
            Target::When(When::BeforeCommand { command }) => command
                .split(',')
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty())
                .collect(),
            _ => Vec::new(),
        };
        Ok(Cutter {
            target: target.clone(),
            at_offset,
            before,
            cut: None,
            reason: None,
            error: None,
            commands: 0,
            commands_at_multi: 0,
            open_multi: None,
            last_ts: None,
            last_ts_at_multi: None,
            first_ts: None,
            timestamps: 0,
            base_ctime: None,
            base_first_ts: None,
            base_keys: 0,
            set_paths: set.parts.iter().map(|p| p.path.clone()).collect(),
            last_start: 0,
        })
    }

    /// Forgets an open transaction: for a caller that feeds records of separate ranges of a
    /// file (what survives salvaging), where a `MULTI` before a gap does not enclose what
    /// follows it.
    pub fn reset_transaction(&mut self) {
        self.open_multi = None;
    }

    /// The reason for the cut found so far, if any.
    pub fn reason(&self) -> Option<&CutReason> {
        self.reason.as_ref()
    }

    /// Takes the error that stopped the walk (an impossible target or an invalid `#TS:` for
    /// a time target), if any.
    pub fn take_error(&mut self) -> Option<Error> {
        self.error.take()
    }

    /// The cut found so far (the walk stopped there), if any.
    pub fn cut(&self) -> Option<CutPoint> {
        self.cut
    }

    /// True once the walk must stop: the cut was found or the target is impossible.
    pub fn done(&self) -> bool {
        self.cut.is_some() || self.error.is_some()
    }

    fn cut_here(&mut self, file: usize, offset: u64, reason: CutReason) -> ControlFlow<()> {
        let offset = match self.open_multi {
            Some(m) => {
                self.commands = self.commands_at_multi;
                self.last_ts = self.last_ts_at_multi;
                m
            }
            None => offset,
        };
        self.cut = Some(CutPoint { file, offset });
        self.reason = Some(reason);
        ControlFlow::Break(())
    }
}

impl SetVisitor for Cutter {
    fn rdb(&mut self, index: usize, _data: &[u8], report: &RdbReport) -> ControlFlow<()> {
        if index == 0 {
            self.base_keys = report.keys;
            self.base_ctime = report
                .aux
                .iter()
                .find(|(k, _)| k == "ctime")
                .and_then(|(_, v)| v.parse().ok());
        }
        ControlFlow::Continue(())
    }

    fn item(&mut self, index: usize, item: &AofItem<'_>) -> ControlFlow<()> {
        if let Some((f, off)) = self.at_offset {
            if index == f && item.offset() >= off {
                if item.offset() > off {
                    self.error = Some(
                        Error::usage(format!(
                            "offset {off} is not the start of a record in {}; the records \
                             around it start at {} (the one containing it) and {}",
                            self.set_paths[f].display(),
                            self.last_start,
                            item.offset()
                        ))
                        .in_file(&self.set_paths[f]),
                    );
                    return ControlFlow::Break(());
                }
                if let Some(m) = self.open_multi {
                    self.error = Some(
                        Error::usage(format!(
                            "offset {off} is inside a MULTI/EXEC transaction that starts at \
                             offset {m}; cut at {m} instead"
                        ))
                        .in_file(&self.set_paths[f]),
                    );
                    return ControlFlow::Break(());
                }
                return self.cut_here(index, off, CutReason::Offset);
            }
        }
        match item {
            AofItem::Annotation(a) => {
                let Some(ts) = a.timestamp else {
                    let time_target = matches!(self.target, Target::When(When::Time { .. }));
                    if time_target && crate::aof::parse_timestamp(a.text) == Some(Err(())) {
                        // redis-check-aof --truncate-to-timestamp refuses such a file too:
                        // where the target falls cannot be known.
                        self.error = Some(
                            Error::new(crate::error::ErrorKind::Corrupt {
                                expected: "a valid #TS:<unix seconds> annotation",
                                found: format!(
                                    "invalid timestamp annotation '{}'",
                                    crate::error::escape_bytes(a.text.trim_ascii_end())
                                ),
                            })
                            .in_file(&self.set_paths[index])
                            .at(a.offset),
                        );
                        return ControlFlow::Break(());
                    }
                    return ControlFlow::Continue(());
                };
                self.timestamps += 1;
                if self.first_ts.is_none() {
                    self.first_ts = Some(ts);
                }
                if index == 0 && self.base_first_ts.is_none() {
                    self.base_first_ts = Some(ts);
                }
                if let Target::When(When::Time { unix }) = self.target {
                    if ts > unix {
                        return self.cut_here(index, a.offset, CutReason::Timestamp { stamp: ts });
                    }
                }
                self.last_ts = Some(ts);
            }
            AofItem::Command(c) => {
                if self.before.iter().any(|n| c.is(n)) {
                    let reason = CutReason::Command {
                        name: String::from_utf8_lossy(c.name()).into_owned(),
                        command_offset: c.offset,
                    };
                    return self.cut_here(index, c.offset, reason);
                }
                if c.is("multi") {
                    self.open_multi = Some(c.offset);
                    self.commands_at_multi = self.commands;
                    self.last_ts_at_multi = self.last_ts;
                } else if c.is("exec") {
                    self.open_multi = None;
                }
                self.commands += 1;
            }
        }
        self.last_start = item.offset();
        ControlFlow::Continue(())
    }

    fn file_end(&mut self, index: usize, report: &FileReport) -> ControlFlow<()> {
        if self.cut.is_some() || self.error.is_some() {
            return ControlFlow::Break(());
        }
        if let Some((f, off)) = self.at_offset {
            if index == f {
                if off == report.size && report.is_ok() && self.open_multi.is_none() {
                    return self.cut_here(index, off, CutReason::Offset);
                }
                if off < report.resp_offset {
                    self.error = Some(
                        Error::usage(format!(
                            "offset {off} is inside the RDB part of {} (it ends at {}): \
                             an RDB cannot be cut",
                            report.path.display(),
                            report.resp_offset
                        ))
                        .in_file(&report.path),
                    );
                    return ControlFlow::Break(());
                }
                if report.is_ok() {
                    self.error = Some(
                        Error::usage(format!(
                            "offset {off} is past the end of {} ({} bytes)",
                            report.path.display(),
                            report.size
                        ))
                        .in_file(&report.path),
                    );
                    return ControlFlow::Break(());
                }
            }
        }
        ControlFlow::Continue(())
    }
}

/// Finds where to cut `set` for `target`, reading every file up to the cut (never
/// writing). See the module documentation for the rules.
///
/// Errors (usage errors, exit 2 in the CLI): a time before the BASE was written, a set with
/// no `#TS:` annotation (for a time target), a command that never occurs, an offset that is
/// not a record boundary. Damage before the cut is reported as the damage error, except a
/// truncated tail of the last file, which is cut off like Redis's `aof-load-truncated` does.
pub fn plan_cut(set: &AofSet, target: &Target) -> Result<CutPlan> {
    plan_cut_with_progress(set, target, &mut |_| {})
}

/// [`plan_cut`] reporting bytes read to `progress`.
pub fn plan_cut_with_progress(
    set: &AofSet,
    target: &Target,
    progress: &mut dyn FnMut(u64),
) -> Result<CutPlan> {
    let mut p = Cutter::new(set, target)?;
    let report = scan_set(set, ScanOptions::default(), &mut p, progress)?;
    p.finish(set, &report)
}

impl Cutter {
    /// Checks the walk's outcome and builds the plan: the errors of [`plan_cut`] (a time
    /// before the BASE, no `#TS:` for a time target, a command that never occurs, damage
    /// before the cut), and a truncated tail of the last file cut off. `report` is the walk's
    /// report ([`scan_set`] or the replay's).
    pub fn finish(mut self, set: &AofSet, report: &SetReport) -> Result<CutPlan> {
        let p = &mut self;
        let target = &p.target.clone();
        if let Some(e) = p.error.take() {
            return Err(e);
        }
        // The BASE holds the state at the fork of the rewrite that wrote it; every INCR command
        // after it ran after that fork. An RDB's `ctime` is taken by the child just after the
        // fork, so it can be a second later than the first stamp of the next INCR: the earlier
        // of the two bounds the restorable range.
        let base_time = match set.parts.first() {
            Some(b) if b.rdb && b.role != PartRole::Incr => match (p.base_ctime, p.first_ts) {
                (Some(c), Some(f)) => Some(c.min(f)),
                (c, _) => c,
            },
            Some(_) => p.base_first_ts,
            None => None,
        };
        let set_path = set
            .manifest_path
            .clone()
            .unwrap_or_else(|| set.parts[0].path.clone());
        let base_path = set.parts[0].path.clone();
        if p.cut.is_none() {
            // Nothing stopped the walk: the whole set was read (or damage stopped it).
            match report.verdict {
                Verdict::Valid => {}
                Verdict::Truncatable { file, ok_up_to }
                    if report
                        .files
                        .get(file)
                        .and_then(|f| f.failure.as_ref())
                        .is_some_and(|f| f.truncated) =>
                {
                    p.cut = Some(CutPoint {
                        file,
                        offset: ok_up_to,
                    });
                    p.reason = Some(CutReason::TruncatedTail);
                }
                _ => {
                    let f = report.damaged_file();
                    let err = f
                        .and_then(|f| {
                            f.rdb_error
                                .clone()
                                .or_else(|| f.failure.as_ref().map(|x| x.error.clone()))
                        })
                        .unwrap_or_else(|| {
                            Error::usage(format!(
                                "{} is missing",
                                f.map(|f| f.path.display().to_string()).unwrap_or_default()
                            ))
                        });
                    let skippable = f
                        .and_then(|f| f.failure.as_ref())
                        .is_some_and(|x| x.loader_goes_on);
                    let hint = if skippable {
                        " (redis-server's own loader skips this record, but redis-check-aof \
                         and a cut stop there: salvaging the AOF drops just it)"
                    } else {
                        ""
                    };
                    let err = err.and_context(format!(
                        "the AOF is damaged before the restore point ({}); repair it first \
                     or restore to an earlier point{hint}",
                        report.verdict.name()
                    ));
                    return Err(if skippable {
                        err.with_remedy(crate::error::Remedy::RepairBySalvage)
                    } else {
                        err.with_remedy(crate::error::Remedy::Repair)
                    });
                }
            }
            match target {
                Target::When(When::BeforeCommand { command }) => {
                    return Err(Error::usage(format!(
                        "no {} command in the AOF ({} commands read): nothing to restore before",
                        command.to_ascii_uppercase(),
                        p.commands
                    ))
                    .in_file(&set_path));
                }
                Target::When(When::Time { .. }) if p.timestamps == 0 => {
                    return Err(Error::usage(
                    "the AOF has no #TS: timestamp annotations (aof-timestamp-enabled was off), \
                     so it cannot be restored to a time; restore the latest state, to before a \
                     command, or to a file offset",
                )
                .in_file(&set_path)
                .with_remedy(crate::error::Remedy::OtherRestorePoint));
                }
                _ => {}
            }
        }
        if let Target::When(When::Time { unix }) = target {
            if let Some(bt) = base_time {
                if *unix < bt {
                    return Err(Error::usage(format!(
                        "{} ({unix}) is before the BASE of this AOF was written ({} = {bt}): \
                     the oldest point it can restore to is {}",
                        crate::time::format_rfc3339(*unix),
                        crate::time::format_rfc3339(bt),
                        crate::time::format_rfc3339(bt)
                    ))
                    .in_file(&base_path));
                }
            }
            if let Some(c) = p.cut {
                if c.file == 0 && c.offset == 0 {
                    return Err(Error::usage(format!(
                        "the AOF has nothing before {} ({unix}): its first timestamp is {}",
                        crate::time::format_rfc3339(*unix),
                        p.first_ts
                            .map(|t| format!("{} ({t})", crate::time::format_rfc3339(t)))
                            .unwrap_or_else(|| "unknown".into())
                    ))
                    .in_file(&base_path));
                }
            }
        }
        if let Some(c) = p.cut {
            if let Some(part) = set.parts.get(c.file) {
                if part.rdb && c.offset < report.files.get(c.file).map_or(0, |f| f.resp_offset) {
                    return Err(Error::usage(format!(
                        "the restore point falls inside the RDB part of {}: an RDB cannot be cut",
                        part.path.display()
                    )));
                }
            }
        }
        let files = set
            .parts
            .iter()
            .enumerate()
            .map(|(i, part)| {
                let size = report
                    .files
                    .get(i)
                    .map(|f| f.size)
                    .or(part.size)
                    .unwrap_or(0);
                match p.cut {
                    Some(c) if i > c.file => FileKeep::Dropped,
                    Some(c) if i == c.file && c.offset < size => FileKeep::Prefix { len: c.offset },
                    _ => FileKeep::Whole { size },
                }
            })
            .collect();
        Ok(CutPlan {
            target: target.clone(),
            cut: p.cut,
            reason: p.reason.take(),
            files,
            commands_kept: p.commands,
            base_keys: p.base_keys,
            last_timestamp: p.last_ts,
            first_timestamp: p.first_ts,
            base_time,
            timestamps_seen: p.timestamps,
        })
    }
}

fn resolve_file(set: &AofSet, f: &FileRef) -> Result<usize> {
    let names = || {
        set.parts
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{i}={}", p.name_lossy()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match f {
        FileRef::Index(i) if *i < set.parts.len() => Ok(*i),
        FileRef::Name(n) => set
            .parts
            .iter()
            .position(|p| p.name == n.as_bytes() || p.path == Path::new(n))
            .ok_or_else(|| Error::usage(format!("no file '{n}' in the set (files: {})", names()))),
        FileRef::Index(i) => Err(Error::usage(format!(
            "no file number {i} in the set (files: {})",
            names()
        ))),
    }
}

// ---------------------------------------------------------------------------------------
// Outputs

/// One file written by a [`RestoreOutput`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct WrittenFile {
    /// Name in the output.
    pub name: String,
    /// Name in the source.
    pub source: String,
    /// BASE or INCR.
    pub role: PartRole,
    /// Bytes in the source file.
    pub source_size: u64,
    /// Bytes written.
    pub size: u64,
    /// True when the file was cut.
    pub cut: bool,
}

/// What a [`RestoreOutput`] wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct OutputSummary {
    /// Where (the output directory or file).
    pub path: PathBuf,
    /// The manifest written (directory outputs).
    pub manifest: Option<PathBuf>,
    /// The files written, in load order.
    pub files: Vec<WrittenFile>,
    /// Bytes written.
    pub bytes: u64,
}

/// Writes the part of a set that a [`CutPlan`] keeps. Implementations: [`DirOutput`] (a
/// multi-part AOF directory); later a single RDB through a replay engine.
pub trait RestoreOutput {
    /// Writes the output; `progress` gets the bytes written so far. The source is only read.
    fn write(
        &mut self,
        set: &AofSet,
        plan: &CutPlan,
        progress: &mut dyn FnMut(u64),
    ) -> Result<OutputSummary>;
}

/// A new directory `OUT` holding `OUT/appendonlydir/` with the BASE, the INCR files up to
/// the cut (the cut one truncated) and `appendonly.aof.manifest`, named as Redis names them
/// with the default `appendfilename`, so that `redis-server --appendonly yes --dir OUT`
/// loads it. Built under a temporary name beside `OUT` and renamed into place: an
/// interrupted restore leaves nothing that looks complete.
#[derive(Debug, Clone)]
pub struct DirOutput {
    /// The output directory (Redis's `dir`).
    pub path: PathBuf,
    /// Replace an existing `path`.
    pub force: bool,
    /// The AOF directory inside it (`appenddirname`, default `appendonlydir`).
    pub dir_name: String,
    /// The file prefix (`appendfilename`, default `appendonly.aof`).
    pub prefix: String,
}

impl DirOutput {
    /// Output to `path` with Redis's default names.
    pub fn new(path: PathBuf, force: bool) -> DirOutput {
        DirOutput {
            path,
            force,
            dir_name: "appendonlydir".into(),
            prefix: "appendonly.aof".into(),
        }
    }

    /// The output names for the parts that are kept: `(part index, output name, manifest
    /// entry)`.
    fn layout(&self, set: &AofSet, plan: &CutPlan) -> Vec<(usize, String, ManifestEntry)> {
        let mut out = Vec::new();
        for (i, part) in set.parts.iter().enumerate() {
            let keep = plan.files.get(i).copied().unwrap_or(FileKeep::Dropped);
            let len = match keep {
                FileKeep::Dropped => continue,
                FileKeep::Whole { size } => size,
                FileKeep::Prefix { len } => len,
            };
            let is_base = part.role != PartRole::Incr;
            // An INCR cut to nothing is left out (the cut is at its very start).
            if !is_base && len == 0 && matches!(keep, FileKeep::Prefix { .. }) {
                continue;
            }
            let seq = part.entry.as_ref().map_or(1, |e| e.seq);
            let (name, ty) = if is_base {
                let ext = if part.rdb { "rdb" } else { "aof" };
                (format!("{}.{seq}.base.{ext}", self.prefix), FileType::Base)
            } else {
                (format!("{}.{seq}.incr.aof", self.prefix), FileType::Incr)
            };
            let mut entry = ManifestEntry::new(name.as_bytes().to_vec(), seq, ty);
            if let Some(e) = &part.entry {
                entry.extra = e
                    .extra
                    .iter()
                    .filter(|(k, _)| {
                        // A cut file no longer ends where it did.
                        !(matches!(keep, FileKeep::Prefix { .. })
                            && k.eq_ignore_ascii_case(b"endoffset"))
                    })
                    .cloned()
                    .collect();
            }
            out.push((i, name, entry));
        }
        out
    }
}

impl RestoreOutput for DirOutput {
    fn write(
        &mut self,
        set: &AofSet,
        plan: &CutPlan,
        progress: &mut dyn FnMut(u64),
    ) -> Result<OutputSummary> {
        set.inputs().check_output(&self.path)?;
        let layout = self.layout(set, plan);
        let dir = AtomicDir::create(&self.path, self.force)?;
        let aof_dir = dir.path().join(&self.dir_name);
        std::fs::create_dir(&aof_dir).map_err(|e| Error::io(&aof_dir, &e))?;
        let mut written = Vec::new();
        let mut total = 0u64;
        for (i, name, _) in &layout {
            let part: &AofPart = &set.parts[*i];
            let keep = plan.files.get(*i).copied().unwrap_or(FileKeep::Dropped);
            let (len, cut) = match keep {
                FileKeep::Whole { size } => (size, false),
                FileKeep::Prefix { len } => (len, true),
                FileKeep::Dropped => continue,
            };
            let dst_path = aof_dir.join(name);
            let (mut src, _) = crate::mmap::open_input(&part.path)?;
            let mut dst = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&dst_path)
                .map_err(|e| Error::io(&dst_path, &e))?;
            let copied = copy_range(&mut src, 0..len, &mut dst).map_err(|e| {
                Error::io(&part.path, &e).with_context(format!(
                    "copying {len} bytes to {} (did the source shrink?)",
                    dst_path.display()
                ))
            })?;
            dst.sync_all().map_err(|e| Error::io(&dst_path, &e))?;
            total += copied;
            progress(total);
            written.push(WrittenFile {
                name: name.clone(),
                source: part.name_lossy(),
                role: if part.role == PartRole::Incr {
                    PartRole::Incr
                } else {
                    PartRole::Base
                },
                source_size: part.size.unwrap_or(0),
                size: copied,
                cut,
            });
        }
        let manifest = Manifest {
            entries: layout.iter().map(|(_, _, e)| e.clone()).collect(),
        };
        let manifest_name = format!("{}.manifest", self.prefix);
        let mpath = aof_dir.join(&manifest_name);
        {
            use std::io::Write;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&mpath)
                .map_err(|e| Error::io(&mpath, &e))?;
            f.write_all(&manifest.to_bytes())
                .map_err(|e| Error::io(&mpath, &e))?;
            f.sync_all().map_err(|e| Error::io(&mpath, &e))?;
        }
        fsync_dir(&aof_dir)?;
        dir.commit()?;
        let final_dir = self.path.join(&self.dir_name);
        Ok(OutputSummary {
            path: self.path.clone(),
            manifest: Some(final_dir.join(OsString::from(manifest_name))),
            files: written,
            bytes: total,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> i64 {
        match When::parse(s).unwrap() {
            When::Time { unix } => unix,
            w => panic!("{w:?}"),
        }
    }

    #[test]
    fn when_formats() {
        assert_eq!(t("1700000000"), 1_700_000_000);
        assert_eq!(t("0"), 0);
        // 2023-11-14 22:13:20 UTC = 1700000000
        assert_eq!(t("2023-11-14 22:13:20"), 1_700_000_000);
        assert_eq!(t("2023-11-14T22:13:20Z"), 1_700_000_000);
        assert_eq!(t("2023-11-14t22:13:20z"), 1_700_000_000);
        assert_eq!(t("2023-11-14 22:13:20 UTC"), 1_700_000_000);
        assert_eq!(t("2023-11-14T22:13:20.999Z"), 1_700_000_000);
        assert_eq!(t("2023-11-14T23:13:20+01:00"), 1_700_000_000);
        assert_eq!(t("2023-11-14T23:13:20+0100"), 1_700_000_000);
        assert_eq!(t("2023-11-14T23:13:20+01"), 1_700_000_000);
        assert_eq!(t("2023-11-14T16:43:20-05:30"), 1_700_000_000);
        assert_eq!(t("2023-11-14 16:43:20 -05:30"), 1_700_000_000);
        assert_eq!(t("1970-01-01T00:00:00Z"), 0);
        assert_eq!(t("2000-02-29 00:00:00"), 951_782_400);
        assert_eq!(t("2026-11-22 10:42:16"), 1_795_344_136);
        assert_eq!(t("1969-12-31T23:59:59Z"), -1);
        assert_eq!(When::parse("latest").unwrap(), When::Latest);
        assert_eq!(When::parse("LATEST").unwrap(), When::Latest);
        assert_eq!(
            When::parse("before:FLUSHALL").unwrap(),
            When::BeforeCommand {
                command: "FLUSHALL".into()
            }
        );
        assert_eq!(
            When::parse("before:flushdb").unwrap(),
            When::BeforeCommand {
                command: "flushdb".into()
            }
        );
    }

    #[test]
    fn when_rejects() {
        for bad in [
            "",
            "yesterday",
            "before:",
            "before: ",
            "2023-02-29 00:00:00",
            "2023-13-01 00:00:00",
            "2023-11-14 24:00:00",
            "2023-11-14 22:60:00",
            "2023-11-14",
            "2023-11-14 22:13",
            "2023-11-14T22:13:20+25:00",
            "2023-11-14T22:13:20 CET",
            "2023-11-14T22:13:20.Z",
            "-5",
            "99999999999999999999999",
        ] {
            let e = When::parse(bad);
            assert!(e.is_err(), "{bad:?} parsed as {e:?}");
        }
    }

    #[test]
    fn offsets() {
        assert_eq!(
            Target::parse_offset("appendonly.aof.2.incr.aof:1234").unwrap(),
            Target::Offset {
                file: FileRef::Name("appendonly.aof.2.incr.aof".into()),
                offset: 1234
            }
        );
        assert_eq!(
            Target::parse_offset("1:0").unwrap(),
            Target::Offset {
                file: FileRef::Index(1),
                offset: 0
            }
        );
        assert!(Target::parse_offset("x").is_err());
        assert!(Target::parse_offset(":5").is_err());
        assert!(Target::parse_offset("a:b").is_err());
    }

    fn cmd(args: &[&str]) -> Vec<u8> {
        let mut out = Vec::new();
        crate::aof::encode_command(args, &mut out);
        out
    }

    /// A set written by hand: a RESP BASE stamped 100, INCR 1 with stamps 101 and 102, INCR 2
    /// starting with a command that carries stamp 102, then stamps 103 (a transaction) and 104.
    struct Fixture {
        dir: PathBuf,
        /// Offsets: (file index, offset) of interesting records.
        ts102: u64,
        ts103_in_incr2: u64,
        multi_in_incr2: u64,
        set_in_base: u64,
    }

    fn fixture(tag: &str) -> Fixture {
        let dir = std::env::temp_dir().join(format!("redsafe-pitr-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut base = b"#TS:100\r\n".to_vec();
        let set_in_base = base.len() as u64;
        base.extend(cmd(&["SET", "a", "1"]));
        let mut i1 = b"#TS:101\r\n".to_vec();
        i1.extend(cmd(&["SET", "b", "1"]));
        let ts102 = i1.len() as u64;
        i1.extend(b"#TS:102\r\n");
        i1.extend(cmd(&["SET", "c", "1"]));
        let mut i2 = cmd(&["SET", "d", "1"]);
        let ts103 = i2.len() as u64;
        i2.extend(b"#TS:103\r\n");
        let multi = i2.len() as u64;
        i2.extend(cmd(&["MULTI"]));
        i2.extend(cmd(&["SADD", "e", "1"]));
        i2.extend(b"#TS:104\r\n"); // never written by Redis inside a transaction
        i2.extend(cmd(&["SET", "f", "1"]));
        i2.extend(cmd(&["EXEC"]));
        i2.extend(cmd(&["SET", "g", "1"]));
        std::fs::write(dir.join("x.1.base.aof"), base).unwrap();
        std::fs::write(dir.join("x.1.incr.aof"), i1).unwrap();
        std::fs::write(dir.join("x.2.incr.aof"), i2).unwrap();
        std::fs::write(
            dir.join("x.manifest"),
            "file x.1.base.aof seq 1 type b\nfile x.1.incr.aof seq 1 type i\nfile x.2.incr.aof seq 2 type i startoffset 5 endoffset 9\n",
        )
        .unwrap();
        Fixture {
            dir,
            ts102,
            ts103_in_incr2: ts103,
            multi_in_incr2: multi,
            set_in_base,
        }
    }

    fn plan(f: &Fixture, when: &str) -> Result<CutPlan> {
        let set = AofSet::open(&f.dir).unwrap();
        plan_cut(&set, &When::parse(when)?.into())
    }

    #[test]
    fn cuts_across_files_with_carried_stamps() {
        let f = fixture("cuts");
        let p = plan(&f, "101").unwrap();
        assert_eq!(
            p.cut,
            Some(CutPoint {
                file: 1,
                offset: f.ts102
            })
        );
        assert_eq!(p.files[2], FileKeep::Dropped);
        assert_eq!((p.commands_kept, p.last_timestamp), (2, Some(101)));
        // INCR 2 starts with a command stamped 102 (carried): kept at 102.
        let p = plan(&f, "102").unwrap();
        assert_eq!(
            p.cut,
            Some(CutPoint {
                file: 2,
                offset: f.ts103_in_incr2
            })
        );
        assert_eq!((p.commands_kept, p.last_timestamp), (4, Some(102)));
        // A stamp inside a transaction: the cut goes back to its MULTI.
        let p = plan(&f, "103").unwrap();
        assert_eq!(
            p.cut,
            Some(CutPoint {
                file: 2,
                offset: f.multi_in_incr2
            })
        );
        assert_eq!((p.commands_kept, p.last_timestamp), (4, Some(103)));
        let p = plan(&f, "104").unwrap();
        assert_eq!(p.cut, None);
        assert_eq!(p.commands_kept, 9);
        // At the BASE's own second: the BASE only; INCR 1 is cut to nothing.
        let p = plan(&f, "100").unwrap();
        assert_eq!(p.cut, Some(CutPoint { file: 1, offset: 0 }));
        assert_eq!(p.base_time, Some(100));
        let e = plan(&f, "99").unwrap_err();
        assert!(e.to_string().contains("before the BASE"), "{e}");
        // before:SADD is inside the transaction: cut at the MULTI. before:set: in the BASE.
        let p = plan(&f, "before:sadd").unwrap();
        assert_eq!(
            p.cut,
            Some(CutPoint {
                file: 2,
                offset: f.multi_in_incr2
            })
        );
        let p = plan(&f, "before:SET").unwrap();
        assert_eq!(
            p.cut,
            Some(CutPoint {
                file: 0,
                offset: f.set_in_base
            })
        );
        assert!(plan(&f, "before:FLUSHALL").is_err());
        std::fs::remove_dir_all(&f.dir).unwrap();
    }

    #[test]
    fn offsets_must_be_record_boundaries() {
        let f = fixture("offsets");
        let set = AofSet::open(&f.dir).unwrap();
        let at = |s: &str| plan_cut(&set, &Target::parse_offset(s).unwrap());
        assert_eq!(
            at(&format!("x.1.incr.aof:{}", f.ts102)).unwrap().cut,
            Some(CutPoint {
                file: 1,
                offset: f.ts102
            })
        );
        assert!(at(&format!("1:{}", f.ts102 + 1)).is_err());
        assert!(at(&format!("2:{}", f.multi_in_incr2 + 15)).is_err());
        assert!(at("x.9.incr.aof:0").is_err());
        assert!(at("7:0").is_err());
        std::fs::remove_dir_all(&f.dir).unwrap();
    }

    #[test]
    fn directory_output_is_a_redis_layout() {
        let f = fixture("out");
        let set = AofSet::open(&f.dir).unwrap();
        let p = plan(&f, "102").unwrap();
        let out = f
            .dir
            .with_file_name(format!("{}-restored", std::process::id()));
        let s = DirOutput::new(out.clone(), false)
            .write(&set, &p, &mut |_| {})
            .unwrap();
        let m = std::fs::read_to_string(out.join("appendonlydir/appendonly.aof.manifest")).unwrap();
        // endoffset dropped from the cut file, startoffset kept.
        assert_eq!(
            m,
            "file appendonly.aof.1.base.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\nfile appendonly.aof.2.incr.aof seq 2 type i startoffset 5\n"
        );
        assert_eq!(s.files.len(), 3);
        let i2 = std::fs::read(out.join("appendonlydir/appendonly.aof.2.incr.aof")).unwrap();
        assert_eq!(i2.len() as u64, f.ts103_in_incr2);
        // Refused when it exists; the source directory can not be the output.
        assert!(DirOutput::new(out.clone(), false)
            .write(&set, &p, &mut |_| {})
            .is_err());
        assert!(DirOutput::new(f.dir.clone(), true)
            .write(&set, &p, &mut |_| {})
            .is_err());
        // Nor a directory inside it.
        assert!(DirOutput::new(f.dir.join("restored"), false)
            .write(&set, &p, &mut |_| {})
            .is_err());
        assert!(!f.dir.join("restored").exists());
        assert!(f.dir.join("x.manifest").exists());
        std::fs::remove_dir_all(&f.dir).unwrap();
        std::fs::remove_dir_all(&out).unwrap();
    }
}
