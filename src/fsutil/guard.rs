//! The output-path guard: an output is never an input, never contains one and never lies
//! inside an input directory, however the paths are spelled (relative, through symbolic
//! links, `..`, bind mounts or hard links). Every command that writes checks its outputs
//! against its inputs here before it reads or writes anything, and nothing (no overwrite
//! permission) lifts the refusal.

use std::path::{Component, Path, PathBuf};

use crate::error::{Error, Result};

/// A file system object's identity: device and inode.
type FileId = (u64, u64);

fn file_id(p: &Path) -> Option<FileId> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(p).ok().map(|m| (m.dev(), m.ino()))
    }
    #[cfg(not(unix))]
    {
        let _ = p;
        None
    }
}

/// One input, resolved.
#[derive(Debug, Clone)]
struct Input {
    /// As given (for messages).
    given: PathBuf,
    /// With every symbolic link resolved.
    real: PathBuf,
    /// Device and inode.
    id: Option<FileId>,
    /// The identities of `real` and each of its ancestors (to find an output that contains
    /// the input through another name for one of its directories).
    ancestry: Vec<FileId>,
    /// A directory whose whole tree is input: nothing may be written below it.
    tree: bool,
}

/// The inputs of a command, to check outputs against.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    items: Vec<Input>,
}

/// How an output overlaps an input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Overlap {
    /// The output is the input (same path or same file).
    Same,
    /// The output is a directory that holds the input.
    Contains,
    /// The output lies inside an input directory.
    Inside,
}

impl Inputs {
    /// No inputs yet.
    pub fn new() -> Inputs {
        Inputs::default()
    }

    /// Adds an input file (or a directory used as a whole, such as a Redis data directory
    /// whose files are read by name): an output may not be it nor contain it. A path that
    /// does not exist is ignored (it cannot be overwritten).
    pub fn file(&mut self, path: &Path) -> &mut Inputs {
        self.push(path, false)
    }

    /// Adds an input directory whose whole tree is input (an AOF directory, a backup store):
    /// an output may not be it, contain it, or lie anywhere below it.
    pub fn tree(&mut self, path: &Path) -> &mut Inputs {
        self.push(path, true)
    }

    /// Adds every input of `other`.
    pub fn extend(&mut self, other: &Inputs) -> &mut Inputs {
        self.items.extend(other.items.iter().cloned());
        self
    }

    fn push(&mut self, path: &Path, tree: bool) -> &mut Inputs {
        if let Ok(real) = std::fs::canonicalize(path) {
            let mut ancestry = Vec::new();
            let mut a = Some(real.as_path());
            while let Some(p) = a {
                if let Some(id) = file_id(p) {
                    ancestry.push(id);
                }
                a = p.parent();
            }
            self.items.push(Input {
                given: path.to_path_buf(),
                id: file_id(&real),
                real,
                ancestry,
                tree,
            });
        }
        self
    }

    /// True when no input was added (or none exists).
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The first overlap of `output` with an input, and that input as given.
    pub fn overlap(&self, output: &Path) -> Option<(Overlap, &Path)> {
        // Two spellings of the output: the path the output's name will have (its directory
        // resolved, its last component kept, so a symbolic link is not followed), and the
        // path with every link followed (what a write through it would reach).
        let named = resolve_parent(output);
        let followed = std::fs::canonicalize(output).unwrap_or_else(|_| named.clone());
        let out_id = file_id(output);
        let named_ancestry = ancestors_ids(&named);
        let same = |i: &Input| {
            named == i.real || followed == i.real || (out_id.is_some() && out_id == i.id)
        };
        let contains = |i: &Input| {
            i.real.starts_with(&named)
                || i.real.starts_with(&followed)
                || out_id.is_some_and(|o| i.ancestry.contains(&o))
        };
        let inside = |i: &Input| {
            i.tree
                && (named.starts_with(&i.real)
                    || followed.starts_with(&i.real)
                    || i.id.is_some_and(|id| named_ancestry.contains(&id)))
        };
        // The most precise relation first: being an input, then holding one, then lying
        // inside an input directory.
        for (how, test) in [
            (Overlap::Same, &same as &dyn Fn(&Input) -> bool),
            (Overlap::Contains, &contains),
            (Overlap::Inside, &inside),
        ] {
            if let Some(i) = self.items.iter().find(|i| test(i)) {
                return Some((how, &i.given));
            }
        }
        None
    }

    /// Refuses `output` when it overlaps an input (see [`Inputs::overlap`]), with a usage
    /// error that says how.
    pub fn check_output(&self, output: &Path) -> Result<()> {
        match self.overlap(output) {
            None => Ok(()),
            Some((how, input)) => {
                let why = match how {
                    Overlap::Same => format!("it is the input {}", input.display()),
                    Overlap::Contains => format!(
                        "it contains the input {} (replacing it would delete the input)",
                        input.display()
                    ),
                    Overlap::Inside => {
                        format!("it lies inside the input directory {}", input.display())
                    }
                };
                Err(Error::usage(format!(
                    "refusing to write {}: {why}; inputs are never modified: choose an output \
                     outside every input",
                    output.display()
                )))
            }
        }
    }
}

