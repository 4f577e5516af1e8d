//! AOF sets: a single old-style AOF file, or a multi-part AOF directory with its manifest.
//!
//! [`AofSet::open`] accepts an AOF file, an `appendonlydir/` (or a Redis `dir` holding one),
//! or a `.manifest`, and lists the files Redis would load, in order: the BASE (RDB or RESP)
//! then the INCR files. HISTORY files are never part of a set. Every file must be a plain
//! name inside the AOF directory: symbolic links that lead outside it are refused.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::aof::manifest::{FileType, Manifest, ManifestEntry};
use crate::error::{Error, ErrorKind, Result};

/// What a path given on the command line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// An RDB file: named `*.rdb`, or starting with `REDIS`/`VALKEY` and not named `*.aof`.
    Rdb,
    /// A single AOF file (RESP, possibly after an RDB preamble; or empty).
    AofFile,
    /// A multi-part AOF manifest.
    Manifest,
    /// A directory holding a manifest (or a Redis `dir` holding `appendonlydir/`).
    Directory,
}

/// True when `data` starts like an RDB file: `REDIS` (as `redis-check-aof` tests, with at
/// least 8 bytes) or Valkey 9's `VALKEY`.
pub fn has_rdb_magic(data: &[u8]) -> bool {
    data.len() >= 8 && (data.starts_with(b"REDIS") || data.starts_with(b"VALKEY"))
}

/// True when the first line that is not a `#` comment starts with `file` (how Redis since
/// 7.2.5 / PR #12958 recognises a manifest; 7.0's checker also looked at later lines and
/// took AOFs holding a value starting with "file" for manifests).
pub fn looks_like_manifest(head: &[u8]) -> bool {
    let mut pos = 0;
    while pos < head.len() {
        let win = &head[pos..head
            .len()
            .min(pos + crate::aof::manifest::MANIFEST_MAX_LINE)];
        let chunk = match memchr::memchr(b'\n', win) {
            Some(i) => &win[..=i],
            None => win,
        };
        if chunk.first() != Some(&b'#') {
            return chunk.starts_with(b"file");
        }
        pos += chunk.len();
    }
    false
}

fn read_head(path: &Path, n: usize) -> Result<Vec<u8>> {
    let (f, _) = crate::mmap::open_input(path)?;
    let mut head = Vec::with_capacity(n);
    f.take(n as u64)
        .read_to_end(&mut head)
        .map_err(|e| Error::io(path, &e))?;
    Ok(head)
}

/// Detects what `path` is (see [`InputKind`]).
///
/// Only the first 64 KiB of a file are read, so the input must be a regular file or a
/// directory: anything else (a pipe, a device) is refused ([`crate::mmap::input_metadata`]).
pub fn detect_kind(path: &Path) -> Result<InputKind> {
    let meta = crate::mmap::input_metadata(path)?;
    if meta.is_dir() {
        return Ok(InputKind::Directory);
    }
    // A file named `*.rdb` is an RDB whatever its first bytes: an empty, cut-short or
    // wrong-magic dump must be reported as a damaged RDB, not read as an (empty) AOF.
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("rdb"))
    {
        return Ok(InputKind::Rdb);
    }
    let head = read_head(path, 64 << 10)?;
    if has_rdb_magic(&head) {
        let is_aof = path
            .file_name()
            .map(|n| n.to_string_lossy().ends_with(".aof"))
            .unwrap_or(false);
        return Ok(if is_aof {
            InputKind::AofFile
        } else {
            InputKind::Rdb
        });
    }
    if looks_like_manifest(&head) {
        return Ok(InputKind::Manifest);
    }
    Ok(InputKind::AofFile)
}

/// Single old-style file or multi-part directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AofKind {
    /// One file (Redis ≤ 6.2, or any single AOF file).
    Aof,
    /// A manifest with BASE and INCR files (Redis 7.0+).
    MultiPartAof,
}

impl AofKind {
    /// `"aof"` or `"multi-part-aof"`.
    pub fn name(self) -> &'static str {
        match self {
            AofKind::Aof => "aof",
            AofKind::MultiPartAof => "multi-part-aof",
        }
    }
}

/// The role of a file in a set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PartRole {
    /// A single old-style AOF file.
    Single,
    /// The BASE of a multi-part set.
    Base,
    /// An INCR file of a multi-part set.
    Incr,
}

