//! Executes a [`RestorePlan`]: parallel download with hash verification into a hidden
//! temporary directory beside the output, segments appended in order, the AOF cut at the
//! target time, a check of the result, then one atomic rename. An interrupted or failed restore
//! leaves no directory at the output path (the temporary one, `.NAME.tmp-*`, is removed and
//! never looks like a finished restore).

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex};

use serde::Serialize;

use super::catalog::FileRole;
use super::codec::{self, Expect, FetchError};
use super::layout::{safe_path, UnsafeName};
use super::local::sync_dir;
use super::plan::{PlanError, RestorePlan, Target};
use super::store::Store;
use crate::aof::manifest::{FileType, Manifest, ManifestEntry};
use crate::error::Remedy;
use crate::fsutil::AtomicDir;
use crate::time::format_rfc3339;

/// Errors while restoring.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// Download or verification failed (names the object).
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// A local file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// The output exists.
    #[error("{0} already exists")]
    Exists(PathBuf),
    /// Creating or committing the output directory failed.
    #[error(transparent)]
    Fs(crate::Error),
    /// The backup cannot give the requested state.
    #[error("{0}")]
    Unrestorable(String),
    /// The requested state lies beyond a gap in the set's history (a restore up to the gap
    /// is possible: [`Remedy::AllowGap`]).
    #[error("{0}")]
    Gap(String),
    /// A name in the set's manifest is unsafe ([`super::catalog::SetManifest::check_names`]):
    /// the backup was tampered with or is corrupt. Nothing was written.
    #[error("backup set {set} is damaged or was tampered with: {source}")]
    Tampered {
        /// The set id.
        set: String,
        /// The field and the value.
        source: UnsafeName,
    },
    /// No set can be chosen (a damaged newer set, no set at all).
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// Something in the staging directory is not what restore created (a symbolic link, a
    /// file where a directory belongs): restore never writes through it.
    #[error("{path}: {what}; refusing to write through it")]
    Staging {
        /// The path.
        path: PathBuf,
        /// What was found.
        what: String,
    },
    /// The restored files fail their check.
    #[error("restored {file} fails its check: {message}")]
    Check {
        /// The file.
        file: String,
        /// The failure.
        message: String,
    },
}

impl RestoreError {
    /// The option that would get past this error, if there is one.
    pub fn remedy(&self) -> Option<Remedy> {
        match self {
            RestoreError::Exists(_) => Some(Remedy::Replace),
            RestoreError::Gap(_) => Some(Remedy::AllowGap),
            RestoreError::Fs(e) => e.remedy(),
            _ => None,
        }
    }

    /// True when a backup object is damaged (hash, size or decompression mismatch).
    pub fn is_damage(&self) -> bool {
        match self {
            RestoreError::Fetch(FetchError::Damaged { .. })
            | RestoreError::Check { .. }
            | RestoreError::Tampered { .. } => true,
            RestoreError::Plan(e) => e.is_damage(),
            RestoreError::Fs(e) => e.is_damage(),
            _ => false,
        }
    }
}

/// Refuses an output that is, holds or lies inside a store on the local file system.
fn check_outside_store(store: &dyn Store, out: &Path) -> Result<(), RestoreError> {
    match store.local_root() {
        Some(root) => crate::fsutil::Inputs::new()
            .tree(root)
            .check_output(out)
            .map_err(RestoreError::Fs),
        None => Ok(()),
    }
}

