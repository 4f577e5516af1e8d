//! What is in an RDB file: keys and bytes per database, type and encoding; an expiry
//! histogram; the biggest keys by serialized size and by element count with an estimate of
//! their memory; totals per key prefix in bounded memory; functions and modules.
//!
//! One pass, no value decoding in the common case: sizes come from byte offsets, element
//! counts from encoding headers ([`count`]), memory from a model ([`memory`]).

pub mod count;
pub mod memory;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::{Serialize, Serializer};

use crate::error::Result;
use crate::filter::KeyFilter;
use crate::rdb::cursor::Cursor;
use crate::rdb::model::module_name;
use crate::rdb::{Header, RdbReader, Record, Scratch, ValueType};

/// Serializes bytes as a UTF-8 string or `{"hex": ...}`.
pub fn ser_bytes<S: Serializer>(b: &[u8], s: S) -> std::result::Result<S::Ok, S::Error> {
    match std::str::from_utf8(b) {
        Ok(t) => s.serialize_str(t),
        Err(_) => {
            let mut h = Vec::new();
            crate::export::json::write_hex(&mut h, b);
            let mut m = BTreeMap::new();
            m.insert("hex", String::from_utf8_lossy(&h).into_owned());
            m.serialize(s)
        }
    }
}

/// Options of [`collect_stats`].
#[derive(Debug, Clone)]
pub struct StatsOptions {
    /// How many of the biggest keys to keep (by size and by element count).
    pub top: usize,
    /// Aggregate by key prefix: the separator.
    pub prefix_sep: Option<Vec<u8>>,
    /// Prefix depth: how many separator-delimited segments make the prefix.
    pub prefix_depth: usize,
    /// Most distinct prefixes kept; further prefixes are summed into `other`.
    pub max_prefixes: usize,
    /// Count elements exactly by decoding every value (and measure the largest element),
    /// instead of reading counts from headers.
    pub decode_all: bool,
    /// "Now" in unix ms for the expiry histogram.
    pub now_ms: i64,
}

impl Default for StatsOptions {
    fn default() -> Self {
        StatsOptions {
            top: 10,
            prefix_sep: None,
            prefix_depth: 1,
            max_prefixes: 10_000,
            decode_all: false,
            now_ms: crate::filter::now_ms(),
        }
    }
}

/// Sums over a set of keys.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Totals {
    /// Keys.
    pub keys: u64,
    /// Keys with an expiry.
    pub expires: u64,
    /// Bytes of the serialized values (the encoded value after the key).
    pub value_bytes: u64,
    /// Bytes of the key records in the file (type byte, key and value).
    pub record_bytes: u64,
    /// Elements (STRLEN for strings, LLEN/SCARD/ZCARD/HLEN/XLEN, set array indices).
    pub elements: u64,
    /// Estimated server memory.
    pub memory_estimate: u64,
}

impl Totals {
    fn merge(&mut self, o: &Totals) {
        self.keys += o.keys;
        self.expires += o.expires;
        self.value_bytes += o.value_bytes;
        self.record_bytes += o.record_bytes;
        self.elements += o.elements;
        self.memory_estimate += o.memory_estimate;
    }

    fn add(&mut self, k: &KeyStats) {
        self.keys += 1;
        self.expires += u64::from(k.expire_ms.is_some());
        self.value_bytes += k.value_bytes;
        self.record_bytes += k.record_bytes;
        self.elements += k.elements;
        self.memory_estimate += k.memory_estimate;
    }
}

/// One key's numbers.
#[derive(Debug, Clone, Serialize)]
pub struct KeyStats {
    /// Database.
    pub db: u64,
    /// Key name.
    #[serde(serialize_with = "ser_bytes")]
    pub key: Vec<u8>,
    /// Type.
    #[serde(rename = "type")]
    pub ty: ValueType,
    /// Encoding name (as redis-check-rdb prints it).
    pub encoding: &'static str,
    /// Serialized value bytes.
    pub value_bytes: u64,
    /// Record bytes in the file (type byte, key and value).
    pub record_bytes: u64,
    /// Elements.
    pub elements: u64,
    /// Length of the largest element (only when decoding every value).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub largest_element: Option<u64>,
    /// Estimated server memory.
    pub memory_estimate: u64,
    /// Absolute expiry, unix ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expire_ms: Option<i64>,
}

