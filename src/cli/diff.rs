//! `redsafe diff A B`: which keys differ between two RDB files, and which file is newer.

use std::collections::HashSet;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};

use redsafe::diff::{diff_rdb, read_meta, DiffOptions, DiffSummary, Difference, FileMeta};
use redsafe::error::escape_bytes;
use redsafe::export::resp::{write_command, RespOptions, RespSink};
use redsafe::export::{export_rdb, EntrySink};
use redsafe::fsutil::AtomicFile;
use redsafe::mmap::MappedFile;
use redsafe::rdb::Entry;

use super::args::{parse_size, KeyFilterArgs};
use super::output::byte_progress;
use super::{EXIT_DAMAGED, EXIT_OK};
use redsafe::time::format_rfc3339_ms as iso8601_ms;

/// Output formats of `redsafe diff`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiffFormat {
    /// A report for people.
    Text,
    /// One JSON object.
    Json,
    /// The Redis commands that turn a server holding A into one holding B.
    Resp,
}

/// Arguments of `redsafe diff`.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit status: 0 compared (with --exit-code: 0 identical, 1 different), \
1 an input is damaged, 2 usage or I/O error.\n\n\
Examples:\n  redsafe diff node-a.rdb node-b.rdb\n  \
redsafe diff yesterday.rdb today.rdb --key 'user:*' --format json\n  \
redsafe diff a.rdb b.rdb --format resp | redis-cli -h server-with-a --pipe"
)]
pub struct DiffArgs {
    /// The first file (A).
    pub a: PathBuf,
    /// The second file (B).
    pub b: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: DiffFormat,
    /// Memory for A's per-key records before the comparison spills hash partitions to disk.
    #[arg(long, value_name = "BYTES", default_value = "1G", value_parser = parse_size)]
    pub memory_limit: u64,
    /// Directory for spill files (default: the system temporary directory).
    #[arg(long, value_name = "DIR")]
    pub tmp_dir: Option<PathBuf>,
    /// Exit with status 1 when the files differ (like `git diff --exit-code`).
    #[arg(long)]
    pub exit_code: bool,
    /// With --format resp: maximum elements per command.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub batch: usize,
    /// Write to this file (atomically) instead of standard output.
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Overwrite OUT if it exists.
    #[arg(long)]
    pub force: bool,
    /// Do not verify the files' CRC-64 checksums.
    #[arg(long)]
    pub no_checksum: bool,
    /// Key selection (applied to both files).
    #[command(flatten)]
    pub filter: KeyFilterArgs,
}

fn aux_text(m: &FileMeta, name: &str) -> String {
    match m.aux(name) {
        Some(v) => {
            let s = escape_bytes(v);
            if name == "ctime" {
                if let Ok(t) = s.parse::<i64>() {
                    return format!("{} ({s})", iso8601_ms(t * 1000));
                }
            }
            s
        }
        None => "-".into(),
    }
}

fn aux_i64(m: &FileMeta, name: &str) -> Option<i64> {
    std::str::from_utf8(m.aux(name)?).ok()?.parse().ok()
}

/// Which file looks newer, from ctime and the replication offset.
fn verdict(a: &FileMeta, b: &FileMeta) -> String {
    let mut parts = Vec::new();
    match (aux_i64(a, "ctime"), aux_i64(b, "ctime")) {
        (Some(x), Some(y)) if x < y => parts.push(format!("B was saved {}s after A", y - x)),
        (Some(x), Some(y)) if x > y => parts.push(format!("A was saved {}s after B", x - y)),
        (Some(_), Some(_)) => parts.push("saved in the same second".into()),
        _ => parts.push("no ctime to compare".into()),
    }
    match (a.aux("repl-id"), b.aux("repl-id")) {
        (Some(x), Some(y)) if x == y => {
            match (aux_i64(a, "repl-offset"), aux_i64(b, "repl-offset")) {
                (Some(p), Some(q)) if p < q => {
                    parts.push(format!("same replication ID: B is {} bytes ahead", q - p))
                }
                (Some(p), Some(q)) if p > q => {
                    parts.push(format!("same replication ID: A is {} bytes ahead", p - q))
                }
                (Some(_), Some(_)) => parts.push("same replication ID and offset".into()),
                _ => parts.push("same replication ID".into()),
            }
        }
        (Some(_), Some(_)) => {
            parts.push("different replication IDs (different histories, e.g. split brain)".into())
        }
        _ => {}
    }
    parts.join("; ")
}

