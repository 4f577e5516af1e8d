//! Standard 5-field cron expressions (`minute hour day-of-month month day-of-week`), evaluated
//! in UTC, for `ship --cron`.
//!
//! Syntax (as Vixie cron, `crontab(5)`): each field is a comma-separated list of `*`, `N`,
//! `N-M`, each optionally followed by `/STEP` (`*/15`, `1-30/5`; `N/STEP` means `N-MAX/STEP`).
//! Months may be `JAN`–`DEC`, days of the week `SUN`–`SAT` (case-insensitive; also in ranges);
//! day of the week 0 and 7 are both Sunday. When both day-of-month and day-of-week are
//! restricted (neither field starts with `*`), a day matches if *either* matches, as in cron.
//! Shorthands: `@hourly`, `@daily` (`@midnight`), `@weekly`, `@monthly`, `@yearly`
//! (`@annually`).

use crate::time::{civil_from_days, days_from_civil};

/// A parsed cron schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: u64,
    hours: u32,
    /// Bits 1..=31.
    dom: u32,
    /// Bits 1..=12.
    months: u16,
    /// Bits 0..=6 (Sunday = 0).
    dow: u8,
    dom_star: bool,
    dow_star: bool,
    source: String,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

struct FieldSpec {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
    /// Value of the first name (`JAN` = 1, `SUN` = 0).
    names_base: u32,
}

fn value(s: &str, f: &FieldSpec) -> Result<u32, String> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        let v: u32 = s
            .parse()
            .map_err(|_| format!("{}: {s:?} is out of range", f.name))?;
        if v < f.min || v > f.max {
            return Err(format!(
                "{}: {v} is out of range {}-{}",
                f.name, f.min, f.max
            ));
        }
        return Ok(v);
    }
    let low = s.to_ascii_lowercase();
    match f.names.iter().position(|n| *n == low) {
        Some(i) => Ok(i as u32 + f.names_base),
        None => Err(format!("{}: {s:?} is not a number or name", f.name)),
    }
}

/// Parses one field into a bit set (bit `v` set when value `v` matches).
fn field(s: &str, f: &FieldSpec) -> Result<u64, String> {
    if s.is_empty() {
        return Err(format!("{}: empty field", f.name));
    }
    let mut bits = 0u64;
    for item in s.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, st)) => {
                let step: u32 = st
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("{}: bad step {st:?} in {item:?}", f.name))?;
                (r, Some(step))
            }
            None => (item, None),
        };
        let (lo, hi) = if range == "*" {
            (f.min, f.max)
        } else if let Some((a, b)) = range.split_once('-') {
            let (a, b) = (value(a, f)?, value(b, f)?);
            if a > b {
                return Err(format!("{}: range {range:?} goes backwards", f.name));
            }
            (a, b)
        } else {
            let v = value(range, f)?;
            // `N/STEP` runs from N to the field's maximum.
            (v, if step.is_some() { f.max } else { v })
        };
        let step = step.unwrap_or(1);
        let mut v = lo;
        while v <= hi {
            bits |= 1 << v;
            v += step;
        }
    }
    Ok(bits)
}

impl Cron {
    /// Parses an expression (5 fields separated by spaces, or an `@` shorthand).
    pub fn parse(expr: &str) -> Result<Cron, String> {
        let e = expr.trim();
        let expanded = match e.to_ascii_lowercase().as_str() {
            "@hourly" => "0 * * * *",
            "@daily" | "@midnight" => "0 0 * * *",
            "@weekly" => "0 0 * * 0",
            "@monthly" => "0 0 1 * *",
            "@yearly" | "@annually" => "0 0 1 1 *",
            s if s.starts_with('@') => {
                return Err(format!(
                "unknown shorthand {e:?} (expected @hourly, @daily, @weekly, @monthly or @yearly)"
            ))
            }
            _ => e,
        };
        let parts: Vec<&str> = expanded.split_whitespace().collect();
        let [mi, h, dom, mo, dow] = parts.as_slice() else {
            return Err(format!(
                "{expr:?} has {} fields; expected 5: minute hour day-of-month month day-of-week",
                parts.len()
            ));
        };
        let spec = |name, min, max, names, names_base| FieldSpec {
            name,
            min,
            max,
            names,
            names_base,
        };
        let minutes = field(mi, &spec("minute", 0, 59, &[], 0))?;
        let hours = field(h, &spec("hour", 0, 23, &[], 0))? as u32;
        let dom_bits = field(dom, &spec("day of month", 1, 31, &[], 0))? as u32;
        let months = field(mo, &spec("month", 1, 12, &MONTHS, 1))? as u16;
        let dow7 = field(dow, &spec("day of week", 0, 7, &DAYS, 0))?;
        // 7 is Sunday too.
        let dow_bits = ((dow7 & 0x7f) | ((dow7 >> 7) & 1)) as u8;
        Ok(Cron {
            minutes,
            hours,
            dom: dom_bits,
            months,
            dow: dow_bits,
            dom_star: dom.starts_with('*'),
            dow_star: dow.starts_with('*'),
            source: e.to_string(),
        })
    }

