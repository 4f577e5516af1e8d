//! `redsafe restore SOURCE --at WHEN -o OUT`: point-in-time restore of a local AOF (a
//! directory, a manifest or a single file) into a new, loadable multi-part AOF directory.
//! The source is only read.

mod remote;

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use serde_json::json;

use redsafe::aof::pitr::{
    plan_cut_with_progress, CutPlan, DirOutput, FileKeep, OutputSummary, RestoreOutput,
};
use redsafe::aof::{detect_kind, AofSet, InputKind};
use redsafe::time::format_rfc3339 as format_utc;

use super::output::outln;
use super::output::{byte_progress, error_json};
use super::timetravel::{add_cut_fields, parse_target, reason_text};
use super::{EXIT_DAMAGED, EXIT_ERROR, EXIT_OK};

/// Arguments of `redsafe restore`.
#[derive(Debug, Args)]
#[command(
    after_help = concat!(
        super::timetravel::when_help!(),
        "\n\nExit status: 0 restored, 1 the source is damaged before the restore point, 2 usage or I/O \
error.\n\n\
Examples:\n  redsafe restore /var/lib/redis/appendonlydir --at '2026-11-22 10:42:16' -o /tmp/r\n  \
redsafe restore /var/lib/redis --at before:FLUSHALL -o /tmp/r --json\n  \
redsafe restore s3://backups/redis-1 --at '2026-11-22 10:42:16' -o /tmp/r   # from `redsafe ship` backups\n  \
redis-server --appendonly yes --dir /tmp/r"
    )
)]
pub struct RestoreArgs {
    /// The AOF: a directory (appendonlydir/ or a Redis dir holding one), a manifest, or a
    /// single AOF file.
    pub source: String,
    /// The restore point (see below).
    #[arg(long, value_name = "WHEN", required_unless_present = "at_offset")]
    pub at: Option<String>,
    /// Cut at an explicit record boundary instead: FILE:OFFSET (file name or index in load
    /// order, 0 = BASE), for AOFs without timestamps.
    #[arg(long, value_name = "FILE:OFFSET", conflicts_with = "at")]
    pub at_offset: Option<String>,
    /// The output directory (created; holds appendonlydir/).
    #[arg(
        short = 'o',
        long = "out",
        value_name = "OUT",
        required_unless_present = "dry_run"
    )]
    pub out: Option<PathBuf>,
    /// Replace OUT if it exists (only if it is empty or redsafe's own output holding nothing
    /// else).
    #[arg(long)]
    pub force: bool,
    /// Only show where the cut would be; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Print one JSON object (the summary) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Parallel downloads (backup locations only).
    #[arg(long, default_value_t = 4)]
    pub parallel: usize,
    /// Backup locations only: when WHEN lies in a gap of the backups (bytes never shipped),
    /// restore the last consistent point before it instead of failing.
    #[arg(long)]
    pub allow_gap: bool,
    /// S3 options (backup locations only: s3://BUCKET/PREFIX, file:///DIR).
    #[command(flatten)]
    pub s3: super::s3args::S3Args,
}

/// A restore from a local source: what [`run_local`] needs (the CLI arguments without the
/// remote-only ones), so that the `restore` command can route local sources here.
#[derive(Debug, Clone)]
pub struct LocalRestore {
    /// AOF directory, Redis dir, manifest or single AOF file.
    pub source: String,
    /// `--at WHEN`.
    pub at: Option<String>,
    /// `--at-offset FILE:OFFSET`.
    pub at_offset: Option<String>,
    /// Output directory (may be `None` with `dry_run`).
    pub out: Option<PathBuf>,
    /// Replace an existing output.
    pub force: bool,
    /// Plan only.
    pub dry_run: bool,
    /// JSON output.
    pub json: bool,
}

impl From<RestoreArgs> for LocalRestore {
    fn from(a: RestoreArgs) -> LocalRestore {
        LocalRestore {
            source: a.source,
            at: a.at,
            at_offset: a.at_offset,
            out: a.out,
            force: a.force,
            dry_run: a.dry_run,
            json: a.json,
        }
    }
}

/// Runs `redsafe restore`.
pub fn run(args: RestoreArgs) -> Result<u8> {
    if redsafe::backup::is_store_url(&args.source) {
        return remote::run(args);
    }
    run_local(&args.into())
}

/// Restores from a local AOF source (see [`LocalRestore`]); prints the summary; returns the
/// exit code (errors as JSON on stdout too with `json`).
pub fn run_local(args: &LocalRestore) -> Result<u8> {
    match restore(args) {
        Ok(code) => Ok(code),
        Err(e) if args.json => {
            let code = match e.downcast_ref::<redsafe::Error>() {
                Some(re) => {
                    outln!(
                        "{}",
                        serde_json::to_string_pretty(
                            &json!({"ok": false, "error": error_json(re)})
                        )?
                    );
                    if re.is_damage() {
                        EXIT_DAMAGED
                    } else {
                        EXIT_ERROR
                    }
                }
                None => {
                    outln!(
                        "{}",
                        serde_json::to_string_pretty(
                            &json!({"ok": false, "error": {"message": format!("{e:#}")}})
                        )?
                    );
                    EXIT_ERROR
                }
            };
            match e
                .downcast_ref::<redsafe::Error>()
                .and_then(|re| re.remedy())
            {
                Some(r) => eprintln!("redsafe: {e:#} ({})", crate::cli::remedy_hint(r)),
                None => eprintln!("redsafe: {e:#}"),
            }
            Ok(code)
        }
        Err(e) => Err(e),
    }
}

