//! `redsafe check`: validate an RDB (or AOF) and report the first damage precisely.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use serde_json::json;

use redsafe::mmap::MappedFile;
use redsafe::rdb::{check::check_rdb_with_progress, CheckOptions, ChecksumStatus, RdbReport};

use super::output::{byte_progress, error_json};
use super::{EXIT_DAMAGED, EXIT_OK};

/// Arguments of `redsafe check`.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit status: 0 valid, 1 damaged, 2 usage or I/O error.\n\n\
Examples:\n  redsafe check dump.rdb\n  redsafe check --json /var/lib/redis/dump.rdb"
)]
pub struct CheckArgs {
    /// The file to check (RDB; AOF file, AOF directory or manifest).
    pub path: PathBuf,
    /// Print one JSON object instead of the text report.
    #[arg(long)]
    pub json: bool,
    /// Skip deep validation of inner encodings (faster, less thorough).
    #[arg(long)]
    pub shallow: bool,
    /// Do not verify the CRC-64 checksum.
    #[arg(long)]
    pub no_checksum: bool,
}

/// Runs `redsafe check`.
pub fn run(args: CheckArgs) -> Result<u8> {
    let file = MappedFile::open(&args.path)?;
    let data = file.bytes();
    let opts = CheckOptions {
        deep: !args.shallow,
        verify_checksum: !args.no_checksum,
        now_ms: None,
    };
    let pb = byte_progress(data.len() as u64, args.json);
    let mut report = check_rdb_with_progress(data, 0, opts, &mut |done| pb.set_position(done));
    pb.finish_and_clear();
    if let Some(e) = report.error.take() {
        report.error = Some(e.in_file(&args.path));
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&rdb_json(&args, &report))?
        );
    } else {
        print_rdb_text(&args, &report);
    }
    Ok(if report.ok { EXIT_OK } else { EXIT_DAMAGED })
}

fn rdb_json(args: &CheckArgs, r: &RdbReport) -> serde_json::Value {
    let mut o = json!({
        "ok": r.ok,
        "kind": "rdb",
        "file": args.path.display().to_string(),
        "size": r.size,
        "dialect": r.header.map(|h| h.dialect.name()),
        "version": r.header.map(|h| h.version),
        "keys": r.keys,
        "expires": r.expires,
        "already_expired": r.already_expired,
        "subexpires": r.subexpires,
        "empty_keys_skipped": r.empty_keys,
        "dbs": r.dbs,
        "aux": r.aux.iter().map(|(k, v)| json!([k, v])).collect::<Vec<_>>(),
        "functions": r.functions,
        "modules": r.modules,
        "checksum": r.checksum,
        "eof_offset": r.eof_offset,
        "end_offset": r.end_offset,
        "trailing_bytes": r.trailing_bytes,
    });
    if let Some(e) = &r.error {
        o["error"] = error_json(e);
    }
    o
}

fn print_rdb_text(args: &CheckArgs, r: &RdbReport) {
    println!("file: {} ({} bytes)", args.path.display(), r.size);
    if let Some(h) = r.header {
        println!("format: RDB version {} ({})", h.version, h.dialect.name());
    }
    if !r.aux.is_empty() {
        let aux: Vec<String> = r
            .aux
            .iter()
            .filter(|(k, _)| k != "lua")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        println!("aux: {}", aux.join(", "));
    }
    for (db, s) in &r.dbs {
        let types: Vec<String> = s.types.iter().map(|(t, n)| format!("{t} {n}")).collect();
        println!(
            "db {db}: {} keys, {} with expiry ({})",
            s.keys,
            s.expires,
            types.join(", ")
        );
    }
    if r.empty_keys > 0 {
        println!("empty keys (skipped by Redis on load): {}", r.empty_keys);
    }
    if r.already_expired > 0 {
        println!("keys already expired: {}", r.already_expired);
    }
    if !r.functions.is_empty() {
        println!("functions: {}", r.functions.join("; "));
    }
    if !r.modules.is_empty() {
        let m: Vec<&str> = r.modules.iter().map(|s| s.as_str()).collect();
        println!("modules: {}", m.join(", "));
    }
    match r.checksum {
        ChecksumStatus::Verified { crc } => println!("checksum: OK (CRC-64 {crc:016x})"),
        ChecksumStatus::NotComputed => {
            println!("checksum: not computed (saved with rdbchecksum no): no check performed")
        }
        ChecksumStatus::Absent => println!("checksum: none (RDB version < 5)"),
        ChecksumStatus::Skipped => println!("checksum: not verified (--no-checksum)"),
        ChecksumStatus::Mismatch { stored, computed } => {
            println!("checksum: MISMATCH (stored {stored:016x}, computed {computed:016x})")
        }
        ChecksumStatus::NotReached => println!("checksum: not reached"),
    }
    if r.trailing_bytes > 0 {
        println!(
            "warning: {} bytes after the checksum (ignored by Redis)",
            r.trailing_bytes
        );
    }
    match &r.error {
        None => println!("result: OK, {} keys in {} dbs", r.keys, r.dbs.len()),
        Some(e) => {
            println!("result: DAMAGED");
            println!("error: {e}");
        }
    }
}
