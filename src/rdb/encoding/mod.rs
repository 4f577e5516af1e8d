//! Decoders for the encodings nested inside RDB values: LZF, listpack, ziplist, intset, zipmap.
//!
//! Each walks a blob with full structural validation (the level of Redis's
//! `sanitize-dump-payload yes`) and yields [`Elem`]s that borrow the blob.

pub mod header;
pub mod intset;
pub mod listpack;
pub mod lzf;
pub mod ziplist;
pub mod zipmap;

/// One element of a compact encoding: bytes borrowed from the blob, or an integer
/// (whose string value is its decimal text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Elem<'a> {
    /// A byte string.
    Bytes(&'a [u8]),
    /// An integer.
    Int(i64),
}

impl<'a> Elem<'a> {
    /// The string form of the element, formatting integers into `buf`.
    #[inline]
    pub fn as_bytes<'b>(&self, buf: &'b mut itoa::Buffer) -> &'b [u8]
    where
        'a: 'b,
    {
        match *self {
            Elem::Bytes(b) => b,
            Elem::Int(i) => buf.format(i).as_bytes(),
        }
    }

    /// Appends the string form to `out`.
    #[inline]
    pub fn push_to(&self, out: &mut Vec<u8>) {
        match *self {
            Elem::Bytes(b) => out.extend_from_slice(b),
            Elem::Int(i) => out.extend_from_slice(itoa::Buffer::new().format(i).as_bytes()),
        }
    }

    /// The string form as an owned vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.push_to(&mut v);
        v
    }

    /// The element as an integer: integers as is, strings if they parse as a canonical i64.
    pub fn as_int(&self) -> Option<i64> {
        match *self {
            Elem::Int(i) => Some(i),
            Elem::Bytes(b) => parse_i64_canonical(b),
        }
    }

    /// The element as a double (integers exactly, strings parsed like Redis `strtod`).
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            Elem::Int(i) => Some(i as f64),
            Elem::Bytes(b) => parse_f64(b),
        }
    }

    /// A 64-bit hash of the string form, for duplicate detection.
    #[inline]
    pub fn hash64(&self) -> u64 {
        let mut buf = itoa::Buffer::new();
        hash_bytes(self.as_bytes(&mut buf))
    }
}

/// A fast 64-bit hash of a byte string, for duplicate detection (collisions are re-checked
/// by the callers). Reads 8 bytes at a time; the tail is read with overlapping loads rather
/// than byte by byte (the length is mixed in first, so the overlap cannot cause collisions
/// by itself).
#[inline]
pub fn hash_bytes(b: &[u8]) -> u64 {
    const K: u64 = 0x9e37_79b9_7f4a_7c15;
    #[inline(always)]
    fn mix(h: u64, x: u64) -> u64 {
        let m = (h ^ x).wrapping_mul(K);
        m ^ (m >> 29)
    }
    #[inline(always)]
    fn le64(b: &[u8], at: usize) -> u64 {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[at..at + 8]);
        u64::from_le_bytes(a)
    }
    #[inline(always)]
    fn le32(b: &[u8], at: usize) -> u64 {
        let mut a = [0u8; 4];
        a.copy_from_slice(&b[at..at + 4]);
        u32::from_le_bytes(a) as u64
    }
    let n = b.len();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ (n as u64).wrapping_mul(K);
    if n >= 8 {
        let mut at = 0;
        while at + 8 <= n {
            h = mix(h, le64(b, at));
            at += 8;
        }
        if at < n {
            h = mix(h, le64(b, n - 8));
        }
    } else if n >= 4 {
        h = mix(h, le32(b, 0) | (le32(b, n - 4) << 32));
    } else if n > 0 {
        h = mix(
            h,
            ((b[0] as u64) << 16) | ((b[n / 2] as u64) << 8) | b[n - 1] as u64,
        );
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h
}

