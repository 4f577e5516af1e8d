//! Encoding whole collections for a target version, choosing the encoding Redis of that
//! version would use under its default size thresholds.
//!
//! The encoders read a collection through [`Elements`]: indexed access to its elements (and
//! zset scores, hash field TTLs), so a caller that holds the elements already lends them
//! without copying. [`Flat`] is the owned form: every element's bytes in one arena (no
//! allocation per element), filled from a decoded input value ([`FlatVisitor`]).

use std::collections::VecDeque;

use crate::error::Result;
use crate::rdb::encode::double::score_text;
use crate::rdb::encode::listpack::ListpackBuilder;
use crate::rdb::encode::ziplist::ZiplistBuilder;
use crate::rdb::encode::{intset, write_len, zipmap, StringEncoder};
use crate::rdb::encoding::{parse_i64_canonical, Elem};
use crate::rdb::format::*;
use crate::rdb::model::{HashField, StreamId, ValueType};
use crate::rdb::value::{ArrayItem, ValueVisitor};

/// Redis's default thresholds for compact encodings (the values of `CONFIG GET` on a fresh
/// server of the version that writes the target RDB version).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// `list-max-listpack-size` / `list-max-ziplist-size` -2: quicklist node byte limit.
    pub list_node_bytes: usize,
    /// `list-max-ziplist-entries` (Redis ≤ 3.0): ziplist lists up to this many elements.
    pub list_ziplist_entries: usize,
    /// `list-max-ziplist-value` (Redis ≤ 3.0).
    pub list_ziplist_value: usize,
    /// `hash-max-listpack-entries` / `hash-max-ziplist-entries` / `hash-max-zipmap-entries`.
    pub hash_entries: usize,
    /// `hash-max-listpack-value` and its older names.
    pub hash_value: usize,
    /// `set-max-intset-entries`.
    pub set_intset_entries: usize,
    /// `set-max-listpack-entries` (Redis ≥ 7.2).
    pub set_listpack_entries: usize,
    /// `set-max-listpack-value`.
    pub set_listpack_value: usize,
    /// `zset-max-listpack-entries` / `zset-max-ziplist-entries`.
    pub zset_entries: usize,
    /// `zset-max-listpack-value`.
    pub zset_value: usize,
    /// `stream-node-max-bytes`.
    pub stream_node_bytes: usize,
    /// `stream-node-max-entries`.
    pub stream_node_entries: usize,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            list_node_bytes: 8192,
            list_ziplist_entries: 512,
            list_ziplist_value: 64,
            hash_entries: 512,
            hash_value: 64,
            set_intset_entries: 512,
            set_listpack_entries: 128,
            set_listpack_value: 64,
            zset_entries: 128,
            zset_value: 64,
            stream_node_bytes: 4096,
            stream_node_entries: 100,
        }
    }
}

/// The format being written: dialect and RDB version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// Dialect.
    pub dialect: Dialect,
    /// RDB version.
    pub version: u32,
}

impl Target {
    /// True when the target has Redis-7.0-era (RDB 10) encodings: listpacks, quicklist v2.
    pub fn listpacks(&self) -> bool {
        self.version >= 10
    }

    /// True when sets can be listpacks (Redis 7.2, RDB 11; Valkey).
    pub fn set_listpack(&self) -> bool {
        self.version >= 11
    }

    /// True when hashes can carry field TTLs (Redis RDB ≥ 12 or Valkey ≥ 80).
    pub fn field_ttls(&self) -> bool {
        match self.dialect {
            Dialect::Redis => self.version >= 12,
            Dialect::Valkey => self.version >= 80,
        }
    }

