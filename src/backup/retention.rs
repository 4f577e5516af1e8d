//! Retention: which backup sets to keep. A pure function over a listing and an injected clock,
//! so it is tested with a simulated clock over weeks of sets.
//!
//! Semantics (those of restic's `forget`, which users know):
//! - `keep_last N`: the N newest complete sets;
//! - `keep_hourly/daily/weekly N`: for each of the N most recent hours / days / ISO weeks
//!   (Monday to Sunday, UTC) that have a complete set, the newest set in it;
//! - `keep_within D`: every complete set taken at or after `now - D`;
//! - a set is kept when any rule keeps it; with no rule at all every complete set is kept;
//! - the newest complete set is always kept, whatever the policy;
//! - an incomplete set (no manifest: an interrupted upload, invisible to restore) is deleted
//!   once a complete set newer than it exists, and kept otherwise (it may still be uploading).
//!
//! Segments belong to their set and are deleted with it; segments are never kept without
//! their set, and a kept set keeps all its segments.

use super::layout::SetName;

/// A retention policy. All `None` means "keep everything".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Policy {
    /// Keep the N newest sets.
    pub keep_last: Option<usize>,
    /// Keep the newest set of each of the N most recent hours that have one.
    pub keep_hourly: Option<usize>,
    /// Keep the newest set of each of the N most recent days (UTC) that have one.
    pub keep_daily: Option<usize>,
    /// Keep the newest set of each of the N most recent ISO weeks (UTC) that have one.
    pub keep_weekly: Option<usize>,
    /// Keep every set newer than this many seconds.
    pub keep_within: Option<u64>,
}

impl Policy {
    /// True when no rule is set.
    pub fn is_empty(&self) -> bool {
        *self == Policy::default()
    }
}

/// A set as retention sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The set.
    pub name: SetName,
    /// True when its manifest exists (the set is restorable).
    pub complete: bool,
}

/// The outcome for one set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The set.
    pub name: SetName,
    /// Whether the set is kept.
    pub keep: bool,
    /// Why: the rules that keep it (`last`, `hourly`, `daily`, `weekly`, `within`, `newest`,
    /// `no-policy`, `in-progress`) or why it goes (`policy`, `incomplete`).
    pub reasons: Vec<&'static str>,
}

/// The ISO week number (Monday-based) of a unix time, counted from the week of 1970-01-01.
fn week(t: i64) -> i64 {
    // 1970-01-01 was a Thursday: shift so that Mondays start a week.
    (t.div_euclid(86400) + 3).div_euclid(7)
}

