//! `redsafe compact`: replay an AOF (optionally up to a point in time) with the command replay
//! engine and write the resulting dataset as a single RDB file.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;
use serde_json::json;

use redsafe::aof::AofSet;
use redsafe::fsutil::AtomicFile;
use redsafe::keyspace::save;

use super::timetravel::{
    add_cut_fields, checker_only_notes, damage_summary, reason_text, replay_shown,
};
use super::{EXIT_DAMAGED, EXIT_OK};

#[derive(Debug, Args)]
#[command(
    about = "Replay an AOF offline and write the dataset as one RDB file",
    long_about = "Replay an AOF (a file, an appendonlydir/, a Redis dir holding one, or a \
manifest) command by command with the replay engine, as Redis loads it, and write the \
resulting dataset as a single RDB file: offline compaction of a BASE and its INCR files, or a \
point-in-time restore into one dump with --at. The output is written atomically (temporary \
file, fsync, rename) and an existing file is only replaced with --force.\n\n\
Exit status: 0 written, 1 the AOF is damaged (nothing is written), 2 usage or I/O error, or a \
command the engine cannot replay (named with its file and offset).\n\n\
Examples:\n  redsafe compact /var/lib/redis/appendonlydir -o /tmp/dump.rdb\n  \
redsafe compact /var/lib/redis --at '2026-11-22 10:42:16' -o /tmp/before.rdb --json\n  \
redsafe compact /var/lib/redis --at before:FLUSHALL -o /tmp/before.rdb",
    after_help = super::timetravel::when_help!()
)]
pub struct CompactArgs {
    /// The AOF: file, directory or manifest.
    pub path: PathBuf,
    /// The RDB file to write.
    #[arg(short = 'o', long = "out", value_name = "OUT.rdb")]
    pub out: PathBuf,
    /// Replay only up to a restore point (as `restore --at`; see below).
    #[command(flatten)]
    pub at: super::timetravel::AtArgs,
    /// RDB version to write (10 = Redis 7.0, 11 = 7.2, 12 = 7.4).
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub rdb_version: u32,
    /// Replace OUT if it exists.
    #[arg(long)]
    pub force: bool,
    /// Print a JSON report.
    #[arg(long)]
    pub json: bool,
}

/// Runs `redsafe compact`.
pub fn run(args: CompactArgs) -> Result<u8> {
    let target = args.at.target()?;
    let set = AofSet::open(&args.path)?;
    super::output::prepare_output(&args.out, &set.inputs())?;
    if !args.force && args.out.symlink_metadata().is_ok() {
        bail!(
            "{} already exists (use --force to replace it)",
            args.out.display()
        );
    }
    let r = replay_shown(&set, target, args.json)?;
    let mut out = std::io::stdout().lock();
    if !r.set.verdict.is_ok() {
        let msg = format!(
            "the AOF is damaged ({}); nothing written (repair it with `redsafe fix` first)",
            damage_summary(&r.set)
        );
        if args.json {
            writeln!(out, "{}", json!({"ok": false, "error": msg}))?;
        } else {
            eprintln!("redsafe: {msg}");
        }
        return Ok(EXIT_DAMAGED);
    }
    let mut f = AtomicFile::create(&args.out, args.force)?;
    {
        let w = BufWriter::new(f.file());
        let mut w = save::write_rdb(&r.keyspace, w, args.rdb_version)?;
        w.flush()?;
    }
    f.commit()?;
    let digest = r.keyspace.digest_hex().ok();
    if args.json {
        let mut j = json!({
            "ok": true,
            "path": args.path.display().to_string(),
            "out": args.out.display().to_string(),
            "rdb_version": args.rdb_version,
            "keys": r.keyspace.len(),
            "rdb_keys": r.rdb_keys,
            "commands": r.commands,
            "refused": r.rejected,
            "digest": digest,
            "notes": checker_only_notes(&r),
        });
        if let Some(plan) = &r.plan {
            add_cut_fields(&mut j, &set, plan);
        }
        writeln!(out, "{}", serde_json::to_string_pretty(&j)?)?;
    } else {
        for n in checker_only_notes(&r) {
            eprintln!("redsafe: note: {n}");
        }
        if let Some(plan) = &r.plan {
            writeln!(out, "{}", reason_text(plan))?;
        }
        writeln!(
            out,
            "wrote {} ({} keys from {} commands{})",
            args.out.display(),
            r.keyspace.len(),
            r.commands,
            if r.rejected > 0 {
                format!(", {} refused by Redis and skipped", r.rejected)
            } else {
                String::new()
            }
        )?;
    }
    Ok(EXIT_OK)
}
