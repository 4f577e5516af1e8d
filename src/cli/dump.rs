//! `redsafe dump`: export an RDB file's keys as JSON lines, one JSON document, Redis
//! commands for `redis-cli --pipe`, or `RESTORE` commands with DUMP payloads.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::{Args, ValueEnum};

use redsafe::export::json::{JsonLayout, JsonSink};
use redsafe::export::resp::{RespMode, RespOptions, RespReport, RespSink};
use redsafe::export::{export_rdb, EntrySink, ExportError, ExportSummary};
use redsafe::filter::KeyFilter;
use redsafe::fsutil::AtomicFile;
use redsafe::mmap::MappedFile;
use redsafe::rdb::DecodeOptions;

use super::args::KeyFilterArgs;
use super::output::byte_progress;
use super::{EXIT_DAMAGED, EXIT_OK};

/// Output formats of `redsafe dump`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DumpFormat {
    /// One JSON object per key, one per line.
    Jsonl,
    /// One JSON document holding every key, the AUX fields and the functions.
    Json,
    /// Redis commands (RESP) that rebuild the keys, for `redis-cli --pipe`.
    Resp,
}

/// Arguments of `redsafe dump`.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit status: 0 ok, 1 the input is damaged, 2 usage or I/O error.\n\n\
Examples:\n  redsafe dump dump.rdb | jq .\n  \
redsafe dump dump.rdb --key 'user:*' --type hash -o users.jsonl\n  \
redsafe dump dump.rdb --format resp | redis-cli --pipe\n  \
# put back one key from last night's backup into a live server:\n  \
redsafe dump backup.rdb --restore --replace --key 'user:42' | redis-cli --pipe"
)]
pub struct DumpArgs {
    /// The RDB file.
    pub path: PathBuf,
    /// Output format (default jsonl; resp with --restore).
    #[arg(long, value_enum)]
    pub format: Option<DumpFormat>,
    /// Emit `RESTORE key ttl payload ABSTTL` commands with DUMP payloads copied from the
    /// file's bytes (exact, including stream PELs and module values) instead of commands
    /// that rebuild values.
    #[arg(long)]
    pub restore: bool,
    /// Replace existing keys on the target (DEL before rebuilding; RESTORE … REPLACE;
    /// FUNCTION LOAD REPLACE).
    #[arg(long)]
    pub replace: bool,
    /// The RDB version of the target server (e.g. 9 for Redis 5/6, 10 for 7.0, 11 for 7.2).
    /// With --restore, values whose encoding the target knows are relabelled, others are
    /// re-encoded for it (as `redsafe convert`), and values it cannot hold at all are
    /// refused; with --format resp, stream options older servers lack (ENTRIESREAD,
    /// ENTRIESADDED, MAXDELETEDID) are left out below 10.
    #[arg(long, value_name = "N")]
    pub target_version: Option<u32>,
    /// Also write keys whose expiry has passed (without their expiry); by default they are
    /// skipped in resp output.
    #[arg(long)]
    pub keep_expired: bool,
    /// Maximum elements per command when splitting big collections.
    #[arg(long, value_name = "N", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    pub batch: u32,
    /// Do not emit FUNCTION LOAD for the file's function libraries (they are emitted by
    /// default when no key selection is given).
    #[arg(long)]
    pub no_functions: bool,
    /// Write to this file (atomically) instead of standard output.
    #[arg(short, long, value_name = "OUT")]
    pub output: Option<PathBuf>,
    /// Overwrite OUT if it exists.
    #[arg(long)]
    pub force: bool,
    /// Validate values as strictly as `redsafe check` (duplicates, ordering) while dumping.
    #[arg(long)]
    pub strict: bool,
    /// Key selection.
    #[command(flatten)]
    pub filter: KeyFilterArgs,
}

