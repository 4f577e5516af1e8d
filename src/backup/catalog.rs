//! The catalog: a parsed listing of a backup prefix plus each set's manifest.
//!
//! A set is complete (restorable) only when its `manifest.json` exists and parses; files
//! without a manifest belong to an interrupted upload and are invisible to restore.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::codec::Packed;
use super::layout::{self, safe_name, safe_path, Parsed, SegmentName, SetName, UnsafeName};
use super::store::{get_small, ObjectInfo, Store, StoreError};

/// Identifies the set manifest format.
pub const SET_FORMAT: &str = "redsafe-set/1";

/// Largest manifest accepted (a set has a handful of files).
pub const MANIFEST_LIMIT: u64 = 16 << 20;

/// The role of a file in a set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FileRole {
    /// The RDB snapshot (`dump.rdb`).
    Rdb,
    /// The AOF manifest as Redis wrote it.
    AofManifest,
    /// The AOF base.
    AofBase,
    /// An AOF INCR file (cut at a command boundary for the live one).
    AofIncr,
}

/// One file of a set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetFile {
    /// Path relative to the Redis data directory (e.g. `appendonlydir/appendonly.aof.1.incr.aof`).
    pub path: String,
    /// Its role.
    pub role: FileRole,
    /// The AOF sequence number (base and INCR files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    /// Object key relative to the backup prefix.
    pub object: String,
    /// Sizes and hashes.
    #[serde(flatten)]
    pub packed: Packed,
}

/// The AOF part of a set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AofInfo {
    /// The AOF directory name (`appenddirname`).
    pub dir: String,
    /// The manifest's file name.
    pub manifest: String,
    /// `appendfilename` (the prefix of the AOF file names), for naming new INCR files.
    pub prefix: String,
    /// Time of the base: the RDB base's `ctime`, or a RESP base's first `#TS`.
    #[serde(default)]
    pub base_time: Option<i64>,
    /// The last INCR file's sequence number.
    pub last_incr_seq: Option<u64>,
    /// How many bytes of the last INCR file the set holds; segments continue from here.
    pub last_incr_size: u64,
}

/// The RDB part of a set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RdbInfo {
    /// File name (`dump.rdb`).
    pub name: String,
    /// Its `ctime` AUX field.
    #[serde(default)]
    pub ctime: Option<i64>,
}

/// A set's `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetManifest {
    /// Always [`SET_FORMAT`].
    pub format: String,
    /// The set id.
    pub set_id: String,
    /// When the snapshot was taken (unix seconds).
    pub created_at: i64,
    /// The same, RFC 3339.
    pub created_at_utc: String,
    /// Redis version from the RDB's `redis-ver` AUX field, when known.
    #[serde(default)]
    pub redis_version: Option<String>,
    /// Compression of the objects (`zstd`).
    pub compression: String,
    /// zstd level used.
    pub zstd_level: i32,
    /// Earliest time the set's data covers (base time, or the RDB's ctime).
    #[serde(default)]
    pub first_ts: Option<i64>,
    /// Latest `#TS` in the set's AOF files (or the RDB's ctime).
    #[serde(default)]
    pub last_ts: Option<i64>,
    /// The AOF, if the set has one.
    #[serde(default)]
    pub aof: Option<AofInfo>,
    /// The RDB, if the set has one.
    #[serde(default)]
    pub rdb: Option<RdbInfo>,
    /// Every file, in upload order.
    pub files: Vec<SetFile>,
}

impl SetManifest {
    /// Earliest point in time this set can restore to.
    pub fn start_time(&self) -> i64 {
        self.first_ts
            .or(self.aof.as_ref().and_then(|a| a.base_time))
            .or(self.rdb.as_ref().and_then(|r| r.ctime))
            .unwrap_or(self.created_at)
            .min(self.created_at)
    }

    /// Sum of the original file sizes.
    pub fn size(&self) -> u64 {
        self.files.iter().map(|f| f.packed.size).sum()
    }

    /// Sum of the stored object sizes.
    pub fn stored_size(&self) -> u64 {
        self.files.iter().map(|f| f.packed.stored_size).sum()
    }

