//! Stream commands, including the consumer-group commands Redis propagates for
//! `XREADGROUP`/`XAUTOCLAIM` (`XCLAIM … FORCE JUSTID LASTID`, `XGROUP SETID … ENTRIESREAD`,
//! `XGROUP CREATECONSUMER`).

use super::{Ctx, R};
use crate::keyspace::args::{int, is, string2ll};
use crate::keyspace::model::{Consumer, Group, Pending, Stream, Value};
use crate::keyspace::{ApplyErrorKind, Reject};
use crate::rdb::model::StreamId;

const MAX_ID: StreamId = StreamId {
    ms: u64::MAX,
    seq: u64::MAX,
};

fn invalid_id() -> ApplyErrorKind {
    Reject::Err("Invalid stream ID specified as stream command argument".into()).into()
}

/// Redis's `string2ull` on a C string: `string2ll` when it succeeds (negative refused),
/// else `strtoull` (leading spaces, a sign, leading zeros; `-n` wraps).
fn string2ull(s: &[u8]) -> Option<u64> {
    if let Some(v) = string2ll(s) {
        return u64::try_from(v).ok();
    }
    let mut i = 0;
    while i < s.len() && matches!(s[i], b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r') {
        i += 1;
    }
    let neg = match s.get(i) {
        Some(b'-') => {
            i += 1;
            true
        }
        Some(b'+') => {
            i += 1;
            false
        }
        _ => false,
    };
    let digits = &s[i..];
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u64 = 0;
    for &d in digits {
        v = v.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
    }
    Some(if neg { v.wrapping_neg() } else { v })
}

/// `streamGenericParseIDOrReply`. Returns the ID and whether the sequence was given
/// (`false` for `<ms>-*`, only accepted when `allow_star_seq`).
fn parse_id(
    arg: &[u8],
    missing_seq: u64,
    strict: bool,
    allow_star_seq: bool,
) -> R<(StreamId, bool)> {
    if arg.len() > 127 {
        return Err(invalid_id());
    }
    // Redis copies the argument into a C string: it ends at the first NUL.
    let buf = match arg.iter().position(|&b| b == 0) {
        Some(i) => &arg[..i],
        None => arg,
    };
    if strict && (buf == b"-" || buf == b"+") {
        return Err(invalid_id());
    }
    if buf == b"-" {
        return Ok((StreamId::default(), true));
    }
    if buf == b"+" {
        return Ok((MAX_ID, true));
    }
    let (ms_part, seq_part) = match buf.iter().position(|&b| b == b'-') {
        Some(i) => (&buf[..i], Some(&buf[i + 1..])),
        None => (buf, None),
    };
    let ms = string2ull(ms_part).ok_or_else(invalid_id)?;
    match seq_part {
        Some(b"*") if allow_star_seq => Ok((StreamId { ms, seq: 0 }, false)),
        Some(s) => Ok((
            StreamId {
                ms,
                seq: string2ull(s).ok_or_else(invalid_id)?,
            },
            true,
        )),
        None => Ok((
            StreamId {
                ms,
                seq: missing_seq,
            },
            true,
        )),
    }
}

fn strict_id(arg: &[u8]) -> R<StreamId> {
    Ok(parse_id(arg, 0, true, false)?.0)
}

enum Trim {
    None,
    MaxLen(u64),
    MinId(StreamId),
}

struct AddTrim {
    trim: Trim,
    approx: bool,
    nomkstream: bool,
    /// `Some((id, seq_given))` for an explicit ID, `None` for `*`.
    id: Option<(StreamId, bool)>,
    /// Index of the first field (XADD) or of the first argument not parsed (XTRIM).
    next: usize,
}

