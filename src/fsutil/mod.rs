//! Atomic output files and directories: written under a temporary name in the target's
//! directory, fsynced, renamed into place, and the directory fsynced. An output never
//! committed is removed on drop, so a crash or an error never leaves a half-written output
//! under the real name. Existing outputs are refused unless `overwrite` is set, and an
//! existing directory is replaced only when it is redsafe's own output ([`marker`]).
//!
//! [`guard`] keeps outputs away from inputs; [`temp`] names temporary outputs, removes them
//! when the process is stopped by a signal, and removes those a killed process left.

use std::ffi::OsStr;
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::error::{Error, Remedy, Result};

pub mod guard;
pub mod marker;
pub mod temp;

pub use guard::Inputs;
pub use temp::{remove_live_temporaries, remove_stale_temporaries, temp_path, StaleTemporary};

/// The directory that holds `path` (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// fsyncs a directory (makes a rename in it durable).
pub fn fsync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let d = File::open(dir).map_err(|e| Error::io(dir, &e))?;
        d.sync_all().map_err(|e| Error::io(dir, &e))?;
    }
    Ok(())
}

/// True when `a` and `b` name the same existing file.
pub fn same_file(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        if let (Ok(x), Ok(y)) = (std::fs::metadata(a), std::fs::metadata(b)) {
            return x.dev() == y.dev() && x.ino() == y.ino();
        }
    }
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

fn exists(p: &Path) -> bool {
    std::fs::symlink_metadata(p).is_ok()
}

fn refuse_existing(p: &Path) -> Error {
    Error::usage(format!("{} already exists", p.display())).with_remedy(Remedy::Replace)
}

/// A file written under a temporary name and renamed into place by [`AtomicFile::commit`].
#[derive(Debug)]
pub struct AtomicFile {
    target: PathBuf,
    tmp: PathBuf,
    file: Option<File>,
    overwrite: bool,
    committed: bool,
}

impl AtomicFile {
    /// Starts writing `target`. Refuses an existing target unless `overwrite`.
    pub fn create(target: &Path, overwrite: bool) -> Result<AtomicFile> {
        if let Ok(m) = target.symlink_metadata() {
            if !overwrite {
                return Err(refuse_existing(target));
            }
            if m.is_dir() {
                return Err(Error::usage(format!(
                    "refusing to replace {}: it is a directory, and the output is a file",
                    target.display()
                )));
            }
        }
        let tmp = temp_path(target);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| Error::io(&tmp, &e))?;
        temp::register(&tmp);
        Ok(AtomicFile {
            target: target.to_path_buf(),
            tmp,
            file: Some(file),
            overwrite,
            committed: false,
        })
    }

    /// The file being written.
    pub fn file(&mut self) -> &mut File {
        self.file.as_mut().expect("AtomicFile used after commit")
    }

    /// The temporary path.
    pub fn temp_path(&self) -> &Path {
        &self.tmp
    }

    /// fsyncs, renames into place (refusing to replace a file that appeared meanwhile unless
    /// `overwrite`) and fsyncs the directory. On failure the temporary file is removed.
    pub fn commit(mut self) -> Result<()> {
        let file = self.file.take().expect("AtomicFile committed twice");
        file.sync_all().map_err(|e| Error::io(&self.tmp, &e))?;
        drop(file);
        if self.overwrite {
            std::fs::rename(&self.tmp, &self.target).map_err(|e| Error::io(&self.target, &e))?;
        } else {
            match std::fs::hard_link(&self.tmp, &self.target) {
                Ok(()) => {
                    let _ = std::fs::remove_file(&self.tmp);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    return Err(refuse_existing(&self.target))
                }
                Err(_) => {
                    if self.target.symlink_metadata().is_ok() {
                        return Err(refuse_existing(&self.target));
                    }
                    std::fs::rename(&self.tmp, &self.target)
                        .map_err(|e| Error::io(&self.target, &e))?;
                }
            }
        }
        self.committed = true;
        temp::unregister(&self.tmp);
        fsync_dir(&parent_dir(&self.target))
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file().write(buf)
    }
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.file().write_all(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file().flush()
    }
}

impl Seek for AtomicFile {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        self.file().seek(pos)
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if !self.committed {
            self.file.take();
            let _ = std::fs::remove_file(&self.tmp);
            temp::unregister(&self.tmp);
        }
    }
}

impl AtomicFile {
    /// Copies `range` of `src` to the end of the output.
    pub fn copy_from(&mut self, src: &mut File, range: Range<u64>) -> Result<()> {
        let tmp = self.tmp.clone();
        copy_range(src, range, self.file()).map_err(|e| Error::io(&tmp, &e))?;
        Ok(())
    }
}

