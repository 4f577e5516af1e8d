//! A 128-bit digest of a value's logical content, independent of its encoding: a hash
//! stored as a ziplist and the same hash stored as a listpack or hashtable digest the same.
//! Sets, hashes and sorted sets are order-independent (sum of per-element hashes, like
//! Redis's `DEBUG DIGEST`); lists, streams and arrays are ordered. Integers stored as
//! integers hash as their decimal text.
//!
//! For streams the entries, the length and last ID, and the consumer groups (name, last
//! delivered ID, pending entries with delivery time and count, consumers with their pending
//! IDs and seen time) are covered; counters that only newer formats store (first ID, max
//! deleted ID, entries added, entries read, active time) are not, so the same stream saved
//! by Redis 6.2 and 7.2 digests the same.

use xxhash_rust::xxh3::{xxh3_128, Xxh3};

use crate::error::Result;
use crate::rdb::encoding::Elem;
use crate::rdb::model::{ConsumerGroup, StreamId, StreamIdmp, StreamMeta, ValueType};
use crate::rdb::value::ArrayItem;
use crate::rdb::{DecodeOptions, Scratch, ValueHandle, ValueVisitor};

struct Digester {
    ordered: Xxh3,
    unordered: u128,
    buf: Vec<u8>,
    ty: u8,
}

#[inline]
fn push_elem(buf: &mut Vec<u8>, e: Elem<'_>) {
    let mut b = itoa::Buffer::new();
    let s = e.as_bytes(&mut b);
    buf.extend_from_slice(&(s.len() as u64).to_le_bytes());
    buf.extend_from_slice(s);
}

#[inline]
fn push_bytes(buf: &mut Vec<u8>, s: &[u8]) {
    buf.extend_from_slice(&(s.len() as u64).to_le_bytes());
    buf.extend_from_slice(s);
}

fn push_id(buf: &mut Vec<u8>, id: StreamId) {
    buf.extend_from_slice(&id.ms.to_le_bytes());
    buf.extend_from_slice(&id.seq.to_le_bytes());
}

impl Digester {
    #[inline]
    fn add_unordered(&mut self) {
        self.unordered = self.unordered.wrapping_add(xxh3_128(&self.buf));
        self.buf.clear();
    }

    #[inline]
    fn add_ordered(&mut self) {
        self.ordered.update(&self.buf);
        self.buf.clear();
    }
}

impl ValueVisitor for Digester {
    fn begin(&mut self, ty: ValueType, _t: u8, _n: Option<u64>) -> Result<()> {
        self.ty = ty as u8;
        Ok(())
    }
    fn string(&mut self, value: Elem<'_>) -> Result<()> {
        push_elem(&mut self.buf, value);
        self.add_ordered();
        Ok(())
    }
    fn list_item(&mut self, item: Elem<'_>) -> Result<()> {
        push_elem(&mut self.buf, item);
        self.add_ordered();
        Ok(())
    }
    fn set_member(&mut self, member: Elem<'_>) -> Result<()> {
        push_elem(&mut self.buf, member);
        self.add_unordered();
        Ok(())
    }
    fn zset_member(&mut self, member: Elem<'_>, score: f64) -> Result<()> {
        push_elem(&mut self.buf, member);
        let s = if score == 0.0 { 0.0f64 } else { score };
        self.buf.extend_from_slice(&s.to_bits().to_le_bytes());
        self.add_unordered();
        Ok(())
    }
    fn hash_field(
        &mut self,
        field: Elem<'_>,
        value: Elem<'_>,
        expire_ms: Option<u64>,
    ) -> Result<()> {
        push_elem(&mut self.buf, field);
        push_elem(&mut self.buf, value);
        if let Some(t) = expire_ms {
            self.buf.extend_from_slice(&t.to_le_bytes());
        }
        self.add_unordered();
        Ok(())
    }
    fn stream_entry(
        &mut self,
        id: StreamId,
        fields: &[Elem<'_>],
        values: &[Elem<'_>],
    ) -> Result<()> {
        push_id(&mut self.buf, id);
        for (f, v) in fields.iter().zip(values) {
            push_elem(&mut self.buf, *f);
            push_elem(&mut self.buf, *v);
        }
        self.add_ordered();
        Ok(())
    }
    fn stream_meta(&mut self, meta: &StreamMeta) -> Result<()> {
        self.buf.extend_from_slice(b"meta");
        self.buf.extend_from_slice(&meta.length.to_le_bytes());
        push_id(&mut self.buf, meta.last_id);
        self.add_ordered();
        Ok(())
    }
    fn stream_group(&mut self, g: &ConsumerGroup) -> Result<()> {
        self.buf.extend_from_slice(b"group");
        push_bytes(&mut self.buf, &g.name);
        push_id(&mut self.buf, g.last_id);
        for p in &g.pending {
            push_id(&mut self.buf, p.id);
            self.buf
                .extend_from_slice(&p.delivery_time_ms.to_le_bytes());
            self.buf.extend_from_slice(&p.delivery_count.to_le_bytes());
        }
        for c in &g.consumers {
            push_bytes(&mut self.buf, &c.name);
            self.buf.extend_from_slice(&c.seen_time_ms.to_le_bytes());
            for id in &c.pending {
                push_id(&mut self.buf, *id);
            }
        }
        for id in &g.nacked {
            push_id(&mut self.buf, *id);
        }
        self.add_ordered();
        Ok(())
    }
    fn stream_idmp(&mut self, idmp: &StreamIdmp) -> Result<()> {
        self.buf.extend_from_slice(format!("{idmp:?}").as_bytes());
        self.add_ordered();
        Ok(())
    }
    fn module_value(&mut self, type_id: u64, body: &[u8]) -> Result<()> {
        self.buf.extend_from_slice(&type_id.to_le_bytes());
        self.ordered.update(&self.buf);
        self.buf.clear();
        self.ordered.update(body);
        Ok(())
    }
    fn array_meta(&mut self, count: u64, insert_idx: Option<u64>) -> Result<()> {
        self.buf.extend_from_slice(&count.to_le_bytes());
        if let Some(i) = insert_idx {
            self.buf.extend_from_slice(&i.to_le_bytes());
        }
        self.add_ordered();
        Ok(())
    }
    fn array_item(&mut self, index: u64, item: ArrayItem<'_>) -> Result<()> {
        self.buf.extend_from_slice(&index.to_le_bytes());
        match item {
            ArrayItem::Bytes(e) => push_elem(&mut self.buf, e),
            ArrayItem::Int(i) => push_elem(&mut self.buf, Elem::Int(i)),
            ArrayItem::Float(f) => {
                self.buf.push(b'f');
                self.buf.extend_from_slice(&f.to_bits().to_le_bytes());
            }
        }
        self.add_ordered();
        Ok(())
    }
}

/// The content digest of a value (see the module docs).
pub fn value_digest(v: &ValueHandle<'_>, scratch: &mut Scratch) -> Result<u128> {
    let mut d = Digester {
        ordered: Xxh3::new(),
        unordered: 0,
        buf: Vec::new(),
        ty: 0,
    };
    v.visit(&mut d, scratch, DecodeOptions { deep: false })?;
    let mut fin = Vec::with_capacity(40);
    fin.push(d.ty);
    fin.extend_from_slice(&d.ordered.digest128().to_le_bytes());
    fin.extend_from_slice(&d.unordered.to_le_bytes());
    Ok(xxh3_128(&fin))
}
