//! Shipping: consistent snapshots of a Redis data directory uploaded as backup sets, and the
//! bytes Redis appends to its live INCR file uploaded as numbered segments.
//!
//! Consistency (Redis rewrites and deletes its files at any time): the AOF manifest is read,
//! every base and INCR file it lists is opened (an open descriptor pins the inode, like wal-g's
//! hard links), then the manifest is read again; any difference or missing file means a
//! rewrite raced us and the snapshot is retried. The live INCR file is shipped only up to its
//! last complete command outside MULTI/EXEC, so a set never ends in a torn command.
//!
//! Upload order is the commit protocol: the set's files first, `manifest.json` last. A set
//! without a manifest is invisible to restore and removed by retention later.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use serde_json::json;

use super::catalog::{
    AofInfo, Catalog, ChainBreak, FileRole, RdbInfo, SetFile, SetManifest, SET_FORMAT,
};
use super::codec::{self, Packed};
use super::layout::{next_set_id, SegmentName, SetName, CHAIN_BREAK};
use super::retention::{self, Candidate, Policy, Verdict};
use super::store::{Meta, Store, StoreError};
use crate::aof::boundary::{scan_boundaries, Boundaries};
use crate::aof::manifest::{FileType, Manifest, ManifestEntry};
use crate::time::{format_rfc3339, now};

/// Errors while shipping.
#[derive(Debug, thiserror::Error)]
pub enum ShipError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A local file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The data directory's AOF is not usable.
    #[error("{path}: {message}")]
    Aof {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Redis kept changing its files while a snapshot was taken.
    #[error("{dir}: the AOF changed during each of {attempts} snapshot attempts (a rewrite in progress?)")]
    Busy {
        /// The AOF directory.
        dir: PathBuf,
        /// Attempts made.
        attempts: u32,
    },
    /// Nothing to ship.
    #[error("{0}: no RDB file and no AOF directory to back up")]
    Nothing(PathBuf),
}

fn io_err(path: &Path) -> impl Fn(io::Error) -> ShipError + '_ {
    move |source| ShipError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// What to back up from a Redis data directory.
#[derive(Debug, Clone)]
pub struct DataDir {
    /// Redis's `dir`.
    pub dir: PathBuf,
    /// The RDB file name to include (`dump.rdb`), if any.
    pub rdb: Option<String>,
    /// The AOF directory name (`appenddirname`, default `appendonlydir`), if any.
    pub aof_dir: Option<String>,
}

/// An open (pinned) file and how many of its bytes belong to the snapshot.
#[derive(Debug)]
pub struct Pinned {
    /// Path relative to the data directory.
    pub rel: String,
    /// The open file.
    pub file: File,
    /// Bytes to ship.
    pub len: u64,
    /// Role in the set.
    pub role: FileRole,
    /// AOF sequence number.
    pub seq: Option<u64>,
}

/// A consistent snapshot of a data directory.
#[derive(Debug)]
pub struct Snapshot {
    /// Files, in upload order.
    pub files: Vec<Pinned>,
    /// AOF details.
    pub aof: Option<AofInfo>,
    /// RDB details.
    pub rdb: Option<RdbInfo>,
    /// `redis-ver` from an RDB header, when found.
    pub redis_version: Option<String>,
    /// Earliest time covered.
    pub first_ts: Option<i64>,
    /// Latest `#TS` captured.
    pub last_ts: Option<i64>,
    /// Snapshot attempts needed (1 when nothing raced).
    pub attempts: u32,
}

fn find_manifest(aof_dir: &Path) -> Result<Option<String>, ShipError> {
    let rd = match std::fs::read_dir(aof_dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err(aof_dir)(e)),
    };
    let mut found = Vec::new();
    for ent in rd {
        let ent = ent.map_err(io_err(aof_dir))?;
        let name = ent.file_name().to_string_lossy().into_owned();
        if name.ends_with(".manifest") && !name.starts_with("temp-") {
            found.push(name);
        }
    }
    found.sort();
    match found.len() {
        0 => Ok(None),
        1 => Ok(found.pop()),
        _ => Err(ShipError::Aof {
            path: aof_dir.to_path_buf(),
            message: format!("several manifests: {}", found.join(", ")),
        }),
    }
}

/// Reads the AUX fields at the start of an RDB file.
fn rdb_aux_of(f: &File) -> Vec<(String, String)> {
    let mut buf = Vec::new();
    let mut r = f;
    if r.seek(SeekFrom::Start(0)).is_err() {
        return vec![];
    }
    let _ = r.take(64 * 1024).read_to_end(&mut buf);
    crate::rdb::leading_aux(&buf)
}

fn aux(a: &[(String, String)], k: &str) -> Option<String> {
    a.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
}

/// Scans a pinned file's bytes `start..start+limit` for command boundaries
/// ([`crate::aof::boundary::scan_boundaries`]).
pub fn scan_file(f: &File, start: u64, limit: u64) -> io::Result<Boundaries> {
    let mut r = f;
    r.seek(SeekFrom::Start(start))?;
    scan_boundaries(r.take(limit), start, limit, Path::new(""))
        .map_err(|e| io::Error::other(e.to_string()))
}

/// The prefix (`appendfilename`) of AOF file names in a manifest.
fn aof_prefix(manifest_name: &str) -> String {
    manifest_name
        .strip_suffix(".manifest")
        .unwrap_or(manifest_name)
        .to_string()
}

