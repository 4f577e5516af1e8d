//! The record iterator: a pull parser over an in-memory RDB (a memory map or any slice) that
//! yields every record with its byte offset and hands values out as lazy [`ValueHandle`]s.

use std::borrow::Cow;

use crate::error::{Error, Result};
use crate::rdb::cursor::{Cursor, RdbStr};
use crate::rdb::format::*;
use crate::rdb::model::{module_name, Value, ValueType};
use crate::rdb::value::{
    module_opcodes, value_type_of, visit_value, DecodeOptions, IgnoreVisitor, Scratch, ValueCtx,
    ValueVisitor, Walker,
};

/// The file header: dialect and version from the 9-byte magic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Header {
    /// `redis` or `valkey`.
    pub dialect: Dialect,
    /// RDB format version.
    pub version: u32,
}

impl Header {
    /// Parses the 9-byte magic at the start of `data`.
    pub fn parse(data: &[u8], base: u64) -> Result<Header> {
        let magic = match data.get(..9) {
            Some(m) => m,
            None => {
                return Err(Error::truncated(
                    base + data.len() as u64,
                    "the 9-byte RDB magic",
                    9 - data.len() as u64,
                ))
            }
        };
        let (dialect, digits) = if magic.starts_with(b"REDIS") {
            (Dialect::Redis, &magic[5..])
        } else if magic.starts_with(b"VALKEY") {
            (Dialect::Valkey, &magic[6..])
        } else {
            return Err(Error::corrupt(
                base,
                "the RDB magic \"REDIS\" or \"VALKEY\"",
                format!("\"{}\"", crate::error::escape_bytes(magic)),
            ));
        };
        if !digits.iter().all(|c| c.is_ascii_digit()) {
            return Err(Error::corrupt(
                base,
                "a decimal RDB version after the magic",
                format!("\"{}\"", crate::error::escape_bytes(magic)),
            ));
        }
        let version: u32 = std::str::from_utf8(digits)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let ok = match dialect {
            Dialect::Redis => (1..=MAX_REDIS_VERSION).contains(&version),
            Dialect::Valkey => (MIN_VALKEY_MAGIC_VERSION..=MAX_VALKEY_VERSION).contains(&version),
        };
        if !ok {
            return Err(Error::new(crate::error::ErrorKind::Unsupported(format!(
                "{} RDB version {version}",
                dialect.name()
            )))
            .at(base + 5));
        }
        Ok(Header { dialect, version })
    }

    /// The walker context for values of this file.
    pub fn ctx(&self) -> ValueCtx {
        ValueCtx {
            dialect: self.dialect,
            version: self.version,
        }
    }

    /// True if files of this version end with a checksum.
    pub fn has_checksum(&self) -> bool {
        self.version >= FIRST_CHECKSUM_VERSION
    }
}

/// A lazy handle on one value: its type byte and the exact encoded bytes, found by walking
/// only the lengths. Getting a handle does not mean the value is valid: [`Self::visit`] and
/// [`Self::materialize`] validate.
#[derive(Debug, Clone, Copy)]
pub struct ValueHandle<'a> {
    type_byte: u8,
    raw: &'a [u8],
    offset: u64,
    ctx: ValueCtx,
}

impl<'a> ValueHandle<'a> {
    /// The type byte as stored.
    pub fn type_byte(&self) -> u8 {
        self.type_byte
    }

    /// The logical type.
    pub fn value_type(&self) -> ValueType {
        value_type_of(self.ctx.dialect, self.type_byte).unwrap_or(ValueType::Module)
    }

