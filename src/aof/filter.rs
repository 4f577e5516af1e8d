//! Removing commands from an AOF (a single file or a multi-part set) while keeping it
//! loadable: the engine behind `redsafe filter` for AOF input.
//!
//! What can be removed ([`FilterOptions`]):
//! - every command with a given name (`--drop-command FLUSHALL`),
//! - a command with a given name when its keys match a glob (`--drop 'DEL session:*'`),
//! - commands whose keys (or database) fall outside a [`KeyFilter`] (`--key`, `--exclude-key`,
//!   `--db`), with the key positions of [`crate::aof::keys`],
//! - everything from the first command with a given name on (`--until-first FLUSHALL`),
//!
//! and only among the commands stamped (`#TS:`) inside an optional time window.
//!
//! The output stays valid: commands removed inside `MULTI`/`EXEC` leave the transaction
//! balanced and a transaction the filter leaves empty disappears (one empty in the input stays); `SELECT`s are written only where the
//! kept commands need them (an original `SELECT` whose commands were all removed vanishes, one
//! is re-emitted where a kept command would otherwise run in the wrong database); annotations
//! are kept; the RDB part of a BASE or preamble is copied unchanged (or, with key filters,
//! rewritten by an [`RdbPartFilter`]). A command touching both kept and removed keys is an
//! error, unless [`FilterOptions::split_multikey`] and the command can be split (`DEL`,
//! `UNLINK`, `TOUCH`, `EXISTS`, `MSET`, `MSETNX`).
//!
//! When nothing is removed the output is byte for byte the input. Damaged input is refused
//! (the error names the file and offset) and nothing is written.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::aof::keys::{key_positions, special, KeysError, Special};
use crate::aof::manifest::{FileType, Manifest};
use crate::aof::reader::{parse_db, AofItem, AofReader, Command};
use crate::aof::resp::encode_command;
use crate::aof::set::{name_to_os, AofKind, AofSet, PartRole};
use crate::error::{escape_bytes, Error, ErrorKind, Result};
use crate::filter::{Glob, KeyFilter};
use crate::fsutil::{AtomicDir, AtomicFile};

/// A `--drop 'NAME PATTERN'` rule: remove `NAME` commands whose keys match `pattern`.
#[derive(Debug, Clone)]
pub struct DropRule {
    /// Command name (compared ignoring ASCII case).
    pub command: Vec<u8>,
    /// Key glob (Redis `stringmatchlen` semantics).
    pub pattern: Glob,
}

impl DropRule {
    /// Parses `NAME PATTERN` (or just `NAME`, which drops every such command).
    pub fn parse(s: &str) -> Result<DropRule> {
        let s = s.trim();
        let (name, pat) = match s.split_once(char::is_whitespace) {
            Some((n, p)) => (n, p.trim()),
            None => (s, "*"),
        };
        if name.is_empty() {
            return Err(Error::usage(format!(
                "drop rule {s:?}: expected 'COMMAND PATTERN'"
            )));
        }
        Ok(DropRule {
            command: name.as_bytes().to_vec(),
            pattern: Glob::new(pat.as_bytes()),
        })
    }
}

/// Rewrites the RDB part (BASE or preamble) of an AOF keeping the keys a [`KeyFilter`]
/// passes. Implemented by the RDB filter; the AOF filter refuses key filters on sets with an
/// RDB part when none is given.
pub trait RdbPartFilter {
    /// Writes to `out` a complete RDB holding the keys of `rdb` that `filter` passes; returns
    /// (keys kept, keys removed).
    fn filter_rdb(&self, rdb: &[u8], filter: &KeyFilter, out: &mut dyn Write)
        -> Result<(u64, u64)>;
}

/// What to remove.
#[derive(Default)]
pub struct FilterOptions {
    /// Remove every command with one of these names (ignoring case).
    pub drop_commands: Vec<Vec<u8>>,
    /// Remove commands of a name whose keys match a glob.
    pub drop_rules: Vec<DropRule>,
    /// Keep only commands whose keys (and database) pass this filter (`None`: no key
    /// filter). Type, size and expiry criteria cannot be evaluated on commands and are refused.
    pub keys: Option<KeyFilter>,
    /// Only commands stamped at or after this unix time are candidates for removal.
    pub since: Option<i64>,
    /// Only commands stamped at or before this unix time are candidates for removal.
    pub until: Option<i64>,
    /// Cut everything from the first command with one of these names (and the transaction
    /// holding it) on.
    pub until_first: Vec<Vec<u8>>,
    /// Split multi-key commands (`DEL`, `UNLINK`, `TOUCH`, `EXISTS`, `MSET`, `MSETNX`) that
    /// touch both kept and removed keys instead of failing.
    pub split_multikey: bool,
    /// How many removed commands to quote in the report.
    pub examples: usize,
    /// Filters the RDB part of a BASE or preamble when key filters apply.
    pub rdb_filter: Option<Box<dyn RdbPartFilter>>,
}