    /// Checks every name in the manifest that a restore turns into a local path or an object
    /// key, before any use: `aof.dir`, `aof.manifest`, `aof.prefix` and `rdb.name` are single
    /// safe names ([`layout::name_problem`]); each `files[i].path` is a safe relative path,
    /// unique, and where its role puts it (the RDB is `rdb.name`, AOF files lie directly in
    /// `aof.dir`, the AOF manifest is `aof.dir/aof.manifest`); each `files[i].object` is the
    /// key this set's layout gives that path. The first failure names the field and the value.
    pub fn check_names(&self, set: &SetName) -> Result<(), UnsafeName> {
        let bad = |field: String, value: &str, reason: String| UnsafeName {
            field,
            value: value.to_string(),
            reason,
        };
        if let Some(a) = &self.aof {
            safe_name("aof.dir", &a.dir)?;
            safe_name("aof.manifest", &a.manifest)?;
            safe_name("aof.prefix", &a.prefix)?;
            // Restore names new INCR files `<prefix>.<seq>.incr.aof`; they must fit too.
            const INCR_SUFFIX_MAX: usize = ".18446744073709551615.incr.aof".len();
            if a.prefix.len() + INCR_SUFFIX_MAX > layout::NAME_MAX {
                return Err(bad(
                    "aof.prefix".into(),
                    &a.prefix,
                    format!(
                        "is too long to name INCR files (at most {} bytes)",
                        layout::NAME_MAX - INCR_SUFFIX_MAX
                    ),
                ));
            }
        }
        if let Some(r) = &self.rdb {
            safe_name("rdb.name", &r.name)?;
            if self.aof.as_ref().is_some_and(|a| a.dir == r.name) {
                return Err(bad(
                    "rdb.name".into(),
                    &r.name,
                    "is also the AOF directory".into(),
                ));
            }
        }
        let mut seen = std::collections::HashMap::new();
        for (i, f) in self.files.iter().enumerate() {
            let field = format!("files[{i}].path");
            safe_path(&field, &f.path)?;
            if let Some(j) = seen.insert(f.path.as_str(), i) {
                return Err(bad(field, &f.path, format!("duplicates files[{j}].path")));
            }
            let misplaced = match (f.role, &self.aof, &self.rdb) {
                (FileRole::Rdb, _, Some(r)) if f.path == r.name => None,
                (FileRole::Rdb, _, Some(r)) => Some(format!(
                    "is the RDB file but rdb.name is {}",
                    layout::escape_name(&r.name)
                )),
                (FileRole::Rdb, _, None) => Some("is an RDB file but the set has no rdb".into()),
                (_, None, _) => Some("is an AOF file but the set has no aof".into()),
                (role, Some(a), _) => match f.path.split_once('/') {
                    Some((d, n)) if d == a.dir && !n.contains('/') => {
                        (role == FileRole::AofManifest && n != a.manifest).then(|| {
                            format!(
                                "is the AOF manifest but aof.manifest is {}",
                                layout::escape_name(&a.manifest)
                            )
                        })
                    }
                    _ => Some(format!(
                        "is an AOF file outside aof.dir {}",
                        layout::escape_name(&a.dir)
                    )),
                },
            };
            if let Some(why) = misplaced {
                return Err(bad(field, &f.path, why));
            }
            let key = set.file_key(&f.path);
            if f.object != key {
                return Err(bad(
                    format!("files[{i}].object"),
                    &f.object,
                    format!("is not this set's object for its path (expected {key:?})"),
                ));
            }
        }
        Ok(())
    }
}

/// The record `ship` leaves when a set's segment chain broke while bytes Redis appended were
/// never shipped (for instance a rewrite deleted the INCR file while ship was down): the set's
/// data is complete only up to `offset` of INCR `incr_seq`, whose last `#TS` is `last_ts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainBreak {
    /// The set whose chain broke.
    pub set_id: String,
    /// The INCR file the chain was following.
    pub incr_seq: u64,
    /// Bytes of it shipped (set files plus segments).
    pub offset: u64,
    /// The last `#TS` shipped for this set (its last segment's, or the set's own).
    #[serde(default)]
    pub last_ts: Option<i64>,
    /// When ship noticed (unix seconds).
    pub detected_at: i64,
    /// What ship found on disk.
    pub reason: String,
}

impl ChainBreak {
    /// One line for messages.
    pub fn describe(&self) -> String {
        format!(
            "ship found the chain broken at {}: bytes Redis appended to INCR seq {} after offset {} were never shipped ({})",
            crate::time::format_rfc3339(self.detected_at),
            self.incr_seq,
            self.offset,
            self.reason
        )
    }
}

/// A set in the catalog.
#[derive(Debug, Clone)]
pub struct SetEntry {
    /// Its name.
    pub name: SetName,
    /// The parsed manifest (`None`: incomplete set).
    pub manifest: Option<SetManifest>,
    /// Why the manifest could not be read, if it exists but is unreadable.
    pub manifest_error: Option<String>,
    /// Every object under the set's directory.
    pub objects: Vec<ObjectInfo>,
}

impl SetEntry {
    /// True when the set is restorable (its manifest exists and parses).
    pub fn complete(&self) -> bool {
        self.manifest.is_some()
    }
}

/// A segment in the catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SegmentEntry {
    /// Its name (set, INCR seq, byte range).
    pub name: SegmentName,
    /// Stored size.
    pub stored_size: u64,
    /// Upload time (unix seconds), when the store reports it.
    pub modified: Option<i64>,
}

/// Everything under a backup prefix.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Sets, oldest first.
    pub sets: Vec<SetEntry>,
    /// Segments per set id, in (INCR seq, start) order.
    pub segments: BTreeMap<String, Vec<SegmentEntry>>,
    /// Chain-break records per set id.
    pub chain_breaks: BTreeMap<String, ChainBreak>,
    /// Keys this layout does not define (ignored).
    pub unknown: Vec<String>,
}

