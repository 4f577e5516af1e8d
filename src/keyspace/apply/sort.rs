//! `SORT key … STORE dest` (`sortCommandGeneric` in Redis 7.0's `sort.c`), the only form that
//! writes and so the only one Redis propagates. `BY`, `GET`, `LIMIT`, `ASC`/`DESC` and
//! `ALPHA` are handled as Redis handles them, including `BY` patterns without `*` (no
//! sorting: a list or sorted set keeps its order, a set is sorted `ALPHA` for a
//! deterministic result). An `ALPHA` sort `BY` a pattern where two different elements
//! compare equal is `Unsupported`: their order is whatever Redis's sort routine leaves.

use std::cmp::Ordering;

use super::{Ctx, R};
use crate::keyspace::args::{is, string2ll, strtod};
use crate::keyspace::model::Value;
use crate::keyspace::{ApplyErrorKind, Reject};

/// The bytes C string functions see: up to the first NUL.
fn c_str(s: &[u8]) -> &[u8] {
    &s[..s.iter().position(|&b| b == 0).unwrap_or(s.len())]
}

/// `lookupKeyByPattern`: the value `pattern` names for element `subst` (`#`: the element;
/// `pre*post`: the string at key `pre<element>post`; `pre*post->field`: that hash field).
fn lookup_by_pattern(c: &Ctx<'_>, pattern: &[u8], subst: &[u8]) -> Option<Vec<u8>> {
    if c_str(pattern) == b"#" {
        return Some(subst.to_vec());
    }
    let star = c_str(pattern).iter().position(|&b| b == b'*')?;
    let after = c_str(&pattern[star + 1..]);
    let field = after
        .windows(2)
        .position(|w| w == b"->")
        .map(|f| star + 1 + f)
        .filter(|&f| f + 2 < pattern.len() && pattern[f + 2] != 0);
    let key_end = field.unwrap_or(pattern.len());
    let mut key = pattern[..star].to_vec();
    key.extend_from_slice(subst);
    key.extend_from_slice(&pattern[star + 1..key_end]);
    match (field, c.entry(&key).map(|e| &e.value)) {
        (None, Some(Value::String(s))) => Some(s.clone()),
        (Some(f), Some(Value::Hash(h))) => h.get(&pattern[f + 2..]).map(|v| v.value.clone()),
        _ => None,
    }
}