    /// The stream type byte this target writes, or `None` when it has no streams.
    pub fn stream_type(&self) -> Option<u8> {
        match (self.dialect, self.version) {
            (Dialect::Valkey, _) => Some(T_STREAM_LISTPACKS_3),
            (_, v) if v >= 14 => Some(T_STREAM_LISTPACKS_5),
            (_, 13) => Some(T_STREAM_LISTPACKS_4),
            (_, 11 | 12) => Some(T_STREAM_LISTPACKS_3),
            (_, 10) => Some(T_STREAM_LISTPACKS_2),
            (_, 9) => Some(T_STREAM_LISTPACKS),
            _ => None,
        }
    }

    /// True when the type byte `t` (of a file in dialect `src`) exists with the same meaning
    /// in this target.
    pub fn has_type(&self, src: Dialect, t: u8) -> bool {
        let v = self.version;
        let redis_min = match t {
            0..=4 => 1,
            5..=7 => 8,
            9..=12 => 2,
            13 => 4,
            14 => 7,
            15 => 9,
            16..=19 => 10,
            20 | 21 => 11,
            22..=25 => 12,
            26 => 13,
            27 | 28 => 14,
            _ => return false,
        };
        match self.dialect {
            Dialect::Redis => (t < 22 || src == Dialect::Redis) && v >= redis_min,
            Dialect::Valkey => t <= 21 || (t == T_22 && src == Dialect::Valkey),
        }
    }
}

/// A collection's elements as the collection encoders read them, in the order to write them
/// (sets and hashes in member order; sorted sets in any order: the encoder ranks them). Lists
/// and sets: one element per item. Zsets: members, with [`Self::score`]. Hashes: field, value,
/// field, value…, with [`Self::ttl`] per pair.
pub trait Elements {
    /// Number of elements (for hashes, twice the number of fields).
    fn len(&self) -> usize;

    /// Element `i` (`i < len()`).
    fn get(&self, i: usize) -> &[u8];

    /// The score of zset member `i`; 0 for other types.
    fn score(&self, _i: usize) -> f64 {
        0.0
    }

    /// The expiry of hash pair `p` in unix ms, 0 when it has none (and for other types).
    fn ttl(&self, _p: usize) -> u64 {
        0
    }

    /// True when there are no elements.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The length of the longest element.
    fn max_len(&self) -> usize {
        (0..self.len())
            .map(|i| self.get(i).len())
            .max()
            .unwrap_or(0)
    }

    /// Number of hash pairs with a TTL.
    fn ttl_count(&self) -> usize {
        (0..self.len() / 2).filter(|&p| self.ttl(p) != 0).count()
    }

    /// True when any hash field has a TTL.
    fn has_ttls(&self) -> bool {
        (0..self.len() / 2).any(|p| self.ttl(p) != 0)
    }
}

/// A collection's elements in one arena. Lists and sets: one element per item. Zsets:
/// members with `scores`. Hashes: field, value, field, value… with `ttls` (0 = none) per pair.
#[derive(Debug, Default, Clone)]
pub struct Flat {
    arena: Vec<u8>,
    spans: Vec<(usize, usize)>,
    /// Zset scores, one per member.
    pub scores: Vec<f64>,
    /// Hash field expiries in unix ms (0 = none), one per pair.
    pub ttls: Vec<u64>,
}

impl Flat {
    /// Empties it, keeping allocations.
    pub fn clear(&mut self) {
        self.arena.clear();
        self.spans.clear();
        self.scores.clear();
        self.ttls.clear();
    }

    /// Appends an element.
    #[inline]
    pub fn push(&mut self, b: &[u8]) {
        let s = self.arena.len();
        self.arena.extend_from_slice(b);
        self.spans.push((s, b.len()));
    }

    /// Appends an element given as an [`Elem`].
    #[inline]
    pub fn push_elem(&mut self, e: Elem<'_>) {
        let s = self.arena.len();
        e.push_to(&mut self.arena);
        self.spans.push((s, self.arena.len() - s));
    }
}

impl Elements for Flat {
    fn len(&self) -> usize {
        self.spans.len()
    }

    #[inline]
    fn get(&self, i: usize) -> &[u8] {
        let (s, l) = self.spans[i];
        &self.arena[s..s + l]
    }

