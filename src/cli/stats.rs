//! `redsafe stats`: what is in an RDB file, in one pass.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Args, ValueEnum};

use redsafe::fsutil::AtomicFile;
use redsafe::mmap::MappedFile;
use redsafe::stats::{collect_stats, KeyStats, Stats, StatsOptions, Totals};

use super::args::KeyFilterArgs;
use super::output::byte_progress;
use super::{EXIT_DAMAGED, EXIT_OK};

/// Output formats of `redsafe stats`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StatsFormat {
    /// A report for people.
    Text,
    /// One JSON object.
    Json,
    /// CSV: one row per db, type and encoding (or per key with --per-key).
    Csv,
}

/// Arguments of `redsafe stats`.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit status: 0 ok, 1 the input is damaged, 2 usage or I/O error.\n\n\
Examples:\n  redsafe stats dump.rdb\n  redsafe stats dump.rdb --top 20 --by-prefix :\n  \
redsafe stats dump.rdb --format csv --per-key -o memory.csv"
)]
pub struct StatsArgs {
    /// The RDB file.
    pub path: PathBuf,
    /// How many of the biggest keys to list (by size and by element count).
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub top: usize,
    /// Aggregate by key prefix: the part of the key before this separator.
    #[arg(long, value_name = "SEP")]
    pub by_prefix: Option<String>,
    /// With --by-prefix: how many separator-delimited segments form the prefix.
    #[arg(long, value_name = "N", default_value_t = 1, requires = "by_prefix")]
    pub prefix_depth: usize,
    /// With --by-prefix: most distinct prefixes kept in memory; keys with further prefixes
    /// are summed under "other".
    #[arg(
        long,
        value_name = "N",
        default_value_t = 10_000,
        requires = "by_prefix"
    )]
    pub max_prefixes: usize,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: StatsFormat,
    /// With --format csv: one row per key, like rdbtools' memory report (database, type,
    /// key, size_in_bytes, encoding, num_elements, len_largest_element, expiry, plus
    /// rdb_size_in_bytes). Decodes every value.
    #[arg(long)]
    pub per_key: bool,
    /// Count elements by decoding every value (and measure the largest element) instead of
    /// reading counts from encoding headers.
    #[arg(long)]
    pub exact: bool,
    /// Write to this file (atomically) instead of standard output.
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Overwrite OUT if it exists.
    #[arg(long)]
    pub force: bool,
    /// Key selection.
    #[command(flatten)]
    pub filter: KeyFilterArgs,
}