impl Catalog {
    /// Groups a listing (no I/O). Manifests are not loaded: every set is incomplete until
    /// [`Catalog::load_manifests`] runs; tests build catalogs directly.
    pub fn from_listing(objects: Vec<ObjectInfo>) -> Catalog {
        let mut sets: BTreeMap<SetName, SetEntry> = BTreeMap::new();
        let mut cat = Catalog::default();
        for o in objects {
            match layout::parse_key(&o.key) {
                Some(Parsed::SetManifest(n)) | Some(Parsed::SetFile(n, _)) => {
                    sets.entry(n.clone())
                        .or_insert_with(|| SetEntry {
                            name: n,
                            manifest: None,
                            manifest_error: None,
                            objects: vec![],
                        })
                        .objects
                        .push(o);
                }
                Some(Parsed::Segment(s)) => {
                    cat.segments
                        .entry(s.set_id.clone())
                        .or_default()
                        .push(SegmentEntry {
                            name: s,
                            stored_size: o.size,
                            modified: o.modified,
                        })
                }
                Some(Parsed::ChainBreak(id)) => {
                    // Loaded by `load_manifests`; a placeholder until then.
                    cat.chain_breaks.insert(
                        id.clone(),
                        ChainBreak {
                            set_id: id,
                            incr_seq: 0,
                            offset: 0,
                            last_ts: None,
                            detected_at: o.modified.unwrap_or(0),
                            reason: "unread".into(),
                        },
                    );
                }
                None => cat.unknown.push(o.key),
            }
        }
        for v in cat.segments.values_mut() {
            v.sort_by(|a, b| a.name.cmp(&b.name));
        }
        cat.sets = sets.into_values().collect();
        cat
    }

    /// Lists the store and loads every set manifest.
    pub fn load(store: &dyn Store) -> Result<Catalog, StoreError> {
        let mut objects = store.list(layout::SETS)?;
        objects.extend(store.list(layout::SEGMENTS)?);
        let mut cat = Catalog::from_listing(objects);
        cat.load_manifests(store)?;
        Ok(cat)
    }

    /// Reads the manifest of every set that has one, and every chain-break record.
    pub fn load_manifests(&mut self, store: &dyn Store) -> Result<(), StoreError> {
        for (id, b) in self.chain_breaks.iter_mut() {
            let key = SegmentName::chain_break_key(id);
            match get_small(store, &key, MANIFEST_LIMIT) {
                Ok(bytes) => match serde_json::from_slice::<ChainBreak>(&bytes) {
                    Ok(r) if r.set_id == *id => *b = r,
                    Ok(_) | Err(_) => {
                        // Unreadable: still a break, with nothing known about it.
                        b.reason = format!("{key}: unreadable record");
                    }
                },
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        for s in &mut self.sets {
            let key = s.name.manifest_key();
            if !s.objects.iter().any(|o| o.key == key) {
                continue;
            }
            match get_small(store, &key, MANIFEST_LIMIT) {
                Ok(bytes) => match parse_set_manifest(&bytes, &s.name) {
                    Ok(m) => s.manifest = Some(m),
                    Err(e) => s.manifest_error = Some(format!("{key}: {e}")),
                },
                Err(e) if e.is_not_found() => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Complete sets, oldest first.
    pub fn complete_sets(&self) -> impl Iterator<Item = (&SetEntry, &SetManifest)> {
        self.sets
            .iter()
            .filter_map(|s| s.manifest.as_ref().map(|m| (s, m)))
    }

    /// The oldest set newer than `than` (any set with `None`) whose manifest exists but is
    /// damaged: a restore that would pick an older set in its place refuses instead.
    pub fn damaged_newer_than(&self, than: Option<&SetName>) -> Option<&SetEntry> {
        self.sets
            .iter()
            .filter(|s| than.is_none_or(|t| s.name > *t))
            .find(|s| s.manifest_error.is_some())
    }

    /// The chain-break record of a set, if ship wrote one.
    pub fn chain_break_of(&self, set_id: &str) -> Option<&ChainBreak> {
        self.chain_breaks.get(set_id)
    }

    /// The segments of a set (empty when none).
    pub fn segments_of(&self, set_id: &str) -> &[SegmentEntry] {
        self.segments.get(set_id).map(Vec::as_slice).unwrap_or(&[])
    }
}

/// Parses and checks a set manifest against the set's name.
pub fn parse_set_manifest(bytes: &[u8], name: &SetName) -> Result<SetManifest, String> {
    let m: SetManifest =
        serde_json::from_slice(bytes).map_err(|e| format!("invalid manifest JSON: {e}"))?;
    if m.format != SET_FORMAT {
        return Err(format!("unknown manifest format {:?}", m.format));
    }
    if m.set_id != name.id {
        return Err(format!(
            "manifest names set {:?}, the directory set {:?}",
            m.set_id, name.id
        ));
    }
    m.check_names(name).map_err(|e| e.to_string())?;
    Ok(m)
}
