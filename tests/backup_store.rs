//! One conformance suite for every backup store (litestream's `RunWithReplicaClient`):
//! LocalDir always, and the S3 store against two real S3 implementations on loopback —
//! s3s-fs and moto. Each run uses a fresh random prefix.

#![cfg(feature = "s3")]

mod common;
mod s3server;

use std::io::{self, Read};

use redsafe::backup::local::LocalDir;
use redsafe::backup::s3::S3Store;
use redsafe::backup::{Meta, S3Options, Store};

use common::TempDir;
use s3server::{S3Server, ACCESS_KEY, SECRET_KEY};

const BUCKET: &str = "conformance";

fn s3_store(srv: &S3Server, prefix: &str, when_required: bool) -> S3Store {
    let opts = S3Options {
        endpoint_url: Some(srv.endpoint()),
        region: Some("us-east-1".into()),
        path_style: true,
        checksum_when_required: when_required,
        credentials: Some((ACCESS_KEY.into(), SECRET_KEY.into())),
        part_size: Some(5 << 20),
        concurrency: Some(3),
        ..S3Options::default()
    };
    let s = S3Store::new(BUCKET, prefix, &opts).expect("S3 store");
    s.create_bucket().expect("create bucket");
    s
}

/// Deterministic pseudo-random bytes (xorshift), incompressible.
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut v = Vec::with_capacity(n);
    while v.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(n);
    v
}

/// A body that fails after `ok` bytes, like a source disappearing mid-upload.
struct FailingReader {
    data: Vec<u8>,
    pos: usize,
    ok: usize,
}

impl Read for FailingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pos >= self.ok {
            return Err(io::Error::other("source failed"));
        }
        let n = buf
            .len()
            .min(self.ok - self.pos)
            .min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

fn read_all(store: &dyn Store, key: &str, range: Option<std::ops::Range<u64>>) -> (Meta, Vec<u8>) {
    let (info, mut r) = store.get(key, range).unwrap();
    let mut v = Vec::new();
    r.read_to_end(&mut v).unwrap();
    (info.meta, v)
}

fn conformance(store: &dyn Store) {
    // An empty prefix lists as empty.
    assert!(store.list("").unwrap().is_empty(), "{}", store.url());

    // Listing is in byte order of keys; metadata round-trips.
    let mut meta = Meta::new();
    meta.insert("sha256".into(), "abc123".into());
    meta.insert("redsafe-time".into(), "1795365425".into());
    for (k, body) in [
        ("a/2", "two"),
        ("a/10", "ten"),
        ("a/1", "hello world"),
        ("b/x", "other"),
    ] {
        assert_eq!(
            store.put(k, &mut body.as_bytes(), &meta).unwrap(),
            body.len() as u64
        );
    }
    let keys: Vec<String> = store
        .list("a/")
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(keys, vec!["a/1", "a/10", "a/2"]);
    let all = store.list("").unwrap();
    assert_eq!(all.len(), 4);
    assert_eq!(all.iter().find(|o| o.key == "a/1").unwrap().size, 11);
    let h = store.head("a/1").unwrap();
    assert_eq!(
        (h.size, h.meta.get("sha256").map(String::as_str)),
        (11, Some("abc123"))
    );
    let (m, body) = read_all(store, "a/1", None);
    assert_eq!(body, b"hello world");
    assert_eq!(
        m.get("redsafe-time").map(String::as_str),
        Some("1795365425")
    );

    // Range reads.
    assert_eq!(read_all(store, "a/1", Some(1..3)).1, b"el");
    assert_eq!(read_all(store, "a/1", Some(6..11)).1, b"world");
    assert_eq!(read_all(store, "a/1", Some(4..4)).1, b"");

    // Not found is distinct.
    assert!(store.get("a/none", None).err().unwrap().is_not_found());
    assert!(store.head("a/none").unwrap_err().is_not_found());

    // Overwrite replaces.
    store.put("a/2", &mut &b"TWO!"[..], &Meta::new()).unwrap();
    assert_eq!(read_all(store, "a/2", None).1, b"TWO!");

    // Large body: multipart on S3 (5 MiB parts), streamed back intact.
    let big = noise(12 * 1024 * 1024 + 123, 7);
    assert_eq!(
        store.put("big/object", &mut big.as_slice(), &meta).unwrap(),
        big.len() as u64
    );
    let (m, back) = read_all(store, "big/object", None);
    assert!(back == big, "multipart round trip differs");
    assert_eq!(m.get("sha256").map(String::as_str), Some("abc123"));
    assert_eq!(
        read_all(store, "big/object", Some(5_000_000..5_000_100)).1,
        &big[5_000_000..5_000_100]
    );

    // An interrupted upload (source fails after two parts) is never visible.
    let mut failing = FailingReader {
        data: noise(20 << 20, 9),
        pos: 0,
        ok: 11 << 20,
    };
    assert!(store.put("big/broken", &mut failing, &meta).is_err());
    assert!(store.head("big/broken").unwrap_err().is_not_found());
    assert!(!store
        .list("big/")
        .unwrap()
        .iter()
        .any(|o| o.key == "big/broken"));
    let mut failing = FailingReader {
        data: noise(1 << 20, 9),
        pos: 0,
        ok: 1000,
    };
    assert!(store.put("small/broken", &mut failing, &meta).is_err());
    assert!(store.head("small/broken").unwrap_err().is_not_found());

    // Batched delete over more than 1000 keys, missing keys are not an error.
    let mut many = Vec::new();
    for i in 0..1003 {
        let k = format!("many/{i:05}");
        store.put(&k, &mut &b"x"[..], &Meta::new()).unwrap();
        many.push(k);
    }
    assert_eq!(store.list("many/").unwrap().len(), 1003);
    many.push("many/never-existed".into());
    store.delete(&many).unwrap();
    assert!(store.list("many/").unwrap().is_empty());

    // Clean up.
    let rest: Vec<String> = store.list("").unwrap().into_iter().map(|o| o.key).collect();
    store.delete(&rest).unwrap();
    assert!(store.list("").unwrap().is_empty());
}

#[test]
fn local_dir_store_conformance() {
    let t = TempDir::new("localstore");
    conformance(&LocalDir::new(t.path().join("does-not-exist-yet")));
}

#[test]
fn s3_store_conformance_s3s_fs() {
    let Some(srv) = S3Server::s3s_fs() else {
        return;
    };
    conformance(&s3_store(&srv, &format!("t{}", std::process::id()), true));
    // The SDK's default checksum mode (CRC32, aws-chunked) against the same server.
    conformance(&s3_store(&srv, "default-checksums/p", false));
}

#[test]
fn s3_store_conformance_moto() {
    let Some(srv) = S3Server::moto() else { return };
    conformance(&s3_store(&srv, &format!("m{}", std::process::id()), true));
    conformance(&s3_store(&srv, "default-checksums", false));
}

#[test]
fn s3_store_against_a_dead_server_fails_cleanly() {
    let Some(mut srv) = S3Server::s3s_fs() else {
        return;
    };
    let store = s3_store(&srv, "dead", true);
    srv.kill();
    let e = store.put("k", &mut &b"v"[..], &Meta::new()).unwrap_err();
    assert!(!e.is_not_found());
    assert!(e.to_string().contains("s3://conformance/dead"), "{e}");
}
