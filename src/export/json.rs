//! JSON export: one key per line (`jsonl`) or one document (`json`), in the format of
//! `shared/fixtures/README.md`.
//!
//! Each key is an object with `db`, `key`, `type`, `encoding`, optionally `expire_ms`
//! (absolute unix ms), `lru_idle`, `lfu_freq`, then `value`, and for hashes with field TTLs
//! `field_expire_ms` (JSON-encoded field name → unix ms); streams add `stream` (length,
//! last/first/max-deleted IDs, entries added), `groups` (name, `last-delivered-id`,
//! `pending` count, `entries_read`, the PEL, consumers and their PELs) and `idmp`;
//! arrays add `insert_idx`.
//!
//! Values: string → string; list → array; set → array (file order); zset → `[member, score]`
//! (file order; scores are numbers or `"inf"`/`"-inf"`); hash → `[field, value]` pairs;
//! stream → `[id, [field, value, …]]`; array → `[index, value]`; module →
//! `{"module", "type_id", "encver", "raw"}`. Byte strings are UTF-8 text where valid,
//! otherwise `{"hex": "…"}`. Integers stored as integers are written as their decimal
//! text, as the server returns them.

use crate::error::Result;
use crate::export::out::OutBuf;
use crate::export::{EntrySink, Meta};
use crate::rdb::encoding::Elem;
use crate::rdb::model::{module_name, ConsumerGroup, StreamId, StreamIdmp, StreamMeta, ValueType};
use crate::rdb::value::ArrayItem;
use crate::rdb::{DecodeOptions, Entry, Header, Scratch, ValueVisitor};

const HEX: &[u8; 16] = b"0123456789abcdef";

/// 0 = copy as is; otherwise the character after the backslash (`u` = `\u00XX`).
static ESCAPE: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = b'u';
        i += 1;
    }
    t[0x08] = b'b';
    t[0x09] = b't';
    t[0x0a] = b'n';
    t[0x0c] = b'f';
    t[0x0d] = b'r';
    t[b'"' as usize] = b'"';
    t[b'\\' as usize] = b'\\';
    t
};

/// `"\u0000"` repeated 64 times: runs of NUL bytes (zero padding) are copied in blocks.
static NUL_RUN: [u8; 384] = {
    let mut t = [0u8; 384];
    let mut i = 0;
    while i < 64 {
        t[i * 6] = b'\\';
        t[i * 6 + 1] = b'u';
        t[i * 6 + 2] = b'0';
        t[i * 6 + 3] = b'0';
        t[i * 6 + 4] = b'0';
        t[i * 6 + 5] = b'0';
        i += 1;
    }
    t
};

