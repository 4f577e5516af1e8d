//! Constants of the RDB format: magic, opcodes, type bytes and inner-encoding tags.
//!
//! Only numbers live here (like the `object` crate's `elf.rs`); the parsing is elsewhere.
//! References are to `shared/spec/rdb-format.md`.

/// The dialect of an RDB file, decided by its magic (`REDIS` or `VALKEY`).
///
/// Some opcode and type bytes mean different things in the two dialects
/// (243, 22 and 23), so every decision about them goes through this value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// `REDIS` + 4 decimal digits (Redis, and Valkey up to 8.1).
    Redis,
    /// `VALKEY` + 3 decimal digits (Valkey 9 and later, versions ≥ 80).
    Valkey,
}

impl Dialect {
    /// The dialect's name as printed in reports.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Redis => "redis",
            Dialect::Valkey => "valkey",
        }
    }
}

/// Highest Redis RDB version this crate understands (Redis 8.8).
pub const MAX_REDIS_VERSION: u32 = 14;
/// Highest Valkey RDB version this crate understands.
pub const MAX_VALKEY_VERSION: u32 = 81;
/// Lowest version written with the `VALKEY` magic.
pub const MIN_VALKEY_MAGIC_VERSION: u32 = 80;
/// First version that ends with a CRC-64 trailer.
pub const FIRST_CHECKSUM_VERSION: u32 = 5;

/// Opcode: end of file (then the checksum for version ≥ 5).
pub const OP_EOF: u8 = 0xFF;
/// Opcode: select database.
pub const OP_SELECTDB: u8 = 0xFE;
/// Opcode: expire time in seconds (int32) for the next key.
pub const OP_EXPIRETIME: u8 = 0xFD;
/// Opcode: expire time in milliseconds (int64) for the next key.
pub const OP_EXPIRETIME_MS: u8 = 0xFC;
/// Opcode: hash table size hints for the current database.
pub const OP_RESIZEDB: u8 = 0xFB;
/// Opcode: auxiliary field (key, value).
pub const OP_AUX: u8 = 0xFA;
/// Opcode: LFU frequency (1 byte) for the next key.
pub const OP_FREQ: u8 = 0xF9;
/// Opcode: LRU idle time in seconds for the next key.
pub const OP_IDLE: u8 = 0xF8;
/// Opcode: module auxiliary data.
pub const OP_MODULE_AUX: u8 = 0xF7;
/// Opcode: function library, 7.0 release candidates only.
pub const OP_FUNCTION_PRE_GA: u8 = 0xF6;
/// Opcode: function library (Redis ≥ 7.0).
pub const OP_FUNCTION2: u8 = 0xF5;
/// Opcode: cluster slot info (Redis ≥ 7.4).
pub const OP_SLOT_INFO: u8 = 0xF4;
/// Opcode 243: `KEY_META` in the Redis dialect, `SLOT_IMPORT` in the Valkey dialect.
pub const OP_KEY_META_OR_SLOT_IMPORT: u8 = 0xF3;
/// Opcode 242: Valkey `UPDATE` (replication streams only; not accepted in files).
pub const OP_VALKEY_UPDATE: u8 = 0xF2;

/// Type: string.
pub const T_STRING: u8 = 0;
/// Type: linked list (≤ 3.0).
pub const T_LIST: u8 = 1;
/// Type: hashtable set.
pub const T_SET: u8 = 2;
/// Type: zset with string-encoded scores (≤ 3.2).
pub const T_ZSET: u8 = 3;
/// Type: hashtable hash.
pub const T_HASH: u8 = 4;
/// Type: zset with binary double scores.
pub const T_ZSET_2: u8 = 5;
/// Type: module value, 4.0 release candidates (cannot be skipped).
pub const T_MODULE_PRE_GA: u8 = 6;
/// Type: module value with opcodes.
pub const T_MODULE_2: u8 = 7;
/// Type: zipmap hash (≤ 2.4).
pub const T_HASH_ZIPMAP: u8 = 9;
/// Type: ziplist list (≤ 3.0).
pub const T_LIST_ZIPLIST: u8 = 10;
/// Type: intset set.
pub const T_SET_INTSET: u8 = 11;
/// Type: ziplist zset (≤ 6.2).
pub const T_ZSET_ZIPLIST: u8 = 12;
/// Type: ziplist hash (≤ 6.2).
pub const T_HASH_ZIPLIST: u8 = 13;
/// Type: quicklist of ziplists (3.2–6.2).
pub const T_LIST_QUICKLIST: u8 = 14;
/// Type: stream v1 (5.0–6.2).
pub const T_STREAM_LISTPACKS: u8 = 15;
/// Type: listpack hash.
pub const T_HASH_LISTPACK: u8 = 16;
/// Type: listpack zset.
pub const T_ZSET_LISTPACK: u8 = 17;
/// Type: quicklist v2 (PLAIN / PACKED nodes).
pub const T_LIST_QUICKLIST_2: u8 = 18;
/// Type: stream v2 (7.0).
pub const T_STREAM_LISTPACKS_2: u8 = 19;
/// Type: listpack set.
pub const T_SET_LISTPACK: u8 = 20;
/// Type: stream v3 (7.2–8.4, Valkey).
pub const T_STREAM_LISTPACKS_3: u8 = 21;
/// Type 22: Redis `HASH_METADATA_PRE_GA` / Valkey `HASH_2`.
pub const T_22: u8 = 22;
/// Type 23: Redis `HASH_LISTPACK_EX_PRE_GA` / Valkey path-hash (layout unknown).
pub const T_23: u8 = 23;
/// Type: hashtable hash with field TTLs (7.4+).
pub const T_HASH_METADATA: u8 = 24;
/// Type: listpack hash with field TTLs (7.4+).
pub const T_HASH_LISTPACK_EX: u8 = 25;
/// Type: stream v4 (8.6, IDMP).
pub const T_STREAM_LISTPACKS_4: u8 = 26;
/// Type: stream v5 (8.8, NACK zone).
pub const T_STREAM_LISTPACKS_5: u8 = 27;
/// Type: array (8.8).
pub const T_ARRAY: u8 = 28;

