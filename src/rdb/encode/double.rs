//! Text forms of doubles as Redis writes them: `%.17g` (zset v1 scores in RDB, and
//! ziplist/listpack zset scores via `d2string`), with Redis's integer shortcut.

/// Formats like C `printf("%.17g", v)` for finite `v`.
pub fn fmt_g17(v: f64) -> String {
    fmt_g(v, 17)
}

/// Formats like C `printf("%.{prec}g", v)` for finite `v`.
pub fn fmt_g(v: f64, prec: usize) -> String {
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let p = prec.max(1);
    // Scientific form with p significant digits gives the rounded mantissa and exponent.
    let sci = format!("{:.*e}", p - 1, v);
    let (mant, exp) = match sci.split_once('e') {
        Some((m, e)) => (m.to_string(), e.parse::<i32>().unwrap_or(0)),
        None => return sci,
    };
    if exp < -4 || exp >= p as i32 {
        let mut m = mant;
        if m.contains('.') {
            while m.ends_with('0') {
                m.pop();
            }
            if m.ends_with('.') {
                m.pop();
            }
        }
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", exp.abs())
    } else {
        let decimals = (p as i32 - 1 - exp).max(0) as usize;
        let mut s = format!("{:.*}", decimals, v);
        if s.contains('.') {
            while s.ends_with('0') {
                s.pop();
            }
            if s.ends_with('.') {
                s.pop();
            }
        }
        s
    }
}

/// The score text Redis stores for a zset element in a ziplist/listpack or as a zset v1
/// string double (`d2string` / `rdbSaveDoubleValue`): `inf`/`-inf`, integers in
/// (-2^52, 2^52) as integers, everything else `%.17g`.
pub fn score_text(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v.is_nan() {
        return "nan".into();
    }
    let min = -4503599627370495.0;
    let max = 4503599627370496.0;
    if v > min && v < max && v == (v as i64) as f64 {
        if v == 0.0 && v.is_sign_negative() {
            return "-0".into();
        }
        return itoa::Buffer::new().format(v as i64).to_string();
    }
    fmt_g17(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_printf() {
        assert_eq!(fmt_g17(0.1), "0.10000000000000001");
        assert_eq!(fmt_g17(1.5), "1.5");
        assert_eq!(fmt_g17(1e300), "1.0000000000000001e+300");
        assert_eq!(fmt_g17(1e-5), "1.0000000000000001e-05");
        assert_eq!(fmt_g17(123456.789), "123456.789");
        assert_eq!(fmt_g17(-2.5e-310), "-2.5000000000000171e-310");
        assert_eq!(fmt_g17(1e17), "1e+17");
        assert_eq!(fmt_g(100000.0, 6), "100000");
        assert_eq!(fmt_g(1000000.0, 6), "1e+06");
        assert_eq!(score_text(3.0), "3");
        assert_eq!(score_text(-7.0), "-7");
        assert_eq!(score_text(f64::INFINITY), "inf");
        assert_eq!(score_text(4503599627370496.0), "4503599627370496");
        for v in [0.1, 1.0 / 3.0, 1e-300, 6.02214076e23, -0.0005] {
            assert_eq!(score_text(v).parse::<f64>().unwrap(), v);
        }
    }
}
