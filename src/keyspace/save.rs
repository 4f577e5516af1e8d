//! Writing a keyspace as an RDB file with the project's [`RdbWriter`]: databases in
//! ascending order, keys sorted by name, values in the encodings Redis of the target
//! version would choose.

use std::io::Write;

use super::model::{HashValue, Stream, Value};
use super::Keyspace;
use crate::error::Result;
use crate::rdb::encode::collection::Elements;
use crate::rdb::model::{self as rm, StreamEntry, StreamMeta, ValueType};
use crate::rdb::{Dialect, EntryMeta, RdbWriter};

/// Converts a keyspace value to the RDB writer's model (sets, hashes in member order; sorted
/// sets in rank order).
pub fn to_rdb(v: &Value) -> rm::Value {
    match v {
        Value::String(s) => rm::Value::String(s.clone()),
        Value::List(l) => rm::Value::List(l.iter().cloned().collect()),
        Value::Set(s) => {
            let mut m: Vec<Vec<u8>> = s.iter().cloned().collect();
            m.sort();
            rm::Value::Set(m)
        }
        Value::Zset(z) => rm::Value::Zset(z.iter().map(|(m, s)| (m.to_vec(), s)).collect()),
        Value::Hash(h) => {
            let mut f: Vec<rm::HashField> = h
                .iter()
                .map(|(k, v)| rm::HashField {
                    field: k.clone(),
                    value: v.value.clone(),
                    expire_ms: v.expire_ms,
                })
                .collect();
            f.sort_by(|a, b| a.field.cmp(&b.field));
            rm::Value::Hash(f)
        }
        Value::Stream(s) => rm::Value::Stream(Box::new(stream_to_rdb(s))),
        Value::Module(m) => rm::Value::Module((**m).clone()),
        Value::Other(v) => (**v).clone(),
    }
}

fn stream_to_rdb(s: &Stream) -> rm::Stream {
    let entries: Vec<StreamEntry> = s
        .entries
        .iter()
        .map(|(id, f)| StreamEntry {
            id: *id,
            fields: f.clone(),
        })
        .collect();
    let groups = s
        .groups
        .iter()
        .map(|(name, g)| {
            let pending = g
                .pending
                .iter()
                .map(|(id, p)| rm::PendingEntry {
                    id: *id,
                    delivery_time_ms: p.delivery_time_ms,
                    delivery_count: p.delivery_count,
                })
                .collect();
            let consumers = g
                .consumers
                .iter()
                .map(|(cname, c)| rm::Consumer {
                    name: cname.clone(),
                    seen_time_ms: c.seen_time_ms,
                    active_time_ms: c.active_time_ms,
                    pending: g
                        .pending
                        .iter()
                        .filter(|(_, p)| &p.consumer == cname)
                        .map(|(id, _)| *id)
                        .collect(),
                })
                .collect();
            let nacked = g
                .pending
                .iter()
                .filter(|(_, p)| !g.consumers.contains_key(&p.consumer))
                .map(|(id, _)| *id)
                .collect();
            rm::ConsumerGroup {
                name: name.clone(),
                last_id: g.last_id,
                entries_read: g.entries_read,
                pending,
                consumers,
                nacked,
            }
        })
        .collect();
    rm::Stream {
        meta: StreamMeta {
            length: entries.len() as u64,
            last_id: s.last_id,
            first_id: Some(s.first_id),
            max_deleted_id: Some(s.max_deleted_id),
            entries_added: Some(s.entries_added),
        },
        entries,
        groups,
        idmp: None,
    }
}

/// Writes `ks` as a complete RDB file of `version` (e.g. 10 for Redis 7.0) into `w` and
/// returns `w`.
pub fn write_rdb<W: Write>(ks: &Keyspace, w: W, version: u32) -> Result<W> {
    let mut wr = RdbWriter::new(w, Dialect::Redis, version)?;
    wr.aux(b"redis-ver", b"7.0.15")?;
    wr.aux(b"redis-bits", b"64")?;
    // Redis saves the function libraries after the AUX fields, before the databases.
    for code in ks.functions.values() {
        wr.function(code)?;
    }
    for (&db, d) in &ks.dbs {
        if d.is_empty() {
            continue;
        }
        wr.select_db(db)?;
        let expires = d.keys.values().filter(|e| e.expire_ms().is_some()).count();
        wr.resize_db(d.len() as u64, expires as u64)?;
        for key in d.sorted_keys() {
            let Some(e) = d.keys.get(key) else { continue };
            let meta = EntryMeta {
                expire_ms: e.expire_ms(),
                ..EntryMeta::default()
            };
            write_value(&mut wr, key, &meta, &e.value)?;
        }
    }
    wr.finish()
}

/// Writes one key without copying its value: strings by reference, lists as they are, sets
/// and hashes through a sorted index of references to their members (8 / 16 bytes per
/// element), sorted sets through (member, score) references in rank order; the elements are
/// the ones, in the order, [`to_rdb`] gives.
fn write_value<W: Write>(
    wr: &mut RdbWriter<W>,
    key: &[u8],
    meta: &EntryMeta,
    v: &Value,
) -> Result<()> {
    match v {
        Value::String(s) => {
            wr.entry_string(key, meta, s)?;
        }
        Value::List(l) => {
            wr.entry_elements(key, meta, ValueType::List, &**l)?;
        }
        Value::Set(s) => {
            let mut m: Vec<&Vec<u8>> = s.iter().collect();
            m.sort_unstable();
            wr.entry_elements(key, meta, ValueType::Set, m.as_slice())?;
        }
        Value::Zset(z) => {
            let m: Vec<(&[u8], f64)> = z.iter().collect();
            wr.entry_elements(key, meta, ValueType::Zset, m.as_slice())?;
        }
        Value::Hash(h) => {
            let mut f: Vec<(&Vec<u8>, &HashValue)> = h.iter().collect();
            f.sort_unstable_by(|a, b| a.0.cmp(b.0));
            wr.entry_elements(key, meta, ValueType::Hash, &HashPairs(&f))?;
        }
        Value::Stream(_) | Value::Module(_) | Value::Other(_) => {
            wr.entry_value(key, meta, &to_rdb(v))?;
        }
    }
    Ok(())
}

/// A hash's fields lent to the collection encoders: field, value, field, value… in the
/// order of the slice.
struct HashPairs<'a>(&'a [(&'a Vec<u8>, &'a HashValue)]);

impl Elements for HashPairs<'_> {
    fn len(&self) -> usize {
        2 * self.0.len()
    }

    #[inline]
    fn get(&self, i: usize) -> &[u8] {
        let (f, v) = self.0[i / 2];
        if i.is_multiple_of(2) {
            f
        } else {
            &v.value
        }
    }

    fn ttl(&self, p: usize) -> u64 {
        self.0[p].1.expire_ms.unwrap_or(0)
    }
}
