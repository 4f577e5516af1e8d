//! What happened when, from an AOF's `#TS:` annotations: per-second (or per-bucket)
//! activity with flags for dangerous commands ([`build_timeline`]), and every occurrence of
//! a key or a command with its time, file and offset ([`find_occurrences`]).
//!
//! Times are the `#TS:` stamps Redis writes (7.0+ with `aof-timestamp-enabled yes`): a
//! command belongs to the last stamp before it, carried across the files of a set. Commands
//! before any stamp (an AOF written without timestamps, or a RESP BASE's own commands before
//! its stamp) are counted apart as "unstamped".
//!
//! Keys are found from each command's key specification ([`crate::aof::keys`]); the sizes used to flag big key deletes are estimates: the RDB
//! BASE's encoded value size plus the argument bytes written to the key since (reset by a
//! whole-value write such as `SET`).
//!
//! Memory does not grow with the AOF's length: a bucket's distinct-key set lives only while
//! the stream is in it (a later stamp going back into a closed bucket counts on into it and
//! marks it [`Bucket::revisited`]), and the size estimates are kept for at most
//! [`SIZE_ENTRIES`] keys, forgetting the smallest first and never a key at or above
//! [`TimelineOptions::big_key_bytes`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::ops::ControlFlow;

use crate::aof::check::{scan_set, FileReport, ScanOptions, SetVisitor, Verdict};
use crate::aof::keys::{key_positions, KeysError};
use crate::aof::reader::{AofItem, Command};
use crate::aof::set::AofSet;
use crate::error::{Error, Result};
use crate::rdb::{RdbReader, RdbReport, Record};

/// Options of [`build_timeline`].
#[derive(Debug, Clone, Copy)]
pub struct TimelineOptions {
    /// Bucket width in seconds (1 = per second).
    pub bucket_secs: i64,
    /// Flag a bucket whose `DEL`/`UNLINK` commands delete at least this many keys.
    pub del_burst_keys: u64,
    /// Flag the delete of a key estimated at least this big (bytes).
    pub big_key_bytes: u64,
}

impl Default for TimelineOptions {
    fn default() -> Self {
        TimelineOptions {
            bucket_secs: 1,
            del_burst_keys: 1000,
            big_key_bytes: 1 << 20,
        }
    }
}

/// Parses a bucket width: `1s`, `10s`, `1m`, `5m`, `1h`, `1d`, or plain seconds.
pub fn parse_bucket(s: &str) -> Result<i64> {
    let t = s.trim();
    let (num, mul) = match t.as_bytes().last() {
        Some(b's') => (&t[..t.len() - 1], 1),
        Some(b'm') => (&t[..t.len() - 1], 60),
        Some(b'h') => (&t[..t.len() - 1], 3600),
        Some(b'd') => (&t[..t.len() - 1], 86_400),
        _ => (t, 1),
    };
    match num.parse::<i64>() {
        Ok(n) if n > 0 && n.checked_mul(mul).is_some() => Ok(n * mul),
        _ => Err(Error::usage(format!(
            "invalid bucket '{s}': expected e.g. 1s, 10s, 1m, 1h, 1d"
        ))),
    }
}

/// A dangerous event in a bucket.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "flag", rename_all = "kebab-case")]
pub enum Flag {
    /// `FLUSHALL` commands.
    Flushall {
        /// How many.
        count: u64,
    },
    /// `FLUSHDB` commands.
    Flushdb {
        /// How many.
        count: u64,
    },
    /// `SWAPDB` commands.
    Swapdb {
        /// How many.
        count: u64,
    },
    /// Many keys deleted by `DEL`/`UNLINK` in the bucket.
    DelBurst {
        /// Keys named by `DEL`/`UNLINK` commands.
        keys: u64,
    },
    /// A key estimated to be big was deleted (`DEL`/`UNLINK`).
    BigKeyDelete {
        /// Its database.
        db: u64,
        /// The key (lossy UTF-8).
        key: String,
        /// Estimated size in bytes.
        approx_bytes: u64,
        /// File index and offset of the delete.
        file: usize,
        /// Offset of the command.
        offset: u64,
    },
}

