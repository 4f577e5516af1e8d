//! Replaying a whole AOF set into a [`Keyspace`], as Redis loads it: the RDB part of the
//! BASE (or preamble) first, then every command of every file on a fresh connection per file
//! (database 0, no transaction). Commands Redis would refuse are counted and skipped, like
//! Redis's loader does; an unknown or unreproducible command stops the replay with an error
//! naming it, its file and offset. A transaction left open at the end of a file is dropped
//! (Redis reverts it). The files are read as Redis's loader reads them, not as
//! redis-check-aof does: a stray `EXEC` and a nested `MULTI` are refused commands, and the
//! replay goes on past them as Redis does.

use std::ops::ControlFlow;

use super::load::{load_rdb, LoadOptions};
use super::{ApplyError, Client, Keyspace};
use crate::aof::pitr::{CutPlan, Cutter, Target};
use crate::aof::{
    scan_set, AofItem, AofPart, AofSet, FileReport, ScanOptions, SetReport, SetVisitor,
};
use crate::error::{Error, Result};
use crate::rdb::RdbReport;

/// How to replay.
#[derive(Debug, Clone, Default)]
pub struct ReplayOptions {
    /// The clock (unix ms) for relative expiries and `XADD *` in commands before the first
    /// `#TS:` annotation (after one, its time is used). Default: now.
    pub now_ms: Option<i64>,
    /// Replay only up to this restore point: the cut [`crate::aof::pitr::plan_cut`] makes
    /// for it (the same [`Cutter`] decides), so a replay to a time, to `before:COMMAND` or to
    /// `FILE:OFFSET` holds exactly what `restore` to that point keeps.
    pub target: Option<Target>,
    /// Fail on the first command Redis would refuse instead of skipping it.
    pub strict: bool,
    /// Number of databases (`databases`); default 16.
    pub databases: Option<u64>,
}

/// What a replay did.
#[derive(Debug)]
pub struct ReplayReport {
    /// The resulting dataset.
    pub keyspace: Keyspace,
    /// The walk of the set (verdict, per-file reports).
    pub set: SetReport,
    /// Keys loaded from RDB parts.
    pub rdb_keys: u64,
    /// Commands applied (including `MULTI`/`EXEC`/`SELECT`).
    pub commands: u64,
    /// Commands Redis would have refused (skipped).
    pub rejected: u64,
    /// The first refused commands (up to 100), with their offsets.
    pub rejections: Vec<(String, ApplyError)>,
    /// Transactions left open at the end of a file (dropped).
    pub open_transactions: u64,
    /// With a target: where the set was cut and why (as `restore` reports it).
    pub plan: Option<CutPlan>,
}

impl ReplayReport {
    /// Records redis-check-aof calls damage but Redis's loader, and so this replay, goes
    /// past (a stray `EXEC`, a nested `MULTI`), per file: (path, first offset, count).
    /// `redis-check-aof --fix` would cut the file there.
    pub fn checker_only_damage(&self) -> impl Iterator<Item = (&std::path::Path, u64, u64)> {
        self.set.files.iter().filter_map(|f| {
            let first = f.state.first_loader_only_record?;
            Some((f.path.as_path(), first, f.state.loader_only_records))
        })
    }
}

struct Visitor<'o, 'c> {
    ks: Keyspace,
    client: Client,
    opts: &'o ReplayOptions,
    file: String,
    rdb_keys: u64,
    commands: u64,
    rejected: u64,
    rejections: Vec<(String, ApplyError)>,
    open: u64,
    fatal: Option<Error>,
    cutter: Option<Cutter>,
    default_now: i64,
    on_timestamp: &'c mut dyn FnMut(i64, &Keyspace),
}

impl Visitor<'_, '_> {
    fn reject(&mut self, e: ApplyError) -> ControlFlow<()> {
        if self.opts.strict {
            self.fatal = Some(Error::from(e).with_context(format!("in {}", self.file)));
            return ControlFlow::Break(());
        }
        self.rejected += 1;
        if self.rejections.len() < 100 {
            self.rejections.push((self.file.clone(), e));
        }
        ControlFlow::Continue(())
    }
}

impl SetVisitor for Visitor<'_, '_> {
    fn file_start(&mut self, _index: usize, part: &AofPart) -> ControlFlow<()> {
        self.client = Client::new(self.client.now_ms);
        self.file = part.name_lossy();
        ControlFlow::Continue(())
    }

