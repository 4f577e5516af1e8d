//! Time: the one implementation of UTC calendar arithmetic, of parsing a point in time as a
//! user writes it, and of formatting one. No date library; proleptic Gregorian, UTC.
//!
//! - Parsing: [`parse_time`] (unix seconds, RFC 3339, `YYYY-MM-DD HH:MM:SS`),
//!   [`parse_time_or_date`] (also a date alone). The restore-target grammar built on it
//!   (`latest`, `before:COMMAND`) is [`crate::aof::pitr::When`].
//! - Formatting: one display format, RFC 3339 in UTC: [`format_rfc3339`]
//!   (`2026-11-22T10:42:16Z`), [`format_rfc3339_ms`] for millisecond times (key expiries).
//!   [`format_compact`]/[`parse_compact`] are for names that must sort by time (object keys).
//! - Durations (`15m`, `1h30m`, `7d`): [`parse_duration`], [`format_duration`].

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's `days_from_civil`).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) of days since 1970-01-01 (Howard Hinnant's `civil_from_days`).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// True for a leap year.
pub fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

/// Days in month `m` (1–12) of year `y`.
pub fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

/// A UTC time broken down: (year, month, day, hour, minute, second).
pub fn split(t: i64) -> (i64, u32, u32, u32, u32, u32) {
    let (y, m, d) = civil_from_days(t.div_euclid(86_400));
    let s = t.rem_euclid(86_400);
    (
        y,
        m,
        d,
        (s / 3600) as u32,
        (s % 3600 / 60) as u32,
        (s % 60) as u32,
    )
}