struct AofSnap {
    files: Vec<Pinned>,
    info: AofInfo,
    version: Option<String>,
    first_ts: Option<i64>,
    last_ts: Option<i64>,
}

/// Reads an AOF manifest, returning its bytes and entries.
pub fn read_aof_manifest(path: &Path) -> Result<(Vec<u8>, Vec<ManifestEntry>), ShipError> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    let bad = |message: String| ShipError::Aof {
        path: path.to_path_buf(),
        message,
    };
    let m = Manifest::parse(&bytes).map_err(|e| bad(e.to_string()))?;
    // Names become object keys: UTF-8 only.
    for e in &m.entries {
        if std::str::from_utf8(&e.name).is_err() {
            return Err(bad(format!(
                "AOF file name {:?} is not UTF-8",
                e.name_lossy()
            )));
        }
        if e.seq < 0 {
            return Err(bad(format!(
                "negative sequence number for {}",
                e.name_lossy()
            )));
        }
    }
    Ok((bytes, m.entries))
}

/// An entry's name (UTF-8, checked by [`read_aof_manifest`]).
fn ename(e: &ManifestEntry) -> &str {
    std::str::from_utf8(&e.name).unwrap_or_default()
}

/// An entry's sequence number (not negative, checked by [`read_aof_manifest`]).
fn eseq(e: &ManifestEntry) -> u64 {
    u64::try_from(e.seq).unwrap_or_default()
}

fn try_snapshot_aof(dir: &Path, aof_dir_name: &str) -> Result<Option<AofSnap>, ShipError> {
    let aof_dir = dir.join(aof_dir_name);
    let Some(mname) = find_manifest(&aof_dir)? else {
        return Ok(None);
    };
    let mpath = aof_dir.join(&mname);
    let (m1, entries) = read_aof_manifest(&mpath)?;
    let mut files = vec![];
    let live: Vec<&ManifestEntry> = entries
        .iter()
        .filter(|e| e.file_type != FileType::History)
        .collect();
    for e in &live {
        let p = aof_dir.join(ename(e));
        let f = File::open(&p).map_err(io_err(&p))?;
        let len = f.metadata().map_err(io_err(&p))?.len();
        files.push(Pinned {
            rel: format!("{aof_dir_name}/{}", ename(e)),
            file: f,
            len,
            role: if e.file_type == FileType::Base {
                FileRole::AofBase
            } else {
                FileRole::AofIncr
            },
            seq: Some(eseq(e)),
        });
    }
    let m2 = std::fs::read(&mpath).map_err(io_err(&mpath))?;
    if m1 != m2 {
        return Err(ShipError::Busy {
            dir: aof_dir,
            attempts: 1,
        });
    }
    // The manifest itself first (tiny), pinned as read.
    let mfile = File::open(&mpath).map_err(io_err(&mpath))?;
    let mut out = vec![Pinned {
        rel: format!("{aof_dir_name}/{mname}"),
        file: mfile,
        len: m1.len() as u64,
        role: FileRole::AofManifest,
        seq: None,
    }];
    let (mut version, mut base_time) = (None, None);
    if let Some(b) = files.iter().find(|p| p.role == FileRole::AofBase) {
        if b.rel.ends_with(".rdb") {
            let a = rdb_aux_of(&b.file);
            version = aux(&a, "redis-ver");
            base_time = aux(&a, "ctime").and_then(|c| c.parse().ok());
        } else {
            base_time = scan_file(&b.file, 0, 1024)
                .map_err(io_err(&aof_dir))?
                .first_ts;
        }
    }
    let mut last_ts = base_time;
    let last_incr = files.iter().rposition(|p| p.role == FileRole::AofIncr);
    let (mut last_incr_seq, mut last_incr_size) = (None, 0);
    if let Some(i) = last_incr {
        let p = &mut files[i];
        let s = scan_file(&p.file, 0, p.len).map_err(io_err(&aof_dir.join(&p.rel)))?;
        if let Some(d) = s.damaged {
            return Err(ShipError::Aof {
                path: dir.join(&p.rel),
                message: format!("not a valid AOF: {d}"),
            });
        }
        p.len = s.boundary;
        last_incr_seq = p.seq;
        last_incr_size = s.boundary;
        if s.last_ts.is_some() {
            last_ts = s.last_ts;
        }
    }
    out.extend(files);
    Ok(Some(AofSnap {
        files: out,
        info: AofInfo {
            dir: aof_dir_name.to_string(),
            manifest: mname.clone(),
            prefix: aof_prefix(&mname),
            base_time,
            last_incr_seq,
            last_incr_size,
        },
        version,
        first_ts: base_time,
        last_ts,
    }))
}