    /// The encoding name as redis-check-rdb prints it (e.g. `quicklist-v2`).
    pub fn encoding_name(&self) -> &'static str {
        type_name(self.ctx.dialect, self.type_byte).unwrap_or("unknown")
    }

    /// The exact encoded bytes of the value (after the key), for raw copying into another
    /// RDB or a RESTORE payload.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// Absolute file offset of the first byte of [`Self::raw`].
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Serialized size in bytes.
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// True for a zero-byte encoding (never, for a valid value).
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// The file's dialect and version.
    pub fn ctx(&self) -> ValueCtx {
        self.ctx
    }

    /// Decodes and validates the value, streaming its elements to `visitor`.
    pub fn visit<V: ValueVisitor + ?Sized>(
        &self,
        visitor: &mut V,
        scratch: &mut Scratch,
        opts: DecodeOptions,
    ) -> Result<()> {
        let mut cur = Cursor::new(self.raw, self.offset);
        visit_value(&mut cur, self.ctx, self.type_byte, visitor, scratch, opts)?;
        if !cur.is_empty() {
            return Err(Error::corrupt(
                cur.offset(),
                "the end of the value",
                format!("{} more bytes", cur.remaining()),
            ));
        }
        Ok(())
    }

    /// Validates the value (deep) without keeping anything.
    pub fn validate(&self, scratch: &mut Scratch) -> Result<()> {
        self.visit(&mut IgnoreVisitor, scratch, DecodeOptions::default())
    }

    /// Decodes the whole value into memory.
    pub fn materialize(&self) -> Result<Value> {
        let mut m = crate::rdb::materialize::Materializer::default();
        self.visit(&mut m, &mut Scratch::default(), DecodeOptions::default())?;
        m.finish()
    }

    /// Reads a DUMP/RESTORE payload (the inverse of [`ValueHandle::dump_payload`]): checks
    /// its RDB version and CRC-64 as Redis's `verifyDumpPayload` does, then finds the end of
    /// the value (bytes between it and the footer are ignored, as `RESTORE` ignores them).
    /// Any version this crate reads is accepted (Redis accepts versions up to its own). The
    /// value is walked but not decoded: [`ValueHandle::materialize`] it.
    pub fn from_dump_payload(p: &'a [u8]) -> std::result::Result<Self, DumpPayloadError> {
        let header = check_dump_footer(p)?;
        let n = p.len();
        let Some((&type_byte, body)) = p[..n - 10].split_first() else {
            return Err(DumpPayloadError::BadFormat(Error::truncated(
                0,
                "a type byte",
                1,
            )));
        };
        let mut cur = Cursor::new(body, 1);
        skip_value(&mut cur, header, type_byte).map_err(DumpPayloadError::BadFormat)?;
        Ok(ValueHandle {
            type_byte,
            raw: &body[..cur.pos()],
            offset: 1,
            ctx: header.ctx(),
        })
    }

    /// A DUMP/RESTORE payload for this value: type byte, encoding, RDB version (u16 LE), and
    /// CRC-64 (LE). Redis accepts it when its own RDB version is ≥ this file's.
    pub fn dump_payload(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(self.raw.len() + 11);
        p.push(self.type_byte);
        p.extend_from_slice(self.raw);
        p.extend_from_slice(&(self.ctx.version as u16).to_le_bytes());
        let crc = crate::rdb::crc::crc64(&p);
        p.extend_from_slice(&crc.to_le_bytes());
        p
    }
}

/// Why [`ValueHandle::from_dump_payload`] refused a payload.
#[derive(Debug, thiserror::Error)]
pub enum DumpPayloadError {
    /// Shorter than the footer, an RDB version this crate does not read, or a CRC-64 that
    /// does not match (Redis: "DUMP payload version or checksum are wrong").
    #[error("DUMP payload version or checksum are wrong: {0}")]
    VersionOrChecksum(String),
    /// The value does not parse (Redis: "Bad data format").
    #[error("bad data format: {0}")]
    BadFormat(Error),
}

