//! Redis's `DEBUG DIGEST` and `DEBUG DIGEST-VALUE`, bit-compatible with Redis 7.0's
//! `computeDatasetDigest` / `xorObjectDigest` (debug.c).
//!
//! - `xorDigest(d, s)`: `d ^= SHA1(s)` (order-independent "addition");
//! - `mixDigest(d, s)`: `xorDigest(d, s); d = SHA1(d)` (order-dependent);
//! - per key: `mix(key)`, `mix(htonl(type))`, the value, `xor("!!expire!!")` when the key has
//!   an expiry; the key digests are xored into the result after `mix(htonl(db))` for each
//!   non-empty database, in ascending order;
//! - strings and list elements are mixed in order; set members xored; sorted-set members
//!   and hash fields each get their own digest (`mix(member)`, `mix("%.17g" score)` /
//!   `mix(field)`, `mix(value)`) xored in; stream entries mix `"<ms>.<seq>"` then each field
//!   and value (consumer groups are not part of the digest);
//! - an empty dataset digests to 40 zeros.
//!
//! Module values are digested by their module's callback, which this engine cannot run:
//! [`dataset_digest`] refuses them (as it does values of types Redis 7.0 does not have).

use sha1::{Digest, Sha1};

use super::args::{fmt_fpconv, fmt_g17};
use super::model::{Entry, Value};
use super::Keyspace;
use crate::error::{Error, ErrorKind, Result};

fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h = Sha1::new();
    h.update(data);
    h.finalize().into()
}

/// `xorDigest`.
pub fn xor_digest(d: &mut [u8; 20], data: &[u8]) {
    let h = sha1(data);
    for (a, b) in d.iter_mut().zip(h) {
        *a ^= b;
    }
}

/// `a ^= b`.
fn xor_into(a: &mut [u8; 20], b: &[u8; 20]) {
    for (x, y) in a.iter_mut().zip(b) {
        *x ^= y;
    }
}

/// `mixDigest`.
pub fn mix_digest(d: &mut [u8; 20], data: &[u8]) {
    xor_digest(d, data);
    *d = sha1(d);
}

/// Which server's `DEBUG DIGEST` to reproduce. They differ only in how sorted-set scores
/// are printed before hashing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Flavor {
    /// Redis up to 7.0: `"%.17g"`.
    #[default]
    Redis70,
    /// Redis 7.2, Valkey 8: scores printed by `fpconv_dtoa` (Grisu2).
    Redis72,
    /// Redis 7.4 and later: as 7.2, and a hash field with a TTL xors `"!!hexpire!!"` into
    /// its field digest.
    Redis74,
}

impl Flavor {
    fn score(self, v: f64) -> String {
        match self {
            Flavor::Redis70 => fmt_g17(v),
            Flavor::Redis72 | Flavor::Redis74 => fmt_fpconv(v),
        }
    }
}

