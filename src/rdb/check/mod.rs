//! The RDB checker: walks every record, validates every value to the level of Redis's
//! `sanitize-dump-payload yes`, verifies the CRC-64 (on a second core for large files) and
//! summarises what the file holds.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::error::{Error, ErrorKind, Result};
use crate::rdb::encoding::Elem;
use crate::rdb::model::{ModuleValue, StreamId, ValueType};
use crate::rdb::reader::{Header, RdbReader, Record, Visited};
use crate::rdb::value::{ArrayItem, DecodeOptions, Scratch, ValueVisitor};

mod parts;

/// Options for [`check_rdb`].
#[derive(Debug, Clone, Copy)]
pub struct CheckOptions {
    /// Deep validation (default on, as redis-check-rdb).
    pub deep: bool,
    /// Verify the CRC-64 trailer (default on).
    pub verify_checksum: bool,
    /// "Now" in unix ms, for counting already-expired keys (default: the system clock).
    pub now_ms: Option<i64>,
    /// Threads for parsing and validating (default 0: one per core, at most 4; at most
    /// [`MAX_THREADS`]: more are taken as that many).
    pub threads: usize,
    /// Files at least this large (default 16 MiB) are split into parts (up to 8 per thread,
    /// each at least a quarter of this size) at speculatively found record boundaries
    /// ([`crate::rdb::split`]); threads take the next part not yet started, parse and
    /// validate it, and a part is confirmed when the part before it ends exactly at its
    /// start. Smaller files (and files with no boundary found) are parsed on one thread while
    /// the others validate values. The report is the same either way.
    pub split_min_bytes: u64,
}

/// The most threads [`CheckOptions::threads`] can ask for.
pub const MAX_THREADS: usize = 256;

/// The default [`CheckOptions::split_min_bytes`].
pub const SPLIT_MIN_BYTES: u64 = 16 << 20;

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            deep: true,
            verify_checksum: true,
            now_ms: None,
            threads: 0,
            split_min_bytes: SPLIT_MIN_BYTES,
        }
    }
}

/// The state of the checksum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ChecksumStatus {
    /// Stored and equal to the computed value.
    Verified {
        /// The checksum.
        crc: u64,
    },
    /// Stored as 0: the server had `rdbchecksum no`.
    NotComputed,
    /// Versions before 5 have no checksum.
    Absent,
    /// Verification was turned off.
    Skipped,
    /// The stored value differs from the computed one.
    Mismatch {
        /// Stored value.
        stored: u64,
        /// Computed value.
        computed: u64,
    },
    /// The end of the file was not reached.
    NotReached,
}

/// Per-database counts.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DbStats {
    /// Keys.
    pub keys: u64,
    /// Keys with an expiry.
    pub expires: u64,
    /// Keys per logical type.
    pub types: BTreeMap<&'static str, u64>,
    /// Keys per encoding (type byte name).
    pub encodings: BTreeMap<&'static str, u64>,
}

/// The number of databases a Redis or Valkey server has by default (`databases 16`); a file
/// with a higher database number only loads into a server configured with more.
pub const DEFAULT_DATABASES: u64 = 16;

/// What [`check_rdb`] found.
#[derive(Debug, Clone, Serialize)]
pub struct RdbReport {
    /// True when the file is valid.
    pub ok: bool,
    /// Dialect and version, once read.
    pub header: Option<Header>,
    /// AUX fields in file order (lossy UTF-8).
    pub aux: Vec<(String, String)>,
    /// Per-database counts.
    pub dbs: BTreeMap<u64, DbStats>,
    /// Total keys.
    pub keys: u64,
    /// Keys with an expiry.
    pub expires: u64,
    /// Keys whose expiry is already in the past.
    pub already_expired: u64,
    /// Hashes with at least one field TTL.
    pub subexpires: u64,
    /// Empty collections (Redis skips them on load).
    pub empty_keys: u64,
    /// Function libraries (their `#!engine name=...` first line).
    pub functions: Vec<String>,
    /// Module names (from module values and module AUX).
    pub modules: BTreeSet<String>,
    /// Checksum verdict.
    pub checksum: ChecksumStatus,
    /// Offset of the EOF opcode.
    pub eof_offset: Option<u64>,
    /// Offset just past the checksum: where an AOF tail would start.
    pub end_offset: Option<u64>,
    /// Bytes after the checksum (ignored by Redis).
    pub trailing_bytes: u64,
    /// Size of the input.
    pub size: u64,
    /// The first error, if the file is damaged.
    #[serde(skip)]
    pub error: Option<Error>,
    /// How many parts the file was checked in, each on its own thread (1: one pass; see
    /// [`CheckOptions::split_min_bytes`]). Not part of the JSON report: the verdict and the
    /// counts do not depend on it.
    #[serde(skip)]
    pub parts: usize,
}