/// `streamParseAddOrTrimArgsOrReply`, as for a client Redis must obey (AOF): no LIMIT.
fn parse_add_trim(a: &[&[u8]], xadd: bool) -> R<AddTrim> {
    let mut r = AddTrim {
        trim: Trim::None,
        approx: false,
        nomkstream: false,
        id: None,
        next: a.len(),
    };
    let mut limit = 0i64;
    let mut i = 2;
    let both = || {
        Reject::Err(
            "syntax error, MAXLEN and MINID options at the same time are not compatible".into(),
        )
    };
    while i < a.len() {
        let more = a.len() - 1 - i;
        let opt = a[i];
        if xadd && opt == b"*" {
            break;
        } else if (is(opt, "maxlen") || is(opt, "minid")) && more > 0 {
            if !matches!(r.trim, Trim::None) {
                return Err(both().into());
            }
            r.approx = false;
            let next = a[i + 1];
            if more >= 2 && next == b"~" {
                r.approx = true;
                i += 1;
            } else if more >= 2 && next == b"=" {
                i += 1;
            }
            r.trim = if is(opt, "maxlen") {
                let n = int(a[i + 1])?;
                if n < 0 {
                    return Err(Reject::Err("The MAXLEN argument must be >= 0.".into()).into());
                }
                Trim::MaxLen(n as u64)
            } else {
                Trim::MinId(strict_id(a[i + 1])?)
            };
            i += 1;
        } else if is(opt, "limit") && more > 0 {
            limit = int(a[i + 1])?;
            if limit < 0 {
                return Err(Reject::Err("The LIMIT argument must be >= 0.".into()).into());
            }
            i += 1;
        } else if xadd && is(opt, "nomkstream") {
            r.nomkstream = true;
        } else if xadd {
            r.id = Some(parse_id(opt, 0, true, true)?);
            break;
        } else {
            r.next = i;
            return finish(r, limit, xadd);
        }
        i += 1;
    }
    r.next = i;
    finish(r, limit, xadd)
}

fn finish(r: AddTrim, limit: i64, xadd: bool) -> R<AddTrim> {
    if limit != 0 && matches!(r.trim, Trim::None) {
        return Err(Reject::Err(
            "syntax error, LIMIT cannot be used without specifying a trimming strategy".into(),
        )
        .into());
    }
    if !xadd && matches!(r.trim, Trim::None) {
        return Err(Reject::Err(
            "syntax error, XTRIM must be called with a trimming strategy".into(),
        )
        .into());
    }
    Ok(r)
}

/// The entries a trim would remove. Approximate trimming (`~`) removes whole radix-tree
/// nodes, whose boundaries this engine does not model: it is refused unless it would remove
/// nothing.
fn trim_victims(s: &Stream, t: &Trim, approx: bool) -> R<Vec<StreamId>> {
    let doomed: Vec<StreamId> = match t {
        Trim::None => Vec::new(),
        Trim::MaxLen(n) => {
            let len = s.entries.len() as u64;
            let k = len.saturating_sub(*n) as usize;
            s.entries.keys().take(k).copied().collect()
        }
        Trim::MinId(min) => s.entries.range(..*min).map(|(k, _)| *k).collect(),
    };
    if approx && !doomed.is_empty() {
        return Err(ApplyErrorKind::Unsupported(
            "approximate stream trimming (~) depends on Redis's node layout".into(),
        ));
    }
    Ok(doomed)
}

fn remove_entries(s: &mut Stream, doomed: Vec<StreamId>) {
    if doomed.is_empty() {
        return;
    }
    for id in doomed {
        s.entries.remove(&id);
    }
    s.update_first_id();
}

/// `streamIncrID`.
fn incr_id(id: StreamId) -> Option<StreamId> {
    if id.seq == u64::MAX {
        if id.ms == u64::MAX {
            None
        } else {
            Some(StreamId {
                ms: id.ms + 1,
                seq: 0,
            })
        }
    } else {
        Some(StreamId {
            ms: id.ms,
            seq: id.seq + 1,
        })
    }
}