/// A real directory under the staging root, from a relative path of safe names: each
/// component is created when missing and must otherwise be a directory (not a symbolic link).
/// Every local path a restore writes is built by this or [`staged_file`].
fn staged_dir(root: &Path, rel: &str) -> Result<PathBuf, RestoreError> {
    let mut p = root.to_path_buf();
    for c in rel.split('/') {
        p.push(c);
        loop {
            match fs::symlink_metadata(&p) {
                Ok(md) if md.is_dir() => break,
                Ok(md) => {
                    return Err(RestoreError::Staging {
                        path: p,
                        what: if md.file_type().is_symlink() {
                            "a symbolic link".into()
                        } else {
                            "not a directory".into()
                        },
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => match fs::create_dir(&p) {
                    // Another worker may have created it meanwhile: check again.
                    Ok(()) => break,
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                    Err(e) => return Err(io_err(&p)(e)),
                },
                Err(e) => return Err(io_err(&p)(e)),
            }
        }
    }
    Ok(p)
}

/// The path of file `rel` (a relative path of safe names, checked again here) under the
/// staging root, its directories created by [`staged_dir`]. `field` names where `rel` came
/// from, for the error.
fn staged_file(root: &Path, set: &str, field: &str, rel: &str) -> Result<PathBuf, RestoreError> {
    safe_path(field, rel).map_err(|source| RestoreError::Tampered {
        set: set.to_string(),
        source,
    })?;
    let (dir, name) = match rel.rsplit_once('/') {
        Some((d, n)) => (staged_dir(root, d)?, n),
        None => (root.to_path_buf(), rel),
    };
    Ok(dir.join(name))
}

/// Creates a new file (never opening an existing one, never through a symbolic link).
fn create_new(path: &Path) -> Result<File, RestoreError> {
    OpenOptions::new()
        .write(true)
        .read(true)
        .create_new(true)
        .open(path)
        .map_err(io_err(path))
}

/// Opens a file restore created, for appending, refusing a symbolic link in its place.
fn open_own(path: &Path) -> Result<File, RestoreError> {
    let mut o = OpenOptions::new();
    o.append(true).read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.custom_flags(libc::O_NOFOLLOW);
    }
    o.open(path).map_err(io_err(path))
}

fn io_err(path: &Path) -> impl Fn(io::Error) -> RestoreError + '_ {
    move |source| RestoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Restore settings.
#[derive(Debug, Clone)]
pub struct RestoreOptions {
    /// The output directory (must not exist unless `force`).
    pub out: PathBuf,
    /// Replace an existing output.
    pub force: bool,
    /// Parallel downloads.
    pub parallel: usize,
    /// Restore to the last consistent point when the target lies beyond a gap in the set's
    /// segment chain (otherwise such a restore fails).
    pub allow_gap: bool,
}

/// What a restore produced.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    /// The output directory.
    pub out: String,
    /// The set used.
    pub set: String,
    /// Its time (RFC 3339).
    pub set_time: String,
    /// The target (`latest` or a time).
    pub target: Target,
    /// Files written (relative paths).
    pub files: Vec<String>,
    /// Segments downloaded and applied.
    pub segments_applied: u64,
    /// Bytes written.
    pub bytes: u64,
    /// The last `#TS` kept.
    pub last_ts: Option<i64>,
    /// The last `#TS` kept, RFC 3339.
    pub last_ts_utc: Option<String>,
    /// False when the state may not be exactly the target (an RDB-only set, or an AOF without
    /// `#TS` annotations after its base).
    pub exact: bool,
    /// Why `exact` is false, when it is not obvious.
    pub warning: Option<String>,
    /// The set's AOF as rebuilt from the backups, before the cut (its parts' paths name the
    /// staging directory), and the plan of the one cut planner
    /// ([`plan_cut`](crate::aof::pitr::plan_cut)), as a local restore reports them; `None`
    /// for an RDB-only set.
    #[serde(skip)]
    pub aof: Option<(crate::aof::AofSet, crate::aof::pitr::CutPlan)>,
    /// The AOF files written, in load order, as a local restore describes its output
    /// (`None` for an RDB-only set).
    #[serde(skip)]
    pub written: Option<crate::aof::pitr::OutputSummary>,
}

/// Progress callback: bytes written so far.
pub type Progress<'a> = &'a (dyn Fn(u64) + Sync);

/// Runs `plan` from `store` into `opts.out`.
pub fn restore(
    store: &dyn Store,
    plan: &RestorePlan,
    opts: &RestoreOptions,
    progress: Progress<'_>,
) -> Result<RestoreReport, RestoreError> {
    let out = &opts.out;
    check_outside_store(store, out)?;
    // Every name a restore turns into a local path, checked before anything is created.
    plan.manifest
        .check_names(&plan.set)
        .map_err(|source| RestoreError::Tampered {
            set: plan.set.id.clone(),
            source,
        })?;
    if out.exists() && !opts.force {
        return Err(RestoreError::Exists(out.clone()));
    }
    let parent = crate::fsutil::parent_dir(out);
    fs::create_dir_all(&parent).map_err(io_err(&parent))?;
    // Built under a hidden temporary name beside the output, removed unless committed.
    let dir = AtomicDir::create(out, opts.force).map_err(RestoreError::Fs)?;
    let tmp = dir.path().to_path_buf();
    match fs::symlink_metadata(&tmp) {
        Ok(md) if md.is_dir() => {}
        Ok(_) => {
            return Err(RestoreError::Staging {
                path: tmp,
                what: "not the directory restore created".into(),
            })
        }
        Err(e) => return Err(io_err(&tmp)(e)),
    }
    let m = &plan.manifest;
    let set_id = plan.set.id.as_str();
    let written = AtomicU64::new(0);

    // 1. The set's files, in parallel (the original AOF manifest is rewritten below, keeping
    //    its entries' extra keys such as Redis 8's `startoffset`).
    let files: Vec<_> = m.files.iter().collect();
    let next = AtomicU64::new(0);
    let failed = AtomicBool::new(false);
    let first_err: Mutex<Option<RestoreError>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..opts.parallel.clamp(1, 16).min(files.len().max(1)) {
            s.spawn(|| loop {
                if failed.load(Ordering::SeqCst) {
                    return;
                }
                let i = next.fetch_add(1, Ordering::SeqCst) as usize;
                let Some(f) = files.get(i) else { return };
                let r = (|| -> Result<(), RestoreError> {
                    let path = staged_file(&tmp, set_id, "file path", &f.path)?;
                    let file = create_new(&path)?;
                    let mut w = ProgressWriter {
                        inner: BufWriter::with_capacity(
                            1 << 20,
                            crate::fsutil::EarlyWriteback::new(file),
                        ),
                        written: &written,
                        progress,
                    };
                    let expect = Expect {
                        size: Some(f.packed.size),
                        sha256: Some(f.packed.sha256.clone()),
                        stored_size: Some(f.packed.stored_size),
                        stored_sha256: Some(f.packed.stored_sha256.clone()),
                    };
                    codec::fetch_verified(
                        store,
                        &f.object,
                        &expect,
                        &mut w,
                        &path.display().to_string(),
                    )?;
                    let file = w.inner.into_inner().map_err(|e| RestoreError::Io {
                        path: path.clone(),
                        source: e.into_error(),
                    })?;
                    file.into_inner().sync_all().map_err(io_err(&path))?;
                    Ok(())
                })();
                if let Err(e) = r {
                    failed.store(true, Ordering::SeqCst);
                    let mut g = first_err.lock().unwrap_or_else(|p| p.into_inner());
                    if g.is_none() {
                        *g = Some(e);
                    }
                    return;
                }
            });
        }
    });
    if let Some(e) = first_err.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let mut report = RestoreReport {
        out: out.display().to_string(),
        set: plan.set.id.clone(),
        set_time: format_rfc3339(plan.set.time),
        target: plan.target,
        files: files.iter().map(|f| f.path.clone()).collect(),
        segments_applied: 0,
        bytes: 0,
        last_ts: m.last_ts,
        last_ts_utc: None,
        exact: plan.exact,
        warning: None,
        aof: None,
        written: None,
    };

    // 2. The AOF: INCR files of the set, cut or continued by segments.
    if let Some(aof) = &m.aof {
        let cut_after = match plan.target {
            Target::At(t) => Some(t),
            Target::Latest => None,
        };
        let aof_dir = staged_dir(
            &tmp,
            safe_path("aof.dir", &aof.dir).map_err(|source| RestoreError::Tampered {
                set: set_id.to_string(),
                source,
            })?,
        )?;
        let base = m.files.iter().find(|f| f.role == FileRole::AofBase);
        if let (Some(t), Some(bt)) = (cut_after, aof.base_time) {
            if bt > t {
                return Err(RestoreError::Unrestorable(format!(
                    "{} is before the base of set {} ({}): no backup holds that state",
                    format_rfc3339(t),
                    plan.set.id,
                    format_rfc3339(bt)
                )));
            }
        }
        let mut incrs: Vec<(u64, String)> = m
            .files
            .iter()
            .filter(|f| f.role == FileRole::AofIncr)
            .map(|f| (f.seq.unwrap_or(0), file_name(&f.path)))
            .collect();
        let mut cut_done = false;
        // A stamp after the target was staged: the cut lies at or before it.
        let past = |ts: Option<i64>| matches!((cut_after, ts), (Some(t), Some(x)) if x > t);
        let mut last_ts = aof.base_time;
        // Whether any `#TS` annotation and any command were seen in INCR data.
        let (mut saw_ts, mut commands) = (false, 0u64);
        // Scan the set's INCR files for the cut point.
        for i in 0..incrs.len() {
            if cut_after.is_none() {
                break; // nothing to cut: the check below reads every file anyway
            }
            let p = aof_dir.join(&incrs[i].1);
            let f = File::open(&p).map_err(io_err(&p))?;
            let len = f.metadata().map_err(io_err(&p))?.len();
            let s = super::ship::scan_file(&f, 0, len).map_err(io_err(&p))?;
            if let Some(d) = s.damaged {
                return Err(RestoreError::Check {
                    file: incrs[i].1.clone(),
                    message: d.to_string(),
                });
            }
            saw_ts |= s.first_ts.is_some();
            commands += s.commands;
            if s.last_ts.is_some() {
                last_ts = s.last_ts;
            }
            if past(s.max_ts) {
                // The cut lies in this file (placed below by the one cut planner); the
                // later files are after it.
                for (_, name) in incrs.drain(i + 1..) {
                    let q = aof_dir.join(name);
                    fs::remove_file(&q).map_err(io_err(&q))?;
                }
                cut_done = true;
                break;
            }
        }
        // Segments, appended in order; stop at the cut.
        if !cut_done {
            let gap = plan
                .gap
                .clone()
                .or_else(|| plan.chain_break.as_ref().map(|b| b.describe()));
            if let Some(g) = gap {
                if plan.target == Target::Latest && !opts.allow_gap {
                    return Err(RestoreError::Gap(format!("the segment chain of set {} has a gap ({g}): the newest state is not available", plan.set.id)));
                }
            }
            // Segments are downloaded by up to `parallel` workers into temporary files (a
            // bounded window ahead of the one being appended, so memory stays at a few
            // buffers and disk at `parallel` segments), verified, then appended in order.
            let seg_dir = staged_dir(&tmp, ".segments")?;
            let pf = Prefetch::new(plan.segments.len(), opts.parallel.clamp(1, 16));
            let looped = std::thread::scope(|sc| {
                for _ in 0..pf.window.min(plan.segments.len()) {
                    sc.spawn(|| pf.worker(store, &plan.segments, &seg_dir, &written, progress));
                }
                let r = (|| -> Result<(), RestoreError> {
                    for (i, seg) in plan.segments.iter().enumerate() {
                        let n = &seg.name;
                        let (name, mut f) = if incrs.last().map(|l| l.0) == Some(n.incr_seq) {
                            let name = incrs.last().map(|l| l.1.clone()).unwrap_or_default();
                            let f = open_own(&aof_dir.join(&name))?;
                            (name, f)
                        } else {
                            let name = format!("{}.{}.incr.aof", aof.prefix, n.incr_seq);
                            let p = staged_file(&aof_dir, set_id, "aof.prefix", &name)?;
                            incrs.push((n.incr_seq, name.clone()));
                            (name, create_new(&p)?)
                        };
                        let p = aof_dir.join(&name);
                        let len = f.metadata().map_err(io_err(&p))?.len();
                        if len != n.start {
                            return Err(RestoreError::Unrestorable(format!(
                                "segment {} starts at {} but {name} has {len} bytes",
                                n.key(),
                                n.start
                            )));
                        }
                        // Downloaded and verified by the prefetch workers; appended here in order.
                        let part = pf.take(i)?;
                        {
                            let mut src = File::open(&part).map_err(io_err(&part))?;
                            // Appending: the offset an interrupted copy resumes from.
                            f.seek(SeekFrom::End(0)).map_err(io_err(&p))?;
                            crate::fsutil::copy_retrying(&mut src, &mut f, u64::MAX)
                                .map_err(io_err(&p))?;
                        }
                        fs::remove_file(&part).map_err(io_err(&part))?;
                        report.segments_applied += 1;
                        if cut_after.is_none() {
                            f.sync_all().map_err(io_err(&p))?;
                            continue;
                        }
                        let s = super::ship::scan_file(&f, n.start, n.end - n.start)
                            .map_err(io_err(&p))?;
                        if let Some(d) = s.damaged {
                            return Err(RestoreError::Check {
                                file: name,
                                message: d.to_string(),
                            });
                        }
                        saw_ts |= s.first_ts.is_some();
                        commands += s.commands;
                        if s.last_ts.is_some() {
                            last_ts = s.last_ts;
                        }
                        f.sync_all().map_err(io_err(&p))?;
                        if past(s.max_ts) {
                            // The cut lies in what is staged: no later segment is needed.
                            cut_done = true;
                            break;
                        }
                    }
                    Ok(())
                })();
                pf.stop();
                r
            });
            looped?;
            fs::remove_dir_all(&seg_dir).map_err(io_err(&seg_dir))?;
        }
        // The target lies after everything shipped for this set. When the chain has a gap or
        // ship recorded that it broke, later data exists but is missing: that is not the
        // state at the target.
        if let (Some(t), false) = (cut_after, cut_done) {
            let why = match (&plan.gap, &plan.chain_break) {
                (_, Some(b)) => Some(b.describe()),
                (Some(g), None) => Some(format!("a segment is missing at {g}")),
                (None, None) => None,
            };
            if let Some(why) = why {
                let upto = last_ts
                    .map(|x| format!("{} ({x})", format_rfc3339(x)))
                    .unwrap_or_else(|| "unknown".into());
                if !opts.allow_gap {
                    return Err(RestoreError::Gap(format!(
                        "{} ({t}) falls in a gap of the backups: set {} holds data only up to {upto}, then {why}; \
                         restore an earlier time, or up to the gap: the last consistent point ({upto})",
                        format_rfc3339(t),
                        plan.set.id
                    )));
                }
                report.exact = false;
                report.warning = Some(format!(
                    "{} is inside a gap of the backups ({why}): restored the last consistent point, {upto}",
                    format_rfc3339(t)
                ));
            }
        }
        if cut_after.is_some() && !cut_done && !saw_ts && commands > 0 {
            // No annotation after the base. With `aof-timestamp-enabled yes` that means every
            // command carries a stamp at or before the base time (so keeping all is right);
            // with it off, the commands' times are unknown. Say so instead of guessing.
            report.exact = false;
            report.warning = Some(format!(
                "no #TS annotations after the base of set {}: if aof-timestamp-enabled is off, the result may hold commands after the target",
                plan.set.id
            ));
        }
        report.last_ts = last_ts;
        // The manifest: base plus the INCR files present (no history), with the extra keys the
        // original manifest gave each (only read for those; names come from the set manifest).
        let original = fs::read(aof_dir.join(&aof.manifest))
            .ok()
            .and_then(|b| Manifest::parse(&b).ok());
        let extras = |name: &str| -> Vec<(Vec<u8>, Vec<u8>)> {
            original
                .as_ref()
                .and_then(|o| o.entries.iter().find(|e| e.name == name.as_bytes()))
                .map(|e| e.extra.clone())
                .unwrap_or_default()
        };
        let mut entries = Vec::new();
        if let Some(b) = base {
            let mut e = ManifestEntry::new(
                file_name(&b.path).into_bytes(),
                b.seq.unwrap_or(1) as i64,
                FileType::Base,
            );
            e.extra = extras(&file_name(&b.path));
            entries.push(e);
        }
        for (seq, name) in &incrs {
            let mut e = ManifestEntry::new(name.clone().into_bytes(), *seq as i64, FileType::Incr);
            e.extra = extras(name);
            entries.push(e);
        }
        let mpath = aof_dir.join(&aof.manifest);
        let write_manifest = |entries: &[ManifestEntry]| {
            let m = Manifest {
                entries: entries.to_vec(),
            };
            super::local::write_atomic(&mpath, &mut m.to_bytes().as_slice()).map_err(io_err(&mpath))
        };
        write_manifest(&entries)?;
        // The one cut planner, as `restore DIR --at` plans the same files: it places the cut
        // inside what was staged. Without a cut everything staged is kept (planned as
        // `latest`: a set without `#TS:` annotations is kept whole, with the warning above).
        let file = format!("{}/{}", aof.dir, aof.manifest);
        let set = crate::aof::set::AofSet::open(&mpath).map_err(|e| RestoreError::Check {
            file: file.clone(),
            message: e.to_string(),
        })?;
        let when = match (cut_after, cut_done) {
            (Some(t), true) => crate::aof::pitr::When::Time { unix: t },
            _ => crate::aof::pitr::When::Latest,
        };
        let mut cut = crate::aof::pitr::plan_cut(&set, &when.into()).map_err(|e| {
            if e.is_damage() {
                RestoreError::Check {
                    file: file.clone(),
                    message: e.to_string(),
                }
            } else {
                RestoreError::Unrestorable(e.to_string())
            }
        })?;
        if let Some(t) = cut_after {
            cut.target = crate::aof::pitr::When::Time { unix: t }.into();
        }
        let mut kept = Vec::new();
        let mut written_files = Vec::new();
        for ((part, keep), entry) in set.parts.iter().zip(&cut.files).zip(entries) {
            let (size, was_cut) = match keep {
                crate::aof::pitr::FileKeep::Whole { size } => (*size, false),
                // An INCR cut to nothing is left out, as a local restore leaves it.
                crate::aof::pitr::FileKeep::Prefix { len: 0 }
                    if part.role == crate::aof::set::PartRole::Incr =>
                {
                    fs::remove_file(&part.path).map_err(io_err(&part.path))?;
                    continue;
                }
                crate::aof::pitr::FileKeep::Prefix { len } => {
                    truncate(&part.path, *len)?;
                    (*len, true)
                }
                crate::aof::pitr::FileKeep::Dropped => {
                    fs::remove_file(&part.path).map_err(io_err(&part.path))?;
                    continue;
                }
            };
            let mut entry = entry;
            if was_cut {
                // A cut file no longer ends where it did.
                entry
                    .extra
                    .retain(|(k, _)| !k.eq_ignore_ascii_case(b"endoffset"));
            }
            written_files.push(crate::aof::pitr::WrittenFile {
                name: part.name_lossy(),
                source: part.name_lossy(),
                role: part.role,
                source_size: part.size.unwrap_or(0),
                size,
                cut: was_cut,
            });
            kept.push(entry);
        }
        if cut_done {
            report.last_ts = cut.last_timestamp.or(aof.base_time);
        }
        entries = kept;
        write_manifest(&entries)?;
        let aof_out = out.join(&aof.dir);
        report.written = Some(crate::aof::pitr::OutputSummary {
            bytes: written_files.iter().map(|f| f.size).sum(),
            path: out.clone(),
            manifest: Some(aof_out.join(&aof.manifest)),
            files: written_files,
        });
        report.aof = Some((set, cut));
        report.files = entries
            .iter()
            .map(|e| format!("{}/{}", aof.dir, e.name_lossy()))
            .collect();
        report.files.push(format!("{}/{}", aof.dir, aof.manifest));
        if let Some(r) = &m.rdb {
            report.files.push(r.name.clone());
        }
        sync_dir(&aof_dir).map_err(io_err(&aof_dir))?;
    } else if let Target::At(t) = plan.target {
        if m.created_at > t {
            return Err(RestoreError::Unrestorable(format!(
                "set {} is RDB-only and was taken at {}, after {}",
                plan.set.id,
                format_rfc3339(m.created_at),
                format_rfc3339(t)
            )));
        }
    }

    // 3. Check the result: the AOF as `redis-check-aof` would (base RDB included), dump.rdb
    //    with the RDB checker.
    if let Some(aof) = &m.aof {
        let mpath = tmp.join(&aof.dir).join(&aof.manifest);
        let check = |e: crate::Error| RestoreError::Check {
            file: format!("{}/{}", aof.dir, aof.manifest),
            message: e.to_string(),
        };
        let set = crate::aof::set::AofSet::open(&mpath).map_err(check)?;
        let rep = crate::aof::check::check_set(
            &set,
            crate::aof::check::ScanOptions::default(),
            &mut |_| {},
        )
        .map_err(check)?;
        if plan.target == Target::Latest {
            if let Some(t) = rep.last_timestamp() {
                report.last_ts = Some(t);
            }
        }
        if !rep.is_ok() {
            let (file, message) = match rep.damaged_file() {
                Some(f) => (
                    format!("{}/{}", aof.dir, f.name),
                    match (&f.rdb_error, &f.failure) {
                        (Some(e), _) => e.to_string(),
                        (None, Some(fail)) => format!("{fail:?}"),
                        _ => format!("{:?} at offset {}", f.status, f.ok_up_to),
                    },
                ),
                None => (
                    format!("{}/{}", aof.dir, aof.manifest),
                    rep.verdict.name().to_string(),
                ),
            };
            return Err(RestoreError::Check { file, message });
        }
    }
    report.last_ts_utc = report.last_ts.map(format_rfc3339);
    for f in m.files.iter().filter(|f| f.role == FileRole::Rdb) {
        let p = tmp.join(&f.path);
        let mf = crate::mmap::MappedFile::open(&p).map_err(|e| RestoreError::Check {
            file: f.path.clone(),
            message: e.to_string(),
        })?;
        let rep = crate::rdb::check_rdb(mf.bytes(), 0, crate::rdb::CheckOptions::default());
        if !rep.ok {
            let msg = rep
                .error
                .map(|e| e.to_string())
                .unwrap_or_else(|| "invalid".into());
            return Err(RestoreError::Check {
                file: f.path.clone(),
                message: msg,
            });
        }
    }

    // 4. Commit: fsync, rename into place (replacing an old output with --force), fsync the parent.
    dir.commit().map_err(RestoreError::Fs)?;
    report.bytes = written.load(Ordering::SeqCst);
    Ok(report)
}