impl RdbReport {
    /// A report on `size` bytes with nothing found yet.
    fn empty(size: u64) -> Self {
        RdbReport {
            ok: false,
            header: None,
            aux: Vec::new(),
            dbs: BTreeMap::new(),
            keys: 0,
            expires: 0,
            already_expired: 0,
            subexpires: 0,
            empty_keys: 0,
            functions: Vec::new(),
            modules: BTreeSet::new(),
            checksum: ChecksumStatus::NotReached,
            eof_offset: None,
            end_offset: None,
            trailing_bytes: 0,
            size,
            error: None,
            parts: 1,
        }
    }

    /// Things that do not make the file damaged but that an operator should know before
    /// loading it: database numbers a default server refuses (it exits with "FATAL: Data file
    /// was created with a Redis server configured to handle more than 16 databases"), empty
    /// collections (skipped on load) and bytes after the checksum (ignored).
    pub fn warnings(&self) -> Vec<String> {
        let mut w = Vec::new();
        if let Some(max) = self
            .dbs
            .keys()
            .copied()
            .filter(|&d| d >= DEFAULT_DATABASES)
            .max()
        {
            w.push(format!(
                "database {max} is used: a server with the default `databases {DEFAULT_DATABASES}` \
                 refuses to load this file; start it with `databases {}` or more",
                max.saturating_add(1)
            ));
        }
        if self.empty_keys > 0 {
            w.push(format!(
                "{} empty collections: Redis skips them on load",
                self.empty_keys
            ));
        }
        if self.trailing_bytes > 0 {
            w.push(format!(
                "{} bytes after the checksum (ignored by Redis)",
                self.trailing_bytes
            ));
        }
        w
    }
}

/// Counts elements to detect empty collections and hash field TTLs.
#[derive(Default)]
struct Counter {
    elems: u64,
    field_ttls: u64,
}