/// Per-database numbers.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DbStats {
    /// All keys of the database.
    pub totals: Totals,
    /// Per type.
    pub by_type: BTreeMap<&'static str, Totals>,
    /// Per encoding.
    pub by_encoding: BTreeMap<&'static str, Totals>,
}

/// Keys by time left before they expire.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ExpiryHistogram {
    /// Keys without an expiry.
    pub none: u64,
    /// Already expired.
    pub expired: u64,
    /// Within the hour.
    pub under_1h: u64,
    /// Within the day.
    pub under_1d: u64,
    /// Within the week.
    pub under_7d: u64,
    /// Within 30 days.
    pub under_30d: u64,
    /// Within a year.
    pub under_1y: u64,
    /// Later.
    pub later: u64,
}

impl ExpiryHistogram {
    fn add(&mut self, expire_ms: Option<i64>, now: i64) {
        const H: i64 = 3_600_000;
        match expire_ms {
            None => self.none += 1,
            Some(t) if t <= now => self.expired += 1,
            Some(t) => {
                let left = t - now;
                let slot = if left < H {
                    &mut self.under_1h
                } else if left < 24 * H {
                    &mut self.under_1d
                } else if left < 7 * 24 * H {
                    &mut self.under_7d
                } else if left < 30 * 24 * H {
                    &mut self.under_30d
                } else if left < 365 * 24 * H {
                    &mut self.under_1y
                } else {
                    &mut self.later
                };
                *slot += 1;
            }
        }
    }
}

/// Totals of one key prefix.
#[derive(Debug, Clone, Serialize)]
pub struct PrefixStats {
    /// The prefix (without the trailing separator).
    #[serde(serialize_with = "ser_bytes")]
    pub prefix: Vec<u8>,
    /// Sums.
    #[serde(flatten)]
    pub totals: Totals,
}

/// Aggregation by key prefix.
#[derive(Debug, Clone, Serialize)]
pub struct PrefixReport {
    /// Separator.
    #[serde(serialize_with = "ser_bytes")]
    pub separator: Vec<u8>,
    /// Segments per prefix.
    pub depth: usize,
    /// Most distinct prefixes kept.
    pub limit: usize,
    /// Distinct prefixes seen beyond the limit (summed into `other`).
    pub overflow_keys: u64,
    /// Prefixes, biggest serialized size first.
    pub items: Vec<PrefixStats>,
    /// Keys whose prefix arrived after the limit was reached.
    pub other: Totals,
}

/// A function library.
#[derive(Debug, Clone, Serialize)]
pub struct FunctionInfo {
    /// Library name (from the `#!engine name=...` line).
    #[serde(serialize_with = "ser_bytes")]
    pub library: Vec<u8>,
    /// Engine (`lua`).
    #[serde(serialize_with = "ser_bytes")]
    pub engine: Vec<u8>,
    /// Source bytes.
    pub bytes: u64,
}

/// Everything [`collect_stats`] found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    /// Header.
    pub header: Option<Header>,
    /// File size.
    pub file_size: u64,
    /// AUX fields.
    #[serde(serialize_with = "ser_pairs")]
    pub aux: Vec<(Vec<u8>, Vec<u8>)>,
    /// Keys that passed the filter.
    pub totals: Totals,
    /// Keys the filter left out.
    pub filtered_out: u64,
    /// Per database.
    pub dbs: BTreeMap<u64, DbStats>,
    /// Per type.
    pub by_type: BTreeMap<&'static str, Totals>,
    /// Per encoding.
    pub by_encoding: BTreeMap<&'static str, Totals>,
    /// Expiry histogram.
    pub expiry: ExpiryHistogram,
    /// Biggest keys by serialized value size.
    pub top_by_size: Vec<KeyStats>,
    /// Biggest keys by element count.
    pub top_by_elements: Vec<KeyStats>,
    /// By prefix, when asked.
    pub prefixes: Option<PrefixReport>,
    /// Function libraries.
    pub functions: Vec<FunctionInfo>,
    /// Modules with values or AUX data in the file.
    pub modules: BTreeSet<String>,
    /// CRC-64 verified (`Some(true)`), mismatched (`Some(false)`) or absent.
    pub checksum_ok: Option<bool>,
    /// The checksum mismatch (with its offset) when `checksum_ok` is `Some(false)`.
    #[serde(skip)]
    pub checksum_error: Option<crate::Error>,
}