fn write_header(
    w: &mut dyn Write,
    args: &DiffArgs,
    a: &FileMeta,
    b: &FileMeta,
) -> std::io::Result<()> {
    let hdr = |m: &FileMeta| {
        m.header
            .map(|h| format!("{} RDB {}", h.dialect.name(), h.version))
            .unwrap_or_default()
    };
    let rows = [
        (
            "file",
            args.a.display().to_string(),
            args.b.display().to_string(),
        ),
        ("size", a.size.to_string(), b.size.to_string()),
        ("format", hdr(a), hdr(b)),
        (
            "redis-ver",
            aux_text(a, "redis-ver"),
            aux_text(b, "redis-ver"),
        ),
        (
            "valkey-ver",
            aux_text(a, "valkey-ver"),
            aux_text(b, "valkey-ver"),
        ),
        ("ctime", aux_text(a, "ctime"), aux_text(b, "ctime")),
        ("repl-id", aux_text(a, "repl-id"), aux_text(b, "repl-id")),
        (
            "repl-offset",
            aux_text(a, "repl-offset"),
            aux_text(b, "repl-offset"),
        ),
        ("used-mem", aux_text(a, "used-mem"), aux_text(b, "used-mem")),
    ];
    writeln!(w, "{:<12} {:<44} B", "", "A")?;
    for (name, x, y) in rows {
        if x == "-" && y == "-" {
            continue;
        }
        writeln!(w, "{name:<12} {x:<44} {y}")?;
    }
    writeln!(w, "newer: {}", verdict(a, b))?;
    writeln!(w)
}

fn show_expiry(e: Option<i64>) -> String {
    e.map(iso8601_ms).unwrap_or_else(|| "none".into())
}

fn diff_line(d: &Difference) -> String {
    match d {
        Difference::OnlyInA { db, key, ty } => {
            format!(
                "- db {db} \"{}\" (only in A, {})",
                escape_bytes(key),
                ty.name()
            )
        }
        Difference::OnlyInB { db, key, ty } => {
            format!(
                "+ db {db} \"{}\" (only in B, {})",
                escape_bytes(key),
                ty.name()
            )
        }
        Difference::Changed {
            db,
            key,
            type_a,
            type_b,
            value_changed,
            expire_a,
            expire_b,
        } => {
            let mut what = Vec::new();
            if type_a != type_b {
                what.push(format!("type {} -> {}", type_a.name(), type_b.name()));
            } else if *value_changed {
                what.push(format!("{} value", type_a.name()));
            }
            if expire_a != expire_b {
                what.push(format!(
                    "expiry {} -> {}",
                    show_expiry(*expire_a),
                    show_expiry(*expire_b)
                ));
            }
            format!("~ db {db} \"{}\" ({})", escape_bytes(key), what.join(", "))
        }
    }
}

fn summary_text(s: &DiffSummary, ka: u64, kb: u64) -> String {
    let mut t = format!(
        "summary: A {ka} keys, B {kb} keys: {} only in A, {} only in B, {} changed ({} type, {} value, {} expiry), {} identical",
        s.only_in_a, s.only_in_b, s.changed, s.changed_type, s.changed_value, s.changed_expiry, s.identical
    );
    let names = |v: &[Vec<u8>]| {
        v.iter()
            .map(|n| escape_bytes(n))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !s.functions_only_in_a.is_empty() {
        t += &format!("\nfunctions only in A: {}", names(&s.functions_only_in_a));
    }
    if !s.functions_only_in_b.is_empty() {
        t += &format!("\nfunctions only in B: {}", names(&s.functions_only_in_b));
    }
    if !s.functions_changed.is_empty() {
        t += &format!("\nfunctions changed: {}", names(&s.functions_changed));
    }
    t
}

/// Tracks SELECT for the commands diff writes itself.
struct Cmds<'w> {
    w: &'w mut dyn Write,
    db: Option<u64>,
    buf: Vec<u8>,
}