/// `xorObjectDigest`: mixes one key's value (and expiry flag) into `d`. `db` and `key`
/// only name the key in errors.
fn object_digest(d: &mut [u8; 20], db: u64, key: &[u8], e: &Entry, fl: Flavor) -> Result<()> {
    mix_digest(d, &e.value.obj_type().to_be_bytes());
    match &e.value {
        Value::String(s) => mix_digest(d, s),
        Value::List(l) => {
            for v in l.iter() {
                mix_digest(d, v);
            }
        }
        Value::Set(s) => {
            for m in s.iter() {
                xor_digest(d, m);
            }
        }
        Value::Zset(z) => {
            for (m, score) in z.iter() {
                let mut ed = [0u8; 20];
                mix_digest(&mut ed, m);
                mix_digest(&mut ed, fl.score(score).as_bytes());
                xor_digest(d, &ed);
            }
        }
        Value::Hash(h) => {
            for (f, v) in h.iter() {
                let mut ed = [0u8; 20];
                mix_digest(&mut ed, f);
                mix_digest(&mut ed, &v.value);
                if fl == Flavor::Redis74 && v.expire_ms.is_some() {
                    xor_digest(&mut ed, b"!!hexpire!!");
                }
                xor_digest(d, &ed);
            }
        }
        Value::Stream(s) => {
            for (id, fields) in &s.entries {
                mix_digest(d, format!("{}.{}", id.ms, id.seq).as_bytes());
                for (f, v) in fields {
                    mix_digest(d, f);
                    mix_digest(d, v);
                }
            }
        }
        Value::Module(m) => {
            return Err(Error::new(ErrorKind::Unsupported(format!(
                "the digest of a module value ({}) is computed by its module",
                m.name
            )))
            .with_key(Some(db), key))
        }
        Value::Other(v) => {
            return Err(Error::new(ErrorKind::Unsupported(format!(
                "Redis 7.0 has no {} type to digest",
                v.value_type().name()
            )))
            .with_key(Some(db), key))
        }
    }
    if e.expire_ms().is_some() {
        xor_digest(d, b"!!expire!!");
    }
    Ok(())
}

/// The digest of one key's value as `DEBUG DIGEST-VALUE key` returns it.
pub fn value_digest(db: u64, key: &[u8], e: &Entry, fl: Flavor) -> Result<[u8; 20]> {
    let mut d = [0u8; 20];
    object_digest(&mut d, db, key, e, fl)?;
    Ok(d)
}

/// `DEBUG DIGEST-VALUE` of `key` in `db`: 20 zero bytes for a missing key.
pub fn digest_value(ks: &Keyspace, db: u64, key: &[u8], fl: Flavor) -> Result<[u8; 20]> {
    match ks.get(db, key) {
        Some(e) => value_digest(db, key, e, fl),
        None => Ok([0; 20]),
    }
}

/// `computeDatasetDigest`: the digest of every database.
pub fn dataset_digest(ks: &Keyspace, fl: Flavor) -> Result<[u8; 20]> {
    let mut fin = [0u8; 20];
    for (&db, d) in &ks.dbs {
        if d.is_empty() {
            continue;
        }
        // Redis hashes the database number as a 32-bit int (htonl).
        mix_digest(&mut fin, &(db as u32).to_be_bytes());
        for (key, e) in &d.keys {
            let mut kd = [0u8; 20];
            mix_digest(&mut kd, key);
            object_digest(&mut kd, db, key, e, fl)?;
            xor_digest(&mut fin, &kd);
        }
    }
    Ok(fin)
}

/// Lower-case hex, as `DEBUG DIGEST` prints it.
pub fn hex(d: &[u8; 20]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

impl Keyspace {
    /// `DEBUG DIGEST` of the keyspace as Redis 7.0 computes it, as 40 hex digits.
    pub fn digest_hex(&self) -> Result<String> {
        Ok(hex(&dataset_digest(self, Flavor::Redis70)?))
    }

    /// `DEBUG DIGEST` as the given server computes it.
    pub fn digest_hex_as(&self, fl: Flavor) -> Result<String> {
        Ok(hex(&dataset_digest(self, fl)?))
    }
}

/// What [`digest_rdb`] computed: the digest of the dataset an RDB file loads into, and the
/// keys it counted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RdbDigest {
    /// `DEBUG DIGEST` of the loaded dataset.
    pub digest: [u8; 20],
    /// Keys per non-empty database.
    pub databases: std::collections::BTreeMap<u64, u64>,
    /// What was loaded and skipped, as [`load_rdb`](super::load::load_rdb) counts it.
    pub stats: super::load::LoadStats,
}

impl RdbDigest {
    /// Keys in all databases.
    pub fn keys(&self) -> u64 {
        self.databases.values().sum()
    }
}

/// The xor of the SHA1s of a database's key digests (`xorDigest`) and its key count.
#[derive(Debug, Clone, Copy, Default)]
struct DbDigest {
    xor: [u8; 20],
    keys: u64,
}