impl std::fmt::Debug for FilterOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FilterOptions")
            .field("drop_commands", &self.drop_commands)
            .field("drop_rules", &self.drop_rules)
            .field("keys", &self.keys)
            .field("since", &self.since)
            .field("until", &self.until)
            .field("until_first", &self.until_first)
            .field("split_multikey", &self.split_multikey)
            .finish()
    }
}

impl FilterOptions {
    /// True when no rule removes anything.
    pub fn is_noop(&self) -> bool {
        self.drop_commands.is_empty()
            && self.drop_rules.is_empty()
            && self.keys.as_ref().is_none_or(|k| k.is_pass_all())
            && self.until_first.is_empty()
    }

    fn key_filter(&self) -> Option<&KeyFilter> {
        self.keys.as_ref().filter(|k| !k.is_pass_all())
    }

    fn tracks_flush(&self) -> bool {
        let f =
            |n: &[u8]| n.eq_ignore_ascii_case(b"flushall") || n.eq_ignore_ascii_case(b"flushdb");
        self.drop_commands.iter().any(|n| f(n)) || self.drop_rules.iter().any(|r| f(&r.command))
    }
}

/// Removed commands of one name in one database.
#[derive(Debug, Clone, Serialize)]
pub struct DroppedCount {
    /// Command name (upper case).
    pub command: String,
    /// Database.
    pub db: u64,
    /// How many.
    pub count: u64,
    /// Earliest `#TS:` stamp among them.
    pub first_timestamp: Option<i64>,
    /// Latest `#TS:` stamp among them.
    pub last_timestamp: Option<i64>,
}

/// A command quoted in the report.
#[derive(Debug, Clone, Serialize)]
pub struct CommandRef {
    /// File name.
    pub file: String,
    /// Offset of the command in that file.
    pub offset: u64,
    /// Database.
    pub db: u64,
    /// Its `#TS:` stamp.
    pub timestamp: Option<i64>,
    /// The command (escaped, long argument lists shortened).
    pub command: String,
}

/// The warning for removed `FLUSHALL`/`FLUSHDB`s followed by writes to keys that existed
/// before them: the output merges the old data with the new.
#[derive(Debug, Clone, Serialize)]
pub struct MergeWarning {
    /// Removed flushes.
    pub flushes_removed: u64,
    /// Kept writes, after a removed flush, to keys written before it.
    pub writes_to_old_keys: u64,
    /// The first such write.
    pub first: Option<CommandRef>,
}

/// One output file.
#[derive(Debug, Clone, Serialize)]
pub struct FileSummary {
    /// File name.
    pub name: String,
    /// Input size.
    pub bytes_in: u64,
    /// Output size.
    pub bytes_out: u64,
    /// Commands read.
    pub commands_in: u64,
    /// Commands written.
    pub commands_out: u64,
    /// The file starts with an RDB part.
    pub rdb: bool,
    /// That RDB part was rewritten by the key filter (otherwise copied).
    pub rdb_filtered: bool,
}

/// What a filter run did (the same for `--dry-run`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct FilterReport {
    /// `aof` or `multi-part-aof`.
    pub kind: String,
    /// Per file.
    pub files: Vec<FileSummary>,
    /// Commands read (including MULTI/EXEC/SELECT).
    pub commands_in: u64,
    /// Commands removed (not counting MULTI/EXEC/SELECT bookkeeping).
    pub commands_removed: u64,
    /// Multi-key commands rewritten with only their kept keys.
    pub commands_split: u64,
    /// Transactions removed because nothing was left in them.
    pub transactions_removed: u64,
    /// Commands outside the time window only because they have no `#TS:` stamp.
    pub unstamped_commands: u64,
    /// Keys removed from RDB parts.
    pub rdb_keys_removed: u64,
    /// Removed commands by name and database.
    pub dropped: Vec<DroppedCount>,
    /// The first removed commands.
    pub examples: Vec<CommandRef>,
    /// Where `until_first` cut the AOF (everything from there on is removed).
    pub cut: Option<CommandRef>,
    /// Removed flushes followed by writes to older keys.
    pub merge: Option<MergeWarning>,
    /// Input bytes.
    pub bytes_in: u64,
    /// Output bytes.
    pub bytes_out: u64,
}

/// Where to write.
#[derive(Debug, Clone, Copy)]
pub enum FilterOutput<'p> {
    /// Nothing: only report.
    DryRun,
    /// A file (single AOF input) or a directory (multi-part input: manifest + files).
    Path(&'p Path),
}

#[derive(Default)]
struct Agg {
    count: u64,
    first: Option<i64>,
    last: Option<i64>,
}

/// Output with coalescing of adjacent input ranges.
struct Sink<'w> {
    w: &'w mut dyn Write,
    pend: (usize, usize),
    written: u64,
    path: PathBuf,
}