/// The identities of the existing ancestors of `p` (`p` itself included).
fn ancestors_ids(p: &Path) -> Vec<FileId> {
    let mut v = Vec::new();
    let mut a = Some(p);
    while let Some(q) = a {
        if let Some(id) = file_id(q) {
            v.push(id);
        }
        a = q.parent();
    }
    v
}

/// `p` made absolute with its deepest existing ancestor directory resolved (symbolic links
/// followed) and the rest appended as written (`.` dropped, `..` popping a component); the
/// last component is never followed.
pub fn resolve_parent(p: &Path) -> PathBuf {
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .unwrap_or_else(|_| PathBuf::from("/"))
            .join(p)
    };
    let Some(name) = abs.file_name().map(|n| n.to_os_string()) else {
        // `/`, or a path ending in `..`: resolve it whole.
        return std::fs::canonicalize(&abs).unwrap_or(abs);
    };
    let parent = abs.parent().unwrap_or(Path::new("/"));
    // Component by component: resolved while the path exists, lexical from the first
    // component that does not.
    let mut out = PathBuf::from("/");
    let mut existing = true;
    for comp in parent.components() {
        match comp {
            Component::RootDir | Component::Prefix(_) => out.push(comp.as_os_str()),
            Component::CurDir => {}
            Component::ParentDir if !existing => {
                out.pop();
            }
            c => {
                let next = out.join(c.as_os_str());
                match (existing, std::fs::canonicalize(&next)) {
                    (true, Ok(r)) => out = r,
                    _ => {
                        existing = false;
                        if c == Component::ParentDir {
                            out.pop();
                        } else {
                            out = next;
                        }
                    }
                }
            }
        }
    }
    out.push(name);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("redsafe-guard-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn relations() {
        let d = tmp("rel");
        let aof = d.join("data/appendonlydir");
        std::fs::create_dir_all(&aof).unwrap();
        std::fs::write(aof.join("a.aof"), b"x").unwrap();
        std::fs::write(d.join("data/dump.rdb"), b"x").unwrap();
        let mut ins = Inputs::new();
        ins.tree(&aof).file(&aof.join("a.aof"));
        let o = |p: &Path| ins.overlap(p).map(|x| x.0);
        assert_eq!(o(&aof), Some(Overlap::Same));
        assert_eq!(o(&aof.join("a.aof")), Some(Overlap::Same));
        assert_eq!(o(&d.join("data")), Some(Overlap::Contains));
        assert_eq!(o(&d), Some(Overlap::Contains));
        assert_eq!(o(&aof.join("new.rdb")), Some(Overlap::Inside));
        assert_eq!(o(&aof.join("x/y/z")), Some(Overlap::Inside));
        assert_eq!(
            o(&d.join("data/appendonlydir/../appendonlydir")),
            Some(Overlap::Same)
        );
        assert_eq!(o(&d.join("data/other")), None);
        assert_eq!(o(&d.join("data/dump2.rdb")), None);
        // Symbolic links: to the input, to a directory holding it, into the input directory.
        #[cfg(unix)]
        {
            use std::os::unix::fs::symlink;
            symlink(aof.join("a.aof"), d.join("l1")).unwrap();
            symlink(d.join("data"), d.join("l2")).unwrap();
            symlink(&aof, d.join("l3")).unwrap();
            assert_eq!(o(&d.join("l1")), Some(Overlap::Same));
            assert_eq!(o(&d.join("l2")), Some(Overlap::Contains));
            assert_eq!(o(&d.join("l3/new")), Some(Overlap::Inside));
            // A hard link to the input file is the same file.
            std::fs::hard_link(aof.join("a.aof"), d.join("h")).unwrap();
            assert_eq!(o(&d.join("h")), Some(Overlap::Same));
        }
        // A plain file input does not protect its directory's other files.
        let mut ins2 = Inputs::new();
        ins2.file(&d.join("data/dump.rdb"));
        assert!(ins2.check_output(&d.join("data/out.rdb")).is_ok());
        let e = ins2.check_output(&d.join("data")).unwrap_err().to_string();
        assert!(e.contains("contains the input"), "{e}");
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn resolve_parent_lexical_tail() {
        let d = tmp("res");
        let r = resolve_parent(&d.join("no/such/../x"));
        assert_eq!(r, std::fs::canonicalize(&d).unwrap().join("no/x"));
        std::fs::remove_dir_all(&d).unwrap();
    }
}
