//! Element counts: from headers without decoding values
//! ([`crate::rdb::encoding::header::header_count`]), and by decoding the values whose
//! header does not hold the count (a ziplist or listpack with 65535+ elements, streams,
//! modules).
//!
//! "Elements" are what Redis's length commands return: `STRLEN` for strings, `LLEN`,
//! `SCARD`, `ZCARD`, `HLEN`, `XLEN`, and the number of set indices of an array.

use crate::error::Result;
use crate::rdb::encoding::Elem;
use crate::rdb::model::{StreamId, ValueType};
use crate::rdb::value::ArrayItem;
use crate::rdb::{DecodeOptions, Scratch, ValueHandle, ValueVisitor};

/// Counts elements by decoding (the fallback).
#[derive(Default)]
struct Counter {
    n: u64,
}

impl ValueVisitor for Counter {
    fn string(&mut self, value: Elem<'_>) -> Result<()> {
        let mut b = itoa::Buffer::new();
        self.n = value.as_bytes(&mut b).len() as u64;
        Ok(())
    }
    fn list_item(&mut self, _: Elem<'_>) -> Result<()> {
        self.n += 1;
        Ok(())
    }
    fn set_member(&mut self, _: Elem<'_>) -> Result<()> {
        self.n += 1;
        Ok(())
    }
    fn zset_member(&mut self, _: Elem<'_>, _: f64) -> Result<()> {
        self.n += 1;
        Ok(())
    }
    fn hash_field(&mut self, _: Elem<'_>, _: Elem<'_>, _: Option<u64>) -> Result<()> {
        self.n += 1;
        Ok(())
    }
    fn stream_entry(&mut self, _: StreamId, _: &[Elem<'_>], _: &[Elem<'_>]) -> Result<()> {
        self.n += 1;
        Ok(())
    }
    fn array_item(&mut self, _: u64, _: ArrayItem<'_>) -> Result<()> {
        self.n += 1;
        Ok(())
    }
}

/// Counts by decoding the whole value.
pub fn count_by_decoding(v: &ValueHandle<'_>, scratch: &mut Scratch) -> Result<u64> {
    let mut c = Counter::default();
    v.visit(&mut c, scratch, DecodeOptions { deep: false })?;
    Ok(c.n)
}

/// The element count of a value, from its headers when they hold it (see the module docs).
pub fn element_count(v: &ValueHandle<'_>, scratch: &mut Scratch, buf: &mut Vec<u8>) -> Result<u64> {
    match fast_count(v, buf) {
        Some(n) => Ok(n),
        None if v.value_type() == ValueType::Module => Ok(0),
        None => count_by_decoding(v, scratch),
    }
}

/// The count from headers only, `None` when it needs decoding.
pub fn fast_count(v: &ValueHandle<'_>, buf: &mut Vec<u8>) -> Option<u64> {
    crate::rdb::encoding::header::header_count(
        v.ctx().dialect,
        v.type_byte(),
        v.raw(),
        v.offset(),
        buf,
    )
}