    fn score(&self, i: usize) -> f64 {
        self.scores[i]
    }

    fn ttl(&self, p: usize) -> u64 {
        self.ttls[p]
    }

    fn max_len(&self) -> usize {
        self.spans.iter().map(|s| s.1).max().unwrap_or(0)
    }
}

/// Lists and sets held as a slice of elements, owned or borrowed; sorted sets as a slice of
/// (member, score).
macro_rules! slice_elements {
    ($($t:ty),*) => {$(
        impl Elements for [$t] {
            fn len(&self) -> usize {
                <[$t]>::len(self)
            }

            #[inline]
            fn get(&self, i: usize) -> &[u8] {
                &self[i]
            }
        }

        impl Elements for [($t, f64)] {
            fn len(&self) -> usize {
                <[($t, f64)]>::len(self)
            }

            #[inline]
            fn get(&self, i: usize) -> &[u8] {
                &self[i].0
            }

            fn score(&self, i: usize) -> f64 {
                self[i].1
            }
        }
    )*};
}

slice_elements!(Vec<u8>, &Vec<u8>, &[u8]);

/// Lists held as a deque, head to tail.
impl Elements for VecDeque<Vec<u8>> {
    fn len(&self) -> usize {
        VecDeque::len(self)
    }

    #[inline]
    fn get(&self, i: usize) -> &[u8] {
        &self[i]
    }
}

/// Hashes held as the RDB model's fields.
impl Elements for [HashField] {
    fn len(&self) -> usize {
        2 * <[HashField]>::len(self)
    }

    #[inline]
    fn get(&self, i: usize) -> &[u8] {
        let f = &self[i / 2];
        if i.is_multiple_of(2) {
            &f.field
        } else {
            &f.value
        }
    }

    fn ttl(&self, p: usize) -> u64 {
        self[p].expire_ms.unwrap_or(0)
    }
}

/// Collects a decoded value into a [`Flat`] (lists, sets, zsets, hashes). Other types are
/// not collected: use [`crate::rdb::ValueHandle::materialize`] for them.
#[derive(Debug, Default)]
pub struct FlatVisitor {
    /// The collected elements.
    pub flat: Flat,
    /// The logical type seen.
    pub ty: Option<ValueType>,
}

impl ValueVisitor for FlatVisitor {
    fn begin(&mut self, ty: ValueType, _t: u8, _n: Option<u64>) -> Result<()> {
        self.ty = Some(ty);
        Ok(())
    }
    fn string(&mut self, v: Elem<'_>) -> Result<()> {
        self.flat.push_elem(v);
        Ok(())
    }
    fn list_item(&mut self, e: Elem<'_>) -> Result<()> {
        self.flat.push_elem(e);
        Ok(())
    }
    fn set_member(&mut self, e: Elem<'_>) -> Result<()> {
        self.flat.push_elem(e);
        Ok(())
    }
    fn zset_member(&mut self, m: Elem<'_>, score: f64) -> Result<()> {
        self.flat.push_elem(m);
        self.flat.scores.push(score);
        Ok(())
    }
    fn hash_field(&mut self, f: Elem<'_>, v: Elem<'_>, e: Option<u64>) -> Result<()> {
        self.flat.push_elem(f);
        self.flat.push_elem(v);
        self.flat.ttls.push(e.unwrap_or(0));
        Ok(())
    }
    fn stream_entry(&mut self, _id: StreamId, _f: &[Elem<'_>], _v: &[Elem<'_>]) -> Result<()> {
        Ok(())
    }
    fn array_item(&mut self, _i: u64, _v: ArrayItem<'_>) -> Result<()> {
        Ok(())
    }
}

/// Called by the collection encoders between elements of a large encoding, with the output
/// buffer and the type byte the value is being written as (decided before its first
/// element): the caller may write the buffer out there, so a value of any size is encoded
/// with a bounded buffer.
pub type Pace<'p> = &'p mut dyn FnMut(&mut Vec<u8>, u8) -> Result<()>;