/// Activity in one bucket.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Bucket {
    /// Start of the bucket (unix seconds); `None` for the unstamped bucket.
    pub start: Option<i64>,
    /// Commands (`MULTI`/`EXEC`/`SELECT` not counted).
    pub commands: u64,
    /// Bytes of those commands (their RESP encoding).
    pub bytes: u64,
    /// Bytes of every record stamped in the bucket: its commands, `MULTI`/`EXEC`/`SELECT`
    /// and the annotations (the `#TS:` line opening it included).
    pub record_bytes: u64,
    /// Distinct keys touched; when [`Bucket::revisited`], the largest count of one visit (a
    /// lower bound).
    pub keys_touched: u64,
    /// Keys named by `DEL`/`UNLINK`.
    pub deleted_keys: u64,
    /// Dangerous events.
    pub flags: Vec<Flag>,
    /// A stamp went back into this bucket after the stream had left it (a clock set back):
    /// its counts add up every visit, but its distinct keys are counted per visit, so
    /// [`Bucket::keys_touched`] is a lower bound.
    pub revisited: bool,
    #[serde(skip)]
    flush: [u64; 3],
}

impl Bucket {
    /// True when any flag is set.
    pub fn is_flagged(&self) -> bool {
        !self.flags.is_empty()
    }
}

/// The result of [`build_timeline`].
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Timeline {
    /// Bucket width (seconds).
    pub bucket_secs: i64,
    /// Buckets with activity, in time order.
    pub buckets: Vec<Bucket>,
    /// Commands read before any `#TS:` stamp.
    pub unstamped: Bucket,
    /// Keys in the RDB BASE (or preamble).
    pub base_keys: u64,
    /// The BASE's RDB `ctime`.
    pub base_ctime: Option<i64>,
    /// First and last stamps.
    pub first_timestamp: Option<i64>,
    /// Last stamp.
    pub last_timestamp: Option<i64>,
    /// Commands in all.
    pub commands: u64,
    /// Stamps that went backwards (a server restart with a clock behind).
    pub backward_stamps: u64,
    /// Where reading stopped early on damage: `(file index, ok_up_to)`.
    pub damaged_at: Option<(usize, u64)>,
}

/// How many keys [`build_timeline`] keeps a size estimate for (beyond it, the smallest are
/// forgotten; keys at or above [`TimelineOptions::big_key_bytes`] are always kept): about
/// 8 MiB of table.
pub const SIZE_ENTRIES: usize = 458_752;

/// Estimated key sizes per db (by key hash), for big key deletes, bounded to about
/// `cap` entries: when full, the entries below a floor (a power of two chosen so that at most
/// half remain, never above `keep`) are dropped, and a dropped key's estimate restarts from
/// its next write.
struct Sizes {
    dbs: HashMap<u64, HashMap<u64, u64>>,
    len: usize,
    cap: usize,
    keep: u64,
}

impl Sizes {
    fn new(cap: usize, keep: u64) -> Sizes {
        Sizes {
            dbs: HashMap::new(),
            len: 0,
            cap,
            keep,
        }
    }

    fn clear(&mut self) {
        self.dbs.clear();
        self.len = 0;
    }

    fn remove_db(&mut self, db: u64) {
        if let Some(m) = self.dbs.remove(&db) {
            self.len -= m.len();
        }
    }

    fn swap_dbs(&mut self, a: u64, b: u64) {
        let ma = self.dbs.remove(&a);
        let mb = self.dbs.remove(&b);
        if let Some(m) = ma {
            self.dbs.insert(b, m);
        }
        if let Some(m) = mb {
            self.dbs.insert(a, m);
        }
    }

    fn remove(&mut self, db: u64, h: u64) -> Option<u64> {
        let sz = self.dbs.get_mut(&db)?.remove(&h)?;
        self.len -= 1;
        Some(sz)
    }

    /// Sets the estimate of `h` in `db` to `sz` (`replace`) or adds `sz` to it.
    fn write(&mut self, db: u64, h: u64, sz: u64, replace: bool) {
        if let Some(e) = self.dbs.get_mut(&db).and_then(|m| m.get_mut(&h)) {
            *e = if replace { sz } else { e.saturating_add(sz) };
            return;
        }
        if self.len >= self.cap {
            self.shrink();
        }
        self.dbs.entry(db).or_default().insert(h, sz);
        self.len += 1;
    }

