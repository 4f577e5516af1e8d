//! The in-memory keyspace: databases of keys, each with a value and an optional absolute
//! expiry. Values keep exactly what Redis keeps observable (and what `DEBUG DIGEST` and an
//! RDB file hold), not how Redis encodes them.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use crate::rdb::model::{ModuleValue, StreamId};

/// A key's value. Everything but a string is boxed, so that a value is 24 bytes and a key's
/// slot in its database's table stays small (most keys of a big keyspace hold short
/// strings); `size_of` is checked by a test.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A string (integers are kept as their decimal text, as Redis reports them).
    String(Vec<u8>),
    /// A list, head to tail.
    List(Box<VecDeque<Vec<u8>>>),
    /// A set.
    Set(Box<HashSet<Vec<u8>>>),
    /// A sorted set.
    Zset(Box<Zset>),
    /// A hash.
    Hash(Box<Hash>),
    /// A stream.
    Stream(Box<Stream>),
    /// A module value, kept as its raw RDB body (no command can change it).
    Module(Box<ModuleValue>),
    /// Any other value read from an RDB (e.g. a Redis 8.8 array), kept as decoded; no
    /// command can change it.
    Other(Box<crate::rdb::Value>),
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

/// A key's name: up to [`Key::INLINE`] bytes are held in the key itself (no allocation: most
/// keys of a big keyspace are short), longer ones in one exact-size allocation. 24 bytes.
///
/// It hashes, compares and orders as its bytes, so a database's table is searched with a
/// `&[u8]`.
#[derive(Clone)]
pub struct Key(KeyRepr);

#[derive(Clone)]
enum KeyRepr {
    Inline { len: u8, buf: [u8; Key::INLINE] },
    Heap(Box<[u8]>),
}

impl Key {
    /// The longest key held without an allocation.
    pub const INLINE: usize = 22;

    /// The key's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            KeyRepr::Inline { len, buf } => &buf[..usize::from(*len)],
            KeyRepr::Heap(b) => b,
        }
    }
}

impl From<&[u8]> for Key {
    fn from(b: &[u8]) -> Key {
        if b.len() <= Key::INLINE {
            let mut buf = [0u8; Key::INLINE];
            buf[..b.len()].copy_from_slice(b);
            // INLINE < 256: the length fits a byte.
            Key(KeyRepr::Inline {
                len: b.len() as u8,
                buf,
            })
        } else {
            Key(KeyRepr::Heap(b.into()))
        }
    }
}

impl From<Vec<u8>> for Key {
    fn from(v: Vec<u8>) -> Key {
        if v.len() <= Key::INLINE {
            Key::from(v.as_slice())
        } else {
            Key(KeyRepr::Heap(v.into_boxed_slice()))
        }
    }
}

impl From<&Vec<u8>> for Key {
    fn from(v: &Vec<u8>) -> Key {
        Key::from(v.as_slice())
    }
}

impl<const N: usize> From<&[u8; N]> for Key {
    fn from(b: &[u8; N]) -> Key {
        Key::from(&b[..])
    }
}

impl std::ops::Deref for Key {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl AsRef<[u8]> for Key {
    fn as_ref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl std::borrow::Borrow<[u8]> for Key {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl std::hash::Hash for Key {
    // As `[u8]` hashes: `Borrow<[u8]>` lookups need the same hash.
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state)
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Key {}

impl PartialEq<[u8]> for Key {
    fn eq(&self, other: &[u8]) -> bool {
        self.as_bytes() == other
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Key) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Key) -> Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(self.as_bytes(), f)
    }
}

/// A key's value and its absolute expiry (unix ms). 32 bytes: the expiry is held in 8, with
/// Redis's own "no expiry" value -1 standing for none (Redis never stores an expiry of -1).
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The value.
    pub value: Value,
    expire_ms: i64,
}

/// The stored expiry that means none (Redis's `getExpire` answer for a key without one).
const NO_EXPIRY: i64 = -1;

impl Entry {
    /// An entry with no expiry.
    pub fn new(value: Value) -> Entry {
        Entry {
            value,
            expire_ms: NO_EXPIRY,
        }
    }

    /// An entry expiring at `expire_ms` (unix ms); `Some(-1)` is none, as Redis treats it.
    pub fn with_expiry(value: Value, expire_ms: Option<i64>) -> Entry {
        Entry {
            value,
            expire_ms: expire_ms.unwrap_or(NO_EXPIRY),
        }
    }

    /// The absolute expiry in unix ms, if any (never `Some(-1)`).
    pub fn expire_ms(&self) -> Option<i64> {
        Some(self.expire_ms).filter(|e| *e != NO_EXPIRY)
    }

    /// Sets the absolute expiry (unix ms); `None` or `Some(-1)` removes it.
    pub fn set_expire_ms(&mut self, expire_ms: Option<i64>) {
        self.expire_ms = expire_ms.unwrap_or(NO_EXPIRY);
    }
}

