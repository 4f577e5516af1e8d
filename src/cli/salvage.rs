//! `redsafe salvage`: recover every decodable key of a damaged RDB into a valid RDB.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use serde_json::json;

use redsafe::fsutil::AtomicFile;
use redsafe::mmap::MappedFile;
use redsafe::rdb::salvage::salvage;

use super::output::outln;
use super::output::{byte_progress, bytes_json};
use super::{EXIT_DAMAGED, EXIT_OK};

/// Arguments of `redsafe salvage`.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit status: 0 the input was intact (the output holds every key), \
1 the input was damaged and the output holds every key that could be decoded (the rest is \
reported), 2 usage or I/O error.\n\n\
Examples:\n  redsafe salvage broken.rdb -o recovered.rdb\n  redsafe salvage broken.rdb -o recovered.rdb --json"
)]
pub struct SalvageArgs {
    /// The damaged RDB file.
    pub input: PathBuf,
    /// Output file (written atomically; never the input).
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,
    /// Print a JSON report.
    #[arg(long)]
    pub json: bool,
    /// Replace the output if it exists.
    #[arg(long)]
    pub force: bool,
}

/// Runs `redsafe salvage`.
pub fn run(args: SalvageArgs) -> Result<u8> {
    super::output::prepare_output_from(&args.output, &args.input)?;
    let file = MappedFile::open(&args.input)?;
    let data = file.bytes();
    let pb = byte_progress(data.len() as u64, args.json);
    let af = AtomicFile::create(&args.output, args.force)?;
    // A write error is the output's (a full disk), anything else the input's.
    let (rep, af) = salvage(data, af, &mut |d| pb.set_position(d)).map_err(|e| {
        if matches!(e.kind(), redsafe::ErrorKind::Io(_)) {
            e.in_file(&args.output)
        } else {
            e.in_file(&args.input)
        }
    })?;
    af.commit()?;
    pb.finish_and_clear();
    let lost_bytes: u64 = rep.lost.iter().map(|l| l.end - l.start).sum();
    if args.json {
        let o = json!({
            "ok": true,
            "intact": rep.intact(),
            "input": args.input.display().to_string(),
            "output": args.output.display().to_string(),
            "dialect": rep.header.map(|h| h.dialect.name()),
            "version": rep.header.map(|h| h.version),
            "header_guessed": rep.header_guessed,
            "keys_recovered": rep.keys_recovered,
            "lost_ranges": rep.lost.iter().map(|l| json!({
                "start": l.start, "end": l.end, "bytes": l.end - l.start,
                "db": l.db, "key": l.key.as_deref().map(bytes_json), "reason": l.reason,
            })).collect::<Vec<_>>(),
            "lost_bytes": lost_bytes,
            "keys_lost": rep.lost.iter().filter_map(|l| l.key.as_deref().map(|k| json!({"db": l.db, "key": bytes_json(k)}))).collect::<Vec<_>>(),
            "duplicates_skipped": rep.duplicates_skipped.iter().map(|(db, k)| json!({"db": db, "key": bytes_json(k)})).collect::<Vec<_>>(),
            "empty_skipped": rep.empty_skipped,
            "eof_found": rep.eof_found,
            "checksum_mismatch": rep.checksum_mismatch.map(|(s, c)| json!({"stored": format!("{s:016x}"), "computed": format!("{c:016x}")})),
            "bytes_in": rep.bytes_in,
            "bytes_out": rep.bytes_out,
        });
        outln!("{}", serde_json::to_string_pretty(&o)?);
    } else {
        let h = rep
            .header
            .map(|h| format!("{} RDB {}", h.dialect.name(), h.version))
            .unwrap_or_default();
        outln!(
            "input: {} ({h}{}, {} bytes)",
            args.input.display(),
            if rep.header_guessed { ", guessed" } else { "" },
            rep.bytes_in
        );
        outln!(
            "output: {} ({} bytes)",
            args.output.display(),
            rep.bytes_out
        );
        outln!("keys recovered: {}", rep.keys_recovered);
        for l in &rep.lost {
            let key = match &l.key {
                Some(k) => format!(
                    " key \"{}\" (db {})",
                    redsafe::error::escape_bytes(k),
                    l.db.unwrap_or(0)
                ),
                None => String::new(),
            };
            outln!(
                "lost: bytes {}..{} ({} bytes){key}: {}",
                l.start,
                l.end,
                l.end - l.start,
                l.reason
            );
        }
        for (db, k) in &rep.duplicates_skipped {
            outln!(
                "skipped duplicate: db {db} key \"{}\"",
                redsafe::error::escape_bytes(k)
            );
        }
        if let Some((s, c)) = rep.checksum_mismatch {
            outln!("checksum mismatch: stored {s:016x}, computed {c:016x}");
            if rep.lost.is_empty() {
                outln!("warning: every record decoded: either the stored checksum itself is damaged, or a byte inside a value that no structure check can see (e.g. in a string)");
            }
        }
        if !rep.eof_found {
            outln!("no EOF record: the file is truncated");
        }
        outln!(
            "result: {}",
            if rep.intact() {
                "input intact, every key written"
            } else {
                "DAMAGED input; every decodable key written"
            }
        );
    }
    Ok(if rep.intact() { EXIT_OK } else { EXIT_DAMAGED })
}
