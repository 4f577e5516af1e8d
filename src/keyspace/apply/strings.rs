//! String commands.

use super::{Ctx, R};
use crate::keyspace::args::{int, is, string2ll, strtod};
use crate::keyspace::model::Value;
use crate::keyspace::{ApplyErrorKind, Reject};

const NX: u32 = 1;
const XX: u32 = 2;
const GET: u32 = 4;
const KEEPTTL: u32 = 8;
const PERSIST: u32 = 16;
const EX: u32 = 32;
const PX: u32 = 64;
const EXAT: u32 = 128;
const PXAT: u32 = 256;
const ANY_EXPIRE: u32 = EX | PX | EXAT | PXAT;

#[derive(PartialEq)]
enum Kind {
    Set,
    GetEx,
}

/// `parseExtendedStringArgumentsOrReply`: the options from `args[first..]`.
fn parse_opts<'a>(args: &[&'a [u8]], first: usize, kind: Kind) -> R<(u32, Option<&'a [u8]>)> {
    let mut flags = 0u32;
    let mut expire = None;
    let mut j = first;
    while j < args.len() {
        let opt = args[j];
        let next = args.get(j + 1).copied();
        if is(opt, "nx") && flags & XX == 0 && kind == Kind::Set {
            flags |= NX;
        } else if is(opt, "xx") && flags & NX == 0 && kind == Kind::Set {
            flags |= XX;
        } else if is(opt, "get") && kind == Kind::Set {
            flags |= GET;
        } else if is(opt, "keepttl") && flags & (PERSIST | ANY_EXPIRE) == 0 && kind == Kind::Set {
            flags |= KEEPTTL;
        } else if is(opt, "persist") && kind == Kind::GetEx && flags & (ANY_EXPIRE | KEEPTTL) == 0 {
            flags |= PERSIST;
        } else if let (Some(n), Some(bit)) = (next, expire_flag(opt)) {
            if flags & (KEEPTTL | PERSIST | (ANY_EXPIRE & !bit)) != 0 {
                return Err(Reject::Syntax.into());
            }
            flags |= bit;
            expire = Some(n);
            j += 1;
        } else {
            return Err(Reject::Syntax.into());
        }
        j += 1;
    }
    Ok((flags, expire))
}

fn expire_flag(opt: &[u8]) -> Option<u32> {
    if is(opt, "ex") {
        Some(EX)
    } else if is(opt, "px") {
        Some(PX)
    } else if is(opt, "exat") {
        Some(EXAT)
    } else if is(opt, "pxat") {
        Some(PXAT)
    } else {
        None
    }
}

/// `getExpireMillisecondsOrReply`: the absolute expiry in ms.
fn expire_ms(c: &Ctx<'_>, arg: &[u8], flags: u32, cmd: &str) -> R<i64> {
    let bad = || Reject::Err(format!("invalid expire time in '{cmd}' command"));
    let v = int(arg)?;
    let seconds = flags & (EX | EXAT) != 0;
    if v <= 0 || (seconds && v > i64::MAX / 1000) {
        return Err(bad().into());
    }
    let mut ms = if seconds { v * 1000 } else { v };
    if flags & (EX | PX) != 0 {
        ms = ms.checked_add(c.now_ms).ok_or_else(bad)?;
    }
    if ms <= 0 {
        return Err(bad().into());
    }
    Ok(ms)
}

/// `setGenericCommand`.
fn set_generic(
    c: &mut Ctx<'_>,
    flags: u32,
    key: &[u8],
    val: &[u8],
    expire: Option<&[u8]>,
    cmd: &str,
) -> R<()> {
    let ms = match expire {
        Some(e) => Some(expire_ms(c, e, flags, cmd)?),
        None => None,
    };
    if flags & GET != 0 {
        c.string(key)?;
    }
    let found = c.exists(key);
    if (flags & NX != 0 && found) || (flags & XX != 0 && !found) {
        return Ok(());
    }
    if flags & KEEPTTL != 0 {
        c.set_value_keepttl(key, Value::String(val.to_vec()));
    } else {
        c.set_value(key, Value::String(val.to_vec()));
    }
    if let Some(ms) = ms {
        if let Some(e) = c.entry_mut(key) {
            e.set_expire_ms(Some(ms));
        }
    }
    Ok(())
}

pub(super) fn set(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    let (flags, expire) = parse_opts(a, 3, Kind::Set)?;
    set_generic(c, flags, a[1], a[2], expire, "set")
}

pub(super) fn setnx(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    set_generic(c, NX, a[1], a[2], None, "setnx")
}

pub(super) fn setex(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    set_generic(c, EX, a[1], a[3], Some(a[2]), "setex")
}

pub(super) fn psetex(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    set_generic(c, PX, a[1], a[3], Some(a[2]), "psetex")
}