impl Cmds<'_> {
    fn on(&mut self, db: u64, args: &[&[u8]]) -> std::io::Result<()> {
        if self.db != Some(db) {
            write_command(&mut self.buf, &[b"SELECT", db.to_string().as_bytes()]);
            self.db = Some(db);
        }
        write_command(&mut self.buf, args);
        if self.buf.len() > 1 << 16 {
            self.w.write_all(&self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.w.write_all(&self.buf)?;
        self.buf.clear();
        self.db = None;
        Ok(())
    }
}

/// Passes only the keys to rebuild to the RESP sink.
struct Only<'s, 'w> {
    keys: &'s HashSet<(u64, Vec<u8>)>,
    sink: RespSink<'w>,
}

impl EntrySink for Only<'_, '_> {
    fn entry(&mut self, e: &Entry<'_>) -> redsafe::Result<bool> {
        if self.keys.contains(&(e.db, e.key.to_vec())) {
            self.sink.entry(e)
        } else {
            Ok(false)
        }
    }
    fn finish(&mut self) -> redsafe::Result<()> {
        self.sink.finish()
    }
    fn take_io_error(&mut self) -> Option<std::io::Error> {
        self.sink.take_io_error()
    }
}

/// Runs `redsafe diff`.
pub fn run(args: DiffArgs) -> Result<u8> {
    let filter = args.filter.to_filter()?;
    let fa = MappedFile::open(&args.a)?;
    let fb = MappedFile::open(&args.b)?;
    let (a, b) = (fa.bytes(), fb.bytes());
    let in_a = |e: redsafe::Error| anyhow::Error::new(e.in_file(&args.a));
    let in_b = |e: redsafe::Error| anyhow::Error::new(e.in_file(&args.b));
    let meta_a = read_meta(a).map_err(in_a)?;
    let meta_b = read_meta(b).map_err(in_b)?;
    let opts = DiffOptions {
        filter: filter.clone(),
        memory_limit: args.memory_limit,
        tmp_dir: args.tmp_dir.clone().unwrap_or_else(std::env::temp_dir),
        paths: Some((args.a.clone(), args.b.clone())),
        verify_checksum: !args.no_checksum,
    };
    let mut atomic = match &args.output {
        Some(p) => {
            super::output::prepare_output(
                p,
                redsafe::fsutil::Inputs::new().file(&args.a).file(&args.b),
            )?;
            Some(AtomicFile::create(p, args.force)?)
        }
        None => None,
    };
    let stdout = std::io::stdout();
    let quiet = args.output.is_none() && stdout.is_terminal();
    let mut lock;
    let w: &mut dyn Write = match atomic.as_mut() {
        Some(f) => f,
        None => {
            lock = stdout.lock();
            &mut lock
        }
    };
    let mut w = std::io::BufWriter::with_capacity(1 << 20, w);
    let pb = byte_progress((a.len() + b.len()) as u64, quiet);
    let mut progress =
        |i: usize, o: u64| pb.set_position(o + if i == 1 { a.len() as u64 } else { 0 });
    match args.format {
        DiffFormat::Text => write_header(&mut w, &args, &meta_a, &meta_b)?,
        DiffFormat::Json => {
            let head = serde_json::json!({
                "a": meta_json(&args.a, &meta_a),
                "b": meta_json(&args.b, &meta_b),
                "newer": verdict(&meta_a, &meta_b),
            });
            let head = serde_json::to_string(&head)?;
            // Open the object and keep it open for the streamed differences.
            write!(w, "{},\"differences\":[", &head[..head.len() - 1])?;
        }
        DiffFormat::Resp => {}
    }
    let mut first = true;
    let mut io_err: Option<std::io::Error> = None;
    let mut rebuild: HashSet<(u64, Vec<u8>)> = HashSet::new();
    let mut expiry_only: Vec<(u64, Vec<u8>, Option<i64>)> = Vec::new();
    let format = args.format;
    let result = {
        let mut cmds = Cmds {
            w: &mut w,
            db: None,
            buf: Vec::new(),
        };
        let mut on_diff = |d: Difference| -> redsafe::Result<()> {
            if io_err.is_some() {
                return Ok(());
            }
            let r = match format {
                DiffFormat::Text => writeln!(cmds.w, "{}", diff_line(&d)),
                DiffFormat::Json => {
                    let sep = if first { "\n" } else { ",\n" };
                    first = false;
                    serde_json::to_string(&d)
                        .map_err(std::io::Error::other)
                        .and_then(|s| write!(cmds.w, "{sep}{s}"))
                }
                DiffFormat::Resp => match d {
                    Difference::OnlyInA { db, key, .. } => cmds.on(db, &[b"DEL", &key]),
                    Difference::OnlyInB { db, key, .. } => {
                        let r = cmds.on(db, &[b"DEL", &key]);
                        rebuild.insert((db, key));
                        r
                    }
                    Difference::Changed {
                        db,
                        key,
                        value_changed,
                        expire_b,
                        ..
                    } => {
                        if value_changed {
                            let r = cmds.on(db, &[b"DEL", &key]);
                            rebuild.insert((db, key));
                            r
                        } else {
                            expiry_only.push((db, key, expire_b));
                            Ok(())
                        }
                    }
                },
            };
            if let Err(e) = r {
                io_err = Some(e);
            }
            Ok(())
        };
        let r = diff_rdb(a, b, &opts, &mut on_diff, &mut progress);
        if let Err(e) = cmds.flush() {
            io_err.get_or_insert(e);
        }
        r
    };
    if let Some(e) = io_err {
        return Err(anyhow::Error::new(e).context("writing the output"));
    }
    let (summary, ma, mb) = match result {
        Ok(x) => x,
        Err(e) => {
            pb.finish_and_clear();
            return Err(anyhow::Error::new(e));
        }
    };
    if summary.partitions > 1 {
        eprintln!(
            "redsafe: compared in {} hash partitions spilled to {} (memory limit {} bytes)",
            summary.partitions,
            opts.tmp_dir.display(),
            args.memory_limit
        );
    }
    match args.format {
        DiffFormat::Text => {
            if summary.is_identical() {
                writeln!(w, "no differences")?;
            }
            writeln!(w, "\n{}", summary_text(&summary, ma.keys, mb.keys))?;
        }
        DiffFormat::Json => {
            let mut s = serde_json::to_value(&summary)?;
            s["keys_a"] = serde_json::json!(ma.keys);
            s["keys_b"] = serde_json::json!(mb.keys);
            s["identical_files"] = serde_json::json!(summary.is_identical());
            writeln!(w, "\n],\"summary\":{}}}", serde_json::to_string(&s)?)?;
        }
        DiffFormat::Resp => {
            // Function libraries: delete those only in A, load B's changed and new ones.
            let mut cmds = Cmds {
                w: &mut w,
                db: None,
                buf: Vec::new(),
            };
            for name in &summary.functions_only_in_a {
                cmds.on(0, &[b"FUNCTION", b"DELETE", name])?;
            }
            for name in summary
                .functions_changed
                .iter()
                .chain(&summary.functions_only_in_b)
            {
                if let Some((_, code)) = mb.functions.get(name) {
                    cmds.on(0, &[b"FUNCTION", b"LOAD", b"REPLACE", code])?;
                }
            }
            cmds.flush()?;
            // Rebuild the new and changed keys from B.
            if !rebuild.is_empty() {
                let ropts = RespOptions {
                    batch_elems: args.batch.max(1),
                    functions: false,
                    now_ms: filter.now_ms,
                    ..RespOptions::default()
                };
                let mut only = Only {
                    keys: &rebuild,
                    sink: RespSink::new(&mut w, ropts),
                };
                export_rdb(b, &filter, &mut only, &mut |_| {}).map_err(|e| match e {
                    redsafe::export::ExportError::Input(e) => {
                        anyhow::Error::new(e.in_file(&args.b))
                    }
                    redsafe::export::ExportError::Output(io) => {
                        anyhow::Error::new(io).context("writing the output")
                    }
                })?;
            }
            // Expiry-only changes.
            let mut cmds = Cmds {
                w: &mut w,
                db: None,
                buf: Vec::new(),
            };
            for (db, key, exp) in &expiry_only {
                match exp {
                    Some(t) => cmds.on(*db, &[b"PEXPIREAT", key, t.to_string().as_bytes()])?,
                    None => cmds.on(*db, &[b"PERSIST", key])?,
                }
            }
            cmds.flush()?;
            eprintln!("redsafe: {}", summary_text(&summary, ma.keys, mb.keys));
        }
    }
    pb.finish_and_clear();
    w.flush()?;
    drop(w);
    if let Some(f) = atomic {
        f.commit()?;
    }
    let _ = (meta_a, meta_b);
    Ok(if args.exit_code && !summary.is_identical() {
        EXIT_DAMAGED
    } else {
        EXIT_OK
    })
}

fn meta_json(path: &std::path::Path, m: &FileMeta) -> serde_json::Value {
    let aux: Vec<serde_json::Value> = m
        .aux
        .iter()
        .map(|(k, v)| serde_json::json!([String::from_utf8_lossy(k), String::from_utf8_lossy(v)]))
        .collect();
    serde_json::json!({
        "file": path.display().to_string(),
        "size": m.size,
        "dialect": m.header.map(|h| h.dialect.name()),
        "version": m.header.map(|h| h.version),
        "aux": aux,
        "functions": m.functions.keys().map(|k| String::from_utf8_lossy(k).into_owned()).collect::<Vec<_>>(),
    })
}
