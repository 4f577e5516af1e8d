//! `redsafe backups list|verify|prune URL`: inspect, check and thin out a backup location.

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use serde_json::json;

use redsafe::backup::catalog::Catalog;
use redsafe::backup::plan::{self, plan_for_set};
use redsafe::backup::restore::{restore, RestoreOptions};
use redsafe::backup::retention;
use redsafe::backup::ship::{apply_retention, candidates};
use redsafe::backup::{open_store, Store};
use redsafe::time::{format_rfc3339, now};

use super::output::outln;
use super::s3args::{RetentionArgs, S3Args};
use super::{EXIT_DAMAGED, EXIT_ERROR, EXIT_OK};

/// Arguments of `redsafe backups`.
#[derive(Debug, Args)]
pub struct BackupsArgs {
    #[command(subcommand)]
    pub cmd: BackupsCmd,
}

/// `backups` subcommands.
#[derive(Debug, Subcommand)]
pub enum BackupsCmd {
    /// List sets and segments with times, sizes, Redis versions and the restorable range.
    #[command(
        after_help = "Examples:\n  redsafe backups list s3://backups/redis-1\n  redsafe backups list --json s3://backups/redis-1"
    )]
    List(ListArgs),
    /// Download every object, check its SHA-256, rebuild each set with its segments and run the
    /// RDB/AOF checks on the result.
    #[command(
        after_help = "Exit status: 0 all sets verified, 1 an object or file is damaged, 2 error.\n\n\
Examples:\n  redsafe backups verify s3://backups/redis-1\n  redsafe backups verify --set 1f2e3d4c5b6a7980 s3://backups/redis-1"
    )]
    Verify(VerifyArgs),
    /// Apply a retention policy now.
    #[command(
        after_help = "Examples:\n  redsafe backups prune --keep-daily 7 --keep-weekly 4 --dry-run s3://backups/redis-1"
    )]
    Prune(PruneArgs),
}

/// `backups list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// The backup location (s3://BUCKET/PREFIX or a directory).
    pub url: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub s3: S3Args,
}

/// `backups verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The backup location.
    pub url: String,
    /// Verify only this set id.
    #[arg(long, value_name = "ID")]
    pub set: Option<String>,
    /// Parallel downloads.
    #[arg(long, default_value_t = 4)]
    pub parallel: usize,
    /// Scratch directory for rebuilt sets (default: the system temp dir).
    #[arg(long, value_name = "DIR")]
    pub scratch: Option<std::path::PathBuf>,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub s3: S3Args,
}

/// `backups prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// The backup location.
    pub url: String,
    #[command(flatten)]
    pub retention: RetentionArgs,
    /// Show what would be deleted without deleting.
    #[arg(long)]
    pub dry_run: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub s3: S3Args,
}

/// Runs `redsafe backups`.
pub fn run(args: BackupsArgs) -> Result<u8> {
    match args.cmd {
        BackupsCmd::List(a) => list(a),
        BackupsCmd::Verify(a) => verify(a),
        BackupsCmd::Prune(a) => prune(a),
    }
}

fn open(url: &str, s3: &mut S3Args) -> Result<Box<dyn Store>> {
    s3.resolve()?;
    Ok(open_store(url, &s3.options())?)
}

