//! Memory-mapped input files: the only place with `unsafe` code.

use std::fs::File;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// A read-only file mapped into memory (or read into memory when it is empty or cannot be
/// mapped, e.g. a pipe).
#[derive(Debug)]
pub struct MappedFile {
    path: PathBuf,
    map: Backing,
}

#[derive(Debug)]
enum Backing {
    Map(memmap2::Mmap),
    Owned(Vec<u8>),
}

impl MappedFile {
    /// Maps `path` read-only.
    ///
    /// The file must not be truncated while mapped (the process would get SIGBUS); do not map
    /// live AOF files that Redis may truncate: use [`MappedFile::read`] for those.
    pub fn open(path: &Path) -> Result<Self> {
        let file = File::open(path).map_err(|e| Error::io(path, &e))?;
        let meta = file.metadata().map_err(|e| Error::io(path, &e))?;
        if !meta.is_file() || meta.len() == 0 {
            return Self::read(path);
        }
        // SAFETY: the mapping is read-only and private to this process. The file could still
        // be changed by another process; redsafe's documented contract is that inputs are not
        // modified while being read (a snapshot being written is read with `read` instead).
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| Error::io(path, &e))?;
        #[cfg(unix)]
        let _ = map.advise(memmap2::Advice::Sequential);
        Ok(MappedFile {
            path: path.to_path_buf(),
            map: Backing::Map(map),
        })
    }

    /// Reads `path` into memory (no mapping).
    pub fn read(path: &Path) -> Result<Self> {
        let data = std::fs::read(path).map_err(|e| Error::io(path, &e))?;
        Ok(MappedFile {
            path: path.to_path_buf(),
            map: Backing::Owned(data),
        })
    }

    /// Wraps bytes already in memory.
    pub fn from_vec(path: &Path, data: Vec<u8>) -> Self {
        MappedFile {
            path: path.to_path_buf(),
            map: Backing::Owned(data),
        }
    }

    /// The file's bytes.
    pub fn bytes(&self) -> &[u8] {
        match &self.map {
            Backing::Map(m) => m,
            Backing::Owned(v) => v,
        }
    }

    /// The path it was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Mappings at least this large are released in two halves concurrently when dropped.
const PARALLEL_RELEASE_BYTES: usize = 64 << 20;

impl Drop for MappedFile {
    /// Unmapping tears down the mapping's page tables on one core (~20 ms for 500 MB here,
    /// after a whole-file read): for a large mapping, the second half's are dropped on
    /// another thread meanwhile (`MADV_DONTNEED`), so that unmapping costs half the time.
    fn drop(&mut self) {
        let Backing::Map(map) = &self.map else {
            return;
        };
        if map.len() < PARALLEL_RELEASE_BYTES {
            return;
        }
        let half = (map.len() / 2) & !0xfff;
        let release = |from: usize, len: usize| {
            // SAFETY: the mapping is read-only and never written, so it holds no private
            // (copy-on-write) pages: dropping its page-table entries loses nothing, and any
            // later access (there is none: this is `drop`) would read the file again.
            #[allow(unsafe_code)]
            let _ = unsafe {
                map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, from, len)
            };
        };
        std::thread::scope(|s| {
            s.spawn(|| release(half, map.len() - half));
            release(0, half);
        });
    }
}