/// Runs `redsafe dump`.
pub fn run(args: DumpArgs) -> Result<u8> {
    let format = match (args.format, args.restore) {
        (None, false) => DumpFormat::Jsonl,
        (None | Some(DumpFormat::Resp), true) => DumpFormat::Resp,
        (Some(f), false) => f,
        (Some(_), true) => {
            bail!("--restore writes RESP commands: use it with --format resp or alone")
        }
    };
    if format != DumpFormat::Resp
        && (args.replace || args.keep_expired || args.no_functions || args.target_version.is_some())
    {
        bail!(
            "--replace, --keep-expired, --no-functions and --target-version apply to --format resp and --restore"
        );
    }
    let filter = args.filter.to_filter()?;
    let file = MappedFile::open(&args.path)?;
    let data = file.bytes();
    let (summary, report, failure) = match &args.output {
        Some(out) => {
            super::output::prepare_output_from(out, &args.path)?;
            let mut f = AtomicFile::create(out, args.force)?;
            let r = run_to(&args, format, data, &filter, &mut f, false);
            if r.2.is_none() {
                f.commit()?;
            }
            r
        }
        None => {
            let stdout = std::io::stdout();
            let quiet = stdout.is_terminal();
            let mut lock = stdout.lock();
            run_to(&args, format, data, &filter, &mut lock, quiet)
        }
    };
    if let Some(e) = failure {
        return Err(match e {
            ExportError::Input(e) => anyhow::Error::new(e.in_file(&args.path)),
            ExportError::Output(io) => anyhow::Error::new(io).context("writing the output"),
        });
    }
    if let Some(r) = report {
        print_notes(&r);
    }
    if summary.checksum_ok == Some(false) {
        let e = summary
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

fn print_notes(r: &RespReport) {
    let notes = [
        (
            r.expired_skipped,
            "keys skipped because their expiry has passed (--keep-expired writes them)",
        ),
        (
            r.expiry_dropped,
            "expired keys written without their expiry (--keep-expired)",
        ),
        (
            r.module_values_restored,
            "module values written as RESTORE (they have no command form)",
        ),
        (
            r.nacked_skipped,
            "pending entries without an owner (NACK zone) skipped",
        ),
        (
            r.idmp_skipped,
            "streams with IDMP state: the state was not written",
        ),
        (
            r.empty_entries_skipped,
            "stream entries without fields skipped",
        ),
        (
            r.pre_ga_functions_skipped,
            "functions of a 7.0 release candidate skipped",
        ),
        (
            r.oversized_arguments,
            "arguments over 512 MB (raise proto-max-bulk-len on the target)",
        ),
    ];
    for (n, what) in notes {
        if n > 0 {
            eprintln!("redsafe: note: {n} {what}");
        }
    }
}

type RunResult = (ExportSummary, Option<RespReport>, Option<ExportError>);

fn run_to(
    args: &DumpArgs,
    format: DumpFormat,
    data: &[u8],
    filter: &KeyFilter,
    w: &mut dyn Write,
    quiet: bool,
) -> RunResult {
    let pb = byte_progress(data.len() as u64, quiet);
    let decode = DecodeOptions { deep: args.strict };
    let mut progress = |off| pb.set_position(off);
    let (r, report) = match format {
        DumpFormat::Jsonl | DumpFormat::Json => {
            let layout = if format == DumpFormat::Jsonl {
                JsonLayout::Lines
            } else {
                JsonLayout::Document
            };
            let mut sink = JsonSink::new(w, layout, decode);
            (export_rdb(data, filter, &mut sink, &mut progress), None)
        }
        DumpFormat::Resp => {
            let opts = RespOptions {
                mode: if args.restore {
                    RespMode::Restore
                } else {
                    RespMode::Commands
                },
                replace: args.replace,
                keep_expired: args.keep_expired,
                functions: !args.no_functions && filter.is_pass_all(),
                batch_elems: args.batch as usize,
                target_version: args.target_version,
                now_ms: filter.now_ms,
                decode,
                ..RespOptions::default()
            };
            let mut sink = RespSink::new(w, opts);
            let r = export_rdb(data, filter, &mut sink as &mut dyn EntrySink, &mut progress);
            (r, Some(sink.report))
        }
    };
    pb.finish_and_clear();
    match r {
        Ok(s) => (s, report, None),
        Err(e) => (ExportSummary::default(), report, Some(e)),
    }
}
