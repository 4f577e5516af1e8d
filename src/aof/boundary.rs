//! Command boundaries of a byte range of an AOF file that may still be growing (what `ship`
//! uploads and a backup restore appends): the longest prefix that ends outside `MULTI`/`EXEC`
//! (so a segment never splits a transaction), with its command count and `#TS:` stamps.
//! Read with [`AofStream`] (through `io::Read`, never a memory map, since Redis may truncate
//! a live file), so records are parsed exactly as every other reader of the crate parses them.

use std::io::Read;
use std::path::Path;

use crate::aof::reader::{AofItem, AofStream};
use crate::error::{Error, Result};

/// What [`scan_boundaries`] found.
#[derive(Debug, Clone, Default)]
pub struct Boundaries {
    /// Offset just past the last complete record outside `MULTI`/`EXEC`: the longest prefix
    /// that is safe to ship or load.
    pub boundary: u64,
    /// Commands before `boundary` (a transaction's commands, `MULTI` and `EXEC` included).
    pub commands: u64,
    /// First `#TS:` stamp in the range.
    pub first_ts: Option<i64>,
    /// Last `#TS:` stamp before `boundary`.
    pub last_ts: Option<i64>,
    /// Largest `#TS:` stamp read (also inside an unfinished transaction).
    pub max_ts: Option<i64>,
    /// The damage that stopped the scan (not an incomplete last record, which a live file
    /// has while Redis writes it).
    pub damaged: Option<Error>,
}

/// Scans `limit` bytes of `src`, which starts at absolute offset `start` of `path` (a record
/// boundary outside a transaction). Errors are I/O errors only; damage is reported in
/// [`Boundaries::damaged`].
pub fn scan_boundaries<R: Read>(src: R, start: u64, limit: u64, path: &Path) -> Result<Boundaries> {
    let mut b = Boundaries {
        boundary: start,
        ..Boundaries::default()
    };
    let mut r = AofStream::new(src, start, start.saturating_add(limit), None).in_file(path);
    let (mut commands, mut in_multi, mut ts) = (0u64, false, None);
    while let Some(item) = r.next_item() {
        let item = match item {
            Ok(i) => i,
            Err(e) if matches!(e.kind(), crate::error::ErrorKind::Io(_)) => return Err(e),
            Err(e) => {
                if !r.failure().is_some_and(|f| f.truncated) {
                    b.damaged = Some(e);
                }
                break;
            }
        };
        match &item {
            AofItem::Annotation(a) => {
                if let Some(t) = a.timestamp {
                    b.first_ts.get_or_insert(t);
                    b.max_ts = Some(b.max_ts.map_or(t, |m| m.max(t)));
                    ts = Some(t);
                }
            }
            AofItem::Command(c) => {
                commands += 1;
                if c.is("multi") {
                    in_multi = true;
                } else if c.is("exec") {
                    in_multi = false;
                }
            }
        }
        if !in_multi {
            b.boundary = item.end();
            b.commands = commands;
            if ts.is_some() {
                b.last_ts = ts;
            }
        }
    }
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(args: &[&str]) -> String {
        let mut s = format!("*{}\r\n", args.len());
        for a in args {
            s.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        s
    }

    #[test]
    fn boundaries_skip_transactions_and_partial_tails() {
        let p = Path::new("appendonly.aof.1.incr.aof");
        let mut aof = String::new();
        aof += "#TS:100\r\n";
        aof += &cmd(&["SET", "a", "1"]);
        let after_set = aof.len() as u64;
        aof += &cmd(&["MULTI"]);
        aof += "#TS:101\r\n";
        aof += &cmd(&["INCR", "a"]);
        let inside = aof.len();
        aof += &cmd(&["EXEC"]);
        let after_exec = aof.len() as u64;
        aof += "#TS:102\r\n";
        aof += &cmd(&["SET", "b", "x"]);
        let full = aof.len() as u64;
        let b = aof.as_bytes();
        let sc = |n: usize| scan_boundaries(&b[..n], 0, n as u64, p).unwrap();
        let s = sc(b.len());
        assert_eq!(
            (s.boundary, s.commands, s.first_ts, s.last_ts, s.max_ts),
            (full, 5, Some(100), Some(102), Some(102))
        );
        assert!(s.damaged.is_none());
        let s = sc(inside);
        assert_eq!(
            (s.boundary, s.commands),
            (after_set, 1),
            "never inside MULTI"
        );
        assert_eq!((s.last_ts, s.max_ts), (Some(100), Some(101)));
        let s = sc(b.len() - 3);
        assert_eq!(s.boundary, after_exec + 9, "partial tail excluded");
        assert!(s.damaged.is_none(), "an incomplete tail is not damage");
        // Starting mid-file keeps absolute positions.
        let s = scan_boundaries(&b[after_exec as usize..], after_exec, 1000, p).unwrap();
        assert_eq!(s.boundary, full);
        // The limit is honoured.
        let s = scan_boundaries(b, 0, after_set + 2, p).unwrap();
        assert_eq!(s.boundary, after_set);
        // Damage is reported with its offset, what came before it kept.
        let mut bad = b[..after_set as usize].to_vec();
        bad.extend_from_slice(b"xyz\r\n");
        let s = scan_boundaries(&bad[..], 0, bad.len() as u64, p).unwrap();
        assert_eq!(s.boundary, after_set);
        assert_eq!(s.damaged.unwrap().offset(), Some(after_set));
    }
}
