//! `BITFIELD key [GET type offset | SET type offset value | INCRBY type offset increment |
//! OVERFLOW WRAP|SAT|FAIL] …` (`bitfieldGeneric` in Redis 7.0's `bitops.c`). Every
//! subcommand is parsed and checked before anything changes; with a `SET` or `INCRBY` the
//! string is created or zero-extended up to the farthest bit written (even if every write
//! then fails on `OVERFLOW FAIL`), and the writes run in order.

use super::{Ctx, R};
use crate::keyspace::args::{int, is, string2ll};
use crate::keyspace::model::Value;
use crate::keyspace::Reject;

/// What `OVERFLOW` selected for the subcommands after it.
#[derive(Clone, Copy, PartialEq)]
enum Overflow {
    Wrap,
    Sat,
    Fail,
}

/// One `SET` or `INCRBY` (a `GET` changes nothing and is only checked).
struct Write {
    incr: bool,
    signed: bool,
    bits: u32,
    offset: u64,
    value: i64,
    overflow: Overflow,
}

/// The `iN` / `uN` type argument (`getBitfieldTypeFromArgument`): signedness and width.
fn bit_type(a: &[u8]) -> R<(bool, u32)> {
    let bad = || {
        Reject::Err(
            "Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported \
             but i64 is."
                .into(),
        )
    };
    let signed = match a.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(bad().into()),
    };
    // Redis reads the width as a C string.
    let digits = &a[1..];
    let digits = &digits[..digits.iter().position(|&b| b == 0).unwrap_or(digits.len())];
    match string2ll(digits) {
        Some(n) if n >= 1 && n <= if signed { 64 } else { 63 } => Ok((signed, n as u32)),
        _ => Err(bad().into()),
    }
}

/// The offset argument (`getBitOffsetFromArgument` with `#` allowed): `#N` counts in units
/// of the type's width.
fn bit_offset(a: &[u8], bits: u32) -> R<u64> {
    let bad = || Reject::Err("bit offset is not an integer or out of range".into());
    let (hash, digits) = match a.split_first() {
        Some((b'#', rest)) => (true, rest),
        _ => (false, a),
    };
    let mut off = string2ll(digits).ok_or_else(bad)?;
    if hash {
        off = off.wrapping_mul(i64::from(bits));
    }
    if off < 0 || (off as u64) >> 3 >= 512 << 20 {
        return Err(bad().into());
    }
    Ok(off as u64)
}

/// Bits `offset .. offset + bits` of `s`, most significant first (`getUnsignedBitfield`).
fn get_bits(s: &[u8], offset: u64, bits: u32) -> u64 {
    let mut v = 0u64;
    for j in 0..u64::from(bits) {
        let o = offset + j;
        let byte = s.get((o >> 3) as usize).copied().unwrap_or(0);
        v = (v << 1) | u64::from((byte >> (7 - (o & 7))) & 1);
    }
    v
}

/// Writes the low `bits` bits of `v` at `offset` (`setUnsignedBitfield`).
fn put_bits(s: &mut [u8], offset: u64, bits: u32, v: u64) {
    for j in 0..u64::from(bits) {
        let o = offset + j;
        let bit = (v >> (u64::from(bits) - 1 - j)) & 1;
        if let Some(byte) = s.get_mut((o >> 3) as usize) {
            let shift = 7 - (o & 7);
            *byte = (*byte & !(1 << shift)) | ((bit as u8) << shift);
        }
    }
}

/// `checkUnsignedBitfieldOverflow`: whether `value + incr` leaves `0 ..= 2^bits - 1`, and
/// the value to store instead under `WRAP` or `SAT` (`None` under `FAIL`).
fn unsigned_overflow(value: u64, incr: i64, bits: u32, ow: Overflow) -> (bool, Option<u64>) {
    let max = (1u64 << bits) - 1;
    let max_incr = max.wrapping_sub(value) as i64;
    let min_incr = value.wrapping_neg() as i64;
    let wrap = || value.wrapping_add(incr as u64) & max;
    if value > max || (incr > 0 && incr > max_incr) {
        match ow {
            Overflow::Wrap => (true, Some(wrap())),
            Overflow::Sat => (true, Some(max)),
            Overflow::Fail => (true, None),
        }
    } else if incr < 0 && incr < min_incr {
        match ow {
            Overflow::Wrap => (true, Some(wrap())),
            Overflow::Sat => (true, Some(0)),
            Overflow::Fail => (true, None),
        }
    } else {
        (false, None)
    }
}

