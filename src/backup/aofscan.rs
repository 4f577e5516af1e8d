//! The small amount of AOF knowledge shipping and restore need: the multi-part manifest
//! (through [`crate::aof::manifest`]), command boundaries in a
//! RESP stream (never inside a MULTI/EXEC block, so a segment or a cut never splits a
//! transaction), `#TS:` annotations, and the time of an RDB base (its `ctime` AUX field).
//!
//! Everything here reads through `io::Read` (live INCR files are never memory-mapped, since
//! Redis may truncate them) and allocates only small, bounded buffers.

use std::io::{self, BufRead, Read};

use crate::aof::manifest::{FileType, Manifest, ManifestEntry as AofEntry};

/// Kind of a file in a multi-part AOF manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AofFileKind {
    /// `type b`: the base (RDB preamble `.base.rdb` or RESP `.base.aof`).
    Base,
    /// `type h`: history, never loaded.
    History,
    /// `type i`: incremental.
    Incr,
}

/// One manifest line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestEntry {
    /// File name (a basename).
    pub name: String,
    /// Sequence number.
    pub seq: u64,
    /// Kind.
    pub kind: AofFileKind,
}

/// Parses a manifest with [`crate::aof::manifest::Manifest::parse`] (Redis's rules plus
/// redsafe's name safety rules). Names must be UTF-8 here, since they become object keys.
pub fn parse_manifest(data: &[u8]) -> Result<Vec<ManifestEntry>, String> {
    let m = Manifest::parse(data).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(m.entries.len());
    for e in &m.entries {
        let name = String::from_utf8(e.name.clone())
            .map_err(|_| format!("AOF file name {:?} is not UTF-8", e.name_lossy()))?;
        let seq =
            u64::try_from(e.seq).map_err(|_| format!("negative sequence number for {name}"))?;
        let kind = match e.file_type {
            FileType::Base => AofFileKind::Base,
            FileType::History => AofFileKind::History,
            FileType::Incr => AofFileKind::Incr,
        };
        out.push(ManifestEntry { name, seq, kind });
    }
    Ok(out)
}

/// Renders manifest entries as Redis writes them ([`Manifest::to_bytes`]: names quoted when
/// needed, base then history then incr).
pub fn format_manifest(entries: &[ManifestEntry]) -> Vec<u8> {
    let m = Manifest {
        entries: entries
            .iter()
            .map(|e| {
                let t = match e.kind {
                    AofFileKind::Base => FileType::Base,
                    AofFileKind::History => FileType::History,
                    AofFileKind::Incr => FileType::Incr,
                };
                AofEntry::new(e.name.as_bytes(), e.seq as i64, t)
            })
            .collect(),
    };
    m.to_bytes()
}

/// What a RESP scan found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    /// Offset just past the last complete command outside MULTI/EXEC (or annotation): the
    /// longest prefix that is safe to ship or load.
    pub boundary: u64,
    /// Top-level commands before `boundary` (a MULTI/EXEC block counts its commands).
    pub commands: u64,
    /// First `#TS:` value seen.
    pub first_ts: Option<i64>,
    /// Last `#TS:` value before `boundary`.
    pub last_ts: Option<i64>,
    /// With a cut time: offset of the first `#TS:` line whose time is later than the cut.
    pub cut_at: Option<u64>,
    /// True when the scan stopped on bytes that are not RESP (not merely an incomplete tail).
    pub damaged: Option<String>,
}