pub(super) fn getset(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    c.string(a[1])?;
    c.set_value(a[1], Value::String(a[2].to_vec()));
    Ok(())
}

pub(super) fn getdel(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    if c.string(a[1])?.is_some() {
        c.delete(a[1]);
    }
    Ok(())
}

pub(super) fn getex(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    let (flags, expire) = parse_opts(a, 2, Kind::GetEx)?;
    if c.string(a[1])?.is_none() {
        return Ok(());
    }
    let ms = match expire {
        Some(e) => Some(expire_ms(c, e, flags, "getex")?),
        None => None,
    };
    if let Some(e) = c.entry_mut(a[1]) {
        if let Some(ms) = ms {
            e.set_expire_ms(Some(ms));
        } else if flags & PERSIST != 0 {
            e.set_expire_ms(None);
        }
    }
    Ok(())
}

fn incr_generic(c: &mut Ctx<'_>, key: &[u8], incr: i64) -> R<()> {
    let old = match c.string(key)? {
        Some(s) => string2ll(s).ok_or(Reject::NotInteger)?,
        None => 0,
    };
    let v = old
        .checked_add(incr)
        .ok_or_else(|| Reject::Err("increment or decrement would overflow".into()))?;
    c.set_value_keepttl(key, Value::String(itoa::Buffer::new().format(v).into()));
    Ok(())
}

pub(super) fn incr(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    incr_generic(c, a[1], 1)
}

pub(super) fn decr(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    incr_generic(c, a[1], -1)
}

pub(super) fn incrby(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    let n = int(a[2])?;
    incr_generic(c, a[1], n)
}

pub(super) fn decrby(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    let n = int(a[2])?;
    if n == i64::MIN {
        return Err(Reject::Err("decrement would overflow".into()).into());
    }
    incr_generic(c, a[1], -n)
}

/// Parses an operand of `INCRBYFLOAT`/`HINCRBYFLOAT` (Redis reads it as a C `long double`).
/// Only integral values are computed: Redis adds in 80-bit `long double`, which this engine
/// does not emulate, so other values are [`ApplyErrorKind::Unsupported`] (Redis propagates
/// these commands as `SET … KEEPTTL` / `HSET`, so an AOF it wrote never holds them).
pub(super) fn long_double_integral(s: &[u8], what: &str) -> R<i64> {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    match strtod(s) {
        Some(v) if v.fract() == 0.0 && v.abs() <= EXACT => Ok(v as i64),
        Some(_) => Err(ApplyErrorKind::Unsupported(format!(
            "{what} with a non-integral or large operand (Redis computes it in 80-bit long double)"
        ))),
        None => {
            let text = std::str::from_utf8(s).unwrap_or("");
            let looks_numeric = !s.is_empty()
                && !s[0].is_ascii_whitespace()
                && text.parse::<f64>().is_ok_and(|v| !v.is_nan())
                && !text.to_ascii_lowercase().contains("nan");
            if looks_numeric {
                Err(ApplyErrorKind::Unsupported(format!(
                    "{what} with an operand outside the double range"
                )))
            } else {
                Err(Reject::NotFloat.into())
            }
        }
    }
}

/// Adds two integral long-double operands and formats the result as Redis does
/// (`%.17Lf` with trailing zeros removed).
pub(super) fn long_double_add(a: i64, b: i64) -> R<Vec<u8>> {
    let sum = a
        .checked_add(b)
        .filter(|s| s.unsigned_abs() <= 1 << 53)
        .ok_or_else(|| ApplyErrorKind::Unsupported("a float increment beyond 2^53".into()))?;
    Ok(itoa::Buffer::new().format(sum).as_bytes().to_vec())
}

pub(super) fn incrbyfloat(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    let cur = match c.string(a[1])? {
        Some(s) => long_double_integral(s, "INCRBYFLOAT")?,
        None => 0,
    };
    let incr = long_double_integral(a[2], "INCRBYFLOAT")?;
    let v = long_double_add(cur, incr)?;
    c.set_value_keepttl(a[1], Value::String(v));
    Ok(())
}

pub(super) fn append(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    let len = match c.string(a[1])? {
        Some(s) => s.len(),
        None => {
            c.check_len(a[1], a[2].len() as u64)?;
            c.set_value(a[1], Value::String(a[2].to_vec()));
            return Ok(());
        }
    };
    c.check_len(a[1], len as u64 + a[2].len() as u64)?;
    if let Some(s) = c.string_mut(a[1])? {
        s.extend_from_slice(a[2]);
    }
    Ok(())
}

/// Growth (bytes) from which [`grow_zeroed`] takes a fresh zeroed allocation.
const LAZY_ZERO_MIN: usize = 64 << 10;