/// Reusable state for encoding collections.
#[derive(Debug)]
pub struct CollectionEncoder {
    /// Thresholds for compact encodings.
    pub thresholds: Thresholds,
    lp: ListpackBuilder,
    zl: ZiplistBuilder,
    blob: Vec<u8>,
    ints: Vec<i64>,
    order: Vec<usize>,
}

impl Default for CollectionEncoder {
    fn default() -> Self {
        CollectionEncoder {
            thresholds: Thresholds::default(),
            lp: ListpackBuilder::new(),
            zl: ZiplistBuilder::new(true),
            blob: Vec::new(),
            ints: Vec::new(),
            order: Vec::new(),
        }
    }
}

impl CollectionEncoder {
    fn zl_new(&mut self, t: Target) {
        self.zl = ZiplistBuilder::new(t.version >= 6);
    }

    /// Encodes a list; returns the type byte. `flat` must not be empty.
    pub fn list<E: Elements + ?Sized>(
        &mut self,
        t: Target,
        s: &mut StringEncoder,
        flat: &E,
        out: &mut Vec<u8>,
        pace: Pace<'_>,
    ) -> Result<u8> {
        let th = self.thresholds;
        if t.version >= 10 {
            // Quicklist v2: listpack nodes filled up to list-max-listpack-size -2 (8 KiB).
            let mut nodes: Vec<(usize, usize)> = Vec::new(); // element ranges
            let mut start = 0;
            let mut bytes = 0usize; // estimated node size, as quicklist tracks node->sz
            self.lp.clear();
            for i in 0..flat.len() {
                let sz = flat.get(i).len();
                let large = sz >= (1 << 30);
                if i > start
                    && (large
                        || is_large_prev(flat, i - 1)
                        || bytes + sz + 8 > th.list_node_bytes
                        || i - start >= 65535)
                {
                    nodes.push((start, i));
                    start = i;
                    self.lp.clear();
                }
                self.lp.push(flat.get(i));
                bytes = self.lp.bytes();
            }
            nodes.push((start, flat.len()));
            write_len(out, nodes.len() as u64);
            for (a, b) in nodes {
                pace(out, T_LIST_QUICKLIST_2)?;
                if b - a == 1 && flat.get(a).len() >= (1 << 30) {
                    write_len(out, QUICKLIST_NODE_PLAIN);
                    s.write(out, flat.get(a));
                    continue;
                }
                write_len(out, QUICKLIST_NODE_PACKED);
                self.lp.clear();
                for i in a..b {
                    self.lp.push(flat.get(i));
                }
                s.write(out, self.lp.build());
            }
            Ok(T_LIST_QUICKLIST_2)
        } else if t.version >= 7 {
            // Quicklist of ziplists (Redis 3.2–6.2), same 8 KiB fill with the ziplist estimate.
            self.zl_new(t);
            let mut nodes: Vec<(usize, usize)> = Vec::new();
            let mut start = 0;
            for i in 0..flat.len() {
                let sz = flat.get(i).len();
                let mut overhead = if sz < 254 { 1 } else { 5 };
                overhead += if sz < 64 {
                    1
                } else if sz < 16384 {
                    2
                } else {
                    5
                };
                if i > start
                    && (self.zl.bytes() + sz + overhead > th.list_node_bytes || i - start >= 65535)
                {
                    nodes.push((start, i));
                    start = i;
                    self.zl.clear();
                }
                self.zl.push(flat.get(i));
            }
            nodes.push((start, flat.len()));
            write_len(out, nodes.len() as u64);
            for (a, b) in nodes {
                pace(out, T_LIST_QUICKLIST)?;
                self.zl.clear();
                for i in a..b {
                    self.zl.push(flat.get(i));
                }
                s.write(out, self.zl.build());
            }
            Ok(T_LIST_QUICKLIST)
        } else if t.version >= 2
            && flat.len() <= th.list_ziplist_entries
            && flat.max_len() <= th.list_ziplist_value
        {
            self.zl_new(t);
            for i in 0..flat.len() {
                self.zl.push(flat.get(i));
            }
            s.write(out, self.zl.build());
            Ok(T_LIST_ZIPLIST)
        } else {
            write_len(out, flat.len() as u64);
            for i in 0..flat.len() {
                pace(out, T_LIST)?;
                s.write(out, flat.get(i));
            }
            Ok(T_LIST)
        }
    }