impl<'w> Sink<'w> {
    fn range(&mut self, data: &[u8], s: usize, e: usize) -> Result<()> {
        if self.pend.1 == s && self.pend.0 != self.pend.1 {
            self.pend.1 = e;
            return Ok(());
        }
        self.flush(data)?;
        self.pend = (s, e);
        Ok(())
    }
    fn bytes(&mut self, data: &[u8], b: &[u8]) -> Result<()> {
        self.flush(data)?;
        self.w.write_all(b).map_err(|e| Error::io(&self.path, &e))?;
        self.written += b.len() as u64;
        Ok(())
    }
    fn flush(&mut self, data: &[u8]) -> Result<()> {
        let (s, e) = self.pend;
        if e > s {
            let slice = data.get(s..e).unwrap_or(&[]);
            self.w
                .write_all(slice)
                .map_err(|er| Error::io(&self.path, &er))?;
            self.written += slice.len() as u64;
        }
        self.pend = (0, 0);
        Ok(())
    }
}

/// An item buffered inside a transaction: an annotation, or a kept command with its
/// database and whether a `SELECT` preceded it (since the previous kept command).
enum TxItem {
    Annotation(usize, usize),
    Range(usize, usize, u64, bool),
    Bytes(Vec<u8>, u64, bool),
}

struct Txn {
    start: usize,
    end: usize,
    /// A `SELECT` was pending when the `MULTI` came (Redis ≤ 7.0 writes it before MULTI).
    select_before: bool,
    /// The database the `MULTI` runs in.
    db: u64,
    items: Vec<TxItem>,
    kept: usize,
    /// Commands of the transaction the filter removed.
    dropped: usize,
}

enum Decision {
    Keep,
    Drop,
    Rewrite(Vec<u8>),
}

/// Per-run state.
struct Engine<'o> {
    opts: &'o FilterOptions,
    report: FilterReport,
    agg: BTreeMap<(String, u64), Agg>,
    cut: bool,
    // Merge-warning tracking: key hash -> (db, generation of its last write).
    track: bool,
    seen: HashMap<u64, (u64, u32)>,
    gen_all: u32,
    gen_db: HashMap<u64, u32>,
    flushes_removed: u64,
    merge_writes: u64,
    merge_first: Option<CommandRef>,
    pos: Vec<usize>,
    /// The cut rule for `until_first` (`before:` those commands), fed every record.
    cutter: Option<crate::aof::pitr::Cutter>,
    /// Index of the part being filtered.
    part: usize,
}

fn key_hash(db: u64, key: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    db.hash(&mut h);
    key.hash(&mut h);
    h.finish()
}

fn upper(name: &[u8]) -> String {
    escape_bytes(&name.to_ascii_uppercase())
}

fn select_bytes(db: u64) -> Vec<u8> {
    let d = db.to_string();
    let mut out = Vec::with_capacity(32);
    encode_command(&[b"SELECT".as_slice(), d.as_bytes()], &mut out);
    out
}

impl<'o> Engine<'o> {
    fn new(opts: &'o FilterOptions) -> Self {
        Engine {
            opts,
            report: FilterReport::default(),
            agg: BTreeMap::new(),
            cut: false,
            track: opts.tracks_flush(),
            seen: HashMap::new(),
            gen_all: 0,
            gen_db: HashMap::new(),
            flushes_removed: 0,
            merge_writes: 0,
            merge_first: None,
            pos: Vec::new(),
            cutter: None,
            part: 0,
        }
    }

    fn cmd_ref(file: &str, c: &Command<'_>) -> CommandRef {
        CommandRef {
            file: file.to_string(),
            offset: c.offset,
            db: c.db,
            timestamp: c.timestamp,
            command: c.display(),
        }
    }

    fn in_window(&mut self, c: &Command<'_>) -> bool {
        if self.opts.since.is_none() && self.opts.until.is_none() {
            return true;
        }
        match c.timestamp {
            None => {
                self.report.unstamped_commands += 1;
                false
            }
            Some(t) => {
                self.opts.since.is_none_or(|s| t >= s) && self.opts.until.is_none_or(|u| t <= u)
            }
        }
    }

    /// Whether key `key` in `db` is removed for command `name`.
    fn key_removed(&self, name: &[u8], db: u64, key: &[u8]) -> bool {
        if let Some(kf) = self.opts.key_filter() {
            if !(kf.matches_db(db) && kf.matches_key(key)) {
                return true;
            }
        }
        self.opts
            .drop_rules
            .iter()
            .any(|r| r.command.eq_ignore_ascii_case(name) && r.pattern.matches(key))
    }