/// Takes a consistent snapshot, retrying up to `attempts` times when Redis changes its AOF
/// files meanwhile.
pub fn snapshot(data: &DataDir, attempts: u32) -> Result<Snapshot, ShipError> {
    let mut snap = Snapshot {
        files: vec![],
        aof: None,
        rdb: None,
        redis_version: None,
        first_ts: None,
        last_ts: None,
        attempts: 0,
    };
    if let Some(aof_dir) = &data.aof_dir {
        let mut last_err = None;
        for i in 1..=attempts.max(1) {
            snap.attempts = i;
            match try_snapshot_aof(&data.dir, aof_dir) {
                Ok(Some(a)) => {
                    snap.files = a.files;
                    snap.redis_version = a.version;
                    snap.first_ts = a.first_ts;
                    snap.last_ts = a.last_ts;
                    snap.aof = Some(a.info);
                    last_err = None;
                    break;
                }
                Ok(None) => {
                    last_err = None;
                    break;
                }
                Err(ShipError::Busy { .. }) => {
                    last_err = Some(ShipError::Busy {
                        dir: data.dir.join(aof_dir),
                        attempts: i,
                    })
                }
                Err(ShipError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                    // A listed file vanished: a rewrite finished and removed it.
                    last_err = Some(ShipError::Busy {
                        dir: data.dir.join(aof_dir),
                        attempts: i,
                    });
                }
                Err(e) => return Err(e),
            }
            std::thread::sleep(std::time::Duration::from_millis(50 * u64::from(i)));
        }
        if let Some(e) = last_err {
            return Err(e);
        }
    }
    if let Some(name) = &data.rdb {
        let p = data.dir.join(name);
        match File::open(&p) {
            Ok(f) => {
                let len = f.metadata().map_err(io_err(&p))?.len();
                let a = rdb_aux_of(&f);
                let ctime = aux(&a, "ctime").and_then(|c| c.parse().ok());
                if snap.redis_version.is_none() {
                    snap.redis_version = aux(&a, "redis-ver");
                }
                if snap.aof.is_none() {
                    snap.first_ts = ctime;
                    snap.last_ts = ctime;
                }
                snap.rdb = Some(RdbInfo {
                    name: name.clone(),
                    ctime,
                });
                snap.files.push(Pinned {
                    rel: name.clone(),
                    file: f,
                    len,
                    role: FileRole::Rdb,
                    seq: None,
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound && data.aof_dir.is_some() => {}
            Err(e) => return Err(io_err(&p)(e)),
        }
    }
    if snap.files.is_empty() {
        return Err(ShipError::Nothing(data.dir.clone()));
    }
    Ok(snap)
}

/// One structured log event (the CLI prints it as a line, human or JSON).
#[derive(Debug, Clone)]
pub struct Event {
    /// What happened: `set-uploaded`, `segment-uploaded`, `chain-broken`, `pruned`, …
    pub action: &'static str,
    /// Details.
    pub fields: serde_json::Value,
}

/// A sink for events.
pub type Log<'a> = &'a mut dyn FnMut(Event);

/// Uploads a snapshot as a set named `name`: files first, `manifest.json` last.
pub fn upload_set(
    store: &dyn Store,
    snap: &Snapshot,
    name: &SetName,
    level: i32,
    log: Log<'_>,
) -> Result<SetManifest, ShipError> {
    let mut m = SetManifest {
        format: SET_FORMAT.into(),
        set_id: name.id.clone(),
        created_at: name.time,
        created_at_utc: format_rfc3339(name.time),
        redis_version: snap.redis_version.clone(),
        compression: "zstd".into(),
        zstd_level: level,
        first_ts: snap.first_ts,
        last_ts: snap.last_ts,
        aof: snap.aof.clone(),
        rdb: snap.rdb.clone(),
        files: snap
            .files
            .iter()
            .map(|p| SetFile {
                path: p.rel.clone(),
                role: p.role,
                seq: p.seq,
                object: name.file_key(&p.rel),
                packed: codec::Packed {
                    size: 0,
                    sha256: String::new(),
                    stored_size: 0,
                    stored_sha256: String::new(),
                },
            })
            .collect(),
    };
    // Never upload a set that restore would refuse (names it cannot safely use).
    m.check_names(name).map_err(|e| ShipError::Aof {
        path: PathBuf::from(&e.value),
        message: format!("not backed up, restore could not use the name: {e}"),
    })?;
    for (p, file) in snap.files.iter().zip(m.files.iter_mut()) {
        let key = file.object.clone();
        let mut f = &p.file;
        f.seek(SeekFrom::Start(0))
            .map_err(io_err(Path::new(&p.rel)))?;
        let mut src = f.take(p.len);
        let mut meta = Meta::new();
        meta.insert("redsafe-time".into(), name.time.to_string());
        let t0 = std::time::Instant::now();
        let packed = codec::put_compressed(store, &key, &mut src, level, &meta)?;
        if packed.size != p.len {
            return Err(ShipError::Aof {
                path: PathBuf::from(&p.rel),
                message: format!(
                    "read {} bytes, expected {} (file shrank?)",
                    packed.size, p.len
                ),
            });
        }
        log(Event {
            action: "file-uploaded",
            fields: json!({"set": name.id, "file": p.rel, "key": key, "size": packed.size,
                "stored_size": packed.stored_size, "sha256": packed.sha256, "seconds": t0.elapsed().as_secs_f64()}),
        });
        file.packed = packed;
    }
    let body = serde_json::to_vec_pretty(&m).map_err(|e| ShipError::Aof {
        path: PathBuf::from("manifest.json"),
        message: e.to_string(),
    })?;
    let mut meta = Meta::new();
    meta.insert("redsafe-time".into(), name.time.to_string());
    store.put(&name.manifest_key(), &mut body.as_slice(), &meta)?;
    Ok(m)
}

/// Where the segment chain of the current set stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    /// The set the segments continue.
    pub set: SetName,
    /// The INCR file being followed.
    pub seq: u64,
    /// Bytes of it already shipped.
    pub offset: u64,
    /// The last `#TS` shipped so far (the last segment's, or the set's).
    pub last_ts: Option<i64>,
}

/// Outcome of one segment pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SegmentPass {
    /// Segments uploaded.
    pub uploaded: u64,
    /// Raw bytes shipped.
    pub bytes: u64,
    /// Set when the chain cannot continue (the INCR file being followed vanished or shrank,
    /// or the AOF was reset): a new full set is needed.
    pub broken: Option<String>,
}

/// [`ship_segments`] with the daemon's options.
fn ship_chain(
    store: &dyn Store,
    opts: &ShipOptions,
    chain: &mut Chain,
    pinned: &mut Option<(u64, File)>,
    log: Log<'_>,
) -> Result<SegmentPass, ShipError> {
    let (level, max) = (opts.zstd_level, opts.max_segment);
    ship_segments(store, &opts.data, chain, pinned, level, max, log)
}

/// Ships the bytes appended since `chain`, following INCR rollovers. Segments end at command
/// boundaries and are at most `max_segment` raw bytes (unless one command is larger).
///
/// `pinned` keeps the followed INCR file open between calls, so its tail can still be read
/// after a rewrite made Redis delete it.
pub fn ship_segments(
    store: &dyn Store,
    data: &DataDir,
    chain: &mut Chain,
    pinned: &mut Option<(u64, File)>,
    level: i32,
    max_segment: u64,
    log: Log<'_>,
) -> Result<SegmentPass, ShipError> {
    let mut pass = SegmentPass::default();
    let Some(aof_name) = &data.aof_dir else {
        return Ok(pass);
    };
    let aof_dir = data.dir.join(aof_name);
    let Some(mname) = find_manifest(&aof_dir)? else {
        pass.broken = Some("the AOF manifest is gone".into());
        return Ok(pass);
    };
    loop {
        let (_, entries) = read_aof_manifest(&aof_dir.join(&mname))?;
        let cur = entries
            .iter()
            .find(|e| eseq(e) == chain.seq && e.file_type != FileType::Base);
        let next = entries
            .iter()
            .filter(|e| e.file_type == FileType::Incr && eseq(e) > chain.seq)
            .map(eseq)
            .min();
        let path = match cur {
            Some(c) => aof_dir.join(ename(c)),
            None => aof_dir.join(format!("{}.{}.incr.aof", aof_prefix(&mname), chain.seq)),
        };
        if pinned.as_ref().is_none_or(|(s, _)| *s != chain.seq) {
            *pinned = None;
            if cur.is_none() {
                pass.broken = Some(format!(
                    "INCR file seq {} is no longer in the manifest",
                    chain.seq
                ));
                return Ok(pass);
            }
            match File::open(&path) {
                Ok(f) => *pinned = Some((chain.seq, f)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    pass.broken = Some(format!(
                        "{} was deleted before its tail was shipped",
                        path.display()
                    ));
                    return Ok(pass);
                }
                Err(e) => return Err(io_err(&path)(e)),
            }
        }
        if cur.is_none() && next.is_none() {
            pass.broken = Some(format!(
                "INCR file seq {} is no longer in the manifest and no later one exists",
                chain.seq
            ));
            return Ok(pass);
        }
        let Some((_, f)) = pinned.as_ref() else {
            return Ok(pass);
        };
        let len = f.metadata().map_err(io_err(&path))?.len();
        let f = &f.try_clone().map_err(io_err(&path))?;
        if len < chain.offset {
            pass.broken = Some(format!(
                "{} shrank to {len} bytes below the shipped {}",
                path.display(),
                chain.offset
            ));
            return Ok(pass);
        }
        // A closed INCR (a later one exists) gets no more appends: ship it to its end.
        let mut end_all = len;
        let s = scan_file(f, chain.offset, len - chain.offset).map_err(io_err(&path))?;
        if let Some(d) = &s.damaged {
            log(Event {
                action: "warning",
                fields: json!({"file": path.display().to_string(), "message": format!("damaged AOF bytes not shipped: {d}")}),
            });
        }
        end_all = end_all.min(s.boundary);
        while chain.offset < end_all {
            let want = (end_all - chain.offset).min(max_segment);
            let mut end = if want < end_all - chain.offset {
                scan_file(f, chain.offset, want)
                    .map_err(io_err(&path))?
                    .boundary
            } else {
                end_all
            };
            if end == chain.offset {
                end = end_all; // one command larger than max_segment
            }
            if let Some(t) = upload_segment(store, f, &path, chain, end, level, log)? {
                chain.last_ts = Some(t);
            }
            pass.uploaded += 1;
            pass.bytes += end - chain.offset;
            chain.offset = end;
        }
        match next {
            Some(n) => {
                if chain.offset < len && s.damaged.is_none() {
                    // The closed file's tail is an incomplete command; it was never loadable.
                    log(Event {
                        action: "warning",
                        fields: json!({"file": path.display().to_string(), "message": format!("incomplete command at offset {} of a closed INCR file skipped", chain.offset)}),
                    });
                }
                chain.seq = n;
                chain.offset = 0;
                *pinned = None;
            }
            None => return Ok(pass),
        }
    }
}

fn upload_segment(
    store: &dyn Store,
    f: &File,
    path: &Path,
    chain: &Chain,
    end: u64,
    level: i32,
    log: Log<'_>,
) -> Result<Option<i64>, ShipError> {
    let range_len = end - chain.offset;
    let mut r = f;
    r.seek(SeekFrom::Start(chain.offset))
        .map_err(io_err(path))?;
    let (sha, n) = codec::sha256_of(&mut r.take(range_len)).map_err(io_err(path))?;
    if n != range_len {
        return Err(ShipError::Aof {
            path: path.to_path_buf(),
            message: format!("short read at {}", chain.offset),
        });
    }
    let s = scan_file(f, chain.offset, range_len).map_err(io_err(path))?;
    let name = SegmentName {
        set_id: chain.set.id.clone(),
        incr_seq: chain.seq,
        start: chain.offset,
        end,
    };
    let mut meta = Meta::new();
    meta.insert("sha256".into(), sha.clone());
    meta.insert("size".into(), range_len.to_string());
    if let Some(t) = s.first_ts {
        meta.insert("first-ts".into(), t.to_string());
    }
    if let Some(t) = s.last_ts {
        meta.insert("last-ts".into(), t.to_string());
    }
    meta.insert("redsafe-time".into(), now().to_string());
    let mut r = f;
    r.seek(SeekFrom::Start(chain.offset))
        .map_err(io_err(path))?;
    let packed: Packed =
        codec::put_compressed(store, &name.key(), &mut r.take(range_len), level, &meta)?;
    if packed.sha256 != sha {
        // The bytes changed between the two reads: Redis never rewrites INCR bytes in place.
        return Err(ShipError::Aof {
            path: path.to_path_buf(),
            message: format!("bytes {}..{end} changed while shipping", chain.offset),
        });
    }
    log(Event {
        action: "segment-uploaded",
        fields: json!({"set": chain.set.id, "key": name.key(), "incr_seq": chain.seq, "start": chain.offset, "end": end,
            "stored_size": packed.stored_size, "first_ts": s.first_ts, "last_ts": s.last_ts}),
    });
    Ok(s.last_ts)
}

/// Deletes what `verdicts` drop: for each set, its manifest first (the set becomes invisible at
/// once), then its files, then its segments. Segments whose set no longer exists are removed
/// too. Returns the number of objects deleted.
pub fn apply_retention(
    store: &dyn Store,
    cat: &Catalog,
    verdicts: &[Verdict],
) -> Result<u64, StoreError> {
    let mut deleted = 0u64;
    for v in verdicts.iter().filter(|v| !v.keep) {
        let Some(set) = cat.sets.iter().find(|s| s.name == v.name) else {
            continue;
        };
        let mkey = set.name.manifest_key();
        if set.objects.iter().any(|o| o.key == mkey) {
            store.delete(std::slice::from_ref(&mkey))?;
            deleted += 1;
        }
        let rest: Vec<String> = set
            .objects
            .iter()
            .map(|o| o.key.clone())
            .filter(|k| *k != mkey)
            .collect();
        store.delete(&rest)?;
        deleted += rest.len() as u64;
        let segs: Vec<String> = cat
            .segments_of(&set.name.id)
            .iter()
            .map(|s| s.name.key())
            .collect();
        store.delete(&segs)?;
        deleted += segs.len() as u64;
        if cat.chain_break_of(&set.name.id).is_some() {
            store.delete(&[SegmentName::chain_break_key(&set.name.id)])?;
            deleted += 1;
        }
    }
    // Orphaned segments and chain-break records: their set is gone entirely.
    for id in cat.chain_breaks.keys() {
        if !cat.sets.iter().any(|s| &s.name.id == id) {
            store.delete(&[SegmentName::chain_break_key(id)])?;
            deleted += 1;
        }
    }
    for (id, segs) in &cat.segments {
        if !cat.sets.iter().any(|s| &s.name.id == id) {
            let keys: Vec<String> = segs.iter().map(|s| s.name.key()).collect();
            store.delete(&keys)?;
            deleted += keys.len() as u64;
        }
    }
    Ok(deleted)
}

/// Retention candidates from a catalog.
pub fn candidates(cat: &Catalog) -> Vec<Candidate> {
    cat.sets
        .iter()
        .map(|s| Candidate {
            name: s.name.clone(),
            complete: s.complete(),
        })
        .collect()
}

/// Shipping settings.
#[derive(Debug, Clone)]
pub struct ShipOptions {
    /// What to back up.
    pub data: DataDir,
    /// zstd level.
    pub zstd_level: i32,
    /// Take a full set when the newest is at least this old (seconds); `None`: only when
    /// there is none or the segment chain broke.
    pub full_every: Option<u64>,
    /// Take a full set when this schedule fired since the newest set was taken (`--cron`;
    /// used instead of `full_every`).
    pub full_cron: Option<super::cron::Cron>,
    /// Retention applied after each uploaded set.
    pub policy: Policy,
    /// Largest segment (raw bytes).
    pub max_segment: u64,
    /// Snapshot attempts before giving up on a busy AOF.
    pub snapshot_attempts: u32,
}

/// What one cycle did.
#[derive(Debug, Clone, Default)]
pub struct CycleReport {
    /// The set uploaded, if any.
    pub set: Option<SetName>,
    /// Segments uploaded.
    pub segments: u64,
    /// Raw bytes shipped.
    pub bytes: u64,
    /// Objects deleted by retention.
    pub pruned: u64,
}

/// The shipping state machine: one [`Shipper::cycle`] per tick.
pub struct Shipper<'s> {
    store: &'s dyn Store,
    /// Settings.
    pub opts: ShipOptions,
    chain: Option<Chain>,
    pinned: Option<(u64, File)>,
    newest: Option<SetName>,
    recovered: bool,
}

