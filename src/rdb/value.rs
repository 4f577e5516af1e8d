//! Walking and decoding values (spec §6–§7).
//!
//! One walker serves every use: in *skip* mode it follows only the lengths needed to find
//! where a value ends (no LZF, no inner blobs); in *decode* mode it validates every inner
//! encoding and reports each element to a [`ValueVisitor`], so a 4 GB list is streamed
//! element by element and never materialised unless the visitor chooses to.

use crate::error::{Error, Result};
use crate::rdb::cursor::{Cursor, RdbStr};
use crate::rdb::encoding::intset::Intset;
use crate::rdb::encoding::listpack::Listpack;
use crate::rdb::encoding::ziplist::Ziplist;
use crate::rdb::encoding::{hash_bytes, zipmap, Elem};
use crate::rdb::format::*;
use crate::rdb::model::*;

/// What a value walker needs to know about the file it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ValueCtx {
    /// Dialect of the file.
    pub dialect: Dialect,
    /// RDB version of the file.
    pub version: u32,
}

/// Receives a value's contents element by element. Every method has a default that ignores
/// the event, so a visitor implements only what it needs.
///
/// Byte strings are passed as [`Elem`]s that borrow the input or a scratch buffer for the
/// duration of the call; copy what you keep.
#[allow(unused_variables)]
pub trait ValueVisitor {
    /// Called first with the logical type, the type byte and, when known, the element count.
    fn begin(&mut self, ty: ValueType, type_byte: u8, len_hint: Option<u64>) -> Result<()> {
        Ok(())
    }
    /// A string value.
    fn string(&mut self, value: Elem<'_>) -> Result<()> {
        Ok(())
    }
    /// Whether the visitor uses element values. A visitor that only validates or counts
    /// returns `false`: the walker then checks everything as strictly as when decoding, but
    /// string values are not inflated (LZF data is only checked to inflate to its stored
    /// length) and `string` is not called, and sorted-set scores stored as text in listpacks
    /// and ziplists are checked without being computed (`zset_member` gets 0.0).
    fn wants_values(&self) -> bool {
        true
    }
    /// A list element (head to tail).
    fn list_item(&mut self, item: Elem<'_>) -> Result<()> {
        Ok(())
    }
    /// A set member.
    fn set_member(&mut self, member: Elem<'_>) -> Result<()> {
        Ok(())
    }
    /// A sorted-set member with its score.
    fn zset_member(&mut self, member: Elem<'_>, score: f64) -> Result<()> {
        Ok(())
    }
    /// A hash field, its value and its absolute expiry in unix ms (if it has one).
    fn hash_field(
        &mut self,
        field: Elem<'_>,
        value: Elem<'_>,
        expire_ms: Option<u64>,
    ) -> Result<()> {
        Ok(())
    }
    /// A live stream entry: its ID and its field/value pairs (`fields[i]` goes with `values[i]`).
    fn stream_entry(
        &mut self,
        id: StreamId,
        fields: &[Elem<'_>],
        values: &[Elem<'_>],
    ) -> Result<()> {
        Ok(())
    }
    /// Stream metadata (after all entries).
    fn stream_meta(&mut self, meta: &StreamMeta) -> Result<()> {
        Ok(())
    }
    /// A stream consumer group (after the metadata).
    fn stream_group(&mut self, group: &ConsumerGroup) -> Result<()> {
        Ok(())
    }
    /// Stream IDMP state (v4+, after the groups).
    fn stream_idmp(&mut self, idmp: &StreamIdmp) -> Result<()> {
        Ok(())
    }
    /// A module value: its type id and opcode body (raw, up to and including the EOF opcode).
    fn module_value(&mut self, type_id: u64, body: &[u8]) -> Result<()> {
        Ok(())
    }
    /// Array header: element count and insert index.
    fn array_meta(&mut self, count: u64, insert_idx: Option<u64>) -> Result<()> {
        Ok(())
    }
    /// An array element at `index`.
    fn array_item(&mut self, index: u64, item: ArrayItem<'_>) -> Result<()> {
        Ok(())
    }
    /// Called last.
    fn end(&mut self) -> Result<()> {
        Ok(())
    }
}

/// An array element as streamed to a visitor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ArrayItem<'b> {
    /// Bytes.
    Bytes(Elem<'b>),
    /// Integer.
    Int(i64),
    /// Double.
    Float(f64),
}

/// A visitor that ignores everything (used for validation-only walks).
#[derive(Debug, Default, Clone, Copy)]
pub struct IgnoreVisitor;
impl ValueVisitor for IgnoreVisitor {
    fn wants_values(&self) -> bool {
        false
    }
}

/// Reusable buffers for decoding (LZF output, duplicate detection). Keep one per thread and
/// pass it to every decode to avoid per-value allocation.
#[derive(Debug, Default)]
pub struct Scratch {
    pub(crate) a: Vec<u8>,
    pub(crate) b: Vec<u8>,
    dup: DupSet,
}

/// Duplicate detection among a collection's members, reusing its buffers.
///
/// By default only 64-bit hashes of the members are kept (no copy of their bytes): a repeated
/// hash marks the value *suspect*, and the walker then walks it again in exact mode, where the
/// members are copied into an arena and compared byte for byte. Hash collisions between
/// distinct members are therefore harmless, and the common case (no duplicate) never copies.
#[derive(Debug, Default)]
struct DupSet {
    active: bool,
    /// Exact mode: the arena and (hash, start, len) slots; `len == u32::MAX` marks an empty slot.
    exact: bool,
    arena: Vec<u8>,
    table: Vec<(u64, u32, u32)>,
    count: usize,
    dup: Option<(u32, u32)>,
    /// Hash mode: the first members' hashes in a small array, then an open-addressing table
    /// of hashes (0 = empty; hashes are made odd).
    small: [u64; SMALL],
    nsmall: usize,
    hashes: Vec<u64>,
    nhashes: usize,
    /// A hash repeated in this value (hash mode).
    suspect: bool,
}

const SMALL: usize = 16;
const EMPTY_SLOT: (u64, u32, u32) = (0, 0, u32::MAX);

impl DupSet {
    /// Starts a new collection (`active` = check it).
    #[inline]
    fn start(&mut self, active: bool) {
        self.active = active;
        if !active {
            return;
        }
        self.nsmall = 0;
        self.nhashes = 0;
        if !self.exact {
            return;
        }
        self.arena.clear();
        self.count = 0;
        self.dup = None;
        if self.table.len() > 64 {
            self.table.clear();
        }
        if self.table.is_empty() {
            self.table.resize(16, EMPTY_SLOT);
        } else {
            self.table.fill(EMPTY_SLOT);
        }
    }

    fn grow(&mut self) {
        let old = std::mem::take(&mut self.table);
        self.table = vec![EMPTY_SLOT; old.len() * 2];
        let mask = self.table.len() - 1;
        for e in old.into_iter().filter(|e| e.2 != u32::MAX) {
            let mut i = (e.0 as usize) & mask;
            while self.table[i].2 != u32::MAX {
                i = (i + 1) & mask;
            }
            self.table[i] = e;
        }
    }

    /// Adds a member: the common case (hash mode, among the first [`SMALL`]) inline.
    #[inline(always)]
    fn add(&mut self, e: Elem<'_>) {
        if !self.active {
            return;
        }
        if !self.exact && !self.suspect && self.nsmall < SMALL {
            let h = e.hash64() | 1;
            if self.small[..self.nsmall].contains(&h) {
                self.suspect = true;
            }
            self.small[self.nsmall] = h;
            self.nsmall += 1;
            return;
        }
        self.add_slow(e);
    }

    #[inline(never)]
    fn add_slow(&mut self, e: Elem<'_>) {
        if self.exact {
            self.add_exact(e);
            return;
        }
        if self.suspect {
            return;
        }
        let h = e.hash64() | 1;
        if self.nsmall < SMALL {
            if self.small[..self.nsmall].contains(&h) {
                self.suspect = true;
            }
            self.small[self.nsmall] = h;
            self.nsmall += 1;
            return;
        }
        if self.nhashes == 0 {
            // Spill the small array into the table.
            if self.hashes.len() > 4096 || self.hashes.len() < 4 * SMALL {
                self.hashes = vec![0; 4 * SMALL];
            } else {
                self.hashes.fill(0);
            }
            for i in 0..SMALL {
                let x = self.small[i];
                self.insert_hash(x);
            }
        }
        if (self.nhashes + 1) * 2 > self.hashes.len() {
            let bigger = vec![0; self.hashes.len() * 2];
            let old = std::mem::replace(&mut self.hashes, bigger);
            self.nhashes = 0;
            for x in old.into_iter().filter(|&x| x != 0) {
                self.insert_hash(x);
            }
        }
        if self.insert_hash(h) {
            self.suspect = true;
        }
    }

    /// Inserts a hash; true if it was already there.
    #[inline]
    fn insert_hash(&mut self, h: u64) -> bool {
        let mask = self.hashes.len() - 1;
        let mut i = (h as usize) & mask;
        loop {
            let x = self.hashes[i];
            if x == 0 {
                self.hashes[i] = h;
                self.nhashes += 1;
                return false;
            }
            if x == h {
                return true;
            }
            i = (i + 1) & mask;
        }
    }

    fn add_exact(&mut self, e: Elem<'_>) {
        if self.dup.is_some() {
            return;
        }
        if (self.count + 1) * 2 > self.table.len() {
            self.grow();
        }
        let start = self.arena.len();
        e.push_to(&mut self.arena);
        let s = &self.arena[start..];
        let h = hash_bytes(s);
        let mask = self.table.len() - 1;
        let mut i = (h as usize) & mask;
        loop {
            let (sh, ss, sl) = self.table[i];
            if sl == u32::MAX {
                self.table[i] = (h, start as u32, s.len() as u32);
                self.count += 1;
                return;
            }
            if sh == h && &self.arena[ss as usize..(ss + sl) as usize] == s {
                self.dup = Some((ss, sl));
                return;
            }
            i = (i + 1) & mask;
        }
    }

    /// The first duplicated string, if any (exact mode; in hash mode a repeated hash only
    /// marks the value suspect, see [`Walker::value`]).
    fn find(&mut self) -> Option<Vec<u8>> {
        if !self.active || !self.exact {
            return None;
        }
        self.dup
            .map(|(s, l)| self.arena[s as usize..(s + l) as usize].to_vec())
    }
}

/// Options for decoding.
#[derive(Debug, Clone, Copy)]
pub struct DecodeOptions {
    /// Check what Redis checks only with `sanitize-dump-payload yes` (unique listpack
    /// members, hash TTL ordering, stream PEL ownership). On by default, as in redis-check-rdb.
    pub deep: bool,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions { deep: true }
    }
}

/// The logical type of a type byte, or `None` if it is not a value type in this dialect.
#[inline]
pub fn value_type_of(dialect: Dialect, t: u8) -> Option<ValueType> {
    // A table per dialect, built at compile time from the rules below: this is asked for
    // every record.
    const fn table(dialect: Dialect) -> [Option<ValueType>; 256] {
        let mut out = [None; 256];
        let mut t = 0;
        while t < 256 {
            out[t] = value_type_rule(dialect, t as u8);
            t += 1;
        }
        out
    }
    static REDIS: [Option<ValueType>; 256] = table(Dialect::Redis);
    static VALKEY: [Option<ValueType>; 256] = table(Dialect::Valkey);
    match dialect {
        Dialect::Redis => REDIS[t as usize],
        Dialect::Valkey => VALKEY[t as usize],
    }
}

/// The logical type of a type byte (the rules [`value_type_of`]'s tables are built from).
const fn value_type_rule(dialect: Dialect, t: u8) -> Option<ValueType> {
    let redis = matches!(dialect, Dialect::Redis);
    Some(match t {
        T_STRING => ValueType::String,
        T_LIST | T_LIST_ZIPLIST | T_LIST_QUICKLIST | T_LIST_QUICKLIST_2 => ValueType::List,
        T_SET | T_SET_INTSET | T_SET_LISTPACK => ValueType::Set,
        T_ZSET | T_ZSET_2 | T_ZSET_ZIPLIST | T_ZSET_LISTPACK => ValueType::Zset,
        T_HASH | T_HASH_ZIPMAP | T_HASH_ZIPLIST | T_HASH_LISTPACK | T_22 => ValueType::Hash,
        T_23 if redis => ValueType::Hash,
        T_HASH_METADATA | T_HASH_LISTPACK_EX if redis => ValueType::Hash,
        T_STREAM_LISTPACKS | T_STREAM_LISTPACKS_2 | T_STREAM_LISTPACKS_3 => ValueType::Stream,
        T_STREAM_LISTPACKS_4 | T_STREAM_LISTPACKS_5 if redis => ValueType::Stream,
        T_MODULE_PRE_GA | T_MODULE_2 => ValueType::Module,
        T_ARRAY if redis => ValueType::Array,
        _ => return None,
    })
}

/// The walker. `skip` = only find the end; otherwise decode, validate and visit.
pub(crate) struct Walker<'v, V: ValueVisitor + ?Sized = dyn ValueVisitor> {
    pub(crate) ctx: ValueCtx,
    pub(crate) skip: bool,
    pub(crate) deep: bool,
    pub(crate) visitor: &'v mut V,
    pub(crate) scratch: &'v mut Scratch,
}

