//! Multi-part AOF manifests (`appendonly.aof.manifest`, Redis 7.0+): parsing with Redis's
//! rules and `sdssplitargs` quoting, and writing with `sdscatrepr` quoting.
//!
//! Parsing follows `aofLoadManifestFromFile`: lines read like `fgets` into 1025 bytes, `#`
//! comments, keys matched case-insensitively, unknown keys kept (Redis 8's `startoffset` /
//! `endoffset`) and written back unchanged, at most one BASE, INCR sequence numbers strictly
//! increasing. On top of Redis's rules, redsafe refuses names that could reach outside the
//! AOF directory or are ambiguous: empty names, names containing `/`, `\`, NUL or `..`, and a
//! file named twice.

use crate::error::{escape_bytes, Error, ErrorKind, Result};

/// Longest manifest line (`AOF_MANIFEST_MAX_LINE`).
pub const MANIFEST_MAX_LINE: usize = 1024;

/// The type of a manifest entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileType {
    /// `b`: the BASE (an RDB or a RESP rewrite); loaded first.
    Base,
    /// `h`: a HISTORY file, waiting for deletion; never loaded.
    History,
    /// `i`: an INCR file; loaded after the BASE, in manifest order.
    Incr,
}

impl FileType {
    /// The manifest letter.
    pub fn letter(self) -> char {
        match self {
            FileType::Base => 'b',
            FileType::History => 'h',
            FileType::Incr => 'i',
        }
    }
}

/// One `file <name> seq <n> type <t> [key value ...]` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestEntry {
    /// The file name (a plain name inside the AOF directory; bytes, may need quoting).
    pub name: Vec<u8>,
    /// The sequence number.
    pub seq: i64,
    /// BASE, HISTORY or INCR.
    pub file_type: FileType,
    /// Other keys in their original order (e.g. `startoffset`, `endoffset`), kept on write.
    pub extra: Vec<(Vec<u8>, Vec<u8>)>,
}

impl ManifestEntry {
    /// A new entry without extra keys.
    pub fn new(name: impl Into<Vec<u8>>, seq: i64, file_type: FileType) -> Self {
        ManifestEntry {
            name: name.into(),
            seq,
            file_type,
            extra: Vec::new(),
        }
    }

    /// The file name as text (lossy for non-UTF-8 names).
    pub fn name_lossy(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }

    /// The value of an extra key (case-insensitive), e.g. `startoffset`.
    pub fn extra_value(&self, key: &str) -> Option<&[u8]> {
        self.extra
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key.as_bytes()))
            .map(|(_, v)| v.as_slice())
    }
}

/// A parsed manifest: entries in file order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Manifest {
    /// Entries in the order they appear.
    pub entries: Vec<ManifestEntry>,
}

fn manifest_error(line_no: usize, offset: u64, line: &[u8], why: &str) -> Error {
    Error::new(ErrorKind::Corrupt {
        expected: "a valid AOF manifest line (file <name> seq <n> type <b|h|i>)",
        found: why.to_string(),
    })
    .at(offset)
    .with_context(format!("manifest line {line_no}: '{}'", escape_bytes(line)))
}

/// Why a file name is refused, or `None` when it is a safe plain name.
pub fn unsafe_name_reason(name: &[u8]) -> Option<&'static str> {
    if name.is_empty() {
        return Some("an empty file name");
    }
    if name.contains(&b'/') || name.contains(&b'\\') {
        return Some("a file name with a path separator (File can't be a path, just a filename)");
    }
    if name.contains(&0) {
        return Some("a file name with a NUL byte");
    }
    if name == b"." || name.windows(2).any(|w| w == b"..") {
        return Some("a file name containing '..' or equal to '.'");
    }
    None
}

