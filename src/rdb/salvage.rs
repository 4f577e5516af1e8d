//! Salvage: write every key that can still be decoded from a damaged RDB into a valid RDB.
//!
//! The input is walked record by record; every value is fully decoded (deep validation, as
//! redis-check-rdb). A record that fails is skipped, and reading resumes at the next
//! plausible record boundary: the first offset from which several consecutive records decode
//! (non-empty, not-yet-seen keys, valid values) or where the file's EOF and checksum sit. The
//! bytes in between are reported as a lost range, with the key of the failing record when its
//! name could still be read. A torn tail is a lost range up to the end of the file; a bad
//! checksum with every record intact is reported as such (some value may hold a flipped byte
//! that no structure check can see). The output has the input's dialect and version, keeps
//! AUX fields, functions and module AUX records, never holds a key twice in a database, and
//! ends with a fresh checksum.

use std::collections::HashSet;
use std::io::Write;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::rdb::encode::collection::Target;
use crate::rdb::encoding::hash_bytes;
use crate::rdb::format::*;
use crate::rdb::reader::{Header, Item, RdbReader, Record};
use crate::rdb::value::Scratch;
use crate::rdb::writer::{EntryMeta, EntryOutcome, RdbWriter, WriterOptions};

/// How many records must decode after a candidate boundary before reading resumes there.
pub const LOOKAHEAD_RECORDS: usize = 16;

/// Longest key accepted while probing a boundary: a length prefix read from the middle of
/// damaged data easily claims kilobytes and swallows real records as a "key".
pub const MAX_RESYNC_KEY: usize = 1024;

/// A byte range that could not be decoded.
#[derive(Debug, Clone, Serialize)]
pub struct LostRange {
    /// First byte lost.
    pub start: u64,
    /// One past the last byte lost.
    pub end: u64,
    /// The key of the record that failed, when its name was readable.
    #[serde(skip)]
    pub key: Option<Vec<u8>>,
    /// Its database, when known.
    pub db: Option<u64>,
    /// Why decoding failed there.
    pub reason: String,
}

/// What salvage did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SalvageReport {
    /// Dialect and version used (from the magic, or guessed when the magic is damaged).
    pub header: Option<Header>,
    /// True when the magic was damaged and the format was guessed.
    pub header_guessed: bool,
    /// Keys written.
    pub keys_recovered: u64,
    /// Byte ranges skipped, in file order.
    pub lost: Vec<LostRange>,
    /// Keys skipped because the same key was already written in that database.
    pub duplicates_skipped: Vec<(u64, Vec<u8>)>,
    /// Empty collections not written.
    pub empty_skipped: u64,
    /// True when the input's EOF record was found.
    pub eof_found: bool,
    /// Stored and computed checksum when they differ (`None` when they match, are absent or
    /// the EOF was not found).
    pub checksum_mismatch: Option<(u64, u64)>,
    /// Input size.
    pub bytes_in: u64,
    /// Output size.
    pub bytes_out: u64,
}

impl SalvageReport {
    /// True when nothing was wrong with the input.
    pub fn intact(&self) -> bool {
        self.lost.is_empty()
            && self.checksum_mismatch.is_none()
            && self.eof_found
            && !self.header_guessed
    }
}

struct Ctx<'a> {
    data: &'a [u8],
    header: Header,
    scratch: Scratch,
    /// Keys read so far, and how many of them were text (UTF-8 without control bytes).
    keys_seen: u64,
    keys_text: u64,
}

/// UTF-8 without control characters: what nearly every real key looks like, and what bytes
/// from the middle of a ziplist or a length-prefixed list rarely look like.
fn is_text(k: &[u8]) -> bool {
    std::str::from_utf8(k).is_ok_and(|s| !s.chars().any(|c| c.is_control()))
}

/// One decoded record and where the next one starts.
struct Step<'a> {
    item: Item<'a>,
    end: usize,
    db: u64,
}