    /// Encodes a set; returns the type byte.
    pub fn set<E: Elements + ?Sized>(
        &mut self,
        t: Target,
        s: &mut StringEncoder,
        flat: &E,
        out: &mut Vec<u8>,
        pace: Pace<'_>,
    ) -> Result<u8> {
        let th = self.thresholds;
        let n = flat.len();
        if t.version >= 2 && n <= th.set_intset_entries {
            self.ints.clear();
            let all_ints = (0..n).all(|i| match parse_i64_canonical(flat.get(i)) {
                Some(v) => {
                    self.ints.push(v);
                    true
                }
                None => false,
            });
            if all_ints {
                self.ints.sort_unstable();
                self.ints.dedup();
                self.blob.clear();
                intset::build(&self.ints, &mut self.blob);
                s.write(out, &self.blob);
                return Ok(T_SET_INTSET);
            }
        }
        if t.set_listpack()
            && n <= th.set_listpack_entries
            && flat.max_len() <= th.set_listpack_value
        {
            self.lp.clear();
            for i in 0..n {
                self.lp.push(flat.get(i));
            }
            s.write(out, self.lp.build());
            return Ok(T_SET_LISTPACK);
        }
        write_len(out, n as u64);
        for i in 0..n {
            pace(out, T_SET)?;
            s.write(out, flat.get(i));
        }
        Ok(T_SET)
    }

    /// Encodes a sorted set; returns the type byte.
    pub fn zset<E: Elements + ?Sized>(
        &mut self,
        t: Target,
        s: &mut StringEncoder,
        flat: &E,
        out: &mut Vec<u8>,
        pace: Pace<'_>,
    ) -> Result<u8> {
        let th = self.thresholds;
        let n = flat.len();
        self.order.clear();
        self.order.extend(0..n);
        let cmp = |a: &usize, b: &usize| {
            flat.score(*a)
                .partial_cmp(&flat.score(*b))
                .unwrap_or(std::cmp::Ordering::Equal)
                .then_with(|| flat.get(*a).cmp(flat.get(*b)))
        };
        self.order.sort_by(cmp);
        let small = n <= th.zset_entries && flat.max_len() <= th.zset_value;
        if small && t.version >= 10 {
            self.lp.clear();
            for &i in &self.order {
                self.lp.push(flat.get(i));
                self.lp.push(score_text(flat.score(i)).as_bytes());
            }
            s.write(out, self.lp.build());
            Ok(T_ZSET_LISTPACK)
        } else if small && t.version >= 2 {
            self.zl_new(t);
            for &i in &self.order {
                self.zl.push(flat.get(i));
                self.zl.push(score_text(flat.score(i)).as_bytes());
            }
            s.write(out, self.zl.build());
            Ok(T_ZSET_ZIPLIST)
        } else if t.version >= 8 {
            // Skiplist zsets are saved from the tail: highest score first.
            write_len(out, n as u64);
            for &i in self.order.iter().rev() {
                pace(out, T_ZSET_2)?;
                s.write(out, flat.get(i));
                out.extend_from_slice(&flat.score(i).to_le_bytes());
            }
            Ok(T_ZSET_2)
        } else {
            write_len(out, n as u64);
            for &i in self.order.iter().rev() {
                pace(out, T_ZSET)?;
                s.write(out, flat.get(i));
                let v = flat.score(i);
                if v.is_nan() {
                    out.push(253);
                } else if v == f64::INFINITY {
                    out.push(254);
                } else if v == f64::NEG_INFINITY {
                    out.push(255);
                } else {
                    let txt = score_text(v);
                    out.push(txt.len() as u8);
                    out.extend_from_slice(txt.as_bytes());
                }
            }
            Ok(T_ZSET)
        }
    }