impl ValueVisitor for Counter {
    fn begin(&mut self, _ty: ValueType, _t: u8, _n: Option<u64>) -> Result<()> {
        self.elems = 0;
        self.field_ttls = 0;
        Ok(())
    }
    fn string(&mut self, _v: Elem<'_>) -> Result<()> {
        self.elems += 1;
        Ok(())
    }
    fn wants_values(&self) -> bool {
        false
    }
    fn list_item(&mut self, _i: Elem<'_>) -> Result<()> {
        self.elems += 1;
        Ok(())
    }
    fn set_member(&mut self, _m: Elem<'_>) -> Result<()> {
        self.elems += 1;
        Ok(())
    }
    fn zset_member(&mut self, _m: Elem<'_>, _s: f64) -> Result<()> {
        self.elems += 1;
        Ok(())
    }
    fn hash_field(&mut self, _f: Elem<'_>, _v: Elem<'_>, e: Option<u64>) -> Result<()> {
        self.elems += 1;
        self.field_ttls += e.is_some() as u64;
        Ok(())
    }
    fn stream_entry(&mut self, _id: StreamId, _f: &[Elem<'_>], _v: &[Elem<'_>]) -> Result<()> {
        Ok(())
    }
    fn array_item(&mut self, _i: u64, _v: ArrayItem<'_>) -> Result<()> {
        self.elems += 1;
        Ok(())
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Checks an in-memory RDB (or the RDB at the start of `data`, e.g. an AOF preamble, when
/// `data` continues after the checksum). `base` is the file offset of `data[0]`.
pub fn check_rdb(data: &[u8], base: u64, opts: CheckOptions) -> RdbReport {
    check_rdb_with_progress(data, base, opts, &mut |_| {})
}

/// [`check_rdb`], calling `progress(bytes_done)` every few megabytes.
pub fn check_rdb_with_progress(
    data: &[u8],
    base: u64,
    opts: CheckOptions,
    progress: &mut dyn FnMut(u64),
) -> RdbReport {
    let now_ms = opts.now_ms.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    });
    let mut report = RdbReport::empty(data.len() as u64);
    // Guess that the file ends with the checksum and compute the CRC of everything before it
    // on another core while parsing. If the guess is wrong, compute the right range after.
    let parallel = opts.verify_checksum && data.len() > (1 << 20);
    std::thread::scope(|s| {
        let crc = crate::rdb::crc::EofCrc::start(s, data, parallel);
        let result = walk(data, base, opts, now_ms, &mut report, progress, false);
        match result {
            Err(e) => {
                // Threads validate ahead of (or behind) the damaged value, so the counts of a
                // parallel walk depend on timing: count again on this thread alone, up to the
                // damage, so that the report is the same with any number of threads.
                let mut serial = RdbReport::empty(data.len() as u64);
                let again = walk(data, base, opts, now_ms, &mut serial, &mut |_| {}, true);
                report = serial;
                report.error = Some(again.err().unwrap_or(e));
            }
            Ok(stored) => {
                let eof = report.eof_offset.map(|o| (o - base) as usize);
                report.checksum = match (stored, eof) {
                    (None, _) => ChecksumStatus::Absent,
                    (Some(0), _) => ChecksumStatus::NotComputed,
                    (Some(_), _) if !opts.verify_checksum => ChecksumStatus::Skipped,
                    (Some(stored), Some(eof)) => {
                        let computed = crc.finish(eof);
                        if computed == stored {
                            ChecksumStatus::Verified { crc: stored }
                        } else {
                            report.error = Some(
                                Error::new(ErrorKind::ChecksumMismatch { stored, computed })
                                    .at(base + eof as u64 + 1),
                            );
                            ChecksumStatus::Mismatch { stored, computed }
                        }
                    }
                    (Some(_), None) => ChecksumStatus::NotReached,
                };
            }
        }
    });
    report.ok = report.error.is_none();
    report
}

/// Per-worker statistics, kept in flat arrays on the hot path and merged at the end.
#[derive(Default)]
struct Tally {
    /// db → index into `per_db`.
    db_index: BTreeMap<u64, usize>,
    per_db: Vec<DbTally>,
    already_expired: u64,
    subexpires: u64,
    empty_keys: u64,
    modules: BTreeSet<String>,
}

struct DbTally {
    db: u64,
    keys: u64,
    expires: u64,
    by_type_byte: [u64; 256],
}

impl Tally {
    #[inline]
    fn db(&mut self, db: u64, hint: &mut usize) -> &mut DbTally {
        if *hint >= self.per_db.len() || self.per_db[*hint].db != db {
            let next = self.per_db.len();
            *hint = *self.db_index.entry(db).or_insert(next);
            if *hint == next {
                self.per_db.push(DbTally {
                    db,
                    keys: 0,
                    expires: 0,
                    by_type_byte: [0; 256],
                });
            }
        }
        &mut self.per_db[*hint]
    }

    /// Moves every count to database `db` (the keys of a part read before its first SELECTDB
    /// are all in one database, known once the part before is confirmed).
    fn rename_db(&mut self, db: u64) {
        for d in &mut self.per_db {
            d.db = db;
        }
        self.db_index.clear();
    }

    fn merge_into(self, report: &mut RdbReport, dialect: crate::rdb::Dialect) {
        for d in self.per_db {
            let s = report.dbs.entry(d.db).or_default();
            s.keys += d.keys;
            s.expires += d.expires;
            report.keys += d.keys;
            report.expires += d.expires;
            for (t, &n) in d.by_type_byte.iter().enumerate() {
                if n == 0 {
                    continue;
                }
                let t = t as u8;
                let ty = crate::rdb::value::value_type_of(dialect, t).unwrap_or(ValueType::Module);
                *s.types.entry(ty.name()).or_default() += n;
                let enc = crate::rdb::format::type_name(dialect, t).unwrap_or("unknown");
                *s.encodings.entry(enc).or_default() += n;
            }
        }
        report.already_expired += self.already_expired;
        report.subexpires += self.subexpires;
        report.empty_keys += self.empty_keys;
        report.modules.extend(self.modules);
    }
}

/// One key handed from the parsing thread to a validating worker.
struct Job<'a> {
    db: u64,
    key: std::borrow::Cow<'a, [u8]>,
    expire_ms: Option<i64>,
    value: crate::rdb::reader::ValueHandle<'a>,
}

const BATCH: usize = 2048;