impl<'a> Ctx<'a> {
    /// Decodes the record at `pos` with database `db`, validating values deeply.
    fn step(&mut self, pos: usize, db: u64) -> Result<Step<'a>> {
        let mut r = RdbReader::resume_at(self.data, pos, self.header, db);
        let item = match r.next() {
            Some(Ok(i)) => i,
            Some(Err(e)) => return Err(e),
            None => return Err(Error::truncated(pos as u64, "a record", 1)),
        };
        if let Record::Entry(e) = &item.record {
            e.value
                .validate(&mut self.scratch)
                .map_err(|err| err.with_key(Some(e.db), &e.key))?;
        }
        Ok(Step {
            end: r.offset() as usize,
            db: r.db(),
            item,
        })
    }

    /// True when the EOF at `pos` is where a file of this version ends.
    fn eof_at_end(&self, pos: usize) -> bool {
        let tail = if self.header.has_checksum() { 9 } else { 1 };
        self.data.get(pos) == Some(&OP_EOF) && pos + tail == self.data.len()
    }

    /// True when `pos` starts a run of plausible records.
    fn plausible_boundary(&mut self, pos: usize, db: u64, seen: &HashSet<(u64, u128)>) -> bool {
        if self.eof_at_end(pos) {
            return true;
        }
        let mut p = pos;
        let mut d = db;
        let mut keys: HashSet<(u64, u128)> = HashSet::new();
        for _ in 0..LOOKAHEAD_RECORDS {
            if self.eof_at_end(p) {
                return true;
            }
            let s = match self.step(p, d) {
                Ok(s) => s,
                Err(_) => return false,
            };
            match &s.item.record {
                Record::Entry(e) => {
                    let k = (e.db, key_hash(&e.key));
                    if e.key.is_empty()
                        || e.key.len() > MAX_RESYNC_KEY
                        || seen.contains(&k)
                        || !keys.insert(k)
                    {
                        return false;
                    }
                    // When (nearly) every key read so far was text, so must these be.
                    let text_file = self.keys_text * 100 >= self.keys_seen * 99;
                    if text_file && !is_text(&e.key) {
                        return false;
                    }
                    // Garbage decoded as an expiry is almost never a time before year 3000.
                    if e.expire_ms.is_some_and(|x| !(0..1 << 45).contains(&x)) {
                        return false;
                    }
                    if (e.lru_idle.is_some() || e.lfu_freq.is_some()) && self.header.version < 9 {
                        return false;
                    }
                }
                Record::Aux { key, .. }
                    if key.is_empty()
                        || key.len() > 64
                        || !key.iter().all(|c| (0x21..0x7f).contains(c)) =>
                {
                    return false;
                }
                Record::SelectDb(n) if *n > 1 << 16 => return false,
                Record::ResizeDb {
                    db_size,
                    expires_size,
                } if *db_size > 1 << 40 || expires_size > db_size => return false,
                Record::SlotInfo { slot, .. } if *slot >= 16384 => return false,
                Record::ModuleAux { when, .. } if *when != 1 && *when != 2 => return false,
                Record::Function { code } if !code.starts_with(b"#!") => return false,
                Record::Eof { .. } | Record::Header(_) => return false,
                _ => {}
            }
            p = s.end;
            d = s.db;
        }
        true
    }

    /// The first plausible boundary at or after `from` (or the end of the input).
    fn resync(&mut self, from: usize, db: u64, seen: &HashSet<(u64, u128)>) -> usize {
        let mut p = from;
        while p < self.data.len() {
            let b = self.data[p];
            let opcode_or_type = b >= OP_FUNCTION2 || value_type_ok(self.header.dialect, b);
            if opcode_or_type && self.plausible_boundary(p, db, seen) {
                return p;
            }
            p += 1;
        }
        self.data.len()
    }
}

fn value_type_ok(d: Dialect, b: u8) -> bool {
    crate::rdb::value::value_type_of(d, b).is_some() && b != T_MODULE_PRE_GA
}

fn key_hash(k: &[u8]) -> u128 {
    let mut h2: u64 = 0xcbf2_9ce4_8422_2325;
    for &c in k {
        h2 = (h2 ^ c as u64).wrapping_mul(0x100_0000_01b3);
    }
    ((hash_bytes(k) as u128) << 64) | h2 as u128
}

