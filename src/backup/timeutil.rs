//! UTC calendar arithmetic without a date library: formatting and parsing the timestamps used
//! in object names, and durations like `15m` or `7d`. Times on the command line are parsed by
//! [`crate::aof::pitr::parse_time`].

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// (year, month, day) for days since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn split(t: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = t.div_euclid(86400);
    let secs = t.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    (
        y,
        m,
        d,
        (secs / 3600) as u32,
        (secs % 3600 / 60) as u32,
        (secs % 60) as u32,
    )
}

/// `YYYYMMDDTHHMMSSZ` (fixed width for years 0–9999, so names sort by time).
pub fn format_compact(t: i64) -> String {
    let (y, mo, d, h, mi, s) = split(t);
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
}

/// `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_rfc3339(t: i64) -> String {
    let (y, mo, d, h, mi, s) = split(t);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

fn num(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn from_parts(y: u32, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<i64> {
    if !(1..=12).contains(&mo) || d == 0 || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let days_in_month = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let leap = (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400);
    let max = days_in_month[(mo - 1) as usize] + u32::from(leap && mo == 2);
    if d > max {
        return None;
    }
    Some(days_from_civil(y as i64, mo, d) * 86400 + (h * 3600 + mi * 60 + s) as i64)
}

/// Parses `YYYYMMDDTHHMMSSZ`.
pub fn parse_compact(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    from_parts(
        num(s.get(0..4)?)?,
        num(s.get(4..6)?)?,
        num(s.get(6..8)?)?,
        num(s.get(9..11)?)?,
        num(s.get(11..13)?)?,
        num(s.get(13..15)?)?,
    )
}

/// Parses a duration: a number followed by `s`, `m`, `h`, `d` or `w` (several may be combined:
/// `1h30m`); a bare number is seconds.
pub fn parse_duration(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok();
    }
    let mut total: u64 = 0;
    let mut n: Option<u64> = None;
    for c in s.chars() {
        if let Some(d) = c.to_digit(10) {
            n = Some(n.unwrap_or(0).checked_mul(10)?.checked_add(d as u64)?);
            continue;
        }
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            'w' => 7 * 86400,
            _ => return None,
        };
        total = total.checked_add(n.take()?.checked_mul(unit)?)?;
    }
    if n.is_some() {
        return None;
    }
    Some(total)
}

/// Formats seconds as a short duration (`1h30m`, `45s`).
pub fn format_duration(mut s: u64) -> String {
    if s == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (u, name) in [(86400, "d"), (3600, "h"), (60, "m"), (1, "s")] {
        if s >= u {
            out.push_str(&format!("{}{name}", s / u));
            s %= u;
        }
    }
    out
}

/// The current time in unix seconds.
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trip() {
        for days in [-800_000i64, -1, 0, 1, 59, 365, 10_957, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn formats() {
        // 2026-11-22T16:37:05Z, checked with `date -u -d @1795365425`.
        let t = 1_795_365_425;
        assert_eq!(format_compact(t), "20261122T163705Z");
        assert_eq!(format_rfc3339(t), "2026-11-22T16:37:05Z");
        assert_eq!(parse_compact("20261122T163705Z"), Some(t));
        // Times on the command line: the shared parser (`aof::pitr::parse_time`).
        use crate::aof::pitr::parse_time;
        assert_eq!(parse_time("2026-11-22T16:37:05Z"), Ok(t));
        assert_eq!(parse_time("2026-11-22 16:37:05"), Ok(t));
        assert_eq!(parse_time("2026-11-22T17:37:05.25+01:00"), Ok(t));
        assert_eq!(parse_time("2026-11-22T11:37:05-0500"), Ok(t));
        assert_eq!(parse_time("1795365425"), Ok(t));
        assert!(parse_time("2026-02-30 00:00:00").is_err());
        assert!(parse_time("2026-11-22").is_err());
        assert_eq!(parse_compact("20261122T163705"), None);
        assert_eq!(format_compact(0), "19700101T000000Z");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("15m"), Some(900));
        assert_eq!(parse_duration("1h30m"), Some(5400));
        assert_eq!(parse_duration("10"), Some(10));
        assert_eq!(parse_duration("2w"), Some(14 * 86400));
        assert_eq!(parse_duration("m"), None);
        assert_eq!(parse_duration("5x"), None);
        assert_eq!(parse_duration("5m3"), None);
        assert_eq!(format_duration(5400), "1h30m");
    }
}