/// Applies `policy` to `sets` at time `now`. The result lists every set, newest first.
pub fn decide(policy: &Policy, sets: &[Candidate], now: i64) -> Vec<Verdict> {
    let mut sorted: Vec<&Candidate> = sets.iter().collect();
    sorted.sort_by(|a, b| b.name.cmp(&a.name));
    let complete: Vec<&SetName> = sorted
        .iter()
        .filter(|c| c.complete)
        .map(|c| &c.name)
        .collect();
    let mut reasons: Vec<Vec<&'static str>> = vec![Vec::new(); complete.len()];

    if let Some(n) = policy.keep_last {
        for r in reasons.iter_mut().take(n) {
            r.push("last");
        }
    }
    let mut bucketed = |n: Option<usize>, bucket: &dyn Fn(i64) -> i64, why: &'static str| {
        let Some(n) = n else { return };
        let mut last: Option<i64> = None;
        let mut count = 0;
        for (i, s) in complete.iter().enumerate() {
            if count >= n {
                break;
            }
            let b = bucket(s.time);
            if last != Some(b) {
                reasons[i].push(why);
                last = Some(b);
                count += 1;
            }
        }
    };
    bucketed(policy.keep_hourly, &|t| t.div_euclid(3600), "hourly");
    bucketed(policy.keep_daily, &|t| t.div_euclid(86400), "daily");
    bucketed(policy.keep_weekly, &week, "weekly");
    if let Some(d) = policy.keep_within {
        let cutoff = now.saturating_sub(d.min(i64::MAX as u64) as i64);
        for (i, s) in complete.iter().enumerate() {
            if s.time >= cutoff {
                reasons[i].push("within");
            }
        }
    }
    if policy.is_empty() {
        for r in reasons.iter_mut() {
            r.push("no-policy");
        }
    }
    if let Some(r) = reasons.first_mut() {
        if !r.contains(&"newest") {
            r.push("newest");
        }
    }

    let newest_complete = complete.first().map(|s| (*s).clone());
    let mut out = Vec::with_capacity(sorted.len());
    let mut ci = 0;
    for c in sorted {
        if c.complete {
            let r = std::mem::take(&mut reasons[ci]);
            ci += 1;
            let keep = !r.is_empty();
            out.push(Verdict {
                name: c.name.clone(),
                keep,
                reasons: if keep { r } else { vec!["policy"] },
            });
        } else {
            let superseded = newest_complete.as_ref().is_some_and(|n| *n > c.name);
            out.push(Verdict {
                name: c.name.clone(),
                keep: !superseded,
                reasons: vec![if superseded {
                    "incomplete"
                } else {
                    "in-progress"
                }],
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_time;

    fn t(s: &str) -> i64 {
        parse_time(s).unwrap()
    }

    fn set(time: i64, i: usize) -> Candidate {
        Candidate {
            name: SetName {
                time,
                id: format!("s{i:04}"),
            },
            complete: true,
        }
    }

    fn kept(v: &[Verdict]) -> Vec<i64> {
        let mut k: Vec<i64> = v.iter().filter(|v| v.keep).map(|v| v.name.time).collect();
        k.sort();
        k
    }

    /// Sets every 6 hours through January 2026 (1st 00:00 to 28th 18:00); the expected
    /// survivors are worked out by hand from a calendar (2026-01-01 is a Thursday).
    fn january() -> (Vec<Candidate>, Policy, Vec<i64>) {
        let start = t("2026-01-01T00:00:00Z");
        let sets: Vec<Candidate> = (0..28 * 4)
            .map(|i| set(start + i as i64 * 6 * 3600, i))
            .collect();
        let policy = Policy {
            keep_last: Some(3),
            keep_daily: Some(7),
            keep_weekly: Some(4),
            ..Policy::default()
        };
        let expected = [
            "2026-01-11T18:00:00Z", // weekly: Jan 5–11
            "2026-01-18T18:00:00Z", // weekly: Jan 12–18
            "2026-01-22T18:00:00Z", // daily
            "2026-01-23T18:00:00Z",
            "2026-01-24T18:00:00Z",
            "2026-01-25T18:00:00Z", // daily + weekly: Jan 19–25
            "2026-01-26T18:00:00Z",
            "2026-01-27T18:00:00Z",
            "2026-01-28T06:00:00Z", // last 3
            "2026-01-28T12:00:00Z",
            "2026-01-28T18:00:00Z", // last, daily, weekly: Jan 26–Feb 1
        ];
        (sets, policy, expected.iter().map(|s| t(s)).collect())
    }

    #[test]
    fn one_shot_policy_keeps_exactly_the_named_sets() {
        let (sets, policy, expected) = january();
        let v = decide(&policy, &sets, t("2026-01-28T19:00:00Z"));
        assert_eq!(kept(&v), expected);
        assert_eq!(v.len(), sets.len());
    }

    #[test]
    fn simulated_clock_over_four_weeks_prunes_after_each_upload() {
        // As `ship` does: a set every 6 hours, retention applied after each successful upload.
        let (all, policy, expected) = january();
        let mut bucket: Vec<Candidate> = Vec::new();
        for c in all {
            let now = c.name.time + 600;
            bucket.push(c);
            let v = decide(&policy, &bucket, now);
            bucket.retain(|c| v.iter().any(|v| v.keep && v.name == c.name));
            // Never more than the policy can name: 3 + 7 + 4.
            assert!(bucket.len() <= 14, "{} sets kept", bucket.len());
            // The newest set is always there.
            assert_eq!(bucket.iter().map(|c| c.name.time).max(), Some(now - 600));
        }
        assert_eq!(
            kept(&decide(&policy, &bucket, t("2026-01-28T19:00:00Z"))),
            expected
        );
        let mut times: Vec<i64> = bucket.iter().map(|c| c.name.time).collect();
        times.sort();
        assert_eq!(times, expected);
    }

    #[test]
    fn hourly_and_within() {
        // Sets every 20 minutes for 5 hours starting 10:00.
        let start = t("2026-03-02T10:00:00Z");
        let sets: Vec<Candidate> = (0..15).map(|i| set(start + i as i64 * 1200, i)).collect();
        let hourly = Policy {
            keep_hourly: Some(2),
            ..Policy::default()
        };
        let v = decide(&hourly, &sets, start + 5 * 3600);
        assert_eq!(
            kept(&v),
            vec![t("2026-03-02T13:40:00Z"), t("2026-03-02T14:40:00Z")]
        );
        let within = Policy {
            keep_within: Some(3600),
            ..Policy::default()
        };
        let v = decide(&within, &sets, t("2026-03-02T15:00:00Z"));
        // 14:00, 14:20, 14:40 are within the last hour.
        assert_eq!(
            kept(&v),
            vec![
                t("2026-03-02T14:00:00Z"),
                t("2026-03-02T14:20:00Z"),
                t("2026-03-02T14:40:00Z")
            ]
        );
        // A within window that covers nothing still keeps the newest set.
        let v = decide(&within, &sets, t("2026-04-01T00:00:00Z"));
        assert_eq!(kept(&v), vec![t("2026-03-02T14:40:00Z")]);
        assert_eq!(v[0].reasons, vec!["newest"]);
    }

    #[test]
    fn weeks_start_on_monday() {
        // Sunday 2026-01-04 and Monday 2026-01-05 are in different weeks; Mon–Sun the same.
        assert_ne!(
            week(t("2026-01-04T23:59:59Z")),
            week(t("2026-01-05T00:00:00Z"))
        );
        assert_eq!(
            week(t("2026-01-05T00:00:00Z")),
            week(t("2026-01-11T23:59:59Z"))
        );
    }

    #[test]
    fn no_policy_keeps_everything_and_incomplete_sets_are_cleaned() {
        let mut sets: Vec<Candidate> = (0..4).map(|i| set(1000 + i as i64 * 100, i)).collect();
        sets[1].complete = false; // interrupted upload, superseded by later sets
        sets.push(Candidate {
            name: SetName {
                time: 9999,
                id: "inflight".into(),
            },
            complete: false,
        });
        let v = decide(&Policy::default(), &sets, 10_000);
        let by_id = |id: &str| v.iter().find(|v| v.name.id == id).unwrap().clone();
        assert!(by_id("s0000").keep && by_id("s0002").keep && by_id("s0003").keep);
        assert!(!by_id("s0001").keep);
        assert_eq!(by_id("s0001").reasons, vec!["incomplete"]);
        assert!(
            by_id("inflight").keep,
            "a newer incomplete set may still be uploading"
        );
        // keep_last 1 never deletes the newest complete set even with an in-flight newer one.
        let v = decide(
            &Policy {
                keep_last: Some(1),
                ..Policy::default()
            },
            &sets,
            10_000,
        );
        assert!(v.iter().find(|v| v.name.id == "s0003").unwrap().keep);
        assert!(!v.iter().find(|v| v.name.id == "s0002").unwrap().keep);
    }
}