/// Parses a canonical i64 the way Redis `string2ll` does: optional `-`, no leading zeros
/// (except "0"), no `+`, no spaces, at most 20 bytes, no overflow.
pub fn parse_i64_canonical(b: &[u8]) -> Option<i64> {
    if b.is_empty() || b.len() > 20 {
        return None;
    }
    if b == b"0" {
        return Some(0);
    }
    let (neg, digits) = match b.first() {
        Some(b'-') => (true, b.get(1..)?),
        _ => (false, b),
    };
    match digits.first() {
        Some(b'1'..=b'9') => {}
        _ => return None,
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    if neg {
        if v > (i64::MAX as u64) + 1 {
            None
        } else {
            Some((v as i64).wrapping_neg())
        }
    } else if v > i64::MAX as u64 {
        None
    } else {
        Some(v as i64)
    }
}

/// Parses a decimal double as Redis does for zset scores (`strtod`): accepts `inf`, `-inf`,
/// `+inf`, `nan` (rejected by callers that must), exponents and leading/trailing digits.
pub fn parse_f64(b: &[u8]) -> Option<f64> {
    // Rust's grammar is Redis's minus surrounding spaces (which Rust rejects too): an optional
    // sign, then digits/exponent or `inf`/`infinity`/`nan` in any case. No allocation.
    std::str::from_utf8(b).ok()?.parse::<f64>().ok()
}

/// True when [`parse_f64`] accepts `b` and the value is not NaN, without computing it: the
/// grammar `[+-]? (inf | infinity | digits [. digits] | . digits) ([eE] [+-]? digits)?`,
/// letters in any case.
pub fn is_score_text(b: &[u8]) -> bool {
    let sign = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    if plain_decimal(b.get(sign..).unwrap_or(&[])) {
        return true;
    }
    score_grammar(b, sign)
}

/// True for 8 to 24 bytes of digits with at most one `.` among them (most stored scores:
/// Redis writes them with up to 17 significant digits), read as up to three overlapping
/// 8-byte words straight from the slice. False means "not this shape", not "invalid".
#[inline]
fn plain_decimal(body: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let n = body.len();
    if !(8..=24).contains(&n) {
        return false;
    }
    let word = |at: usize| {
        u64::from_le_bytes(
            body.get(at..at + 8)
                .and_then(|w| w.try_into().ok())
                .unwrap_or([0; 8]),
        )
    };
    // Byte offsets covering the whole body (the last word may overlap the ones before it).
    let offsets = [0, 8.min(n - 8), n - 8];
    let mut first_dot = usize::MAX;
    let mut last_dot = 0;
    for at in offsets {
        let x = word(at);
        // Per byte: bit 7 set unless the byte is an ASCII digit (b ^ 0x30 < 10, computed
        // without carries between bytes)...
        let y = x ^ (0x30 * ONES);
        let non_digit = (((y & (0x7f * ONES)) + 0x76 * ONES) | y) & (0x80 * ONES);
        // ...and unless it is a '.' (zero after the XOR).
        let d = x ^ (b'.' as u64 * ONES);
        let dot = !(((d & (0x7f * ONES)) + 0x7f * ONES) | d) & (0x80 * ONES);
        if non_digit & !dot != 0 {
            return false;
        }
        if dot != 0 {
            first_dot = first_dot.min(at + (dot.trailing_zeros() / 8) as usize);
            last_dot = last_dot.max(at + (63 - dot.leading_zeros()) as usize / 8);
        }
    }
    // At most one '.' (the same byte, however many words saw it); n ≥ 8 leaves digits.
    first_dot == usize::MAX || first_dot == last_dot
}

/// [`is_score_text`]'s grammar, byte by byte, after a sign of `sign` bytes.
fn score_grammar(b: &[u8], sign: usize) -> bool {
    let mut i = sign;
    let rest = b.get(i..).unwrap_or(&[]);
    if rest.eq_ignore_ascii_case(b"inf") || rest.eq_ignore_ascii_case(b"infinity") {
        return true;
    }
    let digits = |i: &mut usize| {
        let s = *i;
        while b.get(*i).is_some_and(|c| c.is_ascii_digit()) {
            *i += 1;
        }
        *i - s
    };
    let mut n = digits(&mut i);
    if b.get(i) == Some(&b'.') {
        i += 1;
        n += digits(&mut i);
    }
    if n == 0 {
        return false;
    }
    if b.get(i).is_some_and(|&c| c | 0x20 == b'e') {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `is_score_text` agrees with `parse_f64` (minus NaN) on every string of up to 5 bytes
    /// over an alphabet of the characters that matter.
    #[test]
    fn score_text_agrees_with_parse() {
        let alphabet = b"09.eE+-iInNfFatyx ";
        let mut s = Vec::new();
        fn rec(s: &mut Vec<u8>, alphabet: &[u8], depth: usize) {
            let want = parse_f64(s).is_some_and(|f| !f.is_nan());
            assert_eq!(is_score_text(s), want, "{:?}", String::from_utf8_lossy(s));
            if depth == 0 {
                return;
            }
            for &c in alphabet {
                s.push(c);
                rec(s, alphabet, depth - 1);
                s.pop();
            }
        }
        rec(&mut s, alphabet, 5);
        for w in [
            "infinity",
            "-Infinity",
            "+INF",
            "1.7976931348623157e308",
            "1e99999",
            ".5e-3",
        ] {
            assert!(is_score_text(w.as_bytes()), "{w}");
        }
        for w in [
            "nan", "-NaN", "infinit", "1e", "e5", ".", "1..2", "0x10", "",
        ] {
            assert!(!is_score_text(w.as_bytes()), "{w}");
        }
    }

    /// The 8-bytes-at-a-time path agrees with `parse_f64` on longer strings too (up to 28
    /// bytes: both sides of its 24-byte limit), mostly digits with a few other characters.
    #[test]
    fn long_score_text_agrees_with_parse() {
        let alphabet = b"0123456789012345678901234567890123456789.eE+- \x80/:";
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = 1 + (x % 28) as usize;
            let mut y = x;
            let s: Vec<u8> = (0..len)
                .map(|_| {
                    y = y.rotate_left(7).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                    alphabet[(y >> 40) as usize % alphabet.len()]
                })
                .collect();
            let want = parse_f64(&s).is_some_and(|f| !f.is_nan());
            assert_eq!(is_score_text(&s), want, "{:?}", String::from_utf8_lossy(&s));
        }
        for w in [
            "1234567890123456",
            "123456789.123456",
            "734.28472398472339",
            "12345678901234567890.123",
            "-0.5",
            "+7",
        ] {
            assert!(is_score_text(w.as_bytes()), "{w}");
        }
    }
}
