//! The RESP record parser at the core of the AOF reader: no I/O, no allocation.
//!
//! [`parse_record`] reads one record (a command or a `#` annotation line) at a position in a
//! buffer and says what it found, that it needs more input, or what is wrong. It accepts
//! exactly what `redis-check-aof` (7.0) accepts, byte for byte, so that the truncation point
//! redsafe computes is the one Redis computes:
//!
//! - header lines (`*<n>` and `$<n>`) are read like `fgets` into a 128-byte buffer (at most
//!   127 bytes, through the first `\n`), the number like `strtol` (leading white space and a
//!   sign allowed, no digits means 0, overflow saturates), and the bytes right after the
//!   number must be `\r\n`;
//! - an argument length must be in `0..=i64::MAX-2`; the payload must be followed by `\r\n`;
//! - `*0` and negative argument counts are accepted (a command with no arguments);
//! - an annotation is a line starting with `#`, read like `fgets` into 1024 bytes (at most
//!   1023 bytes); an annotation cut by the end of the file is accepted;
//! - any other first byte is a format error.
//!
//! BE ADVISED: the odd corners above (white space before a count, an unterminated annotation
//! at EOF, `*0`) are deliberate: they are what the reference checker does.

/// Longest header line `redis-check-aof` reads (`fgets` into `char buf[128]`).
pub const HEADER_LINE_MAX: usize = 127;
/// Longest annotation line (`AOF_ANNOTATION_LINE_MAX_LEN` 1024, read with `fgets`).
pub const ANNOTATION_LINE_MAX: usize = 1023;

/// What a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RawKind {
    Command,
    Annotation,
}

/// A complete record found in the buffer (positions are buffer indices).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawRecord {
    pub kind: RawKind,
    pub start: usize,
    pub end: usize,
    /// Declared argument count (commands; may be 0 or negative).
    pub argc: i64,
    /// Payload range of the first argument, `start..end` (empty when there is none).
    pub name: (usize, usize),
    /// `\r\n` terminators consumed (the checker's line counter), or 1/0 for annotations.
    pub crlfs: u64,
}

/// Why a record could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RawErrorKind {
    /// The input ends inside the record.
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Bytes still needed, when known.
        needed: u64,
    },
    /// A record starts with a byte that is neither `*` nor `#`.
    Format { found: u8, inline: bool },
    /// A header line does not start with the expected prefix.
    Prefix { expected: u8, found: u8 },
    /// A header line is not `<prefix><number>\r\n`.
    BadLine { expected: u8, line_cut: bool },
    /// An argument length outside `0..=i64::MAX-2`.
    BadLength(i64),
    /// The two bytes after a payload are not `\r\n`.
    NoCrlf([u8; 2]),
}

/// A record that cannot be read.
#[derive(Debug, Clone)]
pub(crate) struct RawError {
    pub kind: RawErrorKind,
    /// Buffer index of the offending bytes.
    pub at: usize,
    /// `\r\n` consumed before the error (the checker's line counter).
    pub crlfs: u64,
    /// First argument's payload range, when it was read.
    pub name: Option<(usize, usize)>,
    /// Index of the argument being read (commands).
    pub arg: Option<i64>,
    /// Declared argument count, when read.
    pub argc: Option<i64>,
}

impl RawError {
    pub fn is_truncation(&self) -> bool {
        matches!(self.kind, RawErrorKind::Truncated { .. })
    }
}

/// The outcome of [`parse_record`].
#[derive(Debug, Clone)]
pub(crate) enum Step {
    Record(RawRecord),
    /// The buffer ends before the record does and more input exists.
    NeedMore,
    /// Clean end of input at a record boundary.
    End,
    Error(RawError),
}

/// C `isspace` in the C locale.
#[inline]
fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// `strtol(s, &end, 10)` on a C string: returns (value, index of end). No digits → (0, 0).
pub(crate) fn strtol(s: &[u8]) -> (i64, usize) {
    let (v, e, _) = strtol_ex(s);
    (v, e)
}

