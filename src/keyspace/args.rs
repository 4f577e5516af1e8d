//! Parsing of command arguments exactly as Redis 7.0 parses them (`string2ll`, `strtod`
//! checks of `getDoubleFromObject`, ranges), and Redis's number formatting.

use super::Reject;

/// Redis's `string2ll`: optional `-`, no `+`, no leading zeros (except `"0"`), no spaces,
/// in range of i64.
pub fn string2ll(s: &[u8]) -> Option<i64> {
    if s.is_empty() || s.len() >= 21 {
        return None;
    }
    if s == b"0" {
        return Some(0);
    }
    let (neg, digits) = match s[0] {
        b'-' => (true, &s[1..]),
        _ => (false, s),
    };
    let first = *digits.first()?;
    if !(b'1'..=b'9').contains(&first) {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(c - b'0'))?;
    }
    if neg {
        if v > (i64::MAX as u64) + 1 {
            return None;
        }
        Some((v as i64).wrapping_neg())
    } else {
        i64::try_from(v).ok()
    }
}

/// `getLongLongFromObjectOrReply`: "value is not an integer or out of range".
pub fn int(s: &[u8]) -> Result<i64, Reject> {
    string2ll(s).ok_or(Reject::NotInteger)
}

/// `getPositiveLongFromObjectOrReply` (0 allowed) with Redis's message.
pub fn non_negative(s: &[u8]) -> Result<i64, Reject> {
    let v = int(s)?;
    if v < 0 {
        return Err(Reject::Err(
            "value is out of range, must be positive".into(),
        ));
    }
    Ok(v)
}

/// `strtod` as `getDoubleFromObject` uses it: the whole argument must parse, no leading
/// space, no overflow to ±HUGE_VAL, no underflow to zero, not NaN. `inf`/`infinity` (any
/// case, optional sign) are accepted. Hexadecimal floats are parsed too.
pub fn strtod(s: &[u8]) -> Option<f64> {
    let first = *s.first()?;
    if first.is_ascii_whitespace() || first == 0x0b || first == 0x0c {
        return None;
    }
    let text = std::str::from_utf8(s).ok()?;
    let (sign, body) = match text.as_bytes()[0] {
        b'-' => (-1.0, &text[1..]),
        b'+' => (1.0, &text[1..]),
        _ => (1.0, text),
    };
    if body.starts_with(['+', '-']) {
        return None;
    }
    let lower = body.to_ascii_lowercase();
    if lower == "inf" || lower == "infinity" {
        return Some(sign * f64::INFINITY);
    }
    if lower.starts_with("nan") {
        return None;
    }
    if let Some(h) = lower.strip_prefix("0x") {
        return hex_float(h).map(|v| sign * v);
    }
    // Only digits, one '.', an exponent: Rust's parser accepts the same decimal syntax.
    if !body
        .bytes()
        .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    let v: f64 = body.parse().ok()?;
    if v.is_infinite() {
        return None; // ERANGE overflow
    }
    if v == 0.0 {
        let mantissa = body.split(['e', 'E']).next().unwrap_or("");
        if mantissa.bytes().any(|c| (b'1'..=b'9').contains(&c)) {
            return None; // ERANGE underflow to zero
        }
    }
    Some(sign * v)
}