/// Validates a batch; returns the index and error of the first bad value.
fn validate_batch(
    jobs: &[Job<'_>],
    tally: &mut Tally,
    scratch: &mut Scratch,
    counter: &mut Counter,
    dopts: DecodeOptions,
    now_ms: i64,
) -> Option<(usize, Error)> {
    let mut hint = usize::MAX;
    for (i, j) in jobs.iter().enumerate() {
        if let Err(e) = validate_one(
            j.db,
            &j.key,
            j.expire_ms,
            &j.value,
            Visited::No,
            tally,
            &mut hint,
            scratch,
            counter,
            dopts,
            now_ms,
        ) {
            return Some((i, e));
        }
    }
    None
}

/// Validates one value (unless `visited` says the reader already did) and counts it.
#[inline]
#[allow(clippy::too_many_arguments)]
fn validate_one(
    db: u64,
    key: &[u8],
    expire_ms: Option<i64>,
    v: &crate::rdb::reader::ValueHandle<'_>,
    visited: Visited,
    tally: &mut Tally,
    hint: &mut usize,
    scratch: &mut Scratch,
    counter: &mut Counter,
    dopts: DecodeOptions,
    now_ms: i64,
) -> Result<()> {
    let r = match visited {
        Visited::No => v.visit(counter, scratch, dopts),
        Visited::Ok => Ok(()),
        Visited::Err(e) => Err(e),
    };
    if let Err(err) = r {
        return Err(err
            .with_key(Some(db), key)
            .with_context(format!("{} value", v.encoding_name())));
    }
    let ty = v.value_type();
    if ty == ValueType::Module {
        if let Ok(crate::rdb::Value::Module(ModuleValue { name, .. })) = v.materialize() {
            tally.modules.insert(name);
        }
    }
    if counter.elems == 0
        && !matches!(
            ty,
            ValueType::Stream | ValueType::Module | ValueType::String
        )
    {
        tally.empty_keys += 1;
        return Ok(());
    }
    if counter.field_ttls > 0 {
        tally.subexpires += 1;
    }
    if let Some(x) = expire_ms {
        if x < now_ms {
            tally.already_expired += 1;
        }
    }
    let d = tally.db(db, hint);
    d.keys += 1;
    d.by_type_byte[v.type_byte() as usize] += 1;
    d.expires += expire_ms.is_some() as u64;
    Ok(())
}

/// What [`note_record`] leaves to its caller.
enum Noted<'a> {
    /// A key.
    Entry(crate::rdb::reader::Entry<'a>),
    /// The end, with the stored checksum.
    Eof(Option<u64>),
    /// Anything else (already noted).
    Other,
}

/// Notes every record but keys in `report` (header, AUX fields, databases, functions,
/// modules, where the file ends).
fn note_record<'a>(
    report: &mut RdbReport,
    reader: &RdbReader<'a>,
    record: Record<'a>,
) -> Noted<'a> {
    match record {
        Record::Header(h) => report.header = Some(h),
        Record::Aux { key, value } => report.aux.push((lossy(&key), lossy(&value))),
        Record::SelectDb(db) => {
            report.dbs.entry(db).or_default();
        }
        Record::Function { code } => {
            let first = code.split(|&c| c == b'\n').next().unwrap_or(&[]);
            report.functions.push(lossy(first));
        }
        Record::FunctionPreGa { name, .. } => report.functions.push(lossy(&name)),
        Record::ModuleAux { name, .. } => {
            report.modules.insert(name);
        }
        Record::Entry(e) => return Noted::Entry(e),
        Record::Eof { checksum, trailing } => {
            report.eof_offset = reader.eof_offset();
            report.end_offset = reader.end_offset();
            report.trailing_bytes = trailing;
            return Noted::Eof(checksum);
        }
        Record::ResizeDb { .. } | Record::SlotInfo { .. } | Record::SlotImport { .. } => {}
    }
    Noted::Other
}

/// How many parts a file of `len` bytes is split into for `threads` threads: several per
/// thread (parts are handed out to whichever thread is free, so uneven parts even out), each
/// at least a quarter of `split_min_bytes` (4 MiB by default).
fn part_count(len: usize, threads: usize, split_min_bytes: u64) -> usize {
    let min_part = (split_min_bytes / 4).max(1);
    let fit = (len as u64 / min_part).min(usize::MAX as u64) as usize;
    (threads * PARTS_PER_THREAD).min(fit).max(threads)
}

/// Parts per thread when a file is split (see [`part_count`]).
const PARTS_PER_THREAD: usize = 8;

