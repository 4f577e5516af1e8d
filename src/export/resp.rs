//! Redis commands that rebuild the keys on a live server (`redis-cli --pipe`), or `RESTORE`
//! commands carrying DUMP payloads.
//!
//! Commands mode: `SELECT` when the database changes; per key `SET` (with `APPEND` for
//! strings over 512 MB), `RPUSH`, `SADD`, `ZADD`, `HSET` (+ `HPEXPIREAT … FIELDS` for field
//! TTLs), `XADD` per entry + `XSETID` (with `ENTRIESADDED`/`MAXDELETEDID` when the file has
//! them) + `XGROUP CREATE` (with `ENTRIESREAD` when the file has it) + `XCLAIM … FORCE JUSTID`
//! per pending entry (restoring owner, delivery time and count) + `XGROUP CREATECONSUMER` for
//! consumers without pending entries, `ARMSET` (+ `ARSEEK`) for arrays, `RESTORE` for
//! module values, then `PEXPIREAT`; `FUNCTION LOAD` for function libraries. Collections
//! are split into commands of at most `batch_elems` elements or about `batch_bytes` bytes.
//!
//! Restore mode: `RESTORE key ttl payload [REPLACE] ABSTTL [IDLETIME s | FREQ f]`, the
//! payload built from the value's raw bytes (see [`crate::export::restore`]).
//!
//! Keys whose expiry has passed are skipped, unless `keep_expired` is set: then they are
//! written without their expiry (so they survive on the target).

use crate::error::Error;
use crate::error::Result;
use crate::export::json::format_double;
use crate::export::out::OutBuf;
use crate::export::restore::{converted_payload, payload_len, payload_version, write_payload};
use crate::export::EntrySink;
use crate::rdb::encoding::Elem;
use crate::rdb::model::{ConsumerGroup, StreamId, StreamIdmp, StreamMeta, ValueType};
use crate::rdb::value::ArrayItem;
use crate::rdb::{DecodeOptions, Entry, Scratch, ValueVisitor};

/// Largest string sent in one argument (Redis's default `proto-max-bulk-len` is 512 MB).
pub const MAX_BULK: usize = 512 << 20;
/// Chunk size for strings over [`MAX_BULK`] (`SET` then `APPEND`s).
pub const STRING_CHUNK: usize = 256 << 20;
/// Temporary group used to create an empty stream (`XGROUP CREATE … MKSTREAM`, then destroyed).
pub const TMP_GROUP: &[u8] = b"__redsafe_mkstream__";

/// What to emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RespMode {
    /// Commands that rebuild each value (SET, RPUSH, …).
    Commands,
    /// `RESTORE` with DUMP payloads.
    Restore,
}

/// Options of the RESP exporter.
#[derive(Debug, Clone)]
pub struct RespOptions {
    /// Commands or RESTORE.
    pub mode: RespMode,
    /// Replace existing keys: `DEL` before rebuilding (commands), `REPLACE` (restore),
    /// `FUNCTION LOAD REPLACE`.
    pub replace: bool,
    /// Also write keys whose expiry has passed, without their expiry.
    pub keep_expired: bool,
    /// Emit `FUNCTION LOAD` for function libraries.
    pub functions: bool,
    /// Maximum elements per command.
    pub batch_elems: usize,
    /// Approximate maximum argument bytes per command.
    pub batch_bytes: usize,
    /// RDB version of the target (restore mode); `None` = same as the file.
    pub target_version: Option<u32>,
    /// "Now" in unix ms, to decide which keys have expired.
    pub now_ms: i64,
    /// Decoding options.
    pub decode: DecodeOptions,
}

impl Default for RespOptions {
    fn default() -> Self {
        RespOptions {
            mode: RespMode::Commands,
            replace: false,
            keep_expired: false,
            functions: true,
            batch_elems: 1000,
            batch_bytes: 4 << 20,
            target_version: None,
            now_ms: crate::filter::now_ms(),
            decode: DecodeOptions { deep: false },
        }
    }
}