/// Checks the footer of a DUMP or `FUNCTION DUMP` payload as Redis's `verifyDumpPayload`
/// does (a u16 LE RDB version, then the CRC-64 of everything before it), and returns the
/// format that version implies.
fn check_dump_footer(p: &[u8]) -> std::result::Result<Header, DumpPayloadError> {
    let n = p.len();
    let bad = |why: String| Err(DumpPayloadError::VersionOrChecksum(why));
    let (Some(&[v0, v1]), Some(crc_bytes)) = (
        n.checked_sub(10).and_then(|at| p.get(at..at + 2)),
        n.checked_sub(8).and_then(|at| p.get(at..)),
    ) else {
        return bad(format!("{n} bytes, fewer than the 10-byte footer"));
    };
    let version = u16::from_le_bytes([v0, v1]) as u32;
    let dialect = if (1..=MAX_REDIS_VERSION).contains(&version) {
        Dialect::Redis
    } else if (MIN_VALKEY_MAGIC_VERSION..=MAX_VALKEY_VERSION).contains(&version) {
        Dialect::Valkey
    } else {
        return bad(format!("RDB version {version}"));
    };
    let mut stored = [0u8; 8];
    stored.copy_from_slice(crc_bytes);
    let crc = crate::rdb::crc::crc64(&p[..n - 8]);
    if crc != u64::from_le_bytes(stored) {
        return bad(format!(
            "CRC-64 {crc:016x}, stored {:016x}",
            u64::from_le_bytes(stored)
        ));
    }
    Ok(Header { dialect, version })
}

/// The function libraries (their source code) of a `FUNCTION DUMP` payload, the argument of
/// `FUNCTION RESTORE`: FUNCTION2 records, then the DUMP footer (`functionRestoreCommand`).
pub fn function_libraries_from_dump(
    p: &[u8],
) -> std::result::Result<Vec<Vec<u8>>, DumpPayloadError> {
    check_dump_footer(p)?;
    let body = &p[..p.len() - 10];
    let mut cur = Cursor::new(body, 0);
    let mut libs = Vec::new();
    while !cur.is_empty() {
        let at = cur.offset();
        let corrupt = |found: &str| {
            DumpPayloadError::BadFormat(Error::corrupt(at, "a function library", found.to_string()))
        };
        match cur
            .u8("a record type")
            .map_err(DumpPayloadError::BadFormat)?
        {
            OP_FUNCTION2 => libs.push(
                cur.string("a function library")
                    .and_then(|s| s.to_vec())
                    .map_err(DumpPayloadError::BadFormat)?,
            ),
            OP_FUNCTION_PRE_GA => return Err(corrupt("a pre-release (7.0-rc) function")),
            t => return Err(corrupt(&format!("record type {t}"))),
        }
    }
    Ok(libs)
}

/// A key and its value, with the per-key metadata that preceded it.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    /// Database number (from the last SELECTDB; 0 before any).
    pub db: u64,
    /// The key (borrowed unless it was stored int- or LZF-encoded).
    pub key: Cow<'a, [u8]>,
    /// Absolute expiry in unix ms.
    pub expire_ms: Option<i64>,
    /// LRU idle time in seconds.
    pub lru_idle: Option<u64>,
    /// LFU frequency counter.
    pub lfu_freq: Option<u8>,
    /// Raw `KEY_META` block (Redis ≥ 8.6), if present.
    pub key_meta: Option<&'a [u8]>,
    /// The value.
    pub value: ValueHandle<'a>,
}

impl Entry<'_> {
    /// Validates the value deep ([`ValueHandle::validate`], what `check` does for every
    /// value); an error names the key, its database and the value's encoding.
    pub fn validate(&self, scratch: &mut Scratch) -> Result<()> {
        self.value.validate(scratch).map_err(|err| {
            err.with_key(Some(self.db), &self.key)
                .with_context(format!("{} value", self.value.encoding_name()))
        })
    }
}