    /// The expression as given.
    pub fn source(&self) -> &str {
        &self.source
    }

    fn day_matches(&self, days: i64) -> bool {
        let (_, m, d) = civil_from_days(days);
        if self.months & (1 << m) == 0 {
            return false;
        }
        // 1970-01-01 was a Thursday (4).
        let wd = (days + 4).rem_euclid(7) as u32;
        let dom_ok = self.dom & (1 << d) != 0;
        let dow_ok = self.dow & (1 << wd) != 0;
        match (self.dom_star, self.dow_star) {
            (false, false) => dom_ok || dow_ok,
            (true, false) => dow_ok,
            (false, true) => dom_ok,
            (true, true) => true,
        }
    }

    /// The first time strictly after `t` (unix seconds, UTC) that the schedule fires (always
    /// at second 0 of a minute); `None` if it never fires within 400 years (`0 0 30 2 *`).
    pub fn next_after(&self, t: i64) -> Option<i64> {
        // The first whole minute after t.
        let start = (t.div_euclid(60) + 1) * 60;
        let first = start.div_euclid(86400);
        let mut from_min = (start.rem_euclid(86400) / 60) as u32;
        // 400 Gregorian years repeat every calendar and weekday pattern.
        for day in first..first + 146_097 {
            if self.day_matches(day) {
                for m in from_min..1440 {
                    if self.hours & (1 << (m / 60)) != 0 && self.minutes & (1 << (m % 60)) != 0 {
                        return Some(day * 86400 + i64::from(m) * 60);
                    }
                }
            }
            from_min = 0;
        }
        None
    }
}