    fn rdb(&mut self, index: usize, data: &[u8], report: &RdbReport) -> ControlFlow<()> {
        if let Some(c) = &mut self.cutter {
            let _ = c.rdb(index, data, report);
        }
        match load_rdb(&mut self.ks, data, LoadOptions::default()) {
            Ok(s) => {
                self.rdb_keys += s.keys;
                ControlFlow::Continue(())
            }
            Err(e) => {
                self.fatal = Some(e.with_context(format!("RDB part of {}", self.file)));
                ControlFlow::Break(())
            }
        }
    }

    fn item(&mut self, index: usize, item: &AofItem<'_>) -> ControlFlow<()> {
        if let Some(c) = &mut self.cutter {
            if c.item(index, item).is_break() {
                // The cut (or why there is none): a transaction open here is before it only
                // up to its MULTI, which is where the cutter puts the cut.
                if self.client.in_multi() {
                    self.client.discard();
                }
                return ControlFlow::Break(());
            }
        }
        match item {
            AofItem::Annotation(a) => {
                if let Some(ts) = a.timestamp {
                    (self.on_timestamp)(ts, &self.ks);
                }
                ControlFlow::Continue(())
            }
            AofItem::Command(c) => {
                self.client.now_ms = c
                    .timestamp
                    .and_then(|t| t.checked_mul(1000))
                    .unwrap_or(self.default_now);
                self.commands += 1;
                let r = self.ks.apply(&mut self.client, c);
                for e in std::mem::take(&mut self.client.exec_rejections) {
                    if self.reject(e).is_break() {
                        return ControlFlow::Break(());
                    }
                }
                match r {
                    Ok(()) => ControlFlow::Continue(()),
                    Err(e) if e.is_rejection() => self.reject(e),
                    Err(e) => {
                        self.fatal = Some(
                            Error::from(e)
                                .in_file(std::path::Path::new(&self.file))
                                .with_context(format!("replaying {}", c.display())),
                        );
                        ControlFlow::Break(())
                    }
                }
            }
        }
    }

    fn file_end(&mut self, index: usize, report: &FileReport) -> ControlFlow<()> {
        if let Some(c) = &mut self.cutter {
            if c.file_end(index, report).is_break() && c.done() {
                if self.client.in_multi() {
                    self.client.discard();
                }
                return ControlFlow::Break(());
            }
        }
        if self.client.in_multi() {
            self.client.discard();
            self.open += 1;
        }
        ControlFlow::Continue(())
    }
}

/// Replays `set`. `on_timestamp(t, ks)` is called at every `#TS:t` annotation with the
/// dataset as it is just before it (everything earlier applied, an open transaction not).
/// Returns `Err` for I/O errors, a damaged RDB part, and commands that cannot be replayed;
/// damage in the RESP part ends the replay where Redis would stop (see
/// [`ReplayReport::set`]'s verdict).
pub fn replay_set(
    set: &AofSet,
    opts: &ReplayOptions,
    on_timestamp: &mut dyn FnMut(i64, &Keyspace),
) -> Result<ReplayReport> {
    replay_set_with_progress(set, opts, on_timestamp, &mut |_| {})
}

/// [`replay_set`], reporting the bytes read so far (across the set) to `progress`.
pub fn replay_set_with_progress(
    set: &AofSet,
    opts: &ReplayOptions,
    on_timestamp: &mut dyn FnMut(i64, &Keyspace),
    progress: &mut dyn FnMut(u64),
) -> Result<ReplayReport> {
    let default_now = opts.now_ms.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    });
    let mut ks = Keyspace::new();
    if let Some(n) = opts.databases {
        ks.databases = n;
    }
    let mut v = Visitor {
        ks,
        client: Client::new(default_now),
        opts,
        file: String::new(),
        rdb_keys: 0,
        commands: 0,
        rejected: 0,
        rejections: Vec::new(),
        open: 0,
        fatal: None,
        cutter: opts
            .target
            .as_ref()
            .map(|t| Cutter::new(set, t))
            .transpose()?,
        default_now,
        on_timestamp,
    };
    let scan = ScanOptions {
        as_loader: true,
        ..ScanOptions::default()
    };
    let report = scan_set(set, scan, &mut v, progress)?;
    if let Some(e) = v.fatal {
        return Err(e);
    }
    let plan = v
        .cutter
        .take()
        .map(|c| c.finish(set, &report))
        .transpose()?;
    Ok(ReplayReport {
        keyspace: v.ks,
        set: report,
        rdb_keys: v.rdb_keys,
        commands: v.commands,
        rejected: v.rejected,
        rejections: v.rejections,
        open_transactions: v.open,
        plan,
    })
}