/// One record of an RDB file.
#[derive(Debug, Clone)]
pub enum Record<'a> {
    /// The magic.
    Header(Header),
    /// An auxiliary field.
    Aux {
        /// Field name.
        key: Vec<u8>,
        /// Field value (integers decoded to their text).
        value: Vec<u8>,
    },
    /// SELECTDB.
    SelectDb(u64),
    /// RESIZEDB hints.
    ResizeDb {
        /// Keys in the db.
        db_size: u64,
        /// Keys with an expiry.
        expires_size: u64,
    },
    /// SLOT_INFO (Redis cluster, 7.4+).
    SlotInfo {
        /// Slot number.
        slot: u64,
        /// Keys in the slot.
        size: u64,
        /// Keys with an expiry in the slot.
        expires: u64,
    },
    /// A function library (FUNCTION2): its full source code.
    Function {
        /// Library source.
        code: Vec<u8>,
    },
    /// A 7.0-RC function (FUNCTION_PRE_GA).
    FunctionPreGa {
        /// Function name.
        name: Vec<u8>,
        /// Engine name.
        engine: Vec<u8>,
        /// Description.
        description: Option<Vec<u8>>,
        /// Code.
        code: Vec<u8>,
    },
    /// Module auxiliary data.
    ModuleAux {
        /// Module type id.
        type_id: u64,
        /// Decoded module name.
        name: String,
        /// 1 = before the keyspace, 2 = after.
        when: u64,
        /// Raw opcode body (up to and including EOF).
        body: &'a [u8],
    },
    /// Valkey SLOT_IMPORT.
    SlotImport {
        /// Job name (40 bytes).
        job: Vec<u8>,
        /// Slot ranges.
        ranges: Vec<(u64, u64)>,
    },
    /// A key and its value.
    Entry(Entry<'a>),
    /// End of file.
    Eof {
        /// Stored checksum (`None` before version 5; `Some(0)` means "not computed").
        checksum: Option<u64>,
        /// Bytes after the checksum (ignored by Redis).
        trailing: u64,
    },
}

/// A record with its absolute byte offset.
#[derive(Debug, Clone)]
pub struct Item<'a> {
    /// Offset of the record's first byte (its opcode or type byte).
    pub offset: u64,
    /// The record.
    pub record: Record<'a>,
}

/// Pull parser over an in-memory RDB. Yields `Result<Item>`; fused after EOF or an error.
#[derive(Debug, Clone)]
pub struct RdbReader<'a> {
    cur: Cursor<'a>,
    header: Option<Header>,
    db: u64,
    done: bool,
    /// Offset just after the EOF opcode + checksum, once reached.
    end: Option<u64>,
    eof_offset: Option<u64>,
}

impl<'a> RdbReader<'a> {
    /// A reader over a whole RDB file.
    pub fn new(data: &'a [u8]) -> Self {
        Self::with_base(data, 0)
    }

    /// A reader over RDB bytes that start at file offset `base` (e.g. inside an AOF).
    pub fn with_base(data: &'a [u8], base: u64) -> Self {
        RdbReader {
            cur: Cursor::new(data, base),
            header: None,
            db: 0,
            done: false,
            end: None,
            eof_offset: None,
        }
    }

    /// A reader that starts at byte `pos` of a whole file `data` (not at its magic), as if
    /// the magic had been `header` and the current database were `db`. Used to resume after
    /// damage (`salvage`) and to probe candidate record boundaries.
    pub fn resume_at(data: &'a [u8], pos: usize, header: Header, db: u64) -> Self {
        Self::resume_at_base(data, 0, pos, header, db)
    }

    /// [`Self::resume_at`] for RDB bytes that start at file offset `base` (offsets are
    /// reported as `base + pos`).
    pub fn resume_at_base(data: &'a [u8], base: u64, pos: usize, header: Header, db: u64) -> Self {
        let mut cur = Cursor::new(data, base);
        cur.set_pos(pos);
        RdbReader {
            cur,
            header: Some(header),
            db,
            done: false,
            end: None,
            eof_offset: None,
        }
    }

    /// The header, once read.
    pub fn header(&self) -> Option<Header> {
        self.header
    }

    /// The current database.
    pub fn db(&self) -> u64 {
        self.db
    }

    /// Absolute offset of the next unread byte.
    pub fn offset(&self) -> u64 {
        self.cur.offset()
    }

    /// Absolute offset just past the checksum (or the EOF opcode before version 5), once
    /// the end has been reached: where an AOF tail after an RDB preamble starts.
    pub fn end_offset(&self) -> Option<u64> {
        self.end
    }

    /// Absolute offset of the EOF opcode, once reached.
    pub fn eof_offset(&self) -> Option<u64> {
        self.eof_offset
    }

