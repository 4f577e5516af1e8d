//! `redsafe filter`: keep a subset of the keys of an RDB (or, later, an AOF) in a new file.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use redsafe::aof::InputKind as AofInputKind;
use redsafe::rdb::transform::TransformOptions;
use redsafe::rdb::WriterOptions;

use super::args::KeyFilterArgs;

/// Arguments of `redsafe filter`.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit status: 0 written, 1 the input is damaged, 2 usage or I/O error.\n\n\
Examples:\n  redsafe filter dump.rdb -o users.rdb --key 'user:*'\n  \
redsafe filter dump.rdb -o db0.rdb --db 1 --move-db 1:0\n  \
redsafe filter dump.rdb --dry-run --type stream --json"
)]
pub struct FilterArgs {
    /// Input file (RDB; AOF input is detected and handled by the AOF filter).
    pub input: PathBuf,
    /// Output file (written atomically; never the input).
    #[arg(short, long, value_name = "OUT", required_unless_present = "dry_run")]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub filter: KeyFilterArgs,
    #[command(flatten)]
    pub aof: super::filter_aof::AofFilterArgs,
    /// Renumber a database: keys of FROM are written to TO (repeatable). Applied after the
    /// filter, which sees the input's numbers.
    #[arg(long = "move-db", value_name = "FROM:TO", value_parser = parse_move)]
    pub move_db: Vec<(u64, u64)>,
    /// Print what would be kept and dropped; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not validate the values copied (RDB input): faster, but a damaged value whose
    /// CRC-64 is right is copied as it is.
    #[arg(long)]
    pub no_validate: bool,
    /// Print a JSON report.
    #[arg(long)]
    pub json: bool,
    /// Replace the output if it exists (an AOF output directory only if it is empty or
    /// redsafe's own output holding nothing else).
    #[arg(long)]
    pub force: bool,
}

fn parse_move(s: &str) -> Result<(u64, u64), String> {
    let (a, b) = s
        .split_once(':')
        .ok_or_else(|| format!("expected FROM:TO, got {s:?}"))?;
    let p = |x: &str| {
        x.trim()
            .parse::<u64>()
            .map_err(|_| format!("invalid database number {x:?} in {s:?}"))
    };
    Ok((p(a)?, p(b)?))
}

/// Runs `redsafe filter`.
pub fn run(args: FilterArgs) -> Result<u8> {
    match redsafe::aof::detect_kind(&args.input)? {
        AofInputKind::AofFile | AofInputKind::Manifest | AofInputKind::Directory => {
            if !args.move_db.is_empty() {
                anyhow::bail!("--move-db applies to RDB input only");
            }
            super::filter_aof::run_aof(
                &args.input,
                args.output.as_ref(),
                &args.filter,
                &args.aof,
                args.dry_run,
                args.json,
                args.force,
            )
        }
        AofInputKind::Rdb => {
            let opts = TransformOptions {
                target: None,
                filter: args.filter.to_filter()?,
                move_db: args.move_db.clone(),
                writer: WriterOptions::default(),
                verify_checksum: true,
                validate: !args.no_validate,
            };
            super::transform::run_transform(
                "filter",
                &args.input,
                args.output.as_deref(),
                args.dry_run,
                args.json,
                args.force,
                &opts,
            )
        }
    }
}
