//! Comparing two RDB files key by key: keys only in A, only in B, and keys whose type,
//! value or expiry changed; plus the files' AUX fields (ctime, replication ID and offset)
//! and function libraries side by side.
//!
//! RDB files are not in key order (they follow the server's hash tables), so the files are
//! compared through a per-key record: type, expiry and a 128-bit content digest of the
//! value ([`digest::value_digest`], encoding-independent). When A's records fit the memory
//! limit they are held in one hash map while B streams past; otherwise both files are
//! hash-partitioned by key into spill files in a temporary directory and compared one
//! partition at a time, so memory stays bounded whatever the file sizes.

pub mod digest;

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use xxhash_rust::xxh3::xxh3_64;

use crate::error::{Error, Result};
use crate::filter::KeyFilter;
use crate::rdb::{Header, RdbReader, Record, Scratch, ValueType};
use crate::stats::{function_library, ser_bytes};

/// What a file holds besides its keys, for the side-by-side header.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FileMeta {
    /// The header.
    pub header: Option<Header>,
    /// File size in bytes.
    pub size: u64,
    /// AUX fields in file order.
    #[serde(skip)]
    pub aux: Vec<(Vec<u8>, Vec<u8>)>,
    /// Keys (that passed the filter).
    pub keys: u64,
    /// Function libraries: name → digest of the code.
    #[serde(skip)]
    pub functions: BTreeMap<Vec<u8>, (u128, Vec<u8>)>,
}

impl FileMeta {
    /// The value of an AUX field.
    pub fn aux(&self, name: &str) -> Option<&[u8]> {
        self.aux
            .iter()
            .rev()
            .find(|(k, _)| k == name.as_bytes())
            .map(|(_, v)| v.as_slice())
    }
}

/// A key's comparable record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyDigest {
    /// Type.
    pub ty: ValueType,
    /// Absolute expiry, unix ms.
    pub expire_ms: Option<i64>,
    /// Content digest.
    pub digest: u128,
}

/// One difference.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Difference {
    /// The key exists only in A.
    OnlyInA {
        /// Database.
        db: u64,
        /// Key.
        #[serde(serialize_with = "ser_bytes")]
        key: Vec<u8>,
        /// Its type in A.
        #[serde(rename = "type")]
        ty: ValueType,
    },
    /// The key exists only in B.
    OnlyInB {
        /// Database.
        db: u64,
        /// Key.
        #[serde(serialize_with = "ser_bytes")]
        key: Vec<u8>,
        /// Its type in B.
        #[serde(rename = "type")]
        ty: ValueType,
    },
    /// The key exists in both with a different type, value or expiry.
    Changed {
        /// Database.
        db: u64,
        /// Key.
        #[serde(serialize_with = "ser_bytes")]
        key: Vec<u8>,
        /// Type in A.
        type_a: ValueType,
        /// Type in B.
        type_b: ValueType,
        /// The value differs (always true when the type does).
        value_changed: bool,
        /// Expiry in A.
        expire_a: Option<i64>,
        /// Expiry in B.
        expire_b: Option<i64>,
    },
}

impl Difference {
    /// Database and key.
    pub fn key(&self) -> (u64, &[u8]) {
        match self {
            Difference::OnlyInA { db, key, .. }
            | Difference::OnlyInB { db, key, .. }
            | Difference::Changed { db, key, .. } => (*db, key),
        }
    }
}

/// The default [`DiffOptions::memory_limit`]: 48 MiB.
pub const DEFAULT_MEMORY_LIMIT: u64 = 48 << 20;

/// Options of [`diff_rdb`].
#[derive(Debug, Clone)]
pub struct DiffOptions {
    /// Keys to compare (applied to both files).
    pub filter: KeyFilter,
    /// Approximate memory the comparison may use for A's records before spilling to disk.
    pub memory_limit: u64,
    /// Where spill files go (a fresh subdirectory is created and removed).
    pub tmp_dir: PathBuf,
    /// Paths of A and B, to name the file in errors.
    pub paths: Option<(PathBuf, PathBuf)>,
    /// Verify both files' CRC-64 (default on): a mismatch fails the comparison.
    pub verify_checksum: bool,
}

