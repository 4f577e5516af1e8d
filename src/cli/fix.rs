//! `redsafe fix`: repair an AOF (file, directory or manifest) like `redis-check-aof --fix`,
//! cut it at a point in time across all its files, or salvage damaged regions; written to a
//! new output atomically, or in place with a backup.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::Result;
use clap::{ArgGroup, Args};
use serde_json::json;

use redsafe::aof::{self, AofSet, FileAction, FixOptions, FixPlan, LossKind};
use redsafe::rdb::CheckOptions;

use super::output::outln;
use super::output::{byte_progress, error_json};
use super::{EXIT_DAMAGED, EXIT_ERROR, EXIT_OK};

/// Arguments of `redsafe fix`.
#[derive(Debug, Args)]
#[command(
    group(ArgGroup::new("dest").required(true).args(["output", "in_place"])),
    after_help = "Modes (they combine):\n  \
default                     cut the damaged last file after its last complete command, as\n                              \
redis-check-aof --fix (an unterminated MULTI is dropped whole)\n  \
--truncate-to-timestamp T   keep every command stamped <= T, across all INCR files\n  \
--salvage                   skip damaged regions anywhere and keep what follows\n\n\
Exit status: 0 repaired (or nothing to repair), 1 not repairable (damaged RDB part, missing\n\
file, damage in a file that is not the last one without --salvage), 2 usage or I/O error.\n\n\
Examples:\n  redsafe fix appendonly.aof -o appendonly.fixed.aof\n  \
redsafe fix /var/lib/redis/appendonlydir -o /tmp/appendonlydir\n  \
redsafe fix appendonlydir --truncate-to-timestamp 1700000000 -o /tmp/restore/appendonlydir\n  \
redsafe fix appendonlydir --salvage --in-place --yes"
)]
pub struct FixArgs {
    /// The AOF to repair: a file, an AOF directory or a manifest.
    pub path: PathBuf,
    /// Write the result here: a file for a single AOF, a directory (files and manifest) for a
    /// multi-part AOF. The input is never modified.
    #[arg(short = 'o', long = "output", value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Replace the input, keeping a backup beside it (`NAME.redsafe-backup-TIME`). Asks for
    /// confirmation on a terminal unless --yes. Stop Redis first.
    #[arg(long)]
    pub in_place: bool,
    /// Keep only what was written at or before this time (unix seconds, RFC 3339 or
    /// 'YYYY-MM-DD HH:MM:SS' UTC, as `restore --at`): cut at the first `#TS:` annotation
    /// above it and drop the later INCR files from the manifest.
    #[arg(long, value_name = "T", allow_negative_numbers = true)]
    pub truncate_to_timestamp: Option<String>,
    /// Skip damaged regions in the middle of files (torn writes, zeroed pages), resume at the
    /// next command boundary and keep everything after it; every loss is reported.
    #[arg(long)]
    pub salvage: bool,
    /// Replace an existing output (a directory only if it is empty or redsafe's own output
    /// holding nothing else).
    #[arg(long)]
    pub force: bool,
    /// Do not ask for confirmation (--in-place on a terminal).
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Print one JSON object instead of the text report.
    #[arg(long)]
    pub json: bool,
}

fn action_json(set: &AofSet, plan: &FixPlan) -> serde_json::Value {
    let v: Vec<serde_json::Value> = set
        .parts
        .iter()
        .zip(&plan.actions)
        .map(|(p, a)| {
            let size = p.size.unwrap_or(0);
            let kept: u64 = a.kept(size).iter().map(|r| r.end - r.start).sum();
            let (name, ranges) = match a {
                FileAction::Keep => ("keep", None),
                FileAction::Truncate(_) => ("truncate", None),
                FileAction::Ranges(r) => ("ranges", Some(r)),
                FileAction::Remove => ("remove", None),
            };
            let mut o = json!({
                "file": p.name_lossy(),
                "action": name,
                "size": size,
                "kept_bytes": kept,
            });
            if let FileAction::Truncate(n) = a {
                o["truncate_to"] = json!(n);
            }
            if let Some(r) = ranges {
                o["ranges"] = json!(r.iter().map(|r| [r.start, r.end]).collect::<Vec<_>>());
            }
            o
        })
        .collect();
    json!(v)
}

