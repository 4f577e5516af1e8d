//! Object names in a backup prefix. Every name is fixed-width where it matters, so a plain
//! lexicographic listing is already in restore order, and each name carries what planning
//! needs (no HEAD request per object):
//!
//! ```text
//! sets/<YYYYMMDDTHHMMSSZ>-<set-id>/manifest.json              written last: the commit point
//! sets/<YYYYMMDDTHHMMSSZ>-<set-id>/files/<relative path>.zst  the set's files, zstd
//! segments/<set-id>/<incr-seq:08x>/<start:016x>-<end:016x>.aof.zst
//! segments/<set-id>/chain-break.json                        the chain ended with lost bytes
//! ```
//!
//! A segment holds the bytes `start..end` of INCR file number `incr-seq` of the AOF that set
//! `set-id` captured; segments of one set continue it, possibly across INCR rollovers. Names
//! that do not parse are ignored by [`parse_key`].

use crate::time::{format_compact, parse_compact};

/// Directory of full backup sets.
pub const SETS: &str = "sets/";
/// Directory of incremental AOF segments.
pub const SEGMENTS: &str = "segments/";
/// The set manifest's name inside a set directory.
pub const MANIFEST: &str = "manifest.json";
/// Name of the record `ship` writes when a set's segment chain broke with bytes never shipped.
pub const CHAIN_BREAK: &str = "chain-break.json";
/// Directory of a set's files inside its set directory.
pub const FILES: &str = "files/";

/// A set's identity: the time it was taken and its id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SetName {
    /// When the set was taken, unix seconds (UTC).
    pub time: i64,
    /// The set id: 1–32 characters `[0-9a-z]`.
    pub id: String,
}

impl SetName {
    /// The set directory: `sets/<time>-<id>/`.
    pub fn dir(&self) -> String {
        format!("{SETS}{}-{}/", format_compact(self.time), self.id)
    }

    /// The key of the set's manifest.
    pub fn manifest_key(&self) -> String {
        format!("{}{MANIFEST}", self.dir())
    }

    /// The key of a file of the set (`rel` is a relative path such as
    /// `appendonlydir/appendonly.aof.1.base.rdb`).
    pub fn file_key(&self, rel: &str) -> String {
        format!("{}{FILES}{rel}.zst", self.dir())
    }
}

/// True for a valid set id.
pub fn valid_set_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase())
}

/// A new id for a set named at second `t` (unix seconds): 16 hex digits, the first 5 an
/// ordering prefix, the rest a hash of the clock, the pid and a counter. Sets named in the same
/// second sort, by name, in the order they were taken: the prefix is the microsecond within
/// `t` when the clock is still in that second, 999999 when it has moved past it (the set was
/// taken after everything else taken within `t`: e.g. a slow snapshot between choosing `t` and
/// naming the set), and always above the prefix of `newest` (the newest set in the store) when
/// that was named in the same second.
pub fn next_set_id(t: i64, newest: Option<&SetName>) -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let clock = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let mut prefix = match (clock.as_secs() as i64).cmp(&t) {
        std::cmp::Ordering::Equal => clock.subsec_micros(),
        std::cmp::Ordering::Greater => 999_999,
        std::cmp::Ordering::Less => 0,
    };
    if let Some(n) = newest.filter(|n| n.time == t) {
        if let Some(p) = n.id.get(..5).and_then(|h| u32::from_str_radix(h, 16).ok()) {
            prefix = prefix.max(p.saturating_add(1));
        }
    }
    let prefix = prefix.min(0xF_FFFF);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(clock.as_nanos());
    h.write_u32(std::process::id());
    h.write_u64(N.fetch_add(1, Ordering::Relaxed));
    format!("{prefix:05x}{:011x}", h.finish() >> 20)
}

/// Longest accepted name component, in bytes (the limit of common file systems).
pub const NAME_MAX: usize = 255;

/// Longest accepted relative path (components joined by `/`), in bytes.
pub const PATH_MAX: usize = 4096;

/// A name read from a backup store (a set manifest field, an object key) that is refused
/// before any file system use: it could leave the directory it is meant for, or it is not
/// what the layout allows there. The backup is damaged or was tampered with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {} {reason}", escape_name(.value))]
pub struct UnsafeName {
    /// Which field held the name (`aof.dir`, `files[2].path`, …).
    pub field: String,
    /// The name as read.
    pub value: String,
    /// Why it is refused.
    pub reason: String,
}