/// Scans a RESP stream that starts at file offset `start` (a command boundary), up to `limit`
/// bytes. With `cut_after = Some(t)`, stops at the first `#TS:` annotation later than `t`
/// (recording its offset in `cut_at`). `ts_carry` is the timestamp in force before `start`.
pub fn scan_resp(
    r: &mut dyn BufRead,
    start: u64,
    limit: u64,
    cut_after: Option<i64>,
) -> io::Result<Scan> {
    let mut s = Scan {
        boundary: start,
        ..Scan::default()
    };
    let mut pos = start;
    let end = start.saturating_add(limit);
    let mut in_multi = false;
    let mut pending_cmds = 0u64;
    let mut line = Vec::with_capacity(64);
    loop {
        if pos >= end {
            break;
        }
        let buf = r.fill_buf()?;
        let Some(&first) = buf.first() else { break };
        match first {
            b'#' => {
                line.clear();
                let n = read_line(r, &mut line, 1024, end - pos)?;
                let Some(n) = n else { break };
                let ts = line
                    .strip_prefix(b"#TS:")
                    .and_then(|v| std::str::from_utf8(v.strip_suffix(b"\r\n").unwrap_or(v)).ok())
                    .and_then(|v| v.trim_end().parse::<i64>().ok());
                if let Some(t) = ts {
                    if !in_multi && cut_after.is_some_and(|c| t > c) {
                        s.cut_at = Some(pos);
                        return Ok(s);
                    }
                    if s.first_ts.is_none() {
                        s.first_ts = Some(t);
                    }
                    s.last_ts = Some(t);
                }
                pos += n;
                if !in_multi {
                    s.boundary = pos;
                }
            }
            b'*' => {
                let Some((n, first_arg)) = read_command(r, end - pos, &mut line)? else {
                    // Incomplete command (live tail) or damage.
                    if let Some(d) = damage_probe(&line) {
                        s.damaged = Some(format!("offset {pos}: {d}"));
                    }
                    break;
                };
                pos += n;
                let name = first_arg.to_ascii_uppercase();
                if name == b"MULTI" {
                    in_multi = true;
                    pending_cmds = 0;
                } else if name == b"EXEC" && in_multi {
                    in_multi = false;
                    s.commands += pending_cmds + 1;
                    s.boundary = pos;
                } else if in_multi {
                    pending_cmds += 1;
                } else {
                    s.commands += 1;
                    s.boundary = pos;
                }
            }
            b'\r' | b'\n' if !in_multi => {
                // Stray line ends between commands are skipped by Redis's loader.
                r.consume(1);
                pos += 1;
                s.boundary = pos;
            }
            o => {
                s.damaged = Some(format!(
                    "offset {pos}: expected '*' or '#', found 0x{o:02x}"
                ));
                break;
            }
        }
    }
    Ok(s)
}

fn damage_probe(marker: &[u8]) -> Option<String> {
    if marker.starts_with(b"!") {
        Some(String::from_utf8_lossy(&marker[1..]).into_owned())
    } else {
        None
    }
}

/// Reads one line (through `\n`) of at most `max` bytes and at most `avail` bytes; `None` if
/// the input ends first.
fn read_line(
    r: &mut dyn BufRead,
    out: &mut Vec<u8>,
    max: usize,
    avail: u64,
) -> io::Result<Option<u64>> {
    let mut total = 0u64;
    loop {
        let buf = r.fill_buf()?;
        if buf.is_empty() {
            return Ok(None);
        }
        let take_max = (avail - total).min(buf.len() as u64) as usize;
        let chunk = &buf[..take_max];
        if let Some(i) = chunk.iter().position(|&b| b == b'\n') {
            if out.len() + i < max {
                out.extend_from_slice(&chunk[..=i]);
            }
            r.consume(i + 1);
            total += i as u64 + 1;
            return Ok(Some(total));
        }
        if out.len() + chunk.len() <= max {
            out.extend_from_slice(chunk);
        }
        let n = chunk.len();
        r.consume(n);
        total += n as u64;
        if total >= avail || n == 0 {
            return Ok(None);
        }
    }
}

