//! Restore planning: a pure function from a [`Catalog`] and a target to the set and segments
//! to fetch (litestream's `CalcRestorePlan`). No I/O; the executor is [`super::restore`].

use serde::Serialize;

use super::catalog::{Catalog, ChainBreak, SegmentEntry, SetManifest};
use super::layout::SetName;
use crate::time::format_rfc3339;

/// What to restore to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "time")]
pub enum Target {
    /// The newest state the backups hold.
    Latest,
    /// Everything stamped at or before this unix second.
    At(i64),
}

/// A restore plan.
#[derive(Debug, Clone, Serialize)]
pub struct RestorePlan {
    /// The set to start from.
    #[serde(serialize_with = "ser_set")]
    pub set: SetName,
    /// Its manifest.
    #[serde(skip)]
    pub manifest: SetManifest,
    /// Segments that continue the set contiguously, in order. With [`Target::At`] the executor
    /// stops at the first `#TS` later than the target, so trailing segments may go unused.
    #[serde(serialize_with = "ser_segs")]
    pub segments: Vec<SegmentEntry>,
    /// The target.
    pub target: Target,
    /// False when the set cannot be cut at the target (an RDB-only set restores its own time).
    pub exact: bool,
    /// The first missing byte range after the last usable segment, if the chain has a gap.
    pub gap: Option<String>,
    /// Ship's record that the chain broke with bytes never shipped, if any.
    pub chain_break: Option<ChainBreak>,
}

fn ser_set<S: serde::Serializer>(s: &SetName, ser: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeMap;
    let mut m = ser.serialize_map(Some(3))?;
    m.serialize_entry("id", &s.id)?;
    m.serialize_entry("time", &s.time)?;
    m.serialize_entry("time_utc", &format_rfc3339(s.time))?;
    m.end()
}

fn ser_segs<S: serde::Serializer>(v: &[SegmentEntry], ser: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut q = ser.serialize_seq(Some(v.len()))?;
    for s in v {
        q.serialize_element(&serde_json::json!({
            "key": s.name.key(), "incr_seq": s.name.incr_seq, "start": s.name.start,
            "end": s.name.end, "stored_size": s.stored_size,
        }))?;
    }
    q.end()
}

/// Why no plan exists.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// The prefix has no complete set.
    #[error("no complete backup set in this location")]
    NoSets,
    /// A set the plan could have used has a manifest that is damaged or unsafe
    /// ([`SetManifest::check_names`]): the backup was tampered with or is corrupt, and falling
    /// back to an older set would silently restore older data.
    #[error("backup set {set} is damaged or was tampered with: {error} (refusing to restore an older set in its place)")]
    Damaged {
        /// The set id.
        set: String,
        /// What is wrong with its manifest (names the key and the field).
        error: String,
    },
    /// Every set starts after the target.
    #[error("no backup set covers {} ({}): the oldest set starts at {} ({})", format_rfc3339(*.when), .when, format_rfc3339(*.oldest), .oldest)]
    TooEarly {
        /// The target.
        when: i64,
        /// Where the oldest set starts.
        oldest: i64,
    },
}

impl PlanError {
    /// True when the backup is damaged ([`PlanError::Damaged`]).
    pub fn is_damage(&self) -> bool {
        matches!(self, PlanError::Damaged { .. })
    }
}

/// [`PlanError::Damaged`] when a set newer than `than` (any set with `None`) has a damaged
/// manifest ([`Catalog::damaged_newer_than`]): a restore choosing `than` (or nothing) might be
/// passing over the right set.
pub fn refuse_damaged_newer(cat: &Catalog, than: Option<&SetName>) -> Result<(), PlanError> {
    match cat.damaged_newer_than(than) {
        Some(s) => Err(PlanError::Damaged {
            set: s.name.id.clone(),
            error: s.manifest_error.clone().unwrap_or_default(),
        }),
        None => Ok(()),
    }
}