/// Walks one value of type byte `t` at the cursor only to find where it ends: the lengths
/// are followed, but no LZF string is inflated and no inner encoding (listpack, ziplist, …)
/// is read, so a value that skips cleanly may still fail [`visit_value`]. On success the
/// cursor is just past the value; on error, where the walk stopped.
pub fn skip_value(cur: &mut Cursor<'_>, ctx: ValueCtx, t: u8) -> Result<()> {
    Walker {
        ctx,
        skip: true,
        deep: false,
        visitor: &mut IgnoreVisitor,
        scratch: &mut Scratch::default(),
    }
    .value(cur, t)
}

/// Decodes and validates one value of type byte `t` at the cursor (every inner encoding,
/// and with `opts.deep` what Redis checks only with `sanitize-dump-payload yes`), streaming
/// its elements to `visitor`. The building block of [`crate::rdb::ValueHandle::visit`] for
/// a value that is not in a file, such as the body of a DUMP payload; unlike `visit` it
/// does not require the input to end with the value. On success the cursor is just past the
/// value; on error, where the walk stopped.
pub fn visit_value<V: ValueVisitor + ?Sized>(
    cur: &mut Cursor<'_>,
    ctx: ValueCtx,
    t: u8,
    visitor: &mut V,
    scratch: &mut Scratch,
    opts: DecodeOptions,
) -> Result<()> {
    Walker {
        ctx,
        skip: false,
        deep: opts.deep,
        visitor,
        scratch,
    }
    .value(cur, t)
}