    fn decide<'a>(
        &mut self,
        c: &Command<'a>,
        argv: &mut Vec<&'a [u8]>,
        file: &Path,
    ) -> Result<Decision> {
        let name = c.name();
        if self
            .opts
            .drop_commands
            .iter()
            .any(|d| d.eq_ignore_ascii_case(name))
        {
            return Ok(Decision::Drop);
        }
        let kf = self.opts.key_filter();
        let rule = self
            .opts
            .drop_rules
            .iter()
            .any(|r| r.command.eq_ignore_ascii_case(name));
        if kf.is_none() && !rule {
            return Ok(Decision::Keep);
        }
        argv.clear();
        argv.extend(c.args());
        let sp = special(argv);
        let err = |why: String| {
            Error::new(ErrorKind::Usage(why))
                .in_file(file)
                .at(c.offset)
                .with_db(c.db)
        };
        // Database-level effects under a database filter.
        if let Some(kf) = kf {
            match sp {
                Special::FlushDb => {
                    return Ok(if kf.matches_db(c.db) {
                        Decision::Keep
                    } else {
                        Decision::Drop
                    })
                }
                Special::SwapDb(a, b) => {
                    return match (kf.matches_db(a), kf.matches_db(b)) {
                        (true, true) => Ok(Decision::Keep),
                        (false, false) => Ok(Decision::Drop),
                        _ => Err(err(format!(
                            "{} swaps a kept database with a removed one; it cannot be filtered \
                             (filter both databases, or neither)",
                            c.display()
                        ))),
                    }
                }
                Special::BadDb => {
                    return Err(err(format!(
                        "{}: the database argument is not a number",
                        c.display()
                    )))
                }
                _ => {}
            }
        }
        let mut pos = std::mem::take(&mut self.pos);
        match key_positions(argv, &mut pos) {
            Ok(()) => {}
            Err(KeysError::Unknown) => {
                self.pos = pos;
                return Err(err(format!(
                    "{}: unknown command (not in the key table of Redis 7.0): cannot tell \
                     which keys it touches",
                    c.display()
                )));
            }
            Err(KeysError::Invalid) => {
                self.pos = pos;
                return Err(err(format!(
                    "{}: its arguments do not fit the command's key specification",
                    c.display()
                )));
            }
        }
        let mut removed = 0usize;
        let mut kept = 0usize;
        let mut mask = Vec::new();
        for &p in &pos {
            let key = argv.get(p).copied().unwrap_or_default();
            // The database each key lives in: MOVE reaches another one (the key leaves the
            // current database for it), COPY … DB writes its destination there.
            let r = match sp {
                Special::Move(d) => {
                    let (a, b) = (
                        self.key_removed(name, c.db, key),
                        self.key_removed(name, d, key),
                    );
                    if a != b {
                        self.pos = pos;
                        return Err(err(format!(
                            "{} moves a key between a kept and a removed database",
                            c.display()
                        )));
                    }
                    a
                }
                Special::CopyDb(d) if p == 2 => self.key_removed(name, d, key),
                _ => self.key_removed(name, c.db, key),
            };
            if r {
                removed += 1;
            } else {
                kept += 1;
            }
            mask.push(r);
        }
        let decision = if removed == 0 {
            Decision::Keep
        } else if kept == 0 {
            Decision::Drop
        } else if self.opts.split_multikey {
            match split(argv, &pos, &mask) {
                Some(bytes) => {
                    self.report.commands_split += 1;
                    Decision::Rewrite(bytes)
                }
                None => {
                    self.pos = pos;
                    return Err(err(format!(
                        "{} touches kept and removed keys and cannot be split",
                        c.display()
                    )));
                }
            }
        } else {
            self.pos = pos;
            return Err(err(format!(
                "{} touches kept and removed keys ({kept} kept, {removed} removed); splitting \
                 multi-key commands keeps only the kept keys",
                c.display()
            ))
            .with_remedy(crate::error::Remedy::SplitMultiKey));
        };
        self.pos = pos;
        Ok(decision)
    }

    fn note_drop(&mut self, file: &str, c: &Command<'_>) {
        self.report.commands_removed += 1;
        let a = self.agg.entry((upper(c.name()), c.db)).or_default();
        a.count += 1;
        if let Some(t) = c.timestamp {
            a.first = Some(a.first.map_or(t, |f| f.min(t)));
            a.last = Some(a.last.map_or(t, |l| l.max(t)));
        }
        if self.report.examples.len() < self.opts.examples {
            self.report.examples.push(Self::cmd_ref(file, c));
        }
        if self.track {
            if c.is("flushall") {
                self.gen_all += 1;
                self.flushes_removed += 1;
            } else if c.is("flushdb") {
                *self.gen_db.entry(c.db).or_default() += 1;
                self.flushes_removed += 1;
            }
        }
    }

    fn gen(&self, db: u64) -> u32 {
        self.gen_all + self.gen_db.get(&db).copied().unwrap_or(0)
    }

    /// Merge tracking for a kept command.
    fn note_kept<'a>(&mut self, file: &str, c: &Command<'a>, argv: &mut Vec<&'a [u8]>) {
        if !self.track {
            return;
        }
        if c.is("flushall") {
            self.seen.clear();
            return;
        }
        if c.is("flushdb") {
            let db = c.db;
            self.seen.retain(|_, v| v.0 != db);
            return;
        }
        argv.clear();
        argv.extend(c.args());
        let mut pos = std::mem::take(&mut self.pos);
        if key_positions(argv, &mut pos).is_ok() {
            let del = c.is("del") || c.is("unlink");
            let g = self.gen(c.db);
            let mut merged = false;
            for &p in &pos {
                let Some(key) = argv.get(p) else { continue };
                let h = key_hash(c.db, key);
                if del {
                    self.seen.remove(&h);
                    continue;
                }
                if let Some(&(_, old)) = self.seen.get(&h) {
                    if old < g {
                        merged = true;
                    }
                }
                self.seen.insert(h, (c.db, g));
            }
            if merged {
                self.merge_writes += 1;
                if self.merge_first.is_none() {
                    self.merge_first = Some(Self::cmd_ref(file, c));
                }
            }
        }
        self.pos = pos;
    }

    fn emit_select(
        &self,
        sink: &mut Sink<'_>,
        data: &[u8],
        selects: &[(u64, usize, usize)],
        db: u64,
    ) -> Result<()> {
        match selects.iter().rev().find(|s| s.0 == db) {
            Some(&(_, s, e)) => sink.range(data, s, e),
            None => sink.bytes(data, &select_bytes(db)),
        }
    }

    /// Filters one RESP stream (a file, or the tail after an RDB part).
    #[allow(clippy::too_many_arguments)]
    fn resp(
        &mut self,
        data: &[u8],
        base: u64,
        path: &Path,
        file: &str,
        ts: Option<i64>,
        sink: &mut Sink<'_>,
        summary: &mut FileSummary,
    ) -> Result<Option<i64>> {
        let mut reader = AofReader::with_timestamp(data, base, ts).in_file(path);
        let mut out_db = 0u64;
        // A SELECT was read since the last written command: the next kept command gets one
        // (so that an unfiltered stream is copied byte for byte).
        let mut sel_pending = false;
        let mut selects: Vec<(u64, usize, usize)> = Vec::new();
        let mut txn: Option<Txn> = None;
        let mut argv: Vec<&[u8]> = Vec::new();
        let rel = |x: u64| (x - base) as usize;
        let has_rules = !self.opts.is_noop();
        for item in reader.by_ref() {
            let item = item.map_err(|e| {
                if e.file().is_none() {
                    e.in_file(path)
                } else {
                    e
                }
            })?;
            match item {
                AofItem::Annotation(a) => {
                    let (s, e) = (rel(a.offset), rel(a.end));
                    match txn.as_mut() {
                        Some(t) => t.items.push(TxItem::Annotation(s, e)),
                        None => {
                            // Nothing is removed: a SELECT read before the annotation is
                            // written before it (the output is the input, byte for byte).
                            if !has_rules && sel_pending {
                                if let Some(&(db, ..)) = selects.last() {
                                    self.emit_select(sink, data, &selects, db)?;
                                    out_db = db;
                                    sel_pending = false;
                                }
                            }
                            sink.range(data, s, e)?
                        }
                    }
                }
                AofItem::Command(c) => {
                    summary.commands_in += 1;
                    self.report.commands_in += 1;
                    let (s, e) = (rel(c.offset), rel(c.end));
                    let name = c.name();
                    if let Some(cutter) = self.cutter.as_mut() {
                        use crate::aof::check::SetVisitor as _;
                        let item = AofItem::Command(c.clone());
                        if cutter.item(self.part, &item).is_break() {
                            // Cut before the command (before its MULTI inside a transaction:
                            // the open transaction is not written).
                            self.cut = true;
                            self.report.cut = Some(Self::cmd_ref(file, &c));
                            break;
                        }
                    }
                    // A `SELECT` whose argument is not a database number changes nothing
                    // (Redis replies with an error): it is an ordinary command here, copied
                    // where it stands, never emitted in place of a real `SELECT`.
                    if name.len() == 6
                        && c.is("select")
                        && c.argc() == 2
                        && c.args().nth(1).and_then(parse_db).is_some()
                    {
                        selects.retain(|x| x.0 != c.db);
                        selects.push((c.db, s, e));
                        sel_pending = true;
                        continue;
                    }
                    if name.len() == 5 && c.is("multi") {
                        txn = Some(Txn {
                            start: s,
                            end: e,
                            select_before: sel_pending,
                            db: c.db,
                            items: Vec::new(),
                            kept: 0,
                            dropped: 0,
                        });
                        sel_pending = false;
                        continue;
                    }
                    if name.len() == 4 && c.is("exec") {
                        if let Some(t) = txn.take() {
                            // Only a transaction the filter emptied goes; one that was
                            // empty in the input is kept as it is.
                            if t.kept == 0 && t.dropped > 0 {
                                self.report.transactions_removed += 1;
                                for it in &t.items {
                                    if let TxItem::Annotation(s, e) = *it {
                                        sink.range(data, s, e)?;
                                    }
                                }
                                // SELECTs inside the removed transaction still apply.
                                sel_pending |= t.select_before;
                            } else {
                                self.flush_txn(
                                    &t,
                                    data,
                                    (s, e),
                                    sink,
                                    &selects,
                                    &mut out_db,
                                    summary,
                                )?;
                            }
                        }
                        continue;
                    }
                    let decision = if has_rules && self.in_window(&c) {
                        self.decide(&c, &mut argv, path)?
                    } else {
                        Decision::Keep
                    };
                    match decision {
                        Decision::Drop => {
                            self.note_drop(file, &c);
                            if let Some(t) = txn.as_mut() {
                                t.dropped += 1;
                            }
                        }
                        Decision::Keep => {
                            self.note_kept(file, &c, &mut argv);
                            match txn.as_mut() {
                                Some(t) => {
                                    t.items.push(TxItem::Range(s, e, c.db, sel_pending));
                                    sel_pending = false;
                                    t.kept += 1;
                                }
                                None => {
                                    if sel_pending || c.db != out_db {
                                        sel_pending = false;
                                        self.emit_select(sink, data, &selects, c.db)?;
                                        out_db = c.db;
                                    }
                                    sink.range(data, s, e)?;
                                    summary.commands_out += 1;
                                }
                            }
                        }
                        Decision::Rewrite(bytes) => {
                            self.note_kept(file, &c, &mut argv);
                            match txn.as_mut() {
                                Some(t) => {
                                    t.items.push(TxItem::Bytes(bytes, c.db, sel_pending));
                                    sel_pending = false;
                                    t.kept += 1;
                                }
                                None => {
                                    if sel_pending || c.db != out_db {
                                        sel_pending = false;
                                        self.emit_select(sink, data, &selects, c.db)?;
                                        out_db = c.db;
                                    }
                                    sink.bytes(data, &bytes)?;
                                    summary.commands_out += 1;
                                }
                            }
                        }
                    }
                }
            }
        }
        // Nothing is removed: a SELECT at the end (nothing after it) stays.
        if !has_rules && sel_pending && txn.is_none() && !self.cut {
            if let Some(&(db, ..)) = selects.last() {
                self.emit_select(sink, data, &selects, db)?;
            }
        }
        sink.flush(data)?;
        Ok(reader.state().timestamp)
    }

    /// Writes a transaction that keeps at least one command or was empty in the input.
    #[allow(clippy::too_many_arguments)]
    fn flush_txn(
        &self,
        t: &Txn,
        data: &[u8],
        exec: (usize, usize),
        sink: &mut Sink<'_>,
        selects: &[(u64, usize, usize)],
        out_db: &mut u64,
        summary: &mut FileSummary,
    ) -> Result<()> {
        // The first kept command: with no SELECT inside the transaction before it, it runs
        // in the database of the MULTI; a SELECT goes before MULTI (where Redis ≤ 7.0 puts
        // it) when one was there or the output is in another database.
        let first = t.items.iter().find_map(|it| match *it {
            TxItem::Range(_, _, d, sel) | TxItem::Bytes(_, d, sel) => Some((d, sel)),
            TxItem::Annotation(..) => None,
        });
        match first {
            Some((d, false)) => {
                if t.select_before || d != *out_db {
                    self.emit_select(sink, data, selects, d)?;
                    *out_db = d;
                }
            }
            Some((_, true)) => {}
            // A transaction empty in the input: its SELECT (if any) stays before it.
            None => {
                if t.select_before || t.db != *out_db {
                    self.emit_select(sink, data, selects, t.db)?;
                    *out_db = t.db;
                }
            }
        }
        sink.range(data, t.start, t.end)?;
        summary.commands_out += 1;
        for it in &t.items {
            let (d, sel) = match it {
                TxItem::Annotation(s, e) => {
                    sink.range(data, *s, *e)?;
                    continue;
                }
                TxItem::Range(_, _, d, sel) | TxItem::Bytes(_, d, sel) => (*d, *sel),
            };
            if sel || d != *out_db {
                self.emit_select(sink, data, selects, d)?;
                *out_db = d;
            }
            match it {
                TxItem::Range(s, e, ..) => sink.range(data, *s, *e)?,
                TxItem::Bytes(b, ..) => sink.bytes(data, b)?,
                TxItem::Annotation(..) => {}
            }
            summary.commands_out += 1;
        }
        sink.range(data, exec.0, exec.1)?;
        summary.commands_out += 1;
        Ok(())
    }

    fn finish(mut self) -> FilterReport {
        let mut r = self.report;
        r.dropped = std::mem::take(&mut self.agg)
            .into_iter()
            .map(|((command, db), a)| DroppedCount {
                command,
                db,
                count: a.count,
                first_timestamp: a.first,
                last_timestamp: a.last,
            })
            .collect();
        if self.flushes_removed > 0 {
            r.merge = Some(MergeWarning {
                flushes_removed: self.flushes_removed,
                writes_to_old_keys: self.merge_writes,
                first: self.merge_first,
            });
        }
        r
    }
}