/// [`strtol`] that also says whether the value overflowed (C's `errno == ERANGE`).
pub(crate) fn strtol_ex(s: &[u8]) -> (i64, usize, bool) {
    let mut i = 0;
    while i < s.len() && is_c_space(s[i]) {
        i += 1;
    }
    let mut neg = false;
    if let Some(&c) = s.get(i) {
        if c == b'+' || c == b'-' {
            neg = c == b'-';
            i += 1;
        }
    }
    let digits = i;
    // Accumulate as a negative number so that i64::MIN is representable.
    let mut v: i64 = 0;
    let mut overflow = false;
    while let Some(&c) = s.get(i) {
        if !c.is_ascii_digit() {
            break;
        }
        let d = (c - b'0') as i64;
        match v.checked_mul(10).and_then(|x| x.checked_sub(d)) {
            Some(x) => v = x,
            None => overflow = true,
        }
        i += 1;
    }
    if i == digits {
        return (0, 0, false);
    }
    if !neg && !overflow && v == i64::MIN {
        overflow = true;
    }
    let v = if overflow {
        if neg {
            i64::MIN
        } else {
            i64::MAX
        }
    } else if neg {
        v
    } else {
        -v
    };
    (v, i, overflow)
}

/// True when a header line cut by the end of the input could still become valid.
fn could_continue(s: &[u8]) -> bool {
    let mut i = 0;
    while i < s.len() && is_c_space(s[i]) && s[i] != b'\r' {
        i += 1;
    }
    if matches!(s.get(i), Some(b'+') | Some(b'-')) {
        i += 1;
    }
    while i < s.len() && s[i].is_ascii_digit() {
        i += 1;
    }
    i == s.len() || (i + 1 == s.len() && s[i] == b'\r')
}

/// The bytes of a C string: up to the first NUL.
#[inline]
pub(crate) fn c_str(b: &[u8]) -> &[u8] {
    match memchr::memchr(0, b) {
        Some(i) => &b[..i],
        None => b,
    }
}

/// The line `fgets(buf, max + 1, fp)` would return at `pos`.
enum Fgets<'a> {
    Line {
        line: &'a [u8],
        /// The line ends at the end of the input without a `\n`.
        cut: bool,
    },
    Eof,
    NeedMore,
}

#[inline]
fn fgets(buf: &[u8], pos: usize, eof: bool, max: usize) -> Fgets<'_> {
    let rest = buf.get(pos..).unwrap_or(&[]);
    if rest.is_empty() {
        return if eof { Fgets::Eof } else { Fgets::NeedMore };
    }
    let win = &rest[..rest.len().min(max)];
    match memchr::memchr(b'\n', win) {
        Some(i) => Fgets::Line {
            line: &win[..=i],
            cut: false,
        },
        None if win.len() == max => Fgets::Line {
            line: win,
            cut: false,
        },
        None if eof => Fgets::Line {
            line: win,
            cut: true,
        },
        None => Fgets::NeedMore,
    }
}

/// Reading a `<prefix><number>\r\n` header line.
enum Long {
    Value { v: i64, next: usize },
    Eof,
    NeedMore,
    Err(RawErrorKind, usize),
}

/// `readLong` of redis-check-aof.
#[inline(always)]
fn read_long(buf: &[u8], pos: usize, eof: bool, prefix: u8) -> Long {
    // Fast path: prefix, 1-18 digits, \r\n.
    if let Some(b) = buf.get(pos..pos.saturating_add(22)) {
        if b.first() == Some(&prefix) {
            let mut i = 1;
            let mut v: i64 = 0;
            while i < 19 {
                let c = b[i];
                if !c.is_ascii_digit() {
                    break;
                }
                v = v * 10 + (c - b'0') as i64;
                i += 1;
            }
            if i > 1 && b[i] == b'\r' && b[i + 1] == b'\n' {
                return Long::Value {
                    v,
                    next: pos + i + 2,
                };
            }
        }
    }
    read_long_slow(buf, pos, eof, prefix)
}

