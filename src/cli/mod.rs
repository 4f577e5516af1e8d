//! Command-line interface: one module per subcommand, each with clap-derive `Args` and a
//! `run` that returns the exit code (0 ok, 1 input damaged, 2 usage or I/O error).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod args;
mod backups;
mod check;
mod compact;
mod convert;
mod diff;
mod digest;
mod dump;
mod filter;
mod filter_aof;
mod fix;
mod output;
mod restore;
mod s3args;
mod salvage;
mod ship;
mod stats;
mod timeline;
mod timetravel;
mod transform;

/// redsafe: check, repair, filter and restore Redis and Valkey RDB and AOF files.
#[derive(Debug, Parser)]
#[command(name = "redsafe", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check an RDB file, an AOF file, an AOF directory or a manifest; report the first damage.
    Check(check::CheckArgs),
    /// Export an RDB file's keys as JSON lines, JSON, Redis commands or RESTORE payloads.
    Dump(dump::DumpArgs),
    /// Write a new RDB with a subset of the keys (by db, key glob, type, size, expiry),
    /// optionally moving databases.
    Filter(filter::FilterArgs),
    /// Rewrite an RDB for another RDB version (Redis 1-14) or dialect (Valkey 80).
    Convert(convert::ConvertArgs),
    /// Repair an AOF (file, directory or manifest): cut a damaged tail as redis-check-aof
    /// --fix, cut at a point in time across all files, or salvage damaged regions.
    Fix(fix::FixArgs),
    /// Recover every decodable key of a damaged RDB into a valid RDB; report what was lost.
    Salvage(salvage::SalvageArgs),
    /// What is in an RDB file: keys and bytes per db, type and encoding, expiries, the
    /// biggest keys, prefixes, functions and modules.
    Stats(stats::StatsArgs),
    /// Point-in-time restore of an AOF, or of `redsafe ship` backups (s3://BUCKET/PREFIX),
    /// into a new, loadable data directory (--at WHEN).
    Restore(restore::RestoreArgs),
    /// What happened when in an AOF: activity per second, dangerous commands, a key's history.
    Timeline(timeline::TimelineArgs),
    /// Compare two RDB files: keys only in A, only in B, changed (type, value, expiry), and
    /// which file is newer; or the commands that turn A into B.
    Diff(diff::DiffArgs),
    Compact(compact::CompactArgs),
    Digest(digest::DigestArgs),
    /// Ship a Redis data directory to S3 (or a directory): full sets plus AOF segments.
    Ship(ship::ShipArgs),
    /// List, verify or prune backups in s3://BUCKET/PREFIX (or a directory).
    Backups(backups::BackupsArgs),
}

/// Exit code: success.
pub const EXIT_OK: u8 = 0;
/// Exit code: the input is damaged.
pub const EXIT_DAMAGED: u8 = 1;
/// Exit code: usage or I/O error.
pub const EXIT_ERROR: u8 = 2;

/// Parses arguments, runs the subcommand and maps errors to exit codes.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if !matches!(cli.command, Command::Ship(_)) {
        // `ship` stops gracefully on these signals itself.
        remove_temporaries_on_signal();
    }
    let result = match cli.command {
        Command::Check(a) => check::run(a),
        Command::Dump(a) => dump::run(a),
        Command::Stats(a) => stats::run(a),
        Command::Diff(a) => diff::run(a),
        Command::Compact(a) => compact::run(a),
        Command::Digest(a) => digest::run(a),
        Command::Filter(a) => filter::run(a),
        Command::Convert(a) => convert::run(a),
        Command::Salvage(a) => salvage::run(a),
        Command::Restore(a) => restore::run(a),
        Command::Timeline(a) => timeline::run(a),
        Command::Fix(a) => fix::run(a),
        Command::Ship(a) => ship::run(a),
        Command::Backups(a) => backups::run(a),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::from(EXIT_OK);
            }
            match remedy_of(&e) {
                Some(r) => eprintln!("redsafe: {e:#} ({})", remedy_hint(r)),
                None => eprintln!("redsafe: {e:#}"),
            }
            let damaged = e
                .downcast_ref::<redsafe::Error>()
                .is_some_and(|e| e.is_damage());
            ExitCode::from(if damaged { EXIT_DAMAGED } else { EXIT_ERROR })
        }
    }
}

/// On SIGINT, SIGTERM or SIGHUP: removes the temporary outputs being written (nothing
/// half-written is left beside an output) and exits with 128 + the signal's number, as the
/// default action would.
fn remove_temporaries_on_signal() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        return;
    };
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            redsafe::fsutil::remove_live_temporaries();
            std::process::exit(128 + sig);
        }
    });
}

/// How to ask on the command line for what a library error names as its way out.
pub(crate) fn remedy_hint(r: redsafe::Remedy) -> &'static str {
    use redsafe::Remedy;
    match r {
        Remedy::Replace => "use --force to replace it",
        Remedy::Lossy => "use --lossy to drop what the target cannot hold",
        Remedy::Salvage => "use --salvage to skip the damaged region and keep what follows it",
        Remedy::AllowGap => "--allow-gap restores up to the gap",
        Remedy::SplitMultiKey => "use --split-multikey to keep only the kept keys",
        Remedy::Repair => "repair it with redsafe fix",
        Remedy::OtherRestorePoint => {
            "use --at latest, --at before:COMMAND or --at-offset FILE:OFFSET"
        }
        Remedy::RepairBySalvage => "redsafe fix --salvage drops just that record",
        _ => "see --help",
    }
}

/// The remedy a library error in `e`'s chain names, if any.
fn remedy_of(e: &anyhow::Error) -> Option<redsafe::Remedy> {
    e.chain().find_map(|c| {
        c.downcast_ref::<redsafe::Error>()
            .and_then(|x| x.remedy())
            .or_else(|| {
                c.downcast_ref::<redsafe::backup::restore::RestoreError>()
                    .and_then(|x| x.remedy())
            })
    })
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