/// A backup name beside `path` that does not exist yet: `<name>.redsafe-backup-<unix-secs>`
/// (with a `-N` suffix when taken).
pub fn backup_path(path: &Path) -> PathBuf {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let name = path
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    let dir = parent_dir(path);
    let mut i = 0;
    loop {
        let cand = if i == 0 {
            dir.join(format!("{name}.redsafe-backup-{secs}"))
        } else {
            dir.join(format!("{name}.redsafe-backup-{secs}-{i}"))
        };
        if std::fs::symlink_metadata(&cand).is_err() {
            return cand;
        }
        i += 1;
    }
}

/// Writes `bytes` to `target` atomically.
pub fn write_atomic(target: &Path, bytes: &[u8], overwrite: bool) -> Result<()> {
    let mut f = AtomicFile::create(target, overwrite)?;
    let tmp = f.temp_path().to_path_buf();
    f.write_all(bytes).map_err(|e| Error::io(&tmp, &e))?;
    f.commit()
}

/// Copies `range` of `src` to `dst` (kernel copy where available).
pub fn copy_range(src: &mut File, range: Range<u64>, dst: &mut File) -> io::Result<u64> {
    src.seek(SeekFrom::Start(range.start))?;
    let n = range.end.saturating_sub(range.start);
    let copied = copy_retrying(src, dst, n)?;
    if copied != n {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("file shorter than expected: copied {copied} of {n} bytes"),
        ));
    }
    Ok(copied)
}

