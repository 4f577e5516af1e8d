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
        c.create(a[1], Value::Zset(Box::new(Zset::with_hint(1, first_len))));
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

/// Lexicographic ranges are only reproduced on a sorted set whose scores are all equal: on
/// others Redis's result depends on its encoding.
fn require_equal_scores(z: &Zset, what: &str) -> R<()> {
    let first = z.iter().next().map(|(_, s)| s);
    if z.iter().any(|(_, s)| Some(s) != first) {
        return Err(ApplyErrorKind::Unsupported(format!(
            "{what} on a sorted set whose scores differ (Redis's result depends on its encoding)"
        )));
    }
    Ok(())
}

pub(super) fn zremrangebylex(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    let min = LexBound::parse(a[2])?;
    let max = LexBound::parse(a[3])?;
    let Some(z) = c.zset(a[1])? else {
        return Ok(());
    };
    require_equal_scores(z, "ZREMRANGEBYLEX")?;
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

#[derive(Clone, Copy, PartialEq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

/// A source of `ZUNIONSTORE`/`ZINTERSTORE`/`ZDIFFSTORE`: a sorted set, or a set (scores 1).
fn zsource(c: &Ctx<'_>, key: &[u8]) -> R<Vec<(Vec<u8>, f64)>> {
    match c.entry(key) {
        None => Ok(Vec::new()),
        Some(e) => match &e.value {
            Value::Zset(z) => Ok(z.iter().map(|(m, s)| (m.to_vec(), s)).collect()),
            Value::Set(s) => Ok(s.iter().map(|m| (m.clone(), 1.0)).collect()),
            _ => Err(Reject::WrongType.into()),
        },
    }
}

#[derive(Clone, Copy)]
enum Aggr {
    Sum,
    Min,
    Max,
}

/// `zunionInterAggregate`.
fn aggregate(target: &mut f64, val: f64, a: Aggr) {
    match a {
        Aggr::Sum => {
            *target += val;
            if target.is_nan() {
                *target = 0.0;
            }
        }
        Aggr::Min => {
            if val < *target {
                *target = val;
            }
        }
        Aggr::Max => {
            if val > *target {
                *target = val;
            }
        }
    }
}

type Source = (Vec<(Vec<u8>, f64)>, f64, usize);

/// `zunionInterDiffGenericCommand` with a destination key.
fn zstore(c: &mut Ctx<'_>, a: &[&[u8]], op: SetOp, cmd: &str) -> R<()> {
    let n = int(a[2])?;
    if n < 1 {
        return Err(Reject::Err(format!(
            "at least 1 input key is needed for '{cmd}' command"
        ))
        .into());
    }
    if n as u64 > (a.len() - 3) as u64 {
        return Err(Reject::Syntax.into());
    }
    let n = n as usize;
    // (members with scores, weight, position)
    let mut srcs: Vec<Source> = Vec::new();
    for (i, k) in a[3..3 + n].iter().enumerate() {
        srcs.push((zsource(c, k)?, 1.0, i));
    }
    let mut aggr = Aggr::Sum;
    let mut j = 3 + n;
    while j < a.len() {
        let remaining = a.len() - j;
        if op != SetOp::Diff && remaining > n && is(a[j], "weights") {
            j += 1;
            for s in srcs.iter_mut() {
                s.1 = crate::keyspace::args::strtod(a[j])
                    .ok_or_else(|| Reject::Err("weight value is not a float".into()))?;
                j += 1;
            }
        } else if op != SetOp::Diff && remaining >= 2 && is(a[j], "aggregate") {
            aggr = if is(a[j + 1], "sum") {
                Aggr::Sum
            } else if is(a[j + 1], "min") {
                Aggr::Min
            } else if is(a[j + 1], "max") {
                Aggr::Max
            } else {
                return Err(Reject::Syntax.into());
            };
            j += 2;
        } else {
            return Err(Reject::Syntax.into());
        }
    }
    let mut result: Vec<(Vec<u8>, f64)> = Vec::new();
    match op {
        SetOp::Union => {
            // Largest first (a stable sort, as glibc's qsort is for these sizes): the order
            // in which scores are added matters for floating point.
            srcs.sort_by_key(|x| std::cmp::Reverse(x.0.len()));
            let mut acc: std::collections::HashMap<Vec<u8>, usize> = Default::default();
            for (members, w, _) in &srcs {
                for (m, s) in members {
                    let mut score = w * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    match acc.get(m) {
                        Some(&i) => aggregate(&mut result[i].1, score, aggr),
                        None => {
                            acc.insert(m.clone(), result.len());
                            result.push((m.clone(), score));
                        }
                    }
                }
            }
        }
        SetOp::Inter => {
            srcs.sort_by_key(|x| x.0.len());
            let lookups: Vec<std::collections::HashMap<&[u8], f64>> = srcs
                .iter()
                .map(|(m, _, _)| m.iter().map(|(k, s)| (k.as_slice(), *s)).collect())
                .collect();
            if let Some(((first, w0, _), rest)) = srcs.split_first() {
                'members: for (m, s) in first {
                    let mut score = w0 * s;
                    if score.is_nan() {
                        score = 0.0;
                    }
                    for (k, (_, w, _)) in rest.iter().enumerate() {
                        match lookups[k + 1].get(m.as_slice()) {
                            Some(v) => aggregate(&mut score, v * w, aggr),
                            None => continue 'members,
                        }
                    }
                    result.push((m.clone(), score));
                }
            }
        }
        SetOp::Diff => {
            let others: Vec<std::collections::HashSet<&[u8]>> = srcs[1..]
                .iter()
                .map(|(m, _, _)| m.iter().map(|(k, _)| k.as_slice()).collect())
                .collect();
            for (m, s) in &srcs[0].0 {
                if !others.iter().any(|o| o.contains(m.as_slice())) {
                    result.push((m.clone(), *s));
                }
            }
        }
    }
    store_result(c, a[1], result);
    Ok(())
}

