//! Sorted-set commands.

use super::{Ctx, R};
use crate::keyspace::args::{float, int, is, non_negative, rank_range, LexBound, ScoreRange};
use crate::keyspace::model::{Value, Zset};
use crate::keyspace::{ApplyErrorKind, Reject};

const NAN_ERR: &str = "resulting score is not a number (NaN)";

/// `zaddGenericCommand`; `incr_cmd` for `ZINCRBY`.
fn zadd_generic(c: &mut Ctx<'_>, a: &[&[u8]], incr_cmd: bool) -> R<()> {
    let (mut nx, mut xx, mut gt, mut lt, mut incr) = (false, false, false, false, incr_cmd);
    let mut idx = 2;
    while idx < a.len() {
        let o = a[idx];
        if is(o, "nx") {
            nx = true;
        } else if is(o, "xx") {
            xx = true;
        } else if is(o, "ch") {
        } else if is(o, "incr") {
            incr = true;
        } else if is(o, "gt") {
            gt = true;
        } else if is(o, "lt") {
            lt = true;
        } else {
            break;
        }
        idx += 1;
    }
    let rest = &a[idx..];
    if rest.is_empty() || !rest.len().is_multiple_of(2) {
        return Err(Reject::Syntax.into());
    }
    if nx && xx {
        return Err(
            Reject::Err("XX and NX options at the same time are not compatible".into()).into(),
        );
    }
    if (nx && (gt || lt)) || (gt && lt) {
        return Err(Reject::Err(
            "GT, LT, and/or NX options at the same time are not compatible".into(),
        )
        .into());
    }
    if incr && rest.len() > 2 {
        return Err(
            Reject::Err("INCR option supports a single increment-element pair".into()).into(),
        );
    }
    let mut pairs = Vec::new();
    for p in rest.chunks(2) {
        pairs.push((float(p[0])?, p[1]));
    }
    let exists = c.zset(a[1])?.is_some();
    if !exists && xx {
        return Ok(());
    }
    // With INCR (a single pair), compute first: a NaN result changes nothing.
    if incr {
        let (s, m) = pairs[0];
        if let Some(cur) = c.zset(a[1])?.and_then(|z| z.score(m)) {
            if nx {
                return Ok(());
            }
            let n = s + cur;
            if n.is_nan() {
                return Err(Reject::Err(NAN_ERR.into()).into());
            }
            if (lt && n >= cur) || (gt && n <= cur) {
                return Ok(());
            }
            if let Some(z) = c.zset_mut(a[1])? {
                if n != cur {
                    z.insert(m.to_vec(), n);
                }
            }
            return Ok(());
        }
    }
    if !exists {
        // Redis 7.0 picks the encoding from the first member alone (7.2's zsetTypeCreate
        // looks at all of them); later members convert it as they are added.
        let first_len = pairs.first().map(|(_, m)| m.len()).unwrap_or(0);
        c.create(a[1], Value::Zset(Zset::with_hint(1, first_len)));
    }
    let Some(z) = c.zset_mut(a[1])? else {
        return Ok(());
    };
    for (s, m) in pairs {
        match z.score(m) {
            Some(cur) => {
                if nx || (lt && s >= cur) || (gt && s <= cur) {
                    continue;
                }
                if s != cur {
                    z.insert(m.to_vec(), s);
                }
            }
            None => {
                if !xx {
                    z.insert(m.to_vec(), s);
                }
            }
        }
    }
    c.drop_if_empty(a[1]);
    Ok(())
}

pub(super) fn zadd(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    zadd_generic(c, a, false)
}

pub(super) fn zincrby(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    zadd_generic(c, a, true)
}

pub(super) fn zrem(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    if let Some(z) = c.zset_mut(a[1])? {
        for m in &a[2..] {
            z.remove(m);
        }
    }
    c.drop_if_empty(a[1]);
    Ok(())
}

fn remove_members(c: &mut Ctx<'_>, key: &[u8], members: Vec<Vec<u8>>) -> R<()> {
    if let Some(z) = c.zset_mut(key)? {
        for m in members {
            z.remove(&m);
        }
    }
    c.drop_if_empty(key);
    Ok(())
}

pub(super) fn zremrangebyscore(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    let range = ScoreRange::parse(a[2], a[3])?;
    let Some(z) = c.zset(a[1])? else {
        return Ok(());
    };
    let doomed: Vec<Vec<u8>> = z
        .iter()
        .filter(|(_, s)| range.contains(*s))
        .map(|(m, _)| m.to_vec())
        .collect();
    remove_members(c, a[1], doomed)
}

pub(super) fn zremrangebyrank(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    let start = int(a[2])?;
    let end = int(a[3])?;
    let Some(z) = c.zset(a[1])? else {
        return Ok(());
    };
    let Some((s, e)) = rank_range(start, end, z.len()) else {
        return Ok(());
    };
    let doomed: Vec<Vec<u8>> = z
        .iter()
        .skip(s)
        .take(e - s + 1)
        .map(|(m, _)| m.to_vec())
        .collect();
    remove_members(c, a[1], doomed)
}

pub(super) fn zremrangebylex(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    let min = LexBound::parse(a[2])?;
    let max = LexBound::parse(a[3])?;
    let Some(z) = c.zset(a[1])? else {
        return Ok(());
    };
    let first = z.iter().next().map(|(_, s)| s);
    if z.iter().any(|(_, s)| Some(s) != first) {
        return Err(ApplyErrorKind::Unsupported(
            "ZREMRANGEBYLEX on a sorted set whose scores differ (Redis's result depends on its encoding)"
                .into(),
        ));
    }
    let doomed: Vec<Vec<u8>> = z
        .iter()
        .filter(|(m, _)| min.gte_min(m) && max.lte_max(m))
        .map(|(m, _)| m.to_vec())
        .collect();
    remove_members(c, a[1], doomed)
}

fn zpop(c: &mut Ctx<'_>, a: &[&[u8]], max: bool) -> R<()> {
    if a.len() > 3 {
        return Err(Reject::Syntax.into());
    }
    let count = match a.get(2) {
        Some(n) => non_negative(n)? as usize,
        None => 1,
    };
    if count == 0 {
        return Ok(());
    }
    let Some(z) = c.zset(a[1])? else {
        return Ok(());
    };
    let doomed: Vec<Vec<u8>> = if max {
        z.iter()
            .rev()
            .take(count)
            .map(|(m, _)| m.to_vec())
            .collect()
    } else {
        z.iter().take(count).map(|(m, _)| m.to_vec()).collect()
    };
    remove_members(c, a[1], doomed)
}

pub(super) fn zpopmin(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    zpop(c, a, false)
}

pub(super) fn zpopmax(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    zpop(c, a, true)
}