/// Length of the prefix of `s` that needs no escaping, scanning 8 bytes at a time.
#[inline]
fn clean_prefix(s: &[u8]) -> usize {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut i = 0;
    let mut chunks = s.chunks_exact(8);
    for c in &mut chunks {
        let mut a = [0u8; 8];
        a.copy_from_slice(c);
        let x = u64::from_le_bytes(a);
        let lt20 = x.wrapping_sub(LO * 0x20) & !x;
        let q = x ^ (LO * b'"' as u64);
        let bs = x ^ (LO * b'\\' as u64);
        let hit = (lt20 | (q.wrapping_sub(LO) & !q) | (bs.wrapping_sub(LO) & !bs)) & HI;
        if hit != 0 {
            return i + (hit.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    for &c in chunks.remainder() {
        if ESCAPE[c as usize] != 0 {
            return i;
        }
        i += 1;
    }
    i
}

/// Appends `s` (valid UTF-8) as a quoted, escaped JSON string.
#[inline]
pub fn write_str(out: &mut Vec<u8>, s: &[u8]) {
    out.reserve(s.len() + 2);
    out.push(b'"');
    escape_into(out, s);
    out.push(b'"');
}

/// Appends the escaped body of a JSON string (no quotes). Escaping is per byte, so `s` may
/// be any slice of a valid UTF-8 string, even one that cuts a character in two.
#[inline]
fn escape_into(out: &mut Vec<u8>, s: &[u8]) {
    let mut i = 0;
    while i < s.len() {
        let rest = &s[i..];
        let n = clean_prefix(rest);
        out.extend_from_slice(&rest[..n]);
        i += n;
        let Some(&c) = s.get(i) else { break };
        let e = ESCAPE[c as usize];
        if e == 0 {
            // The 8-byte scan can stop early on a byte that needs no escaping.
            out.push(c);
            i += 1;
            continue;
        }
        if c == 0 {
            let run = s[i..].iter().take(64).take_while(|&&b| b == 0).count();
            out.extend_from_slice(&NUL_RUN[..run * 6]);
            i += run;
            continue;
        }
        out.push(b'\\');
        out.push(e);
        if e == b'u' {
            out.extend_from_slice(&[b'0', b'0', HEX[(c >> 4) as usize], HEX[(c & 15) as usize]]);
        }
        i += 1;
    }
}

/// Appends lower-case hex.
#[inline]
pub fn write_hex(out: &mut Vec<u8>, b: &[u8]) {
    out.reserve(b.len() * 2);
    for &c in b {
        out.push(HEX[(c >> 4) as usize]);
        out.push(HEX[(c & 15) as usize]);
    }
}

/// Appends a byte string: a JSON string when it is valid UTF-8, otherwise `{"hex":"…"}`.
#[inline]
pub fn write_bytes(out: &mut Vec<u8>, b: &[u8]) {
    if std::str::from_utf8(b).is_ok() {
        write_str(out, b);
    } else {
        out.extend_from_slice(b"{\"hex\":\"");
        write_hex(out, b);
        out.extend_from_slice(b"\"}");
    }
}

/// Appends an element: bytes as [`write_bytes`], integers as their decimal text in quotes.
#[inline]
pub fn write_elem(out: &mut Vec<u8>, e: Elem<'_>) {
    match e {
        Elem::Bytes(b) => write_bytes(out, b),
        Elem::Int(i) => {
            out.push(b'"');
            out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
            out.push(b'"');
        }
    }
}

/// Slices a long byte string is rendered in, flushing between them.
const PUT_CHUNK: usize = 64 * 1024;

/// Writes an element as [`write_elem`] does, to the output buffer, flushing as it goes: a
/// long string is escaped (or hex-encoded) slice by slice, so the buffer never holds more
/// than a slice of its rendering (which can be six times the string).
fn put_elem(out: &mut OutBuf<'_>, e: Elem<'_>) -> Result<()> {
    match e {
        Elem::Bytes(b) if b.len() > PUT_CHUNK => {
            let utf8 = std::str::from_utf8(b).is_ok();
            let (open, close): (&[u8], &[u8]) = if utf8 {
                (b"\"", b"\"")
            } else {
                (b"{\"hex\":\"", b"\"}")
            };
            out.buf.extend_from_slice(open);
            for c in b.chunks(PUT_CHUNK) {
                if utf8 {
                    escape_into(&mut out.buf, c);
                } else {
                    write_hex(&mut out.buf, c);
                }
                out.maybe_flush()?;
            }
            out.buf.extend_from_slice(close);
        }
        e => write_elem(&mut out.buf, e),
    }
    out.maybe_flush()
}

/// Appends an integer.
#[inline]
pub fn write_int<I: itoa::Integer>(out: &mut Vec<u8>, i: I) {
    out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
}

/// Appends a score: a JSON number (shortest round-trip form), or `"inf"`, `"-inf"`, `"nan"`.
#[inline]
pub fn write_score(out: &mut Vec<u8>, f: f64) {
    if f.is_finite() {
        out.extend_from_slice(ryu::Buffer::new().format_finite(f).as_bytes());
    } else if f.is_nan() {
        out.extend_from_slice(b"\"nan\"");
    } else if f > 0.0 {
        out.extend_from_slice(b"\"inf\"");
    } else {
        out.extend_from_slice(b"\"-inf\"");
    }
}

/// Appends a stream ID as `"ms-seq"`.
#[inline]
pub fn write_id(out: &mut Vec<u8>, id: StreamId) {
    out.push(b'"');
    write_int(out, id.ms);
    out.push(b'-');
    write_int(out, id.seq);
    out.push(b'"');
}

/// Output layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonLayout {
    /// One key object per line.
    Lines,
    /// One document: `{"dialect", "version", "keys": [...], "aux": [...], "functions": [...]}`.
    Document,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// Inside the value (array of elements, or nothing yet for strings).
    Value,
    /// Stream: inside `groups`.
    Groups,
    /// Stream: after `groups` (IDMP written).
    AfterGroups,
}

/// Streams one value as JSON into the output buffer.
struct JsonValue<'a, 'w> {
    out: &'a mut OutBuf<'w>,
    ty: ValueType,
    first: bool,
    part: Part,
    saw_field_ttl: bool,
    insert_idx: Option<u64>,
}

impl JsonValue<'_, '_> {
    #[inline]
    fn sep(&mut self) {
        if self.first {
            self.first = false;
        } else {
            self.out.buf.push(b',');
        }
    }
}

impl ValueVisitor for JsonValue<'_, '_> {
    fn begin(&mut self, ty: ValueType, _t: u8, _n: Option<u64>) -> Result<()> {
        self.ty = ty;
        self.first = true;
        self.part = Part::Value;
        if !matches!(ty, ValueType::String | ValueType::Module) {
            self.out.buf.push(b'[');
        }
        Ok(())
    }

    fn string(&mut self, value: Elem<'_>) -> Result<()> {
        put_elem(self.out, value)
    }

    fn list_item(&mut self, item: Elem<'_>) -> Result<()> {
        self.sep();
        put_elem(self.out, item)
    }

    fn set_member(&mut self, member: Elem<'_>) -> Result<()> {
        self.sep();
        put_elem(self.out, member)
    }

    fn zset_member(&mut self, member: Elem<'_>, score: f64) -> Result<()> {
        self.sep();
        let b = &mut self.out.buf;
        b.push(b'[');
        put_elem(self.out, member)?;
        let b = &mut self.out.buf;
        b.push(b',');
        write_score(b, score);
        b.push(b']');
        self.out.maybe_flush()
    }

    fn hash_field(
        &mut self,
        field: Elem<'_>,
        value: Elem<'_>,
        expire_ms: Option<u64>,
    ) -> Result<()> {
        self.sep();
        if expire_ms.is_some() {
            self.saw_field_ttl = true;
        }
        self.out.buf.push(b'[');
        put_elem(self.out, field)?;
        self.out.buf.push(b',');
        put_elem(self.out, value)?;
        self.out.buf.push(b']');
        self.out.maybe_flush()
    }

    fn stream_entry(
        &mut self,
        id: StreamId,
        fields: &[Elem<'_>],
        values: &[Elem<'_>],
    ) -> Result<()> {
        self.sep();
        let b = &mut self.out.buf;
        b.push(b'[');
        write_id(b, id);
        b.extend_from_slice(b",[");
        for (i, (f, v)) in fields.iter().zip(values).enumerate() {
            if i > 0 {
                b.push(b',');
            }
            write_elem(b, *f);
            b.push(b',');
            write_elem(b, *v);
        }
        b.extend_from_slice(b"]]");
        self.out.maybe_flush()
    }

    fn stream_meta(&mut self, m: &StreamMeta) -> Result<()> {
        let b = &mut self.out.buf;
        b.extend_from_slice(b"],\"stream\":{\"length\":");
        write_int(b, m.length);
        b.extend_from_slice(b",\"last_id\":");
        write_id(b, m.last_id);
        if let Some(id) = m.first_id {
            b.extend_from_slice(b",\"first_id\":");
            write_id(b, id);
        }
        if let Some(id) = m.max_deleted_id {
            b.extend_from_slice(b",\"max_deleted_id\":");
            write_id(b, id);
        }
        if let Some(n) = m.entries_added {
            b.extend_from_slice(b",\"entries_added\":");
            write_int(b, n);
        }
        b.extend_from_slice(b"},\"groups\":[");
        self.part = Part::Groups;
        self.first = true;
        Ok(())
    }

    fn stream_group(&mut self, g: &ConsumerGroup) -> Result<()> {
        self.sep();
        let b = &mut self.out.buf;
        b.extend_from_slice(b"{\"name\":");
        write_bytes(b, &g.name);
        b.extend_from_slice(b",\"last-delivered-id\":");
        write_id(b, g.last_id);
        b.extend_from_slice(b",\"pending\":");
        write_int(b, g.pending.len());
        if let Some(n) = g.entries_read {
            b.extend_from_slice(b",\"entries_read\":");
            // u64::MAX is the server's "invalid" (-1) marker.
            write_int(b, n as i64);
        }
        b.extend_from_slice(b",\"pel\":[");
        for (i, p) in g.pending.iter().enumerate() {
            if i > 0 {
                b.push(b',');
            }
            b.push(b'[');
            write_id(b, p.id);
            b.push(b',');
            write_int(b, p.delivery_time_ms);
            b.push(b',');
            write_int(b, p.delivery_count);
            b.push(b']');
        }
        b.extend_from_slice(b"],\"consumers\":[");
        for (i, c) in g.consumers.iter().enumerate() {
            if i > 0 {
                b.push(b',');
            }
            b.extend_from_slice(b"{\"name\":");
            write_bytes(b, &c.name);
            b.extend_from_slice(b",\"seen_time_ms\":");
            write_int(b, c.seen_time_ms);
            if let Some(t) = c.active_time_ms {
                b.extend_from_slice(b",\"active_time_ms\":");
                write_int(b, t);
            }
            b.extend_from_slice(b",\"pending\":[");
            for (j, id) in c.pending.iter().enumerate() {
                if j > 0 {
                    b.push(b',');
                }
                write_id(b, *id);
            }
            b.extend_from_slice(b"]}");
        }
        b.push(b']');
        if !g.nacked.is_empty() {
            b.extend_from_slice(b",\"nacked\":[");
            for (j, id) in g.nacked.iter().enumerate() {
                if j > 0 {
                    b.push(b',');
                }
                write_id(b, *id);
            }
            b.push(b']');
        }
        b.push(b'}');
        self.out.maybe_flush()
    }

    fn stream_idmp(&mut self, m: &StreamIdmp) -> Result<()> {
        let b = &mut self.out.buf;
        b.extend_from_slice(b"],\"idmp\":{\"duration_s\":");
        write_int(b, m.duration_s);
        b.extend_from_slice(b",\"max_entries\":");
        write_int(b, m.max_entries);
        b.extend_from_slice(b",\"iids_added\":");
        write_int(b, m.iids_added);
        b.extend_from_slice(b",\"iids_duplicates\":");
        write_int(b, m.iids_duplicates);
        b.extend_from_slice(b",\"producers\":[");
        for (i, p) in m.producers.iter().enumerate() {
            if i > 0 {
                b.push(b',');
            }
            b.extend_from_slice(b"{\"pid\":");
            write_bytes(b, &p.pid);
            b.extend_from_slice(b",\"entries\":[");
            for (j, (iid, id)) in p.entries.iter().enumerate() {
                if j > 0 {
                    b.push(b',');
                }
                b.push(b'[');
                write_bytes(b, iid);
                b.push(b',');
                write_id(b, *id);
                b.push(b']');
            }
            b.extend_from_slice(b"]}");
        }
        b.extend_from_slice(b"]}");
        self.part = Part::AfterGroups;
        self.out.maybe_flush()
    }

    fn module_value(&mut self, type_id: u64, body: &[u8]) -> Result<()> {
        let b = &mut self.out.buf;
        b.extend_from_slice(b"{\"module\":");
        write_str(b, module_name(type_id).as_bytes());
        b.extend_from_slice(b",\"type_id\":");
        write_int(b, type_id);
        b.extend_from_slice(b",\"encver\":");
        write_int(b, type_id & 1023);
        b.extend_from_slice(b",\"raw\":\"");
        for chunk in body.chunks(64 * 1024) {
            write_hex(&mut self.out.buf, chunk);
            self.out.maybe_flush()?;
        }
        self.out.buf.extend_from_slice(b"\"}");
        Ok(())
    }

    fn array_meta(&mut self, _count: u64, insert_idx: Option<u64>) -> Result<()> {
        self.insert_idx = insert_idx;
        Ok(())
    }

    fn array_item(&mut self, index: u64, item: ArrayItem<'_>) -> Result<()> {
        self.sep();
        let b = &mut self.out.buf;
        b.push(b'[');
        write_int(b, index);
        b.push(b',');
        match item {
            ArrayItem::Bytes(e) => write_elem(b, e),
            ArrayItem::Int(i) => write_elem(b, Elem::Int(i)),
            ArrayItem::Float(f) => {
                b.push(b'"');
                b.extend_from_slice(format_double(f).as_bytes());
                b.push(b'"');
            }
        }
        b.push(b']');
        self.out.maybe_flush()
    }

    fn end(&mut self) -> Result<()> {
        match (self.ty, self.part) {
            (ValueType::String | ValueType::Module, _) => {}
            (ValueType::Stream, Part::Groups) => self.out.buf.push(b']'),
            (ValueType::Stream, Part::AfterGroups) => {}
            _ => self.out.buf.push(b']'),
        }
        Ok(())
    }
}

/// Formats a double the way Redis replies with one (shortest round-trip text, `inf`,
/// `-inf`, `nan`; integral values without a fraction).
pub fn format_double(f: f64) -> String {
    if f.is_nan() {
        "nan".into()
    } else if f.is_infinite() {
        if f > 0.0 { "inf" } else { "-inf" }.into()
    } else if f == f.trunc() && f.abs() < 1e17 {
        format!("{}", f as i64)
    } else {
        ryu::Buffer::new().format_finite(f).to_string()
    }
}

/// Writes the field TTLs of a hash as `{"<json of field>": ms, ...}`.
struct FieldTtls<'a, 'w> {
    out: &'a mut OutBuf<'w>,
    first: bool,
    tmp: Vec<u8>,
}

impl ValueVisitor for FieldTtls<'_, '_> {
    fn hash_field(&mut self, field: Elem<'_>, _v: Elem<'_>, expire_ms: Option<u64>) -> Result<()> {
        let Some(t) = expire_ms else { return Ok(()) };
        if !self.first {
            self.out.buf.push(b',');
        }
        self.first = false;
        self.tmp.clear();
        write_elem(&mut self.tmp, field);
        write_str(&mut self.out.buf, &self.tmp);
        self.out.buf.push(b':');
        write_int(&mut self.out.buf, t);
        self.out.maybe_flush()
    }
}

/// The JSON exporter: an [`EntrySink`] writing each key as a JSON object.
pub struct JsonSink<'w> {
    out: OutBuf<'w>,
    layout: JsonLayout,
    opts: DecodeOptions,
    scratch: Scratch,
    first_key: bool,
    meta: Meta,
    header: Option<Header>,
}

impl std::fmt::Debug for JsonSink<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JsonSink")
            .field("layout", &self.layout)
            .finish()
    }
}

impl<'w> JsonSink<'w> {
    /// A sink writing to `w` in the given layout.
    pub fn new(w: &'w mut dyn std::io::Write, layout: JsonLayout, opts: DecodeOptions) -> Self {
        JsonSink {
            out: OutBuf::new(w),
            layout,
            opts,
            scratch: Scratch::default(),
            first_key: true,
            meta: Meta::default(),
            header: None,
        }
    }

    fn write_entry(&mut self, e: &Entry<'_>) -> Result<()> {
        let b = &mut self.out.buf;
        b.extend_from_slice(b"{\"db\":");
        write_int(b, e.db);
        b.extend_from_slice(b",\"key\":");
        write_bytes(b, &e.key);
        b.extend_from_slice(b",\"type\":\"");
        b.extend_from_slice(e.value.value_type().name().as_bytes());
        b.extend_from_slice(b"\",\"encoding\":\"");
        b.extend_from_slice(e.value.encoding_name().as_bytes());
        b.push(b'"');
        if let Some(t) = e.expire_ms {
            b.extend_from_slice(b",\"expire_ms\":");
            write_int(b, t);
        }
        if let Some(t) = e.lru_idle {
            b.extend_from_slice(b",\"lru_idle\":");
            write_int(b, t);
        }
        if let Some(t) = e.lfu_freq {
            b.extend_from_slice(b",\"lfu_freq\":");
            write_int(b, t);
        }
        b.extend_from_slice(b",\"value\":");
        let mut v = JsonValue {
            out: &mut self.out,
            ty: ValueType::String,
            first: true,
            part: Part::Value,
            saw_field_ttl: false,
            insert_idx: None,
        };
        e.value.visit(&mut v, &mut self.scratch, self.opts)?;
        let saw_ttl = v.saw_field_ttl;
        let insert_idx = v.insert_idx;
        if saw_ttl {
            self.out.buf.extend_from_slice(b",\"field_expire_ms\":{");
            let mut t = FieldTtls {
                out: &mut self.out,
                first: true,
                tmp: Vec::new(),
            };
            e.value.visit(&mut t, &mut self.scratch, self.opts)?;
            self.out.buf.push(b'}');
        }
        if let Some(i) = insert_idx {
            self.out.buf.extend_from_slice(b",\"insert_idx\":");
            write_int(&mut self.out.buf, i);
        }
        self.out.buf.push(b'}');
        Ok(())
    }
}

impl EntrySink for JsonSink<'_> {
    fn header(&mut self, h: Header) -> Result<()> {
        self.header = Some(h);
        if self.layout == JsonLayout::Document {
            let b = &mut self.out.buf;
            b.extend_from_slice(b"{\"dialect\":\"");
            b.extend_from_slice(h.dialect.name().as_bytes());
            b.extend_from_slice(b"\",\"version\":");
            write_int(b, h.version);
            b.extend_from_slice(b",\"keys\":[\n");
        }
        Ok(())
    }

    fn aux(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.meta.aux.push((key.to_vec(), value.to_vec()));
        Ok(())
    }

    fn function(&mut self, code: &[u8]) -> Result<()> {
        self.meta.functions.push(code.to_vec());
        Ok(())
    }

    fn module_aux(&mut self, name: &str) -> Result<()> {
        self.meta.module_aux.push(name.to_string());
        Ok(())
    }

    fn entry(&mut self, e: &Entry<'_>) -> Result<bool> {
        self.out.mark();
        if self.layout == JsonLayout::Document && !self.first_key {
            self.out.buf.extend_from_slice(b",\n");
        }
        match self.write_entry(e) {
            Ok(()) => {}
            Err(err) => {
                self.out.withdraw();
                return Err(err);
            }
        }
        if self.layout == JsonLayout::Lines {
            self.out.buf.push(b'\n');
        }
        self.first_key = false;
        self.out.maybe_flush()?;
        Ok(true)
    }

    fn finish(&mut self) -> Result<()> {
        if self.layout == JsonLayout::Document {
            let b = &mut self.out.buf;
            if !self.first_key {
                b.push(b'\n');
            }
            b.extend_from_slice(b"],\"aux\":[");
            for (i, (k, v)) in self.meta.aux.iter().enumerate() {
                if i > 0 {
                    b.push(b',');
                }
                b.push(b'[');
                write_bytes(b, k);
                b.push(b',');
                write_bytes(b, v);
                b.push(b']');
            }
            b.extend_from_slice(b"],\"functions\":[");
            for (i, code) in self.meta.functions.iter().enumerate() {
                if i > 0 {
                    b.push(b',');
                }
                write_bytes(b, code);
            }
            b.extend_from_slice(b"],\"module_aux\":[");
            for (i, name) in self.meta.module_aux.iter().enumerate() {
                if i > 0 {
                    b.push(b',');
                }
                write_str(b, name.as_bytes());
            }
            b.extend_from_slice(b"]}\n");
        }
        self.out.finish()
    }

    fn take_io_error(&mut self) -> Option<std::io::Error> {
        self.out.take_io_error()
    }

    fn flush_complete(&mut self) -> Result<()> {
        self.out.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut v = Vec::new();
        f(&mut v);
        String::from_utf8(v).unwrap()
    }

    #[test]
    fn strings_and_bytes() {
        assert_eq!(
            s(|v| write_bytes(v, b"a\"b\\c\n\x01")),
            r#""a\"b\\c\n\u0001""#
        );
        assert_eq!(s(|v| write_bytes(v, b"\xff\x00")), r#"{"hex":"ff00"}"#);
        assert_eq!(s(|v| write_bytes(v, "é".as_bytes())), "\"é\"");
        // Every byte below 0x80 at every position of an 8-byte chunk, and NUL runs.
        for c in 0u8..0x80 {
            for pos in 0..20 {
                let mut b = vec![b'a'; 20];
                b[pos] = c;
                let got = s(|v| write_str(v, &b));
                let want = serde_json::to_string(std::str::from_utf8(&b).unwrap()).unwrap();
                assert_eq!(
                    serde_json::from_str::<String>(&got).unwrap(),
                    serde_json::from_str::<String>(&want).unwrap()
                );
                assert_eq!(got.len(), want.len(), "{c} {pos}");
            }
        }
        let z = vec![0u8; 200];
        let got = s(|v| write_str(v, &z));
        assert_eq!(
            serde_json::from_str::<String>(&got).unwrap().as_bytes(),
            &z[..]
        );
        assert_eq!(s(|v| write_elem(v, Elem::Int(-12))), "\"-12\"");
        assert_eq!(s(|v| write_score(v, f64::NEG_INFINITY)), "\"-inf\"");
        assert_eq!(s(|v| write_score(v, -891.0)), "-891.0");
        assert_eq!(s(|v| write_id(v, StreamId { ms: 5, seq: 1 })), "\"5-1\"");
        for x in [0.1, 1e300, -3.5e-7, 670994.593109998] {
            let t = s(|v| write_score(v, x));
            assert_eq!(t.parse::<f64>().unwrap(), x);
        }
    }

    #[test]
    fn long_strings_stream_in_slices_with_the_same_bytes() {
        // A 2-byte character across every slice boundary, a NUL run, and invalid UTF-8.
        let mut text = Vec::new();
        while text.len() < 5 * PUT_CHUNK {
            text.extend_from_slice("aé\"\u{1}".as_bytes());
        }
        text.extend(std::iter::repeat_n(0u8, 3 * PUT_CHUNK));
        let mut binary = text.clone();
        binary.push(0xff);
        for v in [&text, &binary] {
            let want = s(|o| write_elem(o, Elem::Bytes(v)));
            struct Peak(Vec<u8>, usize);
            impl std::io::Write for Peak {
                fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                    self.1 = self.1.max(b.len());
                    self.0.extend_from_slice(b);
                    Ok(b.len())
                }
                fn flush(&mut self) -> std::io::Result<()> {
                    Ok(())
                }
            }
            let mut w = Peak(Vec::new(), 0);
            let mut out = OutBuf::new(&mut w);
            put_elem(&mut out, Elem::Bytes(v)).unwrap();
            out.finish().unwrap();
            assert_eq!(String::from_utf8(w.0).unwrap(), want);
            // Never more than one flush threshold plus one rendered slice at a time.
            assert!(
                w.1 <= super::super::out::FLUSH_AT + 6 * PUT_CHUNK,
                "{}",
                w.1
            );
            assert!(want.len() > 3 * w.1);
        }
    }
}
