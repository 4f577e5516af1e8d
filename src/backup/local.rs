//! `LocalDir`: the reference [`Store`], a directory tree on a local file system.
//!
//! Writes go to a temporary file in the target directory, are fsynced, renamed into place and
//! the directory fsynced (litestream's file backend), so a reader never sees a partial object.
//! Metadata lives in a JSON sidecar under `.redsafe-meta/` (written before the object, so an
//! object is never visible without its metadata). A missing root lists as empty; temporary and
//! hidden names are skipped.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use super::store::{Meta, ObjectInfo, Store, StoreError};
use crate::fsutil::AtomicFile;

const META_DIR: &str = ".redsafe-meta";

/// A store rooted at a local directory.
#[derive(Debug, Clone)]
pub struct LocalDir {
    root: PathBuf,
}

impl LocalDir {
    /// A store rooted at `root` (created on the first write).
    pub fn new(root: impl Into<PathBuf>) -> LocalDir {
        LocalDir { root: root.into() }
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn err(&self, op: &'static str, key: &str, e: impl ToString) -> StoreError {
        StoreError::Other {
            store: self.url(),
            op,
            key: key.to_string(),
            message: e.to_string(),
        }
    }

    /// The path of an object: the key checked ([`check_key`]) and no directory between the
    /// root and the object a symbolic link, so no key reaches outside the root.
    fn path_of(&self, key: &str) -> Result<PathBuf, StoreError> {
        check_key(key).map_err(|m| self.err("resolve", key, m))?;
        self.inside_root(key, key)
    }

    /// `root/rel`, refusing a symbolic link at any existing component below the root (the
    /// root itself may be one).
    fn inside_root(&self, key: &str, rel: &str) -> Result<PathBuf, StoreError> {
        let mut p = self.root.clone();
        for c in rel.split('/') {
            p.push(c);
            match fs::symlink_metadata(&p) {
                Ok(md) if md.file_type().is_symlink() => {
                    return Err(self.err(
                        "resolve",
                        key,
                        format!(
                            "{} is a symbolic link: the store's objects must lie inside its root",
                            p.display()
                        ),
                    ))
                }
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
                    ) =>
                {
                    return Ok(self.root.join(rel));
                }
                Err(e) => return Err(self.err("resolve", key, e)),
            }
        }
        Ok(p)
    }

    /// The metadata sidecar of a (checked) key.
    fn meta_path(&self, key: &str) -> Result<PathBuf, StoreError> {
        self.inside_root(key, &format!("{META_DIR}/{key}.json"))
    }

    fn read_meta(&self, key: &str) -> Meta {
        self.meta_path(key)
            .ok()
            .and_then(|p| fs::read(p).ok())
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    fn info(&self, key: &str, path: &Path) -> Result<ObjectInfo, StoreError> {
        let md = fs::metadata(path).map_err(|e| self.io_err("head", key, e))?;
        if !md.is_file() {
            return Err(StoreError::NotFound {
                store: self.url(),
                key: key.to_string(),
            });
        }
        Ok(ObjectInfo {
            key: key.to_string(),
            size: md.len(),
            modified: md
                .modified()
                .ok()
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_secs() as i64),
            meta: self.read_meta(key),
        })
    }

    fn io_err(&self, op: &'static str, key: &str, e: io::Error) -> StoreError {
        if e.kind() == io::ErrorKind::NotFound {
            StoreError::NotFound {
                store: self.url(),
                key: key.to_string(),
            }
        } else {
            self.err(op, key, e)
        }
    }
}

/// Rejects keys that could escape the root or collide with internal names: a key is a safe
/// relative path ([`super::layout::path_problem`]) whose components do not start with `.`.
fn check_key(key: &str) -> Result<(), String> {
    if let Some(why) = super::layout::path_problem(key) {
        return Err(format!(
            "key {} is not a safe relative path: it {why}",
            super::layout::escape_name(key)
        ));
    }
    if let Some(part) = key.split('/').find(|p| p.starts_with('.')) {
        return Err(format!(
            "invalid key component {} (names starting with '.' are the store's own)",
            super::layout::escape_name(part)
        ));
    }
    Ok(())
}

/// Writes `body` to `path` atomically with [`crate::fsutil::AtomicFile`] (temp file in the
/// same directory, fsync, rename, fsync the directory; the temp file is removed on failure),
/// creating the directory first. Returns the bytes written.
pub fn write_atomic(path: &Path, body: &mut dyn Read) -> io::Result<u64> {
    let to_io = |e: crate::Error| io::Error::other(e.to_string());
    fs::create_dir_all(crate::fsutil::parent_dir(path))?;
    let mut f = AtomicFile::create(path, true).map_err(to_io)?;
    let n = io::copy(body, &mut f)?;
    f.commit().map_err(to_io)?;
    Ok(n)
}

