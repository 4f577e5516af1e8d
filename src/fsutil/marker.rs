//! Recognising redsafe's own output directories. Every output directory carries a small
//! index, [`MARKER`], listing what redsafe wrote into it. An existing directory is replaced
//! only when it is empty or when everything in it is listed there: a directory redsafe did
//! not write, or one where anything was added since (files Redis wrote after loading it,
//! a user's notes), is refused, so replacing an output never deletes anything else.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// The index file's name inside an output directory.
pub const MARKER: &str = ".redsafe-output";

const HEADER: &str = "redsafe output directory: the entries redsafe wrote here (one per line, \
directories ending in /). It replaces this directory only while it holds nothing else.";

/// At most this many entries are walked in an existing directory before it is refused as
/// too large to be an output redsafe wrote.
const MAX_ENTRIES: usize = 100_000;

/// The relative paths below `dir` (directories with a trailing `/`), the marker excluded,
/// sorted; symbolic links are listed, never followed. `None` past [`MAX_ENTRIES`].
fn entries(dir: &Path) -> Result<Option<Vec<String>>> {
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let abs = dir.join(&rel);
        let rd = std::fs::read_dir(&abs).map_err(|e| Error::io(&abs, &e))?;
        for e in rd {
            let e = e.map_err(|e| Error::io(&abs, &e))?;
            let r = rel.join(e.file_name());
            if rel.as_os_str().is_empty() && e.file_name() == MARKER {
                continue;
            }
            let ft = e.file_type().map_err(|er| Error::io(&e.path(), &er))?;
            let mut s = r.to_string_lossy().into_owned();
            if ft.is_dir() {
                s.push('/');
                stack.push(r);
            }
            out.push(s);
            if out.len() > MAX_ENTRIES {
                return Ok(None);
            }
        }
    }
    out.sort();
    Ok(Some(out))
}

/// Writes the index of what `dir` holds now into `dir` (fsynced).
pub fn write_marker(dir: &Path) -> Result<()> {
    use std::io::Write;
    let list = entries(dir)?.unwrap_or_default();
    let mut body = String::from(HEADER);
    body.push('\n');
    for e in &list {
        body.push_str(&e.replace('\n', "\\n"));
        body.push('\n');
    }
    let p = dir.join(MARKER);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&p)
        .map_err(|e| Error::io(&p, &e))?;
    f.write_all(body.as_bytes())
        .map_err(|e| Error::io(&p, &e))?;
    f.sync_all().map_err(|e| Error::io(&p, &e))
}

fn refuse(target: &Path, why: String) -> Error {
    Error::usage(format!(
        "refusing to replace {}: {why}; nothing was written (move it away, or choose another \
         output)",
        target.display()
    ))
}

/// Checks that the existing `target` may be replaced by a new output directory: it is
/// missing, an empty directory, or a directory redsafe wrote that holds nothing else.
pub fn check_replaceable(target: &Path) -> Result<()> {
    let meta = match std::fs::symlink_metadata(target) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(target, &e)),
    };
    if meta.file_type().is_symlink() {
        return Err(refuse(target, "it is a symbolic link".into()));
    }
    if !meta.is_dir() {
        return Err(refuse(
            target,
            "it is a file, not an output directory".into(),
        ));
    }
    let Some(found) = entries(target)? else {
        return Err(refuse(
            target,
            format!("it holds more than {MAX_ENTRIES} entries"),
        ));
    };
    if found.is_empty() {
        return Ok(());
    }
    let marker = target.join(MARKER);
    let listed = match std::fs::read_to_string(&marker) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(refuse(
                target,
                format!(
                    "it is not empty and was not written by redsafe (no {MARKER} in it; it \
                     holds {})",
                    sample(&found)
                ),
            ))
        }
        Err(e) => return Err(Error::io(&marker, &e)),
    };
    if !listed.starts_with("redsafe output directory") {
        return Err(refuse(target, format!("{MARKER} in it is not redsafe's")));
    }
    let known: std::collections::HashSet<String> = listed
        .lines()
        .skip(1)
        .map(|l| l.replace("\\n", "\n"))
        .collect();
    let foreign: Vec<String> = found.into_iter().filter(|e| !known.contains(e)).collect();
    if !foreign.is_empty() {
        return Err(refuse(
            target,
            format!(
                "it holds {} entr{} redsafe did not write: {}",
                foreign.len(),
                if foreign.len() == 1 { "y" } else { "ies" },
                sample(&foreign)
            ),
        ));
    }
    Ok(())
}

fn sample(names: &[String]) -> String {
    let mut s = names
        .iter()
        .take(5)
        .map(|n| crate::error::escape_bytes(n.as_bytes()).to_string())
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > 5 {
        s.push_str(&format!(", … ({} in all)", names.len()));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_outputs_only() {
        let d = std::env::temp_dir().join(format!("redsafe-marker-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(d.join("out/appendonlydir")).unwrap();
        std::fs::write(d.join("out/appendonlydir/a.aof"), b"x").unwrap();
        let out = d.join("out");
        // Not written by redsafe.
        let e = check_replaceable(&out).unwrap_err().to_string();
        assert!(e.contains("not written by redsafe"), "{e}");
        write_marker(&out).unwrap();
        check_replaceable(&out).unwrap();
        // Something added since.
        std::fs::write(d.join("out/notes.txt"), b"mine").unwrap();
        std::fs::create_dir(d.join("out/appendonlydir/sub")).unwrap();
        let e = check_replaceable(&out).unwrap_err().to_string();
        assert!(e.contains("2 entries") && e.contains("notes.txt"), "{e}");
        assert!(e.contains("appendonlydir/sub/"), "{e}");
        // Empty directory, missing path, a file.
        std::fs::create_dir(d.join("empty")).unwrap();
        check_replaceable(&d.join("empty")).unwrap();
        check_replaceable(&d.join("missing")).unwrap();
        assert!(check_replaceable(&d.join("out/notes.txt")).is_err());
        std::fs::remove_dir_all(&d).unwrap();
    }
}