fn restore(args: &LocalRestore) -> Result<u8> {
    if args.source.starts_with("s3://") {
        return Err(redsafe::Error::usage(
            "S3 sources (s3://bucket/prefix) are not supported by this build; \
             download the backup and restore from the local copy",
        )
        .into());
    }
    let source = PathBuf::from(&args.source);
    if detect_kind(&source)? == InputKind::Rdb {
        return Err(redsafe::Error::usage(format!(
            "{} is an RDB snapshot, not an AOF: it holds a single point in time",
            source.display()
        ))
        .into());
    }
    let Some(target) = parse_target(args.at.as_deref(), args.at_offset.as_deref())? else {
        return Err(redsafe::Error::usage("give --at WHEN or --at-offset FILE:OFFSET").into());
    };
    let set = AofSet::open(&source)?;
    let pb = byte_progress(set.total_size(), args.json);
    pb.set_message("planning");
    let plan = plan_cut_with_progress(&set, &target, &mut |d| pb.set_position(d))?;
    pb.finish_and_clear();
    let written = if args.dry_run {
        None
    } else {
        let pb = byte_progress(plan.bytes_kept(), args.json);
        let Some(path) = args.out.clone() else {
            return Err(redsafe::Error::usage("give the output directory with -o OUT").into());
        };
        super::output::prepare_output(&path, &set.inputs())?;
        let mut out = DirOutput::new(path, args.force);
        let s = out.write(&set, &plan, &mut |d| pb.set_position(d))?;
        pb.finish_and_clear();
        Some(s)
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        let j = serde_json::to_string_pretty(&summary_json(
            &args.source,
            args.out.as_deref().filter(|_| !args.dry_run),
            &set,
            &plan,
            written.as_ref(),
        ))?;
        writeln!(out, "{j}")?;
    } else {
        print_text(&mut out, &set, &plan, written.as_ref())?;
    }
    Ok(EXIT_OK)
}

/// The JSON summary of a restore, local or from backups (which add the set's fields): the
/// source, the output (`None` for a dry run), each file of the set with what was kept, what
/// was written and the cut fields.
pub(crate) fn summary_json(
    source: &str,
    out: Option<&std::path::Path>,
    set: &AofSet,
    plan: &CutPlan,
    written: Option<&OutputSummary>,
) -> serde_json::Value {
    let files: Vec<_> = set
        .parts
        .iter()
        .zip(&plan.files)
        .map(|(p, k)| {
            let (keep, bytes) = match k {
                FileKeep::Whole { size } => ("whole", *size),
                FileKeep::Prefix { len } => ("prefix", *len),
                FileKeep::Dropped => ("dropped", 0),
            };
            json!({
                "source": p.name_lossy(),
                "role": p.role,
                "source_size": p.size,
                "keep": keep,
                "bytes_kept": bytes,
            })
        })
        .collect();
    let mut j = json!({
        "ok": true,
        "source": source,
        "out": out.map(|o| o.display().to_string()),
        "dry_run": out.is_none(),
        "files": files,
        "written": written,
    });
    add_cut_fields(&mut j, set, plan);
    j
}

pub(crate) fn print_text(
    out: &mut dyn Write,
    set: &AofSet,
    plan: &CutPlan,
    written: Option<&OutputSummary>,
) -> std::io::Result<()> {
    writeln!(out, "{}", reason_text(plan))?;
    for (p, k) in set.parts.iter().zip(&plan.files) {
        let what = match k {
            FileKeep::Whole { size } => format!("kept whole ({size} bytes)"),
            FileKeep::Prefix { len } => {
                format!("cut at offset {len} (of {} bytes)", p.size.unwrap_or(0))
            }
            FileKeep::Dropped => "dropped (after the restore point)".into(),
        };
        writeln!(out, "  {:<36} {what}", p.name_lossy())?;
    }
    writeln!(
        out,
        "commands kept: {}{}",
        plan.commands_kept,
        if plan.base_keys > 0 {
            format!(" (plus {} keys in the RDB base)", plan.base_keys)
        } else {
            String::new()
        }
    )?;
    match plan.last_timestamp {
        Some(ts) => writeln!(out, "last timestamp applied: {} ({ts})", format_utc(ts))?,
        None => writeln!(out, "last timestamp applied: none")?,
    }
    match written {
        Some(w) => {
            writeln!(
                out,
                "wrote {} ({} files, {} bytes); load it with: redis-server --appendonly yes --dir {}",
                w.path.join("appendonlydir").display(),
                w.files.len() + 1,
                w.bytes,
                w.path.display()
            )?;
        }
        None => writeln!(out, "dry run: nothing written")?,
    }
    Ok(())
}
