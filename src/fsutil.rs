//! Atomic output files: written under a temporary name in the target's directory, fsynced,
//! renamed into place, and the directory fsynced. A file never committed is removed on drop,
//! so a crash or an error never leaves a half-written output under the real name.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The directory that holds `path` (`.` for a bare file name).
pub fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// A fresh temporary name beside `target`.
pub fn temp_path(target: &Path) -> PathBuf {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into());
    parent_dir(target).join(format!(".{name}.tmp-{}-{n}", std::process::id()))
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

fn refuse_existing(p: &Path) -> Error {
    Error::usage(format!(
        "{} already exists (use --force to replace it)",
        p.display()
    ))
}

/// A file written under a temporary name and renamed into place by [`AtomicFile::commit`].
#[derive(Debug)]
pub struct AtomicFile {
    target: PathBuf,
    tmp: PathBuf,
    file: Option<File>,
    overwrite: bool,
}

impl AtomicFile {
    /// Starts writing `target`. Refuses an existing target unless `overwrite`.
    pub fn create(target: &Path, overwrite: bool) -> Result<AtomicFile> {
        if !overwrite && target.symlink_metadata().is_ok() {
            return Err(refuse_existing(target));
        }
        let tmp = temp_path(target);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| Error::io(&tmp, &e))?;
        Ok(AtomicFile {
            target: target.to_path_buf(),
            tmp,
            file: Some(file),
            overwrite,
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
    /// `overwrite`) and fsyncs the directory.
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

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
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
}
