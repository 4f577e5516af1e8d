//! `redsafe timeline PATH`: what happened when in an AOF (per second or per bucket), with
//! flags for dangerous commands; `--key K` / `--command NAME` list every occurrence.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Result;
use clap::Args;
use serde_json::json;

use redsafe::aof::timeline::{
    build_timeline, find_occurrences, parse_bucket, Bucket, Flag, Occurrence, Query,
    TimelineOptions,
};
use redsafe::aof::AofSet;
use redsafe::time::format_rfc3339 as format_utc;

use super::output::{byte_progress, bytes_json};
use super::{EXIT_DAMAGED, EXIT_OK};

/// Arguments of `redsafe timeline`.
#[derive(Debug, Args)]
#[command(after_help = "Times are the AOF's #TS: annotations (Redis 7.0+ with \
aof-timestamp-enabled yes); commands before any stamp are listed as unstamped.\n\n\
Examples:\n  redsafe timeline /var/lib/redis/appendonlydir\n  \
redsafe timeline /var/lib/redis --bucket 1m --flagged\n  \
redsafe timeline appendonlydir --command FLUSHALL\n  \
redsafe timeline appendonlydir --key user:42 --json")]
pub struct TimelineArgs {
    /// The AOF: a directory, a manifest or a single AOF file.
    pub path: PathBuf,
    /// List every command that touched this key (with its time, file and offset).
    #[arg(long, value_name = "K", conflicts_with = "command")]
    pub key: Option<String>,
    /// With --key: only in this database.
    #[arg(long, requires = "key")]
    pub db: Option<u64>,
    /// List every occurrence of this command (case-insensitive), e.g. FLUSHALL.
    #[arg(long, value_name = "NAME")]
    pub command: Option<String>,
    /// Bucket width: 1s (default), 10s, 1m, 1h, 1d.
    #[arg(long, default_value = "1s")]
    pub bucket: String,
    /// Only show buckets with a flag.
    #[arg(long)]
    pub flagged: bool,
    /// Flag a bucket deleting at least this many keys with DEL/UNLINK.
    #[arg(long, default_value_t = 1000)]
    pub del_burst: u64,
    /// Flag deletes of keys estimated at least this many bytes.
    #[arg(long, default_value_t = 1 << 20)]
    pub big_key_bytes: u64,
    /// With --key/--command: stop after this many occurrences.
    #[arg(long, default_value_t = 100_000)]
    pub limit: usize,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `redsafe timeline`.
pub fn run(args: TimelineArgs) -> Result<u8> {
    let set = AofSet::open(&args.path)?;
    let pb = byte_progress(set.total_size(), args.json);
    let mut out = std::io::stdout().lock();
    let query = match (&args.key, &args.command) {
        (Some(k), _) => Some(Query::Key {
            key: k.as_bytes().to_vec(),
            db: args.db,
        }),
        (None, Some(c)) => Some(Query::Command(c.clone())),
        _ => None,
    };
    if let Some(q) = query {
        let r = find_occurrences(&set, &q, args.limit, &mut |d| pb.set_position(d))?;
        pb.finish_and_clear();
        let found = r.found;
        if args.json {
            let list: Vec<_> = found.iter().map(occurrence_json).collect();
            let j = json!({"path": args.path.display().to_string(), "count": found.len(), "occurrences": list});
            writeln!(out, "{}", serde_json::to_string_pretty(&j)?)?;
        } else {
            for o in &found {
                writeln!(out, "{}", occurrence_text(o))?;
            }
            writeln!(out, "{} occurrence(s)", found.len())?;
        }
        return Ok(damage_exit(&set, r.damaged_at));
    }
    let opts = TimelineOptions {
        bucket_secs: parse_bucket(&args.bucket)?,
        del_burst_keys: args.del_burst,
        big_key_bytes: args.big_key_bytes,
    };
    let t = build_timeline(&set, opts, &mut |d| pb.set_position(d))?;
    pb.finish_and_clear();
    let shown: Vec<&Bucket> = t
        .buckets
        .iter()
        .filter(|b| !args.flagged || b.is_flagged())
        .collect();
    if args.json {
        let buckets: Vec<_> = shown.iter().map(|b| bucket_json(b)).collect();
        let j = json!({
            "path": args.path.display().to_string(),
            "bucket_seconds": t.bucket_secs,
            "buckets": buckets,
            "unstamped": bucket_json(&t.unstamped),
            "commands": t.commands,
            "base_keys": t.base_keys,
            "base_ctime": t.base_ctime,
            "first_timestamp": t.first_timestamp,
            "last_timestamp": t.last_timestamp,
            "backward_stamps": t.backward_stamps,
            "damaged_at": t.damaged_at.map(|(f, o)| json!({
                "file": set.parts.get(f).map(|p| p.name_lossy()),
                "index": f,
                "offset": o,
            })),
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&j)?)?;
        return Ok(damage_exit(&set, t.damaged_at));
    }
    if let Some(c) = t.base_ctime {
        writeln!(
            out,
            "BASE: {} keys, written {} ({c})",
            t.base_keys,
            format_utc(c)
        )?;
    }
    if t.unstamped.commands > 0 {
        writeln!(out, "{}", bucket_text(&t.unstamped))?;
    }
    for b in shown {
        writeln!(out, "{}", bucket_text(b))?;
    }
    if t.first_timestamp.is_none() {
        writeln!(
            out,
            "no #TS: annotations: the AOF was written without aof-timestamp-enabled"
        )?;
    }
    if let Some((f, o)) = t.damaged_at {
        writeln!(
            out,
            "damaged: reading stopped in {} at offset {o}",
            set.parts.get(f).map(|p| p.name_lossy()).unwrap_or_default()
        )?;
    }
    Ok(damage_exit(&set, t.damaged_at))
}

/// The exit code for a set read up to `damaged_at`: 1 (saying where on standard error) when
/// the reading stopped at damage, else 0.
fn damage_exit(set: &AofSet, damaged_at: Option<(usize, u64)>) -> u8 {
    let Some((f, o)) = damaged_at else {
        return EXIT_OK;
    };
    let path = set
        .parts
        .get(f)
        .map(|p| p.path.display().to_string())
        .unwrap_or_default();
    eprintln!(
        "redsafe: the AOF is damaged: {path}: reading stopped at offset {o}; what is shown comes before it (`redsafe check` tells what is wrong there)"
    );
    EXIT_DAMAGED
}

fn flag_text(f: &Flag) -> String {
    match f {
        Flag::Flushall { count } => format!("FLUSHALL x{count}"),
        Flag::Flushdb { count } => format!("FLUSHDB x{count}"),
        Flag::Swapdb { count } => format!("SWAPDB x{count}"),
        Flag::DelBurst { keys } => format!("DEL/UNLINK burst: {keys} keys"),
        Flag::BigKeyDelete {
            db,
            key,
            approx_bytes,
            ..
        } => format!("big key deleted: db {db} '{key}' (~{approx_bytes} bytes)"),
    }
}

fn bucket_text(b: &Bucket) -> String {
    let when = match b.start {
        Some(s) => format!("{} ({s})", format_utc(s)),
        None => "unstamped".to_string(),
    };
    // A revisited bucket's distinct keys are counted per visit: a lower bound.
    let keys = if b.revisited { ">=" } else { "=" };
    let mut s = format!(
        "{when}  commands={} bytes={} keys{keys}{}",
        b.commands, b.bytes, b.keys_touched
    );
    if b.deleted_keys > 0 {
        s.push_str(&format!(" deleted={}", b.deleted_keys));
    }
    if !b.flags.is_empty() {
        let f: Vec<_> = b.flags.iter().map(flag_text).collect();
        s.push_str(&format!("  !! {}", f.join(", ")));
    }
    s
}

fn bucket_json(b: &Bucket) -> serde_json::Value {
    json!({
        "start": b.start,
        "start_utc": b.start.map(format_utc),
        "commands": b.commands,
        "bytes": b.bytes,
        "record_bytes": b.record_bytes,
        "keys_touched": b.keys_touched,
        "deleted_keys": b.deleted_keys,
        "revisited": b.revisited,
        "flags": b.flags,
    })
}

fn occurrence_json(o: &Occurrence) -> serde_json::Value {
    json!({
        "time": o.time,
        "time_utc": o.time.map(format_utc),
        "file": o.file_name,
        "file_index": o.file,
        "offset": o.offset,
        "db": o.db,
        "in_multi": o.multi,
        "command": bytes_json(&o.name),
        "args": o.args.iter().map(|a| bytes_json(a)).collect::<Vec<_>>(),
        "argc": o.argc,
    })
}

fn occurrence_text(o: &Occurrence) -> String {
    let when = match o.time {
        Some(t) => format!("{} ({t})", format_utc(t)),
        None => "unstamped".into(),
    };
    let args: Vec<String> = o
        .args
        .iter()
        .map(|a| redsafe::error::escape_bytes(a))
        .collect();
    let more = if o.argc > o.args.len() {
        format!(" ... ({} arguments)", o.argc)
    } else {
        String::new()
    };
    format!(
        "{when}  {}:{}  db={}{}  {}{more}",
        o.file_name,
        o.offset,
        o.db,
        if o.multi.is_some() { " (in MULTI)" } else { "" },
        args.join(" ")
    )
}
