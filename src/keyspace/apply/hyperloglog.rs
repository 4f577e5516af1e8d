//! HyperLogLog commands (`PFADD`, `PFCOUNT`, `PFMERGE`, `PFDEBUG`) over [`crate::keyspace::hll`].
//! `PFCOUNT` is here because Redis propagates it when it refreshes a stale cached cardinality
//! in the value (a write to the string's bytes).

use super::{Ctx, R};
use crate::keyspace::args::is;
use crate::keyspace::hll::{self, Corrupt, REGISTERS, SPARSE_MAX_BYTES};
use crate::keyspace::model::Value;
use crate::keyspace::{ApplyErrorKind, Reject};

impl From<Corrupt> for ApplyErrorKind {
    fn from(_: Corrupt) -> Self {
        Reject::CorruptHyperLogLog.into()
    }
}

/// The HyperLogLog at `key` (`None` if missing); `WRONGTYPE` for another type, and
/// Redis's "not a valid HyperLogLog" for a string that is not one.
fn hll_at<'c>(c: &'c Ctx<'_>, key: &[u8]) -> R<Option<&'c Vec<u8>>> {
    match c.string(key)? {
        Some(s) if !hll::is_hll(s) => Err(Reject::NotHyperLogLog.into()),
        other => Ok(other),
    }
}

/// `PFADD key [element …]` (`pfaddCommand`): creates the key if missing, adds each element,
/// and marks the cached cardinality stale if a register changed.
pub(super) fn pfadd(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    let (mut s, created) = match hll_at(c, a[1])? {
        Some(s) => (s.clone(), false),
        None => (hll::new_sparse(), true),
    };
    let mut changed_registers = false;
    for e in &a[2..] {
        match hll::add(&mut s, e, SPARSE_MAX_BYTES) {
            Ok(true) => changed_registers = true,
            Ok(false) => {}
            // Redis replies with the error but keeps the registers it already raised.
            Err(Corrupt) if changed_registers => {
                return Err(ApplyErrorKind::Unsupported(
                    "PFADD on a corrupt HyperLogLog after raising some registers (Redis keeps \
                     that partial update)"
                        .into(),
                ))
            }
            Err(Corrupt) => return Err(Corrupt.into()),
        }
    }
    if created || changed_registers {
        hll::invalidate_cache(&mut s);
        store(c, a[1], s, created);
    }
    Ok(())
}

/// Replaces the string at `key`, keeping its expiry (Redis changes the value in place).
fn store(c: &mut Ctx<'_>, key: &[u8], s: Vec<u8>, created: bool) {
    if created {
        c.set_value(key, Value::String(s));
    } else if let Ok(Some(v)) = c.string_mut(key) {
        *v = s;
    }
}

/// `PFCOUNT key [key …]` (`pfcountCommand`): with one key whose cached cardinality is stale,
/// computes it and stores it in the value. Several keys only read.
pub(super) fn pfcount(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    if a.len() > 2 {
        let mut max = Box::new([0u8; REGISTERS]);
        for k in &a[1..] {
            if let Some(s) = hll_at(c, k)? {
                hll::merge_into(&mut max, s)?;
            }
        }
        return Ok(());
    }
    let Some(s) = hll_at(c, a[1])? else {
        return Ok(());
    };
    if hll::cached_count(s).is_some() {
        return Ok(());
    }
    let card = hll::count(s)?;
    if let Ok(Some(v)) = c.string_mut(a[1]) {
        hll::set_cached_count(v, card);
    }
    Ok(())
}

/// `PFMERGE dest [source …]` (`pfmergeCommand`): the register-wise maximum of `dest` and the
/// sources, written into `dest` (created if missing; dense if any input is dense).
pub(super) fn pfmerge(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    let mut max = Box::new([0u8; REGISTERS]);
    let mut to_dense = false;
    for k in &a[1..] {
        if let Some(s) = hll_at(c, k)? {
            to_dense |= hll::is_dense(s);
            hll::merge_into(&mut max, s)?;
        }
    }
    let (mut s, created) = match c.string(a[1])? {
        Some(s) => (s.clone(), false),
        None => (hll::new_sparse(), true),
    };
    hll::store_merged(&mut s, &max, to_dense, SPARSE_MAX_BYTES)?;
    store(c, a[1], s, created);
    Ok(())
}

/// `PFDEBUG GETREG|DECODE|ENCODING|TODENSE key` (`pfdebugCommand`): `GETREG` and `TODENSE`
/// turn a sparse value dense (Redis propagates that change); the others only read.
pub(super) fn pfdebug(c: &mut Ctx<'_>, a: &[&[u8]]) -> R<()> {
    let Some(s) = hll_at(c, a[2])? else {
        return Err(Reject::Err("The specified key does not exist".into()).into());
    };
    let sub = a[1];
    let converts = is(sub, "getreg") || is(sub, "todense");
    if !converts && !is(sub, "decode") && !is(sub, "encoding") {
        return Err(Reject::Err(format!(
            "Unknown PFDEBUG subcommand '{}'",
            String::from_utf8_lossy(sub)
        ))
        .into());
    }
    if a.len() != 3 {
        return Err(Reject::Arity.into());
    }
    if !converts || hll::is_dense(s) {
        return Ok(());
    }
    let mut s = s.clone();
    hll::sparse_to_dense(&mut s)?;
    store(c, a[2], s, false);
    Ok(())
}
