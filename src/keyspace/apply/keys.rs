//! Keyspace commands: deletion, expiry, renaming, moving between databases, flushing.

use super::{Ctx, R};
use crate::keyspace::args::{int, is};
use crate::keyspace::model::Value;
use crate::keyspace::{ApplyErrorKind, Reject};

pub(super) fn del(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    for k in &a[1..] {
        c.delete(k);
    }
    Ok(())
}

const NX: u8 = 1;
const XX: u8 = 2;
const GT: u8 = 4;
const LT: u8 = 8;

/// `expireGenericCommand`: `basetime` is the clock for relative forms, 0 for absolute ones.
fn expire_generic(c: &mut Ctx<'_>, a: &[&[u8]], basetime: i64, seconds: bool, cmd: &str) -> R<()> {
    let mut flags = 0u8;
    for opt in &a[3..] {
        flags |= if is(opt, "nx") {
            NX
        } else if is(opt, "xx") {
            XX
        } else if is(opt, "gt") {
            GT
        } else if is(opt, "lt") {
            LT
        } else {
            return Err(Reject::Err(format!(
                "Unsupported option {}",
                String::from_utf8_lossy(opt)
            ))
            .into());
        };
    }
    if flags & NX != 0 && flags & (XX | GT | LT) != 0 {
        return Err(Reject::Err(
            "NX and XX, GT or LT options at the same time are not compatible".into(),
        )
        .into());
    }
    if flags & GT != 0 && flags & LT != 0 {
        return Err(
            Reject::Err("GT and LT options at the same time are not compatible".into()).into(),
        );
    }
    let bad = || Reject::Err(format!("invalid expire time in '{cmd}' command"));
    let mut when = int(a[2])?;
    if seconds {
        if !(i64::MIN / 1000..=i64::MAX / 1000).contains(&when) {
            return Err(bad().into());
        }
        when *= 1000;
    }
    if when > i64::MAX - basetime {
        return Err(bad().into());
    }
    when += basetime;
    let Some(e) = c.entry_mut(a[1]) else {
        return Ok(());
    };
    let cur = e.expire_ms().unwrap_or(-1);
    if (flags & NX != 0 && cur != -1)
        || (flags & XX != 0 && cur == -1)
        || (flags & GT != 0 && (when <= cur || cur == -1))
        || (flags & LT != 0 && cur != -1 && when >= cur)
    {
        return Ok(());
    }
    // While loading, Redis sets an expiry that has already passed rather than deleting.
    e.set_expire_ms(Some(when));
    Ok(())
}

pub(super) fn expire(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    let now = c.now_ms;
    expire_generic(c, a, now, true, "expire")
}

pub(super) fn pexpire(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    let now = c.now_ms;
    expire_generic(c, a, now, false, "pexpire")
}

pub(super) fn expireat(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    expire_generic(c, a, 0, true, "expireat")
}

pub(super) fn pexpireat(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    expire_generic(c, a, 0, false, "pexpireat")
}

pub(super) fn persist(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    if let Some(e) = c.entry_mut(a[1]) {
        e.set_expire_ms(None);
    }
    Ok(())
}

fn rename_generic(c: &mut Ctx<'_>, a: &[&[u8]], nx: bool) -> R<()> {
    if !c.exists(a[1]) {
        return Err(Reject::NoSuchKey.into());
    }
    if a[1] == a[2] {
        return Ok(());
    }
    if c.exists(a[2]) {
        if nx {
            return Ok(());
        }
        c.delete(a[2]);
    }
    let db = c.db;
    if let Some(e) = c.ks.dbs.get_mut(&db).and_then(|d| d.keys.remove(a[1])) {
        c.ks.insert(db, a[2].to_vec(), e);
    }
    Ok(())
}

pub(super) fn rename(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    rename_generic(c, a, false)
}

pub(super) fn renamenx(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    rename_generic(c, a, true)
}

pub(super) fn move_(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    let dst = c.db_index(a[2], "value is not an integer or out of range")?;
    if dst == c.db {
        return Err(Reject::Err("source and destination objects are the same".into()).into());
    }
    if !c.exists(a[1]) || c.ks.get(dst, a[1]).is_some() {
        return Ok(());
    }
    let src = c.db;
    if let Some(e) = c.ks.dbs.get_mut(&src).and_then(|d| d.keys.remove(a[1])) {
        c.ks.insert(dst, a[1].to_vec(), e);
    }
    Ok(())
}