/// Extends `s` with zero bytes to `len` (Redis's `sdsgrowzero`). When the zeros are most of
/// the result (`len` at least twice the current length, and 64 KiB more), the string moves to
/// a fresh zeroed allocation (`calloc`), whose untouched pages the system maps lazily: a
/// sparse bitmap (`SETBIT k 4294967295 1`) or a `SETRANGE` far past the end takes memory only
/// where bytes are written, while every byte still reads as Redis holds it.
pub(super) fn grow_zeroed(s: &mut Vec<u8>, len: usize) {
    if len <= s.len() {
        return;
    }
    if len - s.len() >= LAZY_ZERO_MIN && len / 2 >= s.len() && len > s.capacity() {
        let mut grown = vec![0u8; len];
        grown[..s.len()].copy_from_slice(s);
        *s = grown;
    } else {
        s.resize(len, 0);
    }
}

pub(super) fn setrange(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    let offset = int(a[2])?;
    if offset < 0 {
        return Err(Reject::Err("offset is out of range".into()).into());
    }
    let val = a[3];
    let exists = c.string(a[1])?.is_some();
    if val.is_empty() {
        return Ok(());
    }
    let end = (offset as u64).saturating_add(val.len() as u64);
    c.check_len(a[1], end)?;
    if !exists {
        c.set_value(a[1], Value::String(Vec::new()));
    }
    if let Some(s) = c.string_mut(a[1])? {
        let off = offset as usize;
        grow_zeroed(s, end as usize);
        s[off..off + val.len()].copy_from_slice(val);
    }
    Ok(())
}

pub(super) fn setbit(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    let bad_off = || Reject::Err("bit offset is not an integer or out of range".into());
    let off = string2ll(a[2]).ok_or_else(bad_off)?;
    if off < 0 || (off as u64) >> 3 >= 512 << 20 {
        return Err(bad_off().into());
    }
    let on = match a[3] {
        b"1" => true,
        b"0" => false,
        _ => return Err(Reject::Err("bit is not an integer or out of range".into()).into()),
    };
    let byte = (off as u64 >> 3) as usize;
    let exists = c.string(a[1])?.is_some();
    c.check_len(a[1], byte as u64 + 1)?;
    if !exists {
        c.set_value(a[1], Value::String(Vec::new()));
    }
    if let Some(s) = c.string_mut(a[1])? {
        grow_zeroed(s, byte + 1);
        let bit = 7 - (off & 7) as u32;
        if on {
            s[byte] |= 1 << bit;
        } else {
            s[byte] &= !(1 << bit);
        }
    }
    Ok(())
}

/// `BITOP AND|OR|XOR|NOT dest key [key …]` (`bitopCommand`): a missing key is an empty
/// string, a shorter one reads as zero bytes; an empty result deletes `dest`.
pub(super) fn bitop(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    #[derive(Clone, Copy, PartialEq)]
    enum Op {
        And,
        Or,
        Xor,
        Not,
    }
    let op = if is(a[1], "and") {
        Op::And
    } else if is(a[1], "or") {
        Op::Or
    } else if is(a[1], "xor") {
        Op::Xor
    } else if is(a[1], "not") {
        Op::Not
    } else {
        return Err(Reject::Syntax.into());
    };
    if op == Op::Not && a.len() != 4 {
        return Err(
            Reject::Err("BITOP NOT must be called with a single source key.".into()).into(),
        );
    }
    let mut srcs: Vec<&[u8]> = Vec::with_capacity(a.len() - 3);
    for k in &a[3..] {
        srcs.push(c.string(k)?.map(Vec::as_slice).unwrap_or(&[]));
    }
    let maxlen = srcs.iter().map(|s| s.len()).max().unwrap_or(0);
    if maxlen == 0 {
        c.delete(a[2]);
        return Ok(());
    }
    let mut out = Vec::with_capacity(maxlen);
    for j in 0..maxlen {
        let at = |s: &[u8]| s.get(j).copied().unwrap_or(0);
        let mut byte = at(srcs[0]);
        match op {
            Op::Not => byte = !byte,
            Op::And => srcs[1..].iter().for_each(|s| byte &= at(s)),
            Op::Or => srcs[1..].iter().for_each(|s| byte |= at(s)),
            Op::Xor => srcs[1..].iter().for_each(|s| byte ^= at(s)),
        }
        out.push(byte);
    }
    c.set_value(a[2], Value::String(out));
    Ok(())
}

pub(super) fn mset(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    if a.len().is_multiple_of(2) {
        return Err(Reject::Arity.into());
    }
    for kv in a[1..].chunks(2) {
        c.set_value(kv[0], Value::String(kv[1].to_vec()));
    }
    Ok(())
}

pub(super) fn msetnx(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    if a.len().is_multiple_of(2) {
        return Err(Reject::Arity.into());
    }
    if a[1..].chunks(2).any(|kv| c.exists(kv[0])) {
        return Ok(());
    }
    mset(c, a)
}