/// Picks the set and segments for `target`:
/// - `Latest`: the newest complete set and all segments that continue it;
/// - `At(t)`: the newest complete set whose data starts at or before `t` (its AOF base time):
///   if it was taken after `t` the restore cuts inside its files, otherwise its segments
///   reach forward to `t`. RDB-only sets start at their snapshot time.
///
/// Segments are taken while they continue the chain: same INCR file and `start` equal to the
/// previous end, or a later INCR file from offset 0 (a rollover after a rewrite). A gap stops
/// the chain and is reported in [`RestorePlan::gap`].
///
/// A set with a damaged manifest newer than the chosen one (or any, when none is chosen) is
/// [`PlanError::Damaged`]: it might have been the right set.
pub fn plan_restore(cat: &Catalog, target: Target) -> Result<RestorePlan, PlanError> {
    let sets: Vec<_> = cat.complete_sets().collect();
    if sets.is_empty() {
        refuse_damaged_newer(cat, None)?;
        return Err(PlanError::NoSets);
    }
    let chosen = match target {
        Target::Latest => sets.last().copied(),
        // A set holds every command from its base on, so any set whose data starts at or
        // before `t` can be cut at `t`; the newest needs the fewest segments, and its own
        // files already cover the time between an older set's last segment and its snapshot.
        Target::At(t) => sets
            .iter()
            .rev()
            .find(|(_, m)| m.start_time() <= t)
            .copied(),
    };
    refuse_damaged_newer(cat, chosen.map(|(e, _)| &e.name))?;
    let Some((entry, manifest)) = chosen else {
        let oldest = sets.iter().map(|(_, m)| m.start_time()).min().unwrap_or(0);
        let Target::At(when) = target else {
            return Err(PlanError::NoSets);
        };
        return Err(PlanError::TooEarly { when, oldest });
    };
    let (segments, gap) = chain(manifest, cat.segments_of(&entry.name.id));
    let exact = manifest.aof.is_some();
    Ok(RestorePlan {
        set: entry.name.clone(),
        manifest: manifest.clone(),
        segments,
        target,
        exact,
        gap,
        chain_break: cat.chain_break_of(&entry.name.id).cloned(),
    })
}

/// The plan restoring one given set to the newest state its segments reach (used by
/// `backups verify`); `None` when the set is missing or incomplete.
pub fn plan_for_set(cat: &Catalog, set_id: &str) -> Option<RestorePlan> {
    let (entry, m) = cat.complete_sets().find(|(s, _)| s.name.id == set_id)?;
    let (segments, gap) = chain(m, cat.segments_of(set_id));
    Some(RestorePlan {
        set: entry.name.clone(),
        manifest: m.clone(),
        segments,
        target: Target::Latest,
        exact: m.aof.is_some(),
        gap,
        chain_break: cat.chain_break_of(set_id).cloned(),
    })
}