pub(super) fn xadd(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    let p = parse_add_trim(a, true)?;
    let field_pos = p.next + 1;
    let nfields = a.len().saturating_sub(field_pos);
    if nfields < 2 || nfields % 2 == 1 {
        return Err(Reject::Arity.into());
    }
    if let Some((id, true)) = p.id {
        if id == StreamId::default() {
            return Err(
                Reject::Err("The ID specified in XADD must be greater than 0-0".into()).into(),
            );
        }
    }
    let exists = c.stream(a[1])?.is_some();
    if !exists && p.nomkstream {
        return Ok(());
    }
    let now = c.now_ms;
    // Every check runs on the stream as it is (an empty one for a new key) before anything
    // changes. (Redis creates the key before its ID checks, but for a new key they cannot
    // fail: any ID above 0-0 is accepted.)
    let empty = Stream::default();
    let s: &Stream = match c.stream(a[1])? {
        Some(s) => s,
        None => &empty,
    };
    if s.last_id == MAX_ID {
        return Err(Reject::Err(
            "The stream has exhausted the last possible ID, unable to add more items".into(),
        )
        .into());
    }
    let edom = || {
        Reject::Err(
            "The ID specified in XADD is equal or smaller than the target stream top item".into(),
        )
    };
    let id = match p.id {
        Some((id, true)) => id,
        Some((id, false)) => {
            if s.last_id.ms == id.ms {
                if s.last_id.seq == u64::MAX {
                    return Err(edom().into());
                }
                StreamId {
                    ms: id.ms,
                    seq: s.last_id.seq + 1,
                }
            } else {
                id
            }
        }
        None => {
            let ms = u64::try_from(now).unwrap_or(0);
            if ms > s.last_id.ms {
                StreamId { ms, seq: 0 }
            } else {
                incr_id(s.last_id).ok_or_else(edom)?
            }
        }
    };
    if id <= s.last_id {
        return Err(edom().into());
    }
    if p.approx {
        // The entry is added first, then trimmed: would anything go?
        let fewer = match p.trim {
            Trim::MaxLen(n) => (s.entries.len() as u64 + 1) > n,
            Trim::MinId(min) => s.entries.keys().next().is_some_and(|f| *f < min) || id < min,
            Trim::None => false,
        };
        if fewer {
            return Err(ApplyErrorKind::Unsupported(
                "approximate stream trimming (~) depends on Redis's node layout".into(),
            ));
        }
    }
    if !exists {
        c.set_value(a[1], Value::Stream(Box::default()));
    }
    let Some(s) = c.stream_mut(a[1])? else {
        return Ok(());
    };
    let fields = a[field_pos..]
        .chunks(2)
        .map(|fv| (fv[0].to_vec(), fv[1].to_vec()))
        .collect();
    s.entries.insert(id, fields);
    s.entries_added += 1;
    s.last_id = id;
    if s.entries.len() == 1 {
        s.first_id = id;
    }
    let doomed = trim_victims(s, &p.trim, false)?;
    remove_entries(s, doomed);
    Ok(())
}

pub(super) fn xdel(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    let ids: Vec<StreamId> = a[2..].iter().map(|x| strict_id(x)).collect::<R<_>>()?;
    let Some(s) = c.stream_mut(a[1])? else {
        return Ok(());
    };
    let mut deleted = false;
    for id in ids {
        if s.entries.remove(&id).is_some() {
            deleted = true;
            if id > s.max_deleted_id {
                s.max_deleted_id = id;
            }
        }
    }
    if deleted {
        s.update_first_id();
    }
    Ok(())
}

pub(super) fn xtrim(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    if c.stream(a[1])?.is_none() {
        return Ok(());
    }
    let p = parse_add_trim(a, false)?;
    if p.next < a.len() {
        return Err(Reject::Syntax.into());
    }
    let Some(s) = c.stream_mut(a[1])? else {
        return Ok(());
    };
    let doomed = trim_victims(s, &p.trim, p.approx)?;
    remove_entries(s, doomed);
    Ok(())
}

pub(super) fn xsetid(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    let id = strict_id(a[2])?;
    let mut entries_added: Option<u64> = None;
    let mut max_del = StreamId::default();
    let mut i = 3;
    while i < a.len() {
        let more = a.len() - 1 - i;
        if is(a[i], "entriesadded") && more > 0 {
            let n = int(a[i + 1])?;
            if n < 0 {
                return Err(Reject::Err("entries_added must be positive".into()).into());
            }
            entries_added = Some(n as u64);
            i += 2;
        } else if is(a[i], "maxdeletedid") && more > 0 {
            max_del = strict_id(a[i + 1])?;
            if id < max_del {
                return Err(Reject::Err(
                    "The ID specified in XSETID is smaller than the provided max_deleted_entry_id"
                        .into(),
                )
                .into());
            }
            i += 2;
        } else {
            return Err(Reject::Syntax.into());
        }
    }
    let Some(s) = c.stream_mut(a[1])? else {
        return Err(Reject::NoSuchKey.into());
    };
    if id < s.max_deleted_id {
        return Err(Reject::Err(
            "The ID specified in XSETID is smaller than current max_deleted_entry_id".into(),
        )
        .into());
    }
    if let Some(top) = s.entries.keys().next_back() {
        if id < *top {
            return Err(Reject::Err(
                "The ID specified in XSETID is smaller than the target stream top item".into(),
            )
            .into());
        }
        if entries_added.is_some_and(|n| (s.entries.len() as u64) > n) {
            return Err(Reject::Err(
                "The entries_added specified in XSETID is smaller than the target stream length"
                    .into(),
            )
            .into());
        }
    }
    s.last_id = id;
    if let Some(n) = entries_added {
        s.entries_added = n;
    }
    if max_del != StreamId::default() {
        s.max_deleted_id = max_del;
    }
    Ok(())
}