/// A C99 hexadecimal float body (after `0x`): `h[.h][p[+-]d]`. Exact for mantissas of up to
/// 64 bits; longer ones are refused (`None`) rather than rounded differently from glibc.
fn hex_float(s: &str) -> Option<f64> {
    let (mant, exp) = match s.find('p') {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (ip, fp) = match mant.find('.') {
        Some(i) => (&mant[..i], &mant[i + 1..]),
        None => (mant, ""),
    };
    if ip.is_empty() && fp.is_empty() {
        return None;
    }
    let mut m: u64 = 0;
    let mut bits: i64 = 0;
    for c in ip.chars().chain(fp.chars()) {
        let d = c.to_digit(16)? as u64;
        if m >> 60 != 0 {
            return None;
        }
        m = (m << 4) | d;
    }
    bits -= 4 * fp.len() as i64;
    let e: i64 = match exp {
        Some(e) => {
            let (neg, d) = match e.as_bytes().first() {
                Some(b'-') => (true, &e[1..]),
                Some(b'+') => (false, &e[1..]),
                _ => (false, e),
            };
            if d.is_empty() || !d.bytes().all(|c| c.is_ascii_digit()) || d.len() > 6 {
                return None;
            }
            let v: i64 = d.parse().ok()?;
            if neg {
                -v
            } else {
                v
            }
        }
        None => 0,
    };
    if m == 0 {
        return Some(0.0);
    }
    if m >= 1 << 53 {
        return None; // would need rounding: not attempted
    }
    let v = (m as f64) * 2f64.powi(i32::try_from(bits + e).ok()?);
    if v.is_infinite() || v == 0.0 || v.is_subnormal() {
        return None;
    }
    Some(v)
}

/// `getDoubleFromObjectOrReply` with a message.
pub fn float(s: &[u8]) -> Result<f64, Reject> {
    strtod(s).ok_or(Reject::NotFloat)
}

/// C's `printf("%.17g", v)` (how Redis 7.0 prints scores for `DEBUG DIGEST`).
pub fn fmt_g17(v: f64) -> String {
    if v.is_nan() {
        return if v.is_sign_negative() { "-nan" } else { "nan" }.into();
    }
    if v.is_infinite() {
        return if v < 0.0 { "-inf" } else { "inf" }.into();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0" } else { "0" }.into();
    }
    // 17 significant digits, correctly rounded, as d.dddddddddddddddde±X.
    let sci = format!("{:.16e}", v.abs());
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let x: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    let sign = if v < 0.0 { "-" } else { "" };
    if (-4..17).contains(&x) {
        let s = if x >= 0 {
            let (a, b) = digits.split_at((x + 1) as usize);
            format!("{a}.{b}")
        } else {
            format!("0.{}{}", "0".repeat((-x - 1) as usize), digits)
        };
        let s = if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_string()
        } else {
            s
        };
        format!("{sign}{s}")
    } else {
        let (a, b) = digits.split_at(1);
        let b = b.trim_end_matches('0');
        let m = if b.is_empty() {
            a.to_string()
        } else {
            format!("{a}.{b}")
        };
        let es = if x < 0 { '-' } else { '+' };
        format!("{sign}{m}e{es}{:02}", x.abs())
    }
}