fn file_name(path: &str) -> String {
    path.rsplit('/').next().unwrap_or(path).to_string()
}

fn truncate(p: &Path, at: u64) -> Result<(), RestoreError> {
    let f = OpenOptions::new().write(true).open(p).map_err(io_err(p))?;
    f.set_len(at).map_err(io_err(p))?;
    let mut f = f;
    f.seek(SeekFrom::End(0)).map_err(io_err(p))?;
    f.sync_all().map_err(io_err(p))
}

/// The state shared by the segment prefetch workers and the appending thread.
struct Prefetch {
    /// How many segments may be downloaded ahead of the one being appended.
    window: usize,
    state: Mutex<PrefetchState>,
    cv: Condvar,
}

struct PrefetchState {
    /// Per segment: the downloaded file, or the error.
    done: Vec<Option<Result<PathBuf, RestoreError>>>,
    /// Next segment to claim.
    next: usize,
    /// Segments appended so far.
    consumed: usize,
    stop: bool,
}

impl Prefetch {
    fn new(n: usize, window: usize) -> Prefetch {
        Prefetch {
            window,
            state: Mutex::new(PrefetchState {
                done: (0..n).map(|_| None).collect(),
                next: 0,
                consumed: 0,
                stop: false,
            }),
            cv: Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PrefetchState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn stop(&self) {
        self.lock().stop = true;
        self.cv.notify_all();
    }

    /// Waits for segment `i`, marks it consumed and returns its file.
    fn take(&self, i: usize) -> Result<PathBuf, RestoreError> {
        let mut g = self.lock();
        loop {
            if let Some(r) = g.done.get_mut(i).and_then(Option::take) {
                g.consumed = i + 1;
                drop(g);
                self.cv.notify_all();
                return r;
            }
            g = self.cv.wait(g).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Claims segments in order (at most `window` ahead of the consumer) and downloads each.
    fn worker(
        &self,
        store: &dyn Store,
        segs: &[super::catalog::SegmentEntry],
        dir: &Path,
        written: &AtomicU64,
        progress: Progress<'_>,
    ) {
        loop {
            let i = {
                let mut g = self.lock();
                loop {
                    if g.stop || g.next >= segs.len() {
                        return;
                    }
                    if g.next < g.consumed + self.window {
                        g.next += 1;
                        break g.next - 1;
                    }
                    g = self.cv.wait(g).unwrap_or_else(|p| p.into_inner());
                }
            };
            let Some(seg) = segs.get(i) else { return };
            let r = fetch_segment(store, seg, &dir.join(format!("{i:08}")), written, progress);
            let failed = r.is_err();
            {
                let mut g = self.lock();
                if let Some(slot) = g.done.get_mut(i) {
                    *slot = Some(r);
                }
                if failed {
                    // No point fetching more: the consumer stops at this one.
                    g.stop = true;
                }
            }
            self.cv.notify_all();
        }
    }
}

/// Downloads one segment into `path`, checking its size and the SHA-256 recorded in its
/// metadata.
fn fetch_segment(
    store: &dyn Store,
    seg: &super::catalog::SegmentEntry,
    path: &Path,
    written: &AtomicU64,
    progress: Progress<'_>,
) -> Result<PathBuf, RestoreError> {
    let n = &seg.name;
    let info = store.head(&n.key()).map_err(FetchError::from)?;
    let expect = Expect {
        size: info
            .meta
            .get("size")
            .and_then(|s| s.parse().ok())
            .or(Some(n.end - n.start)),
        sha256: info.meta.get("sha256").cloned(),
        stored_size: Some(seg.stored_size),
        stored_sha256: None,
    };
    if expect.sha256.is_none() {
        return Err(FetchError::Damaged {
            store: store.url(),
            key: n.key(),
            what: "no SHA-256 recorded in its metadata".into(),
        }
        .into());
    }
    let file = create_new(path)?;
    let mut w = ProgressWriter {
        inner: BufWriter::with_capacity(1 << 20, file),
        written,
        progress,
    };
    codec::fetch_verified(
        store,
        &n.key(),
        &expect,
        &mut w,
        &path.display().to_string(),
    )?;
    w.inner.flush().map_err(io_err(path))?;
    Ok(path.to_path_buf())
}

struct ProgressWriter<'a, W: Write> {
    inner: BufWriter<W>,
    written: &'a AtomicU64,
    progress: Progress<'a>,
}

impl<W: Write> Write for ProgressWriter<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        let total = self.written.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        (self.progress)(total);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// What [`restore_with_cut`] produced.
#[derive(Debug)]
pub struct CutRestore {
    /// The set used.
    pub set: crate::backup::layout::SetName,
    /// Segments applied to rebuild the set's AOF before the cut.
    pub segments_applied: u64,
    /// The reconstructed AOF as planned (its parts name the files as Redis named them).
    pub aof: crate::aof::AofSet,
    /// Where the cut is.
    pub cut: crate::aof::pitr::CutPlan,
    /// What was written (`None` with `dry_run`).
    pub written: Option<crate::aof::pitr::OutputSummary>,
}

/// Removes a staging directory when dropped.
struct Staging(PathBuf);

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Restores from backups to a cut that needs the AOF itself rather than a time:
/// `before:COMMAND` or an explicit `FILE:OFFSET` ([`crate::aof::pitr::Target`]). Each
/// candidate set's AOF is rebuilt (files plus every segment that continues it, verified) in a
/// hidden staging directory beside `opts.out`, then cut with the local restore's
/// [`plan_cut`](crate::aof::pitr::plan_cut) and written with its
/// [`DirOutput`](crate::aof::pitr::DirOutput) (atomically); the staging directory is always
/// removed.
///
/// Candidates, newest first: for `before:COMMAND` every complete AOF set, until one holds the
/// command (its first occurrence in that set is the cut); for a file named in `FILE:OFFSET`,
/// the newest set whose AOF has that file (as a set file or as segments of that INCR); for a
/// file index, the newest set.
pub fn restore_with_cut(
    store: &dyn Store,
    cat: &crate::backup::catalog::Catalog,
    target: &crate::aof::pitr::Target,
    opts: &RestoreOptions,
    dry_run: bool,
    progress: Progress<'_>,
) -> Result<CutRestore, RestoreError> {
    use crate::aof::pitr::{FileRef, RestoreOutput, Target as Cut, When};
    let sets: Vec<_> = cat
        .complete_sets()
        .filter(|(_, m)| m.aof.is_some())
        .collect();
    let mut candidates: Vec<_> = sets.iter().rev().collect();
    match target {
        Cut::When(When::BeforeCommand { .. }) => {}
        Cut::Offset {
            file: FileRef::Name(name),
            ..
        } => {
            candidates.retain(|(e, m)| {
                let Some(aof) = &m.aof else { return false };
                m.files.iter().any(|f| file_name(&f.path) == *name)
                    || cat
                        .segments_of(&e.name.id)
                        .iter()
                        .any(|s| format!("{}.{}.incr.aof", aof.prefix, s.name.incr_seq) == *name)
            });
            if candidates.is_empty() {
                return Err(RestoreError::Unrestorable(format!(
                    "no complete backup set holds an AOF file named {name}"
                )));
            }
        }
        Cut::Offset { .. } => candidates.truncate(1),
        Cut::When(w) => {
            return Err(RestoreError::Unrestorable(format!(
                "restore_with_cut is for before:COMMAND and offsets, not {w:?}"
            )))
        }
    }
    if candidates.is_empty() {
        super::plan::refuse_damaged_newer(cat, None)?;
        return Err(RestoreError::Unrestorable(
            "no complete backup set with an AOF in this location".into(),
        ));
    }
    check_outside_store(store, &opts.out)?;
    let parent = crate::fsutil::parent_dir(&opts.out);
    fs::create_dir_all(&parent).map_err(io_err(&parent))?;
    let base = opts
        .out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "restore".into());
    let mut first_err = None;
    for (entry, m) in candidates {
        let Some(plan) = super::plan::plan_for_set(cat, &entry.name.id) else {
            continue;
        };
        let Some(aof) = &m.aof else { continue };
        // A damaged set newer than this one might have been the right one.
        super::plan::refuse_damaged_newer(cat, Some(&entry.name))?;
        let stage = parent.join(format!(
            ".{base}.stage-{}-{}",
            std::process::id(),
            entry.name.id
        ));
        // Never reuse (or, through the guard, remove) something already at that name.
        match fs::symlink_metadata(&stage) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(&stage)(e)),
            Ok(md) => {
                return Err(RestoreError::Staging {
                    path: stage,
                    what: if md.file_type().is_symlink() {
                        "the staging path already exists as a symbolic link".into()
                    } else {
                        "the staging path already exists".into()
                    },
                })
            }
        }
        let staging = Staging(stage);
        let stage_opts = RestoreOptions {
            out: staging.0.clone(),
            force: true,
            parallel: opts.parallel,
            // The chain up to a gap still holds every command before it; a cut beyond the
            // gap is refused below.
            allow_gap: true,
        };
        let rep = restore(store, &plan, &stage_opts, progress)?;
        let mpath = staging.0.join(&aof.dir).join(&aof.manifest);
        let set = crate::aof::AofSet::open(&mpath).map_err(RestoreError::Fs)?;
        let cut = match crate::aof::pitr::plan_cut(&set, target) {
            Ok(c) => c,
            Err(e) if !e.is_damage() && matches!(target, Cut::When(_)) => {
                // The command is not in this set: try the next older one.
                first_err.get_or_insert(e);
                continue;
            }
            Err(e) => return Err(RestoreError::Fs(e)),
        };
        if cut.cut.is_none() {
            if let Some(why) = plan
                .gap
                .clone()
                .or_else(|| plan.chain_break.as_ref().map(|b| b.describe()))
            {
                if !opts.allow_gap {
                    return Err(RestoreError::Gap(format!(
                        "set {} has a gap after its last segment ({why}): the restore point may lie in it",
                        entry.name.id
                    )));
                }
            }
        }
        let written = if dry_run {
            None
        } else {
            let mut out = crate::aof::pitr::DirOutput::new(opts.out.clone(), opts.force);
            Some(
                out.write(&set, &cut, &mut |_| {})
                    .map_err(RestoreError::Fs)?,
            )
        };
        return Ok(CutRestore {
            set: entry.name.clone(),
            segments_applied: rep.segments_applied,
            aof: set,
            cut,
            written,
        });
    }
    Err(match first_err {
        Some(e) => RestoreError::Unrestorable(format!(
            "{} (searched every complete set with an AOF)",
            e.message()
        )),
        None => RestoreError::Unrestorable("no backup set could be rebuilt".into()),
    })
}