/// C `isspace`.
fn is_c_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn hex_val(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Splits a line like Redis's `sdssplitargs`: white-space separated tokens, `"..."` with
/// `\xHH \n \r \t \b \a \<c>` escapes, `'...'` with `\'`; a closing quote must be followed by
/// white space or the end. `None` on unbalanced quotes (Redis's "Invalid ... format").
pub fn split_args(line: &[u8]) -> Option<Vec<Vec<u8>>> {
    // The C function stops at a NUL byte.
    let line = match line.iter().position(|&c| c == 0) {
        Some(i) => &line[..i],
        None => line,
    };
    let at = |i: usize| line.get(i).copied().unwrap_or(0);
    let mut out = Vec::new();
    let mut p = 0;
    loop {
        while p < line.len() && is_c_space(line[p]) {
            p += 1;
        }
        if p >= line.len() {
            return Some(out);
        }
        let mut cur = Vec::new();
        let (mut inq, mut insq, mut done) = (false, false, false);
        while !done {
            let c = at(p);
            if inq {
                if c == b'\\' && at(p + 1) == b'x' {
                    if let (Some(h), Some(l)) = (hex_val(at(p + 2)), hex_val(at(p + 3))) {
                        cur.push(h * 16 + l);
                        p += 3;
                        p += 1;
                        continue;
                    }
                }
                if c == b'\\' && at(p + 1) != 0 {
                    p += 1;
                    cur.push(match at(p) {
                        b'n' => b'\n',
                        b'r' => b'\r',
                        b't' => b'\t',
                        b'b' => 0x08,
                        b'a' => 0x07,
                        o => o,
                    });
                } else if c == b'"' {
                    if at(p + 1) != 0 && !is_c_space(at(p + 1)) {
                        return None;
                    }
                    done = true;
                } else if c == 0 {
                    return None;
                } else {
                    cur.push(c);
                }
            } else if insq {
                if c == b'\\' && at(p + 1) == b'\'' {
                    p += 1;
                    cur.push(b'\'');
                } else if c == b'\'' {
                    if at(p + 1) != 0 && !is_c_space(at(p + 1)) {
                        return None;
                    }
                    done = true;
                } else if c == 0 {
                    return None;
                } else {
                    cur.push(c);
                }
            } else {
                match c {
                    b' ' | b'\n' | b'\r' | b'\t' | 0 => done = true,
                    b'"' => inq = true,
                    b'\'' => insq = true,
                    _ => cur.push(c),
                }
            }
            if at(p) != 0 {
                p += 1;
            }
        }
        out.push(cur);
    }
}

/// `atoll`: leading white space, sign, digits; 0 when there are none.
fn atoll(b: &[u8]) -> i64 {
    crate::aof::resp::strtol(b).0
}

/// True when Redis would quote the name (`sdsneedsrepr`), or it contains a `'` (which
/// Redis's reader would take as a quote).
fn needs_repr(s: &[u8]) -> bool {
    s.iter().any(|&c| {
        matches!(
            c,
            b'\\' | b'"' | b'\'' | b'\n' | b'\r' | b'\t' | 0x07 | 0x08
        ) || !(0x20..=0x7e).contains(&c)
            || is_c_space(c)
    })
}

/// Writes a manifest token like Redis (`sdscatrepr` when needed).
pub fn quote_token(s: &[u8], out: &mut Vec<u8>) {
    if !needs_repr(s) && !s.is_empty() {
        out.extend_from_slice(s);
        return;
    }
    out.push(b'"');
    for &c in s {
        match c {
            b'\\' | b'"' => {
                out.push(b'\\');
                out.push(c);
            }
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            0x07 => out.extend_from_slice(b"\\a"),
            0x08 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e => out.push(c),
            _ => out.extend_from_slice(format!("\\x{c:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

impl Manifest {
    /// Parses a manifest with Redis 7.0's rules plus redsafe's safety rules (see the module
    /// documentation). Errors carry the line number, its byte offset and Redis's message.
    pub fn parse(data: &[u8]) -> Result<Manifest> {
        let mut m = Manifest::default();
        let mut pos = 0usize;
        let mut line_no = 0usize;
        let mut have_base = false;
        let mut maxseq = 0i64;
        while pos < data.len() {
            // fgets(buf, MANIFEST_MAX_LINE + 1)
            let win = &data[pos..data.len().min(pos + MANIFEST_MAX_LINE)];
            let chunk = match memchr::memchr(b'\n', win) {
                Some(i) => &win[..=i],
                None => win,
            };
            let off = pos as u64;
            pos += chunk.len();
            line_no += 1;
            if chunk.first() == Some(&b'#') {
                continue;
            }
            let cstr = crate::aof::resp::c_str(chunk);
            if !cstr.contains(&b'\n') {
                return Err(manifest_error(
                    line_no,
                    off,
                    cstr,
                    "a line without a newline (The AOF manifest file contains too long line)",
                ));
            }
            let trimmed = trim(cstr);
            let err = |why: &str| manifest_error(line_no, off, trimmed, why);
            if trimmed.is_empty() {
                return Err(err("an empty line (Invalid AOF manifest file format)"));
            }
            let argv = match split_args(trimmed) {
                Some(a) if a.len() >= 6 && a.len() % 2 == 0 => a,
                _ => {
                    return Err(err(
                        "unbalanced quotes or a wrong number of fields (Invalid AOF manifest file format)",
                    ))
                }
            };
            let mut name: Option<Vec<u8>> = None;
            let mut seq = 0i64;
            let mut ty = 0u8;
            let mut extra = Vec::new();
            for kv in argv.chunks(2) {
                let (k, v) = (&kv[0], &kv[1]);
                if k.eq_ignore_ascii_case(b"file") {
                    if let Some(why) = unsafe_name_reason(v) {
                        return Err(err(why));
                    }
                    name = Some(v.clone());
                } else if k.eq_ignore_ascii_case(b"seq") {
                    seq = atoll(v);
                } else if k.eq_ignore_ascii_case(b"type") {
                    ty = v.first().copied().unwrap_or(0);
                } else {
                    extra.push((k.clone(), v.clone()));
                }
            }
            let (Some(name), true, true) = (name, seq != 0, ty != 0) else {
                return Err(err(
                    "a line without file, seq or type (Invalid AOF manifest file format)",
                ));
            };
            let file_type = match ty {
                b'b' => {
                    if have_base {
                        return Err(err(
                            "a second BASE entry (Found duplicate base file information)",
                        ));
                    }
                    have_base = true;
                    FileType::Base
                }
                b'h' => FileType::History,
                b'i' => {
                    if seq <= maxseq {
                        return Err(err("an INCR sequence number that does not increase (Found a non-monotonic sequence number)"));
                    }
                    maxseq = seq;
                    FileType::Incr
                }
                _ => return Err(err("an unknown type letter (Unknown AOF file type)")),
            };
            if m.entries.iter().any(|e| e.name == name) {
                return Err(err("a file named twice in the manifest"));
            }
            m.entries.push(ManifestEntry {
                name,
                seq,
                file_type,
                extra,
            });
        }
        if line_no == 0 {
            return Err(Error::new(ErrorKind::Corrupt {
                expected: "a valid AOF manifest",
                found: "an empty file (Found an empty AOF manifest)".into(),
            })
            .at(0));
        }
        Ok(m)
    }

    /// The BASE entry.
    pub fn base(&self) -> Option<&ManifestEntry> {
        self.entries.iter().find(|e| e.file_type == FileType::Base)
    }

    /// The INCR entries, in load order.
    pub fn incrs(&self) -> impl Iterator<Item = &ManifestEntry> {
        self.entries
            .iter()
            .filter(|e| e.file_type == FileType::Incr)
    }

    /// The HISTORY entries.
    pub fn history(&self) -> impl Iterator<Item = &ManifestEntry> {
        self.entries
            .iter()
            .filter(|e| e.file_type == FileType::History)
    }

    /// The manifest text as Redis writes it: BASE, then HISTORY, then INCR lines, each
    /// `file <name> seq <n> type <t>` followed by the extra keys, names quoted when needed;
    /// a manifest without entries is one comment line (an empty file does not load).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let order = [FileType::Base, FileType::History, FileType::Incr];
        for ty in order {
            for e in self.entries.iter().filter(|e| e.file_type == ty) {
                out.extend_from_slice(b"file ");
                quote_token(&e.name, &mut out);
                out.extend_from_slice(format!(" seq {} type {}", e.seq, ty.letter()).as_bytes());
                for (k, v) in &e.extra {
                    out.push(b' ');
                    quote_token(k, &mut out);
                    out.push(b' ');
                    quote_token(v, &mut out);
                }
                out.push(b'\n');
            }
        }
        if out.is_empty() {
            // Redis refuses a manifest without lines ("Found an empty AOF manifest") but
            // loads one whose lines are all comments as having no AOF files.
            out.extend_from_slice(b"# no AOF files\n");
        }
        out
    }
}

fn trim(s: &[u8]) -> &[u8] {
    let t = |c: &u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n');
    let start = s.iter().position(|c| !t(c)).unwrap_or(s.len());
    let end = s.iter().rposition(|c| !t(c)).map_or(start, |i| i + 1);
    &s[start..end.max(start)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_write() {
        let text = b"file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i startoffset 0\nfile appendonly.aof.2.incr.aof seq 2 type i startoffset 3230 endoffset 4000\n";
        let m = Manifest::parse(text).unwrap();
        assert_eq!(m.entries.len(), 3);
        assert_eq!(
            m.incrs().nth(1).unwrap().extra_value("STARTOFFSET"),
            Some(&b"3230"[..])
        );
        assert_eq!(m.to_bytes(), text.to_vec());
    }

    #[test]
    fn redis_quoting() {
        // From Redis's test "can handle appendfilename contains whitespaces".
        let text = b"file \" file seq \\n\\n.aof .2.base.rdb\" seq 2 type b\n";
        let m = Manifest::parse(text).unwrap();
        assert_eq!(m.entries[0].name, b" file seq \n\n.aof .2.base.rdb");
        assert_eq!(m.to_bytes(), text.to_vec());
        let m = Manifest::parse(b"FILE 'a b\\'c' SEQ 3 TYPE i\n# comment\n").unwrap();
        assert_eq!(m.entries[0].name, b"a b'c");
        let back = Manifest::parse(&m.to_bytes()).unwrap();
        assert_eq!(back, m);
        assert_eq!(
            split_args(b"a \"\\x41\\x4z\" 'q'").unwrap(),
            vec![b"a".to_vec(), b"Ax4z".to_vec(), b"q".to_vec()]
        );
        assert!(split_args(b"\"abc\"d").is_none());
        assert!(split_args(b"\"abc").is_none());
    }

    #[test]
    fn errors() {
        let bad: &[&[u8]] = &[
            b"",
            b"file a seq 1 type b",
            b"\n",
            b"file a seq 1\n",
            b"file a seq 0 type b\n",
            b"file a seq x type b\n",
            b"file a seq 1 type z\n",
            b"file a seq 1 type b\nfile b seq 2 type b\n",
            b"file a seq 2 type i\nfile b seq 2 type i\n",
            b"file ../etc/passwd seq 1 type b\n",
            b"file .. seq 1 type b\n",
            b"file a\\b seq 1 type b\n",
            b"file \"a\\x00b\" seq 1 type b\n",
            b"file a seq 1 type b\nfile a seq 1 type i\n",
        ];
        for b in bad {
            assert!(Manifest::parse(b).is_err(), "{}", escape_bytes(b));
        }
        let long = [b"file ".as_slice(), &[b'a'; 1100], b" seq 1 type b\n"].concat();
        assert!(Manifest::parse(&long).is_err());
        assert!(Manifest::parse(b"# only a comment\n")
            .unwrap()
            .entries
            .is_empty());
    }
}