    /// Drops the smallest estimates until at most half of `cap` remain, keeping every one at
    /// or above `keep` (when those alone fill the table, it grows).
    fn shrink(&mut self) {
        let bits = |s: u64| (u64::BITS - s.leading_zeros()) as usize;
        let mut hist = [0usize; 65];
        for m in self.dbs.values() {
            for &s in m.values() {
                hist[bits(s)] += 1;
            }
        }
        // The smallest power of two `floor` with at most cap / 2 estimates at or above it.
        let mut above = self.len;
        let mut floor = 0u64;
        for (b, n) in hist.iter().enumerate() {
            if above <= self.cap / 2 {
                break;
            }
            above -= n;
            floor = 1u64.checked_shl(b as u32).unwrap_or(u64::MAX);
        }
        let floor = floor.min(self.keep);
        for m in self.dbs.values_mut() {
            m.retain(|_, s| *s >= floor);
        }
        self.dbs.retain(|_, m| !m.is_empty());
        self.len = self.dbs.values().map(HashMap::len).sum();
        self.cap = self.cap.max(self.len.saturating_mul(2));
    }
}

fn key_hash(db: u64, key: &[u8]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    db.hash(&mut h);
    key.hash(&mut h);
    h.finish()
}

/// Commands that replace a key's whole value (the size estimate restarts).
fn replaces_value(up: &[u8]) -> bool {
    matches!(
        up,
        b"SET" | b"SETEX" | b"PSETEX" | b"GETSET" | b"RESTORE" | b"SETNX"
    )
}

/// Parses a small non-negative decimal argument.
fn small_num(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 18 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(b).ok()?.parse().ok()
}

/// The keys a command touches, by Redis's key specifications ([`crate::aof::keys`]). A
/// command the table does not know (a module command) is taken to have its key at argument 1;
/// one whose arguments do not fit its specification, none.
pub fn keys_of<'a>(c: &Command<'a>) -> Vec<&'a [u8]> {
    let args: Vec<&'a [u8]> = c.args().collect();
    let mut pos = Vec::new();
    match key_positions(&args, &mut pos) {
        Ok(()) => {}
        Err(KeysError::Unknown) if args.len() >= 2 => pos = vec![1],
        Err(_) => pos.clear(),
    }
    pos.into_iter()
        .filter_map(|i| args.get(i).copied())
        .collect()
}

struct Builder {
    opts: TimelineOptions,
    buckets: BTreeMap<i64, Bucket>,
    unstamped: Bucket,
    ts: Option<i64>,
    first_ts: Option<i64>,
    backward: u64,
    base_keys: u64,
    base_ctime: Option<i64>,
    commands: u64,
    sizes: Sizes,
    /// The bucket the stream is in (`None` inside: the unstamped one), once there is one.
    open: Option<Option<i64>>,
    /// The distinct keys (hashed with their db) of the open bucket's current visit.
    open_keys: HashSet<u64>,
}

impl Builder {
    fn slot(&mut self, start: Option<i64>) -> Option<&mut Bucket> {
        match start {
            None => Some(&mut self.unstamped),
            Some(s) => self.buckets.get_mut(&s),
        }
    }

    /// The bucket of the current stamp; entering it closes the one the stream leaves (its
    /// distinct keys counted, their set emptied).
    fn bucket(&mut self) -> &mut Bucket {
        let start = self.ts.map(|t| {
            let w = self.opts.bucket_secs.max(1);
            t.div_euclid(w) * w
        });
        if self.open != Some(start) {
            self.close();
            self.open = Some(start);
            if let Some(b) = start.and_then(|s| self.buckets.get_mut(&s)) {
                b.revisited = true;
            }
        }
        match start {
            None => &mut self.unstamped,
            Some(s) => self.buckets.entry(s).or_insert_with(|| Bucket {
                start: Some(s),
                ..Bucket::default()
            }),
        }
    }

