//! Property tests of the AOF reader and manifests on arbitrary and mutated inputs: no panic,
//! errors inside the input, the streaming reader equals the in-memory reader at any chunk
//! size, the truncation point always leaves a valid file, and manifests round-trip.

use std::io::Read;

use proptest::prelude::*;
use redsafe::aof::manifest::{quote_token, split_args};
use redsafe::aof::{
    encode_command, AofItem, AofReader, AofStream, FileType, Manifest, ManifestEntry,
};

/// Reads with at most `chunk` bytes per call.
struct Chunky<'a> {
    data: &'a [u8],
    pos: usize,
    chunk: usize,
}
impl Read for Chunky<'_> {
    fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
        let n = b.len().min(self.chunk).min(self.data.len() - self.pos);
        b[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

type Summary = (Vec<(u64, u64, bool)>, Option<(u64, u64, bool, String)>, u64);

fn by_slice(data: &[u8]) -> Summary {
    let mut r = AofReader::new(data, 0);
    let mut items = Vec::new();
    for i in r.by_ref() {
        match i {
            Ok(i) => items.push((i.offset(), i.end(), matches!(i, AofItem::Command(_)))),
            Err(_) => break,
        }
    }
    let f = r.failure().map(|f| {
        (
            f.ok_up_to,
            f.error.offset().unwrap_or(u64::MAX),
            f.truncated,
            f.error.message(),
        )
    });
    (items, f, r.ok_up_to())
}

fn by_stream(data: &[u8], chunk: usize) -> Summary {
    let mut s = AofStream::new(
        Chunky {
            data,
            pos: 0,
            chunk,
        },
        0,
        data.len() as u64,
        None,
    );
    let mut items = Vec::new();
    while let Some(i) = s.next_item() {
        match i {
            Ok(i) => items.push((i.offset(), i.end(), matches!(i, AofItem::Command(_)))),
            Err(_) => break,
        }
    }
    let f = s.failure().map(|f| {
        (
            f.ok_up_to,
            f.error.offset().unwrap_or(u64::MAX),
            f.truncated,
            f.error.message(),
        )
    });
    (items, f, s.ok_up_to())
}

fn check_invariants(data: &[u8], chunk: usize) {
    let a = by_slice(data);
    let b = by_stream(data, chunk);
    assert_eq!(a, b);
    let len = data.len() as u64;
    assert!(a.2 <= len);
    if let Some((ok_up_to, off, _, _)) = &a.1 {
        assert!(*ok_up_to <= len && *off <= len, "{ok_up_to} {off} {len}");
        assert_eq!(*ok_up_to, a.2);
        // Cutting at the truncation point leaves a file with no error.
        let cut = &data[..*ok_up_to as usize];
        let mut r = AofReader::new(cut, 0);
        for _ in r.by_ref() {}
        assert!(r.failure().is_none(), "prefix up to ok_up_to is not valid");
    } else {
        assert_eq!(a.2, len);
    }
}

fn valid_aof(cmds: &[Vec<Vec<u8>>], ts_every: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, c) in cmds.iter().enumerate() {
        if ts_every > 0 && i % ts_every == 0 {
            out.extend_from_slice(format!("#TS:{}\r\n", 1_700_000_000 + i).as_bytes());
        }
        if i % 7 == 3 {
            encode_command(&[b"MULTI".as_slice()], &mut out);
            encode_command(c, &mut out);
            encode_command(&[b"EXEC".as_slice()], &mut out);
        } else {
            encode_command(c, &mut out);
        }
    }
    out
}

fn command() -> impl Strategy<Value = Vec<Vec<u8>>> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..20), 1..5)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn arbitrary_bytes(data in prop::collection::vec(any::<u8>(), 0..300), chunk in 1usize..40) {
        check_invariants(&data, chunk);
    }

    #[test]
    fn resp_like_bytes(parts in prop::collection::vec(prop::sample::select(vec![
        &b"*"[..], b"$", b"#", b"\r\n", b"\r", b"\n", b"1", b"2", b"3", b"0", b"-", b" ", b"TS:", b"MULTI", b"EXEC", b"x", b"\0",
    ]), 0..80), chunk in 1usize..16) {
        let data: Vec<u8> = parts.concat();
        check_invariants(&data, chunk);
    }

    #[test]
    fn mutated_valid_aof(
        cmds in prop::collection::vec(command(), 1..12),
        muts in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..4), 0..4),
        chunk in 1usize..64,
    ) {
        let mut data = valid_aof(&cmds, 3);
        check_invariants(&data, chunk);
        // the whole valid file reads without error
        prop_assert!(by_slice(&data).1.is_none());
        for (idx, byte, kind) in muts {
            if data.is_empty() { break; }
            let i = idx.index(data.len());
            match kind {
                0 => data[i] = byte,
                1 => data.truncate(i),
                2 => { data.remove(i); }
                _ => data.insert(i, byte),
            }
        }
        check_invariants(&data, chunk);
    }

    #[test]
    fn manifest_round_trip(
        names in prop::collection::btree_set(prop::collection::vec(1u8..=255, 1..24), 1..5),
        extra in prop::collection::vec(any::<u8>(), 0..12),
    ) {
        let names: Vec<Vec<u8>> = names
            .into_iter()
            .filter(|n| redsafe::aof::manifest::unsafe_name_reason(n).is_none())
            .collect();
        prop_assume!(!names.is_empty());
        let mut m = Manifest::default();
        for (i, n) in names.iter().enumerate() {
            let ty = if i == 0 { FileType::Base } else { FileType::Incr };
            let mut e = ManifestEntry::new(n.clone(), i as i64 + 1, ty);
            if i == 1 {
                e.extra.push((b"startoffset".to_vec(), b"123".to_vec()));
                e.extra.push((b"x-key".to_vec(), extra.iter().copied().filter(|&c| c != 0).collect()));
            }
            m.entries.push(e);
        }
        let text = m.to_bytes();
        let back = Manifest::parse(&text).unwrap();
        prop_assert_eq!(back, m);
    }

    #[test]
    fn quoting_round_trip(s in prop::collection::vec(1u8..=255, 0..40)) {
        let mut q = Vec::new();
        quote_token(&s, &mut q);
        prop_assert_eq!(split_args(&q).unwrap(), vec![s]);
    }

    #[test]
    fn manifest_parse_never_panics(data in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = Manifest::parse(&data);
        let _ = split_args(&data);
    }
}
