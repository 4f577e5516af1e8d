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

use std::borrow::Cow;
use std::io::Write;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::rdb::cursor::{Cursor, RdbStr};
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
    fn plausible_boundary(&mut self, pos: usize, db: u64, seen: &KeyIndex<'_>) -> bool {
        if self.eof_at_end(pos) {
            return true;
        }
        let mut p = pos;
        let mut d = db;
        let mut keys: Vec<(u64, Cow<'a, [u8]>)> = Vec::new();
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
                    if e.key.is_empty()
                        || e.key.len() > MAX_RESYNC_KEY
                        || seen.contains(e.db, &e.key)
                        || keys.iter().any(|(d, k)| *d == e.db && *k == e.key)
                    {
                        return false;
                    }
                    keys.push((e.db, e.key.clone()));
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
    fn resync(&mut self, from: usize, db: u64, seen: &KeyIndex<'_>) -> usize {
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

/// Shards of the key index: each grows on its own, so a rehash never needs a second copy of
/// the whole index, and the shards' fill levels average out between rehashes.
const SHARDS: usize = 256;
/// Bits of a slot holding the key's offset; the bits above hold a tag from the key's hash.
const OFFSET_BITS: u32 = 48;
const OFFSET_MASK: u64 = (1 << OFFSET_BITS) - 1;

/// The keys written so far, as the input offsets of their key strings: 8 bytes a slot in
/// open-addressing tables (at most 4/5 full), about 10–16 bytes a key. A lookup hashes the
/// key and its database and compares the key read back from the input where a slot's tag
/// matches, so the answer is exact (no false duplicates on a hash collision). A key's
/// database is found from the runs of offsets written in one database.
struct KeyIndex<'a> {
    data: &'a [u8],
    shards: Vec<Shard>,
    /// (offset of the first key of a run, its database), in offset order.
    runs: Vec<(u64, u64)>,
    /// False when offsets need all 64 bits of a slot (an input of 256 TiB or more).
    tagged: bool,
    scratch: Vec<u8>,
}

#[derive(Default)]
struct Shard {
    /// 0 is an empty slot; otherwise `tag << OFFSET_BITS | key offset`.
    slots: Vec<u64>,
    len: usize,
}

/// The hash of a key in a database: its top byte picks the shard, bits 32..48 are the
/// slot tag, the low bits the first slot probed.
fn spread(db: u64, key: &[u8]) -> u64 {
    let mut h = hash_bytes(key) ^ db.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    h ^= h >> 31;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^ (h >> 29)
}

impl<'a> KeyIndex<'a> {
    fn new(data: &'a [u8]) -> Self {
        KeyIndex {
            data,
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
            runs: Vec::new(),
            tagged: (data.len() as u64) < OFFSET_MASK,
            scratch: Vec::new(),
        }
    }

    fn tag(&self, h: u64) -> u64 {
        if self.tagged {
            ((h >> 32) & 0xffff) << OFFSET_BITS
        } else {
            0
        }
    }

    fn offset_of(&self, slot: u64) -> u64 {
        if self.tagged {
            slot & OFFSET_MASK
        } else {
            slot
        }
    }

    /// The database of the key written at `off`.
    fn db_at(&self, off: u64) -> Option<u64> {
        let i = self.runs.partition_point(|r| r.0 <= off);
        Some(self.runs.get(i.checked_sub(1)?)?.1)
    }

    /// The key string at `off` (it decoded when it was added).
    fn key_at(&self, off: u64) -> Option<RdbStr<'a>> {
        let mut c = Cursor::new(self.data, 0);
        c.set_pos(usize::try_from(off).ok()?);
        c.string("a key").ok()
    }

    fn same_key(&self, off: u64, db: u64, key: &[u8]) -> bool {
        let same = match self.key_at(off) {
            Some(RdbStr::Raw(b)) => b == key,
            Some(s) => s.len() == key.len() as u64 && s.to_vec().is_ok_and(|v| v == key),
            None => false,
        };
        same && self.db_at(off) == Some(db)
    }

    /// Looks `key` of `db` up: `Ok(())` when present, else the shard and free slot for it.
    fn find(&self, db: u64, key: &[u8]) -> std::result::Result<(), (usize, u64, usize)> {
        let h = spread(db, key);
        let shard = (h >> 56) as usize % SHARDS;
        let tag = self.tag(h);
        let slots = &self.shards[shard].slots;
        if slots.is_empty() {
            return Err((shard, tag, 0));
        }
        let mask = slots.len() - 1;
        let mut i = h as usize & mask;
        loop {
            let s = slots[i];
            if s == 0 {
                return Err((shard, tag, i));
            }
            if (!self.tagged || s & !OFFSET_MASK == tag)
                && self.same_key(self.offset_of(s), db, key)
            {
                return Ok(());
            }
            i = (i + 1) & mask;
        }
    }

    /// True when `key` was added to `db`.
    fn contains(&self, db: u64, key: &[u8]) -> bool {
        self.find(db, key).is_ok()
    }

    /// Adds `key` of `db`, whose key string starts at input offset `off` (offsets only
    /// grow from one call to the next); false when it was already there.
    fn insert(&mut self, db: u64, key: &[u8], off: u64) -> bool {
        let Err((shard, tag, mut i)) = self.find(db, key) else {
            return false;
        };
        if self.runs.last().is_none_or(|r| r.1 != db) {
            self.runs.push((off, db));
        }
        let sh = &self.shards[shard];
        if (sh.len + 1) * 5 > sh.slots.len() * 4 {
            self.grow(shard);
            let slots = &self.shards[shard].slots;
            let mask = slots.len() - 1;
            i = spread(db, key) as usize & mask;
            while slots[i] != 0 {
                i = (i + 1) & mask;
            }
        }
        let sh = &mut self.shards[shard];
        sh.slots[i] = tag | off;
        sh.len += 1;
        true
    }

    /// Doubles a shard, rehashing its keys read back from the input.
    fn grow(&mut self, shard: usize) {
        let old = std::mem::take(&mut self.shards[shard].slots);
        let n = (old.len() * 2).max(16);
        let mut slots = vec![0u64; n];
        let mask = n - 1;
        let mut len = 0;
        let mut scratch = std::mem::take(&mut self.scratch);
        for &s in old.iter().filter(|&&s| s != 0) {
            let off = self.offset_of(s);
            let key = self.key_at(off);
            let key = key.as_ref().and_then(|k| k.decode(&mut scratch).ok());
            let (Some(key), Some(db)) = (key, self.db_at(off)) else {
                continue;
            };
            let mut i = spread(db, key) as usize & mask;
            while slots[i] != 0 {
                i = (i + 1) & mask;
            }
            slots[i] = s;
            len += 1;
        }
        self.scratch = scratch;
        self.shards[shard] = Shard { slots, len };
    }
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
    let mut seen = KeyIndex::new(data);
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
                        // The key string follows the record's type byte.
                        if !seen.insert(e.db, &e.key, s.item.offset + 1) {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb::reader::RdbReader;

    /// A string record written by hand: type 0, the key as raw bytes, the value.
    fn string_record(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
        assert!(key.len() < 64 && value.len() < 64);
        out.push(0);
        out.push(key.len() as u8);
        out.extend_from_slice(key);
        out.push(value.len() as u8);
        out.extend_from_slice(value);
    }

    /// A hand-built RDB 9: `body` then EOF with a zero (unchecked) checksum.
    fn rdb(body: &[u8]) -> Vec<u8> {
        let mut f = b"REDIS0009".to_vec();
        f.extend_from_slice(body);
        f.push(0xff);
        f.extend_from_slice(&[0; 8]);
        f
    }

    /// (db, key, value) of every string in an RDB.
    fn strings(data: &[u8]) -> Vec<(u64, Vec<u8>, Vec<u8>)> {
        let mut v = Vec::new();
        for item in RdbReader::new(data) {
            if let Record::Entry(e) = item.unwrap().record {
                let crate::rdb::model::Value::String(s) = e.value.materialize().unwrap() else {
                    panic!("not a string")
                };
                v.push((e.db, e.key.to_vec(), s.to_vec()));
            }
        }
        v
    }

    fn run(data: &[u8]) -> (SalvageReport, Vec<u8>) {
        salvage(data, Vec::new(), &mut |_| {}).unwrap()
    }

    #[test]
    fn same_key_twice_in_one_db_is_kept_once() {
        let mut b = vec![0xfe, 0];
        string_record(&mut b, b"k", b"first");
        string_record(&mut b, b"other", b"x");
        string_record(&mut b, b"k", b"second");
        let (rep, out) = run(&rdb(&b));
        assert_eq!(rep.keys_recovered, 2);
        assert_eq!(rep.duplicates_skipped, vec![(0, b"k".to_vec())]);
        assert_eq!(
            strings(&out),
            vec![
                (0, b"k".to_vec(), b"first".to_vec()),
                (0, b"other".to_vec(), b"x".to_vec())
            ]
        );
    }

    #[test]
    fn same_key_in_two_dbs_is_kept_in_both() {
        let mut b = vec![0xfe, 0];
        string_record(&mut b, b"k", b"zero");
        b.extend_from_slice(&[0xfe, 1]);
        string_record(&mut b, b"k", b"one");
        b.extend_from_slice(&[0xfe, 0]);
        string_record(&mut b, b"k", b"zero again");
        b.extend_from_slice(&[0xfe, 1]);
        string_record(&mut b, b"k", b"one again");
        let (rep, out) = run(&rdb(&b));
        assert_eq!(rep.keys_recovered, 2);
        assert_eq!(
            rep.duplicates_skipped,
            vec![(0, b"k".to_vec()), (1, b"k".to_vec())]
        );
        assert_eq!(
            strings(&out),
            vec![
                (0, b"k".to_vec(), b"zero".to_vec()),
                (1, b"k".to_vec(), b"one".to_vec())
            ]
        );
    }

    #[test]
    fn a_key_stored_int_or_lzf_encoded_is_the_same_key_as_its_raw_bytes() {
        let mut b = vec![0xfe, 0];
        string_record(&mut b, b"12", b"raw");
        // "12" as an int8 string (0xc0 12), then "abc" as LZF (0xc3, clen 4, ulen 3, a
        // literal run of 3 bytes), then "abc" raw.
        b.extend_from_slice(&[0, 0xc0, 12, 3]);
        b.extend_from_slice(b"int");
        b.extend_from_slice(&[0, 0xc3, 4, 3, 2]);
        b.extend_from_slice(b"abc");
        b.extend_from_slice(&[3]);
        b.extend_from_slice(b"lzf");
        string_record(&mut b, b"abc", b"raw");
        let (rep, out) = run(&rdb(&b));
        assert_eq!(
            rep.duplicates_skipped,
            vec![(0, b"12".to_vec()), (0, b"abc".to_vec())]
        );
        assert_eq!(
            strings(&out),
            vec![
                (0, b"12".to_vec(), b"raw".to_vec()),
                (0, b"abc".to_vec(), b"lzf".to_vec())
            ]
        );
    }

    #[test]
    fn many_distinct_keys_in_several_dbs_are_all_kept() {
        let n = 60_000u64;
        let mut b = Vec::new();
        for i in 0..n {
            // Runs of 1000 keys alternate between databases 0, 1 and 2; every key name is
            // in every database.
            if i % 1000 == 0 {
                b.extend_from_slice(&[0xfe, (i / 1000 % 3) as u8]);
            }
            let k = format!("key:{}", i % 20_000);
            string_record(&mut b, k.as_bytes(), format!("{i}").as_bytes());
        }
        // And a duplicate of the very first key at the end.
        b.extend_from_slice(&[0xfe, 0]);
        string_record(&mut b, b"key:0", b"dup");
        let (rep, out) = run(&rdb(&b));
        assert_eq!(rep.keys_recovered, n);
        assert_eq!(rep.duplicates_skipped, vec![(0, b"key:0".to_vec())]);
        assert!(rep.lost.is_empty());
        let got = strings(&out);
        assert_eq!(got.len() as u64, n);
        for (i, (db, k, v)) in got.iter().enumerate() {
            let i = i as u64;
            assert_eq!(*db, i / 1000 % 3);
            assert_eq!(k, format!("key:{}", i % 20_000).as_bytes());
            assert_eq!(v, format!("{i}").as_bytes());
        }
    }

    #[test]
    fn the_index_is_exact_without_hash_tags() {
        let mut b = vec![0xfe, 0];
        let keys: Vec<String> = (0..5000).map(|i| format!("k{i}")).collect();
        let mut offs = Vec::new();
        for k in &keys {
            offs.push(b.len() as u64 + 9 + 1);
            string_record(&mut b, k.as_bytes(), b"v");
        }
        let data = rdb(&b);
        let mut idx = KeyIndex::new(&data);
        // Every probe then compares keys read back from the input.
        idx.tagged = false;
        for (k, &off) in keys.iter().zip(&offs) {
            assert!(idx.insert(0, k.as_bytes(), off));
        }
        for k in &keys {
            assert!(idx.contains(0, k.as_bytes()));
            assert!(!idx.contains(1, k.as_bytes()));
            assert!(!idx.insert(0, k.as_bytes(), data.len() as u64));
        }
        assert!(!idx.contains(0, b"k5000"));
    }
}
