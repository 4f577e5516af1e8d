//! What every command that goes back in time shares: the `--at WHEN` / `--at-offset
//! FILE:OFFSET` arguments (one grammar, [`When::parse`]), the description of a cut (one text
//! and one JSON shape), and replaying a set up to a cut with a progress bar.

use anyhow::Result;
use clap::Args;
use serde_json::json;

use redsafe::aof::pitr::{CutPlan, CutReason, Target, When};
use redsafe::aof::AofSet;
use redsafe::keyspace::replay::{replay_set_with_progress, ReplayOptions, ReplayReport};
use redsafe::time::format_rfc3339;

use super::output::byte_progress;

/// The grammar of WHEN, for `after_help` texts (a macro so that `concat!` can add to it).
macro_rules! when_help {
    () => {
        "WHEN: unix seconds (1795364452), RFC 3339 (2026-11-22T10:42:16Z, \
2026-11-22T11:42:16+01:00), 'YYYY-MM-DD HH:MM:SS' (UTC), 'latest', or 'before:COMMAND' \
(just before the first FLUSHALL, say; before its MULTI when inside a transaction; \
before:FLUSHALL,FLUSHDB for the first of several). A time keeps everything stamped at or \
before it, exactly as redis-check-aof --truncate-to-timestamp cuts (at the first #TS: line \
after WHEN), but across every file of the set. --at-offset FILE:OFFSET cuts at a record \
boundary instead (file name or index in load order, 0 = BASE), for AOFs without timestamps."
    };
}
pub(crate) use when_help;

/// `--at WHEN` and `--at-offset FILE:OFFSET`.
#[derive(Debug, Clone, Default, Args)]
pub struct AtArgs {
    /// The restore point (WHEN: see below).
    #[arg(long, value_name = "WHEN")]
    pub at: Option<String>,
    /// Cut at an explicit record boundary instead: FILE:OFFSET (file name or index in load
    /// order, 0 = BASE), for AOFs without timestamps.
    #[arg(long, value_name = "FILE:OFFSET", conflicts_with = "at")]
    pub at_offset: Option<String>,
}

impl AtArgs {
    /// The target given, if any.
    pub fn target(&self) -> Result<Option<Target>> {
        parse_target(self.at.as_deref(), self.at_offset.as_deref())
    }
}

/// The one parser of `--at` / `--at-offset` values.
pub fn parse_target(at: Option<&str>, at_offset: Option<&str>) -> Result<Option<Target>> {
    Ok(match (at, at_offset) {
        (Some(w), _) => Some(Target::When(When::parse(w)?)),
        (None, Some(o)) => Some(Target::parse_offset(o)?),
        (None, None) => None,
    })
}

/// One line saying where and why a set is cut.
pub fn reason_text(plan: &CutPlan) -> String {
    match &plan.reason {
        None => "nothing cut: every file is kept whole".into(),
        Some(CutReason::Timestamp { stamp }) => format!(
            "cut at the first stamp after the target: #TS:{stamp} ({})",
            format_rfc3339(*stamp)
        ),
        Some(CutReason::Command {
            name,
            command_offset,
        }) => format!("cut just before {name} (command at offset {command_offset})"),
        Some(CutReason::Offset) => "cut at the given offset".into(),
        Some(CutReason::TruncatedTail) => {
            "cut at the end of the last complete record (the last file's tail is truncated)".into()
        }
    }
}

/// Adds the JSON fields describing a cut to the object `j`: the same fields in `restore`,
/// `compact` and `digest`.
pub fn add_cut_fields(j: &mut serde_json::Value, set: &AofSet, plan: &CutPlan) {
    let cut = plan.cut.map(|c| {
        json!({
            "file": set.parts.get(c.file).map(|p| p.name_lossy()),
            "index": c.file,
            "offset": c.offset,
        })
    });
    let v = json!({
        "target": plan.target,
        "cut": cut,
        "reason": plan.reason,
        "commands_kept": plan.commands_kept,
        "base_keys": plan.base_keys,
        "last_timestamp": plan.last_timestamp,
        "last_timestamp_utc": plan.last_timestamp.map(format_rfc3339),
        "first_timestamp": plan.first_timestamp,
        "base_time": plan.base_time,
        "bytes_kept": plan.bytes_kept(),
    });
    if let (Some(j), serde_json::Value::Object(m)) = (j.as_object_mut(), v) {
        j.extend(m);
    }
}

/// Replays `set` up to `target` with a progress bar (hidden when `quiet`, or not a terminal).
pub fn replay_shown(set: &AofSet, target: Option<Target>, quiet: bool) -> Result<ReplayReport> {
    let pb = byte_progress(set.total_size(), quiet);
    let opts = ReplayOptions {
        target,
        ..ReplayOptions::default()
    };
    let r = replay_set_with_progress(set, &opts, &mut |_, _| {}, &mut |d| pb.set_position(d))?;
    pb.finish_and_clear();
    Ok(r)
}

/// Notes on records redis-check-aof calls damage but Redis's loader, and the replay, went
/// past (a stray `EXEC`, a nested `MULTI`), one per file.
pub fn checker_only_notes(r: &ReplayReport) -> Vec<String> {
    r.checker_only_damage()
        .map(|(path, first, n)| {
            format!(
                "redis-check-aof calls {} damaged at offset {first} ({n} stray EXEC or nested MULTI); \
                 redis-server's loader refuses {} and goes on, and so did this replay \
                 (redis-check-aof --fix would cut the file there)",
                path.display(),
                if n == 1 { "it" } else { "them" }
            )
        })
        .collect()
}

/// Where and why a replayed set is damaged, for messages: the verdict, and the damaged file
/// with the error and its offset when known (as `check` reports them).
pub fn damage_summary(set: &redsafe::aof::SetReport) -> String {
    let verdict = set.verdict.name();
    let Some(f) = set.damaged_file() else {
        return verdict.to_string();
    };
    match (&f.rdb_error, &f.failure) {
        // The error names the file and the offset.
        (Some(e), _) | (None, Some(redsafe::aof::ReadFailure { error: e, .. })) => {
            format!("{verdict}: {e}")
        }
        (None, None) => format!(
            "{verdict}: {}: valid up to byte {}",
            f.path.display(),
            f.ok_up_to
        ),
    }
}
