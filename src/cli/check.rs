//! `redsafe check`: validate an RDB, an AOF file, an AOF directory or a manifest and report
//! the first damage precisely (for AOFs: the verdict and truncation point of
//! `redis-check-aof`, plus file, offset, line, command and timestamp).

use std::path::{Path, PathBuf};

use anyhow::Result;
use clap::Args;
use serde_json::json;

use redsafe::aof::{self, AofSet, InputKind, SetReport, Verdict};
use redsafe::mmap::MappedFile;
use redsafe::rdb::{check::check_rdb_with_progress, CheckOptions, ChecksumStatus, RdbReport};

use super::output::outln;
use super::output::{byte_progress, error_json};
use super::{EXIT_DAMAGED, EXIT_OK};

/// Arguments of `redsafe check`.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit status: 0 valid, 1 damaged, 2 usage or I/O error.\n\n\
Examples:\n  redsafe check dump.rdb\n  redsafe check --json /var/lib/redis/dump.rdb\n  \
redsafe check /var/lib/redis/appendonlydir\n  redsafe check appendonly.aof"
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
    /// Threads for checking an RDB (0: one per core, at most 4; at most 256).
    #[arg(long, default_value_t = 0, value_parser = parse_threads)]
    pub threads: usize,
}

/// Parses `--threads`: 0 to [`redsafe::rdb::check::MAX_THREADS`].
fn parse_threads(s: &str) -> std::result::Result<usize, String> {
    let max = redsafe::rdb::check::MAX_THREADS;
    s.parse::<usize>()
        .ok()
        .filter(|&n| n <= max)
        .ok_or_else(|| format!("expected a number of threads from 0 to {max}"))
}

/// Runs `redsafe check`.
pub fn run(args: CheckArgs) -> Result<u8> {
    match aof::detect_kind(&args.path)? {
        InputKind::Rdb => run_rdb(args),
        InputKind::AofFile | InputKind::Manifest | InputKind::Directory => run_aof(args),
    }
}

fn run_rdb(args: CheckArgs) -> Result<u8> {
    let file = MappedFile::open(&args.path)?;
    let data = file.bytes();
    let opts = CheckOptions {
        deep: !args.shallow,
        verify_checksum: !args.no_checksum,
        now_ms: None,
        threads: args.threads,
        ..Default::default()
    };
    let pb = byte_progress(data.len() as u64, args.json);
    let mut report = check_rdb_with_progress(data, 0, opts, &mut |done| pb.set_position(done));
    pb.finish_and_clear();
    // An RDB followed by RESP is an old-style AOF with a preamble (named without `.aof`).
    if let Some(end) = report.end_offset {
        if report.ok && matches!(data.get(end as usize), Some(b'*') | Some(b'#')) {
            drop(file);
            return run_aof(args);
        }
    }
    if let Some(e) = report.error.take() {
        report.error = Some(e.in_file(&args.path));
    }
    if args.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&rdb_json(&args, &report))?
        );
    } else {
        print_rdb_text(&args, &report)?;
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
        "warnings": r.warnings(),
    });
    if let Some(e) = &r.error {
        o["error"] = error_json(e);
    }
    o
}

