//! Hash commands. Setting a field clears its TTL (Redis 7.4 field expiry).

use super::strings::{long_double_add, long_double_integral};
use super::{Ctx, R};
use crate::keyspace::args::{int, string2ll};
use crate::keyspace::model::{Hash, HashValue, Value};
use crate::keyspace::Reject;

fn hash_or_create<'c>(c: &'c mut Ctx<'_>, key: &[u8]) -> R<&'c mut Hash> {
    if c.hash(key)?.is_none() {
        c.create(key, Value::Hash(Hash::new()));
    }
    match c.hash_mut(key)? {
        Some(h) => Ok(h),
        None => Err(Reject::WrongType.into()),
    }
}

fn put(h: &mut Hash, f: &[u8], v: Vec<u8>) {
    h.insert(
        f.to_vec(),
        HashValue {
            value: v,
            expire_ms: None,
        },
    );
}

pub(super) fn hset(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    if a.len() % 2 == 1 {
        return Err(Reject::Arity.into());
    }
    let h = hash_or_create(c, a[1])?;
    for fv in a[2..].chunks(2) {
        put(h, fv[0], fv[1].to_vec());
    }
    Ok(())
}

pub(super) fn hsetnx(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    let h = hash_or_create(c, a[1])?;
    if !h.contains_key(a[2]) {
        put(h, a[2], a[3].to_vec());
    }
    Ok(())
}

pub(super) fn hdel(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    if let Some(h) = c.hash_mut(a[1])? {
        for f in &a[2..] {
            h.remove(*f);
        }
    }
    c.drop_if_empty(a[1]);
    Ok(())
}

pub(super) fn hincrby(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    let incr = int(a[3])?;
    let old = match c.hash(a[1])?.and_then(|h| h.get(a[2])) {
        Some(v) => {
            string2ll(&v.value).ok_or_else(|| Reject::Err("hash value is not an integer".into()))?
        }
        None => 0,
    };
    let v = old
        .checked_add(incr)
        .ok_or_else(|| Reject::Err("increment or decrement would overflow".into()))?;
    let h = hash_or_create(c, a[1])?;
    let ttl = h.get(a[2]).and_then(|v| v.expire_ms);
    h.insert(
        a[2].to_vec(),
        HashValue {
            value: itoa::Buffer::new().format(v).as_bytes().to_vec(),
            expire_ms: ttl,
        },
    );
    Ok(())
}

pub(super) fn hincrbyfloat(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    let incr = long_double_integral(a[3], "HINCRBYFLOAT")?;
    let old = match c.hash(a[1])?.and_then(|h| h.get(a[2])) {
        Some(v) => long_double_integral(&v.value, "HINCRBYFLOAT").map_err(|e| match e {
            crate::keyspace::ApplyErrorKind::Rejected(_) => {
                Reject::Err("hash value is not a float".into()).into()
            }
            other => other,
        })?,
        None => 0,
    };
    let v = long_double_add(old, incr)?;
    let h = hash_or_create(c, a[1])?;
    let ttl = h.get(a[2]).and_then(|v| v.expire_ms);
    h.insert(
        a[2].to_vec(),
        HashValue {
            value: v,
            expire_ms: ttl,
        },
    );
    Ok(())
}