    /// The bytes covered by the checksum (from the magic through the EOF opcode), once the
    /// end has been reached.
    pub fn checksummed_bytes(&self) -> Option<&'a [u8]> {
        let eof = self.eof_offset?;
        let base = self.cur.offset() - self.cur.pos() as u64;
        self.cur.data().get(..(eof - base + 1) as usize)
    }

    /// Verifies the CRC-64 `stored` with the EOF record ([`Record::Eof`]) against the bytes it
    /// covers: `Ok(true)` when it matches, `Ok(false)` when there is nothing to verify (no
    /// checksum before version 5, or `0`: written with `rdbchecksum no`), and a
    /// [`ChecksumMismatch`](crate::ErrorKind::ChecksumMismatch) error at the offset of the
    /// stored checksum otherwise. The same verdict as [`crate::rdb::check`] gives.
    pub fn verify_checksum(&self, stored: Option<u64>) -> Result<bool> {
        let (Some(stored), Some(bytes), Some(eof)) = (
            stored.filter(|&c| c != 0),
            self.checksummed_bytes(),
            self.eof_offset,
        ) else {
            return Ok(false);
        };
        let computed = crate::rdb::crc::crc64(bytes);
        if computed != stored {
            return Err(
                Error::new(crate::error::ErrorKind::ChecksumMismatch { stored, computed })
                    .at(eof + 1),
            );
        }
        Ok(true)
    }

    /// The next record. With `fused`, a value whose end can only be found by walking it is
    /// walked once, validating it and streaming it to the visitor, instead of being skipped
    /// here and walked again by the caller (see [`Self::next_visiting`]).
    #[inline(always)]
    fn next_record<V: ValueVisitor + ?Sized>(
        &mut self,
        mut fused: Option<FusedWalk<'_, V>>,
    ) -> Result<Option<(Item<'a>, Visited)>> {
        let header = match self.header {
            Some(h) => h,
            None => {
                let h = Header::parse(self.cur.rest(), self.cur.offset())?;
                let off = self.cur.offset();
                self.cur.skip(9, "the RDB magic")?;
                self.header = Some(h);
                return Ok(Some((
                    Item {
                        offset: off,
                        record: Record::Header(h),
                    },
                    Visited::No,
                )));
            }
        };
        let mut expire_ms: Option<i64> = None;
        let mut lru_idle = None;
        let mut lfu_freq = None;
        let mut key_meta = None;
        loop {
            let offset = self.cur.offset();
            let op = self.cur.u8("a record type (opcode or value type)")?;
            let mut visited = Visited::No;
            let record = match op {
                OP_EOF => {
                    self.eof_offset = Some(offset);
                    let checksum = if header.has_checksum() {
                        Some(self.cur.u64_le("the 8-byte CRC-64 checksum")?)
                    } else {
                        None
                    };
                    self.end = Some(self.cur.offset());
                    let trailing = self.cur.remaining() as u64;
                    self.done = true;
                    Record::Eof { checksum, trailing }
                }
                OP_SELECTDB => {
                    self.db = self.cur.len("a SELECTDB database number")?;
                    Record::SelectDb(self.db)
                }
                OP_EXPIRETIME => {
                    expire_ms = Some(self.cur.i32_le("an EXPIRETIME value")? as i64 * 1000);
                    continue;
                }
                OP_EXPIRETIME_MS => {
                    expire_ms = Some(self.cur.i64_le("an EXPIRETIME_MS value")?);
                    continue;
                }
                OP_FREQ => {
                    lfu_freq = Some(self.cur.u8("an LFU frequency")?);
                    continue;
                }
                OP_IDLE => {
                    lru_idle = Some(self.cur.len("an LRU idle time")?);
                    continue;
                }
                OP_RESIZEDB => {
                    let db_size = self.cur.len("a RESIZEDB db size")?;
                    let expires_size = self.cur.len("a RESIZEDB expires size")?;
                    Record::ResizeDb {
                        db_size,
                        expires_size,
                    }
                }
                OP_AUX => {
                    let k = self.cur.string("an AUX field name")?.to_vec()?;
                    let v = self.cur.string("an AUX field value")?.to_vec()?;
                    Record::Aux { key: k, value: v }
                }
                OP_MODULE_AUX => {
                    let type_id = self.cur.len("a module AUX type id")?;
                    let wat = self.cur.offset();
                    let when_op = self.cur.len("a module AUX when opcode")?;
                    if when_op != MODULE_OP_UINT {
                        return Err(Error::corrupt(
                            wat,
                            "the module AUX when opcode 2",
                            format!("{when_op} (bad when_opcode)"),
                        ));
                    }
                    let when = self.cur.len("a module AUX when value")?;
                    let start = self.cur.pos();
                    module_opcodes(&mut self.cur).map_err(|e| {
                        e.with_context(format!("module AUX {}", module_name(type_id)))
                    })?;
                    Record::ModuleAux {
                        type_id,
                        name: module_name(type_id),
                        when,
                        body: self.cur.slice(start, self.cur.pos()),
                    }
                }
                OP_FUNCTION_PRE_GA => {
                    let name = self.cur.string("a function name")?.to_vec()?;
                    let engine = self.cur.string("a function engine")?.to_vec()?;
                    let has_desc = self.cur.len("a function description flag")?;
                    let description = if has_desc != 0 {
                        Some(self.cur.string("a function description")?.to_vec()?)
                    } else {
                        None
                    };
                    let code = self.cur.string("a function body")?.to_vec()?;
                    Record::FunctionPreGa {
                        name,
                        engine,
                        description,
                        code,
                    }
                }
                OP_FUNCTION2 => Record::Function {
                    code: self.cur.string("a function library")?.to_vec()?,
                },
                OP_SLOT_INFO => {
                    let slot = self.cur.len("a SLOT_INFO slot")?;
                    let size = self.cur.len("a SLOT_INFO size")?;
                    let expires = self.cur.len("a SLOT_INFO expires size")?;
                    Record::SlotInfo {
                        slot,
                        size,
                        expires,
                    }
                }
                OP_KEY_META_OR_SLOT_IMPORT if header.dialect == Dialect::Valkey => {
                    let jat = self.cur.offset();
                    let job = self.cur.string("a slot import job name")?.to_vec()?;
                    if job.len() != 40 {
                        return Err(Error::corrupt(
                            jat,
                            "a 40-byte slot import job name",
                            format!("{} bytes", job.len()),
                        ));
                    }
                    let n = self.cur.count("a slot import range count", 2)?;
                    let mut ranges = Vec::new();
                    for _ in 0..n {
                        let a = self.cur.len("a slot range start")?;
                        let b = self.cur.len("a slot range end")?;
                        ranges.push((a, b));
                    }
                    Record::SlotImport { job, ranges }
                }
                OP_KEY_META_OR_SLOT_IMPORT => {
                    let start = self.cur.pos();
                    let nat = self.cur.offset();
                    let n = self.cur.len("a KEY_META class count")?;
                    if n > 7 {
                        return Err(Error::corrupt(
                            nat,
                            "a KEY_META class count ≤ 7",
                            format!("{n}"),
                        ));
                    }
                    for _ in 0..n {
                        self.cur.skip(4, "a KEY_META class spec")?;
                        module_opcodes(&mut self.cur)?;
                    }
                    key_meta = Some(self.cur.slice(start, self.cur.pos()));
                    match self.cur.peek() {
                        Some(t) if value_type_of(header.dialect, t).is_some() => continue,
                        Some(t) => {
                            return Err(Error::corrupt(
                                self.cur.offset(),
                                "a value type byte right after KEY_META",
                                format!("{t}"),
                            ))
                        }
                        None => continue,
                    }
                }
                t => {
                    if value_type_of(header.dialect, t).is_none() {
                        return Err(Error::corrupt(
                            offset,
                            "an opcode or value type byte",
                            format!("invalid object type {t}"),
                        )
                        .with_db(self.db));
                    }
                    let key = match self.cur.string("a key")? {
                        RdbStr::Raw(b) => Cow::Borrowed(b),
                        other => Cow::Owned(other.to_vec().map_err(|e| e.with_db(self.db))?),
                    };
                    let vstart = self.cur.pos();
                    let voff = self.cur.offset();
                    let r = if matches!(
                        t,
                        T_STRING
                            | T_HASH_ZIPMAP
                            | T_LIST_ZIPLIST
                            | T_SET_INTSET
                            | T_ZSET_ZIPLIST
                            | T_HASH_ZIPLIST
                            | T_HASH_LISTPACK
                            | T_ZSET_LISTPACK
                            | T_SET_LISTPACK
                    ) {
                        // One string: no walker needed to find the end.
                        self.cur.string("a value").map(|_| ())
                    } else if let Some(f) = fused.as_mut() {
                        let from = self.cur.pos();
                        let mut w = Walker {
                            ctx: header.ctx(),
                            skip: false,
                            deep: f.options.deep,
                            visitor: &mut *f.visitor,
                            scratch: &mut *f.scratch,
                        };
                        match w.value(&mut self.cur, t) {
                            Ok(()) => {
                                visited = Visited::Ok;
                                Ok(())
                            }
                            Err(e) => {
                                // Report what a skipping walk would: a structural error
                                // (the value's end cannot be found) before the visitor's.
                                self.cur.set_pos(from);
                                let r = skip_value(&mut self.cur, header, t);
                                visited = Visited::Err(e);
                                r
                            }
                        }
                    } else {
                        skip_value(&mut self.cur, header, t)
                    };
                    if let Err(e) = r {
                        return Err(e.with_key(Some(self.db), &key).with_context(format!(
                            "{} value",
                            type_name(header.dialect, t).unwrap_or("unknown")
                        )));
                    }
                    Record::Entry(Entry {
                        db: self.db,
                        key,
                        expire_ms,
                        lru_idle,
                        lfu_freq,
                        key_meta,
                        value: ValueHandle {
                            type_byte: t,
                            raw: self.cur.slice(vstart, self.cur.pos()),
                            offset: voff,
                            ctx: header.ctx(),
                        },
                    })
                }
            };
            return Ok(Some((Item { offset, record }, visited)));
        }
    }
}

