//! Redis glob patterns, matched exactly like Redis's `stringmatchlen` (`util.c`): `*`, `?`,
//! `[abc]`, `[a-z]` (ends in either order), `[^x]`, and `\` escapes, on raw bytes.
//!
//! The matcher is a line-by-line port, including the corner cases that follow from the C
//! code reading its NUL terminator (an unterminated `[` class, a trailing `\`), the signed
//! `char` comparisons in ranges, the "skip longer matches" cut-off that bounds `*`
//! backtracking, and the nesting limit of 1000.

/// A compiled Redis glob pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Glob {
    pattern: Vec<u8>,
    nocase: bool,
    fast: Fast,
}

/// Fast paths for the common pattern shapes; anything else runs the full matcher.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Fast {
    /// `*`: matches everything.
    Any,
    /// No special characters: byte equality.
    Exact,
    /// `literal*`: prefix test.
    Prefix(usize),
    /// Full matcher, after checking the literal prefix of that many bytes (the pattern's
    /// bytes before its first special character, which every match starts with).
    General(usize),
}

fn is_special(c: u8) -> bool {
    matches!(c, b'*' | b'?' | b'[' | b'\\')
}

impl Glob {
    /// Compiles a case-sensitive pattern (what `KEYS` and `SCAN MATCH` use).
    pub fn new(pattern: &[u8]) -> Glob {
        Self::build(pattern, false)
    }

    /// Compiles a case-insensitive pattern (ASCII letters only, as Redis's `nocase`).
    pub fn new_nocase(pattern: &[u8]) -> Glob {
        Self::build(pattern, true)
    }

    fn build(pattern: &[u8], nocase: bool) -> Glob {
        let fast = if nocase {
            Fast::General(0)
        } else if pattern == b"*" {
            // As KEYS and SCAN: a lone `*` matches every key, even the empty one (which
            // `stringmatchlen` itself would not match).
            Fast::Any
        } else if !pattern.iter().any(|&c| is_special(c)) {
            Fast::Exact
        } else {
            match pattern.split_last() {
                Some((b'*', lit)) if !lit.iter().any(|&c| is_special(c)) => Fast::Prefix(lit.len()),
                _ => Fast::General(pattern.iter().take_while(|&&c| !is_special(c)).count()),
            }
        };
        Glob {
            pattern: pattern.to_vec(),
            nocase,
            fast,
        }
    }

    /// The pattern as given.
    pub fn pattern(&self) -> &[u8] {
        &self.pattern
    }

    /// True if the pattern matches every string (`*`).
    pub fn matches_all(&self) -> bool {
        self.fast == Fast::Any
    }

    /// The literal the pattern requires every match to equal (a pattern without special
    /// characters), if it is one.
    pub fn literal(&self) -> Option<&[u8]> {
        (self.fast == Fast::Exact).then_some(&self.pattern[..])
    }

    /// True if `s` matches, exactly as `KEYS pattern` selects keys in Redis:
    /// `stringmatchlen(pattern, s, nocase)`, except that a lone `*` also matches the empty key.
    pub fn matches(&self, s: &[u8]) -> bool {
        match self.fast {
            Fast::Any => true,
            Fast::Exact => s == &self.pattern[..],
            Fast::Prefix(n) => s.starts_with(&self.pattern[..n]),
            Fast::General(n) => {
                s.starts_with(&self.pattern[..n]) && stringmatchlen(&self.pattern, s, self.nocase)
            }
        }
    }
}

/// Redis's `stringmatchlen`: true if `string` matches `pattern`.
pub fn stringmatchlen(pattern: &[u8], string: &[u8], nocase: bool) -> bool {
    let mut skip_longer = false;
    matchlen_impl(pattern, 0, string, 0, nocase, &mut skip_longer, 0)
}

/// The byte at `i`, or 0 past the end (the C code reads the NUL terminator there). As C
/// `char` (signed on the x86 and ARM Linux builds Redis ships), widened to `i32`.
#[inline]
fn at(b: &[u8], i: usize) -> i32 {
    b.get(i).map_or(0, |&c| c as i8 as i32)
}

#[inline]
fn lower(c: i32) -> i32 {
    if (b'A' as i32..=b'Z' as i32).contains(&c) {
        c + 32
    } else {
        c
    }
}