/// The RDB version a server writes, from its `redis-ver` / `valkey-ver` AUX value.
fn version_of_server(key: &[u8], ver: &[u8]) -> Option<Header> {
    let v = std::str::from_utf8(ver).ok()?;
    let mut it = v.split('.').map(|x| x.parse::<u32>().ok());
    let (maj, min) = (it.next()??, it.next()??);
    let redis = |version| {
        Some(Header {
            dialect: Dialect::Redis,
            version,
        })
    };
    if key == b"valkey-ver" {
        return if maj >= 9 {
            Some(Header {
                dialect: Dialect::Valkey,
                version: 80,
            })
        } else {
            redis(11)
        };
    }
    match (maj, min) {
        (2, 0..=3) => redis(1),
        (2, 4) => redis(2),
        (2, _) | (3, 0..=1) => redis(6),
        (3, _) => redis(7),
        (4, _) => redis(8),
        (5 | 6, _) => redis(9),
        (7, 0..=1) => redis(10),
        (7, 2..=3) => redis(11),
        (7, _) | (8, 0..=5) => redis(12),
        (8, 6..=7) => redis(13),
        _ => redis(MAX_REDIS_VERSION),
    }
}

/// Guesses the format of a file whose magic is damaged: the newest of what the records
/// need (type bytes and opcodes introduced in a version) and what the `redis-ver` AUX field
/// says the writing server used.
fn guess_header(data: &[u8]) -> Header {
    let probe = Header {
        dialect: Dialect::Redis,
        version: MAX_REDIS_VERSION,
    };
    let mut ctx = Ctx {
        data,
        header: probe,
        scratch: Scratch::default(),
        keys_seen: 0,
        keys_text: 0,
    };
    let (mut p, mut db) = (9usize, 0u64);
    let mut need = 1u32;
    let mut from_aux: Option<Header> = None;
    let any = Target {
        dialect: Dialect::Redis,
        version: MAX_REDIS_VERSION,
    };
    for _ in 0..100_000 {
        let Ok(s) = ctx.step(p, db) else { break };
        match &s.item.record {
            Record::Aux { key, value } => {
                need = need.max(7);
                if key == b"redis-ver" || key == b"valkey-ver" {
                    from_aux = version_of_server(key, value);
                }
            }
            Record::ResizeDb { .. } => need = need.max(7),
            Record::ModuleAux { .. } => need = need.max(9),
            Record::Function { .. } => need = need.max(10),
            Record::SlotInfo { .. } => need = need.max(12),
            Record::Entry(e) => {
                let t = e.value.type_byte();
                if let Some(v) = (1..=MAX_REDIS_VERSION)
                    .find(|&v| Target { version: v, ..any }.has_type(Dialect::Redis, t))
                {
                    need = need.max(v);
                }
                if e.lru_idle.is_some() || e.lfu_freq.is_some() {
                    need = need.max(9);
                }
                if e.key_meta.is_some() {
                    need = need.max(13);
                }
            }
            Record::Eof { .. } => {
                // A checksum after the EOF means version 5 or later.
                if s.end == data.len() && data.len() - p == 9 {
                    need = need.max(5);
                }
                break;
            }
            _ => {}
        }
        p = s.end;
        db = s.db;
    }
    match from_aux {
        Some(h) if h.dialect == Dialect::Valkey => h,
        Some(h) => Header {
            dialect: Dialect::Redis,
            version: h.version.max(need),
        },
        None => Header {
            dialect: Dialect::Redis,
            version: need,
        },
    }
}

fn reason(e: &Error) -> String {
    let mut s = e.message();
    if let Some(c) = e.context() {
        s = format!("{c}: {s}");
    }
    if let Some(o) = e.offset() {
        s = format!("at offset {o}: {s}");
    }
    s
}