/// Where to split a file of `len` bytes into `parts` parts for `threads` threads: sizes
/// decrease geometrically, so that the parts still running when the others are done are short
/// ones (with equal parts, one thread was often left finishing a whole part alone). The last
/// part is a sixteenth of the first, unless that would shrink parts faster than by
/// 1 - 1/(2 × threads) each: the parts after any one must still add up to enough work for the
/// other threads while it runs.
fn split_points(len: usize, parts: usize, threads: usize) -> Vec<usize> {
    if parts < 2 {
        return Vec::new();
    }
    let ratio = (1.0f64 / 16.0)
        .powf(1.0 / (parts - 1) as f64)
        .max(1.0 - 1.0 / (2 * threads.max(1)) as f64);
    let total: f64 = (0..parts).map(|k| ratio.powi(k as i32)).sum();
    let mut sum = 0.0;
    (0..parts - 1)
        .map(|k| {
            sum += ratio.powi(k as i32);
            ((len as f64 * sum / total) as usize).min(len)
        })
        .collect()
}

/// The number of threads to use: `opts.threads`, or one per core (at most 4).
fn thread_count(opts: &CheckOptions) -> usize {
    // Asked once per process: the answer reads cgroup files, which costs more than checking
    // a small file.
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    match opts.threads {
        0 => *CORES.get_or_init(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .clamp(1, 4)
        }),
        n => n.min(MAX_THREADS),
    }
}