/// What the exporter did and what it could not express as commands.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RespReport {
    /// Commands written.
    pub commands: u64,
    /// Keys skipped because their expiry had passed.
    pub expired_skipped: u64,
    /// Expired keys written without their expiry (`keep_expired`).
    pub expiry_dropped: u64,
    /// Module values written as RESTORE (they have no command form).
    pub module_values_restored: u64,
    /// Stream pending entries written as XCLAIM. Entries whose message was deleted from
    /// the stream cannot be recreated this way and are ignored by the server.
    pub pending_entries: u64,
    /// Pending entries without an owner (Redis 8.8 NACK zone): not expressible, skipped.
    pub nacked_skipped: u64,
    /// Streams with IDMP state (Redis 8.6+): the state is not expressible and was skipped.
    pub idmp_skipped: u64,
    /// Stream entries without fields (XADD needs one): skipped.
    pub empty_entries_skipped: u64,
    /// Empty collections skipped (Redis skips them when loading an RDB and refuses them
    /// in RESTORE).
    pub empty_skipped: u64,
    /// Values re-encoded for an older `target_version` (restore mode).
    pub converted: u64,
    /// Function libraries written.
    pub functions: u64,
    /// Pre-release (7.0 RC) functions skipped.
    pub pre_ga_functions_skipped: u64,
    /// Arguments or payloads larger than 512 MB (a default server refuses them).
    pub oversized_arguments: u64,
}

/// Appends a RESP array header `*n\r\n`.
#[inline]
pub fn write_array_header(out: &mut Vec<u8>, n: usize) {
    out.push(b'*');
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    out.extend_from_slice(b"\r\n");
}