#[cold]
fn read_long_slow(buf: &[u8], pos: usize, eof: bool, prefix: u8) -> Long {
    let (line, cut) = match fgets(buf, pos, eof, HEADER_LINE_MAX) {
        Fgets::Line { line, cut } => (line, cut),
        Fgets::Eof => return Long::Eof,
        Fgets::NeedMore => return Long::NeedMore,
    };
    let s = c_str(line);
    let first = line.first().copied().unwrap_or(0);
    if s.first() != Some(&prefix) {
        return Long::Err(
            RawErrorKind::Prefix {
                expected: prefix,
                found: first,
            },
            pos,
        );
    }
    let (v, e) = strtol(&s[1..]);
    let e = 1 + e;
    if s.get(e) == Some(&b'\r') && s.get(e + 1) == Some(&b'\n') {
        return Long::Value {
            v,
            next: pos + line.len(),
        };
    }
    if cut && s.len() == line.len() && could_continue(&s[1..]) {
        return Long::Err(
            RawErrorKind::Truncated {
                what: if prefix == b'*' {
                    "the argument count line"
                } else {
                    "an argument length line"
                },
                needed: 0,
            },
            pos + line.len(),
        );
    }
    Long::Err(
        RawErrorKind::BadLine {
            expected: prefix,
            line_cut: line.len() == HEADER_LINE_MAX && line.last() != Some(&b'\n'),
        },
        pos + e,
    )
}

/// Reads the record at `buf[pos..]`. `total` is the number of input bytes from `buf[0]` to
/// the end of the input (`>= buf.len()`; equal when the whole rest of the input is in `buf`).
pub(crate) fn parse_record(buf: &[u8], pos: usize, total: u64) -> Step {
    let eof = total <= buf.len() as u64;
    let Some(&c) = buf.get(pos) else {
        return if eof { Step::End } else { Step::NeedMore };
    };
    match c {
        b'*' => parse_command(buf, pos, eof, total),
        b'#' => match fgets(buf, pos, eof, ANNOTATION_LINE_MAX) {
            Fgets::Line { line, .. } => Step::Record(RawRecord {
                kind: RawKind::Annotation,
                start: pos,
                end: pos + line.len(),
                argc: 0,
                name: (pos, pos),
                crlfs: (line.last() == Some(&b'\n')) as u64,
            }),
            Fgets::NeedMore => Step::NeedMore,
            Fgets::Eof => Step::End,
        },
        _ => {
            let inline = c.is_ascii_alphabetic();
            Step::Error(RawError {
                kind: RawErrorKind::Format { found: c, inline },
                at: pos,
                crlfs: 0,
                name: None,
                arg: None,
                argc: None,
            })
        }
    }
}

#[inline]
fn parse_command(buf: &[u8], pos: usize, eof: bool, total: u64) -> Step {
    let mut crlfs = 0u64;
    let err = |kind, at, crlfs, name, arg, argc| {
        Step::Error(RawError {
            kind,
            at,
            crlfs,
            name,
            arg,
            argc,
        })
    };
    let (argc, mut p) = match read_long(buf, pos, eof, b'*') {
        Long::Value { v, next } => (v, next),
        Long::NeedMore => return Step::NeedMore,
        Long::Eof => return Step::End,
        Long::Err(k, at) => return err(k, at, crlfs, None, None, None),
    };
    crlfs += 1;
    let mut name = (p, p);
    let mut have_name = false;
    let mut i: i64 = 0;
    while i < argc {
        let (len, q) = match read_long(buf, p, eof, b'$') {
            Long::Value { v, next } => (v, next),
            Long::NeedMore => return Step::NeedMore,
            Long::Eof => {
                return err(
                    RawErrorKind::Truncated {
                        what: "an argument length line",
                        needed: 0,
                    },
                    p,
                    crlfs,
                    have_name.then_some(name),
                    Some(i),
                    Some(argc),
                )
            }
            Long::Err(k, at) => {
                return err(k, at, crlfs, have_name.then_some(name), Some(i), Some(argc))
            }
        };
        crlfs += 1;
        if !(0..=i64::MAX - 2).contains(&len) {
            return err(
                RawErrorKind::BadLength(len),
                p,
                crlfs,
                have_name.then_some(name),
                Some(i),
                Some(argc),
            );
        }
        let need = len as u64 + 2;
        let avail_total = total.saturating_sub(q as u64);
        if avail_total < need {
            return err(
                RawErrorKind::Truncated {
                    what: "an argument",
                    needed: need - avail_total,
                },
                (total as usize).max(q),
                crlfs,
                have_name.then_some(name),
                Some(i),
                Some(argc),
            );
        }
        let pe = q + len as usize;
        let Some(tail) = buf.get(pe..pe + 2) else {
            return Step::NeedMore;
        };
        if tail != b"\r\n" {
            return err(
                RawErrorKind::NoCrlf([tail[0], tail[1]]),
                pe,
                crlfs,
                have_name.then_some(name),
                Some(i),
                Some(argc),
            );
        }
        crlfs += 1;
        if i == 0 {
            name = (q, pe);
            have_name = true;
        }
        p = pe + 2;
        i += 1;
    }
    Step::Record(RawRecord {
        kind: RawKind::Command,
        start: pos,
        end: p,
        argc,
        name,
        crlfs,
    })
}

