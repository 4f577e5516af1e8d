//! Temporary outputs: their names (`.NAME.tmp-PID-N` beside the output), the registry of the
//! ones this process has open (so that a signal handler can remove them before the process
//! exits), and the removal of those left behind by a process that was killed.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::parent_dir;

/// The temporary outputs this process is writing now.
static LIVE: Mutex<Vec<PathBuf>> = Mutex::new(Vec::new());

/// Held while an old output is swapped for a new one (two renames that must not be
/// separated by [`remove_live_temporaries`]).
static SWAP: Mutex<()> = Mutex::new(());

/// Holds off [`remove_live_temporaries`] until the guard is dropped.
pub(super) fn swapping() -> std::sync::MutexGuard<'static, ()> {
    SWAP.lock().unwrap_or_else(|e| e.into_inner())
}

/// A fresh temporary name beside `target`: `.NAME.tmp-PID-N`.
pub fn temp_path(target: &Path) -> PathBuf {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    parent_dir(target).join(format!(
        ".{}.tmp-{}-{n}",
        target_name(target),
        std::process::id()
    ))
}

fn target_name(target: &Path) -> String {
    target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "out".into())
}

/// Records `p` as a temporary output of this process.
pub(super) fn register(p: &Path) {
    if let Ok(mut v) = LIVE.lock() {
        v.push(p.to_path_buf());
    }
}

/// Forgets `p` (committed or removed).
pub(super) fn unregister(p: &Path) {
    if let Ok(mut v) = LIVE.lock() {
        if let Some(i) = v.iter().rposition(|q| q == p) {
            v.swap_remove(i);
        }
    }
}

/// Removes every temporary output this process has open (files and directories). For a
/// signal handler about to end the process: nothing half-written is left behind. Returns
/// what was removed.
pub fn remove_live_temporaries() -> Vec<PathBuf> {
    let _swap = swapping();
    let paths = match LIVE.lock() {
        Ok(mut v) => std::mem::take(&mut *v),
        Err(_) => return Vec::new(),
    };
    paths.into_iter().filter(|p| remove_any(p)).collect()
}

fn remove_any(p: &Path) -> bool {
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(p).is_ok(),
        Ok(_) => std::fs::remove_file(p).is_ok(),
        Err(_) => false,
    }
}

/// A temporary output left behind beside `target` by a process that no longer runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleTemporary {
    /// Its path.
    pub path: PathBuf,
    /// The process that wrote it.
    pub pid: u32,
}

/// The process id in a temporary name of `target` (`.NAME.tmp-PID-N`), if `file_name` is one.
fn temp_pid(target_name: &str, file_name: &str) -> Option<u32> {
    let rest = file_name
        .strip_prefix('.')?
        .strip_prefix(target_name)?
        .strip_prefix(".tmp-")?;
    let (pid, n) = rest.split_once('-')?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

/// True when process `pid` may still be running (always true where this cannot be told).
fn alive(pid: u32) -> bool {
    if pid == std::process::id() {
        return true;
    }
    #[cfg(target_os = "linux")]
    {
        Path::new("/proc").join(pid.to_string()).exists()
    }
    #[cfg(not(target_os = "linux"))]
    {
        true
    }
}

/// Removes the temporary outputs of `target` (`.NAME.tmp-PID-N` beside it, files or
/// directories) whose process no longer runs: what a killed run left. Those of running
/// processes, this one included, are left alone. Returns what was removed.
pub fn remove_stale_temporaries(target: &Path) -> Vec<StaleTemporary> {
    let name = target_name(target);
    let Ok(rd) = std::fs::read_dir(parent_dir(target)) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for e in rd.flatten() {
        let file_name = e.file_name();
        let Some(pid) = temp_pid(&name, &file_name.to_string_lossy()) else {
            continue;
        };
        if alive(pid) {
            continue;
        }
        let path = e.path();
        if remove_any(&path) {
            removed.push(StaleTemporary { path, pid });
        }
    }
    removed.sort_by(|a, b| a.path.cmp(&b.path));
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(temp_pid("out.rdb", ".out.rdb.tmp-123-0"), Some(123));
        assert_eq!(temp_pid("out.rdb", ".out.rdb.tmp-123-"), None);
        assert_eq!(temp_pid("out.rdb", ".out.rdb.tmp-x-1"), None);
        assert_eq!(temp_pid("out.rdb", ".other.tmp-123-0"), None);
        assert_eq!(temp_pid("out.rdb", "out.rdb.tmp-123-0"), None);
        let t = temp_path(Path::new("/x/y/out.rdb"));
        let n = t.file_name().unwrap().to_string_lossy().into_owned();
        assert_eq!(temp_pid("out.rdb", &n), Some(std::process::id()));
    }

    #[test]
    fn stale_removed_live_kept() {
        let d = std::env::temp_dir().join(format!("redsafe-stale-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let target = d.join("out.rdb");
        // A pid far above any pid_max is never running.
        let dead = d.join(".out.rdb.tmp-4294967290-3");
        std::fs::write(&dead, b"half").unwrap();
        let dead_dir = d.join(".out.rdb.tmp-4294967291-0");
        std::fs::create_dir_all(dead_dir.join("sub")).unwrap();
        let mine = temp_path(&target);
        std::fs::write(&mine, b"live").unwrap();
        let other = d.join(".other.rdb.tmp-4294967290-3");
        std::fs::write(&other, b"x").unwrap();
        let r = remove_stale_temporaries(&target);
        assert_eq!(
            r.iter().map(|s| s.path.clone()).collect::<Vec<_>>(),
            vec![dead.clone(), dead_dir.clone()]
        );
        assert!(!dead.exists() && !dead_dir.exists());
        assert!(mine.exists() && other.exists());
        register(&mine);
        assert!(LIVE.lock().unwrap().contains(&mine));
        unregister(&mine);
        assert!(!LIVE.lock().unwrap().contains(&mine));
        std::fs::remove_dir_all(&d).unwrap();
    }
}