/// Unix seconds of a UTC date and time (for tests and callers that build times by hand).
pub fn utc(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> i64 {
    days_from_civil(y, mo, d) * 86400 + i64::from(h * 3600 + mi * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn next(expr: &str, from: i64) -> i64 {
        Cron::parse(expr).unwrap().next_after(from).unwrap()
    }

    // Expected times below are worked out by hand from the crontab(5) rules; the calendar
    // facts used (weekdays) are noted: 2026-11-22 is a Sunday, 2024-02-29 a Thursday,
    // 2027-01-01 a Friday, 2026-12-01 a Tuesday (as `cal 2026`, `cal 2024`, `cal 2027` print).

    #[test]
    fn every_minute_and_steps() {
        let t = utc(2026, 11, 22, 10, 42, 16);
        assert_eq!(next("* * * * *", t), utc(2026, 11, 22, 10, 43, 0));
        // Exactly on a minute: strictly after.
        assert_eq!(
            next("* * * * *", utc(2026, 11, 22, 10, 43, 0)),
            utc(2026, 11, 22, 10, 44, 0)
        );
        assert_eq!(next("*/15 * * * *", t), utc(2026, 11, 22, 10, 45, 0));
        assert_eq!(
            next("*/15 * * * *", utc(2026, 11, 22, 10, 45, 0)),
            utc(2026, 11, 22, 11, 0, 0)
        );
        // 5/20 = 5,25,45.
        assert_eq!(next("5/20 * * * *", t), utc(2026, 11, 22, 10, 45, 0));
        assert_eq!(
            next("5/20 * * * *", utc(2026, 11, 22, 10, 45, 0)),
            utc(2026, 11, 22, 11, 5, 0)
        );
        // 10-30/10 = 10,20,30; lists.
        assert_eq!(next("10-30/10 * * * *", t), utc(2026, 11, 22, 11, 10, 0));
        assert_eq!(next("0,50 * * * *", t), utc(2026, 11, 22, 10, 50, 0));
    }

    #[test]
    fn hours_days_and_rollovers() {
        let t = utc(2026, 11, 22, 10, 42, 16);
        assert_eq!(next("30 2 * * *", t), utc(2026, 11, 23, 2, 30, 0));
        assert_eq!(next("0 9-17/4 * * *", t), utc(2026, 11, 22, 13, 0, 0));
        // End of year.
        assert_eq!(
            next("0 0 * * *", utc(2026, 12, 31, 23, 59, 59)),
            utc(2027, 1, 1, 0, 0, 0)
        );
        // Day 31 skips 30-day months: after Nov 22 the next 31st is Dec 31.
        assert_eq!(next("0 12 31 * *", t), utc(2026, 12, 31, 12, 0, 0));
        // Feb 29 only in leap years.
        assert_eq!(next("0 0 29 2 *", t), utc(2028, 2, 29, 0, 0, 0));
        // Never.
        assert_eq!(Cron::parse("0 0 30 2 *").unwrap().next_after(t), None);
    }

    #[test]
    fn names_and_weekdays() {
        let t = utc(2026, 11, 22, 10, 42, 16); // a Sunday
                                               // Next Monday 08:00 is Nov 23.
        assert_eq!(next("0 8 * * MON", t), utc(2026, 11, 23, 8, 0, 0));
        assert_eq!(next("0 8 * * mon-fri", t), utc(2026, 11, 23, 8, 0, 0));
        // Saturday: Nov 28.
        assert_eq!(next("0 8 * * SAT", t), utc(2026, 11, 28, 8, 0, 0));
        // 0 and 7 are Sunday: the same day, later hour.
        assert_eq!(next("0 11 * * 0", t), utc(2026, 11, 22, 11, 0, 0));
        assert_eq!(next("0 11 * * 7", t), utc(2026, 11, 22, 11, 0, 0));
        // Months by name: next January 1st.
        assert_eq!(next("0 0 1 JAN *", t), utc(2027, 1, 1, 0, 0, 0));
        assert_eq!(next("0 0 1 jan-mar *", t), utc(2027, 1, 1, 0, 0, 0));
        // Both day fields restricted: either matches. 1st of the month OR a Friday:
        // Friday Nov 27 comes before Dec 1.
        assert_eq!(next("0 0 1 * FRI", t), utc(2026, 11, 27, 0, 0, 0));
        // Day of month restricted, day of week `*`: only the 1st (Dec 1, a Tuesday).
        assert_eq!(next("0 0 1 * *", t), utc(2026, 12, 1, 0, 0, 0));
        // Day of week restricted with a `*/2` day of month: `*` start means unrestricted, so
        // only the weekday counts (Vixie cron): next Tuesday Nov 24.
        assert_eq!(next("0 0 */2 * TUE", t), utc(2026, 11, 24, 0, 0, 0));
        // Friday the 13th style (either): 13th of Dec or a Friday: Friday Nov 27 first.
        assert_eq!(next("0 0 13 * 5", t), utc(2026, 11, 27, 0, 0, 0));
    }

    #[test]
    fn shorthands() {
        let t = utc(2026, 11, 22, 10, 42, 16);
        assert_eq!(next("@hourly", t), utc(2026, 11, 22, 11, 0, 0));
        assert_eq!(next("@daily", t), utc(2026, 11, 23, 0, 0, 0));
        assert_eq!(next("@midnight", t), utc(2026, 11, 23, 0, 0, 0));
        // @weekly is Sunday 00:00: the next one is Nov 29.
        assert_eq!(next("@weekly", t), utc(2026, 11, 29, 0, 0, 0));
        assert_eq!(next("@monthly", t), utc(2026, 12, 1, 0, 0, 0));
        assert_eq!(next("@yearly", t), utc(2027, 1, 1, 0, 0, 0));
        // 2024-02-29 (Thursday) 23:59:30 → @daily is Mar 1.
        assert_eq!(
            next("@daily", utc(2024, 2, 29, 23, 59, 30)),
            utc(2024, 3, 1, 0, 0, 0)
        );
    }

    #[test]
    fn rejects() {
        for bad in [
            "",
            "* * * *",
            "* * * * * *",
            "60 * * * *",
            "* 24 * * *",
            "* * 0 * *",
            "* * 32 * *",
            "* * * 13 *",
            "* * * * 8",
            "*/0 * * * *",
            "5-1 * * * *",
            "* * * FOO *",
            "* * * * MONDAY",
            "@often",
            "1,,2 * * * *",
            "x * * * *",
        ] {
            assert!(Cron::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn utc_helper() {
        // `date -u -d 2026-11-22T16:37:05Z +%s`
        assert_eq!(utc(2026, 11, 22, 16, 37, 5), 1_795_365_425);
    }
}