    /// Counts the open bucket's distinct keys (the largest visit's, when revisited).
    fn close(&mut self) {
        let n = self.open_keys.len() as u64;
        self.open_keys.clear();
        if let Some(start) = self.open.take() {
            if let Some(b) = self.slot(start) {
                b.keys_touched = b.keys_touched.max(n);
            }
        }
    }

    fn command(&mut self, file: usize, c: &Command<'_>) {
        let up = c.name().to_ascii_uppercase();
        if matches!(up.as_slice(), b"MULTI" | b"EXEC" | b"SELECT") {
            return;
        }
        self.commands += 1;
        let keys = keys_of(c);
        let db = c.db;
        let big = self.opts.big_key_bytes;
        let raw_len = c.raw().len() as u64;
        let mut big_deletes = Vec::new();
        // Size estimates are per db by the key's own hash (a SWAPDB moves them as they are).
        let kh = |k: &[u8]| key_hash(0, k);
        match up.as_slice() {
            b"FLUSHALL" => self.sizes.clear(),
            b"FLUSHDB" => self.sizes.remove_db(db),
            b"SWAPDB" => {
                let a = c.arg(1).and_then(small_num);
                let b = c.arg(2).and_then(small_num);
                if let (Some(a), Some(b)) = (a, b) {
                    self.sizes.swap_dbs(a, b);
                }
            }
            b"DEL" | b"UNLINK" => {
                for k in &keys {
                    if let Some(sz) = self.sizes.remove(db, kh(k)) {
                        if sz >= big {
                            big_deletes.push(Flag::BigKeyDelete {
                                db,
                                key: String::from_utf8_lossy(k).into_owned(),
                                approx_bytes: sz,
                                file,
                                offset: c.offset,
                            });
                        }
                    }
                }
            }
            b"RENAME" | b"RENAMENX" if keys.len() == 2 => {
                if let Some(sz) = self.sizes.remove(db, kh(keys[0])) {
                    self.sizes.write(db, kh(keys[1]), sz, true);
                }
            }
            _ => {
                let per_key = raw_len / keys.len().max(1) as u64;
                let replace = replaces_value(&up);
                for k in &keys {
                    self.sizes.write(db, kh(k), per_key, replace);
                }
            }
        }
        let b = self.bucket();
        b.commands += 1;
        b.bytes += raw_len;
        for k in &keys {
            self.open_keys.insert(key_hash(db, k));
        }
        let b = self.bucket();
        match up.as_slice() {
            b"FLUSHALL" => b.flush[0] += 1,
            b"FLUSHDB" => b.flush[1] += 1,
            b"SWAPDB" => b.flush[2] += 1,
            b"DEL" | b"UNLINK" => b.deleted_keys += keys.len() as u64,
            _ => {}
        }
        b.flags.extend(big_deletes);
    }

    fn finish(mut self, damaged_at: Option<(usize, u64)>) -> Timeline {
        self.close();
        let opts = self.opts;
        let fin = |mut b: Bucket| {
            let mut flags = Vec::new();
            if b.flush[0] > 0 {
                flags.push(Flag::Flushall { count: b.flush[0] });
            }
            if b.flush[1] > 0 {
                flags.push(Flag::Flushdb { count: b.flush[1] });
            }
            if b.flush[2] > 0 {
                flags.push(Flag::Swapdb { count: b.flush[2] });
            }
            if b.deleted_keys >= opts.del_burst_keys {
                flags.push(Flag::DelBurst {
                    keys: b.deleted_keys,
                });
            }
            flags.append(&mut b.flags);
            b.flags = flags;
            b
        };
        let last_timestamp = self.ts;
        Timeline {
            bucket_secs: opts.bucket_secs,
            buckets: self.buckets.into_values().map(fin).collect(),
            unstamped: fin(self.unstamped),
            base_keys: self.base_keys,
            base_ctime: self.base_ctime,
            first_timestamp: self.first_ts,
            last_timestamp,
            commands: self.commands,
            backward_stamps: self.backward,
            damaged_at,
        }
    }
}

