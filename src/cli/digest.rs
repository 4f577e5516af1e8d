//! `redsafe digest`: the `DEBUG DIGEST` a dataset would have in Redis, computed offline from
//! an RDB file or by replaying an AOF with the command replay engine.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;
use serde_json::json;

use redsafe::aof::{detect_kind, AofSet, InputKind};
use redsafe::keyspace::digest::{digest_rdb, hex, Flavor};
use redsafe::keyspace::load::LoadOptions;
use redsafe::keyspace::Keyspace;
use redsafe::mmap::MappedFile;

use super::output::error_json;
use super::timetravel::{
    add_cut_fields, checker_only_notes, damage_summary, reason_text, replay_shown,
};
use super::{EXIT_DAMAGED, EXIT_OK};

#[derive(Debug, Args)]
#[command(
    about = "Print the DEBUG DIGEST Redis would report for an RDB file or an AOF",
    long_about = "Print the DEBUG DIGEST Redis would report after loading PATH: an RDB file, \
or an AOF (a file, an appendonlydir/, a Redis dir holding one, or a manifest) replayed command \
by command with the replay engine, as Redis loads it.\n\n\
Exit status: 0 computed, 1 the input is damaged (the digest printed is that of what Redis \
would load), 2 usage or I/O error, or a command the engine cannot replay.\n\n\
Examples:\n  redsafe digest /var/lib/redis/dump.rdb\n  \
redsafe digest /var/lib/redis/appendonlydir --at '2026-11-22 10:42:16' --json\n  \
redsafe digest dump.rdb --redis 7.4",
    after_help = super::timetravel::when_help!()
)]
pub struct DigestArgs {
    /// An RDB file, or an AOF: file, directory or manifest.
    pub path: PathBuf,
    /// Replay the AOF only up to a restore point (as `restore --at`; see below).
    #[command(flatten)]
    pub at: super::timetravel::AtArgs,
    /// Compute the digest as this server does: 7.0 (also 2.8 to 6.2), 7.2 (also Valkey 8),
    /// 7.4 (and later). They differ in how sorted-set scores and hash field TTLs are hashed.
    #[arg(long, value_name = "VERSION", default_value = "7.0")]
    pub redis: String,
    /// Keep keys of an RDB file whose expiry has passed (a Redis primary drops them when it
    /// loads a dump; by default so does this command).
    #[arg(long)]
    pub keep_expired: bool,
    /// Print JSON instead of the bare digest.
    #[arg(long)]
    pub json: bool,
    /// Do not verify an RDB file's CRC-64 checksum.
    #[arg(long)]
    pub no_checksum: bool,
}

fn flavor(v: &str) -> Result<Flavor> {
    Ok(match v {
        "2.8" | "3.0" | "3.2" | "4.0" | "5.0" | "6.0" | "6.2" | "7.0" => Flavor::Redis70,
        "7.2" | "valkey-8" | "valkey-8.0" => Flavor::Redis72,
        "7.4" | "8.0" | "8.2" | "8.4" | "8.6" | "8.8" => Flavor::Redis74,
        other => bail!("--redis {other}: expected 7.0, 7.2 or 7.4 (or an older/newer version)"),
    })
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn db_counts(ks: &Keyspace) -> serde_json::Value {
    let m: serde_json::Map<String, serde_json::Value> = ks
        .dbs
        .iter()
        .filter(|(_, d)| !d.is_empty())
        .map(|(db, d)| (db.to_string(), json!(d.len())))
        .collect();
    serde_json::Value::Object(m)
}

/// Runs `redsafe digest`.
pub fn run(args: DigestArgs) -> Result<u8> {
    let fl = flavor(&args.redis)?;
    let mut out = std::io::stdout().lock();
    let kind = detect_kind(&args.path)?;
    if kind == InputKind::Rdb {
        if args.at.target()?.is_some() {
            bail!("--at and --at-offset apply to an AOF, not to an RDB file (it holds one point in time)");
        }
        let file = MappedFile::open(&args.path)?;
        let opts = LoadOptions {
            drop_expired_before: (!args.keep_expired).then(now_ms),
            verify_checksum: !args.no_checksum,
        };
        let r = match digest_rdb(file.bytes(), opts, fl) {
            Ok(r) => r,
            Err(e) => {
                let e = e.in_file(&args.path);
                if args.json {
                    writeln!(out, "{}", json!({"ok": false, "error": error_json(&e)}))?;
                    return Ok(if e.is_damage() { EXIT_DAMAGED } else { 2 });
                }
                return Err(e.into());
            }
        };
        let digest = hex(&r.digest);
        if args.json {
            let databases: serde_json::Map<String, serde_json::Value> = r
                .databases
                .iter()
                .map(|(db, n)| (db.to_string(), json!(n)))
                .collect();
            let j = json!({
                "ok": true,
                "path": args.path.display().to_string(),
                "source": "rdb",
                "digest": digest,
                "redis": args.redis,
                "keys": r.keys(),
                "databases": databases,
                "expired_dropped": r.stats.expired,
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&j)?)?;
        } else {
            writeln!(out, "{digest}")?;
        }
        return Ok(EXIT_OK);
    }
    let target = args.at.target()?;
    let set = AofSet::open(&args.path)?;
    let r = replay_shown(&set, target, args.json)?;
    let digest = r.keyspace.digest_hex_as(fl)?;
    let damaged = !r.set.verdict.is_ok();
    if args.json {
        let rejections: Vec<_> = r
            .rejections
            .iter()
            .take(10)
            .map(|(file, e)| json!({"file": file, "offset": e.offset, "db": e.db, "command": e.command, "message": e.to_string()}))
            .collect();
        let mut j = json!({
            "ok": !damaged,
            "path": args.path.display().to_string(),
            "source": "aof",
            "digest": digest,
            "redis": args.redis,
            "keys": r.keyspace.len(),
            "databases": db_counts(&r.keyspace),
            "rdb_keys": r.rdb_keys,
            "commands": r.commands,
            "refused": r.rejected,
            "first_refused": rejections,
            "open_transactions_dropped": r.open_transactions,
            "verdict": r.set.verdict.name(),
            "notes": checker_only_notes(&r),
        });
        if let Some(plan) = &r.plan {
            add_cut_fields(&mut j, &set, plan);
        }
        writeln!(out, "{}", serde_json::to_string_pretty(&j)?)?;
    } else {
        writeln!(out, "{digest}")?;
        if let Some(plan) = &r.plan {
            eprintln!("redsafe: {}", reason_text(plan));
        }
        if r.rejected > 0 {
            eprintln!(
                "redsafe: {} commands would be refused by Redis and were skipped (first: {})",
                r.rejected,
                r.rejections
                    .first()
                    .map(|(_, e)| e.to_string())
                    .unwrap_or_default()
            );
        }
        for n in checker_only_notes(&r) {
            eprintln!("redsafe: note: {n}");
        }
        if damaged {
            eprintln!(
                "redsafe: the AOF is damaged ({}): the digest is that of the part before the damage (what `redsafe fix` and redis-check-aof --fix keep)",
                damage_summary(&r.set)
            );
        }
    }
    Ok(if damaged { EXIT_DAMAGED } else { EXIT_OK })
}
