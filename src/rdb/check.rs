//! The RDB checker: walks every record, validates every value to the level of Redis's
//! `sanitize-dump-payload yes`, verifies the CRC-64 (on a second core for large files) and
//! summarises what the file holds.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::error::{Error, ErrorKind, Result};
use crate::rdb::encoding::Elem;
use crate::rdb::model::{ModuleValue, StreamId, ValueType};
use crate::rdb::reader::{Header, RdbReader, Record};
use crate::rdb::value::{ArrayItem, DecodeOptions, Scratch, ValueVisitor};

/// Options for [`check_rdb`].
#[derive(Debug, Clone, Copy)]
pub struct CheckOptions {
    /// Deep validation (default on, as redis-check-rdb).
    pub deep: bool,
    /// Verify the CRC-64 trailer (default on).
    pub verify_checksum: bool,
    /// "Now" in unix ms, for counting already-expired keys (default: the system clock).
    pub now_ms: Option<i64>,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            deep: true,
            verify_checksum: true,
            now_ms: None,
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
    let mut report = RdbReport {
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
        size: data.len() as u64,
        error: None,
    };
    // Guess that the file ends with the checksum and compute the CRC of everything before it
    // on another core while parsing. If the guess is wrong, compute the right range after.
    let parallel = opts.verify_checksum && data.len() > (1 << 20);
    std::thread::scope(|s| {
        let guess_end = data.len().saturating_sub(8);
        let crc_thread = parallel.then(|| {
            s.spawn(move || crate::rdb::crc::crc64(data.get(..guess_end).unwrap_or(&[])))
        });
        let result = walk(data, base, opts, now_ms, &mut report, progress);
        match result {
            Err(e) => {
                report.error = Some(e);
            }
            Ok(stored) => {
                let eof = report.eof_offset.map(|o| (o - base) as usize);
                report.checksum = match (stored, eof) {
                    (None, _) => ChecksumStatus::Absent,
                    (Some(0), _) => ChecksumStatus::NotComputed,
                    (Some(_), _) if !opts.verify_checksum => ChecksumStatus::Skipped,
                    (Some(stored), Some(eof)) => {
                        let computed = match crc_thread {
                            Some(t) if eof + 1 == guess_end => t.join().unwrap_or(0),
                            _ => crate::rdb::crc::crc64(data.get(..=eof).unwrap_or(&[])),
                        };
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

/// Walks the file; returns the stored checksum (None before v5).
fn walk(
    data: &[u8],
    base: u64,
    opts: CheckOptions,
    now_ms: i64,
    report: &mut RdbReport,
    progress: &mut dyn FnMut(u64),
) -> Result<Option<u64>> {
    let mut reader = RdbReader::with_base(data, base);
    let mut scratch = Scratch::default();
    let mut counter = Counter::default();
    let dopts = DecodeOptions { deep: opts.deep };
    let mut next_progress = 8u64 << 20;
    while let Some(item) = reader.next() {
        let item = item?;
        match item.record {
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
            Record::Entry(e) => {
                let v = e.value;
                if let Err(err) = v.visit(&mut counter, &mut scratch, dopts) {
                    return Err(err
                        .with_key(Some(e.db), &e.key)
                        .with_context(format!("{} value", v.encoding_name())));
                }
                let ty = v.value_type();
                if ty == ValueType::Module {
                    if let Ok(crate::rdb::Value::Module(ModuleValue { name, .. })) =
                        v.materialize()
                    {
                        report.modules.insert(name);
                    }
                }
                let empty = counter.elems == 0
                    && !matches!(ty, ValueType::Stream | ValueType::Module | ValueType::String);
                if empty {
                    report.empty_keys += 1;
                    continue;
                }
                let db = report.dbs.entry(e.db).or_default();
                db.keys += 1;
                *db.types.entry(ty.name()).or_default() += 1;
                *db.encodings.entry(v.encoding_name()).or_default() += 1;
                report.keys += 1;
                if counter.field_ttls > 0 {
                    report.subexpires += 1;
                }
                if let Some(x) = e.expire_ms {
                    db.expires += 1;
                    report.expires += 1;
                    if x < now_ms {
                        report.already_expired += 1;
                    }
                }
                let done = reader.offset() - base;
                if done >= next_progress {
                    progress(done);
                    next_progress = done + (8 << 20);
                }
            }
            Record::Eof { checksum, trailing } => {
                report.eof_offset = reader.eof_offset();
                report.end_offset = reader.end_offset();
                report.trailing_bytes = trailing;
                progress(data.len() as u64);
                return Ok(checksum);
            }
            Record::ResizeDb { .. } | Record::SlotInfo { .. } | Record::SlotImport { .. } => {}
        }
    }
    Err(Error::truncated(reader.offset(), "the EOF opcode", 1))
}
