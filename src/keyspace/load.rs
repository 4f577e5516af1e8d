//! Filling a keyspace from an RDB file (a dump, an AOF's RDB preamble or BASE).

use std::collections::{HashSet, VecDeque};

use super::model::{Consumer, Entry, Group, HashValue, Pending, Stream, Value, Zset};
use super::Keyspace;
use crate::error::Result;
use crate::rdb::{self, RdbReader, Record};

/// How to load.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions {
    /// Skip keys whose expiry is before this unix ms, as a Redis master does when it loads
    /// a dump (`None`: keep every key, as Redis does for an AOF's RDB part).
    pub drop_expired_before: Option<i64>,
    /// Verify the CRC-64 at the end, as `redis-check-rdb` and `redsafe check` do: a mismatch
    /// fails the load (default off: an AOF's RDB part is verified by the AOF checker).
    pub verify_checksum: bool,
}

/// What a load read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadStats {
    /// Keys stored.
    pub keys: u64,
    /// Keys skipped as expired.
    pub expired: u64,
    /// Empty collections skipped (Redis skips them too).
    pub empty: u64,
}

/// Loads every key and function library of the RDB in `data` into `ks` (replacing keys and
/// libraries of the same name). Fails
/// on the first damaged record, with its offset (and on a CRC-64 mismatch with
/// [`LoadOptions::verify_checksum`]).
pub fn load_rdb(ks: &mut Keyspace, data: &[u8], opts: LoadOptions) -> Result<LoadStats> {
    let mut stats = LoadStats::default();
    let mut reader = RdbReader::new(data);
    while let Some(item) = reader.next() {
        let item = item?;
        let offset = item.offset;
        let Some(e) = key_to_load(
            &reader,
            offset,
            item.record,
            &opts,
            &mut stats,
            &mut |n, c| {
                ks.functions.insert(n, c);
            },
        )?
        else {
            continue;
        };
        let value = e
            .value
            .materialize()
            .map_err(|er| er.at(offset).with_key(Some(e.db), &e.key))?;
        let value = from_rdb(value);
        if value.is_empty_collection() {
            stats.empty += 1;
            continue;
        }
        ks.insert(e.db, &*e.key, Entry::with_expiry(value, e.expire_ms));
        stats.keys += 1;
    }
    Ok(stats)
}

/// The rules every load of an RDB follows for one record (`load_rdb` and the streaming
/// digest): the CRC-64 is verified at the end (with [`LoadOptions::verify_checksum`]), a
/// function library must name itself as Redis requires (and is handed to `library`), the
/// pre-release function format is refused as Redis 7.0 GA refuses it, and a key whose expiry
/// is before [`LoadOptions::drop_expired_before`] is dropped (counted in `stats`). Returns the
/// key to load, `None` for every other record.
pub(crate) fn key_to_load<'a>(
    reader: &RdbReader<'a>,
    offset: u64,
    record: Record<'a>,
    opts: &LoadOptions,
    stats: &mut LoadStats,
    library: &mut dyn FnMut(Vec<u8>, Vec<u8>),
) -> Result<Option<crate::rdb::Entry<'a>>> {
    let e = match record {
        Record::Eof { checksum, .. } => {
            if opts.verify_checksum {
                reader.verify_checksum(checksum)?;
            }
            return Ok(None);
        }
        Record::Entry(e) => e,
        Record::Function { code } => {
            let name = super::functions::library_name(&code).map_err(|why| {
                crate::Error::corrupt(offset, "a function library Redis loads", why)
            })?;
            library(name, code);
            return Ok(None);
        }
        // Redis 7.0 GA refuses this format too ("Pre-release function format not
        // supported"); dropping it would lose the function silently.
        Record::FunctionPreGa { .. } => {
            return Err(crate::Error::new(crate::ErrorKind::Unsupported(
                "a pre-release (7.0-rc) function record".into(),
            ))
            .at(offset));
        }
        _ => return Ok(None),
    };
    if let (Some(before), Some(exp)) = (opts.drop_expired_before, e.expire_ms) {
        if exp < before {
            stats.expired += 1;
            return Ok(None);
        }
    }
    Ok(Some(e))
}

/// Converts a decoded RDB value into the keyspace's model.
pub fn from_rdb(v: rdb::Value) -> Value {
    match v {
        rdb::Value::String(s) => Value::String(s),
        rdb::Value::List(l) => Value::List(Box::new(VecDeque::from(l))),
        rdb::Value::Set(s) => Value::Set(Box::new(s.into_iter().collect::<HashSet<_>>())),
        rdb::Value::Zset(z) => {
            let mut out = Zset::default();
            out.set_skiplist();
            for (m, s) in z {
                out.insert(m, s);
            }
            out.settle_after_load();
            Value::Zset(Box::new(out))
        }
        rdb::Value::Hash(h) => Value::Hash(Box::new(
            h.into_iter()
                .map(|f| {
                    (
                        f.field,
                        HashValue {
                            value: f.value,
                            expire_ms: f.expire_ms,
                        },
                    )
                })
                .collect(),
        )),
        rdb::Value::Stream(s) => Value::Stream(Box::new(stream_from_rdb(*s))),
        rdb::Value::Module(m) => Value::Module(Box::new(m)),
        other @ rdb::Value::Array { .. } => Value::Other(Box::new(other)),
    }
}

fn stream_from_rdb(s: rdb::model::Stream) -> Stream {
    let entries: std::collections::BTreeMap<_, _> =
        s.entries.into_iter().map(|e| (e.id, e.fields)).collect();
    let length = entries.len() as u64;
    let first = entries.keys().next().copied().unwrap_or_default();
    let mut out = Stream {
        entries,
        last_id: s.meta.last_id,
        first_id: s.meta.first_id.unwrap_or(first),
        max_deleted_id: s.meta.max_deleted_id.unwrap_or_default(),
        entries_added: s.meta.entries_added.unwrap_or(length),
        groups: Default::default(),
    };
    for g in s.groups {
        let mut group = Group {
            last_id: g.last_id,
            // -1 (SCG_INVALID_ENTRIES_READ) on disk means "unknown".
            entries_read: g.entries_read.filter(|n| *n != u64::MAX),
            pending: Default::default(),
            consumers: Default::default(),
        };
        for p in &g.pending {
            group.pending.insert(
                p.id,
                Pending {
                    delivery_time_ms: p.delivery_time_ms,
                    delivery_count: p.delivery_count,
                    consumer: Vec::new(),
                },
            );
        }
        for c in g.consumers {
            for id in &c.pending {
                if let Some(p) = group.pending.get_mut(id) {
                    p.consumer = c.name.clone();
                }
            }
            group.consumers.insert(
                c.name,
                Consumer {
                    seen_time_ms: c.seen_time_ms,
                    active_time_ms: c.active_time_ms,
                },
            );
        }
        out.groups.insert(g.name, group);
    }
    out
}