fn list(mut a: ListArgs) -> Result<u8> {
    let store = open(&a.url, &mut a.s3)?;
    let cat = Catalog::load(store.as_ref())?;
    let mut sets = Vec::new();
    let mut gaps = Vec::new();
    let complete: Vec<_> = cat.complete_sets().collect();
    for s in &cat.sets {
        let segs = cat.segments_of(&s.name.id);
        let seg_bytes: u64 = segs.iter().map(|g| g.stored_size).sum();
        let mut v = json!({
            "id": s.name.id, "time": s.name.time, "time_utc": format_rfc3339(s.name.time),
            "complete": s.complete(), "segments": segs.len(), "segments_stored_size": seg_bytes,
        });
        if let Some(e) = &s.manifest_error {
            v["error"] = json!(e);
        }
        if let Some(m) = &s.manifest {
            let (chain, gap) = plan::chain(m, segs);
            // The newest restorable time: the last chained segment's last #TS (one HEAD).
            let mut until = m.last_ts;
            if let Some(last) = chain.last() {
                if let Ok(info) = store.head(&last.name.key()) {
                    if let Some(t) = info.meta.get("last-ts").and_then(|t| t.parse::<i64>().ok()) {
                        until = Some(t);
                    }
                }
            }
            v["redis_version"] = json!(m.redis_version);
            v["kind"] = json!(match (&m.aof, &m.rdb) {
                (Some(_), Some(_)) => "aof+rdb",
                (Some(_), None) => "aof",
                _ => "rdb",
            });
            v["files"] = json!(m.files.iter().map(|f| json!({"path": f.path, "size": f.packed.size, "stored_size": f.packed.stored_size, "sha256": f.packed.sha256})).collect::<Vec<_>>());
            v["size"] = json!(m.size());
            v["stored_size"] = json!(m.stored_size());
            v["restorable_from"] = json!(m.start_time());
            v["restorable_from_utc"] = json!(format_rfc3339(m.start_time()));
            v["restorable_until"] = json!(until);
            v["restorable_until_utc"] = json!(until.map(format_rfc3339));
            v["chained_segments"] = json!(chain.len());
            v["gap"] = json!(gap);
            let brk = cat.chain_break_of(&s.name.id);
            v["chain_break"] = json!(brk);
            if let Some(b) = brk {
                // Nothing after the last shipped stamp is restorable from this set; the next
                // set's data starts at its base.
                let next = complete
                    .iter()
                    .map(|(e, m)| (e.name.time, m.start_time()))
                    .find(|(t, _)| *t > s.name.time)
                    .map(|(_, start)| start);
                let from = b.last_ts.or(until);
                gaps.push(json!({
                    "set": s.name.id,
                    "from": from, "from_utc": from.map(format_rfc3339),
                    "to": next, "to_utc": next.map(format_rfc3339),
                    "incr_seq": b.incr_seq, "offset": b.offset,
                    "detected_at_utc": format_rfc3339(b.detected_at),
                    "reason": b.reason,
                }));
            }
        }
        sets.push(v);
    }
    if a.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"store": store.url(), "sets": sets, "gaps": gaps, "unknown_objects": cat.unknown.len()})
            )?
        );
        return Ok(EXIT_OK);
    }
    outln!("{}", store.url());
    if sets.is_empty() {
        outln!("  no backup sets");
    }
    for v in &sets {
        let id = v["id"].as_str().unwrap_or("");
        let t = v["time_utc"].as_str().unwrap_or("");
        if v["complete"] != json!(true) {
            match v.get("error").and_then(|e| e.as_str()) {
                Some(e) => outln!("  {t}  {id}  DAMAGED ({e})"),
                None => outln!("  {t}  {id}  INCOMPLETE (no manifest; interrupted upload)"),
            }
            continue;
        }
        outln!(
            "  {t}  {id}  {:<7} redis {:<8} {:>12} bytes ({:>12} stored)  {} segments  restorable {} .. {}{}",
            v["kind"].as_str().unwrap_or(""),
            v["redis_version"].as_str().unwrap_or("?"),
            v["size"], v["stored_size"], v["segments"],
            v["restorable_from_utc"].as_str().unwrap_or("?"),
            v["restorable_until_utc"].as_str().unwrap_or("?"),
            v["gap"].as_str().map(|g| format!("  GAP at {g}")).unwrap_or_default(),
        );
    }
    for g in &gaps {
        outln!(
            "  GAP after set {}: from {} to {}: data never shipped ({}); restores in it fail unless --allow-gap",
            g["set"].as_str().unwrap_or(""),
            g["from_utc"].as_str().unwrap_or("?"),
            g["to_utc"].as_str().unwrap_or("the next set"),
            g["reason"].as_str().unwrap_or(""),
        );
    }
    Ok(EXIT_OK)
}

