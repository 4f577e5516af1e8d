//! Atomic output files: written to a temporary file in the destination directory, fsynced,
//! renamed over the destination, then the directory is fsynced. A file that is dropped
//! without [`AtomicFile::commit`] is deleted, so a failed run never leaves a partial output.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// An output file that appears at its path only when committed.
#[derive(Debug)]
pub struct AtomicFile {
    path: PathBuf,
    tmp: PathBuf,
    file: Option<BufWriter<File>>,
}

impl AtomicFile {
    /// Creates the temporary file for `path`. Refuses an existing `path` unless `force`.
    pub fn create(path: &Path, force: bool) -> Result<AtomicFile> {
        if !force && path.exists() {
            return Err(Error::usage(format!(
                "{} already exists (use --force to overwrite)",
                path.display()
            )));
        }
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "out".into());
        let mut n = 0u32;
        loop {
            let tmp = dir.join(format!(".{name}.tmp-{}-{n}", std::process::id()));
            match OpenOptions::new().write(true).create_new(true).open(&tmp) {
                Ok(f) => {
                    return Ok(AtomicFile {
                        path: path.to_path_buf(),
                        tmp,
                        file: Some(BufWriter::with_capacity(1 << 20, f)),
                    })
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
                Err(e) => return Err(Error::io(&tmp, &e)),
            }
        }
    }

    /// The final path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes, fsyncs, renames over the destination and fsyncs the directory.
    pub fn commit(mut self) -> Result<()> {
        let Some(w) = self.file.take() else {
            return Ok(());
        };
        let f = w
            .into_inner()
            .map_err(|e| Error::io(&self.tmp, e.error()))?;
        f.sync_all().map_err(|e| Error::io(&self.tmp, &e))?;
        drop(f);
        std::fs::rename(&self.tmp, &self.path).map_err(|e| Error::io(&self.path, &e))?;
        if let Some(dir) = self.path.parent() {
            let dir = if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                dir
            };
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
        }
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.file {
            Some(f) => f.write(buf),
            None => Err(std::io::Error::other("output already committed")),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.file {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}