impl Default for DiffOptions {
    fn default() -> Self {
        DiffOptions {
            filter: KeyFilter::new(),
            memory_limit: DEFAULT_MEMORY_LIMIT,
            tmp_dir: std::env::temp_dir(),
            paths: None,
            verify_checksum: true,
        }
    }
}

/// Totals of a comparison.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DiffSummary {
    /// Keys only in A.
    pub only_in_a: u64,
    /// Keys only in B.
    pub only_in_b: u64,
    /// Keys in both with differences.
    pub changed: u64,
    /// ... of which the type changed.
    pub changed_type: u64,
    /// ... of which the value changed (same type).
    pub changed_value: u64,
    /// ... of which the expiry changed.
    pub changed_expiry: u64,
    /// Keys identical in both.
    pub identical: u64,
    /// Partitions used (1 = in memory).
    pub partitions: u32,
    /// Function libraries only in A.
    #[serde(serialize_with = "ser_list")]
    pub functions_only_in_a: Vec<Vec<u8>>,
    /// Function libraries only in B.
    #[serde(serialize_with = "ser_list")]
    pub functions_only_in_b: Vec<Vec<u8>>,
    /// Function libraries in both with different code.
    #[serde(serialize_with = "ser_list")]
    pub functions_changed: Vec<Vec<u8>>,
}

impl DiffSummary {
    /// True when the files hold the same keys, values, expiries and functions.
    pub fn is_identical(&self) -> bool {
        self.only_in_a == 0
            && self.only_in_b == 0
            && self.changed == 0
            && self.functions_only_in_a.is_empty()
            && self.functions_only_in_b.is_empty()
            && self.functions_changed.is_empty()
    }
}

fn ser_list<S: serde::Serializer>(v: &[Vec<u8>], s: S) -> std::result::Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    struct B<'a>(&'a [u8]);
    impl Serialize for B<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
            ser_bytes(self.0, s)
        }
    }
    let mut seq = s.serialize_seq(Some(v.len()))?;
    for x in v {
        seq.serialize_element(&B(x))?;
    }
    seq.end()
}

/// Reads the records before the first key (header, AUX fields, functions), to show the
/// files side by side before comparing them. The key count stays 0.
pub fn read_meta(data: &[u8]) -> Result<FileMeta> {
    let mut m = FileMeta {
        size: data.len() as u64,
        ..Default::default()
    };
    for item in RdbReader::new(data) {
        match item?.record {
            Record::Header(h) => m.header = Some(h),
            Record::Aux { key, value } => m.aux.push((key, value)),
            Record::Function { code } => {
                let (name, _) = function_library(&code);
                m.functions
                    .insert(name, (xxhash_rust::xxh3::xxh3_128(&code), code));
            }
            Record::Entry(_) | Record::Eof { .. } => break,
            _ => {}
        }
    }
    Ok(m)
}

/// A per-key callback: db, key, record.
type OnKey<'a> = dyn FnMut(u64, &[u8], KeyDigest) -> Result<()> + 'a;

