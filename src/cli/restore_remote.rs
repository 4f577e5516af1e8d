//! `redsafe restore s3://BUCKET/PREFIX --at WHEN -o DIR` (and `file:///DIR` backup locations):
//! the backup-location branch of `redsafe restore` (local AOF sources are handled by
//! [`super::restore`]).

use anyhow::{bail, Context, Result};
use serde_json::json;

use redsafe::aof::pitr::When;
use redsafe::backup::catalog::Catalog;
use redsafe::backup::plan::{plan_restore, Target};
use redsafe::backup::restore::{restore, RestoreError, RestoreOptions};
use redsafe::backup::timeutil::format_rfc3339;
use redsafe::backup::{open_store, Store};

use super::output::byte_progress;
use super::restore::RestoreArgs;
use super::{EXIT_DAMAGED, EXIT_ERROR, EXIT_OK};

fn target(at: &str) -> Result<Target> {
    Ok(match When::parse(at)? {
        When::Latest => Target::Latest,
        When::Time { unix } => Target::At(unix),
        When::BeforeCommand { .. } => {
            bail!("--at {at}: `before:COMMAND` is not supported for backup locations; restore the newest state first, then cut the local copy")
        }
    })
}

/// Runs `redsafe restore` for a backup location.
pub fn run(mut args: RestoreArgs) -> Result<u8> {
    if args.at_offset.is_some() {
        bail!("--at-offset is for local AOFs; give --at WHEN for a backup location");
    }
    let at = args.at.clone().context("give --at WHEN")?;
    let target = target(&at)?;
    args.s3.resolve()?;
    let store = open_store(&args.source, &args.s3.options())?;
    run_from_store(store.as_ref(), target, &at, &args)
}

fn run_from_store(store: &dyn Store, target: Target, at: &str, args: &RestoreArgs) -> Result<u8> {
    let cat = Catalog::load(store)?;
    let plan = plan_restore(&cat, target).map_err(|e| anyhow::anyhow!("{}: {e}", store.url()))?;
    if args.dry_run {
        println!("{}", serde_json::to_string_pretty(&plan)?);
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
    };
    let r = restore(store, &plan, &opts, &|n| pb.set_position(n));
    pb.finish_and_clear();
    match r {
        Ok(rep) => {
            if let Some(w) = &rep.warning {
                eprintln!("redsafe: warning: {w}");
            }
            if args.json {
                println!("{}", serde_json::to_string_pretty(&rep)?);
            } else {
                println!(
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
        Err(e) => {
            let damaged = e.is_damage();
            if args.json {
                println!(
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
    }
}