/// One file of a set, in load order.
#[derive(Debug, Clone)]
pub struct AofPart {
    /// The file name (as in the manifest).
    pub name: Vec<u8>,
    /// Its path.
    pub path: PathBuf,
    /// Single, BASE or INCR.
    pub role: PartRole,
    /// The manifest entry (multi-part sets).
    pub entry: Option<ManifestEntry>,
    /// Size when the set was opened; `None` when the file is missing.
    pub size: Option<u64>,
    /// Starts with an RDB (`REDIS`/`VALKEY` magic, at least 8 bytes): the RDB is read first,
    /// then the RESP tail. Never set for INCR files (Redis reads those as RESP only).
    pub rdb: bool,
}

impl AofPart {
    /// The file name as text.
    pub fn name_lossy(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }

    /// Reads the whole file into memory (not mapped: a live AOF may be truncated by Redis).
    pub fn read(&self) -> Result<crate::mmap::MappedFile> {
        crate::mmap::MappedFile::read(&self.path)
    }
}

/// A set of AOF files as Redis loads them.
#[derive(Debug, Clone)]
pub struct AofSet {
    /// Single file or multi-part.
    pub kind: AofKind,
    /// The directory holding the files.
    pub dir: PathBuf,
    /// The manifest path (multi-part).
    pub manifest_path: Option<PathBuf>,
    /// The manifest (multi-part).
    pub manifest: Option<Manifest>,
    /// The files Redis loads, in order (BASE, then INCR files).
    pub parts: Vec<AofPart>,
}

/// Converts a manifest name to a path component.
pub fn name_to_os(name: &[u8]) -> std::ffi::OsString {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        std::ffi::OsStr::from_bytes(name).to_os_string()
    }
    #[cfg(not(unix))]
    {
        String::from_utf8_lossy(name).into_owned().into()
    }
}

/// Converts a file name to manifest bytes.
pub fn os_to_name(name: &std::ffi::OsStr) -> Vec<u8> {
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        name.as_bytes().to_vec()
    }
    #[cfg(not(unix))]
    {
        name.to_string_lossy().as_bytes().to_vec()
    }
}

fn refuse(path: &Path, why: String) -> Error {
    Error::new(ErrorKind::Corrupt {
        expected: "a file inside the AOF directory",
        found: why,
    })
    .in_file(path)
}

impl AofSet {
    /// Opens an AOF file, an AOF directory (or a Redis `dir` holding `appendonlydir/`), or a
    /// manifest.
    pub fn open(path: &Path) -> Result<AofSet> {
        match detect_kind(path)? {
            InputKind::Directory => Self::open_dir(path),
            InputKind::Manifest => Self::open_manifest(path),
            InputKind::AofFile | InputKind::Rdb => Self::open_file(path),
        }
    }

    /// A single AOF file (a set of one part).
    pub fn open_file(path: &Path) -> Result<AofSet> {
        let (_, meta) = crate::mmap::open_input(path)?;
        let head = read_head(path, 16)?;
        let dir = path
            .parent()
            .map(|p| {
                if p.as_os_str().is_empty() {
                    PathBuf::from(".")
                } else {
                    p.to_path_buf()
                }
            })
            .unwrap_or_else(|| PathBuf::from("."));
        let name = path
            .file_name()
            .map(os_to_name)
            .unwrap_or_else(|| b"appendonly.aof".to_vec());
        Ok(AofSet {
            kind: AofKind::Aof,
            dir,
            manifest_path: None,
            manifest: None,
            parts: vec![AofPart {
                name,
                path: path.to_path_buf(),
                role: PartRole::Single,
                entry: None,
                size: Some(meta.len()),
                rdb: has_rdb_magic(&head),
            }],
        })
    }

    /// A directory: the single `*.manifest` inside it; or its `appendonlydir/`; or its
    /// `appendonly.aof`.
    pub fn open_dir(dir: &Path) -> Result<AofSet> {
        let mut manifests = Vec::new();
        let rd = std::fs::read_dir(dir).map_err(|e| Error::io(dir, &e))?;
        for e in rd {
            let e = e.map_err(|e| Error::io(dir, &e))?;
            let p = e.path();
            let is_manifest = p
                .file_name()
                .map(|n| {
                    let n = n.to_string_lossy();
                    n.ends_with(".manifest") && !n.starts_with("temp-")
                })
                .unwrap_or(false);
            if is_manifest && p.is_file() {
                manifests.push(p);
            }
        }
        manifests.sort();
        match manifests.len() {
            1 => return Self::open_manifest(&manifests[0]),
            0 => {}
            _ => {
                return Err(Error::usage(format!(
                    "{} holds several manifests ({}); name the one to use",
                    dir.display(),
                    manifests
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )))
            }
        }
        let sub = dir.join("appendonlydir");
        if sub.is_dir() {
            return Self::open_dir(&sub);
        }
        let single = dir.join("appendonly.aof");
        if single.is_file() {
            return Self::open_file(&single);
        }
        Err(Error::usage(format!(
            "{}: no AOF manifest (*.manifest), appendonlydir/ or appendonly.aof in this directory",
            dir.display()
        )))
    }