/// Streams one key's value into its digest, element by element (strings, lists, sets,
/// sorted sets, hashes): the same bytes [`object_digest`] hashes for the loaded value.
struct ValueDigest {
    d: [u8; 20],
    fl: Flavor,
    elems: u64,
    /// Sorted sets: the xor of the member digests' SHA1s with the scores as stored, the
    /// longest member, and for members scored -0 the same xor with "-0" and with "0" (a
    /// sorted set small enough to become a listpack on load stores -0 as 0).
    zset_max_len: usize,
    zset_negz: [u8; 20],
    zset_negz_as_zero: [u8; 20],
    zset: Option<[u8; 20]>,
}

impl ValueDigest {
    fn new(key: &[u8], fl: Flavor) -> Self {
        let mut d = [0u8; 20];
        mix_digest(&mut d, key);
        ValueDigest {
            d,
            fl,
            elems: 0,
            zset_max_len: 0,
            zset_negz: [0; 20],
            zset_negz_as_zero: [0; 20],
            zset: None,
        }
    }

    fn member_digest(&self, m: &[u8], score: f64) -> [u8; 20] {
        let mut ed = [0u8; 20];
        mix_digest(&mut ed, m);
        mix_digest(&mut ed, self.fl.score(score).as_bytes());
        ed
    }

    /// The key digest (without the expiry flag), once the value is walked.
    fn finish(mut self) -> [u8; 20] {
        if let Some(mut z) = self.zset {
            if self.elems as usize <= super::model::ZSET_LISTPACK_ENTRIES
                && self.zset_max_len <= super::model::ZSET_LISTPACK_VALUE
            {
                xor_into(&mut z, &self.zset_negz);
                xor_into(&mut z, &self.zset_negz_as_zero);
            }
            xor_into(&mut self.d, &z);
        }
        self.d
    }
}

impl crate::rdb::ValueVisitor for ValueDigest {
    fn begin(
        &mut self,
        ty: crate::rdb::ValueType,
        _type_byte: u8,
        _len_hint: Option<u64>,
    ) -> Result<()> {
        use crate::rdb::ValueType as T;
        let t: u32 = match ty {
            T::String => 0,
            T::List => 1,
            T::Set => 2,
            T::Zset => {
                self.zset = Some([0; 20]);
                3
            }
            T::Hash => 4,
            other => return Err(Error::usage(format!("no streamed digest for {other:?}"))),
        };
        mix_digest(&mut self.d, &t.to_be_bytes());
        Ok(())
    }

    fn string(&mut self, v: crate::rdb::encoding::Elem<'_>) -> Result<()> {
        mix_digest(&mut self.d, v.as_bytes(&mut itoa::Buffer::new()));
        Ok(())
    }

    fn list_item(&mut self, v: crate::rdb::encoding::Elem<'_>) -> Result<()> {
        self.elems += 1;
        mix_digest(&mut self.d, v.as_bytes(&mut itoa::Buffer::new()));
        Ok(())
    }

    fn set_member(&mut self, v: crate::rdb::encoding::Elem<'_>) -> Result<()> {
        self.elems += 1;
        xor_digest(&mut self.d, v.as_bytes(&mut itoa::Buffer::new()));
        Ok(())
    }

    fn zset_member(&mut self, m: crate::rdb::encoding::Elem<'_>, score: f64) -> Result<()> {
        self.elems += 1;
        let mut buf = itoa::Buffer::new();
        let m = m.as_bytes(&mut buf);
        self.zset_max_len = self.zset_max_len.max(m.len());
        let ed = self.member_digest(m, score);
        if score == 0.0 && score.is_sign_negative() {
            let z = self.member_digest(m, 0.0);
            xor_digest(&mut self.zset_negz, &ed);
            xor_digest(&mut self.zset_negz_as_zero, &z);
        }
        if let Some(acc) = &mut self.zset {
            xor_digest(acc, &ed);
        }
        Ok(())
    }