fn corrupt(at: u64, expected: &'static str, found: impl Into<String>) -> Error {
    Error::corrupt(at, expected, found)
}

fn dup_error(at: u64, what: &'static str, d: &[u8]) -> Error {
    corrupt(
        at,
        what,
        format!("a duplicate \"{}\"", crate::error::escape_bytes(d)),
    )
}

/// The next element of a listpack/ziplist that must have one (the second or third of a
/// group), or the error `expected`/`found` at the blob's offset.
#[inline]
fn next_elem<'e>(
    it: &mut impl Iterator<Item = Result<Elem<'e>>>,
    base: u64,
    expected: &'static str,
    found: &'static str,
) -> Result<Elem<'e>> {
    match it.next() {
        Some(x) => x,
        None => Err(corrupt(base, expected, found)),
    }
}

/// Reads a zset v1 string-encoded double.
fn string_double(cur: &mut Cursor<'_>) -> Result<f64> {
    let at = cur.offset();
    let n = cur.u8("a zset score length")?;
    match n {
        253 => Ok(f64::NAN),
        254 => Ok(f64::INFINITY),
        255 => Ok(f64::NEG_INFINITY),
        _ => {
            let b = cur.bytes(n as u64, "a zset score")?;
            crate::rdb::encoding::parse_f64(b)
                .ok_or_else(|| corrupt(at, "a decimal zset score", crate::error::escape_bytes(b)))
        }
    }
}

