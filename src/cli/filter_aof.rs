//! `redsafe filter` for AOF input (a file, an `appendonlydir/` or a manifest): remove
//! dangerous commands (FLUSHALL, FLUSHDB, DEL bursts…) or keep a subset of keys, writing a
//! loadable AOF.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::json;

use redsafe::aof::filter::{filter_set, DropRule, FilterOptions, FilterOutput, FilterReport};
use redsafe::aof::AofSet;
use redsafe::time::format_rfc3339 as format_utc;

use super::args::KeyFilterArgs;
use super::output::byte_progress;
use super::output::outln;
use super::EXIT_OK;

/// The flags of `redsafe filter` that only apply to AOF input.
#[derive(Debug, Clone, Default, Args)]
#[command(next_help_heading = "AOF command filters")]
pub struct AofFilterArgs {
    /// Remove every command with this name, e.g. FLUSHALL (repeatable).
    #[arg(long = "drop-command", value_name = "NAME")]
    pub drop_command: Vec<String>,
    /// Remove NAME commands whose keys match the Redis glob PATTERN, e.g. 'DEL session:*'
    /// (repeatable). A command with some matching and some other keys is an error unless
    /// --split-multikey.
    #[arg(long = "drop", value_name = "NAME PATTERN")]
    pub drop: Vec<String>,
    /// Only commands stamped (#TS:) at or after T are removed (unix seconds or
    /// YYYY-MM-DDTHH:MM:SSZ, UTC).
    #[arg(long, value_name = "T", value_parser = parse_time)]
    pub since: Option<i64>,
    /// Only commands stamped at or before T are removed.
    #[arg(long, value_name = "T", value_parser = parse_time)]
    pub until: Option<i64>,
    /// Keep only what comes before the first NAME command (e.g. FLUSHALL): the AOF as it
    /// was just before the incident.
    #[arg(long = "until-first", value_name = "NAME")]
    pub until_first: Vec<String>,
    /// Rewrite DEL/UNLINK/TOUCH/EXISTS/MSET/MSETNX that touch kept and removed keys with
    /// only the kept keys (otherwise such a command is an error).
    #[arg(long)]
    pub split_multikey: bool,
    /// How many removed commands to quote in the report.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub examples: usize,
}

/// Parses unix seconds, an RFC 3339 / `YYYY-MM-DD HH:MM:SS` date-time (UTC unless a zone
/// follows) or a date alone (`2026-11-22`): [`redsafe::time::parse_time_or_date`], the
/// shared parser.
pub fn parse_time(s: &str) -> std::result::Result<i64, String> {
    redsafe::time::parse_time_or_date(s).map_err(|why| {
        format!("invalid time {s:?}: {why} (expected unix seconds or YYYY-MM-DDTHH:MM:SSZ)")
    })
}

fn upper(v: &[String]) -> Vec<Vec<u8>> {
    v.iter().map(|s| s.trim().as_bytes().to_vec()).collect()
}

/// Builds the library options from the flags.
pub fn options(keys: &KeyFilterArgs, aof: &AofFilterArgs) -> Result<FilterOptions> {
    let mut o = FilterOptions {
        drop_commands: upper(&aof.drop_command),
        until_first: upper(&aof.until_first),
        since: aof.since,
        until: aof.until,
        split_multikey: aof.split_multikey,
        examples: aof.examples,
        ..Default::default()
    };
    for d in &aof.drop {
        if !d.trim().contains(char::is_whitespace) {
            // `--drop NAME` without a pattern: every such command.
            o.drop_commands.push(d.trim().as_bytes().to_vec());
        } else {
            o.drop_rules.push(DropRule::parse(d)?);
        }
    }
    let kf = keys.to_filter()?;
    if kf.needs_value_info() {
        bail!("AOF input: --type, --min-size, --expired and --not-expired cannot be applied to commands (use --key, --exclude-key, --db)");
    }
    if !kf.is_pass_all() {
        o.keys = Some(kf);
    }
    if let (Some(s), Some(u)) = (o.since, o.until) {
        if s > u {
            bail!("--since is after --until");
        }
    }
    o.rdb_filter = rdb_part_filter();
    Ok(o)
}

/// The RDB filter (`redsafe::rdb::transform`) applied to BASE files and preambles when key
/// filters apply. Expired keys are kept: the INCR files that follow assume them.
struct TransformRdbFilter;

impl redsafe::aof::filter::RdbPartFilter for TransformRdbFilter {
    fn filter_rdb(
        &self,
        rdb: &[u8],
        filter: &redsafe::filter::KeyFilter,
        out: &mut dyn std::io::Write,
    ) -> redsafe::Result<(u64, u64)> {
        let opts = redsafe::rdb::transform::TransformOptions {
            target: None,
            filter: filter.clone(),
            move_db: Vec::new(),
            writer: redsafe::rdb::WriterOptions::default(),
            verify_checksum: true,
            validate: true,
        };
        let (rep, _) =
            redsafe::rdb::transform::transform(rdb, out, &opts, &mut |_| {}, &mut |_| {})?;
        Ok((rep.keys_written, rep.keys_filtered_out))
    }
}