fn ts(t: Option<i64>) -> String {
    t.map(|t| format!("{t} ({})", redsafe::time::format_rfc3339(t)))
        .unwrap_or_else(|| "unknown".into())
}

fn print_plan(set: &AofSet, plan: &FixPlan) -> Result<()> {
    let c = &plan.check;
    match c.damaged_file() {
        Some(f) => outln!(
            "input: {} ({}): {} in {} (ok_up_to {})",
            set.manifest_path
                .as_ref()
                .unwrap_or(&set.parts[0].path)
                .display(),
            c.kind.name(),
            c.verdict.name(),
            f.name,
            f.ok_up_to
        ),
        None => outln!(
            "input: {} ({}): valid",
            set.manifest_path
                .as_ref()
                .unwrap_or(&set.parts[0].path)
                .display(),
            c.kind.name()
        ),
    }
    for (p, a) in set.parts.iter().zip(&plan.actions) {
        let size = p.size.unwrap_or(0);
        let what = match a {
            FileAction::Keep => "kept".to_string(),
            FileAction::Truncate(n) => format!("cut at offset {n} (of {size} bytes)"),
            FileAction::Ranges(r) => format!(
                "{} byte range(s) kept: {}",
                r.len(),
                r.iter()
                    .map(|r| format!("{}..{}", r.start, r.end))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            FileAction::Remove => "removed from the manifest".to_string(),
        };
        outln!("  {}: {what}", p.name_lossy());
    }
    if let Some(cut) = &plan.cut {
        outln!(
            "timestamp cut: {} at offset {} (#TS:{} is the first stamp above the limit)",
            set.parts[cut.file].name_lossy(),
            cut.offset,
            cut.timestamp
        );
    }
    for l in &plan.losses {
        match l.kind {
            LossKind::Damaged => {
                outln!(
                    "LOST {}: bytes {}..{} ({} damaged bytes skipped): {}",
                    l.name,
                    l.start,
                    l.end,
                    l.len(),
                    l.reason
                );
                outln!(
                    "  commands lost were written between {} and {}",
                    ts(l.from_timestamp),
                    ts(l.to_timestamp)
                );
                if l.db_uncertain {
                    match l.next_select {
                        Some(s) => outln!(
                            "  warning: the commands kept from offset {} to the SELECT at offset {s} run in db {} (selected before the damage); the damaged bytes may have held another SELECT",
                            l.end,
                            l.db_before.unwrap_or(0)
                        ),
                        None => outln!(
                            "  warning: the commands kept after offset {} run in db {} (selected before the damage); the damaged bytes may have held another SELECT",
                            l.end,
                            l.db_before.unwrap_or(0)
                        ),
                    }
                }
            }
            LossKind::Tail => outln!(
                "LOST {}: tail {}..{} ({} bytes): {}; its commands were written after {}",
                l.name,
                l.start,
                l.end,
                l.len(),
                l.reason,
                ts(l.from_timestamp)
            ),
            LossKind::AfterTimestamp => outln!(
                "dropped {}: {}..{} ({} bytes), {}",
                l.name,
                l.start,
                l.end,
                l.len(),
                l.reason
            ),
            LossKind::FileRemoved => outln!(
                "dropped {}: the whole file ({} bytes), {}",
                l.name,
                l.len(),
                l.reason
            ),
        }
    }
    for n in &plan.notes {
        outln!("note: {n}");
    }
    Ok(())
}

fn confirm(msg: &str) -> bool {
    let mut out = std::io::stdout().lock();
    if write!(out, "{msg} Continue? [y/N]: ")
        .and_then(|()| out.flush())
        .is_err()
    {
        return false;
    }
    drop(out);
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim(), "y" | "Y" | "yes")
}

fn refuse_json(e: &redsafe::Error) -> Result<()> {
    outln!(
        "{}",
        serde_json::to_string_pretty(&json!({"ok": false, "error": error_json(e)}))?
    );
    Ok(())
}