fn ser_pairs<S: Serializer>(
    v: &[(Vec<u8>, Vec<u8>)],
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    struct B<'a>(&'a [u8]);
    impl Serialize for B<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
            ser_bytes(self.0, s)
        }
    }
    let mut seq = s.serialize_seq(Some(v.len()))?;
    for (k, x) in v {
        seq.serialize_element(&(B(k), B(x)))?;
    }
    seq.end()
}

/// Keeps the `n` biggest keys by a metric.
#[derive(Debug)]
struct TopN {
    n: usize,
    items: Vec<(u64, KeyStats)>,
    min: Option<(u64, usize)>,
}

impl TopN {
    fn new(n: usize) -> Self {
        TopN {
            n,
            items: Vec::new(),
            min: None,
        }
    }

    /// True if a key with this metric would enter.
    #[inline]
    fn wants(&self, m: u64) -> bool {
        self.n > 0 && (self.items.len() < self.n || self.min.is_some_and(|(v, _)| m > v))
    }

    fn insert(&mut self, m: u64, k: KeyStats) {
        if self.items.len() < self.n {
            self.items.push((m, k));
        } else if let Some((_, i)) = self.min {
            self.items[i] = (m, k);
        }
        if self.items.len() == self.n {
            self.min = self
                .items
                .iter()
                .enumerate()
                .min_by_key(|(_, (v, _))| *v)
                .map(|(i, (v, _))| (*v, i));
        }
    }

    fn sorted(mut self) -> Vec<KeyStats> {
        self.items.sort_by(|a, b| {
            b.0.cmp(&a.0)
                .then_with(|| (a.1.db, &a.1.key).cmp(&(b.1.db, &b.1.key)))
        });
        self.items.into_iter().map(|(_, k)| k).collect()
    }
}

/// The prefix of `key`: up to (not including) the `depth`-th separator, or the whole key.
pub fn key_prefix<'k>(key: &'k [u8], sep: &[u8], depth: usize) -> &'k [u8] {
    if sep.is_empty() {
        return key;
    }
    let mut seen = 0;
    let mut i = 0;
    while i + sep.len() <= key.len() {
        if &key[i..i + sep.len()] == sep {
            seen += 1;
            if seen == depth.max(1) {
                return &key[..i];
            }
            i += sep.len();
        } else {
            i += 1;
        }
    }
    key
}

/// Library name and engine from a function library's first line (`#!lua name=mylib`).
pub fn function_library(code: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let line = code.split(|&c| c == b'\n').next().unwrap_or(b"");
    let line = line.strip_prefix(b"#!").unwrap_or(b"");
    let mut parts = line.split(|&c| c == b' ').filter(|p| !p.is_empty());
    let engine = parts.next().unwrap_or(b"").to_vec();
    let name = parts
        .find_map(|p| p.strip_prefix(b"name="))
        .unwrap_or(b"")
        .to_vec();
    (name, engine)
}

/// Decodes a value to count its elements and measure its largest element.
#[derive(Default)]
struct Measure {
    n: u64,
    largest: u64,
}

impl Measure {
    fn el(&mut self, e: crate::rdb::encoding::Elem<'_>) {
        let mut b = itoa::Buffer::new();
        self.largest = self.largest.max(e.as_bytes(&mut b).len() as u64);
    }
}