/// The contiguous segments continuing a set, and the first gap if any.
pub fn chain(m: &SetManifest, segs: &[SegmentEntry]) -> (Vec<SegmentEntry>, Option<String>) {
    let Some(aof) = &m.aof else {
        return (vec![], None);
    };
    let Some(mut seq) = aof.last_incr_seq else {
        return (vec![], None);
    };
    let mut off = aof.last_incr_size;
    let mut out = Vec::new();
    for s in segs {
        let n = &s.name;
        if n.incr_seq == seq && n.start == off {
            off = n.end;
        } else if n.incr_seq > seq && n.start == 0 {
            seq = n.incr_seq;
            off = n.end;
        } else if n.incr_seq < seq || (n.incr_seq == seq && n.end <= off) {
            continue; // already covered by the set or an earlier segment
        } else {
            let gap = if n.incr_seq == seq {
                format!(
                    "INCR seq {seq} bytes {off}..{} (next segment {})",
                    n.start,
                    n.key()
                )
            } else {
                format!(
                    "INCR seq {} bytes 0..{} (next segment {})",
                    n.incr_seq,
                    n.start,
                    n.key()
                )
            };
            return (out, Some(gap));
        }
        out.push(s.clone());
    }
    (out, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::catalog::{AofInfo, SetEntry, SET_FORMAT};
    use crate::backup::layout::SegmentName;

    fn manifest(id: &str, time: i64, base: i64, seq: u64, size: u64) -> SetManifest {
        SetManifest {
            format: SET_FORMAT.into(),
            set_id: id.into(),
            created_at: time,
            created_at_utc: format_rfc3339(time),
            redis_version: None,
            compression: "zstd".into(),
            zstd_level: 3,
            first_ts: Some(base),
            last_ts: Some(time),
            aof: Some(AofInfo {
                dir: "appendonlydir".into(),
                manifest: "appendonly.aof.manifest".into(),
                prefix: "appendonly.aof".into(),
                base_time: Some(base),
                last_incr_seq: Some(seq),
                last_incr_size: size,
            }),
            rdb: None,
            files: vec![],
        }
    }

    fn cat(sets: Vec<(SetManifest, bool)>, segs: Vec<(&str, u64, u64, u64)>) -> Catalog {
        let mut c = Catalog::default();
        for (m, complete) in sets {
            c.sets.push(SetEntry {
                name: SetName {
                    time: m.created_at,
                    id: m.set_id.clone(),
                },
                manifest: complete.then_some(m),
                manifest_error: None,
                objects: vec![],
            });
        }
        for (id, seq, a, b) in segs {
            c.segments.entry(id.into()).or_default().push(SegmentEntry {
                name: SegmentName {
                    set_id: id.into(),
                    incr_seq: seq,
                    start: a,
                    end: b,
                },
                stored_size: 1,
                modified: None,
            });
        }
        c
    }

    #[test]
    fn picks_newest_set_at_or_before_target() {
        let c = cat(
            vec![
                (manifest("a", 100, 50, 1, 10), true),
                (manifest("b", 200, 150, 2, 0), true),
                (manifest("c", 300, 250, 3, 0), false),
            ],
            vec![("a", 1, 10, 20), ("a", 1, 20, 30), ("b", 2, 0, 5)],
        );
        // b's base is at 150: times before it need a (with its segments).
        let p = plan_restore(&c, Target::At(149)).unwrap();
        assert_eq!(p.set.id, "a");
        assert_eq!(p.segments.len(), 2);
        // From b's base on, b is used, cut inside it before its snapshot time (200).
        assert_eq!(plan_restore(&c, Target::At(150)).unwrap().set.id, "b");
        assert_eq!(plan_restore(&c, Target::At(199)).unwrap().set.id, "b");
        assert_eq!(plan_restore(&c, Target::At(1000)).unwrap().set.id, "b");
        // The incomplete set c is invisible.
        let p = plan_restore(&c, Target::Latest).unwrap();
        assert_eq!((p.set.id.as_str(), p.segments.len()), ("b", 1));
        // Before every set's time but after a base: cut inside the oldest set.
        assert_eq!(plan_restore(&c, Target::At(60)).unwrap().set.id, "a");
        assert_eq!(
            plan_restore(&c, Target::At(49)).unwrap_err(),
            PlanError::TooEarly {
                when: 49,
                oldest: 50
            }
        );
        assert_eq!(
            plan_restore(&Catalog::default(), Target::Latest).unwrap_err(),
            PlanError::NoSets
        );
    }

    #[test]
    fn chains_across_rollovers_and_stops_at_gaps() {
        let m = manifest("a", 100, 50, 3, 40);
        let segs = cat(
            vec![],
            vec![
                ("a", 3, 40, 60),
                ("a", 3, 60, 90),
                ("a", 5, 0, 7),
                ("a", 5, 7, 9),
            ],
        );
        let (v, gap) = chain(&m, segs.segments_of("a"));
        assert_eq!(v.len(), 4);
        assert_eq!(gap, None);
        let segs = cat(
            vec![],
            vec![("a", 3, 40, 60), ("a", 3, 70, 90), ("a", 5, 0, 7)],
        );
        let (v, gap) = chain(&m, segs.segments_of("a"));
        assert_eq!(v.len(), 1);
        assert!(gap.unwrap().contains("bytes 60..70"));
        // A new INCR file must start at 0.
        let segs = cat(vec![], vec![("a", 4, 10, 20)]);
        let (v, gap) = chain(&m, segs.segments_of("a"));
        assert!(v.is_empty());
        assert!(gap.unwrap().contains("INCR seq 4 bytes 0..10"));
        // Segments the set already covers are skipped.
        let segs = cat(
            vec![],
            vec![("a", 2, 0, 10), ("a", 3, 0, 40), ("a", 3, 40, 41)],
        );
        assert_eq!(chain(&m, segs.segments_of("a")).0.len(), 1);
    }
}