/// Walks a value of type `t` only to find its end.
fn skip_value(cur: &mut Cursor<'_>, header: Header, t: u8) -> Result<()> {
    crate::rdb::value::skip_value(cur, header.ctx(), t)
}

/// The visitor, scratch space and options of a fused walk (see [`RdbReader::next_visiting`]).
struct FusedWalk<'v, V: ValueVisitor + ?Sized> {
    visitor: &'v mut V,
    scratch: &'v mut Scratch,
    options: DecodeOptions,
}

/// What [`RdbReader::next_visiting`] did with a key's value.
#[derive(Debug)]
pub enum Visited {
    /// Not walked (not a key, or a value stored as one string, whose end is found without
    /// walking it): call [`ValueHandle::visit`] to validate it.
    No,
    /// Walked, validated and streamed to the visitor without error.
    Ok,
    /// Walked: its end was found (the record is sound) but decoding or the visitor failed
    /// with this error, exactly as [`ValueHandle::visit`] would have.
    Err(Error),
}

impl<'a> RdbReader<'a> {
    /// Like [`Iterator::next`], but a value whose end can only be found by walking it (plain
    /// lists, sets, sorted sets and hashes, quicklists, streams, modules, arrays) is walked
    /// once here, validated and streamed to `visitor`, instead of being skipped here and
    /// walked again by [`ValueHandle::visit`]. The [`Visited`] says which happened. Errors
    /// are those of `next` followed by `visit`: a value whose end cannot be found is a
    /// reader error, as with `next`.
    #[inline(always)]
    pub fn next_visiting<V: ValueVisitor + ?Sized>(
        &mut self,
        visitor: &mut V,
        scratch: &mut Scratch,
        options: DecodeOptions,
    ) -> Option<Result<(Item<'a>, Visited)>> {
        if self.done {
            return None;
        }
        let fused = FusedWalk {
            visitor,
            scratch,
            options,
        };
        match self.next_record(Some(fused)) {
            Ok(r) => r.map(Ok),
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl<'a> Iterator for RdbReader<'a> {
    type Item = Result<Item<'a>>;

    #[inline(always)]
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_record::<IgnoreVisitor>(None) {
            Ok(r) => r.map(|(item, _)| Ok(item)),
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}