impl crate::rdb::ValueVisitor for Measure {
    fn string(&mut self, v: crate::rdb::encoding::Elem<'_>) -> Result<()> {
        self.el(v);
        self.n = self.largest;
        Ok(())
    }
    fn list_item(&mut self, e: crate::rdb::encoding::Elem<'_>) -> Result<()> {
        self.n += 1;
        self.el(e);
        Ok(())
    }
    fn set_member(&mut self, e: crate::rdb::encoding::Elem<'_>) -> Result<()> {
        self.n += 1;
        self.el(e);
        Ok(())
    }
    fn zset_member(&mut self, e: crate::rdb::encoding::Elem<'_>, _: f64) -> Result<()> {
        self.n += 1;
        self.el(e);
        Ok(())
    }
    fn hash_field(
        &mut self,
        f: crate::rdb::encoding::Elem<'_>,
        v: crate::rdb::encoding::Elem<'_>,
        _: Option<u64>,
    ) -> Result<()> {
        self.n += 1;
        self.el(f);
        self.el(v);
        Ok(())
    }
    fn stream_entry(
        &mut self,
        _: crate::rdb::model::StreamId,
        f: &[crate::rdb::encoding::Elem<'_>],
        v: &[crate::rdb::encoding::Elem<'_>],
    ) -> Result<()> {
        self.n += 1;
        for e in f.iter().chain(v) {
            self.el(*e);
        }
        Ok(())
    }
    fn array_item(&mut self, _: u64, item: crate::rdb::value::ArrayItem<'_>) -> Result<()> {
        self.n += 1;
        if let crate::rdb::value::ArrayItem::Bytes(e) = item {
            self.el(e);
        }
        Ok(())
    }
}

/// A per-key callback of [`collect_stats`].
pub type PerKey<'a> = dyn FnMut(&KeyStats) -> Result<()> + 'a;

/// Walks `data` (a whole RDB file) once and gathers [`Stats`] for the keys that pass
/// `filter`. `per_key`, if given, is called for every such key (e.g. to write a CSV row);
/// `progress` with the byte offset now and then.
pub fn collect_stats(
    data: &[u8],
    filter: &KeyFilter,
    opts: &StatsOptions,
    mut per_key: Option<&mut PerKey<'_>>,
    progress: &mut dyn FnMut(u64),
) -> Result<Stats> {
    let mut st = Stats {
        file_size: data.len() as u64,
        ..Default::default()
    };
    let mut top_size = TopN::new(opts.top);
    let mut top_elems = TopN::new(opts.top);
    let mut prefixes: HashMap<Vec<u8>, Totals> = HashMap::new();
    let mut prefix_other = Totals::default();
    let mut overflow_keys = 0u64;
    let mut scratch = Scratch::default();
    let mut buf = Vec::new();
    let pass_all = filter.is_pass_all();
    let mut per_db: HashMap<u64, Box<[Totals; 32]>> = HashMap::new();
    let mut cur_db: Option<(u64, Box<[Totals; 32]>)> = None;
    let mut reader = RdbReader::new(data);
    let mut next_progress = 0u64;
    while let Some(item) = reader.next() {
        let item = item?;
        if item.offset >= next_progress {
            progress(item.offset);
            next_progress = item.offset + (16 << 20);
        }
        let e = match item.record {
            Record::Entry(e) => e,
            Record::Header(h) => {
                st.header = Some(h);
                continue;
            }
            Record::Aux { key, value } => {
                st.aux.push((key, value));
                continue;
            }
            Record::Function { code } => {
                let (library, engine) = function_library(&code);
                st.functions.push(FunctionInfo {
                    library,
                    engine,
                    bytes: code.len() as u64,
                });
                continue;
            }
            Record::FunctionPreGa {
                name, engine, code, ..
            } => {
                st.functions.push(FunctionInfo {
                    library: name,
                    engine,
                    bytes: code.len() as u64,
                });
                continue;
            }
            Record::ModuleAux { name, .. } => {
                st.modules.insert(name);
                continue;
            }
            Record::Eof { checksum, .. } => {
                st.checksum_ok = match reader.verify_checksum(checksum) {
                    Ok(verified) => verified.then_some(true),
                    Err(e) => {
                        st.checksum_error = Some(e);
                        Some(false)
                    }
                };
                continue;
            }
            _ => continue,
        };
        if !pass_all && !filter.matches_entry(&e) {
            st.filtered_out += 1;
            continue;
        }
        let v = &e.value;
        let ty = v.value_type();
        let (elements, largest) = if opts.decode_all {
            let mut m = Measure::default();
            v.visit(
                &mut m,
                &mut scratch,
                crate::rdb::DecodeOptions { deep: false },
            )
            .map_err(|err| err.with_key(Some(e.db), &e.key))?;
            (m.n, Some(m.largest))
        } else {
            let n = count::element_count(v, &mut scratch, &mut buf)
                .map_err(|err| err.with_key(Some(e.db), &e.key))?;
            (n, None)
        };
        if ty == ValueType::Module {
            if let Ok(id) = Cursor::new(v.raw(), v.offset()).len("a module type id") {
                st.modules.insert(module_name(id));
            }
        }
        let value_bytes = v.len() as u64;
        let k = KeyStats {
            db: e.db,
            key: Vec::new(),
            ty,
            encoding: v.encoding_name(),
            value_bytes,
            record_bytes: (v.offset() + value_bytes).saturating_sub(item.offset),
            elements,
            largest_element: largest,
            memory_estimate: memory::estimate(e.key.len(), e.expire_ms.is_some(), v, elements),
            expire_ms: e.expire_ms,
        };
        // One slot per (db, type byte); the per-type, per-encoding and per-db sums are
        // derived at the end.
        if cur_db.as_ref().is_none_or(|(d, _)| *d != e.db) {
            if let Some((d, slots)) = cur_db.take() {
                per_db.insert(d, slots);
            }
            let slots = per_db.remove(&e.db).unwrap_or_default();
            cur_db = Some((e.db, slots));
        }
        if let Some((_, slots)) = cur_db.as_mut() {
            slots[(v.type_byte() & 31) as usize].add(&k);
        }
        st.expiry.add(e.expire_ms, opts.now_ms);
        if let Some(sep) = &opts.prefix_sep {
            let p = key_prefix(&e.key, sep, opts.prefix_depth);
            if let Some(t) = prefixes.get_mut(p) {
                t.add(&k);
            } else if prefixes.len() < opts.max_prefixes {
                prefixes.entry(p.to_vec()).or_default().add(&k);
            } else {
                overflow_keys += 1;
                prefix_other.add(&k);
            }
        }
        let want_size = top_size.wants(value_bytes);
        let want_elems = top_elems.wants(elements);
        if want_size || want_elems || per_key.is_some() {
            let mut k = k;
            k.key = e.key.to_vec();
            if let Some(f) = per_key.as_mut() {
                f(&k)?;
            }
            if want_size {
                top_size.insert(value_bytes, k.clone());
            }
            if want_elems {
                top_elems.insert(elements, k);
            }
        }
    }
    progress(data.len() as u64);
    if let Some((d, slots)) = cur_db.take() {
        per_db.insert(d, slots);
    }
    let dialect = st.header.map_or(crate::rdb::Dialect::Redis, |h| h.dialect);
    for (db, slots) in per_db {
        let d = st.dbs.entry(db).or_default();
        for (t, tot) in slots.iter().enumerate() {
            if tot.keys == 0 {
                continue;
            }
            let t = t as u8;
            let ty = crate::rdb::value::value_type_of(dialect, t)
                .unwrap_or(ValueType::Module)
                .name();
            let enc = crate::rdb::format::type_name(dialect, t).unwrap_or("unknown");
            for target in [
                &mut d.totals,
                d.by_type.entry(ty).or_default(),
                d.by_encoding.entry(enc).or_default(),
                &mut st.totals,
                st.by_type.entry(ty).or_default(),
                st.by_encoding.entry(enc).or_default(),
            ] {
                target.merge(tot);
            }
        }
    }
    st.top_by_size = top_size.sorted();
    st.top_by_elements = top_elems.sorted();
    if let Some(sep) = &opts.prefix_sep {
        let mut items: Vec<PrefixStats> = prefixes
            .into_iter()
            .map(|(prefix, totals)| PrefixStats { prefix, totals })
            .collect();
        items.sort_by(|a, b| {
            b.totals
                .value_bytes
                .cmp(&a.totals.value_bytes)
                .then_with(|| a.prefix.cmp(&b.prefix))
        });
        st.prefixes = Some(PrefixReport {
            separator: sep.clone(),
            depth: opts.prefix_depth,
            limit: opts.max_prefixes,
            overflow_keys,
            items,
            other: prefix_other,
        });
    }
    Ok(st)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_and_libraries() {
        assert_eq!(key_prefix(b"user:42:name", b":", 1), b"user");
        assert_eq!(key_prefix(b"user:42:name", b":", 2), b"user:42");
        assert_eq!(key_prefix(b"plain", b":", 1), b"plain");
        assert_eq!(key_prefix(b"a::b", b"::", 1), b"a");
        assert_eq!(
            function_library(b"#!lua name=mylib\nredis.register_function('f', ...)"),
            (b"mylib".to_vec(), b"lua".to_vec())
        );
    }

    #[test]
    fn top_n_keeps_the_biggest() {
        let mut t = TopN::new(3);
        for (i, m) in [5u64, 1, 9, 3, 7, 7, 2].iter().enumerate() {
            if t.wants(*m) {
                t.insert(
                    *m,
                    KeyStats {
                        db: 0,
                        key: vec![i as u8],
                        ty: ValueType::String,
                        encoding: "string",
                        value_bytes: *m,
                        record_bytes: 0,
                        elements: 0,
                        largest_element: None,
                        memory_estimate: 0,
                        expire_ms: None,
                    },
                );
            }
        }
        let v: Vec<u64> = t.sorted().iter().map(|k| k.value_bytes).collect();
        assert_eq!(v, vec![9, 7, 7]);
    }
}