impl<'s> Shipper<'s> {
    /// A shipper writing to `store`.
    pub fn new(store: &'s dyn Store, opts: ShipOptions) -> Self {
        Shipper {
            store,
            opts,
            chain: None,
            pinned: None,
            newest: None,
            recovered: false,
        }
    }

    /// The segment chain position, if any.
    pub fn chain(&self) -> Option<&Chain> {
        self.chain.as_ref()
    }

    /// Finds where an earlier run stopped: the newest complete set and its last segment,
    /// provided the local files still hold the same bytes.
    fn recover(&mut self, log: Log<'_>) -> Result<(), ShipError> {
        self.recovered = true;
        let cat = Catalog::load(self.store)?;
        let Some((entry, m)) = cat.complete_sets().last() else {
            return Ok(());
        };
        self.newest = Some(entry.name.clone());
        let Some(aof) = &m.aof else { return Ok(()) };
        let Some(seq) = aof.last_incr_seq else {
            return Ok(());
        };
        let (segs, _gap) = super::plan::chain(m, cat.segments_of(&entry.name.id));
        let mut chain = Chain {
            set: entry.name.clone(),
            seq,
            offset: aof.last_incr_size,
            last_ts: m.last_ts,
        };
        // The bytes that must still be on disk unchanged: the last segment's, or the set's last INCR.
        let check = if let Some(last) = segs.last() {
            chain.seq = last.name.incr_seq;
            chain.offset = last.name.end;
            let info = self.store.head(&last.name.key())?;
            if let Some(t) = info.meta.get("last-ts").and_then(|t| t.parse().ok()) {
                chain.last_ts = Some(t);
            }
            info.meta
                .get("sha256")
                .map(|h| (last.name.start, last.name.end, h.clone()))
        } else {
            m.files
                .iter()
                .find(|f| f.role == FileRole::AofIncr && f.seq == Some(seq))
                .map(|f| (0, f.packed.size, f.packed.sha256.clone()))
        };
        let ok = match (&self.opts.data.aof_dir, check) {
            (Some(dir), Some((a, b, want))) => {
                self.local_range_sha(dir, chain.seq, a, b)? == Some(want)
            }
            _ => false,
        };
        if ok {
            log(Event {
                action: "resumed",
                fields: json!({"set": chain.set.id, "incr_seq": chain.seq, "offset": chain.offset}),
            });
            self.chain = Some(chain);
        } else if let Some(dir) = self.opts.data.aof_dir.clone() {
            let reason = self.why_unmatched(&dir, &chain)?;
            log(Event {
                action: "chain-broken",
                fields: json!({"set": entry.name.id, "reason": "the local AOF no longer matches the newest set"}),
            });
            self.record_break(&chain, reason, log)?;
        }
        Ok(())
    }