fn rdb_part_filter() -> Option<Box<dyn redsafe::aof::filter::RdbPartFilter>> {
    Some(Box::new(TransformRdbFilter))
}

fn ts(t: Option<i64>) -> String {
    t.map(|t| format!("{} ({t})", format_utc(t)))
        .unwrap_or_else(|| "-".into())
}

fn print_human(r: &FilterReport, dry_run: bool, out: Option<&Path>) -> Result<()> {
    let verb = if dry_run { "would remove" } else { "removed" };
    outln!(
        "{}: {} commands read, {verb} {} ({} transactions emptied, {} split)",
        r.kind,
        r.commands_in,
        r.commands_removed,
        r.transactions_removed,
        r.commands_split
    );
    for d in &r.dropped {
        outln!(
            "  {:<12} db {:<3} {:>10}   first {}   last {}",
            d.command,
            d.db,
            d.count,
            ts(d.first_timestamp),
            ts(d.last_timestamp)
        );
    }
    if r.rdb_keys_removed > 0 {
        outln!("  {} keys removed from the RDB part", r.rdb_keys_removed);
    }
    if !r.examples.is_empty() {
        outln!("first removed commands:");
        for e in &r.examples {
            outln!(
                "  {} @{} db {} ts {}: {}",
                e.file,
                e.offset,
                e.db,
                ts(e.timestamp),
                e.command
            );
        }
    }
    if let Some(c) = &r.cut {
        outln!(
            "cut at the first {} ({} offset {}, {}): everything from there on is removed",
            c.command.split(' ').next().unwrap_or(""),
            c.file,
            c.offset,
            ts(c.timestamp)
        );
    }
    if r.unstamped_commands > 0 {
        outln!(
            "  {} commands have no #TS: stamp and were kept (outside any time window)",
            r.unstamped_commands
        );
    }
    if let Some(out) = out {
        outln!(
            "wrote {} ({} of {} bytes)",
            out.display(),
            r.bytes_out,
            r.bytes_in
        );
    }
    Ok(())
}

fn warn_merge(r: &FilterReport) {
    if let Some(m) = &r.merge {
        if m.writes_to_old_keys > 0 {
            eprintln!(
                "warning: {} FLUSHALL/FLUSHDB removed, and {} later writes touch keys that existed \
                 before them: the result merges the old data with the new (first: {}). To get the \
                 data as it was just before the flush, use --until-first FLUSHALL instead.",
                m.flushes_removed,
                m.writes_to_old_keys,
                m.first
                    .as_ref()
                    .map(|f| format!("{} at {} offset {}", f.command, f.file, f.offset))
                    .unwrap_or_default()
            );
        }
    }
}

/// Runs the AOF filter (`redsafe filter` on AOF input).
pub fn run_aof(
    input: &Path,
    output: Option<&PathBuf>,
    keys: &KeyFilterArgs,
    aof: &AofFilterArgs,
    dry_run: bool,
    json_out: bool,
    force: bool,
) -> Result<u8> {
    let opts = options(keys, aof)?;
    if opts.is_noop() {
        bail!("nothing to filter: give --drop-command, --drop, --key/--exclude-key/--db or --until-first");
    }
    let set = AofSet::open(input)?;
    if let (false, Some(p)) = (dry_run, output) {
        super::output::prepare_output(p, &set.inputs())?;
    }
    let out = match (dry_run, output) {
        (true, _) => FilterOutput::DryRun,
        (false, Some(p)) => FilterOutput::Path(p),
        (false, None) => bail!("-o OUT is required (or --dry-run)"),
    };
    let pb = byte_progress(set.total_size(), json_out);
    let report = filter_set(&set, &opts, out, force, &mut |d| pb.set_position(d))
        .with_context(|| format!("filtering {}", input.display()))?;
    pb.finish_and_clear();
    if json_out {
        let v = json!({
            "input": input.display().to_string(),
            "output": output.map(|p| p.display().to_string()),
            "dry_run": dry_run,
            "report": report,
        });
        outln!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        print_human(
            &report,
            dry_run,
            if dry_run {
                None
            } else {
                output.map(|p| p.as_path())
            },
        )?;
    }
    warn_merge(&report);
    Ok(EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::parse_time;

    #[test]
    fn times() {
        assert_eq!(parse_time("1700000000"), Ok(1_700_000_000));
        assert_eq!(parse_time("2023-11-14T22:13:20Z"), Ok(1_700_000_000));
        assert_eq!(parse_time("2023-11-14 22:13:20"), Ok(1_700_000_000));
        assert_eq!(parse_time("2000-02-29"), Ok(951_782_400));
        assert_eq!(parse_time("2023-11-14T23:13:20+01:00"), Ok(1_700_000_000));
        assert!(parse_time("yesterday").is_err());
        assert!(parse_time("2023-02-30").is_err());
    }
}