pub(super) fn copy(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    let mut replace = false;
    let mut dst = c.db;
    let mut j = 3;
    while j < a.len() {
        if is(a[j], "replace") {
            replace = true;
        } else if is(a[j], "db") && j + 1 < a.len() {
            dst = c.db_index(a[j + 1], "value is not an integer or out of range")?;
            j += 1;
        } else {
            return Err(Reject::Syntax.into());
        }
        j += 1;
    }
    if dst == c.db && a[1] == a[2] {
        return Err(Reject::Err("source and destination objects are the same".into()).into());
    }
    let Some(e) = c.entry(a[1]) else {
        return Ok(());
    };
    if matches!(e.value, Value::Module(_) | Value::Other(_)) {
        return Err(ApplyErrorKind::Unsupported(
            "COPY of a module value depends on the module's copy callback".into(),
        ));
    }
    let e = e.clone();
    if c.ks.get(dst, a[2]).is_some() {
        if !replace {
            return Ok(());
        }
        c.ks.remove(dst, a[2]);
    }
    c.ks.insert(dst, a[2].to_vec(), e);
    Ok(())
}

fn flush_flags(a: &[&[u8]]) -> R<()> {
    match a.len() {
        1 => Ok(()),
        2 if is(a[1], "sync") || is(a[1], "async") => Ok(()),
        _ => Err(Reject::Syntax.into()),
    }
}

pub(super) fn flushdb(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    flush_flags(a)?;
    c.ks.dbs.remove(&c.db);
    Ok(())
}

pub(super) fn flushall(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    flush_flags(a)?;
    c.ks.dbs.clear();
    Ok(())
}

pub(super) fn swapdb(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    let x = super::super::args::string2ll(a[1])
        .ok_or_else(|| Reject::Err("invalid first DB index".into()))?;
    let y = super::super::args::string2ll(a[2])
        .ok_or_else(|| Reject::Err("invalid second DB index".into()))?;
    let n = c.ks.databases;
    if x < 0
        || y < 0
        || x as u64 >= n
        || y as u64 >= n
        || x > i32::MAX as i64
        || y > i32::MAX as i64
    {
        return Err(Reject::Err("DB index is out of range".into()).into());
    }
    let (x, y) = (x as u64, y as u64);
    if x != y {
        let dx = c.ks.dbs.remove(&x);
        let dy = c.ks.dbs.remove(&y);
        if let Some(d) = dx {
            c.ks.dbs.insert(y, d);
        }
        if let Some(d) = dy {
            c.ks.dbs.insert(x, d);
        }
    }
    Ok(())
}

/// `RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f]` (`restoreCommand`):
/// the payload is checked (version, CRC-64) and decoded with the RDB reader; Redis
/// propagates a relative TTL as an absolute one with `ABSTTL`. IDLETIME/FREQ only set
/// eviction metadata, which the keyspace does not keep.
pub(super) fn restore(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    use crate::rdb::{DumpPayloadError, ValueHandle};
    let (mut replace, mut absttl, mut idle, mut freq) = (false, false, false, false);
    let mut j = 4;
    while j < a.len() {
        let more = a.len() - j - 1;
        if is(a[j], "replace") {
            replace = true;
        } else if is(a[j], "absttl") {
            absttl = true;
        } else if is(a[j], "idletime") && more >= 1 && !freq {
            if int(a[j + 1])? < 0 {
                return Err(Reject::Err("Invalid IDLETIME value, must be >= 0".into()).into());
            }
            idle = true;
            j += 1;
        } else if is(a[j], "freq") && more >= 1 && !idle {
            if !(0..=255).contains(&int(a[j + 1])?) {
                return Err(
                    Reject::Err("Invalid FREQ value, must be >= 0 and <= 255".into()).into(),
                );
            }
            freq = true;
            j += 1;
        } else {
            return Err(Reject::Syntax.into());
        }
        j += 1;
    }
    if !replace && c.exists(a[1]) {
        return Err(Reject::BusyKey.into());
    }
    let ttl = int(a[2])?;
    if ttl < 0 {
        return Err(Reject::Err("Invalid TTL value, must be >= 0".into()).into());
    }
    let bad_format = || Reject::Err("Bad data format".into());
    let handle = ValueHandle::from_dump_payload(a[3]).map_err(|e| match e {
        DumpPayloadError::VersionOrChecksum(_) => {
            Reject::Err("DUMP payload version or checksum are wrong".into())
        }
        DumpPayloadError::BadFormat(_) => bad_format(),
    })?;
    let value = crate::keyspace::load::from_rdb(handle.materialize().map_err(|_| bad_format())?);
    // Redis's loader refuses an empty collection ("empty keys") and so RESTORE does.
    if value.is_empty_collection() {
        return Err(bad_format().into());
    }
    if let Value::String(s) = &value {
        c.check_len(a[1], s.len() as u64)?;
    }
    let expire_ms = match ttl {
        0 => None,
        t if absttl => Some(t),
        t => Some(c.now_ms.saturating_add(t)),
    };
    c.set_value(a[1], value);
    if let Some(e) = c.entry_mut(a[1]) {
        // While loading, Redis keeps a TTL that has already passed.
        e.set_expire_ms(expire_ms);
    }
    Ok(())
}