/// A multi-key command with only the kept keys, or `None` when it cannot be split.
fn split(argv: &[&[u8]], pos: &[usize], removed: &[bool]) -> Option<Vec<u8>> {
    let name = argv.first()?;
    let is = |s: &[u8]| name.eq_ignore_ascii_case(s);
    let mut out_args: Vec<&[u8]> = vec![name];
    if is(b"del") || is(b"unlink") || is(b"touch") || is(b"exists") {
        for (i, &p) in pos.iter().enumerate() {
            if !removed.get(i).copied().unwrap_or(true) {
                out_args.push(argv.get(p)?);
            }
        }
    } else if is(b"mset") || is(b"msetnx") {
        for (i, &p) in pos.iter().enumerate() {
            if !removed.get(i).copied().unwrap_or(true) {
                out_args.push(argv.get(p)?);
                out_args.push(argv.get(p + 1)?);
            }
        }
    } else {
        return None;
    }
    let mut out = Vec::new();
    encode_command(&out_args, &mut out);
    Some(out)
}

/// Inserts every key of an RDB part into the merge tracker.
fn track_rdb_keys(engine: &mut Engine<'_>, rdb: &[u8]) {
    for item in crate::rdb::RdbReader::new(rdb) {
        let Ok(item) = item else { break };
        if let crate::rdb::Record::Entry(e) = item.record {
            engine.seen.insert(key_hash(e.db, &e.key), (e.db, 0));
        }
    }
}