/// Copies up to `limit` bytes from `src`'s position to `dst`'s position (kernel copy where
/// available) and returns the count. A signal that interrupts the copy does not fail it:
/// std's `copy_file_range` path hands `EINTR` back to the caller (a signal without
/// `SA_RESTART`, e.g. a profiler's or a fuzzer's timer), so the copy resumes from the
/// destination's position, which the kernel advanced by exactly the bytes copied.
pub fn copy_retrying(src: &mut File, dst: &mut File, limit: u64) -> io::Result<u64> {
    let src_start = src.stream_position()?;
    let dst_start = dst.stream_position()?;
    let mut done = 0u64;
    loop {
        let mut take = io::Read::take(&mut *src, limit - done);
        match io::copy(&mut take, dst) {
            Ok(c) => return Ok(done + c),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                done = dst.stream_position()? - dst_start;
                src.seek(SeekFrom::Start(src_start + done))?;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Starts writing back `len` bytes at `offset` of `f` to disk without waiting for it (Linux
/// `sync_file_range(SYNC_FILE_RANGE_WRITE)`; elsewhere nothing). Durability still needs
/// `sync_all`: this only gives the final fsync a head start, so that it does not have the
/// whole file left to write.
pub fn start_writeback(f: &File, offset: u64, len: u64) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        // SAFETY: a plain syscall on an open file descriptor; it reads no memory. Its result
        // is ignored: this is only a hint.
        #[allow(unsafe_code)]
        unsafe {
            libc::sync_file_range(
                f.as_raw_fd(),
                offset as libc::off64_t,
                len as libc::off64_t,
                libc::SYNC_FILE_RANGE_WRITE,
            );
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (f, offset, len);
}

/// Bytes written between two [`start_writeback`] calls of [`EarlyWriteback`].
pub const EARLY_WRITEBACK_EVERY: u64 = 32 << 20;

/// A file written from its start that starts the kernel's writeback of every
/// [`EARLY_WRITEBACK_EVERY`] bytes as they are written, so the final `sync_all` is short.
#[derive(Debug)]
pub struct EarlyWriteback {
    file: File,
    written: u64,
    started: u64,
}

impl EarlyWriteback {
    /// Wraps a file positioned at its start.
    pub fn new(file: File) -> EarlyWriteback {
        EarlyWriteback {
            file,
            written: 0,
            started: 0,
        }
    }

    /// The file.
    pub fn into_inner(self) -> File {
        self.file
    }
}

impl Write for EarlyWriteback {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        if self.written - self.started >= EARLY_WRITEBACK_EVERY {
            start_writeback(&self.file, self.started, self.written - self.started);
            self.started = self.written;
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// A directory built under a temporary name and renamed into place by
/// [`AtomicDir::commit`].
#[derive(Debug)]
pub struct AtomicDir {
    target: PathBuf,
    tmp: PathBuf,
    overwrite: bool,
    committed: bool,
}

impl AtomicDir {
    /// Starts building `target`. Refuses an existing target unless `overwrite`, and even
    /// then unless it is empty or redsafe's own output holding nothing else
    /// ([`marker::check_replaceable`]).
    pub fn create(target: &Path, overwrite: bool) -> Result<AtomicDir> {
        if exists(target) {
            if !overwrite {
                return Err(refuse_existing(target));
            }
            marker::check_replaceable(target)?;
        }
        let tmp = temp_path(target);
        std::fs::create_dir(&tmp).map_err(|e| Error::io(&tmp, &e))?;
        temp::register(&tmp);
        Ok(AtomicDir {
            target: target.to_path_buf(),
            tmp,
            overwrite,
            committed: false,
        })
    }

    /// The temporary directory (files go here).
    pub fn path(&self) -> &Path {
        &self.tmp
    }

    /// Creates a file in the directory.
    pub fn create_file(&self, name: &OsStr) -> Result<File> {
        let p = self.tmp.join(name);
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&p)
            .map_err(|e| Error::io(&p, &e))
    }

    /// Writes a whole file in the directory (fsynced).
    pub fn write_file(&self, name: &OsStr, bytes: &[u8]) -> Result<()> {
        let p = self.tmp.join(name);
        let mut f = self.create_file(name)?;
        f.write_all(bytes).map_err(|e| Error::io(&p, &e))?;
        f.sync_all().map_err(|e| Error::io(&p, &e))
    }

    /// Writes the index of the directory's entries ([`marker::MARKER`]), fsyncs the
    /// directory, renames it into place (an old output is replaced only if
    /// [`marker::check_replaceable`] allows it) and fsyncs the parent. Files created with
    /// [`AtomicDir::create_file`] must have been fsynced by the caller.
    pub fn commit(mut self) -> Result<()> {
        marker::write_marker(&self.tmp)?;
        fsync_dir(&self.tmp)?;
        let parent = parent_dir(&self.target);
        if exists(&self.target) {
            if !self.overwrite {
                return Err(refuse_existing(&self.target));
            }
            marker::check_replaceable(&self.target)?;
            let old = temp_path(&self.target);
            {
                // The old output moves aside and the new one in with no signal cleanup
                // between: either both renames happen or neither.
                let _swap = temp::swapping();
                std::fs::rename(&self.target, &old).map_err(|e| Error::io(&self.target, &e))?;
                if let Err(e) = std::fs::rename(&self.tmp, &self.target) {
                    let _ = std::fs::rename(&old, &self.target);
                    return Err(Error::io(&self.target, &e));
                }
                self.committed = true;
                temp::unregister(&self.tmp);
                temp::register(&old);
            }
            fsync_dir(&parent)?;
            let _ = std::fs::remove_dir_all(&old);
            temp::unregister(&old);
            return Ok(());
        }
        std::fs::rename(&self.tmp, &self.target).map_err(|e| Error::io(&self.target, &e))?;
        self.committed = true;
        temp::unregister(&self.tmp);
        fsync_dir(&parent)
    }
}

impl Drop for AtomicDir {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.tmp);
            temp::unregister(&self.tmp);
        }
    }
}

/// Hard-links `src` to `dst`, or copies it when linking is not possible (another file
/// system). `dst` must not exist.
pub fn link_or_copy(src: &Path, dst: &Path) -> Result<()> {
    if std::fs::hard_link(src, dst).is_ok() {
        return Ok(());
    }
    let mut s = File::open(src).map_err(|e| Error::io(src, &e))?;
    let mut d = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dst)
        .map_err(|e| Error::io(dst, &e))?;
    copy_retrying(&mut s, &mut d, u64::MAX).map_err(|e| Error::io(dst, &e))?;
    d.sync_all().map_err(|e| Error::io(dst, &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_drop_and_refuse() {
        let dir = std::env::temp_dir().join(format!("redsafe-fsutil-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let t = dir.join("out.rdb");
        let _ = std::fs::remove_file(&t);
        {
            let mut f = AtomicFile::create(&t, false).unwrap();
            f.write_all(b"abandoned").unwrap();
            assert!(f.temp_path().exists());
        }
        assert!(!t.exists());
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            0,
            "temp file removed on drop"
        );
        let mut f = AtomicFile::create(&t, false).unwrap();
        f.write_all(b"one").unwrap();
        f.commit().unwrap();
        assert_eq!(std::fs::read(&t).unwrap(), b"one");
        assert!(AtomicFile::create(&t, false).is_err());
        let mut f = AtomicFile::create(&t, true).unwrap();
        f.write_all(b"two").unwrap();
        f.commit().unwrap();
        assert_eq!(std::fs::read(&t).unwrap(), b"two");
        assert!(same_file(&t, &t));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn atomic_dir() {
        let d = {
            let p = std::env::temp_dir().join(format!("redsafe-fsutil-dir-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            p
        };
        let t = d.join("aofdir");
        let a = AtomicDir::create(&t, false).unwrap();
        a.write_file(OsStr::new("m"), b"x").unwrap();
        a.commit().unwrap();
        assert_eq!(std::fs::read(t.join("m")).unwrap(), b"x");
        assert!(AtomicDir::create(&t, false).is_err());
        let a = AtomicDir::create(&t, true).unwrap();
        a.write_file(OsStr::new("n"), b"y").unwrap();
        a.commit().unwrap();
        assert!(!t.join("m").exists() && t.join("n").exists());
        {
            let _a = AtomicDir::create(&d.join("never"), false).unwrap();
        }
        assert_eq!(std::fs::read_dir(&d).unwrap().count(), 1);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