/// Salvages `data` into `out`. Returns the report and the sink (call
/// [`crate::fsutil::AtomicFile::commit`] on it). `progress(bytes_done)` is called every few
/// megabytes.
pub fn salvage<W: Write>(
    data: &[u8],
    out: W,
    progress: &mut dyn FnMut(u64),
) -> Result<(SalvageReport, W)> {
    let mut rep = SalvageReport {
        bytes_in: data.len() as u64,
        ..Default::default()
    };
    let header = match Header::parse(data, 0) {
        Ok(h) => h,
        Err(_) if data.len() > 9 => {
            rep.header_guessed = true;
            let h = guess_header(data);
            rep.lost.push(LostRange {
                start: 0,
                end: 9,
                key: None,
                db: None,
                reason: format!(
                    "damaged magic; read as {} RDB {}",
                    h.dialect.name(),
                    h.version
                ),
            });
            h
        }
        Err(e) => return Err(e),
    };
    rep.header = Some(header);
    let opts = WriterOptions {
        lossy: true,
        ..Default::default()
    };
    let mut w = RdbWriter::with_options(out, header.dialect, header.version, opts)?;
    let mut ctx = Ctx {
        data,
        header,
        scratch: Scratch::default(),
        keys_seen: 0,
        keys_text: 0,
    };
    let mut seen: HashSet<(u64, u128)> = HashSet::new();
    let mut pos = 9usize;
    let mut db = 0u64;
    let mut out_db: Option<u64> = None;
    let mut next_progress = 8usize << 20;
    while pos < data.len() {
        if pos >= next_progress {
            progress(pos as u64);
            next_progress = pos + (8 << 20);
        }
        match ctx.step(pos, db) {
            Ok(s) => {
                match s.item.record {
                    Record::Eof { checksum, .. } => {
                        // An EOF opcode before the end of the file may be a damaged byte.
                        let tail = if header.has_checksum() { 9 } else { 1 };
                        if pos + tail < data.len() {
                            let p = ctx.resync(pos + 1, db, &seen);
                            if p < data.len() {
                                rep.lost.push(LostRange {
                                    start: pos as u64,
                                    end: p as u64,
                                    key: None,
                                    db: Some(db),
                                    reason: format!(
                                        "an EOF opcode with {} bytes after it",
                                        data.len() - pos - 1
                                    ),
                                });
                                pos = p;
                                continue;
                            }
                        }
                        rep.eof_found = true;
                        if let Some(stored) = checksum.filter(|&c| c != 0) {
                            let computed = crate::rdb::crc::crc64(&data[..=pos]);
                            if computed != stored {
                                rep.checksum_mismatch = Some((stored, computed));
                            }
                        }
                        break;
                    }
                    Record::Header(_) => {}
                    Record::Aux { key, value } => {
                        if w.has_aux() {
                            w.aux(&key, &value)?;
                        }
                    }
                    Record::SelectDb(n) => {
                        if out_db != Some(n) {
                            w.select_db(n)?;
                            out_db = Some(n);
                        }
                    }
                    Record::ResizeDb {
                        db_size,
                        expires_size,
                    } => w.resize_db(db_size, expires_size)?,
                    Record::SlotInfo {
                        slot,
                        size,
                        expires,
                    } => w.slot_info(slot, size, expires)?,
                    Record::Entry(e) => {
                        ctx.keys_seen += 1;
                        ctx.keys_text += is_text(&e.key) as u64;
                        let k = (e.db, key_hash(&e.key));
                        if !seen.insert(k) {
                            rep.duplicates_skipped.push((e.db, e.key.to_vec()));
                        } else {
                            if out_db != Some(e.db) {
                                w.select_db(e.db)?;
                                out_db = Some(e.db);
                            }
                            let end = (e.value.offset() as usize).saturating_add(e.value.len());
                            let rec = &data[s.item.offset as usize..end];
                            match w.entry_copy(&e.key, &EntryMeta::of(&e), rec)? {
                                EntryOutcome::Empty => rep.empty_skipped += 1,
                                _ => rep.keys_recovered += 1,
                            }
                        }
                    }
                    Record::Function { .. }
                    | Record::FunctionPreGa { .. }
                    | Record::ModuleAux { .. }
                    | Record::SlotImport { .. } => {
                        w.raw_record(&data[pos..s.end])?;
                    }
                }
                pos = s.end;
                db = s.db;
            }
            Err(e) => {
                let p = ctx.resync(pos + 1, db, &seen);
                rep.lost.push(LostRange {
                    start: pos as u64,
                    end: p as u64,
                    key: e.key().map(|k| k.to_vec()),
                    db: e.db().or(Some(db)),
                    reason: reason(&e),
                });
                pos = p;
            }
        }
    }
    if !rep.eof_found
        && rep
            .lost
            .last()
            .is_none_or(|l| (l.end as usize) < data.len())
    {
        rep.lost.push(LostRange {
            start: data.len() as u64,
            end: data.len() as u64,
            key: None,
            db: None,
            reason: "no EOF record".into(),
        });
    }
    progress(data.len() as u64);
    rep.bytes_out = w.bytes_written() + if header.has_checksum() { 9 } else { 1 };
    let out = w.finish()?;
    Ok((rep, out))
}
