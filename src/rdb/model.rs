//! Owned, fully decoded values (what [`crate::rdb::ValueHandle::materialize`] returns) and the
//! stream metadata types shared with the streaming visitor.

use serde::Serialize;

/// The logical type of a value, independent of its encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueType {
    /// A string.
    String,
    /// A list.
    List,
    /// A set.
    Set,
    /// A sorted set.
    Zset,
    /// A hash (possibly with field TTLs).
    Hash,
    /// A stream.
    Stream,
    /// A module value.
    Module,
    /// A sparse array (Redis 8.8).
    Array,
}

impl ValueType {
    /// The name used in reports and JSON (`string`, `list`, `set`, `zset`, `hash`, `stream`,
    /// `module`, `array`).
    pub fn name(self) -> &'static str {
        match self {
            ValueType::String => "string",
            ValueType::List => "list",
            ValueType::Set => "set",
            ValueType::Zset => "zset",
            ValueType::Hash => "hash",
            ValueType::Stream => "stream",
            ValueType::Module => "module",
            ValueType::Array => "array",
        }
    }

    /// All types, in report order.
    pub const ALL: [ValueType; 8] = [
        ValueType::String,
        ValueType::List,
        ValueType::Set,
        ValueType::Zset,
        ValueType::Hash,
        ValueType::Stream,
        ValueType::Module,
        ValueType::Array,
    ];
}

/// A stream entry ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
pub struct StreamId {
    /// Milliseconds part.
    pub ms: u64,
    /// Sequence part.
    pub seq: u64,
}

impl StreamId {
    /// Decodes the 16-byte big-endian form used for node keys and PEL entries.
    pub fn from_be_bytes(b: &[u8; 16]) -> Self {
        let mut ms = [0u8; 8];
        let mut seq = [0u8; 8];
        ms.copy_from_slice(&b[..8]);
        seq.copy_from_slice(&b[8..]);
        StreamId {
            ms: u64::from_be_bytes(ms),
            seq: u64::from_be_bytes(seq),
        }
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

/// Stream-level metadata (after the entries in the file).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StreamMeta {
    /// Number of live entries.
    pub length: u64,
    /// Last generated ID.
    pub last_id: StreamId,
    /// First entry ID (v2+; computed as 0-0 for v1).
    pub first_id: Option<StreamId>,
    /// Largest deleted ID (v2+).
    pub max_deleted_id: Option<StreamId>,
    /// Entries ever added (v2+).
    pub entries_added: Option<u64>,
}

/// One pending entry of a consumer group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PendingEntry {
    /// Entry ID.
    pub id: StreamId,
    /// Last delivery time, unix ms.
    pub delivery_time_ms: u64,
    /// Number of deliveries.
    pub delivery_count: u64,
}

/// A consumer of a group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Consumer {
    /// Name.
    pub name: Vec<u8>,
    /// Last seen time, unix ms.
    pub seen_time_ms: u64,
    /// Last active time, unix ms (v3+).
    pub active_time_ms: Option<u64>,
    /// IDs of the entries this consumer owns.
    pub pending: Vec<StreamId>,
}

/// A consumer group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConsumerGroup {
    /// Name.
    pub name: Vec<u8>,
    /// Last delivered ID.
    pub last_id: StreamId,
    /// Entries read counter (v2+).
    pub entries_read: Option<u64>,
    /// The group's pending entries list.
    pub pending: Vec<PendingEntry>,
    /// Consumers.
    pub consumers: Vec<Consumer>,
    /// PEL entries owned by no consumer (v5 "NACK zone").
    pub nacked: Vec<StreamId>,
}

/// One IDMP producer (stream v4+).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IdmpProducer {
    /// Producer id.
    pub pid: Vec<u8>,
    /// (idempotency id, entry ID) pairs.
    pub entries: Vec<(Vec<u8>, StreamId)>,
}

/// IDMP (idempotent XADD) state of a stream (v4+).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamIdmp {
    /// Duration in seconds.
    pub duration_s: u64,
    /// Maximum entries.
    pub max_entries: u64,
    /// Producers.
    pub producers: Vec<IdmpProducer>,
    /// IIDs added counter.
    pub iids_added: u64,
    /// Duplicate IIDs counter.
    pub iids_duplicates: u64,
}

/// A stream entry.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StreamEntry {
    /// ID.
    pub id: StreamId,
    /// Field/value pairs.
    pub fields: Vec<(Vec<u8>, Vec<u8>)>,
}

/// A whole stream.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stream {
    /// Live entries in ID order.
    pub entries: Vec<StreamEntry>,
    /// Metadata.
    pub meta: StreamMeta,
    /// Consumer groups.
    pub groups: Vec<ConsumerGroup>,
    /// IDMP state (v4+).
    pub idmp: Option<StreamIdmp>,
}

/// An element of an array value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum ArrayElem {
    /// Bytes (SDS or small string).
    Bytes(Vec<u8>),
    /// Integer.
    Int(i64),
    /// Double.
    Float(f64),
}

/// A module value, kept as its raw opcode stream.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModuleValue {
    /// The 9-character module type name decoded from the id.
    pub name: String,
    /// The module type id (name and encoding version).
    pub type_id: u64,
    /// The encoding version (low 10 bits of the id).
    pub encver: u64,
    /// The opcode-tagged body, up to and including the EOF opcode.
    pub raw: Vec<u8>,
}

/// A hash field with its optional TTL.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HashField {
    /// Field name.
    pub field: Vec<u8>,
    /// Value.
    pub value: Vec<u8>,
    /// Absolute expiry in unix ms, if the field has one.
    pub expire_ms: Option<u64>,
}

/// A fully decoded value.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Value {
    /// String.
    String(Vec<u8>),
    /// List, head to tail.
    List(Vec<Vec<u8>>),
    /// Set members in file order.
    Set(Vec<Vec<u8>>),
    /// Sorted set members and scores in file order.
    Zset(Vec<(Vec<u8>, f64)>),
    /// Hash fields in file order.
    Hash(Vec<HashField>),
    /// Stream.
    Stream(Box<Stream>),
    /// Module value.
    Module(ModuleValue),
    /// Array: insert index and (index, element) pairs.
    Array {
        /// The array's insert index, if set.
        insert_idx: Option<u64>,
        /// Elements in ascending index order.
        items: Vec<(u64, ArrayElem)>,
    },
}

impl Value {
    /// The logical type.
    pub fn value_type(&self) -> ValueType {
        match self {
            Value::String(_) => ValueType::String,
            Value::List(_) => ValueType::List,
            Value::Set(_) => ValueType::Set,
            Value::Zset(_) => ValueType::Zset,
            Value::Hash(_) => ValueType::Hash,
            Value::Stream(_) => ValueType::Stream,
            Value::Module(_) => ValueType::Module,
            Value::Array { .. } => ValueType::Array,
        }
    }
}

/// Decodes a 9-character module name from a module type id (§7.9).
pub fn module_name(type_id: u64) -> String {
    const CHARSET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut id = type_id >> 10;
    let mut name = [0u8; 9];
    for j in (0..9).rev() {
        name[j] = CHARSET[(id & 63) as usize];
        id >>= 6;
    }
    String::from_utf8_lossy(&name).into_owned()
}
