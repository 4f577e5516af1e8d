//! `redsafe dump`: export an RDB file's keys as JSON lines, one JSON document, Redis
//! commands for `redis-cli --pipe`, or `RESTORE` commands with DUMP payloads.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use anyhow::Result;
use clap::{Args, ValueEnum};

use redsafe::export::atomic::AtomicFile;
use redsafe::export::json::{JsonLayout, JsonSink};
use redsafe::export::{export_rdb, EntrySink, ExportError, ExportSummary};
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
}

/// Arguments of `redsafe dump`.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit status: 0 ok, 1 the input is damaged, 2 usage or I/O error.\n\n\
Examples:\n  redsafe dump dump.rdb | jq .\n  \
redsafe dump dump.rdb --key 'user:*' --type hash -o users.jsonl"
)]
pub struct DumpArgs {
    /// The RDB file.
    pub path: PathBuf,
    /// Output format.
    #[arg(long, value_enum, default_value = "jsonl")]
    pub format: DumpFormat,
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
    let filter = args.filter.to_filter()?;
    let file = MappedFile::open(&args.path)?;
    let data = file.bytes();
    let opts = DecodeOptions { deep: args.strict };
    let (summary, failure) = match &args.output {
        Some(out) => {
            let mut f = AtomicFile::create(out, args.force)?;
            let r = run_to(&args, data, &filter, opts, &mut f, false);
            if r.1.is_none() {
                f.commit()?;
            }
            r
        }
        None => {
            let stdout = std::io::stdout();
            let quiet = stdout.is_terminal();
            let mut lock = stdout.lock();
            run_to(&args, data, &filter, opts, &mut lock, quiet)
        }
    };
    if let Some(e) = failure {
        return Err(match e {
            ExportError::Input(e) => anyhow::Error::new(e.in_file(&args.path)),
            ExportError::Output(io) => anyhow::Error::new(io).context("writing the output"),
        });
    }
    if summary.checksum_ok == Some(false) {
        eprintln!(
            "redsafe: {}: CRC-64 mismatch: the file is damaged; run `redsafe check` to locate the damage",
            args.path.display()
        );
        return Ok(EXIT_DAMAGED);
    }
    Ok(EXIT_OK)
}

fn run_to(
    args: &DumpArgs,
    data: &[u8],
    filter: &redsafe::filter::KeyFilter,
    opts: DecodeOptions,
    w: &mut dyn Write,
    quiet: bool,
) -> (ExportSummary, Option<ExportError>) {
    let pb = byte_progress(data.len() as u64, quiet);
    let layout = match args.format {
        DumpFormat::Jsonl => JsonLayout::Lines,
        DumpFormat::Json => JsonLayout::Document,
    };
    let mut sink = JsonSink::new(w, layout, opts);
    let r = export_with(data, filter, &mut sink, &pb);
    pb.finish_and_clear();
    match r {
        Ok(s) => (s, None),
        Err(e) => (ExportSummary::default(), Some(e)),
    }
}

fn export_with(
    data: &[u8],
    filter: &redsafe::filter::KeyFilter,
    sink: &mut dyn EntrySink,
    pb: &indicatif::ProgressBar,
) -> std::result::Result<ExportSummary, ExportError> {
    export_rdb(data, filter, sink, &mut |off| pb.set_position(off))
}