fn entries_read(a: &[u8]) -> R<Option<u64>> {
    let n = int(a)?;
    if n < 0 && n != -1 {
        return Err(Reject::Err("value for ENTRIESREAD must be positive or -1".into()).into());
    }
    Ok(u64::try_from(n).ok())
}

fn nogroup(key: &[u8], group: &[u8]) -> ApplyErrorKind {
    Reject::Err(format!(
        "NOGROUP No such consumer group '{}' for key name '{}'",
        String::from_utf8_lossy(group),
        String::from_utf8_lossy(key)
    ))
    .into()
}

pub(super) fn xgroup(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    let sub = a[1];
    if a.len() < 4 {
        if a.len() == 2 && is(sub, "help") {
            return Ok(());
        }
        return Err(Reject::Syntax.into());
    }
    let mut mkstream = false;
    let mut er: Option<u64> = None;
    if is(sub, "create") || is(sub, "setid") {
        let mut i = 5;
        while i < a.len() {
            if is(sub, "create") && is(a[i], "mkstream") {
                mkstream = true;
                i += 1;
            } else if is(a[i], "entriesread") && i + 1 < a.len() {
                er = entries_read(a[i + 1])?;
                i += 2;
            } else {
                return Err(Reject::Syntax.into());
            }
        }
    }
    let key = a[2];
    let gname = a[3];
    let exists = c.stream(key)?.is_some();
    if !(exists || is(sub, "create") && mkstream) {
        return Err(Reject::Err(
            "The XGROUP subcommand requires the key to exist. Note that for CREATE you may want to use the MKSTREAM option to create an empty stream automatically."
                .into(),
        )
        .into());
    }
    let needs_group = is(sub, "setid") || is(sub, "createconsumer") || is(sub, "delconsumer");
    if needs_group && !c.stream(key)?.is_some_and(|s| s.groups.contains_key(gname)) {
        return Err(nogroup(key, gname));
    }
    let now = u64::try_from(c.now_ms).unwrap_or(0);
    if is(sub, "create") && (5..=8).contains(&a.len()) {
        let id = if a[4] == b"$" {
            c.stream(key)?.map(|s| s.last_id).unwrap_or_default()
        } else {
            strict_id(a[4])?
        };
        if !exists {
            c.set_value(key, Value::Stream(Box::default()));
        }
        let Some(s) = c.stream_mut(key)? else {
            return Ok(());
        };
        if s.groups.contains_key(gname) {
            return Err(Reject::Err("BUSYGROUP Consumer Group name already exists".into()).into());
        }
        s.groups.insert(
            gname.to_vec(),
            Group {
                last_id: id,
                entries_read: er,
                pending: Default::default(),
                consumers: Default::default(),
            },
        );
        Ok(())
    } else if is(sub, "setid") && (a.len() == 5 || a.len() == 7) {
        let id = if a[4] == b"$" {
            c.stream(key)?.map(|s| s.last_id).unwrap_or_default()
        } else {
            parse_id(a[4], 0, false, false)?.0
        };
        if let Some(g) = c.stream_mut(key)?.and_then(|s| s.groups.get_mut(gname)) {
            g.last_id = id;
            g.entries_read = er;
        }
        Ok(())
    } else if is(sub, "destroy") && a.len() == 4 {
        if let Some(s) = c.stream_mut(key)? {
            s.groups.remove(gname);
        }
        Ok(())
    } else if is(sub, "createconsumer") && a.len() == 5 {
        if let Some(g) = c.stream_mut(key)?.and_then(|s| s.groups.get_mut(gname)) {
            g.consumers.entry(a[4].to_vec()).or_insert(Consumer {
                seen_time_ms: now,
                active_time_ms: None,
            });
        }
        Ok(())
    } else if is(sub, "delconsumer") && a.len() == 5 {
        if let Some(g) = c.stream_mut(key)?.and_then(|s| s.groups.get_mut(gname)) {
            if g.consumers.remove(a[4]).is_some() {
                g.pending.retain(|_, p| p.consumer != a[4]);
            }
        }
        Ok(())
    } else {
        Err(Reject::Syntax.into())
    }
}