/// Walks a file, calling `f` for every key that passes the filter.
fn walk(
    data: &[u8],
    filter: &KeyFilter,
    verify_checksum: bool,
    meta: &mut FileMeta,
    f: &mut OnKey<'_>,
    progress: &mut dyn FnMut(u64),
) -> Result<()> {
    meta.size = data.len() as u64;
    let mut scratch = Scratch::default();
    let pass_all = filter.is_pass_all();
    let mut next = 0u64;
    let mut reader = RdbReader::new(data);
    while let Some(item) = reader.next() {
        let item = item?;
        if item.offset >= next {
            progress(item.offset);
            next = item.offset + (16 << 20);
        }
        match item.record {
            Record::Eof { checksum, .. } if verify_checksum => {
                reader.verify_checksum(checksum)?;
            }
            Record::Header(h) => meta.header = Some(h),
            Record::Aux { key, value } => meta.aux.push((key, value)),
            Record::Function { code } => {
                let (name, _) = function_library(&code);
                meta.functions
                    .insert(name, (xxhash_rust::xxh3::xxh3_128(&code), code));
            }
            Record::Entry(e) => {
                if !pass_all && !filter.matches_entry(&e) {
                    continue;
                }
                meta.keys += 1;
                let digest = digest::value_digest(&e.value, &mut scratch)
                    .map_err(|err| err.with_key(Some(e.db), &e.key))?;
                let kd = KeyDigest {
                    ty: e.value.value_type(),
                    expire_ms: e.expire_ms,
                    digest,
                };
                f(e.db, &e.key, kd)?;
            }
            _ => {}
        }
    }
    progress(data.len() as u64);
    Ok(())
}

/// Names file `i` (0 = A, 1 = B) in an error.
fn in_file(opts: &DiffOptions, i: usize, e: Error) -> Error {
    match &opts.paths {
        Some((a, b)) => e.in_file(if i == 0 { a } else { b }),
        None => e.with_context(if i == 0 { "file A" } else { "file B" }),
    }
}

fn compare(
    db: u64,
    key: &[u8],
    a: KeyDigest,
    b: KeyDigest,
    s: &mut DiffSummary,
) -> Option<Difference> {
    if a == b {
        s.identical += 1;
        return None;
    }
    s.changed += 1;
    let value_changed = a.ty != b.ty || a.digest != b.digest;
    if a.ty != b.ty {
        s.changed_type += 1;
    } else if value_changed {
        s.changed_value += 1;
    }
    if a.expire_ms != b.expire_ms {
        s.changed_expiry += 1;
    }
    Some(Difference::Changed {
        db,
        key: key.to_vec(),
        type_a: a.ty,
        type_b: b.ty,
        value_changed,
        expire_a: a.expire_ms,
        expire_b: b.expire_ms,
    })
}

/// Bytes a record of `key_len` takes in the in-memory map (key, digest, hash table slot).
fn mem_cost(key_len: usize) -> u64 {
    key_len as u64 + 96
}

type Map = HashMap<(u64, Vec<u8>), KeyDigest>;

/// Sorts and emits a batch of differences.
fn emit_sorted(
    mut v: Vec<Difference>,
    on_diff: &mut dyn FnMut(Difference) -> Result<()>,
) -> Result<()> {
    v.sort_by(|x, y| x.key().cmp(&y.key()));
    for d in v {
        on_diff(d)?;
    }
    Ok(())
}

fn ty_byte(t: ValueType) -> u8 {
    t as u8
}

fn ty_from(b: u8) -> ValueType {
    ValueType::ALL
        .get(b as usize)
        .copied()
        .unwrap_or(ValueType::Module)
}

/// A spill file writer: records of (db, key, type, expiry, digest).
struct Spill {
    files: Vec<BufWriter<File>>,
    paths: Vec<PathBuf>,
}

impl Spill {
    /// `n` spill files whose write buffers together take at most a quarter of `budget`.
    fn new(dir: &Path, tag: &str, n: u32, budget: u64) -> Result<Spill> {
        let mut files = Vec::new();
        let mut paths = Vec::new();
        let cap = (budget / 4 / n.max(1) as u64).clamp(4 << 10, 64 << 10) as usize;
        for i in 0..n {
            let p = dir.join(format!("{tag}-{i:05}"));
            let f = File::create(&p).map_err(|e| Error::io(&p, &e))?;
            files.push(BufWriter::with_capacity(cap, f));
            paths.push(p);
        }
        Ok(Spill { files, paths })
    }