/// Iterates the argument payloads of a command record that [`parse_record`] accepted.
#[derive(Debug, Clone)]
pub struct ArgIter<'a> {
    raw: &'a [u8],
    pos: usize,
    left: i64,
}

impl<'a> ArgIter<'a> {
    /// Arguments of the validated command record `raw` (starting at its `*` line).
    pub(crate) fn new(raw: &'a [u8]) -> Self {
        match read_long(raw, 0, true, b'*') {
            Long::Value { v, next } => ArgIter {
                raw,
                pos: next,
                left: v.max(0),
            },
            _ => ArgIter {
                raw,
                pos: raw.len(),
                left: 0,
            },
        }
    }
}

impl<'a> Iterator for ArgIter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.left <= 0 {
            return None;
        }
        match read_long(self.raw, self.pos, true, b'$') {
            Long::Value { v, next } => {
                let end = next.checked_add(usize::try_from(v).ok()?)?;
                let a = self.raw.get(next..end)?;
                self.pos = end + 2;
                self.left -= 1;
                Some(a)
            }
            _ => {
                self.left = 0;
                None
            }
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = usize::try_from(self.left).unwrap_or(0);
        (0, Some(n))
    }
}

/// `#TS:<n>` as redis-check-aof reads it: `Some(Ok(ts))` for a valid stamp, `Some(Err(()))`
/// for a `#TS:` line whose number is not followed directly by `\r` (its
/// "Invalid timestamp annotation"), `None` for other annotations.
pub fn parse_timestamp(line: &[u8]) -> Option<Result<i64, ()>> {
    let rest = line.strip_prefix(b"#TS:")?;
    let s = c_str(rest);
    // strtol's ERANGE (errno) also makes the checker reject the stamp.
    let (v, e, overflow) = strtol_ex(s);
    if !overflow && s.get(e) == Some(&b'\r') {
        Some(Ok(v))
    } else {
        Some(Err(()))
    }
}