pub(super) fn xack(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    let ids: Vec<StreamId> = a[3..].iter().map(|x| strict_id(x)).collect::<R<_>>()?;
    if let Some(g) = c.stream_mut(a[1])?.and_then(|s| s.groups.get_mut(a[2])) {
        for id in ids {
            g.pending.remove(&id);
        }
    }
    Ok(())
}

pub(super) fn xclaim(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    let (key, gname, cname) = (a[1], a[2], a[3]);
    if !c.stream(key)?.is_some_and(|s| s.groups.contains_key(gname)) {
        return Err(Reject::Err(format!(
            "NOGROUP No such key '{}' or consumer group '{}'",
            String::from_utf8_lossy(key),
            String::from_utf8_lossy(gname)
        ))
        .into());
    }
    let minidle = string2ll(a[4])
        .ok_or_else(|| Reject::Err("Invalid min-idle-time argument for XCLAIM".into()))?
        .max(0);
    let mut ids = Vec::new();
    let mut j = 5;
    while j < a.len() {
        match strict_id(a[j]) {
            Ok(id) => ids.push(id),
            Err(_) => break,
        }
        j += 1;
    }
    let now = c.now_ms;
    let (mut force, mut justid) = (false, false);
    let mut delivery: Option<i64> = None;
    let mut retry: Option<i64> = None;
    let mut last_id = StreamId::default();
    while j < a.len() {
        let more = a.len() - 1 - j;
        let opt = a[j];
        let num = |x: &[u8], what: &str| {
            string2ll(x).ok_or_else(|| {
                ApplyErrorKind::from(Reject::Err(format!(
                    "Invalid {what} option argument for XCLAIM"
                )))
            })
        };
        if is(opt, "force") {
            force = true;
        } else if is(opt, "justid") {
            justid = true;
        } else if is(opt, "idle") && more > 0 {
            j += 1;
            delivery = Some(now.saturating_sub(num(a[j], "IDLE")?));
        } else if is(opt, "time") && more > 0 {
            j += 1;
            delivery = Some(num(a[j], "TIME")?);
        } else if is(opt, "retrycount") && more > 0 {
            j += 1;
            retry = Some(num(a[j], "RETRYCOUNT")?);
        } else if is(opt, "lastid") && more > 0 {
            j += 1;
            last_id = strict_id(a[j])?;
        } else {
            return Err(Reject::Err(format!(
                "Unrecognized XCLAIM option '{}'",
                String::from_utf8_lossy(opt)
            ))
            .into());
        }
        j += 1;
    }
    let delivery = match delivery {
        Some(d) if d >= 0 && d <= now => d,
        _ => now,
    } as u64;
    let now_u = u64::try_from(now).unwrap_or(0);
    let Some(s) = c.stream_mut(key)? else {
        return Ok(());
    };
    let Stream {
        entries, groups, ..
    } = &mut **s;
    let Some(g) = groups.get_mut(gname) else {
        return Ok(());
    };
    if last_id > g.last_id {
        g.last_id = last_id;
    }
    let cons = g.consumers.entry(cname.to_vec()).or_insert(Consumer {
        seen_time_ms: now_u,
        active_time_ms: None,
    });
    cons.seen_time_ms = now_u;
    for id in ids {
        if !entries.contains_key(&id) {
            g.pending.remove(&id);
            continue;
        }
        let created = if force && !g.pending.contains_key(&id) {
            g.pending.insert(
                id,
                Pending {
                    delivery_time_ms: now_u,
                    delivery_count: 1,
                    consumer: Vec::new(),
                },
            );
            true
        } else {
            false
        };
        let Some(p) = g.pending.get_mut(&id) else {
            continue;
        };
        if !created && minidle > 0 && now - (p.delivery_time_ms as i64) < minidle {
            continue;
        }
        p.delivery_time_ms = delivery;
        match retry {
            Some(r) if r >= 0 => p.delivery_count = r as u64,
            _ if !justid => p.delivery_count += 1,
            _ => {}
        }
        p.consumer = cname.to_vec();
    }
    Ok(())
}