impl SetVisitor for Builder {
    fn rdb(&mut self, index: usize, data: &[u8], report: &RdbReport) -> ControlFlow<()> {
        if index == 0 {
            self.base_keys += report.keys;
            self.base_ctime = report
                .aux
                .iter()
                .find(|(k, _)| k == "ctime")
                .and_then(|(_, v)| v.parse().ok());
        }
        // Sizes of the keys in the RDB part, for big key deletes.
        for item in RdbReader::new(data) {
            let Ok(item) = item else { break };
            if let Record::Entry(e) = item.record {
                let sz = e.value.raw().len() as u64 + e.key.len() as u64;
                self.sizes.write(e.db, key_hash(0, &e.key), sz, true);
            }
        }
        ControlFlow::Continue(())
    }

    fn item(&mut self, index: usize, item: &AofItem<'_>) -> ControlFlow<()> {
        match item {
            AofItem::Annotation(a) => {
                if let Some(ts) = a.timestamp {
                    if self.first_ts.is_none() {
                        self.first_ts = Some(ts);
                    }
                    if self.ts.is_some_and(|p| ts < p) {
                        self.backward += 1;
                    }
                    self.ts = Some(ts);
                }
            }
            AofItem::Command(c) => self.command(index, c),
        }
        self.bucket().record_bytes += item.end() - item.offset();
        ControlFlow::Continue(())
    }
}

fn damage(report_verdict: &Verdict, files: &[FileReport]) -> Option<(usize, u64)> {
    match *report_verdict {
        Verdict::Valid => None,
        Verdict::Truncatable { file, ok_up_to } | Verdict::DamagedNotLast { file, ok_up_to } => {
            Some((file, ok_up_to))
        }
        Verdict::RdbDamaged { file } | Verdict::Missing { file } => {
            Some((file, files.get(file).map_or(0, |f| f.ok_up_to)))
        }
    }
}

/// Reads a whole set and aggregates its activity per bucket. Damage stops the reading (the
/// timeline covers what comes before it; [`Timeline::damaged_at`] says where).
pub fn build_timeline(
    set: &AofSet,
    opts: TimelineOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<Timeline> {
    let mut b = Builder {
        opts,
        buckets: BTreeMap::new(),
        unstamped: Bucket::default(),
        ts: None,
        first_ts: None,
        backward: 0,
        base_keys: 0,
        base_ctime: None,
        commands: 0,
        sizes: Sizes::new(SIZE_ENTRIES, opts.big_key_bytes),
        open: None,
        open_keys: HashSet::new(),
    };
    let report = scan_set(set, ScanOptions::default(), &mut b, progress)?;
    let d = damage(&report.verdict, &report.files);
    Ok(b.finish(d))
}

/// What [`find_occurrences`] looks for.
#[derive(Debug, Clone)]
pub enum Query {
    /// Commands touching this key (in `db` when given).
    Key {
        /// The key.
        key: Vec<u8>,
        /// Only in this database.
        db: Option<u64>,
    },
    /// Commands with this name (case-insensitive).
    Command(String),
}

/// One command found by [`find_occurrences`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct Occurrence {
    /// Its `#TS:` stamp (the last before it), if any.
    pub time: Option<i64>,
    /// File index in the set.
    pub file: usize,
    /// File name.
    pub file_name: String,
    /// Offset of the command in the file.
    pub offset: u64,
    /// Its database.
    pub db: u64,
    /// Offset of the `MULTI` when inside a transaction.
    pub multi: Option<u64>,
    /// The command name as written.
    pub name: Vec<u8>,
    /// Arguments (name first), each cut to 64 bytes, at most 8.
    pub args: Vec<Vec<u8>>,
    /// Number of arguments.
    pub argc: usize,
}

struct Finder<'q> {
    q: &'q Query,
    names: Vec<String>,
    found: Vec<Occurrence>,
    limit: usize,
}

impl SetVisitor for Finder<'_> {
    fn item(&mut self, index: usize, item: &AofItem<'_>) -> ControlFlow<()> {
        let AofItem::Command(c) = item else {
            return ControlFlow::Continue(());
        };
        let hit = match self.q {
            Query::Command(n) => c.is(n),
            Query::Key { key, db } => {
                db.is_none_or(|d| d == c.db) && keys_of(c).contains(&key.as_slice())
            }
        };
        if hit {
            self.found.push(Occurrence {
                time: c.timestamp,
                file: index,
                file_name: self.names.get(index).cloned().unwrap_or_default(),
                offset: c.offset,
                db: c.db,
                multi: c.multi,
                name: c.name().to_vec(),
                args: c
                    .args()
                    .take(8)
                    .map(|a| a.get(..64).unwrap_or(a).to_vec())
                    .collect(),
                argc: c.argc(),
            });
            if self.found.len() >= self.limit {
                return ControlFlow::Break(());
            }
        }
        ControlFlow::Continue(())
    }
}