fn print_rdb_text(args: &CheckArgs, r: &RdbReport) -> Result<()> {
    outln!("file: {} ({} bytes)", args.path.display(), r.size);
    if let Some(h) = r.header {
        outln!("format: RDB version {} ({})", h.version, h.dialect.name());
    }
    if !r.aux.is_empty() {
        let aux: Vec<String> = r
            .aux
            .iter()
            .filter(|(k, _)| k != "lua")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        outln!("aux: {}", aux.join(", "));
    }
    for (db, s) in &r.dbs {
        let types: Vec<String> = s.types.iter().map(|(t, n)| format!("{t} {n}")).collect();
        outln!(
            "db {db}: {} keys, {} with expiry ({})",
            s.keys,
            s.expires,
            types.join(", ")
        );
    }
    if r.already_expired > 0 {
        outln!("keys already expired: {}", r.already_expired);
    }
    if !r.functions.is_empty() {
        outln!("functions: {}", r.functions.join("; "));
    }
    if !r.modules.is_empty() {
        let m: Vec<&str> = r.modules.iter().map(|s| s.as_str()).collect();
        outln!("modules: {}", m.join(", "));
    }
    match r.checksum {
        ChecksumStatus::Verified { crc } => outln!("checksum: OK (CRC-64 {crc:016x})"),
        ChecksumStatus::NotComputed => {
            outln!("checksum: not computed (saved with rdbchecksum no): no check performed")
        }
        ChecksumStatus::Absent => outln!("checksum: none (RDB version < 5)"),
        ChecksumStatus::Skipped => outln!("checksum: not verified (--no-checksum)"),
        ChecksumStatus::Mismatch { stored, computed } => {
            outln!("checksum: MISMATCH (stored {stored:016x}, computed {computed:016x})")
        }
        ChecksumStatus::NotReached => outln!("checksum: not reached"),
    }
    for w in r.warnings() {
        outln!("warning: {w}");
    }
    match &r.error {
        None => outln!("result: OK, {} keys in {} dbs", r.keys, r.dbs.len()),
        Some(e) => {
            outln!("result: DAMAGED");
            outln!("error: {e}");
        }
    }
    Ok(())
}

fn run_aof(args: CheckArgs) -> Result<u8> {
    let set = match AofSet::open(&args.path) {
        Ok(s) => s,
        Err(e) if e.is_damage() => {
            // A manifest Redis refuses (or redsafe refuses as unsafe): damaged, exit 1.
            if args.json {
                let o = json!({
                    "ok": false,
                    "kind": "multi-part-aof",
                    "path": args.path.display().to_string(),
                    "verdict": "manifest-invalid",
                    "fixable": false,
                    "ok_up_to": null,
                    "files": [],
                    "error": error_json(&e),
                });
                outln!("{}", serde_json::to_string_pretty(&o)?);
            } else {
                outln!("path: {}", args.path.display());
                outln!(
                    "result: DAMAGED (the manifest cannot be used; nothing can be cut to fix it)"
                );
                outln!("error: {e}");
            }
            return Ok(EXIT_DAMAGED);
        }
        Err(e) => return Err(e.into()),
    };
    let opts = aof::ScanOptions {
        rdb: CheckOptions {
            deep: !args.shallow,
            verify_checksum: !args.no_checksum,
            now_ms: None,
            ..Default::default()
        },
        continue_after_damage: true,
        as_loader: false,
    };
    let pb = byte_progress(set.total_size(), args.json);
    let report = aof::check_set(&set, opts, &mut |done| pb.set_position(done))?;
    pb.finish_and_clear();
    if args.json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&aof_json(&args.path, &set, &report))?
        );
    } else {
        print_aof_text(&args.path, &set, &report)?;
    }
    Ok(if report.is_ok() {
        EXIT_OK
    } else {
        EXIT_DAMAGED
    })
}

/// Warnings about things redis-check-aof accepts but Redis (or an older checker) would not.
pub(crate) fn aof_warnings(set: &AofSet, r: &SetReport) -> Vec<String> {
    let mut w = Vec::new();
    for f in &r.files {
        let st = &f.state;
        if let Some(o) = st.first_empty_command {
            w.push(format!(
                "{}: {} command(s) with no arguments (*0), first at offset {o}: redis-check-aof accepts them, the Redis loader refuses the file (format error)",
                f.name, st.empty_commands
            ));
        }
        if st.bad_timestamps > 0 {
            w.push(format!(
                "{}: {} #TS: annotation(s) with an invalid number (redis-check-aof --truncate-to-timestamp refuses them)",
                f.name, st.bad_timestamps
            ));
        }
        if st.unterminated_annotations > 0 {
            w.push(format!(
                "{}: {} annotation line(s) without a newline (cut by the end of the file or longer than 1023 bytes)",
                f.name, st.unterminated_annotations
            ));
        }
        if let Some(rdb) = &f.rdb {
            if rdb.version.is_some_and(|v| v > 10) {
                w.push(format!(
                    "{}: RDB version {} (Redis >= 7.2): redis-check-aof 7.0 cannot read it and calls it not sane",
                    f.name,
                    rdb.version.unwrap_or(0)
                ));
            }
        }
    }
    if let Some(m) = &set.manifest {
        let h = m.history().count();
        if h > 0 {
            w.push(format!(
                "{h} HISTORY file(s) in the manifest (never loaded)"
            ));
        }
    }
    w
}