/// Unix seconds of a UTC date and time, `None` when a field is out of range (second 60 is
/// accepted, as RFC 3339 allows a leap second).
pub fn from_civil(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<i64> {
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 60
    {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86_400 + i64::from(h * 3600 + mi * 60 + s))
}

/// `YYYY-MM-DDTHH:MM:SSZ`: how every time is displayed (text and JSON).
pub fn format_rfc3339(t: i64) -> String {
    let (y, mo, d, h, mi, s) = split(t);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for a time in unix milliseconds.
pub fn format_rfc3339_ms(ms: i64) -> String {
    let (y, mo, d, h, mi, s) = split(ms.div_euclid(1000));
    let milli = ms.rem_euclid(1000);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{milli:03}Z")
}

/// `YYYYMMDDTHHMMSSZ` (fixed width for years 0–9999, so names sort by time).
pub fn format_compact(t: i64) -> String {
    let (y, mo, d, h, mi, s) = split(t);
    format!("{y:04}{mo:02}{d:02}T{h:02}{mi:02}{s:02}Z")
}

fn digits(b: &[u8], n: usize, what: &str) -> Result<u32, String> {
    match b.get(..n) {
        Some(d) if d.iter().all(u8::is_ascii_digit) => {
            Ok(d.iter().fold(0u32, |a, c| a * 10 + u32::from(c - b'0')))
        }
        _ => Err(format!("expected {n} digits for the {what}")),
    }
}

/// Parses `YYYYMMDDTHHMMSSZ` ([`format_compact`]).
pub fn parse_compact(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let n = |r: std::ops::Range<usize>| digits(&b[r.clone()], r.len(), "").ok();
    from_civil(
        i64::from(n(0..4)?),
        n(4..6)?,
        n(6..8)?,
        n(9..11)?,
        n(11..13)?,
        n(13..15)?,
    )
}

/// Parses a point in time given on the command line: unix seconds (`1795364452`), RFC 3339
/// (`2026-11-22T10:42:16Z`, `...+01:00`, `...+0100`, `...+01`; a fraction is dropped), or
/// `YYYY-MM-DD HH:MM:SS` (UTC unless followed by `Z`, `UTC` or an offset). Returns unix
/// seconds or why the text is not a time.
pub fn parse_time(s: &str) -> Result<i64, String> {
    let t = s.trim();
    if !t.is_empty() && t.bytes().all(|c| c.is_ascii_digit()) {
        return t
            .parse::<i64>()
            .map_err(|_| "number out of range".to_string());
    }
    parse_datetime(t)
}

/// [`parse_time`], or a date alone (`YYYY-MM-DD`, meaning 00:00:00 UTC that day).
pub fn parse_time_or_date(s: &str) -> Result<i64, String> {
    let t = s.trim();
    if t.len() == 10 && t.as_bytes().get(4) == Some(&b'-') {
        return parse_datetime(&format!("{t} 00:00:00"));
    }
    parse_time(t)
}

/// `YYYY-MM-DD[T ]HH:MM:SS[.fff][Z|UTC|±HH:MM|±HHMM|±HH]` → unix seconds (fraction dropped).
fn parse_datetime(t: &str) -> Result<i64, String> {
    let b = t.as_bytes();
    if b.len() < 19 {
        return Err("too short for a date and time".into());
    }
    let y = digits(b, 4, "year")?;
    if b[4] != b'-' || b[7] != b'-' {
        return Err("expected YYYY-MM-DD".into());
    }
    let mo = digits(&b[5..], 2, "month")?;
    let d = digits(&b[8..], 2, "day")?;
    if !matches!(b[10], b'T' | b't' | b' ') {
        return Err("expected 'T' or a space between the date and the time".into());
    }
    let h = digits(&b[11..], 2, "hour")?;
    if b[13] != b':' || b[16] != b':' {
        return Err("expected HH:MM:SS".into());
    }
    let mi = digits(&b[14..], 2, "minute")?;
    let s = digits(&b[17..], 2, "second")?;
    if !(1..=12).contains(&mo) {
        return Err(format!("month {mo} out of range"));
    }
    if d < 1 || d > days_in_month(i64::from(y), mo) {
        return Err(format!("day {d} out of range for {y:04}-{mo:02}"));
    }
    let Some(at) = from_civil(i64::from(y), mo, d, h, mi, s) else {
        return Err("time of day out of range".into());
    };
    let mut rest = &b[19..];
    if rest.first() == Some(&b'.') || rest.first() == Some(&b',') {
        let n = rest[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if n == 0 {
            return Err("expected digits after the decimal point".into());
        }
        rest = &rest[1 + n..];
    }
    let rest_s = std::str::from_utf8(rest).unwrap_or("").trim_start();
    let offset = match rest_s {
        "" | "Z" | "z" | "UTC" | "utc" | "GMT" => 0,
        _ => {
            let r = rest_s.as_bytes();
            let sign = match r[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return Err(format!("unknown time zone '{rest_s}' (use Z or ±HH:MM)")),
            };
            let r = &r[1..];
            let (oh, om) = match r.len() {
                2 => (digits(r, 2, "zone hours")?, 0),
                4 => (
                    digits(r, 2, "zone hours")?,
                    digits(&r[2..], 2, "zone minutes")?,
                ),
                5 if r[2] == b':' => (
                    digits(r, 2, "zone hours")?,
                    digits(&r[3..], 2, "zone minutes")?,
                ),
                _ => return Err(format!("bad zone offset '{rest_s}' (use ±HH:MM)")),
            };
            if oh > 23 || om > 59 {
                return Err(format!("zone offset '{rest_s}' out of range"));
            }
            sign * i64::from(oh * 3600 + om * 60)
        }
    };
    Ok(at - offset)
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
            n = Some(n.unwrap_or(0).checked_mul(10)?.checked_add(u64::from(d))?);
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
    now_ms().div_euclid(1000)
}

/// The current time in unix milliseconds.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
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
        // Checked with `date -u -d @1795365425` and `date -u -d @951782400`.
        let t = 1_795_365_425;
        assert_eq!(format_compact(t), "20261122T163705Z");
        assert_eq!(format_rfc3339(t), "2026-11-22T16:37:05Z");
        assert_eq!(format_rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339_ms(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(
            format_rfc3339_ms(4_102_444_800_000),
            "2100-01-01T00:00:00.000Z"
        );
        assert_eq!(parse_compact("20261122T163705Z"), Some(t));
        assert_eq!(parse_compact("20261122T163705"), None);
        assert_eq!(parse_compact("20260230T000000Z"), None);
        assert_eq!(format_compact(0), "19700101T000000Z");
    }

    #[test]
    fn parsing() {
        let t = 1_795_365_425;
        assert_eq!(parse_time("2026-11-22T16:37:05Z"), Ok(t));
        assert_eq!(parse_time("2026-11-22 16:37:05"), Ok(t));
        assert_eq!(parse_time("2026-11-22T17:37:05.25+01:00"), Ok(t));
        assert_eq!(parse_time("2026-11-22T11:37:05-0500"), Ok(t));
        assert_eq!(parse_time("2026-11-22T18:37:05+02"), Ok(t));
        assert_eq!(parse_time("1795365425"), Ok(t));
        assert!(parse_time("2026-02-30 00:00:00").is_err());
        assert!(parse_time("2026-11-22").is_err());
        assert!(parse_time("2026-11-22 24:00:00").is_err());
        assert!(parse_time("2026-11-22 10:00:00 CET").is_err());
        assert_eq!(parse_time_or_date("2000-02-29"), Ok(951_782_400));
        assert!(parse_time_or_date("2023-02-29").is_err());
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