/// What [`find_occurrences`] found.
#[derive(Debug, Clone, Default)]
pub struct Occurrences {
    /// The commands matching, in load order.
    pub found: Vec<Occurrence>,
    /// Where reading stopped early on damage: `(file index, ok_up_to)` (the search covers
    /// what comes before it). `None` when the limit was reached first.
    pub damaged_at: Option<(usize, u64)>,
}

/// Every command matching `q`, in load order (at most `limit`).
pub fn find_occurrences(
    set: &AofSet,
    q: &Query,
    limit: usize,
    progress: &mut dyn FnMut(u64),
) -> Result<Occurrences> {
    let mut f = Finder {
        q,
        names: set.parts.iter().map(|p| p.name_lossy()).collect(),
        found: Vec::new(),
        limit: limit.max(1),
    };
    let report = scan_set(set, ScanOptions::default(), &mut f, progress)?;
    let damaged_at = if f.found.len() >= f.limit {
        None
    } else {
        damage(&report.verdict, &report.files)
    };
    Ok(Occurrences {
        found: f.found,
        damaged_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(args: &[&str]) -> Vec<String> {
        let mut raw = Vec::new();
        crate::aof::encode_command(args, &mut raw);
        let mut r = crate::aof::AofReader::new(&raw, 0);
        let Some(Ok(AofItem::Command(c))) = r.next() else {
            panic!("not a command")
        };
        keys_of(&c)
            .into_iter()
            .map(|k| String::from_utf8_lossy(k).into_owned())
            .collect()
    }

    #[test]
    fn keys_of_commands() {
        assert_eq!(keys(&["set", "k", "v"]), ["k"]);
        assert_eq!(keys(&["DEL", "a", "b"]), ["a", "b"]);
        assert_eq!(keys(&["MSET", "a", "1", "b", "2"]), ["a", "b"]);
        assert_eq!(keys(&["RENAME", "a", "b"]), ["a", "b"]);
        assert_eq!(keys(&["FLUSHALL"]), Vec::<String>::new());
        assert_eq!(keys(&["SELECT", "3"]), Vec::<String>::new());
        assert_eq!(keys(&["MODULE.CMD", "k", "x"]), ["k"]);
        assert_eq!(keys(&["GET"]), Vec::<String>::new());
    }

    #[test]
    fn sizes_forget_the_smallest_and_keep_the_big() {
        let mut s = Sizes::new(8, 1000);
        for h in 0..8 {
            s.write(0, h, 10 + h, true);
        }
        s.write(1, 100, 5000, true);
        // Full: the smallest went, down to at most half of 8 (with the new one).
        assert!(s.len <= 5, "{}", s.len);
        assert_eq!(s.remove(1, 100), Some(5000));
        assert_eq!(s.remove(0, 7), Some(17));
        assert_eq!(s.remove(0, 0), None);
        // Only keys at or above `keep`: none is forgotten, the table grows.
        let mut s = Sizes::new(4, 1000);
        for h in 0..20 {
            s.write(0, h, 1000 + h, true);
        }
        assert_eq!(s.len, 20);
        assert!((0..20).all(|h| s.remove(0, h) == Some(1000 + h)));
    }

    #[test]
    fn buckets() {
        assert_eq!(parse_bucket("1s").unwrap(), 1);
        assert_eq!(parse_bucket("10").unwrap(), 10);
        assert_eq!(parse_bucket("5m").unwrap(), 300);
        assert_eq!(parse_bucket("1h").unwrap(), 3600);
        assert_eq!(parse_bucket("1d").unwrap(), 86_400);
        for bad in ["", "0s", "-1m", "x", "1w", "99999999999999999d"] {
            assert!(parse_bucket(bad).is_err(), "{bad}");
        }
    }
}