fn ts_json(ts: Option<i64>) -> serde_json::Value {
    match ts {
        Some(t) => json!(t),
        None => serde_json::Value::Null,
    }
}

/// JSON of an AOF check report.
pub(crate) fn aof_json(path: &Path, set: &AofSet, r: &SetReport) -> serde_json::Value {
    let files: Vec<serde_json::Value> = r
        .files
        .iter()
        .map(|f| {
            let mut o = json!({
                "name": f.name,
                "path": f.path.display().to_string(),
                "role": f.role,
                "size": f.size,
                "status": f.status,
                "rdb": f.rdb,
                "resp_offset": f.resp_offset,
                "commands": f.state.commands,
                "annotations": f.state.annotations,
                "timestamps": f.state.timestamps,
                "first_timestamp": ts_json(f.state.first_timestamp),
                "last_timestamp": ts_json(f.state.timestamp),
                "ok_up_to": f.ok_up_to,
                "ok_up_to_line": f.redis_line,
            });
            if let Some(e) = &f.rdb_error {
                o["error"] = error_json(e);
            } else if let Some(fl) = &f.failure {
                o["error"] = failure_json(fl);
            }
            o
        })
        .collect();
    let mut o = json!({
        "ok": r.is_ok(),
        "kind": r.kind.name(),
        "path": path.display().to_string(),
        "manifest": set.manifest_path.as_ref().map(|p| p.display().to_string()),
        "verdict": r.verdict.name(),
        "fixable": r.verdict.is_truncatable(),
        "ok_up_to": r.ok_up_to(),
        "damaged_file": r.damaged_file().map(|f| f.name.clone()),
        "last_timestamp": ts_json(r.last_timestamp()),
        "files": files,
        "warnings": aof_warnings(set, r),
    });
    if let Some(f) = r.damaged_file() {
        o["ok_up_to_line"] = json!(f.redis_line);
        if let Some(e) = &f.rdb_error {
            o["error"] = error_json(e);
        } else if let Some(fl) = &f.failure {
            o["error"] = failure_json(fl);
        } else if f.status == aof::FileStatus::Missing {
            o["error"] = json!({
                "file": f.path.display().to_string(),
                "message": "the file listed in the manifest does not exist",
            });
        }
    }
    o
}

/// JSON of a RESP read failure.
pub(crate) fn failure_json(f: &aof::ReadFailure) -> serde_json::Value {
    let mut o = error_json(&f.error);
    o["record_offset"] = json!(f.record_offset);
    o["line"] = json!(f.line);
    o["truncated"] = json!(f.truncated);
    o["ok_up_to"] = json!(f.ok_up_to);
    o["command"] = f
        .command
        .as_deref()
        .map(super::output::bytes_json)
        .unwrap_or(serde_json::Value::Null);
    o["timestamp"] = ts_json(f.timestamp);
    o["multi"] = f.multi.map(|m| json!(m)).unwrap_or(serde_json::Value::Null);
    o["redis_loader_goes_on"] = json!(f.loader_goes_on);
    o
}

fn ts_text(ts: i64) -> String {
    format!("{ts} ({})", redsafe::time::format_rfc3339(ts))
}

