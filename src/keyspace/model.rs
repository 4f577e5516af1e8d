//! The in-memory keyspace: databases of keys, each with a value and an optional absolute
//! expiry. Values keep exactly what Redis keeps observable (and what `DEBUG DIGEST` and an
//! RDB file hold), not how Redis encodes them.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use crate::rdb::model::{ModuleValue, StreamId};

/// A key's value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string (integers are kept as their decimal text, as Redis reports them).
    String(Vec<u8>),
    /// A list, head to tail.
    List(VecDeque<Vec<u8>>),
    /// A set.
    Set(HashSet<Vec<u8>>),
    /// A sorted set.
    Zset(Zset),
    /// A hash.
    Hash(Hash),
    /// A stream.
    Stream(Box<Stream>),
    /// A module value, kept as its raw RDB body (no command can change it).
    Module(ModuleValue),
    /// Any other value read from an RDB (e.g. a Redis 8.8 array), kept as decoded; no
    /// command can change it.
    Other(crate::rdb::Value),
}

impl Value {
    /// The Redis object type number (`OBJ_STRING` 0 … `OBJ_STREAM` 6), as `TYPE` and the
    /// digest see it.
    pub fn obj_type(&self) -> u32 {
        match self {
            Value::String(_) => 0,
            Value::List(_) => 1,
            Value::Set(_) => 2,
            Value::Zset(_) => 3,
            Value::Hash(_) => 4,
            Value::Module(_) => 5,
            Value::Stream(_) => 6,
            Value::Other(_) => 7,
        }
    }

    /// The type name `TYPE` replies with.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::String(_) => "string",
            Value::List(_) => "list",
            Value::Set(_) => "set",
            Value::Zset(_) => "zset",
            Value::Hash(_) => "hash",
            Value::Module(_) => "module",
            Value::Stream(_) => "stream",
            Value::Other(v) => v.value_type().name(),
        }
    }

    /// True for a collection with no element (Redis deletes such keys).
    pub fn is_empty_collection(&self) -> bool {
        match self {
            Value::List(l) => l.is_empty(),
            Value::Set(s) => s.is_empty(),
            Value::Zset(z) => z.is_empty(),
            Value::Hash(h) => h.is_empty(),
            _ => false,
        }
    }
}

/// A key: its value and its absolute expiry (unix ms).
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The value.
    pub value: Value,
    /// Absolute expiry in unix ms. Redis treats a stored expiry of -1 as none, so `Some(-1)`
    /// is never stored.
    pub expire_ms: Option<i64>,
}

/// One database.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Db {
    /// Keys and their entries.
    pub keys: HashMap<Vec<u8>, Entry>,
}

impl Db {
    /// Number of keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when the database holds no key.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Keys sorted by their bytes (for deterministic output).
    pub fn sorted_keys(&self) -> Vec<&Vec<u8>> {
        let mut v: Vec<&Vec<u8>> = self.keys.keys().collect();
        v.sort();
        v
    }
}

/// A score ordered as Redis orders a sorted set: by score (`-0.0` equal to `0.0`), then by
/// member bytes. Scores are never NaN.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreKey(pub f64, pub Vec<u8>);

impl Eq for ScoreKey {}

impl PartialOrd for ScoreKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for ScoreKey {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0
            .partial_cmp(&other.0)
            .unwrap_or(Ordering::Equal)
            .then_with(|| self.1.cmp(&other.1))
    }
}

/// A sorted set: member → score, and the members in rank order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Zset {
    scores: HashMap<Vec<u8>, f64>,
    order: BTreeSet<ScoreKey>,
}

impl Zset {
    /// Number of members.
    pub fn len(&self) -> usize {
        self.scores.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }

    /// The score of `member`.
    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.scores.get(member).copied()
    }

    /// Sets `member`'s score (adding it when missing).
    pub fn insert(&mut self, member: Vec<u8>, score: f64) {
        if let Some(old) = self.scores.insert(member.clone(), score) {
            self.order.remove(&ScoreKey(old, member.clone()));
        }
        self.order.insert(ScoreKey(score, member));
    }

    /// Removes `member`; true when it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match self.scores.remove(member) {
            Some(s) => {
                self.order.remove(&ScoreKey(s, member.to_vec()));
                true
            }
            None => false,
        }
    }

    /// Members in rank order (ascending score, then member).
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&[u8], f64)> + '_ {
        self.order.iter().map(|k| (k.1.as_slice(), k.0))
    }
}

/// A hash field's value and optional absolute expiry (unix ms, Redis 7.4+).
#[derive(Debug, Clone, PartialEq)]
pub struct HashValue {
    /// The value.
    pub value: Vec<u8>,
    /// Field expiry, unix ms.
    pub expire_ms: Option<u64>,
}

/// A hash.
pub type Hash = HashMap<Vec<u8>, HashValue>;

/// A consumer group's pending entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    /// Last delivery time, unix ms.
    pub delivery_time_ms: u64,
    /// Deliveries.
    pub delivery_count: u64,
    /// The consumer that owns it.
    pub consumer: Vec<u8>,
}

/// A consumer of a group.
#[derive(Debug, Clone, PartialEq)]
pub struct Consumer {
    /// Last seen time, unix ms.
    pub seen_time_ms: u64,
    /// Last active time, unix ms (RDB stream v3+), when known.
    pub active_time_ms: Option<u64>,
}

/// A consumer group.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Last delivered ID.
    pub last_id: StreamId,
    /// Entries read counter (`None`: invalid/unknown, as Redis's `SCG_INVALID_ENTRIES_READ`).
    pub entries_read: Option<u64>,
    /// The pending entries list.
    pub pending: BTreeMap<StreamId, Pending>,
    /// Consumers by name.
    pub consumers: BTreeMap<Vec<u8>, Consumer>,
}

/// A stream entry's field/value pairs.
pub type Fields = Vec<(Vec<u8>, Vec<u8>)>;

/// A stream.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Stream {
    /// Entries by ID: their field/value pairs.
    pub entries: BTreeMap<StreamId, Fields>,
    /// Last generated ID.
    pub last_id: StreamId,
    /// First ID (0-0 when empty), as Redis 7.0 keeps it.
    pub first_id: StreamId,
    /// Largest deleted ID.
    pub max_deleted_id: StreamId,
    /// Entries ever added.
    pub entries_added: u64,
    /// Consumer groups by name.
    pub groups: BTreeMap<Vec<u8>, Group>,
}

impl Stream {
    /// Recomputes `first_id` from the entries (0-0 when empty).
    pub fn update_first_id(&mut self) {
        self.first_id = self.entries.keys().next().copied().unwrap_or_default();
    }
}
