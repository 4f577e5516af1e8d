//! Hash commands. Setting a field clears its TTL (Redis 7.4 field expiry).

use super::strings::{long_double_add, long_double_integral};
use super::{Ctx, R};
use crate::keyspace::args::{int, string2ll};
use crate::keyspace::model::{Hash, HashValue, Value};
use crate::keyspace::Reject;

fn hash_or_create<'c>(c: &'c mut Ctx<'_>, key: &[u8]) -> R<&'c mut Hash> {
    if c.hash(key)?.is_none() {
        c.create(key, Value::Hash(Box::default()));
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

/// The fields of `FIELDS numfields field…` starting at `a[i]`.
fn fields_arg<'a>(a: &[&'a [u8]], i: usize) -> R<Vec<&'a [u8]>> {
    if a.get(i).is_none_or(|f| !f.eq_ignore_ascii_case(b"fields")) {
        return Err(Reject::Err(
            "Mandatory argument FIELDS is missing or not at the right position".into(),
        )
        .into());
    }
    let n = a.get(i + 1).copied().ok_or(Reject::Syntax)?;
    let n = string2ll(n)
        .ok_or_else(|| Reject::Err("Number of fields must be a positive integer".into()))?;
    let rest = &a[i + 2..];
    if n <= 0 || n as usize != rest.len() {
        return Err(Reject::Err(
            "The `numfields` parameter must match the number of arguments".into(),
        )
        .into());
    }
    Ok(rest.to_vec())
}

/// Largest field expiry Redis 7.4 accepts (`EB_EXPIRE_TIME_MAX`, 2^48 - 1 ms).
const EB_EXPIRE_TIME_MAX: i64 = (1 << 48) - 1;

/// `hexpireGenericCommand` (Redis 7.4+): `HEXPIRE`, `HPEXPIRE`, `HEXPIREAT`, `HPEXPIREAT`.
/// While loading nothing expires, so a time in the past sets the TTL.
fn hexpire_generic(c: &mut Ctx<'_>, a: &[&[u8]], basetime: i64, seconds: bool) -> R<()> {
    let bad = || Reject::Err("invalid expire time, must be >= 0 and <= 281474976710655".into());
    let mut when = int(a[2])?;
    if when < 0 {
        return Err(bad().into());
    }
    if seconds {
        if when > EB_EXPIRE_TIME_MAX / 1000 {
            return Err(bad().into());
        }
        when *= 1000;
    }
    if when > EB_EXPIRE_TIME_MAX - basetime {
        return Err(bad().into());
    }
    when += basetime;
    let mut i = 3;
    let mut cond = None;
    if let Some(o) = a.get(3) {
        for name in ["nx", "xx", "gt", "lt"] {
            if o.eq_ignore_ascii_case(name.as_bytes()) {
                cond = Some(name);
                i = 4;
            }
        }
    }
    let fields = fields_arg(a, i)?;
    let Some(h) = c.hash_mut(a[1])? else {
        return Ok(());
    };
    let when = when as u64;
    for f in fields {
        let Some(v) = h.get_mut(f) else { continue };
        let ok = match (cond, v.expire_ms) {
            (Some("nx"), cur) => cur.is_none(),
            (Some("xx"), cur) => cur.is_some(),
            (Some("gt"), Some(cur)) => when > cur,
            (Some("gt"), None) => false,
            (Some("lt"), Some(cur)) => when < cur,
            (Some("lt"), None) => true,
            _ => true,
        };
        if ok {
            v.expire_ms = Some(when);
        }
    }
    Ok(())
}

pub(super) fn hexpire(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    let now = c.now_ms;
    hexpire_generic(c, a, now, true)
}

pub(super) fn hpexpire(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    let now = c.now_ms;
    hexpire_generic(c, a, now, false)
}

pub(super) fn hexpireat(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    hexpire_generic(c, a, 0, true)
}

pub(super) fn hpexpireat(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    hexpire_generic(c, a, 0, false)
}

pub(super) fn hpersist(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    let fields = fields_arg(a, 2)?;
    if let Some(h) = c.hash_mut(a[1])? {
        for f in fields {
            if let Some(v) = h.get_mut(f) {
                v.expire_ms = None;
            }
        }
    }
    Ok(())
}