    /// Encodes a hash; returns the type byte. Field TTLs are written when the target has them
    /// and ignored otherwise (the caller decides whether that loss is acceptable).
    pub fn hash<E: Elements + ?Sized>(
        &mut self,
        t: Target,
        s: &mut StringEncoder,
        flat: &E,
        out: &mut Vec<u8>,
        pace: Pace<'_>,
    ) -> Result<u8> {
        let th = self.thresholds;
        let pairs = flat.len() / 2;
        let small = pairs <= th.hash_entries && flat.max_len() <= th.hash_value;
        let ttls = flat.has_ttls() && t.field_ttls();
        if ttls && t.dialect == Dialect::Valkey {
            write_len(out, pairs as u64);
            for p in 0..pairs {
                pace(out, T_22)?;
                s.write(out, flat.get(2 * p));
                s.write(out, flat.get(2 * p + 1));
                let e = match flat.ttl(p) {
                    0 => -1i64,
                    x => x as i64,
                };
                out.extend_from_slice(&e.to_le_bytes());
            }
            return Ok(T_22);
        }
        if ttls {
            let min = (0..pairs)
                .map(|p| flat.ttl(p))
                .filter(|&x| x != 0)
                .min()
                .unwrap_or(0);
            if small {
                // Fields with a TTL first, by TTL; then the others in their order.
                self.order.clear();
                self.order.extend((0..pairs).filter(|&p| flat.ttl(p) != 0));
                self.order.sort_by_key(|&p| flat.ttl(p));
                self.order.extend((0..pairs).filter(|&p| flat.ttl(p) == 0));
                out.extend_from_slice(&min.to_le_bytes());
                self.lp.clear();
                for &p in &self.order {
                    self.lp.push(flat.get(2 * p));
                    self.lp.push(flat.get(2 * p + 1));
                    self.lp.push_int(flat.ttl(p) as i64);
                }
                s.write(out, self.lp.build());
                return Ok(T_HASH_LISTPACK_EX);
            }
            out.extend_from_slice(&min.to_le_bytes());
            write_len(out, pairs as u64);
            for p in 0..pairs {
                pace(out, T_HASH_METADATA)?;
                let ttl = match flat.ttl(p) {
                    0 => 0,
                    x => x - min + 1,
                };
                write_len(out, ttl);
                s.write(out, flat.get(2 * p));
                s.write(out, flat.get(2 * p + 1));
            }
            return Ok(T_HASH_METADATA);
        }
        if small && t.version >= 10 {
            self.lp.clear();
            for i in 0..flat.len() {
                self.lp.push(flat.get(i));
            }
            s.write(out, self.lp.build());
            Ok(T_HASH_LISTPACK)
        } else if small && t.version >= 4 {
            self.zl_new(t);
            for i in 0..flat.len() {
                self.zl.push(flat.get(i));
            }
            s.write(out, self.zl.build());
            Ok(T_HASH_ZIPLIST)
        } else if small && t.version >= 2 {
            self.blob.clear();
            zipmap::build(
                (0..pairs).map(|p| (flat.get(2 * p), flat.get(2 * p + 1))),
                &mut self.blob,
            );
            s.write(out, &self.blob);
            Ok(T_HASH_ZIPMAP)
        } else {
            write_len(out, pairs as u64);
            for i in 0..flat.len() {
                if i % 2 == 0 {
                    pace(out, T_HASH)?;
                }
                s.write(out, flat.get(i));
            }
            Ok(T_HASH)
        }
    }
}

fn is_large_prev<E: Elements + ?Sized>(flat: &E, i: usize) -> bool {
    flat.get(i).len() >= (1 << 30)
}