fn parse_header(line: &[u8], tag: u8) -> Option<i64> {
    let l = line.strip_suffix(b"\r\n")?;
    let v = l.strip_prefix(&[tag])?;
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// Reads one `*N` command. Returns its byte length and its first argument (upper-casing is the
/// caller's), or `None` when incomplete; on damage `marker` starts with `!` and a message.
fn read_command(
    r: &mut dyn BufRead,
    avail: u64,
    marker: &mut Vec<u8>,
) -> io::Result<Option<(u64, Vec<u8>)>> {
    marker.clear();
    let mut used = 0u64;
    let mut line = Vec::with_capacity(32);
    let Some(n) = read_line(r, &mut line, 64, avail)? else {
        return Ok(None);
    };
    used += n;
    let Some(argc) = parse_header(&line, b'*').filter(|&a| (1..=i32::MAX as i64).contains(&a))
    else {
        marker.extend_from_slice(
            format!("!bad array header {:?}", String::from_utf8_lossy(&line)).as_bytes(),
        );
        return Ok(None);
    };
    let mut first = Vec::new();
    for i in 0..argc {
        line.clear();
        let Some(n) = read_line(r, &mut line, 64, avail - used)? else {
            return Ok(None);
        };
        used += n;
        let Some(len) = parse_header(&line, b'$').filter(|&l| l >= 0) else {
            marker.extend_from_slice(
                format!("!bad bulk header {:?}", String::from_utf8_lossy(&line)).as_bytes(),
            );
            return Ok(None);
        };
        let need = len as u64 + 2;
        if need > avail - used {
            return Ok(None);
        }
        if i == 0 && len <= 16 {
            let mut b = vec![0u8; need as usize];
            if read_full(r, &mut b)? < b.len() {
                return Ok(None);
            }
            b.truncate(len as usize);
            first = b;
        } else {
            let copied = io::copy(&mut r.take(need), &mut io::sink())?;
            if copied < need {
                return Ok(None);
            }
        }
        used += need;
    }
    Ok(Some((used, first)))
}

fn read_full(r: &mut dyn BufRead, b: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < b.len() {
        let k = r.read(&mut b[n..])?;
        if k == 0 {
            break;
        }
        n += k;
    }
    Ok(n)
}

/// Reads the AUX fields at the start of an RDB (e.g. `ctime`, `redis-ver`) from its first
/// bytes. Stops at the first non-AUX record; an unreadable prefix gives what was read so far.
pub fn rdb_aux(prefix: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for item in crate::rdb::RdbReader::new(prefix) {
        match item {
            Ok(it) => match it.record {
                crate::rdb::Record::Header(_) => {}
                crate::rdb::Record::Aux { key, value } => out.push((
                    String::from_utf8_lossy(&key).into_owned(),
                    String::from_utf8_lossy(&value).into_owned(),
                )),
                _ => break,
            },
            Err(_) => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_round_trip_with_quoting() {
        let m = b"file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\nfile appendonly.aof.2.incr.aof seq 2 type i startoffset 10\n";
        let e = parse_manifest(m).unwrap();
        assert_eq!(e.len(), 3);
        assert_eq!(
            e[2],
            ManifestEntry {
                name: "appendonly.aof.2.incr.aof".into(),
                seq: 2,
                kind: AofFileKind::Incr
            }
        );
        let q = b"file \" file seq \\n\\n.aof .2.base.rdb\" seq 2 type b\n";
        let e = parse_manifest(q).unwrap();
        assert_eq!(e[0].name, " file seq \n\n.aof .2.base.rdb");
        assert_eq!(format_manifest(&e), q);
        assert!(parse_manifest(b"file a seq 1 type i\nfile b seq 1 type i\n").is_err());
        assert!(parse_manifest(b"file a/b seq 1 type i\n").is_err());
        assert!(parse_manifest(b"file a seq 1 type i").is_err());
        assert!(parse_manifest(b"").is_err());
    }

    fn cmd(args: &[&str]) -> String {
        let mut s = format!("*{}\r\n", args.len());
        for a in args {
            s.push_str(&format!("${}\r\n{a}\r\n", a.len()));
        }
        s
    }

    #[test]
    fn boundaries_skip_transactions_and_partial_tails() {
        let mut aof = String::new();
        aof += "#TS:100\r\n";
        aof += &cmd(&["SET", "a", "1"]);
        let after_set = aof.len() as u64;
        aof += &cmd(&["MULTI"]);
        aof += &cmd(&["INCR", "a"]);
        let inside = aof.len();
        aof += &cmd(&["EXEC"]);
        let after_exec = aof.len() as u64;
        aof += "#TS:102\r\n";
        let ts102 = after_exec;
        aof += &cmd(&["SET", "b", "x"]);
        let full = aof.len() as u64;
        let b = aof.as_bytes();
        let sc = |n: usize, cut| scan_resp(&mut &b[..n], 0, n as u64, cut).unwrap();
        let s = sc(b.len(), None);
        assert_eq!(
            (s.boundary, s.commands, s.first_ts, s.last_ts),
            (full, 4, Some(100), Some(102))
        );
        assert_eq!(sc(inside, None).boundary, after_set, "never inside MULTI");
        assert_eq!(
            sc(b.len() - 3, None).boundary,
            after_exec + 9,
            "partial tail excluded"
        );
        let c = sc(b.len(), Some(101));
        assert_eq!(c.cut_at, Some(ts102));
        assert_eq!(sc(b.len(), Some(102)).cut_at, None);
        // Starting mid-file at an offset keeps absolute positions.
        let s = scan_resp(&mut &b[after_exec as usize..], after_exec, 1000, None).unwrap();
        assert_eq!(s.boundary, full);
        // The limit is honoured.
        let s = scan_resp(&mut &b[..], 0, after_set + 2, None).unwrap();
        assert_eq!(s.boundary, after_set);
        // Damage is reported, with what came before it kept.
        let mut bad = b[..after_set as usize].to_vec();
        bad.extend_from_slice(b"xyz");
        let s = scan_resp(&mut &bad[..], 0, bad.len() as u64, None).unwrap();
        assert_eq!(s.boundary, after_set);
        assert!(s.damaged.unwrap().contains("offset"));
    }
}