fn matchlen_impl(
    pat: &[u8],
    mut p: usize,
    s: &[u8],
    mut si: usize,
    nocase: bool,
    skip_longer: &mut bool,
    nesting: u32,
) -> bool {
    // Protection against abusive patterns.
    if nesting > 1000 {
        return false;
    }
    let mut plen = pat.len() as isize - p as isize;
    let mut slen = s.len() as isize - si as isize;
    while plen > 0 && slen > 0 {
        match at(pat, p) as u8 {
            b'*' => {
                while plen > 0 && at(pat, p + 1) == b'*' as i32 {
                    p += 1;
                    plen -= 1;
                }
                if plen == 1 {
                    return true;
                }
                while slen > 0 {
                    if matchlen_impl(pat, p + 1, s, si, nocase, skip_longer, nesting + 1) {
                        return true;
                    }
                    if *skip_longer {
                        return false;
                    }
                    si += 1;
                    slen -= 1;
                }
                *skip_longer = true;
                return false;
            }
            b'?' => {
                si += 1;
                slen -= 1;
            }
            b'[' => {
                p += 1;
                plen -= 1;
                let not = at(pat, p) == b'^' as i32;
                if not {
                    p += 1;
                    plen -= 1;
                }
                let mut matched = false;
                let c0 = at(s, si);
                loop {
                    if at(pat, p) == b'\\' as i32 && plen >= 2 {
                        p += 1;
                        plen -= 1;
                        if at(pat, p) == c0 {
                            matched = true;
                        }
                    } else if at(pat, p) == b']' as i32 {
                        break;
                    } else if plen == 0 {
                        p -= 1;
                        plen += 1;
                        break;
                    } else if plen >= 3 && at(pat, p + 1) == b'-' as i32 {
                        let mut start = at(pat, p);
                        let mut end = at(pat, p + 2);
                        let mut c = c0;
                        if start > end {
                            std::mem::swap(&mut start, &mut end);
                        }
                        if nocase {
                            start = lower(start);
                            end = lower(end);
                            c = lower(c);
                        }
                        p += 2;
                        plen -= 2;
                        if c >= start && c <= end {
                            matched = true;
                        }
                    } else if !nocase {
                        if at(pat, p) == c0 {
                            matched = true;
                        }
                    } else if lower(at(pat, p)) == lower(c0) {
                        matched = true;
                    }
                    p += 1;
                    plen -= 1;
                }
                if not {
                    matched = !matched;
                }
                if !matched {
                    return false;
                }
                si += 1;
                slen -= 1;
            }
            other => {
                if other == b'\\' && plen >= 2 {
                    p += 1;
                    plen -= 1;
                }
                let pc = at(pat, p);
                let sc = at(s, si);
                let eq = if nocase {
                    lower(pc) == lower(sc)
                } else {
                    pc == sc
                };
                if !eq {
                    return false;
                }
                si += 1;
                slen -= 1;
            }
        }
        p += 1;
        plen -= 1;
        if slen == 0 {
            while at(pat, p) == b'*' as i32 {
                p += 1;
                plen -= 1;
            }
            break;
        }
    }
    plen == 0 && slen == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        let g = Glob::new(p.as_bytes());
        let r = g.matches(s.as_bytes());
        if !(p == "*" && s.is_empty()) {
            assert_eq!(
                r,
                stringmatchlen(p.as_bytes(), s.as_bytes(), false),
                "{p} {s}"
            );
        }
        r
    }

    #[test]
    fn basics() {
        assert!(m("*", ""));
        assert!(!stringmatchlen(b"*", b"", false));
        assert!(!m("**", ""));
        assert!(m("*", "abc"));
        assert!(m("", ""));
        assert!(!m("", "a"));
        assert!(m("h?llo", "hello"));
        assert!(m("h*llo", "heeeello"));
        assert!(m("h[ae]llo", "hallo"));
        assert!(!m("h[ae]llo", "hillo"));
        assert!(m("h[^e]llo", "hallo"));
        assert!(!m("h[^e]llo", "hello"));
        assert!(m("h[a-b]llo", "hbllo"));
        assert!(m("h[b-a]llo", "hallo"));
        assert!(m("user:*", "user:42"));
        assert!(!m("user:*", "use"));
        assert!(m("a\\*b", "a*b"));
        assert!(!m("a\\*b", "axb"));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(!m("a*b*c", "aXXbYY"));
        assert!(m("*a", "aaa"));
        assert!(m("a**", "a"));
        assert!(m("[\\]]", "]"));
        // A literal prefix before the first special character is checked first.
        assert!(m("key:3[0-4]*", "key:31"));
        assert!(m("key:3[0-4]*", "key:3499"));
        assert!(!m("key:3[0-4]*", "key:35"));
        assert!(!m("key:3[0-4]*", "key:3"));
        assert!(!m("key:3[0-4]*", "key:"));
        assert!(!m("key:3[0-4]*", "kex:31"));
        assert!(!m("key:3[0-4]*", ""));
        assert!(m("ab?", "abc") && !m("ab?", "ab") && !m("ab?", "xbc"));
    }

    #[test]
    fn c_corner_cases() {
        // An unterminated class: the NUL terminator stops it.
        assert!(!m("[", "a"));
        assert!(m("[^", "a"));
        assert!(m("[a", "a"));
        // A trailing backslash matches a literal backslash.
        assert!(m("a\\", "a\\"));
        // Signed char ranges: a byte >= 0x80 is negative, below 'a'.
        assert!(stringmatchlen(b"[\x80-a]", b"A", false));
        assert!(!stringmatchlen(b"[a-z]", b"\xe9", false));
        // nocase
        assert!(Glob::new_nocase(b"HeLLo*").matches(b"hello world"));
        assert!(Glob::new_nocase(b"[A-C]x").matches(b"bx"));
    }

    #[test]
    fn pathological_pattern_is_fast() {
        let p = "a*".repeat(40) + "b";
        let s = "a".repeat(100);
        assert!(!m(&p, &s));
    }
}