/// The end of the RDB part of `data` (after its checksum).
fn rdb_end(data: &[u8], path: &Path) -> Result<(usize, u64)> {
    let opts = crate::rdb::CheckOptions {
        deep: false,
        ..Default::default()
    };
    let report = crate::rdb::check_rdb(data, 0, opts);
    if !report.ok {
        let e = report
            .error
            .unwrap_or_else(|| Error::corrupt(0, "a valid RDB part", "an invalid RDB"));
        return Err(e.in_file(path).with_context("RDB part of the AOF"));
    }
    let end = report.end_offset.unwrap_or(data.len() as u64) as usize;
    Ok((end.min(data.len()), report.keys))
}

/// Filters every file of `set` into `out` (see the module documentation). With
/// [`FilterOutput::Path`], a single AOF becomes one file and a multi-part set a directory with
/// a new manifest (BASE and INCR files under their names; HISTORY files are not copied). The
/// output is written atomically (a temporary name renamed on success); an existing output is
/// refused unless `force`. `progress(bytes_done)` is called as input is consumed.
pub fn filter_set(
    set: &AofSet,
    opts: &FilterOptions,
    out: FilterOutput<'_>,
    force: bool,
    progress: &mut dyn FnMut(u64),
) -> Result<FilterReport> {
    if let Some(kf) = &opts.keys {
        if kf.needs_value_info() {
            return Err(Error::usage(
                "an AOF filter can select keys by database and name only (not by type, size or expiry)",
            ));
        }
    }
    for part in &set.parts {
        if part.size.is_none() {
            return Err(Error::new(ErrorKind::Corrupt {
                expected: "every file listed in the manifest",
                found: "a missing file".into(),
            })
            .in_file(&part.path));
        }
    }
    if let FilterOutput::Path(p) = out {
        set.inputs().check_output(p)?;
    }
    let mut engine = Engine::new(opts);
    engine.report.kind = set.kind.name().to_string();
    if !opts.until_first.is_empty() {
        let names: Vec<String> = opts
            .until_first
            .iter()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .collect();
        let target = crate::aof::pitr::When::BeforeCommand {
            command: names.join(","),
        };
        engine.cutter = Some(crate::aof::pitr::Cutter::new(set, &target.into())?);
    }
    let mut ts = None;
    let mut done = 0u64;
    match (set.kind, out) {
        (_, FilterOutput::DryRun) => {
            for part in &set.parts {
                let mut sink_w = io::sink();
                filter_part(&mut engine, part, &mut sink_w, &mut ts, Path::new("-"))?;
                done += part.size.unwrap_or(0);
                progress(done);
            }
        }
        (AofKind::Aof, FilterOutput::Path(target)) => {
            let mut f = AtomicFile::create(target, force)?;
            let tmp = f.temp_path().to_path_buf();
            {
                let mut w = io::BufWriter::with_capacity(1 << 20, &mut f);
                for part in &set.parts {
                    filter_part(&mut engine, part, &mut w, &mut ts, &tmp)?;
                    done += part.size.unwrap_or(0);
                    progress(done);
                }
                w.flush().map_err(|e| Error::io(&tmp, &e))?;
            }
            f.commit()?;
        }
        (AofKind::MultiPartAof, FilterOutput::Path(target)) => {
            let dir = AtomicDir::create(target, force)?;
            let mut manifest = Manifest::default();
            if let Some(m) = &set.manifest {
                manifest.entries = m
                    .entries
                    .iter()
                    .filter(|e| e.file_type != FileType::History)
                    .cloned()
                    .map(|mut e| {
                        // Redis 8 `startoffset`/`endoffset` describe the replication stream
                        // of the original file, not of the filtered one.
                        e.extra.retain(|(k, _)| {
                            !k.eq_ignore_ascii_case(b"startoffset")
                                && !k.eq_ignore_ascii_case(b"endoffset")
                        });
                        e
                    })
                    .collect();
            }
            for part in &set.parts {
                let name = name_to_os(&part.name);
                let p = dir.path().join(&name);
                let file = dir.create_file(&name)?;
                let mut w = io::BufWriter::with_capacity(1 << 20, file);
                filter_part(&mut engine, part, &mut w, &mut ts, &p)?;
                let file = w.into_inner().map_err(|e| Error::io(&p, e.error()))?;
                file.sync_all().map_err(|e| Error::io(&p, &e))?;
                done += part.size.unwrap_or(0);
                progress(done);
            }
            let mname = set
                .manifest_name()
                .unwrap_or_else(|| "appendonly.aof.manifest".into());
            dir.write_file(&mname, &manifest.to_bytes())?;
            dir.commit()?;
        }
    }
    let mut report = engine.finish();
    report.bytes_in = report.files.iter().map(|f| f.bytes_in).sum();
    report.bytes_out = report.files.iter().map(|f| f.bytes_out).sum();
    Ok(report)
}