/// `s` quoted for messages, control characters escaped, long names shortened (with their
/// length) so a message stays one readable line.
pub fn escape_name(s: &str) -> String {
    const SHOWN: usize = 64;
    let q = format!("{s:?}");
    if s.len() <= SHOWN {
        return q;
    }
    let mut cut = SHOWN;
    while !s.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{:?}… ({} bytes)", &s[..cut], s.len())
}

/// Why `name` is not one safe relative path component, or `None` when it is: non-empty, not
/// `.` or `..`, at most [`NAME_MAX`] bytes, no `/` or `\`, no NUL or other control character,
/// and no percent-encoded byte (`%` followed by two hex digits: names from Redis never hold
/// one, and a layer that decodes them could turn `%2e%2e%2f` into `../`).
pub fn name_problem(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("is empty");
    }
    if name == "." || name == ".." {
        return Some("is a relative directory reference");
    }
    if name.len() > NAME_MAX {
        return Some("is longer than 255 bytes");
    }
    if name.starts_with('/') {
        return Some("is an absolute path");
    }
    if name.contains('/') {
        return Some("holds a path separator '/'");
    }
    if name.contains('\\') {
        return Some("holds a backslash");
    }
    if name.chars().any(char::is_control) {
        return Some("holds a NUL or control character");
    }
    let b = name.as_bytes();
    if b.windows(3)
        .any(|w| w[0] == b'%' && w[1].is_ascii_hexdigit() && w[2].is_ascii_hexdigit())
    {
        return Some("holds a percent-encoded byte");
    }
    None
}

/// Why `path` is not a safe relative path, or `None`: one or more components each passing
/// [`name_problem`], joined by single `/`, not absolute, at most [`PATH_MAX`] bytes.
pub fn path_problem(path: &str) -> Option<String> {
    if path.starts_with('/') {
        return Some("is an absolute path".into());
    }
    if path.len() > PATH_MAX {
        return Some("is longer than 4096 bytes".into());
    }
    if path.split('/').count() == 1 {
        return name_problem(path).map(str::to_string);
    }
    path.split('/').find_map(|c| {
        name_problem(c).map(|why| format!("has a component {} that {why}", escape_name(c)))
    })
}

/// Checks that `value` (read from field `field` of something in a store) is one safe name
/// component ([`name_problem`]); returns it.
pub fn safe_name<'a>(field: &str, value: &'a str) -> Result<&'a str, UnsafeName> {
    match name_problem(value) {
        None => Ok(value),
        Some(why) => Err(UnsafeName {
            field: field.to_string(),
            value: value.to_string(),
            reason: format!("is not a safe file name: it {why}"),
        }),
    }
}

/// Checks that `value` is a safe relative path ([`path_problem`]); returns it.
pub fn safe_path<'a>(field: &str, value: &'a str) -> Result<&'a str, UnsafeName> {
    match path_problem(value) {
        None => Ok(value),
        Some(why) => Err(UnsafeName {
            field: field.to_string(),
            value: value.to_string(),
            reason: format!("is not a safe relative path: it {why}"),
        }),
    }
}

/// An incremental AOF segment: bytes `start..end` of INCR file `incr_seq` following set `set_id`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SegmentName {
    /// The set this segment continues.
    pub set_id: String,
    /// The INCR file's sequence number (from the AOF manifest).
    pub incr_seq: u64,
    /// First byte offset in the INCR file.
    pub start: u64,
    /// One past the last byte offset.
    pub end: u64,
}

impl SegmentName {
    /// The segment's key.
    pub fn key(&self) -> String {
        format!(
            "{SEGMENTS}{}/{:08x}/{:016x}-{:016x}.aof.zst",
            self.set_id, self.incr_seq, self.start, self.end
        )
    }

    /// The key of a set's chain-break record ([`CHAIN_BREAK`]).
    pub fn chain_break_key(set_id: &str) -> String {
        format!("{SEGMENTS}{set_id}/{CHAIN_BREAK}")
    }

    /// The prefix of every segment of a set.
    pub fn set_prefix(set_id: &str) -> String {
        format!("{SEGMENTS}{set_id}/")
    }
}

/// What a key in a backup prefix is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Parsed {
    /// A set's manifest.
    SetManifest(SetName),
    /// A file of a set (the relative path, without `.zst`).
    SetFile(SetName, String),
    /// An incremental segment.
    Segment(SegmentName),
    /// A set's chain-break record (the set id).
    ChainBreak(String),
}