    fn put(&mut self, db: u64, key: &[u8], d: KeyDigest) -> Result<()> {
        let n = self.files.len() as u64;
        let mut h = Vec::with_capacity(key.len() + 8);
        h.extend_from_slice(&db.to_le_bytes());
        h.extend_from_slice(key);
        let i = (xxh3_64(&h) % n) as usize;
        let mut rec = Vec::with_capacity(key.len() + 48);
        rec.extend_from_slice(&db.to_le_bytes());
        rec.extend_from_slice(&(key.len() as u64).to_le_bytes());
        rec.extend_from_slice(key);
        rec.push(ty_byte(d.ty));
        match d.expire_ms {
            Some(t) => {
                rec.push(1);
                rec.extend_from_slice(&t.to_le_bytes());
            }
            None => {
                rec.push(0);
                rec.extend_from_slice(&0i64.to_le_bytes());
            }
        }
        rec.extend_from_slice(&d.digest.to_le_bytes());
        self.files[i]
            .write_all(&rec)
            .map_err(|e| Error::io(&self.paths[i], &e))
    }

    fn finish(self) -> Result<Vec<PathBuf>> {
        for (f, p) in self.files.into_iter().zip(&self.paths) {
            f.into_inner().map_err(|e| Error::io(p, e.error()))?;
        }
        Ok(self.paths)
    }
}

/// Reads back a spill file's records, streaming.
fn read_spill(p: &Path, f: &mut dyn FnMut(u64, Vec<u8>, KeyDigest) -> Result<()>) -> Result<()> {
    let fh = File::open(p).map_err(|e| Error::io(p, &e))?;
    let len = fh.metadata().map_err(|e| Error::io(p, &e))?.len();
    let mut r = std::io::BufReader::with_capacity(64 << 10, fh);
    let corrupt = || Error::usage(format!("{}: spill file damaged", p.display()));
    let mut at = 0u64;
    let mut head = [0u8; 16];
    let mut rest = [0u8; 26];
    while at < len {
        r.read_exact(&mut head).map_err(|_| corrupt())?;
        let db = u64::from_le_bytes(head[..8].try_into().unwrap_or([0; 8]));
        let klen = u64::from_le_bytes(head[8..].try_into().unwrap_or([0; 8]));
        if klen > len - at {
            return Err(corrupt());
        }
        let mut key = vec![0u8; klen as usize];
        r.read_exact(&mut key).map_err(|_| corrupt())?;
        r.read_exact(&mut rest).map_err(|_| corrupt())?;
        at += 16 + klen + 26;
        let ty = ty_from(rest[0]);
        let exp = i64::from_le_bytes(rest[2..10].try_into().unwrap_or([0; 8]));
        let expire_ms = (rest[1] == 1).then_some(exp);
        let digest = u128::from_le_bytes(rest[10..26].try_into().unwrap_or([0; 16]));
        f(
            db,
            key,
            KeyDigest {
                ty,
                expire_ms,
                digest,
            },
        )?;
    }
    Ok(())
}

/// A temporary directory removed on drop.
struct TmpDir(PathBuf);

impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Compares two whole RDB files. Differences go to `on_diff`, sorted by (db, key) within
/// each partition (globally when in memory). Returns the totals and both files' metadata.
/// `progress` receives (file index 0/1, offset).
pub fn diff_rdb(
    a: &[u8],
    b: &[u8],
    opts: &DiffOptions,
    on_diff: &mut dyn FnMut(Difference) -> Result<()>,
    progress: &mut dyn FnMut(usize, u64),
) -> Result<(DiffSummary, FileMeta, FileMeta)> {
    let mut s = DiffSummary::default();
    let mut ma = FileMeta::default();
    let mut mb = FileMeta::default();
    // A partition's records cost about their key plus ~96 bytes; with tiny values a file
    // holds about one key per 24 bytes, so budget for that many, from the larger file (B's
    // keys become differences held until their partition is done).
    let estimate = (a.len().max(b.len()) as u64 / 24).saturating_mul(mem_cost(16));
    let parts = estimate.div_ceil(opts.memory_limit.max(1)).clamp(1, 4096) as u32;
    s.partitions = parts;
    if parts == 1 {
        let mut map: Map = HashMap::new();
        walk(
            a,
            &opts.filter,
            opts.verify_checksum,
            &mut ma,
            &mut |db, key, d| {
                map.insert((db, key.to_vec()), d);
                Ok(())
            },
            &mut |o| progress(0, o),
        )
        .map_err(|e| in_file(opts, 0, e))?;
        let mut diffs = Vec::new();
        walk(
            b,
            &opts.filter,
            opts.verify_checksum,
            &mut mb,
            &mut |db, key, d| {
                match map.remove(&(db, key.to_vec())) {
                    Some(ad) => diffs.extend(compare(db, key, ad, d, &mut s)),
                    None => {
                        s.only_in_b += 1;
                        diffs.push(Difference::OnlyInB {
                            db,
                            key: key.to_vec(),
                            ty: d.ty,
                        });
                    }
                }
                Ok(())
            },
            &mut |o| progress(1, o),
        )
        .map_err(|e| in_file(opts, 1, e))?;
        for ((db, key), d) in map {
            s.only_in_a += 1;
            diffs.push(Difference::OnlyInA { db, key, ty: d.ty });
        }
        emit_sorted(diffs, on_diff)?;
    } else {
        let dir = opts.tmp_dir.join(format!(
            "redsafe-diff-{}-{}",
            std::process::id(),
            crate::filter::now_ms()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, &e))?;
        let _guard = TmpDir(dir.clone());
        let mut sa = Spill::new(&dir, "a", parts, opts.memory_limit)?;
        walk(
            a,
            &opts.filter,
            opts.verify_checksum,
            &mut ma,
            &mut |db, key, d| sa.put(db, key, d),
            &mut |o| progress(0, o),
        )
        .map_err(|e| in_file(opts, 0, e))?;
        let pa = sa.finish()?;
        let mut sb = Spill::new(&dir, "b", parts, opts.memory_limit)?;
        walk(
            b,
            &opts.filter,
            opts.verify_checksum,
            &mut mb,
            &mut |db, key, d| sb.put(db, key, d),
            &mut |o| progress(1, o),
        )
        .map_err(|e| in_file(opts, 1, e))?;
        let pb = sb.finish()?;
        for (fa, fb) in pa.iter().zip(&pb) {
            let mut map: Map = HashMap::new();
            read_spill(fa, &mut |db, key, d| {
                map.insert((db, key), d);
                Ok(())
            })?;
            let _ = std::fs::remove_file(fa);
            let mut diffs = Vec::new();
            read_spill(fb, &mut |db, key, d| {
                let k = (db, key);
                match map.remove(&k) {
                    Some(ad) => diffs.extend(compare(k.0, &k.1, ad, d, &mut s)),
                    None => {
                        s.only_in_b += 1;
                        diffs.push(Difference::OnlyInB {
                            db: k.0,
                            key: k.1,
                            ty: d.ty,
                        });
                    }
                }
                Ok(())
            })?;
            for ((db, key), d) in map {
                s.only_in_a += 1;
                diffs.push(Difference::OnlyInA { db, key, ty: d.ty });
            }
            emit_sorted(diffs, on_diff)?;
            let _ = std::fs::remove_file(fb);
        }
    }
    functions_diff(&ma, &mb, &mut s);
    Ok((s, ma, mb))
}

fn functions_diff(ma: &FileMeta, mb: &FileMeta, s: &mut DiffSummary) {
    for (name, (da, _)) in &ma.functions {
        match mb.functions.get(name) {
            None => s.functions_only_in_a.push(name.clone()),
            Some((db, _)) if db != da => s.functions_changed.push(name.clone()),
            _ => {}
        }
    }
    for name in mb.functions.keys() {
        if !ma.functions.contains_key(name) {
            s.functions_only_in_b.push(name.clone());
        }
    }
}
