//! Shared by the keyspace tests: comparing the engine's dataset with a live server's, key by
//! key, with `DEBUG DIGEST-VALUE`.
#![allow(dead_code)]

use redsafe::keyspace::digest::{digest_value, hex, Flavor};
use redsafe::keyspace::Keyspace;

use crate::common::{Client, Reply};

/// The keys of database `db` on the server.
fn server_keys(c: &mut Client, db: u64) -> Vec<Vec<u8>> {
    c.cmd(&[b"SELECT", db.to_string().as_bytes()]).unwrap();
    match c.cmd(&[b"KEYS", b"*"]).unwrap() {
        Reply::Array(Some(v)) => v
            .into_iter()
            .filter_map(|r| match r {
                Reply::Bulk(Some(b)) => Some(b),
                _ => None,
            })
            .collect(),
        other => panic!("KEYS: {other:?}"),
    }
}

/// The first key (in 16 databases) whose `DEBUG DIGEST-VALUE` differs between the server
/// and `ks`, or that only one of them has; `None` when all agree.
pub fn first_difference(c: &mut Client, ks: &Keyspace) -> Option<String> {
    for db in 0..16u64 {
        let mut keys = server_keys(c, db);
        if let Some(d) = ks.dbs.get(&db) {
            for k in d.keys.keys() {
                if !keys.iter().any(|s| s[..] == k[..]) {
                    keys.push(k.to_vec());
                }
            }
        }
        keys.sort();
        for k in keys {
            let theirs = match c.cmd(&[b"DEBUG", b"DIGEST-VALUE", &k]).unwrap() {
                Reply::Array(Some(v)) => match v.into_iter().next() {
                    Some(Reply::Status(s)) => s,
                    other => panic!("DIGEST-VALUE: {other:?}"),
                },
                other => panic!("DIGEST-VALUE: {other:?}"),
            };
            let ours = digest_value(ks, db, &k, Flavor::Redis70).map(|d| hex(&d));
            let ours = match ours {
                Ok(s) => s,
                Err(e) => format!("error: {e}"),
            };
            if ours != theirs {
                let t = match c.cmd(&[b"TYPE", &k]).unwrap() {
                    Reply::Status(s) => s,
                    other => format!("{other:?}"),
                };
                return Some(format!(
                    "db {db} key {:?} ({t} on the server, {:?} here): server {theirs}, engine {ours}",
                    String::from_utf8_lossy(&k),
                    ks.get(db, &k).map(|e| (e.value.type_name(), e.expire_ms())),
                ));
            }
        }
    }
    None
}