    fn hash_field(
        &mut self,
        f: crate::rdb::encoding::Elem<'_>,
        v: crate::rdb::encoding::Elem<'_>,
        expire_ms: Option<u64>,
    ) -> Result<()> {
        self.elems += 1;
        let mut ed = [0u8; 20];
        mix_digest(&mut ed, f.as_bytes(&mut itoa::Buffer::new()));
        mix_digest(&mut ed, v.as_bytes(&mut itoa::Buffer::new()));
        if self.fl == Flavor::Redis74 && expire_ms.is_some() {
            xor_digest(&mut ed, b"!!hexpire!!");
        }
        xor_digest(&mut self.d, &ed);
        Ok(())
    }
}

/// One key record's contribution to its database's digest.
enum KeyDigest {
    /// The key's digest (key, type, value, expiry flag).
    Digest([u8; 20]),
    /// An empty collection: Redis does not load it.
    Empty,
    /// A value this engine cannot digest (e.g. a module's): the error, reported only once
    /// the whole file has loaded, as when digesting a loaded keyspace.
    Unsupported(Error),
}

fn key_digest(
    e: &crate::rdb::Entry<'_>,
    offset: u64,
    fl: Flavor,
    scratch: &mut crate::rdb::Scratch,
) -> Result<KeyDigest> {
    use crate::rdb::ValueType as T;
    let ty = e.value.value_type();
    let mut d = match ty {
        T::String | T::List | T::Set | T::Zset | T::Hash => {
            let mut v = ValueDigest::new(&e.key, fl);
            e.value
                .visit(&mut v, scratch, crate::rdb::DecodeOptions::default())
                .map_err(|er| er.at(offset).with_key(Some(e.db), &e.key))?;
            if ty != T::String && v.elems == 0 {
                return Ok(KeyDigest::Empty);
            }
            v.finish()
        }
        _ => {
            let value = e
                .value
                .materialize()
                .map_err(|er| er.at(offset).with_key(Some(e.db), &e.key))?;
            let value = super::load::from_rdb(value);
            if value.is_empty_collection() {
                return Ok(KeyDigest::Empty);
            }
            let entry = Entry::new(value);
            let mut d = [0u8; 20];
            mix_digest(&mut d, &e.key);
            if let Err(er) = object_digest(&mut d, e.db, &e.key, &entry, fl) {
                return Ok(KeyDigest::Unsupported(er));
            }
            d
        }
    };
    // Redis's loader treats an expiry of -1 as none.
    if e.expire_ms.is_some_and(|x| x != -1) {
        xor_digest(&mut d, b"!!expire!!");
    }
    Ok(KeyDigest::Digest(d))
}

/// A 64-bit fingerprint of a key in a database, to find repeated keys.
fn key_fingerprint(db: u64, key: &[u8]) -> u64 {
    crate::rdb::encoding::hash_bytes(key) ^ (db.wrapping_add(1)).wrapping_mul(0x9e37_79b9_7f4a_7c15)
}