fn print_aof_text(path: &Path, set: &AofSet, r: &SetReport) -> Result<()> {
    match &set.manifest_path {
        Some(m) => outln!(
            "AOF: {} (multi-part, manifest {}, {} file(s))",
            path.display(),
            m.display(),
            set.parts.len()
        ),
        None => outln!("AOF: {} (single file)", path.display()),
    }
    for f in &r.files {
        let mut desc = Vec::new();
        if let Some(rdb) = &f.rdb {
            let mut d = format!(
                "RDB v{} with {} keys",
                rdb.version
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "?".into()),
                rdb.keys
            );
            if let Some(c) = rdb.ctime {
                d.push_str(&format!(", written {}", redsafe::time::format_rfc3339(c)));
            }
            desc.push(d);
        }
        let rdb_only = f.rdb.is_some() && f.resp_offset >= f.size;
        if !rdb_only
            && f.status != aof::FileStatus::Missing
            && f.status != aof::FileStatus::NotReached
        {
            desc.push(format!(
                "{} commands, {} annotations",
                f.state.commands, f.state.annotations
            ));
            if let (Some(a), Some(b)) = (f.state.first_timestamp, f.state.timestamp) {
                desc.push(format!(
                    "#TS {} .. {}",
                    redsafe::time::format_rfc3339(a),
                    redsafe::time::format_rfc3339(b)
                ));
            }
        }
        let status = match f.status {
            aof::FileStatus::Valid => "valid",
            aof::FileStatus::Empty => "empty (valid)",
            aof::FileStatus::Damaged => "DAMAGED",
            aof::FileStatus::RdbDamaged => "RDB PART DAMAGED",
            aof::FileStatus::Missing => "MISSING",
            aof::FileStatus::NotReached => "not checked",
        };
        outln!(
            "  {:<5} {}  {} bytes  {}  {}",
            format!("{:?}", f.role).to_uppercase(),
            f.name,
            f.size,
            desc.join(", "),
            status
        );
    }
    for w in aof_warnings(set, r) {
        outln!("warning: {w}");
    }
    let Some(f) = r.damaged_file() else {
        let last = r.last_timestamp().map(ts_text);
        outln!(
            "result: OK{}",
            last.map(|t| format!(", last #TS {t}")).unwrap_or_default()
        );
        return Ok(());
    };
    if let Some(e) = &f.rdb_error {
        outln!("error: {e}");
    }
    if f.status == aof::FileStatus::Missing {
        outln!(
            "error: {}: listed in the manifest but missing",
            f.path.display()
        );
    }
    if let Some(fl) = &f.failure {
        outln!("error: {}", fl.error);
        let mut at = format!(
            "  in the record at offset {} (line {})",
            fl.record_offset, fl.line
        );
        if let Some(c) = &fl.command {
            at.push_str(&format!(", command {}", redsafe::error::escape_bytes(c)));
        }
        outln!("{at}");
        if let Some(m) = fl.multi {
            outln!("  inside the transaction opened by MULTI at offset {m}");
        }
        match fl.timestamp {
            Some(t) => outln!("  last #TS before it: {}", ts_text(t)),
            None => outln!("  no #TS annotation before it"),
        }
        outln!(
            "ok_up_to: {} (redis-check-aof: ok_up_to={}, ok_up_to_line={}, diff={})",
            f.ok_up_to,
            f.ok_up_to,
            f.redis_line,
            f.size.saturating_sub(f.ok_up_to)
        );
        if fl.loader_goes_on {
            outln!(
                "note: redis-server's own loader goes on past this record (it skips an EXEC without \
                 MULTI; it queues a nested MULTI and refuses it when EXEC runs): cutting at {} drops \
                 commands Redis would load",
                f.ok_up_to
            );
        }
    }
    match r.verdict {
        Verdict::Truncatable { .. } => outln!(
            "result: DAMAGED: the last file can be cut at offset {} ({} bytes lost): redsafe fix (as redis-check-aof --fix)",
            f.ok_up_to,
            f.size.saturating_sub(f.ok_up_to)
        ),
        Verdict::DamagedNotLast { .. } => outln!(
            "result: DAMAGED: {} is not the last file, so redis-check-aof --fix refuses to cut it; redsafe fix --salvage can skip the damaged region",
            f.name
        ),
        Verdict::RdbDamaged { .. } => outln!(
            "result: DAMAGED: the RDB part is not sane (redis-check-aof: not fixable; redsafe never cuts into an RDB)"
        ),
        Verdict::Missing { .. } => outln!("result: DAMAGED: a file of the set is missing (not fixable)"),
        Verdict::Valid => {}
    }
    Ok(())
}