    /// Why the local AOF does not continue `chain`, from its manifest's INCR sequence numbers,
    /// file names and sizes.
    fn why_unmatched(&self, dir: &str, chain: &Chain) -> Result<String, ShipError> {
        let aof_dir = self.opts.data.dir.join(dir);
        let Some(mname) = find_manifest(&aof_dir)? else {
            return Ok(format!(
                "{} has no AOF manifest any more",
                aof_dir.display()
            ));
        };
        let (_, entries) = read_aof_manifest(&aof_dir.join(&mname))?;
        let incrs: Vec<u64> = entries
            .iter()
            .filter(|e| e.file_type == FileType::Incr)
            .map(eseq)
            .collect();
        let Some(e) = entries
            .iter()
            .find(|e| eseq(e) == chain.seq && e.file_type != FileType::Base)
        else {
            let now_has = match (incrs.first(), incrs.last()) {
                (Some(a), Some(b)) if a == b => format!("INCR seq {a}"),
                (Some(a), Some(b)) => format!("INCR seqs {a}..{b}"),
                _ => "no INCR file".into(),
            };
            return Ok(format!(
                "INCR seq {} is no longer in {mname} (a rewrite replaced it while ship was not running; the AOF now has {now_has})",
                chain.seq
            ));
        };
        let p = aof_dir.join(ename(e));
        Ok(match std::fs::metadata(&p) {
            Err(_) => format!("{} is missing", p.display()),
            Ok(md) if md.len() < chain.offset => format!(
                "{} has {} bytes, fewer than the {} shipped (the AOF was replaced)",
                p.display(),
                md.len(),
                chain.offset
            ),
            Ok(_) => format!(
                "the shipped bytes of {} differ from the file on disk (the AOF was replaced)",
                p.display()
            ),
        })
    }

