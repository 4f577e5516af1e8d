//! `redsafe restore s3://BUCKET/PREFIX --at WHEN -o DIR` (and `file:///DIR` backup locations):
//! the backup-location branch of `redsafe restore` (local AOF sources are handled by
//! [`super`]).

use std::io::Write;

use anyhow::{bail, Context, Result};
use serde_json::json;

use redsafe::aof::pitr::{Target as PitrTarget, When};
use redsafe::backup::catalog::Catalog;
use redsafe::backup::plan::{plan_restore, Target};
use redsafe::backup::restore::{restore, restore_with_cut, RestoreError, RestoreOptions};
use redsafe::backup::{open_store, Store};
use redsafe::time::format_rfc3339;

use std::path::PathBuf;

use redsafe::aof::pitr::{CutPlan, OutputSummary};
use redsafe::aof::AofSet;

use super::{print_text, summary_json, RestoreArgs};
use crate::cli::output::byte_progress;
use crate::cli::output::outln;
use crate::cli::{EXIT_DAMAGED, EXIT_ERROR, EXIT_OK};

/// What the user asked for: a time (planned from the catalog) or a cut that needs the AOF.
enum Want {
    Time(Target),
    Cut(PitrTarget),
}

fn want(args: &RestoreArgs) -> Result<Want> {
    if let Some(o) = &args.at_offset {
        return Ok(Want::Cut(
            PitrTarget::parse_offset(o).context("--at-offset")?,
        ));
    }
    let at = args
        .at
        .as_deref()
        .context("give --at WHEN or --at-offset FILE:OFFSET")?;
    Ok(match When::parse(at)? {
        When::Latest => Want::Time(Target::Latest),
        When::Time { unix } => Want::Time(Target::At(unix)),
        w @ When::BeforeCommand { .. } => Want::Cut(PitrTarget::When(w)),
    })
}

/// Runs `redsafe restore` for a backup location.
pub fn run(mut args: RestoreArgs) -> Result<u8> {
    let want = want(&args)?;
    args.s3.resolve()?;
    let store = open_store(&args.source, &args.s3.options())?;
    match want {
        Want::Time(target) => {
            let at = args.at.clone().unwrap_or_default();
            run_from_store(store.as_ref(), target, &at, &args)
        }
        Want::Cut(cut) => run_cut(store.as_ref(), &cut, &args),
    }
}

/// `before:COMMAND` and `--at-offset`: rebuild the AOF from the backups, cut it as a local
/// restore does.
fn run_cut(store: &dyn Store, cut: &PitrTarget, args: &RestoreArgs) -> Result<u8> {
    let cat = Catalog::load(store)?;
    let out = match (&args.out, args.dry_run) {
        (Some(o), _) => o.clone(),
        (None, true) => {
            std::env::temp_dir().join(format!("redsafe-dry-run-{}", std::process::id()))
        }
        (None, false) => bail!("give the output directory with -o OUT"),
    };
    if !args.dry_run && out.exists() && !args.force {
        bail!(
            "{} already exists (use --force to replace it)",
            out.display()
        );
    }
    let total: u64 = cat
        .complete_sets()
        .last()
        .map(|(_, m)| m.size())
        .unwrap_or(0);
    let pb = byte_progress(total, args.json);
    let opts = RestoreOptions {
        out,
        force: args.force,
        parallel: args.parallel,
        allow_gap: args.allow_gap,
    };
    let r = restore_with_cut(store, &cat, cut, &opts, args.dry_run, &|n| {
        pb.set_position(n)
    });
    pb.finish_and_clear();
    let r = match r {
        Ok(r) => r,
        Err(e) => return report_error(e, args.json),
    };
    let from = FromSet {
        id: &r.set.id,
        time: r.set.time,
        segments: r.segments_applied,
        exact: true,
        warning: None,
    };
    let out = args.out.as_deref().filter(|_| !args.dry_run);
    print_restored(
        args,
        store,
        out,
        &from,
        Some((&r.aof, &r.cut)),
        r.written.as_ref(),
    )?;
    Ok(EXIT_OK)
}