/// fsyncs a directory (so a rename in it is durable).
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Store for LocalDir {
    fn kind(&self) -> &'static str {
        "file"
    }

    fn url(&self) -> String {
        format!("file://{}", self.root.display())
    }

    fn local_root(&self) -> Option<&Path> {
        Some(&self.root)
    }

    fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        let mut out = Vec::new();
        let mut stack = vec![(self.root.clone(), String::new())];
        while let Some((dir, rel)) = stack.pop() {
            // Only descend into directories that can contain keys with this prefix.
            if !(prefix.starts_with(&rel) || rel.starts_with(prefix)) {
                continue;
            }
            let rd = match fs::read_dir(&dir) {
                Ok(rd) => rd,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(self.err("list", prefix, e)),
            };
            for ent in rd {
                let ent = ent.map_err(|e| self.err("list", prefix, e))?;
                let Some(name) = ent.file_name().to_str().map(str::to_string) else {
                    continue;
                };
                if name.starts_with('.') {
                    continue;
                }
                let key = format!("{rel}{name}");
                let ft = ent.file_type().map_err(|e| self.err("list", prefix, e))?;
                if ft.is_dir() {
                    stack.push((ent.path(), format!("{key}/")));
                } else if ft.is_file() && key.starts_with(prefix) {
                    match self.info(&key, &ent.path()) {
                        Ok(i) => out.push(i),
                        Err(StoreError::NotFound { .. }) => {} // deleted meanwhile
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    fn head(&self, key: &str) -> Result<ObjectInfo, StoreError> {
        let p = self.path_of(key)?;
        self.info(key, &p)
    }

    fn get(
        &self,
        key: &str,
        range: Option<Range<u64>>,
    ) -> Result<(ObjectInfo, Box<dyn Read + Send>), StoreError> {
        let p = self.path_of(key)?;
        let mut f = File::open(&p).map_err(|e| self.io_err("get", key, e))?;
        let info = self.info(key, &p)?;
        match range {
            None => Ok((info, Box::new(f))),
            Some(r) => {
                if r.start > r.end || r.end > info.size {
                    return Err(self.err(
                        "get",
                        key,
                        format!(
                            "range {}..{} outside object of {} bytes",
                            r.start, r.end, info.size
                        ),
                    ));
                }
                f.seek(SeekFrom::Start(r.start))
                    .map_err(|e| self.err("get", key, e))?;
                Ok((info, Box::new(f.take(r.end - r.start))))
            }
        }
    }

    fn put(&self, key: &str, body: &mut dyn Read, meta: &Meta) -> Result<u64, StoreError> {
        let p = self.path_of(key)?;
        let mp = self.meta_path(key)?;
        let mjson = serde_json::to_vec(meta).map_err(|e| self.err("put", key, e))?;
        write_atomic(&mp, &mut mjson.as_slice()).map_err(|e| self.err("put", key, e))?;
        let n = write_atomic(&p, body).map_err(|e| self.err("put", key, e))?;
        if let Some(t) = meta.get("redsafe-time").and_then(|t| t.parse::<u64>().ok()) {
            if let Ok(f) = File::options().write(true).open(&p) {
                let _ = f.set_modified(UNIX_EPOCH + std::time::Duration::from_secs(t));
            }
        }
        Ok(n)
    }

    fn delete(&self, keys: &[String]) -> Result<(), StoreError> {
        for key in keys {
            let p = self.path_of(key)?;
            match fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(self.err("delete", key, e)),
            }
            if let Ok(mp) = self.meta_path(key) {
                let _ = fs::remove_file(mp);
            }
            // Remove now-empty parent directories up to the root (best effort).
            let mut dir = p.parent().map(Path::to_path_buf);
            while let Some(d) = dir {
                if d == self.root || fs::remove_dir(&d).is_err() {
                    break;
                }
                dir = d.parent().map(Path::to_path_buf);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked() {
        assert!(check_key("sets/a/b.zst").is_ok());
        assert!(check_key("../x").is_err());
        assert!(check_key("a//b").is_err());
        assert!(check_key("/abs").is_err());
        assert!(check_key(".redsafe-meta/x").is_err());
        assert!(check_key("").is_err());
        assert!(check_key("a\\b").is_err());
        assert!(check_key("a\0b").is_err());
        assert!(check_key("%2e%2e/x").is_err());
        assert!(check_key(&"a".repeat(256)).is_err());
        assert!(check_key(&format!("a/{}", "b".repeat(255))).is_ok());
    }

    /// A symbolic link inside the root (planted where a directory of keys would be) is never
    /// followed: reads, writes and deletes through it are refused, and nothing outside the
    /// root changes.
    #[test]
    fn symlinks_below_the_root_are_refused() {
        let t = std::env::temp_dir().join(format!("redsafe-local-symlink-{}", std::process::id()));
        let _ = fs::remove_dir_all(&t);
        let (root, outside) = (t.join("store"), t.join("outside"));
        fs::create_dir_all(root.join("sets")).unwrap();
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("victim"), b"keep").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("sets/evil")).unwrap();
        let s = LocalDir::new(&root);
        let e = s
            .put("sets/evil/victim", &mut &b"x"[..], &Meta::new())
            .unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        assert!(s
            .put("sets/evil/new", &mut &b"x"[..], &Meta::new())
            .is_err());
        assert!(s.get("sets/evil/victim", None).is_err());
        assert!(s.head("sets/evil/victim").is_err());
        assert!(s.delete(&["sets/evil/victim".into()]).is_err());
        assert!(
            s.list("").unwrap().is_empty(),
            "a symbolic link is not listed"
        );
        assert_eq!(fs::read(outside.join("victim")).unwrap(), b"keep");
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 1);
        // The root itself may be a link (the user chose it).
        std::os::unix::fs::symlink(&root, t.join("link")).unwrap();
        let l = LocalDir::new(t.join("link"));
        l.put("sets/a", &mut &b"y"[..], &Meta::new()).unwrap();
        assert_eq!(fs::read(root.join("sets/a")).unwrap(), b"y");
        fs::remove_dir_all(&t).unwrap();
    }
}