fn hex_fixed(s: &str, width: usize) -> Option<u64> {
    if s.len() != width
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    u64::from_str_radix(s, 16).ok()
}

/// Parses a key relative to the backup prefix; `None` for names this layout does not define.
pub fn parse_key(key: &str) -> Option<Parsed> {
    if let Some(rest) = key.strip_prefix(SETS) {
        let (dir, tail) = rest.split_once('/')?;
        let (ts, id) = dir.split_once('-')?;
        let time = parse_compact(ts)?;
        if !valid_set_id(id) {
            return None;
        }
        let set = SetName {
            time,
            id: id.to_string(),
        };
        if tail == MANIFEST {
            return Some(Parsed::SetManifest(set));
        }
        let rel = tail.strip_prefix(FILES)?.strip_suffix(".zst")?;
        if path_problem(rel).is_some() {
            return None;
        }
        return Some(Parsed::SetFile(set, rel.to_string()));
    }
    if let Some(rest) = key.strip_prefix(SEGMENTS) {
        let mut parts = rest.split('/');
        let set_id = parts.next()?;
        let seq = parts.next()?;
        if seq == CHAIN_BREAK && parts.next().is_none() && valid_set_id(set_id) {
            return Some(Parsed::ChainBreak(set_id.to_string()));
        }
        let file = parts.next()?;
        if parts.next().is_some() || !valid_set_id(set_id) {
            return None;
        }
        let incr_seq = hex_fixed(seq, 8)?;
        let range = file.strip_suffix(".aof.zst")?;
        let (a, b) = range.split_once('-')?;
        let start = hex_fixed(a, 16)?;
        let end = hex_fixed(b, 16)?;
        if end <= start {
            return None;
        }
        return Some(Parsed::Segment(SegmentName {
            set_id: set_id.to_string(),
            incr_seq,
            start,
            end,
        }));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_names_round_trip() {
        let s = SetName {
            time: 1_795_365_425,
            id: "00ab12cd34ef5678".into(),
        };
        assert_eq!(
            s.manifest_key(),
            "sets/20261122T163705Z-00ab12cd34ef5678/manifest.json"
        );
        assert_eq!(
            parse_key(&s.manifest_key()),
            Some(Parsed::SetManifest(s.clone()))
        );
        let k = s.file_key("appendonlydir/appendonly.aof.1.base.rdb");
        assert_eq!(
            k,
            "sets/20261122T163705Z-00ab12cd34ef5678/files/appendonlydir/appendonly.aof.1.base.rdb.zst"
        );
        assert_eq!(
            parse_key(&k),
            Some(Parsed::SetFile(
                s,
                "appendonlydir/appendonly.aof.1.base.rdb".into()
            ))
        );
    }

    #[test]
    fn segment_names_round_trip_and_sort() {
        let a = SegmentName {
            set_id: "x1".into(),
            incr_seq: 2,
            start: 0,
            end: 100,
        };
        let b = SegmentName {
            set_id: "x1".into(),
            incr_seq: 2,
            start: 100,
            end: 0x1_0000_0000,
        };
        let c = SegmentName {
            set_id: "x1".into(),
            incr_seq: 10,
            start: 0,
            end: 5,
        };
        assert_eq!(
            a.key(),
            "segments/x1/00000002/0000000000000000-0000000000000064.aof.zst"
        );
        for s in [&a, &b, &c] {
            assert_eq!(parse_key(&s.key()), Some(Parsed::Segment(s.clone())));
        }
        assert_eq!(
            SegmentName::chain_break_key("x1"),
            "segments/x1/chain-break.json"
        );
        assert_eq!(
            parse_key("segments/x1/chain-break.json"),
            Some(Parsed::ChainBreak("x1".into()))
        );
        assert_eq!(parse_key("segments/X!/chain-break.json"), None);
        // Lexicographic key order is (seq, start) order, also past 9 → 10 and 2^32.
        let mut keys = vec![c.key(), b.key(), a.key()];
        keys.sort();
        assert_eq!(keys, vec![a.key(), b.key(), c.key()]);
    }

    #[test]
    fn set_names_sort_by_time() {
        let old = SetName {
            time: 999_999_999,
            id: "zz".into(),
        };
        let new = SetName {
            time: 1_000_000_000,
            id: "aa".into(),
        };
        assert!(old.dir() < new.dir());
    }

    #[test]
    fn foreign_names_are_ignored() {
        for k in [
            "sets/",
            "sets/garbage/manifest.json",
            "sets/20261122T163705Z-UPPER/manifest.json",
            "sets/20261122T163705Z-ab/other.json",
            "sets/20261122T163705Z-ab/files/x",
            "sets/20261122T163705Z-ab/files/../x.zst",
            "sets/20261322T163705Z-ab/manifest.json",
            "segments/ab/2/0-1.aof.zst",
            "segments/ab/00000002/0000000000000001-0000000000000001.aof.zst",
            "segments/ab/00000002/000000000000000G-0000000000000001.aof.zst",
            "segments/ab/00000002/0000000000000000-0000000000000001.aof",
            "readme.txt",
        ] {
            assert_eq!(parse_key(k), None, "{k}");
        }
    }

    #[test]
    fn unsafe_names_are_refused() {
        for ok in [
            "appendonlydir",
            "dump.rdb",
            "appendonly.aof.1.incr.aof",
            "100%",
            "a%2",
            "é.rdb",
            "..x",
            "a..",
        ] {
            assert_eq!(name_problem(ok), None, "{ok}");
        }
        let long = "a".repeat(256);
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "/abs",
            "a\\b",
            "a\0b",
            "a\nb",
            "a\u{7f}",
            "%2e%2e%2fx",
            "x%2F",
            "%41",
            &long,
        ] {
            assert!(name_problem(bad).is_some(), "{bad:?}");
        }
        assert_eq!(name_problem(&"a".repeat(255)), None);
        for ok in ["appendonlydir/appendonly.aof.1.base.rdb", "dump.rdb"] {
            assert_eq!(path_problem(ok), None, "{ok}");
        }
        for bad in [
            "../../x",
            "a/../b",
            "a/./b",
            "/abs/path",
            "a//b",
            "a/",
            "",
            "a\\b/c",
            "d/%2e%2e",
        ] {
            assert!(path_problem(bad).is_some(), "{bad:?}");
        }
        assert!(path_problem(&format!("{}/x", "a".repeat(300))).is_some());
        assert!(path_problem(&vec!["a"; 3000].join("/")).is_some());
        let e = safe_name("aof.dir", "../../x").unwrap_err();
        assert_eq!(
            e.to_string(),
            "aof.dir \"../../x\" is not a safe file name: it holds a path separator '/'"
        );
        let e = safe_path("files[0].path", "a\0b/c").unwrap_err();
        assert!(e.to_string().contains("\"a\\0b/c\""), "{e}");
        let e = safe_name("rdb.name", &"x".repeat(300)).unwrap_err();
        assert!(e.to_string().contains("… (300 bytes)"), "{e}");
    }

    fn now_secs() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    }

    #[test]
    fn set_ids() {
        let t = now_secs();
        let id = next_set_id(t, None);
        assert!(valid_set_id(&id), "{id}");
        assert_eq!(id.len(), 16);
        assert_ne!(id, next_set_id(t, None));
        assert!(!valid_set_id(""));
        assert!(!valid_set_id(&"a".repeat(33)));
    }

    /// A set named for a second the clock has already left sorts after every set taken
    /// within that second (backup_e2e once saw `--at latest` pick the older of two sets
    /// named in the same second: the second set's prefix came from the next second).
    #[test]
    fn set_named_for_a_past_second_sorts_after_those_taken_in_it() {
        let t = now_secs() - 1;
        for taken_at in ["00000", "633dc", "f423f"] {
            let newest = SetName {
                time: t,
                id: format!("{taken_at}159ae006391"),
            };
            let next = SetName {
                time: t,
                id: next_set_id(t, Some(&newest)),
            };
            assert!(next > newest, "{next:?} sorts before {newest:?}");
        }
        // Even above the largest microsecond, and for a set of the same second just taken.
        let newest = SetName {
            time: t,
            id: "fffff000000000000"[..16].to_string(),
        };
        let next = next_set_id(t, Some(&newest));
        assert!(next.starts_with("fffff"), "{next}");
        let now = now_secs() + 3600;
        let newest = SetName {
            time: now,
            id: next_set_id(now, None),
        };
        let next = SetName {
            time: now,
            id: next_set_id(now, Some(&newest)),
        };
        assert!(next > newest, "{next:?} sorts before {newest:?}");
    }
}