fn verify(mut a: VerifyArgs) -> Result<u8> {
    let store = open(&a.url, &mut a.s3)?;
    let cat = Catalog::load(store.as_ref())?;
    let scratch = a.scratch.clone().unwrap_or_else(std::env::temp_dir);
    let mut results = Vec::new();
    let mut damaged = false;
    let mut failed = false;
    for s in &cat.sets {
        if a.set.as_ref().is_some_and(|id| *id != s.name.id) {
            continue;
        }
        if let Some(e) = &s.manifest_error {
            damaged = true;
            results.push(json!({"set": s.name.id, "ok": false, "error": e}));
            continue;
        }
        let Some(p) = plan_for_set(&cat, &s.name.id) else {
            results.push(
                json!({"set": s.name.id, "ok": null, "skipped": "incomplete set (no manifest)"}),
            );
            continue;
        };
        let out = scratch.join(format!(
            "redsafe-verify-{}-{}",
            std::process::id(),
            s.name.id
        ));
        let opts = RestoreOptions {
            out: out.clone(),
            force: true,
            parallel: a.parallel,
            // Verify checks what is stored; a gap is reported, not an error.
            allow_gap: true,
        };
        let r = restore(store.as_ref(), &p, &opts, &|_| {});
        let _ = std::fs::remove_dir_all(&out);
        match r {
            Ok(rep) => results.push(json!({"set": s.name.id, "ok": true, "files": rep.files.len(), "segments": rep.segments_applied,
                "bytes": rep.bytes, "last_ts_utc": rep.last_ts_utc, "gap": p.gap, "chain_break": p.chain_break})),
            Err(e) => {
                if e.is_damage() {
                    damaged = true;
                } else {
                    failed = true;
                }
                results.push(json!({"set": s.name.id, "ok": false, "error": e.to_string()}));
            }
        }
    }
    if a.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&json!({"store": store.url(), "sets": results}))?
        );
    } else {
        for r in &results {
            match r["ok"].as_bool() {
                Some(true) => outln!(
                    "ok       {}  {} files, {} segments, {} bytes, up to {}",
                    r["set"].as_str().unwrap_or(""),
                    r["files"],
                    r["segments"],
                    r["bytes"],
                    r["last_ts_utc"].as_str().unwrap_or("?")
                ),
                Some(false) => outln!(
                    "DAMAGED  {}  {}",
                    r["set"].as_str().unwrap_or(""),
                    r["error"].as_str().unwrap_or("")
                ),
                None => outln!(
                    "skipped  {}  {}",
                    r["set"].as_str().unwrap_or(""),
                    r["skipped"].as_str().unwrap_or("")
                ),
            }
        }
    }
    Ok(if damaged {
        EXIT_DAMAGED
    } else if failed {
        EXIT_ERROR
    } else {
        EXIT_OK
    })
}

fn prune(mut a: PruneArgs) -> Result<u8> {
    let cfg = a.s3.resolve()?;
    a.retention.fill_from(&cfg)?;
    let store = open_store(&a.url, &a.s3.options())?;
    let policy = a.retention.policy()?;
    let cat = Catalog::load(store.as_ref())?;
    let verdicts = retention::decide(&policy, &candidates(&cat), now());
    let deleted = if a.dry_run {
        0
    } else {
        apply_retention(store.as_ref(), &cat, &verdicts).context("deleting")?
    };
    if a.json {
        let v: Vec<_> = verdicts.iter().map(|v| json!({"set": v.name.id, "time_utc": format_rfc3339(v.name.time), "keep": v.keep, "reasons": v.reasons})).collect();
        outln!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"store": store.url(), "dry_run": a.dry_run, "sets": v, "objects_deleted": deleted})
            )?
        );
    } else {
        for v in &verdicts {
            outln!(
                "{}  {}  {}  ({})",
                if v.keep {
                    "keep  "
                } else if a.dry_run {
                    "would delete"
                } else {
                    "delete"
                },
                format_rfc3339(v.name.time),
                v.name.id,
                v.reasons.join(", ")
            );
        }
        if !a.dry_run {
            outln!("{deleted} objects deleted");
        }
    }
    Ok(EXIT_OK)
}