fn filter_part(
    engine: &mut Engine<'_>,
    part: &crate::aof::set::AofPart,
    w: &mut dyn Write,
    ts: &mut Option<i64>,
    out_path: &Path,
) -> Result<()> {
    let file = crate::mmap::MappedFile::open(&part.path)?;
    let data = file.bytes();
    let name = part.name_lossy();
    let mut summary = FileSummary {
        name: name.clone(),
        bytes_in: data.len() as u64,
        bytes_out: 0,
        commands_in: 0,
        commands_out: 0,
        rdb: part.rdb,
        rdb_filtered: false,
    };
    let mut sink = Sink {
        w,
        pend: (0, 0),
        written: 0,
        path: out_path.to_path_buf(),
    };
    // Every part filtered so far left its summary.
    engine.part = engine.report.files.len();
    if engine.cut {
        // Everything after the cut point is removed: the file is written empty.
        engine.report.files.push(summary);
        return Ok(());
    }
    let mut start = 0usize;
    if part.rdb {
        let (end, keys) = rdb_end(data, &part.path)?;
        let rdb = data.get(..end).unwrap_or(data);
        // An RDB part without keys (the BASE Redis writes at first start) passes unchanged.
        match engine.opts.key_filter().filter(|_| keys > 0) {
            Some(kf) => {
                let Some(rf) = engine.opts.rdb_filter.as_ref() else {
                    return Err(Error::usage(format!(
                        "{}: the RDB part of this AOF would need the RDB key filter, which is \
                         not available here",
                        part.path.display()
                    )));
                };
                let mut buf = Vec::new();
                let (_, removed) = rf
                    .filter_rdb(rdb, kf, &mut buf)
                    .map_err(|e| e.in_file(&part.path))?;
                engine.report.rdb_keys_removed += removed;
                summary.rdb_filtered = true;
                sink.bytes(data, &buf)?;
                if engine.track {
                    track_rdb_keys(engine, &buf);
                }
            }
            None => {
                sink.range(data, 0, end)?;
                if engine.track {
                    track_rdb_keys(engine, rdb);
                }
            }
        }
        start = end;
    }
    if part.role == PartRole::Base && part.rdb && start >= data.len() {
        sink.flush(data)?;
    } else {
        let tail = data.get(start..).unwrap_or(&[]);
        // Sink ranges are relative to `tail`: flush the RDB part first.
        sink.flush(data)?;
        *ts = engine.resp(
            tail,
            start as u64,
            &part.path,
            &name,
            *ts,
            &mut sink,
            &mut summary,
        )?;
    }
    summary.bytes_out = sink.written;
    engine.report.files.push(summary);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_rule_parse() {
        let r = DropRule::parse("DEL session:*").unwrap();
        assert_eq!(r.command, b"DEL");
        assert!(r.pattern.matches(b"session:1") && !r.pattern.matches(b"user:1"));
        let r = DropRule::parse("  FLUSHALL ").unwrap();
        assert!(r.pattern.matches_all());
        assert!(DropRule::parse("  ").is_err());
    }

    #[test]
    fn split_multikey() {
        let argv: Vec<&[u8]> = vec![b"DEL", b"a", b"b", b"c"];
        let got = split(&argv, &[1, 2, 3], &[false, true, false]).unwrap();
        assert_eq!(got, b"*3\r\n$3\r\nDEL\r\n$1\r\na\r\n$1\r\nc\r\n");
        let argv: Vec<&[u8]> = vec![b"MSET", b"a", b"1", b"b", b"2"];
        let got = split(&argv, &[1, 3], &[true, false]).unwrap();
        assert_eq!(got, b"*3\r\n$4\r\nMSET\r\n$1\r\nb\r\n$1\r\n2\r\n");
        let argv: Vec<&[u8]> = vec![b"RENAME", b"a", b"b"];
        assert!(split(&argv, &[1, 2], &[true, false]).is_none());
    }
}