/// The `DEBUG DIGEST` of the dataset the RDB in `data` loads into (as
/// [`load_rdb`](super::load::load_rdb) into an empty keyspace followed by
/// [`dataset_digest`] computes it, with the same errors), in one streaming pass that holds
/// one value at a time and 8 bytes per key: per-key digests are xored into per-database sums
/// as the values stream past. A key that appears more than once (the later record replaces
/// the earlier, as in `load_rdb`) is found from the sorted key fingerprints and corrected in
/// a second pass over the records sharing a fingerprint.
pub fn digest_rdb(data: &[u8], opts: super::load::LoadOptions, fl: Flavor) -> Result<RdbDigest> {
    use crate::rdb::{RdbReader, Record, Scratch};
    let mut dbs: std::collections::BTreeMap<u64, DbDigest> = Default::default();
    let mut stats = super::load::LoadStats::default();
    let mut fingerprints: Vec<u64> = Vec::new();
    let mut scratch = Scratch::default();
    let mut unsupported: Option<Error> = None;
    let mut reader = RdbReader::new(data);
    while let Some(item) = reader.next() {
        let item = item?;
        if let Record::ResizeDb { db_size, .. } = item.record {
            // A hint: bounded by what the file can hold, and ignored when it cannot be
            // reserved.
            let n = (db_size as usize).min(data.len() / 8);
            let _ = fingerprints.try_reserve(n);
            continue;
        }
        // Libraries are not part of the digest, but a load fails on the same records.
        let offset = item.offset;
        let Some(e) = super::load::key_to_load(
            &reader,
            offset,
            item.record,
            &opts,
            &mut stats,
            &mut |_, _| {},
        )?
        else {
            continue;
        };
        let kd = match key_digest(&e, offset, fl, &mut scratch)? {
            KeyDigest::Digest(d) => d,
            KeyDigest::Empty => {
                stats.empty += 1;
                continue;
            }
            KeyDigest::Unsupported(er) => {
                unsupported.get_or_insert(er);
                stats.keys += 1;
                continue;
            }
        };
        let acc = dbs.entry(e.db).or_default();
        xor_digest(&mut acc.xor, &kd);
        acc.keys += 1;
        stats.keys += 1;
        fingerprints.push(key_fingerprint(e.db, &e.key));
    }
    if let Some(er) = unsupported {
        return Err(er);
    }
    fingerprints.sort_unstable();
    let mut repeated: Vec<u64> = fingerprints
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0])
        .collect();
    drop(fingerprints);
    repeated.dedup();
    if !repeated.is_empty() {
        drop_replaced(data, opts, fl, &repeated, &mut dbs)?;
    }
    let mut fin = [0u8; 20];
    let mut databases = std::collections::BTreeMap::new();
    for (&db, acc) in &dbs {
        if acc.keys == 0 {
            continue;
        }
        mix_digest(&mut fin, &(db as u32).to_be_bytes());
        xor_into(&mut fin, &acc.xor);
        databases.insert(db, acc.keys);
    }
    Ok(RdbDigest {
        digest: fin,
        databases,
        stats,
    })
}

/// The second pass of [`digest_rdb`]: among the records whose fingerprint is in `repeated`
/// (sorted), those of a key stored more than once are grouped, and every one but the last is
/// taken out of its database's sum.
fn drop_replaced(
    data: &[u8],
    opts: super::load::LoadOptions,
    fl: Flavor,
    repeated: &[u64],
    dbs: &mut std::collections::BTreeMap<u64, DbDigest>,
) -> Result<()> {
    use crate::rdb::{RdbReader, Record, Scratch};
    let mut groups: std::collections::HashMap<(u64, Vec<u8>), Vec<[u8; 20]>> = Default::default();
    let mut scratch = Scratch::default();
    for item in RdbReader::new(data) {
        let item = item?;
        let Record::Entry(e) = item.record else {
            continue;
        };
        if repeated
            .binary_search(&key_fingerprint(e.db, &e.key))
            .is_err()
        {
            continue;
        }
        if let (Some(before), Some(exp)) = (opts.drop_expired_before, e.expire_ms) {
            if exp < before {
                continue;
            }
        }
        if let KeyDigest::Digest(d) = key_digest(&e, item.offset, fl, &mut scratch)? {
            groups.entry((e.db, e.key.to_vec())).or_default().push(d);
        }
    }
    for ((db, _), ds) in groups {
        if let (Some(acc), Some((_, replaced))) = (dbs.get_mut(&db), ds.split_last()) {
            for d in replaced {
                xor_digest(&mut acc.xor, d);
                acc.keys -= 1;
            }
        }
    }
    Ok(())
}