/// One database.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Db {
    /// Keys and their entries.
    pub keys: HashMap<Key, Entry>,
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
    pub fn sorted_keys(&self) -> Vec<&Key> {
        let mut v: Vec<&Key> = self.keys.keys().collect();
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

/// Redis's default `zset-max-listpack-entries`.
pub const ZSET_LISTPACK_ENTRIES: usize = 128;
/// Redis's default `zset-max-listpack-value`.
pub const ZSET_LISTPACK_VALUE: usize = 64;

/// A sorted set: member → score, and the members in rank order.
///
/// Whether Redis would hold it as a listpack is tracked because it is observable: a listpack
/// stores a score that is an integer as an integer, so `-0` is read back as `0`, while a
/// skiplist keeps `-0` (and `DEBUG DIGEST` prints the two differently).
#[derive(Debug, Clone, PartialEq)]
pub struct Zset {
    scores: HashMap<Vec<u8>, f64>,
    order: BTreeSet<ScoreKey>,
    listpack: bool,
}

impl Default for Zset {
    fn default() -> Self {
        Zset {
            scores: HashMap::new(),
            order: BTreeSet::new(),
            listpack: true,
        }
    }
}

impl Zset {
    /// An empty sorted set created for `n` members whose longest is `max_len` bytes
    /// (Redis's `zsetTypeCreate`: a listpack unless that exceeds the thresholds).
    pub fn with_hint(n: usize, max_len: usize) -> Zset {
        Zset {
            listpack: n <= ZSET_LISTPACK_ENTRIES && max_len <= ZSET_LISTPACK_VALUE,
            ..Zset::default()
        }
    }

    /// Marks the sorted set as a skiplist (no score normalisation on insert).
    pub fn set_skiplist(&mut self) {
        self.listpack = false;
    }

    /// True while Redis would keep this sorted set as a listpack.
    pub fn is_listpack(&self) -> bool {
        self.listpack
    }

    /// After loading from an RDB: Redis converts a sorted set that fits the thresholds to a
    /// listpack (and one saved as a listpack stays one).
    pub fn settle_after_load(&mut self) {
        self.listpack = self.len() <= ZSET_LISTPACK_ENTRIES
            && self.scores.keys().all(|m| m.len() <= ZSET_LISTPACK_VALUE);
        if self.listpack {
            let negz: Vec<Vec<u8>> = self
                .scores
                .iter()
                .filter(|(_, s)| **s == 0.0 && s.is_sign_negative())
                .map(|(m, _)| m.clone())
                .collect();
            for m in negz {
                self.insert(m, 0.0);
            }
        }
    }
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

    /// Sets `member`'s score (adding it when missing), converting to a skiplist first when
    /// a new member exceeds the listpack thresholds.
    pub fn insert(&mut self, member: Vec<u8>, score: f64) {
        if self.listpack
            && !self.scores.contains_key(&member)
            && (self.len() + 1 > ZSET_LISTPACK_ENTRIES || member.len() > ZSET_LISTPACK_VALUE)
        {
            self.listpack = false;
        }
        // A listpack stores an integral score as an integer: -0 becomes 0.
        let score = if self.listpack && score == 0.0 {
            0.0
        } else {
            score
        };
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

    /// Members whose score is at least `min`, in rank order (`zslFirstInRange` onwards).
    pub fn iter_from(&self, min: f64) -> impl Iterator<Item = (&[u8], f64)> + '_ {
        self.order
            .range(ScoreKey(min, Vec::new())..)
            .map(|k| (k.1.as_slice(), k.0))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A key's slot in its database's table is its key (24 bytes) and its entry: boxing every
    /// value but a string keeps the entry at 32 bytes (a 24-byte value and an 8-byte expiry).
    #[test]
    fn values_and_entries_stay_small() {
        assert_eq!(std::mem::size_of::<Value>(), 24);
        assert_eq!(std::mem::size_of::<Entry>(), 32);
        assert_eq!(std::mem::size_of::<Key>(), 24);
    }

    /// A key looked up by its bytes is found whether it is held inline or on the heap, and
    /// keys order, compare and hash as their bytes.
    #[test]
    fn keys_behave_as_their_bytes() {
        use std::hash::BuildHasher;
        let s = std::collections::hash_map::RandomState::new();
        for len in [0, 1, Key::INLINE - 1, Key::INLINE, Key::INLINE + 1, 300] {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let (a, b) = (Key::from(bytes.clone()), Key::from(bytes.as_slice()));
            assert_eq!(a.as_bytes(), &bytes[..]);
            assert_eq!(a, b);
            assert_eq!(s.hash_one(&a), s.hash_one(&bytes[..]));
            let mut m = HashMap::new();
            m.insert(a, len);
            assert_eq!(m.get(&bytes[..]), Some(&len));
        }
        let mut ks: Vec<Key> = [&b"b"[..], b"", b"a", &[b'a'; 40], b"ab"]
            .iter()
            .map(|b| Key::from(*b))
            .collect();
        ks.sort();
        let got: Vec<&[u8]> = ks.iter().map(|k| k.as_bytes()).collect();
        assert_eq!(got, [&b""[..], b"a", &[b'a'; 40], b"ab", b"b"]);
    }

    /// An expiry of -1 is none, as Redis treats it; any other value, negative ones included
    /// (RDB files hold them), is kept.
    #[test]
    fn expiry_minus_one_is_none() {
        let mut e = Entry::with_expiry(Value::String(b"v".to_vec()), Some(-1));
        assert_eq!(e.expire_ms(), None);
        for t in [i64::MIN, -2, 0, 1, i64::MAX] {
            e.set_expire_ms(Some(t));
            assert_eq!(e.expire_ms(), Some(t));
        }
        e.set_expire_ms(None);
        assert_eq!(e.expire_ms(), None);
        assert_eq!(Entry::new(Value::String(Vec::new())).expire_ms(), None);
    }
}