/// Redis 7.2+'s `fpconv_dtoa` (Grisu2 digits, fpconv's layout), used for scores in
/// `DEBUG DIGEST` from 7.2 on. The digits are the shortest that read back as `v`; Grisu2
/// finds those for nearly every double (it may emit one more digit for rare values).
pub fn fmt_fpconv(v: f64) -> String {
    let neg = v.is_sign_negative();
    let sign = if neg { "-" } else { "" };
    if v == 0.0 {
        return format!("{sign}0");
    }
    if v.is_nan() {
        return format!("{sign}nan");
    }
    if v.is_infinite() {
        return format!("{sign}inf");
    }
    let sci = format!("{:e}", v.abs());
    let (mant, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let x: i32 = exp.parse().unwrap_or(0);
    let digits: Vec<u8> = mant.bytes().filter(|c| *c != b'.').collect();
    let nd = digits.len() as i32;
    let k = x - (nd - 1);
    let e = (k + nd - 1).abs();
    let d = String::from_utf8_lossy(&digits).into_owned();
    // Plain integer.
    if k >= 0 && e < nd + 7 {
        return format!("{sign}{d}{}", "0".repeat(k as usize));
    }
    // Decimal without exponent.
    if k < 0 && (k > -7 || e < 4) {
        let offset = nd - k.abs();
        if offset <= 0 {
            return format!("{sign}0.{}{d}", "0".repeat((-offset) as usize));
        }
        let (a, b) = d.split_at(offset as usize);
        return format!("{sign}{a}.{b}");
    }
    let nd2 = nd.min(18 - i32::from(neg)) as usize;
    let mut out = String::from(sign);
    out.push_str(&d[..1]);
    if nd2 > 1 {
        out.push('.');
        out.push_str(&d[1..nd2]);
    }
    out.push('e');
    out.push(if k + nd - 1 < 0 { '-' } else { '+' });
    out.push_str(&e.to_string());
    out
}

/// A score range bound of `ZRANGEBYSCORE`-style commands: `(` exclusive, `-inf`/`+inf`.
#[derive(Debug, Clone, Copy)]
pub struct ScoreRange {
    /// Minimum.
    pub min: f64,
    /// Maximum.
    pub max: f64,
    /// Minimum excluded.
    pub minex: bool,
    /// Maximum excluded.
    pub maxex: bool,
}

impl ScoreRange {
    /// `zslParseRange`.
    pub fn parse(min: &[u8], max: &[u8]) -> Result<ScoreRange, Reject> {
        let one = |s: &[u8]| -> Option<(f64, bool)> {
            if let Some(rest) = s.strip_prefix(b"(") {
                let v = strtod_loose(rest)?;
                Some((v, true))
            } else {
                Some((strtod_loose(s)?, false))
            }
        };
        let bad = || Reject::Err("min or max is not a float".into());
        let (min, minex) = one(min).ok_or_else(bad)?;
        let (max, maxex) = one(max).ok_or_else(bad)?;
        Ok(ScoreRange {
            min,
            max,
            minex,
            maxex,
        })
    }

    /// True when `v` is inside.
    pub fn contains(&self, v: f64) -> bool {
        let lo = if self.minex {
            v > self.min
        } else {
            v >= self.min
        };
        let hi = if self.maxex {
            v < self.max
        } else {
            v <= self.max
        };
        lo && hi
    }
}

/// `strtod` as `zslParseRange` uses it: whole string, not NaN (overflow allowed: ±inf).
fn strtod_loose(s: &[u8]) -> Option<f64> {
    if s.is_empty() {
        return None;
    }
    match strtod(s) {
        Some(v) => Some(v),
        None => {
            // Overflow and underflow are accepted here (strtod's clamped result).
            let t = std::str::from_utf8(s).ok()?;
            if t.as_bytes()[0].is_ascii_whitespace() {
                return None;
            }
            let v: f64 = t.parse().ok()?;
            if v.is_nan() {
                None
            } else {
                Some(v)
            }
        }
    }
}

/// A lexicographic range bound (`ZRANGEBYLEX`).
#[derive(Debug, Clone)]
pub enum LexBound {
    /// `-`.
    Min,
    /// `+`.
    Max,
    /// `[x` (inclusive) or `(x` (exclusive).
    Item(Vec<u8>, bool),
}

impl LexBound {
    /// `zslParseLexRangeItem`.
    pub fn parse(s: &[u8]) -> Result<LexBound, Reject> {
        let bad = || Reject::Err("min or max not valid string range item".into());
        match s.first() {
            Some(b'+') if s.len() == 1 => Ok(LexBound::Max),
            Some(b'-') if s.len() == 1 => Ok(LexBound::Min),
            Some(b'(') => Ok(LexBound::Item(s[1..].to_vec(), true)),
            Some(b'[') => Ok(LexBound::Item(s[1..].to_vec(), false)),
            _ => Err(bad()),
        }
    }

    /// True when `m` satisfies this bound as a minimum.
    pub fn gte_min(&self, m: &[u8]) -> bool {
        match self {
            LexBound::Min => true,
            LexBound::Max => false,
            LexBound::Item(x, ex) => {
                if *ex {
                    m > x.as_slice()
                } else {
                    m >= x.as_slice()
                }
            }
        }
    }

    /// True when `m` satisfies this bound as a maximum.
    pub fn lte_max(&self, m: &[u8]) -> bool {
        match self {
            LexBound::Min => false,
            LexBound::Max => true,
            LexBound::Item(x, ex) => {
                if *ex {
                    m < x.as_slice()
                } else {
                    m <= x.as_slice()
                }
            }
        }
    }
}

/// Redis's rank normalisation (`LRANGE`, `LTRIM`, `ZREMRANGEBYRANK`): negative indexes from
/// the end, clamped; `None` when the range is empty.
pub fn rank_range(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let llen = len as i64;
    let mut start = if start < 0 { llen + start } else { start };
    let mut end = if end < 0 { llen + end } else { end };
    if start < 0 {
        start = 0;
    }
    if start > end || start >= llen {
        return None;
    }
    if end >= llen {
        end = llen - 1;
    }
    Some((start as usize, end as usize))
}

/// Case-insensitive comparison of an argument with an option name.
pub fn is(a: &[u8], name: &str) -> bool {
    a.eq_ignore_ascii_case(name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ll() {
        assert_eq!(string2ll(b"0"), Some(0));
        assert_eq!(string2ll(b"-0"), None);
        assert_eq!(string2ll(b"01"), None);
        assert_eq!(string2ll(b"+1"), None);
        assert_eq!(string2ll(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(string2ll(b"9223372036854775808"), None);
        assert_eq!(string2ll(b" 1"), None);
    }

    #[test]
    fn g17() {
        // Values checked against glibc printf("%.17g").
        assert_eq!(fmt_g17(1.1), "1.1000000000000001");
        assert_eq!(fmt_g17(100.0), "100");
        assert_eq!(fmt_g17(1e17), "1e+17");
        assert_eq!(fmt_g17(1e16), "10000000000000000");
        assert_eq!(fmt_g17(0.0001), "0.0001");
        assert_eq!(fmt_g17(0.00001), "1.0000000000000001e-05");
        assert_eq!(fmt_g17(-2.5), "-2.5");
        assert_eq!(fmt_g17(f64::INFINITY), "inf");
        assert_eq!(fmt_g17(-0.0), "-0");
    }

    #[test]
    fn floats() {
        assert_eq!(strtod(b"1e400"), None);
        assert_eq!(strtod(b"1e-400"), None);
        assert_eq!(strtod(b"-inf"), Some(f64::NEG_INFINITY));
        assert_eq!(strtod(b"nan"), None);
        assert_eq!(strtod(b" 1"), None);
        assert_eq!(strtod(b"0x10"), Some(16.0));
        assert_eq!(strtod(b".5"), Some(0.5));
        assert_eq!(strtod(b""), None);
    }
}