/// Walks the file; returns the stored checksum (None before v5). A large file is split
/// between threads at speculative record boundaries ([`parts::walk_parts`]); otherwise values are
/// validated on worker threads in batches while this thread parses records.
///
/// With `serial`, every value is validated on this thread in file order and the walk stops
/// at the first damage: the counts are exactly those of the records before it.
fn walk(
    data: &[u8],
    base: u64,
    opts: CheckOptions,
    now_ms: i64,
    report: &mut RdbReport,
    progress: &mut dyn FnMut(u64),
    serial: bool,
) -> Result<Option<u64>> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{mpsc, Arc, Mutex};

    let dopts = DecodeOptions { deep: opts.deep };
    let workers = if serial { 1 } else { thread_count(&opts) };
    if workers >= 2 && data.len() as u64 >= opts.split_min_bytes {
        if let Ok(header) = Header::parse(data, base) {
            let bounds = crate::rdb::split::candidate_boundaries_at(
                data,
                base,
                header,
                &split_points(
                    data.len(),
                    part_count(data.len(), workers, opts.split_min_bytes),
                    workers,
                ),
            );
            if !bounds.is_empty() {
                if let Some(r) = parts::walk_parts(
                    data, base, header, &bounds, workers, dopts, now_ms, report, progress,
                ) {
                    return r;
                }
            }
        }
    }
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        // Bounded queue: memory stays at a few batches of handles whatever the file size.
        let (tx, rx) = mpsc::sync_channel::<(usize, Vec<Job<'_>>)>(workers * 2);
        let rx = Arc::new(Mutex::new(rx));
        // Workers start with the first full batch: a file with fewer keys than a batch is
        // validated on this thread, without starting any.
        let mut handles = Vec::new();
        let spawn_workers = |handles: &mut Vec<_>| {
            for _ in 0..workers {
                let rx = Arc::clone(&rx);
                let stop = &stop;
                handles.push(s.spawn(move || {
                    let mut tally = Tally::default();
                    let mut scratch = Scratch::default();
                    let mut counter = Counter::default();
                    let mut first_err: Option<(usize, usize, Error)> = None;
                    loop {
                        let msg = match rx.lock() {
                            Ok(r) => r.recv(),
                            Err(_) => break,
                        };
                        let Ok((seq, jobs)) = msg else { break };
                        if first_err.is_some() {
                            continue;
                        }
                        if let Some((i, e)) = validate_batch(
                            &jobs,
                            &mut tally,
                            &mut scratch,
                            &mut counter,
                            dopts,
                            now_ms,
                        ) {
                            first_err = Some((seq, i, e));
                            stop.store(true, Ordering::Relaxed);
                        }
                    }
                    (tally, first_err)
                }));
            }
        };

        let mut reader = RdbReader::with_base(data, base);
        let mut main_tally = Tally::default();
        let mut main_hint = usize::MAX;
        let mut main_scratch = Scratch::default();
        let mut main_counter = Counter::default();
        let mut batch: Vec<Job<'_>> = Vec::new();
        let mut seq = 0usize;
        let mut next_progress = 8u64 << 20;
        let mut parse_result: Result<Option<u64>> = Err(Error::truncated(
            base + data.len() as u64,
            "the EOF opcode",
            1,
        ));
        while let Some(item) = reader.next() {
            let item = match item {
                Ok(i) => i,
                Err(e) => {
                    parse_result = Err(e);
                    break;
                }
            };
            match note_record(report, &reader, item.record) {
                Noted::Other => {}
                Noted::Eof(checksum) => parse_result = Ok(checksum),
                Noted::Entry(e) => {
                    let job = Job {
                        db: e.db,
                        key: e.key,
                        expire_ms: e.expire_ms,
                        value: e.value,
                    };
                    if serial || job.value.type_byte() == crate::rdb::format::T_STRING {
                        // Strings are checked here: cheaper than handing them over. An error
                        // lies after every value already queued, like a parse error. (A
                        // serial walk queues nothing.)
                        if let Err(e) = validate_one(
                            job.db,
                            &job.key,
                            job.expire_ms,
                            &job.value,
                            Visited::No,
                            &mut main_tally,
                            &mut main_hint,
                            &mut main_scratch,
                            &mut main_counter,
                            dopts,
                            now_ms,
                        ) {
                            parse_result = Err(e);
                            break;
                        }
                        continue;
                    }
                    batch.push(job);
                    if batch.len() == BATCH {
                        if stop.load(Ordering::Relaxed) {
                            batch.clear();
                            break;
                        }
                        if handles.is_empty() {
                            spawn_workers(&mut handles);
                        }
                        let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                        if tx.send((seq, full)).is_err() {
                            break;
                        }
                        seq += 1;
                        let done = reader.offset() - base;
                        if done >= next_progress {
                            progress(done);
                            next_progress = done + (8 << 20);
                        }
                    }
                }
            }
        }
        let mut value_err: Option<(usize, usize, Error)> = None;
        let dialect = report
            .header
            .map(|h| h.dialect)
            .unwrap_or(crate::rdb::Dialect::Redis);
        if handles.is_empty() {
            value_err = validate_batch(
                &batch,
                &mut main_tally,
                &mut main_scratch,
                &mut main_counter,
                dopts,
                now_ms,
            )
            .map(|(i, e)| (seq, i, e));
        } else if !batch.is_empty() {
            let _ = tx.send((seq, batch));
        }
        drop(tx);
        main_tally.merge_into(report, dialect);
        for h in handles {
            // A panic while validating must not turn into a verdict: pass it on.
            let (tally, err) = h.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
            tally.merge_into(report, dialect);
            if let Some(e) = err {
                if value_err.as_ref().is_none_or(|v| (e.0, e.1) < (v.0, v.1)) {
                    value_err = Some(e);
                }
            }
        }
        progress(data.len() as u64);
        // A value error always lies before any parse error (the value was parsed first).
        match value_err {
            Some((_, _, e)) => Err(e),
            None => parse_result,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::split_points;

    /// Part sizes from the split points of a `len`-byte file.
    fn sizes(len: usize, parts: usize, threads: usize) -> Vec<usize> {
        let mut points = split_points(len, parts, threads);
        points.insert(0, 0);
        points.push(len);
        points.windows(2).map(|w| w[1] - w[0]).collect()
    }

    #[test]
    fn split_points_shrink_towards_the_end_and_cover_the_file() {
        let len = 500_000_000;
        let s = sizes(len, 16, 2);
        assert_eq!(s.len(), 16);
        assert_eq!(s.iter().sum::<usize>(), len);
        assert!(s.windows(2).all(|w| w[0] >= w[1]), "{s:?}");
        let ratio = s[0] as f64 / s[15] as f64;
        assert!((15.0..17.0).contains(&ratio), "{s:?}");
    }

    #[test]
    fn few_parts_shrink_no_faster_than_the_threads_allow() {
        // 4 parts for 2 threads: each part at least 3/4 of the one before it.
        let s = sizes(16 << 20, 4, 2);
        assert!(s.windows(2).all(|w| w[1] * 4 >= w[0] * 3 - 4), "{s:?}");
        assert_eq!(split_points(1000, 1, 2), Vec::<usize>::new());
        // Tiny files: points stay inside the file and never decrease.
        let p = split_points(10, 16, 2);
        assert!(p.windows(2).all(|w| w[0] <= w[1]) && p.iter().all(|&x| x <= 10));
    }
}