    /// Records that `chain` ended with bytes possibly never shipped: a `warning` log line and
    /// a chain-break record beside the set's segments (shown by `backups list`, honoured by
    /// restore).
    fn record_break(&self, chain: &Chain, reason: String, log: Log<'_>) -> Result<(), ShipError> {
        let rec = ChainBreak {
            set_id: chain.set.id.clone(),
            incr_seq: chain.seq,
            offset: chain.offset,
            last_ts: chain.last_ts,
            detected_at: now(),
            reason,
        };
        log(Event {
            action: "warning",
            fields: json!({"set": chain.set.id, "gap": true,
                "message": format!("segment chain broken: what Redis appended to INCR seq {} after offset {} (after {}) was never shipped; restores between then and the next set fail unless --allow-gap: {}",
                    chain.seq, chain.offset,
                    chain.last_ts.map(format_rfc3339).unwrap_or_else(|| "the set".into()), rec.reason)}),
        });
        let body = serde_json::to_vec_pretty(&rec).map_err(|e| ShipError::Aof {
            path: PathBuf::from(CHAIN_BREAK),
            message: e.to_string(),
        })?;
        self.store.put(
            &SegmentName::chain_break_key(&chain.set.id),
            &mut body.as_slice(),
            &Meta::new(),
        )?;
        Ok(())
    }