    /// A manifest: its files are looked up in the manifest's directory.
    pub fn open_manifest(manifest_path: &Path) -> Result<AofSet> {
        let data = crate::mmap::MappedFile::read(manifest_path)?;
        let manifest = Manifest::parse(data.bytes()).map_err(|e| e.in_file(manifest_path))?;
        let dir = manifest_path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        Self::from_manifest(dir, Some(manifest_path.to_path_buf()), manifest)
    }

    /// A set from a manifest already parsed, with files in `dir`.
    pub fn from_manifest(
        dir: PathBuf,
        manifest_path: Option<PathBuf>,
        manifest: Manifest,
    ) -> Result<AofSet> {
        let canon_dir = std::fs::canonicalize(&dir).map_err(|e| Error::io(&dir, &e))?;
        let mut parts = Vec::new();
        let entries = manifest.base().into_iter().chain(manifest.incrs());
        for e in entries {
            if let Some(why) = crate::aof::manifest::unsafe_name_reason(&e.name) {
                return Err(refuse(&dir, why.to_string()));
            }
            let path = dir.join(name_to_os(&e.name));
            if let Some(m) = &manifest_path {
                if m.file_name() == path.file_name() {
                    return Err(refuse(
                        m,
                        format!(
                            "the manifest itself, listed as {} file",
                            if e.file_type == FileType::Base {
                                "a BASE"
                            } else {
                                "an INCR"
                            }
                        ),
                    ));
                }
            }
            let size = match std::fs::symlink_metadata(&path) {
                Ok(m) => {
                    if m.file_type().is_symlink() {
                        let real =
                            std::fs::canonicalize(&path).map_err(|er| Error::io(&path, &er))?;
                        if !real.starts_with(&canon_dir) {
                            return Err(refuse(
                                &path,
                                format!(
                                    "a symbolic link to {}, outside the AOF directory",
                                    real.display()
                                ),
                            ));
                        }
                    }
                    let (_, m) = crate::mmap::open_input(&path)?;
                    Some(m.len())
                }
                Err(er) if er.kind() == std::io::ErrorKind::NotFound => None,
                Err(er) => return Err(Error::io(&path, &er)),
            };
            let role = if e.file_type == FileType::Base {
                PartRole::Base
            } else {
                PartRole::Incr
            };
            let rdb = role == PartRole::Base
                && size.is_some()
                && has_rdb_magic(&read_head(&path, 16).unwrap_or_default());
            parts.push(AofPart {
                name: e.name.clone(),
                path,
                role,
                entry: Some(e.clone()),
                size,
                rdb,
            });
        }
        Ok(AofSet {
            kind: AofKind::MultiPartAof,
            dir,
            manifest_path,
            manifest: Some(manifest),
            parts,
        })
    }

    /// The manifest file name (multi-part), e.g. `appendonly.aof.manifest`.
    pub fn manifest_name(&self) -> Option<std::ffi::OsString> {
        self.manifest_path
            .as_ref()
            .and_then(|p| p.file_name())
            .map(|n| n.to_os_string())
    }

    /// Index of the last part (the only one Redis may truncate).
    pub fn last_index(&self) -> Option<usize> {
        self.parts.len().checked_sub(1)
    }

    /// Total size of the parts present.
    pub fn total_size(&self) -> u64 {
        self.parts.iter().filter_map(|p| p.size).sum()
    }

    /// The set's files as inputs of a command that writes: every part and the manifest, and
    /// for a multi-part set the whole AOF directory (nothing may be written inside it).
    pub fn inputs(&self) -> crate::fsutil::Inputs {
        let mut ins = crate::fsutil::Inputs::new();
        if self.kind == AofKind::MultiPartAof {
            ins.tree(&self.dir);
        }
        if let Some(m) = &self.manifest_path {
            ins.file(m);
        }
        for p in &self.parts {
            ins.file(&p.path);
        }
        ins
    }
}
