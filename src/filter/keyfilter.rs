//! Which keys a command works on: database, key globs, type, serialized size and expiry.
//!
//! Shared by `dump`, `stats`, `diff`, the RDB writer's `filter` and the AOF filter, so that
//! `--db`, `--key`, `--exclude-key`, `--type`, `--min-size` and `--expired` mean the same
//! thing everywhere.

use crate::error::{Error, Result};
use crate::filter::glob::Glob;
use crate::rdb::{Entry, ValueType};

/// Which keys pass with respect to their expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExpiryFilter {
    /// Every key.
    #[default]
    Any,
    /// Only keys whose expiry is at or before "now" (what Redis would drop on load).
    Expired,
    /// Only keys with no expiry or an expiry after "now".
    NotExpired,
    /// Only keys that have an expiry (past or future).
    Volatile,
    /// Only keys without an expiry.
    Persistent,
}

/// A key filter. The default passes everything. A key passes when every configured
/// criterion holds: its db is listed (if `dbs` is non-empty), it matches at least one
/// `include` glob (if any) and no `exclude` glob, its type is listed (if `types` is
/// non-empty), its serialized size is at least `min_size`, and its expiry passes `expiry`.
#[derive(Debug, Clone, Default)]
pub struct KeyFilter {
    /// Databases to keep (empty: all).
    pub dbs: Vec<u64>,
    /// Key globs, any of which must match (empty: all keys).
    pub include: Vec<Glob>,
    /// Key globs none of which may match.
    pub exclude: Vec<Glob>,
    /// Types to keep (empty: all).
    pub types: Vec<ValueType>,
    /// Minimum serialized value size in bytes (the encoded value after the key).
    pub min_size: Option<u64>,
    /// Expiry criterion.
    pub expiry: ExpiryFilter,
    /// "Now" in unix ms for [`ExpiryFilter`]; set from the system clock by [`KeyFilter::new`].
    pub now_ms: i64,
}

/// The current time in unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Parses a type name as used on the command line and in JSON (`string`, `list`, `set`,
/// `zset`, `hash`, `stream`, `module`, `array`).
pub fn parse_type(name: &str) -> Result<ValueType> {
    let n = name.to_ascii_lowercase();
    ValueType::ALL
        .iter()
        .copied()
        .find(|t| t.name() == n)
        .ok_or_else(|| {
            Error::usage(format!(
                "unknown type {name:?} (expected one of string, list, set, zset, hash, stream, module, array)"
            ))
        })
}

impl KeyFilter {
    /// A filter that passes every key, with "now" from the system clock.
    pub fn new() -> KeyFilter {
        KeyFilter {
            now_ms: now_ms(),
            ..Default::default()
        }
    }

    /// True when the filter passes every key (callers can skip filtering work).
    pub fn is_pass_all(&self) -> bool {
        self.dbs.is_empty()
            && self.include.iter().all(|g| g.matches_all())
            && self.exclude.is_empty()
            && self.types.is_empty()
            && self.min_size.is_none()
            && self.expiry == ExpiryFilter::Any
    }

    /// True if keys of database `db` can pass (use it to skip whole databases).
    pub fn matches_db(&self, db: u64) -> bool {
        self.dbs.is_empty() || self.dbs.contains(&db)
    }

    /// True if the key name passes the include and exclude globs.
    pub fn matches_key(&self, key: &[u8]) -> bool {
        (self.include.is_empty() || self.include.iter().any(|g| g.matches(key)))
            && !self.exclude.iter().any(|g| g.matches(key))
    }

    /// True if the type passes.
    pub fn matches_type(&self, ty: ValueType) -> bool {
        self.types.is_empty() || self.types.contains(&ty)
    }

    /// True if an absolute expiry (unix ms, `None` = persistent) passes.
    pub fn matches_expiry(&self, expire_ms: Option<i64>) -> bool {
        match self.expiry {
            ExpiryFilter::Any => true,
            ExpiryFilter::Expired => expire_ms.is_some_and(|t| t <= self.now_ms),
            ExpiryFilter::NotExpired => expire_ms.is_none_or(|t| t > self.now_ms),
            ExpiryFilter::Volatile => expire_ms.is_some(),
            ExpiryFilter::Persistent => expire_ms.is_none(),
        }
    }

    /// True if a key with these properties passes. `ty` and `size` may be `None` when the
    /// caller does not know them (an AOF command stream): those criteria are then ignored.
    pub fn matches(
        &self,
        db: u64,
        key: &[u8],
        ty: Option<ValueType>,
        size: Option<u64>,
        expire_ms: Option<i64>,
    ) -> bool {
        self.matches_db(db)
            && ty.is_none_or(|t| self.matches_type(t))
            && match (self.min_size, size) {
                (Some(min), Some(s)) => s >= min,
                _ => true,
            }
            && self.matches_expiry(expire_ms)
            && self.matches_key(key)
    }

    /// True if an RDB entry passes.
    pub fn matches_entry(&self, e: &Entry<'_>) -> bool {
        self.matches(
            e.db,
            &e.key,
            Some(e.value.value_type()),
            Some(e.value.len() as u64),
            e.expire_ms,
        )
    }

    /// True if the filter uses criteria an AOF command stream cannot evaluate per key
    /// (type, size, expiry), so callers can refuse or warn.
    pub fn needs_value_info(&self) -> bool {
        !self.types.is_empty() || self.min_size.is_some() || self.expiry != ExpiryFilter::Any
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combined() {
        let mut f = KeyFilter::new();
        assert!(f.is_pass_all());
        f.dbs = vec![0, 3];
        f.include = vec![Glob::new(b"user:*"), Glob::new(b"s:?")];
        f.exclude = vec![Glob::new(b"user:4*")];
        assert!(f.matches(0, b"user:1", None, None, None));
        assert!(f.matches(3, b"s:1", None, None, None));
        assert!(!f.matches(1, b"user:1", None, None, None));
        assert!(!f.matches(0, b"user:42", None, None, None));
        assert!(!f.matches(0, b"s:12", None, None, None));
        f.types = vec![ValueType::Hash];
        assert!(!f.matches(0, b"user:1", Some(ValueType::String), None, None));
        assert!(f.matches(0, b"user:1", Some(ValueType::Hash), None, None));
        f.min_size = Some(10);
        assert!(!f.matches(0, b"user:1", Some(ValueType::Hash), Some(9), None));
        assert!(f.matches(0, b"user:1", Some(ValueType::Hash), Some(10), None));
        f.now_ms = 1000;
        f.expiry = ExpiryFilter::Expired;
        assert!(!f.matches(0, b"user:1", None, None, None));
        assert!(f.matches(0, b"user:1", None, None, Some(1000)));
        f.expiry = ExpiryFilter::NotExpired;
        assert!(f.matches(0, b"user:1", None, None, None));
        assert!(f.matches(0, b"user:1", None, None, Some(1001)));
        assert!(!f.matches(0, b"user:1", None, None, Some(999)));
    }

    #[test]
    fn type_names() {
        assert_eq!(parse_type("ZSet").unwrap(), ValueType::Zset);
        assert!(parse_type("bogus").is_err());
    }
}
