//! Running an RDB transform (`filter`, `convert`): into an atomic output (or nowhere, for a
//! dry run), with progress, and its report as text or JSON.

use std::io::Write;
use std::path::Path;

use anyhow::{bail, Result};
use serde_json::json;

use redsafe::fsutil::AtomicFile;
use redsafe::mmap::MappedFile;
use redsafe::rdb::transform::{
    transform_pipelined, transform_seekable, KeyEvent, NullSink, TransformOptions, TransformReport,
};

use super::output::outln;
use super::output::{byte_progress, bytes_json};
use super::EXIT_OK;

/// Runs a transform into an atomic output (or nowhere).
pub fn run_transform(
    cmd: &str,
    input: &Path,
    output: Option<&Path>,
    dry_run: bool,
    json: bool,
    force: bool,
    opts: &TransformOptions,
) -> Result<u8> {
    let file = MappedFile::open(input)?;
    let data = file.bytes();
    let pb = byte_progress(data.len() as u64, json || dry_run);
    let mut events: Vec<KeyEvent> = Vec::new();
    let mut lines = std::io::stdout().lock();
    let mut print_err: Option<std::io::Error> = None;
    let mut on_key = |e: &KeyEvent| {
        if !dry_run {
            return;
        }
        if json {
            events.push(e.clone());
        } else if print_err.is_none() {
            let mut l = format!("{:<15} db {}", e.action, e.db);
            if e.out_db != e.db {
                l.push_str(&format!("->{}", e.out_db));
            }
            l.push_str(&format!(
                " {:<6} \"{}\"",
                e.ty.name(),
                redsafe::error::escape_bytes(&e.key)
            ));
            if let Some(n) = &e.note {
                l.push_str(&format!(" ({n})"));
            }
            if let Err(err) = writeln!(lines, "{l}") {
                print_err = Some(err);
            }
        }
    };
    let result: Result<TransformReport> = if dry_run {
        transform_seekable(data, NullSink, opts, Some(&mut on_key), &mut |d| {
            pb.set_position(d)
        })
        .map(|(r, _)| r)
        .map_err(|e| anyhow::Error::new(e.in_file(input)))
    } else {
        let Some(out) = output else {
            bail!("--output is required")
        };
        super::output::prepare_output_from(out, input)?;
        let mut af = AtomicFile::create(out, force)?;
        // A second thread does the writing while this one parses; kept records go from the
        // input map to the file without a copy. The kernel's writeback is started as the
        // file grows, so the fsync of the commit has little left to do.
        match transform_pipelined(
            data,
            af.file(),
            opts,
            &mut |d| pb.set_position(d),
            start_writeback,
        ) {
            Ok((r, _)) => {
                af.commit()?;
                Ok(r)
            }
            // I/O errors come from writing (the input is mapped).
            Err(e) if matches!(e.kind(), redsafe::error::ErrorKind::Io(_)) => {
                Err(anyhow::Error::new(e.in_file(out)))
            }
            Err(e) => Err(anyhow::Error::new(e.in_file(input))),
        }
    };
    pb.finish_and_clear();
    if let Some(e) = print_err {
        return Err(e.into());
    }
    let rep = result?;
    if json {
        let mut o = report_json(&rep);
        o["command"] = json!(cmd);
        o["input"] = json!(input.display().to_string());
        o["output"] = json!(output.map(|p| p.display().to_string()));
        o["dry_run"] = json!(dry_run);
        if dry_run {
            o["keys"] = events
                .iter()
                .map(|e| {
                    let mut k = serde_json::to_value(e).unwrap_or_default();
                    k["key"] = bytes_json(&e.key);
                    k["type"] = json!(e.ty.name());
                    k
                })
                .collect();
        }
        outln!("{}", serde_json::to_string_pretty(&o)?);
    } else {
        print_report(&rep, input, output, dry_run)?;
    }
    Ok(EXIT_OK)
}

/// The writeback hook of `transform_pipelined` for a file output.
fn start_writeback(f: &mut &mut std::fs::File, offset: u64, len: u64) {
    redsafe::fsutil::start_writeback(f, offset, len);
}

fn report_json(r: &TransformReport) -> serde_json::Value {
    json!({
        "ok": true,
        "input_format": r.input.map(|h| json!({"dialect": h.dialect.name(), "version": h.version})),
        "output_format": r.output.map(|h| json!({"dialect": h.dialect.name(), "version": h.version})),
        "keys_in": r.keys_in,
        "keys_written": r.keys_written,
        "keys_filtered_out": r.keys_filtered_out,
        "values_copied": r.values_copied,
        "values_reencoded": r.values_reencoded,
        "empty_skipped": r.empty_skipped,
        "dbs": r.dbs,
        "losses": r.losses.iter().map(|l| json!({"db": l.db, "key": if l.key.is_empty() { serde_json::Value::Null } else { bytes_json(&l.key) }, "what": l.what, "key_written": l.key_written})).collect::<Vec<_>>(),
        "notes": r.notes,
        "bytes_in": r.bytes_in,
        "bytes_out": r.bytes_out,
    })
}

fn print_report(
    r: &TransformReport,
    input: &Path,
    output: Option<&Path>,
    dry_run: bool,
) -> Result<()> {
    let fmt = |h: Option<redsafe::rdb::Header>| {
        h.map(|h| format!("{} RDB {}", h.dialect.name(), h.version))
            .unwrap_or_default()
    };
    outln!(
        "input: {} ({}, {} bytes)",
        input.display(),
        fmt(r.input),
        r.bytes_in
    );
    match (dry_run, output) {
        (true, _) => outln!(
            "dry run: nothing written ({} would be {})",
            fmt(r.output),
            r.bytes_out
        ),
        (false, Some(o)) => outln!(
            "output: {} ({}, {} bytes)",
            o.display(),
            fmt(r.output),
            r.bytes_out
        ),
        _ => {}
    }
    for (db, c) in &r.dbs {
        outln!("db {db}: {} kept, {} dropped", c.kept, c.dropped);
    }
    outln!(
        "keys: {} read, {} written ({} copied, {} re-encoded), {} filtered out",
        r.keys_in,
        r.keys_written,
        r.values_copied,
        r.values_reencoded,
        r.keys_filtered_out
    );
    if r.empty_skipped > 0 {
        outln!(
            "empty collections not written (Redis skips them on load): {}",
            r.empty_skipped
        );
    }
    for n in &r.notes {
        outln!("note: {n}");
    }
    for l in &r.losses {
        if l.key.is_empty() {
            outln!("lost: {}", l.what);
        } else {
            outln!(
                "lost: db {} key \"{}\": {}",
                l.db.unwrap_or(0),
                redsafe::error::escape_bytes(&l.key),
                l.what
            );
        }
    }
    Ok(())
}
