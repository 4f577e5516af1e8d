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
            for v in l {
                mix_digest(d, v);
            }
        }
        Value::Set(s) => {
            for m in s {
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
            for (f, v) in h {
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
    if e.expire_ms.is_some() {
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