/// Stores a computed sorted set at `key` as Redis's store commands do (`ZUNIONSTORE`,
/// `GEOSEARCHSTORE`, …): an empty result deletes `key`; otherwise the members are inserted
/// into a skiplist that is then converted to a listpack if it fits
/// (`zsetConvertToListpackIfNeeded`), replacing `key` and its TTL.
pub(super) fn store_result(c: &mut Ctx<'_>, key: &[u8], members: Vec<(Vec<u8>, f64)>) {
    if members.is_empty() {
        c.delete(key);
        return;
    }
    let mut z = Zset::default();
    z.set_skiplist();
    for (m, s) in members {
        z.insert(m, s);
    }
    z.settle_after_load();
    c.set_value(key, Value::Zset(Box::new(z)));
}

pub(super) fn zunionstore(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    zstore(c, a, SetOp::Union, "zunionstore")
}

pub(super) fn zinterstore(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    zstore(c, a, SetOp::Inter, "zinterstore")
}

pub(super) fn zdiffstore(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    zstore(c, a, SetOp::Diff, "zdiffstore")
}

/// How `ZRANGESTORE` selects members.
enum RangeBy {
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexBound, LexBound),
}

/// `ZRANGESTORE dst src min max [BYSCORE|BYLEX] [REV] [LIMIT offset count]`: Redis 7.0's
/// `zrangeGenericCommand` with a destination (an empty result deletes `dst`).
pub(super) fn zrangestore(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    #[derive(PartialEq)]
    enum By {
        Rank,
        Score,
        Lex,
    }
    let (mut by, mut rev) = (None, false);
    let (mut offset, mut count) = (0i64, -1i64);
    let mut j = 5;
    while j < a.len() {
        let left = a.len() - j - 1;
        if is(a[j], "limit") && left >= 2 {
            offset = int(a[j + 1])?;
            count = int(a[j + 2])?;
            j += 2;
        } else if !rev && is(a[j], "rev") {
            rev = true;
        } else if by.is_none() && is(a[j], "bylex") {
            by = Some(By::Lex);
        } else if by.is_none() && is(a[j], "byscore") {
            by = Some(By::Score);
        } else {
            return Err(Reject::Syntax.into());
        }
        j += 1;
    }
    let by = by.unwrap_or(By::Rank);
    if by == By::Rank {
        if count != -1 {
            return Err(Reject::Err(
                "syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"
                    .into(),
            )
            .into());
        }
        offset = 0; // LIMIT offset -1 is accepted with a rank range, and ignored
    }
    // BYSCORE and BYLEX with REV take the range as max, min.
    let (lo, hi) = if rev && by != By::Rank {
        (a[4], a[3])
    } else {
        (a[3], a[4])
    };
    let range = match by {
        By::Rank => RangeBy::Rank(int(lo)?, int(hi)?),
        By::Score => RangeBy::Score(ScoreRange::parse(lo, hi)?),
        By::Lex => RangeBy::Lex(LexBound::parse(lo)?, LexBound::parse(hi)?),
    };
    let mut result: Vec<(Vec<u8>, f64)> = Vec::new();
    // The length Redis passes when it creates the destination (-1, treated as 0, when not
    // known in advance).
    let mut size_hint = 0;
    if let Some(z) = c.zset(a[2])? {
        let ordered: Box<dyn Iterator<Item = (&[u8], f64)>> = if rev {
            Box::new(z.iter().rev())
        } else {
            Box::new(z.iter())
        };
        let in_range: Box<dyn Iterator<Item = (&[u8], f64)>> = match &range {
            RangeBy::Rank(start, end) => match rank_range(*start, *end, z.len()) {
                Some((s, e)) => {
                    size_hint = e - s + 1;
                    Box::new(ordered.skip(s).take(e - s + 1))
                }
                None => Box::new(std::iter::empty()),
            },
            RangeBy::Score(r) => Box::new(ordered.filter(move |(_, s)| r.contains(*s))),
            RangeBy::Lex(min, max) => {
                require_equal_scores(z, "ZRANGESTORE BYLEX")?;
                Box::new(ordered.filter(move |(m, _)| min.gte_min(m) && max.lte_max(m)))
            }
        };
        if offset >= 0 {
            let take = if count < 0 {
                usize::MAX
            } else {
                count as usize
            };
            result = in_range
                .skip(offset as usize)
                .take(take)
                .map(|(m, s)| (m.to_vec(), s))
                .collect();
        }
    }
    if result.is_empty() {
        c.delete(a[1]);
        return Ok(());
    }
    let mut z = Zset::with_hint(size_hint, 0);
    for (m, s) in result {
        z.insert(m, s);
    }
    c.set_value(a[1], Value::Zset(Box::new(z)));
    Ok(())
}
