//! Set commands.

use std::collections::HashSet;

use super::{Ctx, R};
use crate::keyspace::args::non_negative;
use crate::keyspace::model::Value;
use crate::keyspace::{ApplyErrorKind, Reject};

pub(super) fn sadd(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    if c.set(a[1])?.is_none() {
        c.create(a[1], Value::Set(Box::default()));
    }
    if let Some(s) = c.set_mut(a[1])? {
        for m in &a[2..] {
            s.insert(m.to_vec());
        }
    }
    Ok(())
}

pub(super) fn srem(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    if let Some(s) = c.set_mut(a[1])? {
        for m in &a[2..] {
            s.remove(*m);
        }
    }
    c.drop_if_empty(a[1]);
    Ok(())
}

pub(super) fn smove(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    if !c.exists(a[1]) {
        return Ok(());
    }
    c.set(a[1])?;
    c.set(a[2])?;
    if a[1] == a[2] {
        return Ok(());
    }
    let removed = match c.set_mut(a[1])? {
        Some(s) => s.remove(a[3]),
        None => false,
    };
    if !removed {
        return Ok(());
    }
    c.drop_if_empty(a[1]);
    sadd(c, &[b"sadd", a[2], a[3]])
}

pub(super) fn spop(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    if a.len() > 3 {
        return Err(Reject::Syntax.into());
    }
    let count = match a.get(2) {
        Some(n) => Some(non_negative(n)? as u64),
        None => None,
    };
    let Some(s) = c.set(a[1])? else {
        return Ok(());
    };
    let len = s.len() as u64;
    match count {
        Some(0) => Ok(()),
        Some(n) if n >= len => {
            c.delete(a[1]);
            Ok(())
        }
        None if len == 1 => {
            c.delete(a[1]);
            Ok(())
        }
        _ => Err(ApplyErrorKind::Unsupported(
            "SPOP picks members at random (Redis propagates it as SREM)".into(),
        )),
    }
}

/// The sets named by `keys` (`None` for a missing key); `WRONGTYPE` for any other type.
fn sources(c: &Ctx<'_>, keys: &[&[u8]]) -> R<Vec<Option<HashSet<Vec<u8>>>>> {
    keys.iter().map(|k| Ok(c.set(k)?.cloned())).collect()
}

fn store(c: &mut Ctx<'_>, dst: &[u8], result: HashSet<Vec<u8>>) {
    if result.is_empty() {
        c.delete(dst);
    } else {
        c.set_value(dst, Value::Set(Box::new(result)));
    }
}

pub(super) fn sinterstore(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    let sets = sources(c, &a[2..])?;
    let mut result: HashSet<Vec<u8>> = HashSet::new();
    if sets.iter().all(Option::is_some) {
        let mut sets: Vec<HashSet<Vec<u8>>> = sets.into_iter().flatten().collect();
        sets.sort_by_key(HashSet::len);
        if let Some((first, rest)) = sets.split_first() {
            result = first
                .iter()
                .filter(|m| rest.iter().all(|s| s.contains(*m)))
                .cloned()
                .collect();
        }
    }
    store(c, a[1], result);
    Ok(())
}

pub(super) fn sunionstore(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    let sets = sources(c, &a[2..])?;
    let mut result = HashSet::new();
    for s in sets.into_iter().flatten() {
        result.extend(s);
    }
    store(c, a[1], result);
    Ok(())
}

pub(super) fn sdiffstore(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    let sets = sources(c, &a[2..])?;
    let mut it = sets.into_iter();
    let mut result = it.next().flatten().unwrap_or_default();
    for s in it.flatten() {
        result.retain(|m| !s.contains(m));
    }
    store(c, a[1], result);
    Ok(())
}