impl<V: ValueVisitor + ?Sized> Walker<'_, V> {
    /// Walks one value of type `t` starting at the cursor.
    ///
    /// Duplicate members are first looked for by hash only; when two hashes are equal the
    /// value is walked again (validating only) with exact comparisons, whose verdict is the
    /// one returned, so the result is exactly that of an exact walk.
    pub(crate) fn value(&mut self, cur: &mut Cursor<'_>, t: u8) -> Result<()> {
        if self.skip || self.scratch.dup.exact {
            return self.value_inner(cur, t);
        }
        // Only the position is kept (copying the whole cursor here, just after it was
        // written, stalled on store forwarding).
        let from = cur.pos();
        self.scratch.dup.suspect = false;
        let first = self.value_inner(cur, t);
        if !self.scratch.dup.suspect {
            return first;
        }
        self.scratch.dup.suspect = false;
        self.scratch.dup.exact = true;
        let mut again = cur.clone();
        again.set_pos(from);
        let exact = Walker {
            ctx: self.ctx,
            skip: false,
            deep: self.deep,
            visitor: &mut IgnoreVisitor,
            scratch: &mut *self.scratch,
        }
        .value_inner(&mut again, t);
        self.scratch.dup.exact = false;
        match exact {
            Err(e) => Err(e),
            Ok(()) => first,
        }
    }

    fn value_inner(&mut self, cur: &mut Cursor<'_>, t: u8) -> Result<()> {
        let start = cur.offset();
        let ty = value_type_of(self.ctx.dialect, t)
            .ok_or_else(|| corrupt(start, "a value type byte", format!("unknown type {t}")))?;
        match t {
            T_STRING => {
                let s = cur.string("a string value")?;
                if !self.skip {
                    self.visitor.begin(ty, t, Some(s.len()))?;
                    if self.visitor.wants_values() {
                        self.with_str(s, |v, e| v.string(e))?;
                    } else {
                        s.validate()?;
                    }
                }
            }
            T_LIST | T_SET => {
                let n = cur.count("a list or set length", 1)?;
                self.begin(ty, t, Some(n))?;
                self.scratch.dup.start(!self.skip && t == T_SET);
                for _ in 0..n {
                    let s = cur.string("a list or set element")?;
                    if !self.skip {
                        if t == T_LIST {
                            self.with_str(s, |v, e| v.list_item(e))?;
                        } else {
                            self.with_str_dup(s, |v, e| v.set_member(e))?;
                        }
                    }
                }
                if let Some(d) = self.scratch.dup.find() {
                    return Err(dup_error(start, "unique set members", &d));
                }
            }
            T_ZSET | T_ZSET_2 => {
                let n = cur.count("a sorted set length", 2)?;
                self.begin(ty, t, Some(n))?;
                self.scratch.dup.start(!self.skip);
                for _ in 0..n {
                    let m = cur.string("a sorted set member")?;
                    let at = cur.offset();
                    let score = if t == T_ZSET {
                        string_double(cur)?
                    } else {
                        cur.f64_le("a sorted set score")?
                    };
                    if !self.skip {
                        if score.is_nan() {
                            return Err(corrupt(at, "a sorted set score that is a number", "NaN"));
                        }
                        self.with_str_dup(m, |v, e| v.zset_member(e, score))?;
                    }
                }
                if let Some(d) = self.scratch.dup.find() {
                    return Err(dup_error(start, "unique sorted set members", &d));
                }
            }
            T_HASH => {
                let n = cur.count("a hash length", 2)?;
                self.begin(ty, t, Some(n))?;
                self.scratch.dup.start(!self.skip);
                for _ in 0..n {
                    let f = cur.string("a hash field")?;
                    let v = cur.string("a hash value")?;
                    if !self.skip {
                        self.hash_pair(f, v, None)?;
                    }
                }
                if let Some(d) = self.scratch.dup.find() {
                    return Err(dup_error(start, "unique hash fields", &d));
                }
            }
            T_22 if self.ctx.dialect == Dialect::Valkey => self.hash2_valkey(cur, start, ty, t)?,
            T_22 | T_HASH_METADATA => self.hash_metadata(cur, start, ty, t)?,
            T_HASH_ZIPMAP | T_LIST_ZIPLIST | T_SET_INTSET | T_ZSET_ZIPLIST | T_HASH_ZIPLIST
            | T_HASH_LISTPACK | T_ZSET_LISTPACK | T_SET_LISTPACK | T_23 | T_HASH_LISTPACK_EX => {
                if t == T_23 && self.ctx.dialect == Dialect::Valkey {
                    return Err(Error::new(crate::error::ErrorKind::Unsupported(
                        "Valkey type 23 (path hash), whose layout is not published".into(),
                    ))
                    .at(start));
                }
                if t == T_HASH_LISTPACK_EX {
                    cur.u64_le("a hash minimum expire time")?;
                }
                let sat = cur.offset();
                let s = cur.string("an encoded value blob")?;
                if !self.skip {
                    let raw_base = cur.offset().saturating_sub(s.len());
                    self.blob(s, sat, raw_base, ty, t)?;
                }
            }
            T_LIST_QUICKLIST | T_LIST_QUICKLIST_2 => self.quicklist(cur, ty, t)?,
            T_STREAM_LISTPACKS | T_STREAM_LISTPACKS_2 | T_STREAM_LISTPACKS_3
            | T_STREAM_LISTPACKS_4 | T_STREAM_LISTPACKS_5 => self.stream(cur, ty, t)?,
            T_MODULE_PRE_GA => {
                return Err(Error::new(crate::error::ErrorKind::Unsupported(
                    "pre-release module values (type 6) cannot be read without the module".into(),
                ))
                .at(start))
            }
            T_MODULE_2 => {
                let id = cur.len("a module type id")?;
                let body_start = cur.pos();
                module_opcodes(cur)?;
                if !self.skip {
                    self.visitor.begin(ty, t, None)?;
                    let body = cur.slice(body_start, cur.pos());
                    self.visitor.module_value(id, body)?;
                }
            }
            T_ARRAY => self.array(cur, ty, t)?,
            _ => {
                return Err(corrupt(
                    start,
                    "a value type byte",
                    format!("unknown type {t}"),
                ))
            }
        }
        if !self.skip {
            self.visitor.end()?;
        }
        Ok(())
    }

    #[inline]
    fn begin(&mut self, ty: ValueType, t: u8, n: Option<u64>) -> Result<()> {
        if self.skip {
            Ok(())
        } else {
            self.visitor.begin(ty, t, n)
        }
    }

    /// Decodes an RDB string and hands it to `f`.
    #[inline]
    fn with_str(
        &mut self,
        s: RdbStr<'_>,
        f: impl FnOnce(&mut V, Elem<'_>) -> Result<()>,
    ) -> Result<()> {
        match s {
            RdbStr::Raw(b) => f(self.visitor, Elem::Bytes(b)),
            RdbStr::Int(i) => f(self.visitor, Elem::Int(i)),
            lzf => {
                let b = lzf.decode(&mut self.scratch.a)?;
                f(self.visitor, Elem::Bytes(b))
            }
        }
    }

    #[inline]
    fn with_str_dup(
        &mut self,
        s: RdbStr<'_>,
        f: impl FnOnce(&mut V, Elem<'_>) -> Result<()>,
    ) -> Result<()> {
        match s {
            RdbStr::Raw(b) => {
                self.scratch.dup.add(Elem::Bytes(b));
                f(self.visitor, Elem::Bytes(b))
            }
            RdbStr::Int(i) => {
                self.scratch.dup.add(Elem::Int(i));
                f(self.visitor, Elem::Int(i))
            }
            lzf => {
                let b = lzf.decode(&mut self.scratch.a)?;
                self.scratch.dup.add(Elem::Bytes(b));
                f(self.visitor, Elem::Bytes(b))
            }
        }
    }

    fn hash_pair(&mut self, f: RdbStr<'_>, v: RdbStr<'_>, ttl: Option<u64>) -> Result<()> {
        let Scratch { a, b, dup } = &mut *self.scratch;
        let fe = match f {
            RdbStr::Raw(x) => Elem::Bytes(x),
            RdbStr::Int(i) => Elem::Int(i),
            lzf => Elem::Bytes(lzf.decode(a)?),
        };
        let ve = match v {
            RdbStr::Raw(x) => Elem::Bytes(x),
            RdbStr::Int(i) => Elem::Int(i),
            lzf => Elem::Bytes(lzf.decode(b)?),
        };
        dup.add(fe);
        self.visitor.hash_field(fe, ve, ttl)
    }

    fn hash_metadata(
        &mut self,
        cur: &mut Cursor<'_>,
        start: u64,
        ty: ValueType,
        t: u8,
    ) -> Result<()> {
        let pre_ga = t == T_22;
        let min_expire = if pre_ga {
            0
        } else {
            let at = cur.offset();
            let m = cur.u64_le("a hash minimum expire time")?;
            if m > EB_EXPIRE_TIME_MAX + 1 {
                return Err(corrupt(
                    at,
                    "a hash minimum expire time ≤ 2^48",
                    format!("{m}"),
                ));
            }
            m
        };
        let n = cur.count("a hash length", 3)?;
        self.begin(ty, t, Some(n))?;
        self.scratch.dup.start(!self.skip);
        for _ in 0..n {
            let at = cur.offset();
            let ttl = cur.len("a hash field TTL")?;
            let f = cur.string("a hash field")?;
            let v = cur.string("a hash value")?;
            if self.skip {
                continue;
            }
            let expire = if ttl == 0 {
                None
            } else if pre_ga {
                Some(ttl)
            } else {
                Some(ttl.saturating_add(min_expire).saturating_sub(1))
            };
            if let Some(e) = expire {
                if e > EB_EXPIRE_TIME_MAX {
                    return Err(corrupt(at, "a hash field expiry ≤ 2^48-1", format!("{e}")));
                }
            }
            self.hash_pair(f, v, expire)?;
        }
        if let Some(d) = self.scratch.dup.find() {
            return Err(dup_error(start, "unique hash fields", &d));
        }
        Ok(())
    }

    fn hash2_valkey(
        &mut self,
        cur: &mut Cursor<'_>,
        start: u64,
        ty: ValueType,
        t: u8,
    ) -> Result<()> {
        let n = cur.count("a hash length", 10)?;
        self.begin(ty, t, Some(n))?;
        self.scratch.dup.start(!self.skip);
        for _ in 0..n {
            let f = cur.string("a hash field")?;
            let v = cur.string("a hash value")?;
            let at = cur.offset();
            let e = cur.i64_le("a hash field expiry")?;
            if self.skip {
                continue;
            }
            if e < -1 {
                return Err(corrupt(at, "a hash field expiry ≥ -1", format!("{e}")));
            }
            self.hash_pair(f, v, (e >= 0).then_some(e as u64))?;
        }
        if let Some(d) = self.scratch.dup.find() {
            return Err(dup_error(start, "unique hash fields", &d));
        }
        Ok(())
    }

    /// Decodes a blob-encoded value (ziplist, listpack, intset, zipmap). `sat` is the offset
    /// of the RDB string, `raw_base` that of its bytes when stored raw.
    fn blob(&mut self, s: RdbStr<'_>, sat: u64, raw_base: u64, ty: ValueType, t: u8) -> Result<()> {
        let mut a = std::mem::take(&mut self.scratch.a);
        let res = (|| {
            let (blob, base, lzf_at): (&[u8], u64, Option<u64>) = match s {
                RdbStr::Raw(b) => (b, raw_base, None),
                RdbStr::Int(_) => {
                    return Err(corrupt(
                        sat,
                        "an encoded value blob",
                        "an integer-encoded string",
                    ))
                }
                RdbStr::Lzf { offset, .. } => (s.decode(&mut a)?, offset, Some(offset)),
            };
            self.blob_bytes(blob, base, ty, t)
                .map_err(|e| match lzf_at {
                    Some(o) => e.inside_lzf(o),
                    None => e,
                })
        })();
        self.scratch.a = a;
        res
    }

    fn blob_bytes(&mut self, blob: &[u8], base: u64, ty: ValueType, t: u8) -> Result<()> {
        let deep = self.deep;
        match t {
            T_SET_INTSET => {
                let is = Intset::parse(blob, base)?;
                self.visitor.begin(ty, t, Some(is.len() as u64))?;
                for v in is.iter() {
                    self.visitor.set_member(Elem::Int(v))?;
                }
            }
            T_HASH_ZIPMAP => {
                let pairs = zipmap::pairs(blob, base)?;
                self.visitor.begin(ty, t, Some(pairs.len() as u64))?;
                self.scratch.dup.start(true);
                for &(f, v) in &pairs {
                    self.scratch.dup.add(Elem::Bytes(f));
                    self.visitor
                        .hash_field(Elem::Bytes(f), Elem::Bytes(v), None)?;
                }
                if let Some(d) = self.scratch.dup.find() {
                    return Err(dup_error(base, "unique zipmap fields", &d));
                }
            }
            T_LIST_ZIPLIST | T_ZSET_ZIPLIST | T_HASH_ZIPLIST => {
                let zl = Ziplist::parse(blob, base)?;
                // Pairs are always checked for ziplists (even count, unique names).
                self.elems(zl.iter(), ty, t, true, base)?;
            }
            T_HASH_LISTPACK | T_ZSET_LISTPACK | T_SET_LISTPACK | T_23 | T_HASH_LISTPACK_EX => {
                let lp = Listpack::parse(blob, base)?;
                self.elems(lp.iter(), ty, t, deep, base)?;
            }
            _ => return Err(corrupt(base, "a blob-encoded type", format!("type {t}"))),
        }
        Ok(())
    }

    /// Feeds a ziplist/listpack element sequence as the type's elements.
    fn elems<'e>(
        &mut self,
        iter: impl Iterator<Item = Result<Elem<'e>>>,
        ty: ValueType,
        t: u8,
        check_dups: bool,
        base: u64,
    ) -> Result<()> {
        self.visitor.begin(ty, t, None)?;
        self.scratch.dup.start(check_dups && ty != ValueType::List);
        match ty {
            ValueType::List => {
                for e in iter {
                    self.visitor.list_item(e?)?;
                }
            }
            ValueType::Set => {
                for e in iter {
                    let e = e?;
                    self.scratch.dup.add(e);
                    self.visitor.set_member(e)?;
                }
            }
            ValueType::Zset => {
                let wants_values = self.visitor.wants_values();
                let mut it = iter;
                while let Some(m) = it.next() {
                    let m = m?;
                    let s = next_elem(
                        &mut it,
                        base,
                        "a score after each sorted set member",
                        "an odd number of elements",
                    )?;
                    let score = if wants_values {
                        s.as_f64().filter(|f| !f.is_nan())
                    } else {
                        // Same verdict without computing the value (the visitor ignores it).
                        match s {
                            Elem::Int(_) => Some(0.0),
                            Elem::Bytes(b) => crate::rdb::encoding::is_score_text(b).then_some(0.0),
                        }
                    };
                    let score = score.ok_or_else(|| {
                        corrupt(
                            base,
                            "a numeric sorted set score",
                            format!("{:?}", s.to_vec().escape_ascii().to_string()),
                        )
                    })?;
                    self.scratch.dup.add(m);
                    self.visitor.zset_member(m, score)?;
                }
            }
            ValueType::Hash => {
                let triples = t == T_23 || t == T_HASH_LISTPACK_EX;
                let mut it = iter;
                let mut last_ttl: Option<u64> = None;
                let mut seen_no_ttl = false;
                while let Some(f) = it.next() {
                    let f = f?;
                    let v = next_elem(
                        &mut it,
                        base,
                        "a value after each hash field",
                        "an odd number of elements",
                    )?;
                    let mut ttl = None;
                    if triples {
                        let te = next_elem(
                            &mut it,
                            base,
                            "a TTL after each hash field and value",
                            "a missing TTL",
                        )?;
                        let tv = match te {
                            Elem::Int(i) if i >= 0 && i as u64 <= EB_EXPIRE_TIME_MAX => i as u64,
                            _ if !self.deep => match te.as_int() {
                                Some(i) if i >= 0 => i as u64,
                                _ => {
                                    return Err(corrupt(
                                        base,
                                        "an integer hash field TTL",
                                        "a non-integer",
                                    ))
                                }
                            },
                            _ => {
                                return Err(corrupt(
                                    base,
                                    "an integer hash field TTL in [0, 2^48-1]",
                                    format!("{:?}", te),
                                ))
                            }
                        };
                        if self.deep {
                            if tv == 0 {
                                seen_no_ttl = true;
                            } else {
                                if seen_no_ttl || last_ttl.is_some_and(|l| tv < l) {
                                    return Err(corrupt(
                                        base,
                                        "hash fields with TTLs first, in non-decreasing TTL order",
                                        format!("TTL {tv} out of order"),
                                    ));
                                }
                                last_ttl = Some(tv);
                            }
                        }
                        ttl = (tv != 0).then_some(tv);
                    }
                    self.scratch.dup.add(f);
                    self.visitor.hash_field(f, v, ttl)?;
                }
            }
            _ => {}
        }
        if let Some(d) = self.scratch.dup.find() {
            return Err(dup_error(base, "unique members", &d));
        }
        Ok(())
    }

    fn quicklist(&mut self, cur: &mut Cursor<'_>, ty: ValueType, t: u8) -> Result<()> {
        // At least 1 byte per node (an empty string) in v1, 2 (container + string) in v2: a
        // count check never stricter than the walk keeps the verdict the same whether the
        // cursor ends at the value's end or runs on into the rest of the file.
        let min_node = if t == T_LIST_QUICKLIST_2 { 2 } else { 1 };
        let n = cur.count("a quicklist node count", min_node)?;
        self.begin(ty, t, None)?;
        for _ in 0..n {
            let at = cur.offset();
            let container = if t == T_LIST_QUICKLIST_2 {
                let c = cur.len("a quicklist node container")?;
                if c != QUICKLIST_NODE_PLAIN && c != QUICKLIST_NODE_PACKED {
                    return Err(corrupt(
                        at,
                        "a quicklist container of 1 (plain) or 2 (packed)",
                        format!("{c}"),
                    ));
                }
                c
            } else {
                QUICKLIST_NODE_PACKED
            };
            let sat = cur.offset();
            let s = cur.string("a quicklist node")?;
            if s.is_empty() && t == T_LIST_QUICKLIST_2 {
                return Err(corrupt(
                    sat,
                    "a non-empty quicklist node",
                    "an empty string",
                ));
            }
            if self.skip {
                continue;
            }
            if container == QUICKLIST_NODE_PLAIN {
                self.with_str(s, |v, e| v.list_item(e))?;
                continue;
            }
            let base = match s {
                RdbStr::Lzf { offset, .. } => offset,
                _ => cur.offset().saturating_sub(s.len()),
            };
            let mut a = std::mem::take(&mut self.scratch.a);
            let r = (|| {
                let blob = match s {
                    RdbStr::Raw(b) => b,
                    RdbStr::Int(_) => {
                        return Err(corrupt(sat, "a quicklist node blob", "an integer"))
                    }
                    lzf => lzf.decode(&mut a)?,
                };
                let r = (|| -> Result<()> {
                    if t == T_LIST_QUICKLIST {
                        for e in Ziplist::parse(blob, base)?.iter() {
                            self.visitor.list_item(e?)?;
                        }
                    } else {
                        for e in Listpack::parse(blob, base)?.iter() {
                            self.visitor.list_item(e?)?;
                        }
                    }
                    Ok(())
                })();
                match s {
                    RdbStr::Lzf { offset, .. } => r.map_err(|e| e.inside_lzf(offset)),
                    _ => r,
                }
            })();
            self.scratch.a = a;
            r?;
        }
        Ok(())
    }

    fn array(&mut self, cur: &mut Cursor<'_>, ty: ValueType, t: u8) -> Result<()> {
        let at = cur.offset();
        let count = cur.count("an array element count", 3)?;
        if count == 0 {
            return Err(corrupt(at, "a non-empty array", "count 0"));
        }
        let fat = cur.offset();
        let flag = cur.len("an array insert-index flag")?;
        let insert_idx = match flag {
            0 => None,
            1 => Some(cur.len("an array insert index")?),
            _ => {
                return Err(corrupt(
                    fat,
                    "an array insert-index flag of 0 or 1",
                    format!("{flag}"),
                ))
            }
        };
        self.begin(ty, t, Some(count))?;
        if !self.skip {
            self.visitor.array_meta(count, insert_idx)?;
        }
        for _ in 0..count {
            let iat = cur.offset();
            let idx = match cur.len_or_encoding("an array index")? {
                crate::rdb::cursor::LenOrEncoding::Len(i) if i != u64::MAX => i,
                _ => {
                    return Err(corrupt(
                        iat,
                        "an array index",
                        "an encoded or out-of-range index",
                    ))
                }
            };
            let tat = cur.offset();
            let tag = cur.len("an array element tag")?;
            match tag {
                ARRAY_TAG_INT => {
                    let v = cur.i64_le("an array integer")?;
                    if !self.skip {
                        self.visitor.array_item(idx, ArrayItem::Int(v))?;
                    }
                }
                ARRAY_TAG_FLOAT => {
                    let v = cur.f64_le("an array double")?;
                    if !self.skip {
                        self.visitor.array_item(idx, ArrayItem::Float(v))?;
                    }
                }
                ARRAY_TAG_SDS | ARRAY_TAG_SMALLSTR => {
                    let s = cur.string("an array string")?;
                    if !self.skip {
                        if tag == ARRAY_TAG_SMALLSTR && s.len() > 7 {
                            return Err(corrupt(
                                tat,
                                "an array small string of at most 7 bytes",
                                format!("{} bytes", s.len()),
                            ));
                        }
                        self.with_str(s, |v, e| v.array_item(idx, ArrayItem::Bytes(e)))?;
                    }
                }
                _ => return Err(corrupt(tat, "an array element tag (0-3)", format!("{tag}"))),
            }
        }
        Ok(())
    }
}