    fn local_range_sha(
        &self,
        dir: &str,
        seq: u64,
        a: u64,
        b: u64,
    ) -> Result<Option<String>, ShipError> {
        let aof_dir = self.opts.data.dir.join(dir);
        let Some(mname) = find_manifest(&aof_dir)? else {
            return Ok(None);
        };
        let (_, entries) = read_aof_manifest(&aof_dir.join(mname))?;
        let Some(e) = entries
            .iter()
            .find(|e| eseq(e) == seq && e.file_type != FileType::Base)
        else {
            return Ok(None);
        };
        let p = aof_dir.join(ename(e));
        let Ok(mut f) = File::open(&p) else {
            return Ok(None);
        };
        if f.metadata().map_err(io_err(&p))?.len() < b {
            return Ok(None);
        }
        f.seek(SeekFrom::Start(a)).map_err(io_err(&p))?;
        let (h, n) = codec::sha256_of(&mut f.take(b - a)).map_err(io_err(&p))?;
        Ok((n == b - a).then_some(h))
    }

    /// One cycle at time `now`: a full set when due (or forced, or the chain broke), otherwise
    /// the segments appended since the last cycle. Retention runs after an uploaded set.
    pub fn cycle(
        &mut self,
        now: i64,
        force_full: bool,
        log: Log<'_>,
    ) -> Result<CycleReport, ShipError> {
        if !self.recovered {
            self.recover(log)?;
        }
        let mut rep = CycleReport::default();
        let due = match (&self.newest, self.opts.full_every, &self.opts.full_cron) {
            (None, _, _) => true,
            (Some(n), _, Some(cron)) => cron.next_after(n.time).is_some_and(|f| f <= now),
            (Some(n), Some(every), None) => now - n.time >= every as i64,
            (Some(_), None, None) => false,
        };
        let has_aof = self.opts.data.aof_dir.is_some();
        if !force_full && !due && has_aof {
            if let Some(chain) = &mut self.chain {
                let pass = ship_chain(self.store, &self.opts, chain, &mut self.pinned, log)?;
                rep.segments = pass.uploaded;
                rep.bytes = pass.bytes;
                match pass.broken {
                    None => return Ok(rep),
                    Some(why) => {
                        log(Event {
                            action: "chain-broken",
                            fields: json!({"set": chain.set.id, "reason": why}),
                        });
                        let chain = chain.clone();
                        self.chain = None;
                        self.record_break(&chain, why, log)?;
                    }
                }
            }
        } else if !force_full && !due {
            return Ok(rep);
        }
        // A full set. First bring the current chain up to date, so that the old set's
        // segments reach the moment the new snapshot is taken.
        if has_aof {
            if let Some(chain) = &mut self.chain {
                match ship_chain(self.store, &self.opts, chain, &mut self.pinned, log) {
                    Ok(pass) => {
                        rep.segments += pass.uploaded;
                        rep.bytes += pass.bytes;
                    }
                    Err(e) => log(Event {
                        action: "warning",
                        fields: json!({"set": chain.set.id, "message": format!("final segment before the new set failed: {e}")}),
                    }),
                }
            }
        }
        let snap = snapshot(&self.opts.data, self.opts.snapshot_attempts)?;
        // Never name a set earlier than the previous one (clock steps back); within one
        // second, set ids sort by creation (see `next_set_id`).
        let t = match &self.newest {
            Some(n) if n.time > now => n.time,
            _ => now,
        };
        // A rewrite that finished while the snapshot was taken leaves a BASE newer than this
        // cycle's clock: the set is named at the BASE's time, so that it never claims to
        // restore to a second before its own data (`backups list` and the restore planner
        // would offer a point the set cannot reach). A larger difference is a simulated or
        // skewed clock and is left alone.
        let t = match snap.first_ts {
            Some(b) if b > t && b - t <= 60 => b,
            _ => t,
        };
        let name = SetName {
            time: t,
            id: next_set_id(t, self.newest.as_ref()),
        };
        let t0 = std::time::Instant::now();
        let m = upload_set(self.store, &snap, &name, self.opts.zstd_level, log)?;
        log(Event {
            action: "set-uploaded",
            fields: json!({"set": name.id, "dir": name.dir(), "files": m.files.len(), "size": m.size(),
                "stored_size": m.stored_size(), "snapshot_attempts": snap.attempts, "seconds": t0.elapsed().as_secs_f64(),
                "first_ts": m.first_ts, "last_ts": m.last_ts}),
        });
        rep.set = Some(name.clone());
        rep.bytes += m.size();
        self.chain = m.aof.as_ref().and_then(|a| {
            a.last_incr_seq.map(|seq| Chain {
                set: name.clone(),
                seq,
                offset: a.last_incr_size,
                last_ts: m.last_ts,
            })
        });
        // Keep following the live INCR file through the descriptor the snapshot opened.
        self.pinned = snap
            .files
            .iter()
            .rev()
            .find(|p| p.role == FileRole::AofIncr)
            .and_then(|p| Some((p.seq?, p.file.try_clone().ok()?)));
        self.newest = Some(name);
        if !self.opts.policy.is_empty() {
            rep.pruned = self.prune(now, log)?;
        }
        Ok(rep)
    }