fn report_error(e: RestoreError, json_out: bool) -> Result<u8> {
    let damaged = e.is_damage();
    let msg = match e.remedy() {
        Some(r) => format!("{e} ({})", crate::cli::remedy_hint(r)),
        None => e.to_string(),
    };
    if json_out {
        outln!(
            "{}",
            serde_json::to_string_pretty(&json!({"ok": false, "error": msg, "damaged": damaged}))?
        );
    }
    eprintln!("redsafe: restore failed: {msg}");
    if let RestoreError::Exists(_) = e {
        return Ok(EXIT_ERROR);
    }
    Ok(if damaged { EXIT_DAMAGED } else { EXIT_ERROR })
}

fn run_from_store(store: &dyn Store, target: Target, at: &str, args: &RestoreArgs) -> Result<u8> {
    let cat = Catalog::load(store)?;
    let plan = match plan_restore(&cat, target) {
        Ok(p) => p,
        Err(e) if e.is_damage() => return report_error(RestoreError::Plan(e), args.json),
        Err(e) => bail!("{}: {e}", store.url()),
    };
    if args.dry_run {
        outln!("{}", serde_json::to_string_pretty(&plan)?);
        return Ok(EXIT_OK);
    }
    let Some(out) = args.out.clone() else {
        bail!("give the output directory with -o OUT")
    };
    if out.exists() && !args.force {
        bail!(
            "{} already exists (use --force to replace it)",
            out.display()
        );
    }
    if !plan.exact {
        eprintln!(
            "redsafe: set {} has no AOF: restoring its state at {} (not exactly {at})",
            plan.set.id,
            format_rfc3339(plan.manifest.created_at),
        );
    }
    let pb = byte_progress(plan.manifest.size(), args.json);
    let opts = RestoreOptions {
        out,
        force: args.force,
        parallel: args.parallel,
        allow_gap: args.allow_gap,
    };
    let r = restore(store, &plan, &opts, &|n| pb.set_position(n));
    pb.finish_and_clear();
    match r {
        Ok(rep) => {
            if let Some(w) = &rep.warning {
                eprintln!("redsafe: warning: {w}");
            }
            let from = FromSet {
                id: &rep.set,
                time: plan.set.time,
                segments: rep.segments_applied,
                exact: rep.exact,
                warning: rep.warning.as_deref(),
            };
            let aof = rep.aof.as_ref().map(|(s, c)| (s, c));
            let out = PathBuf::from(&rep.out);
            print_restored(args, store, Some(&out), &from, aof, rep.written.as_ref())?;
            if aof.is_none() && !args.json {
                outln!(
                    "restored {} (RDB only: {}), {} bytes",
                    rep.out,
                    rep.files.join(", "),
                    rep.bytes
                );
            }
            Ok(EXIT_OK)
        }
        Err(e) => report_error(e, args.json),
    }
}

/// The backup set a restore used.
struct FromSet<'a> {
    id: &'a str,
    /// Unix seconds.
    time: i64,
    segments: u64,
    exact: bool,
    warning: Option<&'a str>,
}

/// Prints a restore from backups in the local restore's shape (text or JSON), with the
/// set's fields added: one report for every restore.
fn print_restored(
    args: &RestoreArgs,
    store: &dyn Store,
    out: Option<&std::path::Path>,
    from: &FromSet<'_>,
    aof: Option<(&AofSet, &CutPlan)>,
    written: Option<&OutputSummary>,
) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    if args.json {
        let mut v = match aof {
            Some((set, plan)) => summary_json(&store.url(), out, set, plan, written),
            None => json!({
                "ok": true,
                "source": store.url(),
                "out": out.map(|o| o.display().to_string()),
                "dry_run": out.is_none(),
                "files": [],
                "written": null,
                "cut": null,
            }),
        };
        v["set"] = json!(from.id);
        v["set_time"] = json!(format_rfc3339(from.time));
        v["segments_applied"] = json!(from.segments);
        v["exact"] = json!(from.exact);
        v["warning"] = json!(from.warning);
        writeln!(stdout, "{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        writeln!(
            stdout,
            "from set {} ({}) with {} segments:",
            from.id,
            format_rfc3339(from.time),
            from.segments
        )?;
        if let Some((set, plan)) = aof {
            print_text(&mut stdout, set, plan, written)?;
        }
    }
    Ok(())
}
