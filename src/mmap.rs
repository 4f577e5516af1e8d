//! Memory-mapped input files: the only place with `unsafe` code.

use std::fs::{File, Metadata};
use std::io::Read;
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
    /// Maps `path` read-only. Anything but a regular file is refused (see [`open_input`]).
    ///
    /// The file must not be truncated while mapped (the process would get SIGBUS); do not map
    /// live AOF files that Redis may truncate: use [`MappedFile::read`] for those.
    pub fn open(path: &Path) -> Result<Self> {
        let (file, meta) = open_input(path)?;
        if meta.len() == 0 {
            return Ok(Self::from_vec(path, Vec::new()));
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

    /// Reads `path` into memory (no mapping). Anything but a regular file is refused (see
    /// [`open_input`]).
    pub fn read(path: &Path) -> Result<Self> {
        let (mut file, meta) = open_input(path)?;
        let mut data = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
        file.read_to_end(&mut data)
            .map_err(|e| Error::io(path, &e))?;
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

/// What a path that is neither a regular file nor a directory is, for messages.
fn special_kind(meta: &Metadata) -> Option<&'static str> {
    if meta.is_file() || meta.is_dir() {
        return None;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            return Some("a pipe (FIFO)");
        }
        if t.is_char_device() {
            return Some("a character device");
        }
        if t.is_block_device() {
            return Some("a block device");
        }
        if t.is_socket() {
            return Some("a socket");
        }
    }
    Some("not a regular file")
}

fn refuse_special(path: &Path, kind: &str) -> Error {
    Error::usage(format!(
        "{kind}, not a regular file: inputs are read by offset, some more than once, so a \
         stream (a pipe, standard input, `<(...)`) or a device cannot be read; save the data \
         to a file first and give that file"
    ))
    .in_file(path)
}

/// The metadata of the input `path` (following symbolic links), refusing anything that is
/// neither a regular file nor a directory: a pipe (a FIFO, `/dev/stdin` or `/proc/self/fd/N`
/// on a pipe), a character or block device (`/dev/zero`, `/dev/null`) or a socket. Nothing
/// is opened, so a FIFO with no writer cannot block.
pub fn input_metadata(path: &Path) -> Result<Metadata> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, &e))?;
    match special_kind(&meta) {
        Some(kind) => Err(refuse_special(path, kind)),
        None => Ok(meta),
    }
}

/// Opens the input file `path` for reading: the one place user inputs are opened. Anything
/// but a regular file is refused with a usage error naming the path and what it is (see
/// [`input_metadata`]); a directory too. The file is opened without blocking, so a path
/// replaced by a FIFO between the check and the open cannot hang, and checked again once
/// open.
pub fn open_input(path: &Path) -> Result<(File, Metadata)> {
    let meta = input_metadata(path)?;
    if meta.is_dir() {
        return Err(Error::usage("a directory, not a file").in_file(path));
    }
    let mut oo = std::fs::OpenOptions::new();
    oo.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        oo.custom_flags(libc::O_NONBLOCK);
    }
    let file = oo.open(path).map_err(|e| Error::io(path, &e))?;
    let meta = file.metadata().map_err(|e| Error::io(path, &e))?;
    if !meta.is_file() {
        return Err(refuse_special(
            path,
            special_kind(&meta).unwrap_or("a directory"),
        ));
    }
    Ok((file, meta))
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