/// Appends a RESP bulk string.
#[inline]
pub fn write_bulk(out: &mut Vec<u8>, b: &[u8]) {
    out.push(b'$');
    out.extend_from_slice(itoa::Buffer::new().format(b.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(b);
    out.extend_from_slice(b"\r\n");
}

/// Appends an element as a bulk string (integers as decimal text). Returns its length.
#[inline]
pub fn write_bulk_elem(out: &mut Vec<u8>, e: Elem<'_>) -> usize {
    match e {
        Elem::Bytes(b) => {
            write_bulk(out, b);
            b.len()
        }
        Elem::Int(i) => {
            let mut buf = itoa::Buffer::new();
            let s = buf.format(i).as_bytes();
            write_bulk(out, s);
            s.len()
        }
    }
}

/// Appends an integer as a bulk string.
#[inline]
pub fn write_bulk_int<I: itoa::Integer>(out: &mut Vec<u8>, i: I) {
    write_bulk(out, itoa::Buffer::new().format(i).as_bytes());
}

/// Appends a whole command.
pub fn write_command(out: &mut Vec<u8>, args: &[&[u8]]) {
    write_array_header(out, args.len());
    for a in args {
        write_bulk(out, a);
    }
}

fn id_text(id: StreamId) -> String {
    format!("{}-{}", id.ms, id.seq)
}

/// Formats a score for ZADD: shortest round-trip text, `inf` / `-inf`.
fn score_text(f: f64) -> String {
    if f.is_infinite() {
        if f > 0.0 { "inf" } else { "-inf" }.into()
    } else {
        ryu::Buffer::new().format_finite(f).to_string()
    }
}

/// One pending multi-element command (`RPUSH key a b c …`).
struct Batch {
    name: &'static [u8],
    args: Vec<u8>,
    nargs: usize,
    elems: usize,
}

impl Batch {
    fn flush(&mut self, out: &mut OutBuf<'_>, key: &[u8], report: &mut RespReport) -> Result<()> {
        if self.nargs == 0 {
            return Ok(());
        }
        write_array_header(&mut out.buf, 2 + self.nargs);
        write_bulk(&mut out.buf, self.name);
        write_bulk(&mut out.buf, key);
        out.buf.extend_from_slice(&self.args);
        self.args.clear();
        self.nargs = 0;
        self.elems = 0;
        report.commands += 1;
        out.maybe_flush()
    }
}

/// A run of hash fields sharing one TTL (`HPEXPIREAT key ms FIELDS n f…`).
struct TtlRun {
    ms: u64,
    fields: Vec<u8>,
    n: usize,
}

/// Streams one value as commands.
struct RespValue<'a, 'w> {
    out: &'a mut OutBuf<'w>,
    key: &'a [u8],
    opts: &'a RespOptions,
    report: &'a mut RespReport,
    batch: Batch,
    ttl: TtlRun,
    entries_written: u64,
    first_entry: Option<StreamId>,
    meta: Option<StreamMeta>,
    insert_idx: Option<u64>,
}

/// Redis's `streamEstimateDistanceFromFirstEverEntry` for a stream loaded from a version 1
/// RDB stream (entries added = length, no deleted-entry ID): the `entries_read` a 7.0+
/// server computes for a group whose counter the file does not store. -1 = unknown.
fn estimate_entries_read(m: &StreamMeta, first: Option<StreamId>, id: StreamId) -> i64 {
    let added = m.length as i64;
    if added == 0 {
        return 0;
    }
    if id == m.last_id {
        return added;
    }
    if id > m.last_id {
        return -1;
    }
    match first {
        Some(f) if id < f => 0,
        Some(f) if id == f => 1,
        _ => -1,
    }
}

impl RespValue<'_, '_> {
    /// True when the target understands Redis 7.0 stream options (ENTRIESREAD, ENTRIESADDED).
    fn target_has_7_0(&self) -> bool {
        self.opts.target_version.is_none_or(|v| v >= 10)
    }

    #[inline]
    fn added(&mut self, bytes: usize) -> Result<()> {
        self.batch.elems += 1;
        if bytes > MAX_BULK {
            self.report.oversized_arguments += 1;
        }
        if self.batch.elems >= self.opts.batch_elems
            || self.batch.args.len() >= self.opts.batch_bytes
        {
            self.batch.flush(self.out, self.key, self.report)?;
        }
        Ok(())
    }

    fn flush_ttl(&mut self) -> Result<()> {
        if self.ttl.n == 0 {
            return Ok(());
        }
        // The fields must exist before their TTL is set.
        self.batch.flush(self.out, self.key, self.report)?;
        let b = &mut self.out.buf;
        write_array_header(b, 5 + self.ttl.n);
        write_bulk(b, b"HPEXPIREAT");
        write_bulk(b, self.key);
        write_bulk_int(b, self.ttl.ms);
        write_bulk(b, b"FIELDS");
        write_bulk_int(b, self.ttl.n);
        b.extend_from_slice(&self.ttl.fields);
        self.ttl.fields.clear();
        self.ttl.n = 0;
        self.report.commands += 1;
        self.out.maybe_flush()
    }

    fn cmd(&mut self, args: &[&[u8]]) -> Result<()> {
        write_command(&mut self.out.buf, args);
        self.report.commands += 1;
        self.out.maybe_flush()
    }
}

impl ValueVisitor for RespValue<'_, '_> {
    fn begin(&mut self, ty: ValueType, _t: u8, _n: Option<u64>) -> Result<()> {
        self.batch.name = match ty {
            ValueType::List => b"RPUSH",
            ValueType::Set => b"SADD",
            ValueType::Zset => b"ZADD",
            ValueType::Hash => b"HSET",
            ValueType::Array => b"ARMSET",
            _ => b"",
        };
        Ok(())
    }

    fn string(&mut self, value: Elem<'_>) -> Result<()> {
        let mut ibuf = itoa::Buffer::new();
        let bytes = value.as_bytes(&mut ibuf);
        if bytes.len() <= MAX_BULK {
            return self.cmd(&[b"SET", self.key, bytes]);
        }
        for (i, chunk) in bytes.chunks(STRING_CHUNK).enumerate() {
            let name: &[u8] = if i == 0 { b"SET" } else { b"APPEND" };
            self.cmd(&[name, self.key, chunk])?;
        }
        Ok(())
    }

    fn list_item(&mut self, item: Elem<'_>) -> Result<()> {
        let n = write_bulk_elem(&mut self.batch.args, item);
        self.batch.nargs += 1;
        self.added(n)
    }

    fn set_member(&mut self, member: Elem<'_>) -> Result<()> {
        let n = write_bulk_elem(&mut self.batch.args, member);
        self.batch.nargs += 1;
        self.added(n)
    }

    fn zset_member(&mut self, member: Elem<'_>, score: f64) -> Result<()> {
        write_bulk(&mut self.batch.args, score_text(score).as_bytes());
        let n = write_bulk_elem(&mut self.batch.args, member);
        self.batch.nargs += 2;
        self.added(n)
    }

    fn hash_field(
        &mut self,
        field: Elem<'_>,
        value: Elem<'_>,
        expire_ms: Option<u64>,
    ) -> Result<()> {
        write_bulk_elem(&mut self.batch.args, field);
        let n = write_bulk_elem(&mut self.batch.args, value);
        self.batch.nargs += 2;
        if let Some(t) = expire_ms {
            if self.ttl.n > 0 && self.ttl.ms != t {
                self.flush_ttl()?;
            }
            self.ttl.ms = t;
            write_bulk_elem(&mut self.ttl.fields, field);
            self.ttl.n += 1;
            if self.ttl.n >= self.opts.batch_elems {
                self.flush_ttl()?;
            }
        }
        self.added(n)
    }

    fn stream_entry(
        &mut self,
        id: StreamId,
        fields: &[Elem<'_>],
        values: &[Elem<'_>],
    ) -> Result<()> {
        if fields.is_empty() {
            self.report.empty_entries_skipped += 1;
            return Ok(());
        }
        let b = &mut self.out.buf;
        write_array_header(b, 3 + 2 * fields.len());
        write_bulk(b, b"XADD");
        write_bulk(b, self.key);
        write_bulk(b, id_text(id).as_bytes());
        for (f, v) in fields.iter().zip(values) {
            write_bulk_elem(b, *f);
            write_bulk_elem(b, *v);
        }
        self.entries_written += 1;
        if self.first_entry.is_none() {
            self.first_entry = Some(id);
        }
        self.report.commands += 1;
        self.out.maybe_flush()
    }

    fn stream_meta(&mut self, m: &StreamMeta) -> Result<()> {
        let key = self.key;
        if self.entries_written == 0 {
            self.cmd(&[b"XGROUP", b"CREATE", key, TMP_GROUP, b"0", b"MKSTREAM"])?;
            self.cmd(&[b"XGROUP", b"DESTROY", key, TMP_GROUP])?;
        }
        self.meta = Some(m.clone());
        let last = id_text(m.last_id);
        match (m.entries_added, m.max_deleted_id) {
            (Some(n), Some(md)) if self.target_has_7_0() => {
                let n = n.to_string();
                let md = id_text(md);
                self.cmd(&[
                    b"XSETID",
                    key,
                    last.as_bytes(),
                    b"ENTRIESADDED",
                    n.as_bytes(),
                    b"MAXDELETEDID",
                    md.as_bytes(),
                ])
            }
            _ => self.cmd(&[b"XSETID", key, last.as_bytes()]),
        }
    }

    fn stream_group(&mut self, g: &ConsumerGroup) -> Result<()> {
        let key = self.key;
        let last = id_text(g.last_id);
        // u64::MAX is the server's "unknown" (-1). Version 1 streams do not store the
        // counter: emit what a 7.0+ server estimates when it loads the file.
        let entries_read = match (g.entries_read, &self.meta) {
            (Some(n), _) => Some(n as i64),
            (None, Some(m)) => Some(estimate_entries_read(m, self.first_entry, g.last_id)),
            (None, None) => None,
        };
        match entries_read.filter(|_| self.target_has_7_0()) {
            Some(n) => {
                let n = n.to_string();
                self.cmd(&[
                    b"XGROUP",
                    b"CREATE",
                    key,
                    &g.name,
                    last.as_bytes(),
                    b"ENTRIESREAD",
                    n.as_bytes(),
                ])?;
            }
            None => self.cmd(&[b"XGROUP", b"CREATE", key, &g.name, last.as_bytes()])?,
        }
        for c in &g.consumers {
            if c.pending.is_empty() {
                self.cmd(&[b"XGROUP", b"CREATECONSUMER", key, &g.name, &c.name])?;
            }
        }
        // Each pending entry is claimed by its owner with its delivery time and count.
        for c in &g.consumers {
            for id in &c.pending {
                let Some(p) = g.pending.iter().find(|p| p.id == *id) else {
                    continue;
                };
                let idt = id_text(p.id);
                let time = p.delivery_time_ms.to_string();
                let count = p.delivery_count.to_string();
                self.cmd(&[
                    b"XCLAIM",
                    key,
                    &g.name,
                    &c.name,
                    b"0",
                    idt.as_bytes(),
                    b"TIME",
                    time.as_bytes(),
                    b"RETRYCOUNT",
                    count.as_bytes(),
                    b"FORCE",
                    b"JUSTID",
                ])?;
                self.report.pending_entries += 1;
            }
        }
        self.report.nacked_skipped += g.nacked.len() as u64;
        Ok(())
    }

    fn stream_idmp(&mut self, _idmp: &StreamIdmp) -> Result<()> {
        self.report.idmp_skipped += 1;
        Ok(())
    }

    fn array_meta(&mut self, _count: u64, insert_idx: Option<u64>) -> Result<()> {
        self.insert_idx = insert_idx;
        Ok(())
    }

    fn array_item(&mut self, index: u64, item: ArrayItem<'_>) -> Result<()> {
        write_bulk_int(&mut self.batch.args, index);
        let n = match item {
            ArrayItem::Bytes(e) => write_bulk_elem(&mut self.batch.args, e),
            ArrayItem::Int(i) => write_bulk_elem(&mut self.batch.args, Elem::Int(i)),
            ArrayItem::Float(f) => {
                let s = format_double(f);
                write_bulk(&mut self.batch.args, s.as_bytes());
                s.len()
            }
        };
        self.batch.nargs += 2;
        self.added(n)
    }

    fn end(&mut self) -> Result<()> {
        self.batch.flush(self.out, self.key, self.report)?;
        self.flush_ttl()?;
        if let Some(i) = self.insert_idx.take() {
            let i = i.to_string();
            self.cmd(&[b"ARSEEK", self.key, i.as_bytes()])?;
        }
        Ok(())
    }
}

/// Counts a value's elements (validating it on the way).
#[derive(Default)]
struct Count {
    n: u64,
}

impl ValueVisitor for Count {
    fn begin(&mut self, ty: ValueType, _t: u8, _n: Option<u64>) -> Result<()> {
        // Strings, streams (even empty) and module values always exist.
        if matches!(
            ty,
            ValueType::String | ValueType::Stream | ValueType::Module
        ) {
            self.n += 1;
        }
        Ok(())
    }
    fn list_item(&mut self, _: Elem<'_>) -> Result<()> {
        self.n += 1;
        Ok(())
    }
    fn set_member(&mut self, _: Elem<'_>) -> Result<()> {
        self.n += 1;
        Ok(())
    }
    fn zset_member(&mut self, _: Elem<'_>, _: f64) -> Result<()> {
        self.n += 1;
        Ok(())
    }
    fn hash_field(&mut self, _: Elem<'_>, _: Elem<'_>, _: Option<u64>) -> Result<()> {
        self.n += 1;
        Ok(())
    }
    fn array_item(&mut self, _: u64, _: ArrayItem<'_>) -> Result<()> {
        self.n += 1;
        Ok(())
    }
}

/// The RESP exporter: an [`EntrySink`] writing Redis commands.
pub struct RespSink<'w> {
    out: OutBuf<'w>,
    opts: RespOptions,
    scratch: Scratch,
    db: Option<u64>,
    args: Vec<u8>,
    ttl_fields: Vec<u8>,
    /// What was written and skipped so far.
    pub report: RespReport,
}

impl std::fmt::Debug for RespSink<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RespSink")
            .field("opts", &self.opts)
            .field("report", &self.report)
            .finish()
    }
}

impl<'w> RespSink<'w> {
    /// A sink writing to `w`.
    pub fn new(w: &'w mut dyn std::io::Write, opts: RespOptions) -> Self {
        RespSink {
            out: OutBuf::new(w),
            opts,
            scratch: Scratch::default(),
            db: None,
            args: Vec::new(),
            ttl_fields: Vec::new(),
            report: RespReport::default(),
        }
    }

    fn cmd(&mut self, args: &[&[u8]]) {
        write_command(&mut self.out.buf, args);
        self.report.commands += 1;
    }

    /// Writes a RESTORE for the entry. The value is validated first (deeply: a live server
    /// with `sanitize-dump-payload no` trusts the payload); empty collections are skipped,
    /// as the server skips them when loading a file. Returns false if skipped.
    fn restore(&mut self, e: &Entry<'_>, expire: Option<i64>, replace: bool) -> Result<bool> {
        // The payload: the raw bytes (possibly relabelled for an older target), or the value
        // re-encoded for a target that does not know its encoding.
        let (version, converted) = match payload_version(&e.value, self.opts.target_version) {
            Ok(v) => (v, None),
            Err(err) => match self.opts.target_version {
                Some(t) => match converted_payload(e, t) {
                    Ok(p) => (t as u16, Some(p)),
                    Err(conv) => {
                        return Err(Error::usage(format!(
                            "a {} value cannot be restored on an RDB {t} target: {}",
                            e.value.encoding_name(),
                            conv.message()
                        ))
                        .at(e.value.offset()))
                    }
                },
                None => return Err(err),
            },
        };
        let mut count = Count::default();
        e.value
            .visit(&mut count, &mut self.scratch, DecodeOptions { deep: true })?;
        if count.n == 0 {
            self.report.empty_skipped += 1;
            return Ok(false);
        }
        if converted.is_some() {
            self.report.converted += 1;
        }
        let mut n = 4;
        let ttl = expire.unwrap_or(0).max(0).to_string();
        if replace {
            n += 1;
        }
        if expire.is_some() {
            n += 1;
        }
        let idle = e.lru_idle.map(|i| i.to_string());
        let freq = e.lfu_freq.map(|f| f.to_string());
        if idle.is_some() || freq.is_some() {
            n += 2;
        }
        let plen = converted
            .as_ref()
            .map_or(payload_len(&e.value), |p| p.len());
        if plen > MAX_BULK {
            self.report.oversized_arguments += 1;
        }
        let b = &mut self.out.buf;
        write_array_header(b, n);
        write_bulk(b, b"RESTORE");
        write_bulk(b, &e.key);
        write_bulk(b, ttl.as_bytes());
        b.push(b'$');
        b.extend_from_slice(itoa::Buffer::new().format(plen).as_bytes());
        b.extend_from_slice(b"\r\n");
        match &converted {
            Some(p) => self.out.buf.extend_from_slice(p),
            None => write_payload(&mut self.out, &e.value, version)?,
        }
        let b = &mut self.out.buf;
        b.extend_from_slice(b"\r\n");
        if replace {
            write_bulk(b, b"REPLACE");
        }
        if expire.is_some() {
            write_bulk(b, b"ABSTTL");
        }
        if let Some(i) = &idle {
            write_bulk(b, b"IDLETIME");
            write_bulk(b, i.as_bytes());
        } else if let Some(f) = &freq {
            write_bulk(b, b"FREQ");
            write_bulk(b, f.as_bytes());
        }
        self.report.commands += 1;
        Ok(true)
    }

    fn write_entry(&mut self, e: &Entry<'_>, expire: Option<i64>) -> Result<bool> {
        if self.opts.mode == RespMode::Restore {
            return self.restore(e, expire, self.opts.replace);
        }
        if self.opts.replace {
            self.cmd(&[b"DEL", &e.key]);
        }
        let commands_before = self.report.commands;
        if e.value.value_type() == ValueType::Module {
            self.report.module_values_restored += 1;
            return self.restore(e, expire, self.opts.replace);
        }
        let mut v = RespValue {
            out: &mut self.out,
            key: &e.key,
            opts: &self.opts,
            report: &mut self.report,
            batch: Batch {
                name: b"",
                args: std::mem::take(&mut self.args),
                nargs: 0,
                elems: 0,
            },
            ttl: TtlRun {
                ms: 0,
                fields: std::mem::take(&mut self.ttl_fields),
                n: 0,
            },
            entries_written: 0,
            first_entry: None,
            meta: None,
            insert_idx: None,
        };
        let r = e.value.visit(&mut v, &mut self.scratch, self.opts.decode);
        let written = v.report.commands > commands_before;
        let mut args = std::mem::take(&mut v.batch.args);
        let mut fields = std::mem::take(&mut v.ttl.fields);
        args.clear();
        fields.clear();
        self.args = args;
        self.ttl_fields = fields;
        r?;
        if !written {
            self.report.empty_skipped += 1;
            return Ok(false);
        }
        if let Some(t) = expire {
            let t = t.to_string();
            self.cmd(&[b"PEXPIREAT", &e.key, t.as_bytes()]);
        }
        Ok(true)
    }
}

impl EntrySink for RespSink<'_> {
    fn function(&mut self, code: &[u8]) -> Result<()> {
        if !self.opts.functions {
            return Ok(());
        }
        if self.opts.replace {
            self.cmd(&[b"FUNCTION", b"LOAD", b"REPLACE", code]);
        } else {
            self.cmd(&[b"FUNCTION", b"LOAD", code]);
        }
        self.report.functions += 1;
        self.out.maybe_flush()
    }

    fn function_pre_ga(&mut self, _name: &[u8], _code: &[u8]) -> Result<()> {
        self.report.pre_ga_functions_skipped += 1;
        Ok(())
    }

    fn entry(&mut self, e: &Entry<'_>) -> Result<bool> {
        let expired = e.expire_ms.is_some_and(|t| t <= self.opts.now_ms);
        let expire = if expired {
            if !self.opts.keep_expired {
                self.report.expired_skipped += 1;
                return Ok(false);
            }
            self.report.expiry_dropped += 1;
            None
        } else {
            e.expire_ms
        };
        if self.db != Some(e.db) {
            let db = e.db.to_string();
            self.cmd(&[b"SELECT", db.as_bytes()]);
            self.db = Some(e.db);
        }
        self.out.mark();
        let commands_before = self.report.commands;
        let written = match self.write_entry(e, expire) {
            Ok(w) => w,
            Err(err) => {
                if self.out.withdraw() {
                    self.report.commands = commands_before;
                }
                return Err(err);
            }
        };
        self.out.maybe_flush()?;
        Ok(written)
    }

    fn finish(&mut self) -> Result<()> {
        self.out.finish()
    }

    fn take_io_error(&mut self) -> Option<std::io::Error> {
        self.out.take_io_error()
    }

    fn flush_complete(&mut self) -> Result<()> {
        self.out.finish()
    }
}