/// `checkSignedBitfieldOverflow`: the signed counterpart.
fn signed_overflow(value: i64, incr: i64, bits: u32, ow: Overflow) -> (bool, Option<i64>) {
    let max = if bits == 64 {
        i64::MAX
    } else {
        (1i64 << (bits - 1)) - 1
    };
    let min = -max - 1;
    let max_incr = (max as u64).wrapping_sub(value as u64) as i64;
    let min_incr = min.wrapping_sub(value);
    let wrap = || {
        let mut c = (value as u64).wrapping_add(incr as u64);
        if bits < 64 {
            let mask = u64::MAX << bits;
            if c & (1u64 << (bits - 1)) != 0 {
                c |= mask;
            } else {
                c &= !mask;
            }
        }
        c as i64
    };
    if value > max || (bits != 64 && incr > max_incr) || (value >= 0 && incr > 0 && incr > max_incr)
    {
        match ow {
            Overflow::Wrap => (true, Some(wrap())),
            Overflow::Sat => (true, Some(max)),
            Overflow::Fail => (true, None),
        }
    } else if value < min
        || (bits != 64 && incr < min_incr)
        || (value < 0 && incr < 0 && incr < min_incr)
    {
        match ow {
            Overflow::Wrap => (true, Some(wrap())),
            Overflow::Sat => (true, Some(min)),
            Overflow::Fail => (true, None),
        }
    } else {
        (false, None)
    }
}

/// The sign-extended signed field (`getSignedBitfield`).
fn get_signed(s: &[u8], offset: u64, bits: u32) -> i64 {
    let mut v = get_bits(s, offset, bits) as i64;
    if bits < 64 && v & (1i64 << (bits - 1)) != 0 {
        v |= -1i64 << bits;
    }
    v
}

/// Applies one write to the string.
fn apply(s: &mut [u8], w: &Write) {
    if w.signed {
        let old = get_signed(s, w.offset, w.bits);
        let (over, limit) = if w.incr {
            signed_overflow(old, w.value, w.bits, w.overflow)
        } else {
            signed_overflow(w.value, 0, w.bits, w.overflow)
        };
        let new = match (over, limit) {
            (true, Some(l)) => l,
            (true, None) => return,
            (false, _) if w.incr => old.wrapping_add(w.value),
            (false, _) => w.value,
        };
        put_bits(s, w.offset, w.bits, new as u64);
    } else {
        let old = get_bits(s, w.offset, w.bits);
        let start = if w.incr { old } else { w.value as u64 };
        let incr = if w.incr { w.value } else { 0 };
        let (over, limit) = unsigned_overflow(start, incr, w.bits, w.overflow);
        let new = match (over, limit) {
            (true, Some(l)) => l,
            (true, None) => return,
            (false, _) => start.wrapping_add(incr as u64),
        };
        put_bits(s, w.offset, w.bits, new);
    }
}

pub(super) fn bitfield(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    let mut writes = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut highest = 0u64;
    let mut j = 2;
    while j < a.len() {
        let rest = a.len() - j - 1;
        let sub = a[j];
        let incr = if is(sub, "get") && rest >= 2 {
            None
        } else if is(sub, "set") && rest >= 3 {
            Some(false)
        } else if is(sub, "incrby") && rest >= 3 {
            Some(true)
        } else if is(sub, "overflow") && rest >= 1 {
            let t = a[j + 1];
            overflow = if is(t, "wrap") {
                Overflow::Wrap
            } else if is(t, "sat") {
                Overflow::Sat
            } else if is(t, "fail") {
                Overflow::Fail
            } else {
                return Err(Reject::Err("Invalid OVERFLOW type specified".into()).into());
            };
            j += 2;
            continue;
        } else {
            return Err(Reject::Syntax.into());
        };
        let (signed, bits) = bit_type(a[j + 1])?;
        let offset = bit_offset(a[j + 2], bits)?;
        if let Some(incr) = incr {
            highest = highest.max(offset + u64::from(bits) - 1);
            writes.push(Write {
                incr,
                signed,
                bits,
                offset,
                value: int(a[j + 3])?,
                overflow,
            });
            j += 4;
        } else {
            j += 3;
        }
    }
    let exists = c.string(a[1])?.is_some();
    if writes.is_empty() {
        return Ok(());
    }
    let len = (highest >> 3) as usize + 1;
    c.check_len(a[1], len as u64)?;
    if !exists {
        c.set_value(a[1], Value::String(Vec::new()));
    }
    if let Some(s) = c.string_mut(a[1])? {
        super::strings::grow_zeroed(s, len);
        for w in &writes {
            apply(s, w);
        }
    }
    Ok(())
}
