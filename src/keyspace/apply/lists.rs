//! List commands.

use super::{Ctx, R};
use crate::keyspace::args::{int, is, non_negative, rank_range, strtod};
use crate::keyspace::model::Value;
use crate::keyspace::Reject;

#[derive(Clone, Copy, PartialEq)]
enum End {
    Head,
    Tail,
}

fn push_generic(c: &mut Ctx<'_>, a: &[&[u8]], end: End, only_existing: bool) -> R<()> {
    let exists = c.list(a[1])?.is_some();
    if !exists {
        if only_existing {
            return Ok(());
        }
        c.create(a[1], Value::List(Box::default()));
    }
    if let Some(l) = c.list_mut(a[1])? {
        for v in &a[2..] {
            match end {
                End::Head => l.push_front(v.to_vec()),
                End::Tail => l.push_back(v.to_vec()),
            }
        }
    }
    Ok(())
}

pub(super) fn lpush(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    push_generic(c, a, End::Head, false)
}

pub(super) fn rpush(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    push_generic(c, a, End::Tail, false)
}

pub(super) fn lpushx(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    push_generic(c, a, End::Head, true)
}

pub(super) fn rpushx(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    push_generic(c, a, End::Tail, true)
}

fn pop_generic(c: &mut Ctx<'_>, a: &[&[u8]], end: End) -> R<()> {
    if a.len() > 3 {
        return Err(Reject::Arity.into());
    }
    let count = match a.get(2) {
        Some(n) => non_negative(n)? as u64,
        None => 1,
    };
    if let Some(l) = c.list_mut(a[1])? {
        for _ in 0..count.min(l.len() as u64) {
            match end {
                End::Head => l.pop_front(),
                End::Tail => l.pop_back(),
            };
        }
    }
    c.drop_if_empty(a[1]);
    Ok(())
}

pub(super) fn lpop(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    pop_generic(c, a, End::Head)
}

pub(super) fn rpop(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    pop_generic(c, a, End::Tail)
}

pub(super) fn lset(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    let index = int(a[2])?;
    let Some(l) = c.list_mut(a[1])? else {
        return Err(Reject::NoSuchKey.into());
    };
    let len = l.len() as i64;
    let i = if index < 0 { len + index } else { index };
    if i < 0 || i >= len {
        return Err(Reject::Err("index out of range".into()).into());
    }
    l[i as usize] = a[3].to_vec();
    Ok(())
}

pub(super) fn lrem(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    let count = int(a[2])?;
    let Some(l) = c.list_mut(a[1])? else {
        return Ok(());
    };
    let target = a[3];
    let max = if count == 0 {
        u64::MAX
    } else {
        count.unsigned_abs()
    };
    let mut removed = 0u64;
    let old = std::mem::take(l);
    if count >= 0 {
        for v in old {
            if removed < max && v == target {
                removed += 1;
            } else {
                l.push_back(v);
            }
        }
    } else {
        for v in old.into_iter().rev() {
            if removed < max && v == target {
                removed += 1;
            } else {
                l.push_front(v);
            }
        }
    }
    c.drop_if_empty(a[1]);
    Ok(())
}

pub(super) fn linsert(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    let after = if is(a[2], "after") {
        true
    } else if is(a[2], "before") {
        false
    } else {
        return Err(Reject::Syntax.into());
    };
    if let Some(l) = c.list_mut(a[1])? {
        if let Some(i) = l.iter().position(|v| v == a[3]) {
            l.insert(if after { i + 1 } else { i }, a[4].to_vec());
        }
    }
    Ok(())
}

pub(super) fn ltrim(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    let start = int(a[2])?;
    let end = int(a[3])?;
    if let Some(l) = c.list_mut(a[1])? {
        match rank_range(start, end, l.len()) {
            Some((s, e)) => {
                l.truncate(e + 1);
                l.drain(..s);
            }
            None => l.clear(),
        }
    }
    c.drop_if_empty(a[1]);
    Ok(())
}

fn side(a: &[u8]) -> R<End> {
    if is(a, "left") {
        Ok(End::Head)
    } else if is(a, "right") {
        Ok(End::Tail)
    } else {
        Err(Reject::Syntax.into())
    }
}

fn lmove_generic(c: &mut Ctx<'_>, src: &[u8], dst: &[u8], from: End, to: End) -> R<()> {
    match c.list(src)? {
        None => return Ok(()),
        Some(l) if l.is_empty() => return Ok(()),
        Some(_) => {}
    }
    c.list(dst)?;
    let v = {
        let Some(l) = c.list_mut(src)? else {
            return Ok(());
        };
        match from {
            End::Head => l.pop_front(),
            End::Tail => l.pop_back(),
        }
    };
    let Some(v) = v else { return Ok(()) };
    if c.list(dst)?.is_none() {
        c.create(dst, Value::List(Box::default()));
    }
    if let Some(l) = c.list_mut(dst)? {
        match to {
            End::Head => l.push_front(v),
            End::Tail => l.push_back(v),
        }
    }
    c.drop_if_empty(src);
    Ok(())
}

pub(super) fn lmove(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    let from = side(a[3])?;
    let to = side(a[4])?;
    lmove_generic(c, a[1], a[2], from, to)
}

pub(super) fn rpoplpush(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    lmove_generic(c, a[1], a[2], End::Tail, End::Head)
}

/// `getTimeoutFromObjectOrReply`: a non-negative float number of seconds.
fn timeout(a: &[u8]) -> R<()> {
    match strtod(a) {
        Some(v) if v < 0.0 => Err(Reject::Err("timeout is negative".into()).into()),
        Some(v) if v.is_finite() => Ok(()),
        _ => Err(Reject::Err("timeout is not a float or out of range".into()).into()),
    }
}

/// Blocking forms run as their non-blocking ones (a loading server never blocks).
pub(super) fn blmove(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    let from = side(a[3])?;
    let to = side(a[4])?;
    timeout(a[5])?;
    lmove_generic(c, a[1], a[2], from, to)
}

pub(super) fn brpoplpush(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    timeout(a[3])?;
    lmove_generic(c, a[1], a[2], End::Tail, End::Head)
}