/// A score as `SORT` reads one: C `strtod` over the string up to its first NUL, leading
/// white space allowed, nothing after the number; the empty string is 0.
fn sort_score(s: &[u8]) -> Option<f64> {
    let s = c_str(s);
    if s.is_empty() {
        return Some(0.0);
    }
    let start = s
        .iter()
        .position(|&b| !matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'))?;
    strtod(&s[start..])
}

pub(super) fn sort(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    let mut desc = false;
    let mut alpha = false;
    let (mut limit_start, mut limit_count) = (0i64, -1i64);
    let mut store: Option<&[u8]> = None;
    let mut by: Option<&[u8]> = None;
    let mut dontsort = false;
    let mut gets: Vec<&[u8]> = Vec::new();
    let mut j = 2;
    while j < a.len() {
        let left = a.len() - j - 1;
        let o = a[j];
        if is(o, "asc") {
            desc = false;
        } else if is(o, "desc") {
            desc = true;
        } else if is(o, "alpha") {
            alpha = true;
        } else if is(o, "limit") && left >= 2 {
            // getLongFromObjectOrReply.
            limit_start = string2ll(a[j + 1]).ok_or(Reject::NotInteger)?;
            limit_count = string2ll(a[j + 2]).ok_or(Reject::NotInteger)?;
            j += 2;
        } else if is(o, "store") && left >= 1 {
            store = Some(a[j + 1]);
            j += 1;
        } else if is(o, "by") && left >= 1 {
            by = Some(a[j + 1]);
            dontsort = !c_str(a[j + 1]).contains(&b'*');
            j += 1;
        } else if is(o, "get") && left >= 1 {
            gets.push(a[j + 1]);
            j += 1;
        } else {
            return Err(Reject::Syntax.into());
        }
        j += 1;
    }
    let Some(store) = store else {
        // A SORT without STORE only reads (Redis does not propagate it).
        return match c.entry(a[1]).map(|e| &e.value) {
            None | Some(Value::List(_) | Value::Set(_) | Value::Zset(_)) => Ok(()),
            Some(_) => Err(Reject::WrongType.into()),
        };
    };
    let source = c.entry(a[1]).map(|e| &e.value);
    let (mut elements, is_set, is_zset): (Vec<Vec<u8>>, bool, bool) = match source {
        None => (Vec::new(), false, false),
        Some(Value::List(l)) => (l.iter().cloned().collect(), false, false),
        Some(Value::Set(s)) => {
            let mut v: Vec<Vec<u8>> = s.iter().cloned().collect();
            v.sort();
            (v, true, false)
        }
        // In rank order; for a real sort the order does not matter (ties are broken by the
        // element, or refused).
        Some(Value::Zset(z)) => (z.iter().map(|(m, _)| m.to_vec()).collect(), false, true),
        Some(_) => return Err(Reject::WrongType.into()),
    };
    if dontsort && is_set {
        dontsort = false;
        alpha = true;
        by = None;
    }
    let len = elements.len() as i64;
    let mut start = limit_start.max(0);
    let mut end = if limit_count < 0 {
        len - 1
    } else {
        start.saturating_add(limit_count) - 1
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    end = end.min(len - 1);

    if dontsort {
        // A list or sorted set in its own order (reversed with DESC), from `start`.
        if desc {
            elements.reverse();
        }
    } else {
        let keyed: Vec<(Vec<u8>, Option<Vec<u8>>, f64)> = if alpha {
            elements
                .into_iter()
                .map(|e| {
                    let cmp = by.and_then(|p| lookup_by_pattern(c, p, &e));
                    (e, cmp, 0.0)
                })
                .collect()
        } else {
            let mut v = Vec::with_capacity(elements.len());
            for e in elements {
                let score = match by {
                    Some(p) => match lookup_by_pattern(c, p, &e) {
                        Some(b) => sort_score(&b),
                        None => Some(0.0),
                    },
                    None => sort_score(&e),
                };
                let Some(score) = score else {
                    return Err(Reject::Err(
                        "One or more scores can't be converted into double".into(),
                    )
                    .into());
                };
                v.push((e, None, score));
            }
            v
        };
        let mut keyed = keyed;
        let cmp = |x: &(Vec<u8>, Option<Vec<u8>>, f64), y: &(Vec<u8>, Option<Vec<u8>>, f64)| {
            if !alpha {
                x.2.partial_cmp(&y.2)
                    .unwrap_or(Ordering::Equal)
                    .then_with(|| x.0.cmp(&y.0))
            } else if by.is_some() {
                // A missing value sorts first.
                x.1.cmp(&y.1)
            } else {
                x.0.cmp(&y.0)
            }
        };
        keyed.sort_by(cmp);
        if alpha
            && by.is_some()
            && keyed
                .windows(2)
                .any(|w| cmp(&w[0], &w[1]) == Ordering::Equal && w[0].0 != w[1].0)
        {
            return Err(ApplyErrorKind::Unsupported(
                "SORT … BY … ALPHA where different elements compare equal (their order is \
                 Redis's sort routine's)"
                    .into(),
            ));
        }
        if desc {
            keyed.reverse();
        }
        elements = keyed.into_iter().map(|k| k.0).collect();
    }

    let mut out: Vec<Vec<u8>> = Vec::new();
    // `GET` patterns multiply the result: its size (counting 16 bytes per element) is held
    // to the engine's string limit.
    let mut bytes = 0u64;
    let mut push = |v: Vec<u8>, out: &mut Vec<Vec<u8>>| -> R<()> {
        bytes += v.len() as u64 + 16;
        if bytes > c.ks.limits.max_string as u64 {
            return Err(ApplyErrorKind::Limit {
                key: store.to_vec(),
                what: format!(
                    "a SORT result of more than {} bytes",
                    c.ks.limits.max_string
                ),
            });
        }
        out.push(v);
        Ok(())
    };
    if end >= start {
        for e in &elements[start as usize..=end as usize] {
            if gets.is_empty() {
                push(e.clone(), &mut out)?;
            } else {
                for g in &gets {
                    push(lookup_by_pattern(c, g, e).unwrap_or_default(), &mut out)?;
                }
            }
        }
    }
    if is_zset {
        if let Some(Value::Zset(z)) = c.entry_mut(a[1]).map(|e| &mut e.value) {
            // Redis converts the sorted set to a skiplist before sorting it.
            z.set_skiplist();
        }
    }
    if out.is_empty() {
        c.delete(store);
    } else {
        c.set_value(store, Value::List(Box::new(out.into())));
    }
    Ok(())
}