/// Runs `redsafe fix`.
pub fn run(args: FixArgs) -> Result<u8> {
    let truncate_to = match args.truncate_to_timestamp.as_deref() {
        None => None,
        // Any integer, as redis-check-aof takes it (strtol).
        Some(t) if let Ok(unix) = t.trim().parse::<i64>() => Some(unix),
        Some(t) => match redsafe::aof::pitr::When::parse(t)? {
            redsafe::aof::pitr::When::Time { unix } => Some(unix),
            redsafe::aof::pitr::When::Latest => None,
            redsafe::aof::pitr::When::BeforeCommand { .. } => {
                return Err(redsafe::Error::usage(format!(
                    "--truncate-to-timestamp {t}: fix cuts at a time; to cut before a command use \
                     `redsafe restore --at {t}` (a loadable copy) or `redsafe filter --until-first`"
                ))
                .into())
            }
        },
    };
    let set = match AofSet::open(&args.path) {
        Ok(s) => s,
        Err(e) if e.is_damage() => {
            if args.json {
                refuse_json(&e)?;
            } else {
                eprintln!("redsafe: refusing to repair: {e}");
            }
            return Ok(EXIT_DAMAGED);
        }
        Err(e) => return Err(e.into()),
    };
    if set.parts.is_empty() {
        eprintln!(
            "redsafe: {}: the manifest lists no BASE or INCR file: nothing to repair",
            args.path.display()
        );
        return Ok(EXIT_ERROR);
    }
    if let Some(out) = &args.output {
        if let Err(e) = super::output::prepare_output(out, &set.inputs()) {
            eprintln!("redsafe: {e} (use --in-place to repair the input, keeping a backup)");
            return Ok(EXIT_ERROR);
        }
    } else {
        // In place: what a killed repair left beside the files it rewrites.
        for p in set.parts.iter().map(|p| &p.path).chain(&set.manifest_path) {
            super::output::remove_stale(p);
        }
    }
    let opts = FixOptions {
        truncate_to_timestamp: truncate_to,
        salvage: args.salvage,
        scan: aof::ScanOptions {
            rdb: CheckOptions::default(),
            continue_after_damage: true,
            as_loader: false,
        },
    };
    let pb = byte_progress(set.total_size(), args.json);
    let plan = aof::plan_fix(&set, &opts, &mut |d| pb.set_position(d));
    pb.finish_and_clear();
    let plan = match plan {
        Ok(p) => p,
        Err(e) if e.is_damage() => {
            if args.json {
                refuse_json(&e)?;
            } else {
                eprintln!("redsafe: refusing to repair: {e}");
            }
            return Ok(EXIT_DAMAGED);
        }
        Err(e) => return Err(e.into()),
    };
    if !args.json {
        print_plan(&set, &plan)?;
    }
    let mut backup: Option<PathBuf> = None;
    let mut written: Option<PathBuf> = None;
    if let Some(out) = &args.output {
        aof::write_fixed(&set, &plan, out, args.force)?;
        written = Some(out.clone());
        if !args.json {
            outln!(
                "wrote {} ({})",
                out.display(),
                if plan.is_noop() {
                    "an unchanged copy: nothing to repair"
                } else {
                    "repaired"
                }
            );
        }
    } else if plan.is_noop() {
        if !args.json {
            outln!("nothing to repair: the input is left as it is");
        }
    } else {
        let interactive = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
        if interactive && !args.yes && !args.json {
            let msg = format!(
                "This rewrites {} in place ({} bytes removed), keeping a backup.",
                args.path.display(),
                plan.bytes_removed()
            );
            if !confirm(&msg) {
                outln!("Aborting...");
                return Ok(EXIT_DAMAGED);
            }
        }
        let r = aof::apply_in_place(&set, &plan)?;
        if !args.json {
            outln!(
                "repaired in place; backup of the original files: {}",
                r.backup.display()
            );
        }
        backup = Some(r.backup);
    }
    if args.json {
        let o = json!({
            "ok": true,
            "kind": set.kind.name(),
            "input": args.path.display().to_string(),
            "verdict_before": plan.check.verdict.name(),
            "ok_up_to_before": plan.check.ok_up_to(),
            "output": written.map(|p| p.display().to_string()),
            "in_place": args.in_place,
            "backup": backup.map(|p| p.display().to_string()),
            "changed": !plan.is_noop(),
            "actions": action_json(&set, &plan),
            "losses": plan.losses,
            "bytes_removed": plan.bytes_removed(),
            "cut": plan.cut,
            "notes": plan.notes,
        });
        outln!("{}", serde_json::to_string_pretty(&o)?);
    }
    Ok(EXIT_OK)
}
