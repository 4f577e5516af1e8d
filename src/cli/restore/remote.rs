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

use super::{print_text, summary_json, LocalRestore, RestoreArgs};
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
        return Ok(Want::Cut(PitrTarget::parse_offset(o)?));
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
    let local = LocalRestore {
        source: store.url(),
        at: args.at.clone(),
        at_offset: args.at_offset.clone(),
        out: args.out.clone(),
        force: args.force,
        dry_run: args.dry_run,
        json: args.json,
    };
    let mut stdout = std::io::stdout().lock();
    if args.json {
        let mut v = summary_json(&local, &r.aof, &r.cut, r.written.as_ref());
        v["set"] = json!(r.set.id);
        v["set_time"] = json!(format_rfc3339(r.set.time));
        v["segments_applied"] = json!(r.segments_applied);
        writeln!(stdout, "{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        writeln!(
            stdout,
            "from set {} ({}) with {} segments:",
            r.set.id,
            format_rfc3339(r.set.time),
            r.segments_applied
        )?;
        print_text(&mut stdout, &r.aof, &r.cut, r.written.as_ref())?;
    }
    Ok(EXIT_OK)
}

fn report_error(e: RestoreError, json_out: bool) -> Result<u8> {
    let damaged = e.is_damage();
    if json_out {
        outln!(
            "{}",
            serde_json::to_string_pretty(
                &json!({"ok": false, "error": e.to_string(), "damaged": damaged})
            )?
        );
    }
    eprintln!("redsafe: restore failed: {e}");
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
            if args.json {
                outln!("{}", serde_json::to_string_pretty(&rep)?);
            } else {
                outln!(
                    "restored {} from set {} ({}) with {} segments: {} files, {} bytes, last timestamp {}{}",
                    rep.out,
                    rep.set,
                    rep.set_time,
                    rep.segments_applied,
                    rep.files.len(),
                    rep.bytes,
                    rep.last_ts_utc.as_deref().unwrap_or("none"),
                    rep.cut.as_deref().map(|c| format!(", cut at {c}")).unwrap_or_default()
                );
            }
            Ok(EXIT_OK)
        }
        Err(e) => report_error(e, args.json),
    }
}