/// Skips a module opcode stream (the body of a module value after its type id, §7.9) up to
/// and including its EOF opcode, checking every opcode and operand.
pub fn module_opcodes(cur: &mut Cursor<'_>) -> Result<()> {
    loop {
        let at = cur.offset();
        let op = cur.len("a module opcode")?;
        match op {
            MODULE_OP_EOF => return Ok(()),
            MODULE_OP_SINT | MODULE_OP_UINT => {
                cur.len("a module integer")?;
            }
            MODULE_OP_FLOAT => cur.skip(4, "a module float")?,
            MODULE_OP_DOUBLE => cur.skip(8, "a module double")?,
            MODULE_OP_STRING => {
                cur.string("a module string")?;
            }
            _ => return Err(corrupt(at, "a module opcode (0-5)", format!("{op}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rdb::cursor::Cursor;

    fn walk(t: u8, payload: &[u8]) -> Result<()> {
        let mut scratch = Scratch::default();
        let mut w = Walker {
            ctx: ValueCtx {
                dialect: Dialect::Redis,
                version: 11,
            },
            skip: false,
            deep: true,
            visitor: &mut IgnoreVisitor,
            scratch: &mut scratch,
        };
        w.value(&mut Cursor::new(payload, 0), t)
    }

    #[test]
    fn duplicate_hash_fields_and_set_members_are_detected() {
        // HASH (4): 2 pairs, field "a" twice.
        assert!(walk(T_HASH, b"\x02\x01a\x01x\x01a\x01y").is_err());
        assert!(walk(T_HASH, b"\x02\x01a\x01x\x01b\x01y").is_ok());
        // SET (2): "5" as text and 5 as int8 are the same member.
        assert!(walk(T_SET, b"\x02\x015\xc0\x05").is_err());
        // Many distinct members (forces the table to grow), then a duplicate.
        let mut p = vec![0x40, 201];
        for i in 0..200u8 {
            p.extend_from_slice(&[0x02, b'm', i]);
        }
        assert!(walk(T_SET, &{
            let mut q = p.clone();
            q[1] = 200;
            q
        })
        .is_ok());
        p.extend_from_slice(&[0x02, b'm', 17]);
        assert!(walk(T_SET, &p).is_err());
    }
}