    /// Applies the retention policy now.
    pub fn prune(&self, now: i64, log: Log<'_>) -> Result<u64, ShipError> {
        let cat = Catalog::load(self.store)?;
        let verdicts = retention::decide(&self.opts.policy, &candidates(&cat), now);
        let n = apply_retention(self.store, &cat, &verdicts)?;
        for v in verdicts.iter().filter(|v| !v.keep) {
            log(Event {
                action: "pruned",
                fields: json!({"set": v.name.id, "time": format_rfc3339(v.name.time), "reason": v.reasons}),
            });
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::cron::{utc, Cron};
    use crate::backup::local::LocalDir;

    fn resp(args: &[&str]) -> Vec<u8> {
        let mut v = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            v.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
        v
    }

    /// A data directory `tmp/data` with a one-BASE, one-INCR AOF set, and ship options for it.
    fn aof_data_dir(tmp: &Path, base: &[u8], incr: &[u8], cron: Option<Cron>) -> ShipOptions {
        let _ = std::fs::remove_dir_all(tmp);
        let aof = tmp.join("data/appendonlydir");
        std::fs::create_dir_all(&aof).unwrap();
        std::fs::write(
            aof.join("appendonly.aof.manifest"),
            "file appendonly.aof.1.base.aof seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n",
        )
        .unwrap();
        std::fs::write(aof.join("appendonly.aof.1.base.aof"), base).unwrap();
        std::fs::write(aof.join("appendonly.aof.1.incr.aof"), incr).unwrap();
        ShipOptions {
            data: DataDir {
                dir: tmp.join("data"),
                rdb: None,
                aof_dir: Some("appendonlydir".into()),
            },
            zstd_level: 1,
            full_every: None,
            full_cron: cron,
            policy: Policy::default(),
            max_segment: 1 << 20,
            snapshot_attempts: 3,
        }
    }

    /// A BASE made a few seconds after the cycle's clock (a rewrite finished during the
    /// snapshot) names the set at the BASE's time, so the set never offers a second before its
    /// own data; a BASE far from the clock (a simulated clock) leaves the name alone.
    #[test]
    fn a_set_is_never_named_before_its_base() {
        for (ahead, expect_ahead) in [(3i64, true), (100_000, false)] {
            let tmp = std::env::temp_dir()
                .join(format!("redsafe-base-time-{}-{ahead}", std::process::id()));
            let t = utc(2026, 11, 23, 12, 0, 0);
            let mut base = format!("#TS:{}\r\n", t + ahead).into_bytes();
            base.extend_from_slice(&resp(&["SET", "a", "1"]));
            let opts = aof_data_dir(&tmp, &base, &resp(&["SET", "b", "2"]), None);
            let store = LocalDir::new(tmp.join("store"));
            let mut sh = Shipper::new(&store, opts);
            let r = sh.cycle(t, false, &mut |_| {}).unwrap();
            let set = r.set.expect("a first set");
            let want = if expect_ahead { t + ahead } else { t };
            assert_eq!(set.time, want, "base {ahead} s after the clock");
            let _ = std::fs::remove_dir_all(&tmp);
        }
    }

    /// A simulated clock over two days with `--cron '30 2 * * *'` (02:30 UTC daily) and a
    /// cycle every 10 minutes: full sets come exactly at the first cycle at or after each
    /// 02:30, plus the first one (no set yet); the other cycles ship segments only.
    #[test]
    fn cron_schedule_over_a_simulated_clock() {
        let tmp = std::env::temp_dir().join(format!("redsafe-cron-ship-{}", std::process::id()));
        let cron = Some(Cron::parse("30 2 * * *").unwrap());
        let opts = aof_data_dir(&tmp, &resp(&["SET", "a", "1"]), b"", cron);
        let incr = tmp.join("data/appendonlydir/appendonly.aof.1.incr.aof");
        let store = LocalDir::new(tmp.join("store"));
        let mut sh = Shipper::new(&store, opts);
        let start = utc(2026, 11, 21, 23, 55, 0);
        let mut full_at = Vec::new();
        let mut segments = 0;
        for i in 0..(2 * 24 * 6) {
            let t = start + i * 600;
            let mut f = std::fs::OpenOptions::new()
                .append(true)
                .open(&incr)
                .unwrap();
            std::io::Write::write_all(&mut f, &resp(&["INCR", "n"])).unwrap();
            let r = sh.cycle(t, false, &mut |_| {}).unwrap();
            if r.set.is_some() {
                full_at.push(t);
            }
            segments += r.segments;
        }
        let _ = std::fs::remove_dir_all(&tmp);
        // 23:55 (first), then the cycles at 02:35 (the first at or after 02:30: cycles fall on
        // :05, :15, ... since the start is 23:55) on Nov 22 and Nov 23.
        assert_eq!(
            full_at,
            vec![
                start,
                utc(2026, 11, 22, 2, 35, 0),
                utc(2026, 11, 23, 2, 35, 0)
            ]
        );
        // Every cycle but the first ships the command appended since the previous one (a
        // full-set cycle first brings the old set's chain up to date).
        assert_eq!(segments, 2 * 24 * 6 - 1);
    }
}