/// String special encoding: int8.
pub const ENC_INT8: u8 = 0;
/// String special encoding: int16 little-endian.
pub const ENC_INT16: u8 = 1;
/// String special encoding: int32 little-endian.
pub const ENC_INT32: u8 = 2;
/// String special encoding: LZF-compressed.
pub const ENC_LZF: u8 = 3;

/// Module value opcode: end.
pub const MODULE_OP_EOF: u64 = 0;
/// Module value opcode: signed integer.
pub const MODULE_OP_SINT: u64 = 1;
/// Module value opcode: unsigned integer.
pub const MODULE_OP_UINT: u64 = 2;
/// Module value opcode: 4-byte float.
pub const MODULE_OP_FLOAT: u64 = 3;
/// Module value opcode: 8-byte double.
pub const MODULE_OP_DOUBLE: u64 = 4;
/// Module value opcode: string.
pub const MODULE_OP_STRING: u64 = 5;

/// Quicklist v2 node container: a single plain element.
pub const QUICKLIST_NODE_PLAIN: u64 = 1;
/// Quicklist v2 node container: a listpack.
pub const QUICKLIST_NODE_PACKED: u64 = 2;

/// Largest valid hash-field expiry (2^48 − 1 ms).
pub const EB_EXPIRE_TIME_MAX: u64 = (1 << 48) - 1;

/// Stream entry flag: deleted.
pub const STREAM_ITEM_FLAG_DELETED: i64 = 1;
/// Stream entry flag: same fields as the master entry.
pub const STREAM_ITEM_FLAG_SAMEFIELDS: i64 = 2;

/// Array element tags (type 28).
pub const ARRAY_TAG_SDS: u64 = 0;
/// Array element tag: 8-byte signed integer.
pub const ARRAY_TAG_INT: u64 = 1;
/// Array element tag: 8-byte double.
pub const ARRAY_TAG_FLOAT: u64 = 2;
/// Array element tag: small string.
pub const ARRAY_TAG_SMALLSTR: u64 = 3;

/// The name redis-check-rdb prints for a type byte (Redis dialect), or `None` if unknown.
pub fn type_name(dialect: Dialect, t: u8) -> Option<&'static str> {
    Some(match (dialect, t) {
        (_, 0) => "string",
        (_, 1) => "list-linked",
        (_, 2) => "set-hashtable",
        (_, 3) => "zset-v1",
        (_, 4) => "hash-hashtable",
        (_, 5) => "zset-v2",
        (_, 6) => "module-pre-release",
        (_, 7) => "module-value",
        (_, 9) => "hash-zipmap",
        (_, 10) => "list-ziplist",
        (_, 11) => "set-intset",
        (_, 12) => "zset-ziplist",
        (_, 13) => "hash-ziplist",
        (_, 14) => "quicklist",
        (_, 15) => "stream",
        (_, 16) => "hash-listpack",
        (_, 17) => "zset-listpack",
        (_, 18) => "quicklist-v2",
        (_, 19) => "stream-v2",
        (_, 20) => "set-listpack",
        (_, 21) => "stream-v3",
        (Dialect::Redis, 22) => "hash-hashtable-md-pre-release",
        (Dialect::Valkey, 22) => "hash-volatile-items",
        (Dialect::Redis, 23) => "hash-listpack-md-pre-release",
        (Dialect::Valkey, 23) => "radix",
        (Dialect::Redis, 24) => "hash-hashtable-md",
        (Dialect::Redis, 25) => "hash-listpack-md",
        (Dialect::Redis, 26) => "stream-v4",
        (Dialect::Redis, 27) => "stream-v5",
        (Dialect::Redis, 28) => "array",
        _ => return None,
    })
}