/// Runs `redsafe stats`.
pub fn run(args: StatsArgs) -> Result<u8> {
    if args.per_key && args.format != StatsFormat::Csv {
        bail!("--per-key writes CSV rows: use it with --format csv");
    }
    let filter = args.filter.to_filter()?;
    let file = MappedFile::open(&args.path)?;
    let data = file.bytes();
    let opts = StatsOptions {
        top: args.top,
        prefix_sep: args.by_prefix.as_ref().map(|s| s.as_bytes().to_vec()),
        prefix_depth: args.prefix_depth,
        max_prefixes: args.max_prefixes,
        decode_all: args.exact || args.per_key,
        now_ms: filter.now_ms,
    };
    let mut atomic = match &args.output {
        Some(p) => {
            super::output::prepare_output_from(p, &args.path)?;
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
    let pb = byte_progress(data.len() as u64, quiet);
    let result = if args.per_key {
        writeln!(
            w,
            "database,type,key,size_in_bytes,encoding,num_elements,len_largest_element,expiry,rdb_size_in_bytes"
        )?;
        let mut io_err: Option<std::io::Error> = None;
        let mut row = |k: &KeyStats| -> redsafe::Result<()> {
            if io_err.is_none() {
                if let Err(e) = write_key_row(&mut w, k) {
                    io_err = Some(e);
                }
            }
            Ok(())
        };
        let r = collect_stats(data, &filter, &opts, Some(&mut row), &mut |o| {
            pb.set_position(o)
        });
        if let Some(e) = io_err {
            return Err(anyhow::Error::new(e).context("writing the output"));
        }
        r
    } else {
        collect_stats(data, &filter, &opts, None, &mut |o| pb.set_position(o))
    };
    pb.finish_and_clear();
    let stats = result.map_err(|e| anyhow::Error::new(e.in_file(&args.path)))?;
    match (args.format, args.per_key) {
        (_, true) => {}
        (StatsFormat::Json, _) => {
            let mut v = serde_json::to_value(&stats)?;
            v["file"] = serde_json::json!(args.path.display().to_string());
            serde_json::to_writer_pretty(&mut w, &v)?;
            writeln!(w)?;
        }
        (StatsFormat::Csv, false) => write_csv_summary(&mut w, &stats)?,
        (StatsFormat::Text, _) => write_text(&mut w, &args, &stats)?,
    }
    w.flush()?;
    drop(w);
    if let Some(f) = atomic {
        f.commit()?;
    }
    if stats.checksum_ok == Some(false) {
        let e = stats
            .checksum_error
            .clone()
            .map(|e| e.in_file(&args.path).to_string())
            .unwrap_or_else(|| format!("{}: CRC-64 mismatch", args.path.display()));
        eprintln!(
            "redsafe: {e}: the file is damaged (what was written came before the checksum, at the end of the file); run `redsafe check` to locate the damage"
        );
        return Ok(EXIT_DAMAGED);
    }
    Ok(EXIT_OK)
}

/// A CSV field: quoted when needed, quotes doubled; bytes written as they are.
fn csv_field(w: &mut dyn Write, b: &[u8]) -> std::io::Result<()> {
    if b.iter().any(|&c| matches!(c, b',' | b'"' | b'\n' | b'\r')) || b.first() == Some(&b' ') {
        w.write_all(b"\"")?;
        for part in b.split(|&c| c == b'"').enumerate() {
            if part.0 > 0 {
                w.write_all(b"\"\"")?;
            }
            w.write_all(part.1)?;
        }
        w.write_all(b"\"")
    } else {
        w.write_all(b)
    }
}

fn write_key_row(w: &mut dyn Write, k: &KeyStats) -> std::io::Result<()> {
    write!(w, "{},{},", k.db, k.ty.name())?;
    csv_field(w, &k.key)?;
    writeln!(
        w,
        ",{},{},{},{},{},{}",
        k.memory_estimate,
        k.encoding,
        k.elements,
        k.largest_element.unwrap_or(0),
        k.expire_ms
            .map(redsafe::time::format_rfc3339_ms)
            .unwrap_or_default(),
        k.value_bytes
    )
}

fn write_csv_summary(w: &mut dyn Write, st: &Stats) -> std::io::Result<()> {
    writeln!(
        w,
        "database,type,encoding,keys,expires,value_bytes,record_bytes,elements,memory_estimate"
    )?;
    for (db, d) in &st.dbs {
        for (ty, t) in &d.by_type {
            // Encodings of this type.
            let _ = t;
            for (enc, e) in d
                .by_encoding
                .iter()
                .filter(|(enc, _)| encoding_type(enc) == *ty)
            {
                writeln!(
                    w,
                    "{db},{ty},{enc},{},{},{},{},{},{}",
                    e.keys, e.expires, e.value_bytes, e.record_bytes, e.elements, e.memory_estimate
                )?;
            }
        }
    }
    Ok(())
}

/// The type an encoding name belongs to.
fn encoding_type(enc: &str) -> &'static str {
    match enc {
        "string" => "string",
        e if e.starts_with("list") || e.starts_with("quicklist") => "list",
        e if e.starts_with("set") => "set",
        e if e.starts_with("zset") => "zset",
        e if e.starts_with("hash") => "hash",
        e if e.starts_with("stream") => "stream",
        e if e.starts_with("module") => "module",
        "array" => "array",
        _ => "hash",
    }
}

fn human(n: u64) -> String {
    const U: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut f = n as f64;
    let mut i = 0;
    while f >= 1024.0 && i < U.len() - 1 {
        f /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{f:.1} {}", U[i])
    }
}

fn show_key(k: &[u8]) -> String {
    redsafe::error::escape_bytes(k)
}

fn totals_line(t: &Totals) -> String {
    format!(
        "{:>10} keys {:>9} expires {:>11} values {:>11} records {:>12} elements {:>11} memory (est.)",
        t.keys,
        t.expires,
        human(t.value_bytes),
        human(t.record_bytes),
        t.elements,
        human(t.memory_estimate)
    )
}

fn write_text(w: &mut dyn Write, args: &StatsArgs, st: &Stats) -> std::io::Result<()> {
    let hdr = st
        .header
        .map(|h| format!("{} RDB {}", h.dialect.name(), h.version))
        .unwrap_or_default();
    writeln!(
        w,
        "file: {} ({}, {})",
        args.path.display(),
        human(st.file_size),
        hdr
    )?;
    if !st.aux.is_empty() {
        let aux: Vec<String> = st
            .aux
            .iter()
            .map(|(k, v)| format!("{}={}", show_key(k), show_key(v)))
            .collect();
        writeln!(w, "aux: {}", aux.join(", "))?;
    }
    writeln!(
        w,
        "checksum: {}",
        match st.checksum_ok {
            Some(true) => "OK",
            Some(false) => "MISMATCH",
            None => "none",
        }
    )?;
    writeln!(w, "total: {}", totals_line(&st.totals))?;
    if st.filtered_out > 0 {
        writeln!(
            w,
            "       ({} keys left out by the key selection)",
            st.filtered_out
        )?;
    }
    writeln!(w, "\nby database:")?;
    for (db, d) in &st.dbs {
        writeln!(w, "  db {db:<4} {}", totals_line(&d.totals))?;
    }
    writeln!(w, "\nby type:")?;
    for (ty, t) in &st.by_type {
        writeln!(w, "  {ty:<8} {}", totals_line(t))?;
    }
    writeln!(w, "\nby encoding:")?;
    for (enc, t) in &st.by_encoding {
        writeln!(w, "  {enc:<18} {}", totals_line(t))?;
    }
    let e = &st.expiry;
    writeln!(
        w,
        "\nexpiry: none {}, expired {}, <1h {}, <1d {}, <7d {}, <30d {}, <1y {}, later {}",
        e.none, e.expired, e.under_1h, e.under_1d, e.under_7d, e.under_30d, e.under_1y, e.later
    )?;
    for (title, list) in [
        ("by serialized size", &st.top_by_size),
        ("by element count", &st.top_by_elements),
    ] {
        if list.is_empty() {
            continue;
        }
        writeln!(w, "\nbiggest keys {title}:")?;
        for (i, k) in list.iter().enumerate() {
            writeln!(
                w,
                "  {:>3}. db {} \"{}\" {} ({}) {} serialized, {} elements, ~{} in memory",
                i + 1,
                k.db,
                show_key(&k.key),
                k.ty.name(),
                k.encoding,
                human(k.value_bytes),
                k.elements,
                human(k.memory_estimate)
            )?;
        }
    }
    if let Some(p) = &st.prefixes {
        writeln!(
            w,
            "\nby prefix (separator \"{}\", depth {}):",
            show_key(&p.separator),
            p.depth
        )?;
        for item in p.items.iter().take(args.top.max(1)) {
            writeln!(
                w,
                "  {:<30} {}",
                format!("\"{}\"", show_key(&item.prefix)),
                totals_line(&item.totals)
            )?;
        }
        if p.items.len() > args.top.max(1) {
            writeln!(
                w,
                "  ... {} more prefixes (--format json lists them all)",
                p.items.len() - args.top.max(1)
            )?;
        }
        if p.overflow_keys > 0 {
            writeln!(
                w,
                "  (more than {} distinct prefixes: {} keys summed as other) {}",
                p.limit,
                p.overflow_keys,
                totals_line(&p.other)
            )?;
        }
    }
    if !st.functions.is_empty() {
        writeln!(w, "\nfunctions:")?;
        for f in &st.functions {
            writeln!(
                w,
                "  {} ({}, {} bytes)",
                show_key(&f.library),
                show_key(&f.engine),
                f.bytes
            )?;
        }
    }
    if !st.modules.is_empty() {
        let m: Vec<&str> = st.modules.iter().map(|s| s.as_str()).collect();
        writeln!(w, "\nmodules: {}", m.join(", "))?;
    }
    Ok(())
}
