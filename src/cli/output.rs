//! Shared output helpers: progress bars (only on a terminal, never with `--json`), JSON
//! rendering of library errors, and printing to standard output without panicking.

use std::io::{IsTerminal, Write};
use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};
use redsafe::fsutil::Inputs;
use serde_json::{json, Value};

/// A byte progress bar on stderr, hidden when stderr is not a terminal or `quiet` is set.
pub fn byte_progress(total: u64, quiet: bool) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(total);
    pb.set_style(
        ProgressStyle::with_template("{spinner} {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb
}

/// Bytes as a JSON string when valid UTF-8, otherwise `{"hex": "..."}`.
pub fn bytes_json(b: &[u8]) -> Value {
    match std::str::from_utf8(b) {
        Ok(s) => Value::String(s.to_string()),
        Err(_) => json!({ "hex": hex(b) }),
    }
}

/// Lower-case hex.
pub fn hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 2);
    for c in b {
        s.push_str(&format!("{c:02x}"));
    }
    s
}

/// A library error as JSON: file, offset, message, db, key (`null` when no key was being
/// read), context.
pub fn error_json(e: &redsafe::Error) -> Value {
    let mut o = json!({
        "message": e.message(),
        "display": e.to_string(),
        "key": Value::Null,
    });
    if let Some(f) = e.file() {
        o["file"] = json!(f.display().to_string());
    }
    if let Some(off) = e.offset() {
        o["offset"] = json!(off);
    }
    if let Some(db) = e.db() {
        o["db"] = json!(db);
    }
    if let Some(k) = e.key() {
        o["key"] = bytes_json(k);
    }
    if let Some(c) = e.context() {
        o["context"] = json!(c);
    }
    if let Some(r) = e.remedy() {
        o["hint"] = json!(crate::cli::remedy_hint(r));
    }
    o
}

/// Checks `out` against the command's inputs (an output is never an input, never holds one
/// and never lies inside an input directory, whatever `--force` says), then removes the
/// temporary outputs a killed run left beside `out` ([`remove_stale`]).
pub fn prepare_output(out: &Path, inputs: &Inputs) -> redsafe::Result<()> {
    inputs.check_output(out)?;
    remove_stale(out);
    Ok(())
}

/// [`prepare_output`] for an output written from one input file.
pub fn prepare_output_from(out: &Path, input: &Path) -> redsafe::Result<()> {
    prepare_output(out, Inputs::new().file(input))
}

/// Removes the temporary outputs of `out` that a killed run left beside it, saying so on
/// stderr.
pub fn remove_stale(out: &Path) {
    for s in redsafe::fsutil::remove_stale_temporaries(out) {
        eprintln!(
            "redsafe: removed {}, left by an interrupted run (process {})",
            s.path.display(),
            s.pid
        );
    }
}

/// Like `println!`, but a failed write to standard output (a full disk, a closed pipe) is
/// returned from the enclosing function (`?`) as an error instead of a panic.
macro_rules! outln {
    () => {
        $crate::cli::output::print_line(format_args!(""))?
    };
    ($($arg:tt)*) => {
        $crate::cli::output::print_line(format_args!($($arg)*))?
    };
}
pub(crate) use outln;

/// Writes one line to standard output; see [`outln!`].
pub fn print_line(args: std::fmt::Arguments<'_>) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_fmt(args)
        .and_then(|()| out.write_all(b"\n"))
        .map_err(stdout_error)
}

/// An error writing to standard output, saying so.
pub fn stdout_error(e: std::io::Error) -> anyhow::Error {
    anyhow::Error::new(e).context("writing to standard output")
}
