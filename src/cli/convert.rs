//! `redsafe convert`: rewrite an RDB for another RDB version or dialect.

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Args, ValueEnum};

use redsafe::filter::KeyFilter;
use redsafe::rdb::transform::TransformOptions;
use redsafe::rdb::{Dialect, WriterOptions};

use super::transform::run_transform;

/// Target dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DialectArg {
    /// `REDIS` magic (Redis, and Valkey up to 8.1 with RDB 11).
    Redis,
    /// Valkey: versions ≥ 80 use the `VALKEY` magic; 1–11 are written as Redis files.
    Valkey,
}

/// Arguments of `redsafe convert`.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit status: 0 written, 1 the input is damaged, 2 usage or I/O error \
(including data the target version cannot hold, unless --lossy).\n\n\
Examples:\n  redsafe convert dump.rdb -o dump-6.2.rdb --rdb-version 9\n  \
redsafe convert dump.rdb -o valkey.rdb --rdb-version 80 --dialect valkey\n  \
redsafe convert redis74.rdb -o redis70.rdb --rdb-version 10 --lossy --json"
)]
pub struct ConvertArgs {
    /// Input RDB file.
    pub input: PathBuf,
    /// Output file (written atomically; never the input).
    #[arg(short, long, value_name = "OUT", required_unless_present = "dry_run")]
    pub output: Option<PathBuf>,
    /// Target RDB version: Redis 1–14 (2.x … 8.8) or Valkey 80.
    #[arg(long, value_name = "N")]
    pub rdb_version: u32,
    /// Target dialect (default: valkey for versions ≥ 80, else redis).
    #[arg(long, value_enum)]
    pub dialect: Option<DialectArg>,
    /// Drop what the target cannot hold (hash field TTLs below RDB 12, streams below 9,
    /// arrays below 14, functions below 10, …) and report it, instead of failing.
    #[arg(long)]
    pub lossy: bool,
    /// Do not LZF-compress strings (as `rdbcompression no`).
    #[arg(long)]
    pub no_compression: bool,
    /// Report what would happen; write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not validate the values copied: faster, but a damaged value whose CRC-64 is
    /// right is copied as it is.
    #[arg(long)]
    pub no_validate: bool,
    /// Print a JSON report.
    #[arg(long)]
    pub json: bool,
    /// Replace the output if it exists.
    #[arg(long)]
    pub force: bool,
}

/// Resolves `--rdb-version`/`--dialect` to what is written.
pub fn resolve_target(version: u32, dialect: Option<DialectArg>) -> Result<(Dialect, u32)> {
    let d = match (dialect, version) {
        (Some(DialectArg::Redis), v) if v >= 80 => {
            bail!("Redis RDB versions are 1-14; {v} is a Valkey version")
        }
        (Some(DialectArg::Valkey), v) if (12..80).contains(&v) => {
            bail!(
                "Valkey writes RDB 11 (REDIS0011) or 80+ (VALKEY080); {v} is a Redis-only version"
            )
        }
        (_, v) if v >= 80 => Dialect::Valkey,
        _ => Dialect::Redis,
    };
    Ok((d, version))
}

/// Runs `redsafe convert`.
pub fn run(args: ConvertArgs) -> Result<u8> {
    let target = resolve_target(args.rdb_version, args.dialect)?;
    let opts = TransformOptions {
        target: Some(target),
        filter: KeyFilter::new(),
        move_db: Vec::new(),
        writer: WriterOptions {
            lossy: args.lossy,
            compression: !args.no_compression,
            ..Default::default()
        },
        verify_checksum: true,
        validate: !args.no_validate,
    };
    run_transform(
        "convert",
        &args.input,
        args.output.as_deref(),
        args.dry_run,
        args.json,
        args.force,
        &opts,
    )
}