/// Encodes a command as RESP (`*<argc>\r\n` then `$<len>\r\n<bytes>\r\n` per argument).
pub fn encode_command<A: AsRef<[u8]>>(args: &[A], out: &mut Vec<u8>) {
    let mut b = itoa::Buffer::new();
    out.push(b'*');
    out.extend_from_slice(b.format(args.len()).as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in args {
        let a = a.as_ref();
        out.push(b'$');
        out.extend_from_slice(b.format(a.len()).as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn whole(b: &[u8]) -> Step {
        parse_record(b, 0, b.len() as u64)
    }

    #[test]
    fn strtol_like_c() {
        assert_eq!(strtol(b"12\r\n"), (12, 2));
        assert_eq!(strtol(b" \t+7x"), (7, 4));
        assert_eq!(strtol(b"-3"), (-3, 2));
        assert_eq!(strtol(b"\r\n"), (0, 0));
        assert_eq!(strtol(b"-"), (0, 0));
        assert_eq!(strtol(b"99999999999999999999999"), (i64::MAX, 23));
        assert_eq!(strtol(b"-99999999999999999999999"), (i64::MIN, 24));
        assert_eq!(strtol(b"-9223372036854775808"), (i64::MIN, 20));
    }

    #[test]
    fn commands() {
        let b = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
        match whole(b) {
            Step::Record(r) => {
                assert_eq!((r.start, r.end, r.argc, r.crlfs), (0, b.len(), 2, 5));
                assert_eq!(&b[r.name.0..r.name.1], b"GET");
            }
            s => panic!("{s:?}"),
        }
        let args: Vec<&[u8]> = ArgIter::new(b).collect();
        assert_eq!(args, vec![&b"GET"[..], b"k"]);
        // checker quirks
        assert!(matches!(whole(b"*0\r\n"), Step::Record(r) if r.argc == 0));
        assert!(matches!(whole(b"*\r\n"), Step::Record(r) if r.argc == 0 && r.end == 3));
        assert!(matches!(whole(b"*-1\r\n"), Step::Record(r) if r.argc == -1));
        assert!(matches!(whole(b"* 1\r\n$1\r\na\r\n"), Step::Record(r) if r.argc == 1));
        assert!(matches!(whole(b"*\r1\r\n$+1\r\na\r\n"), Step::Record(r) if r.argc == 1));
        assert_eq!(
            ArgIter::new(b"*\r1\r\n$+1\r\na\r\n").collect::<Vec<_>>(),
            vec![b"a"]
        );
    }

    #[test]
    fn errors() {
        let e = |b: &[u8]| match whole(b) {
            Step::Error(e) => e,
            s => panic!("{s:?}"),
        };
        assert!(matches!(
            e(b"SET a b\r\n").kind,
            RawErrorKind::Format { inline: true, .. }
        ));
        assert!(matches!(
            e(b"\0\0\0").kind,
            RawErrorKind::Format { found: 0, .. }
        ));
        assert!(e(b"*2\r\n$3\r\nGET\r\n").is_truncation());
        assert!(e(b"*2\r\n$3\r\nGE").is_truncation());
        assert!(e(b"*2\r").is_truncation());
        assert!(e(b"*").is_truncation());
        assert!(matches!(
            e(b"*1\r\n$3\r\nGETxx").kind,
            RawErrorKind::NoCrlf(_)
        ));
        assert!(matches!(
            e(b"*1\r\n$-3\r\n").kind,
            RawErrorKind::BadLength(-3)
        ));
        assert!(matches!(
            e(b"*1\r\n:3\r\n").kind,
            RawErrorKind::Prefix { .. }
        ));
        assert!(matches!(e(b"* \r\n").kind, RawErrorKind::BadLine { .. }));
        assert!(matches!(e(b"*1\n").kind, RawErrorKind::BadLine { .. }));
        let long = [b"*".as_slice(), &[b'0'; 130], b"1\r\n"].concat();
        assert!(matches!(e(&long).kind, RawErrorKind::BadLine { .. }));
        // huge length: truncated without allocating
        assert!(e(b"*1\r\n$99999999999999\r\nab").is_truncation());
    }

    #[test]
    fn need_more() {
        let b = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
        for cut in 0..b.len() {
            assert!(matches!(
                parse_record(&b[..cut], 0, b.len() as u64),
                Step::NeedMore
            ));
        }
    }

    #[test]
    fn annotations() {
        assert!(matches!(whole(b"#TS:1\r\n*0\r\n"), Step::Record(r) if r.end == 7));
        assert!(matches!(whole(b"#TS:1"), Step::Record(r) if r.end == 5));
        let long = [b"#".as_slice(), &[b'x'; 2000]].concat();
        assert!(matches!(whole(&long), Step::Record(r) if r.end == 1023));
        assert_eq!(parse_timestamp(b"#TS:1700000000\r\n"), Some(Ok(1700000000)));
        assert_eq!(parse_timestamp(b"#TS:\r\n"), Some(Ok(0)));
        assert_eq!(parse_timestamp(b"#TS:12x\r\n"), Some(Err(())));
        assert_eq!(parse_timestamp(b"#other\r\n"), None);
    }
}
