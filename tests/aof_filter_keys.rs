//! The key table of `redsafe::aof::keys` against a live redis-server: for every sample argv
//! (one or more per command of the table, see `scripts/gen_aof_keys.py`), the keys we extract
//! equal `COMMAND GETKEYS`; when the server reports no keys or invalid arguments, we report no
//! keys or an error too.
mod common;

use common::{Reply, TempDir};
use redsafe::aof::keys::{key_positions, keys_table, KeysError};

#[test]
fn keys_match_command_getkeys() {
    if !common::have_redis() {
        return;
    }
    let t = TempDir::new("aof-keys");
    let server = common::RedisServer::start(t.path(), &[]).expect("start redis");
    let mut c = server.client();
    let text = include_str!("aof_filter_keys_samples.jsonl");
    let mut checked = 0;
    let mut with_keys = 0;
    let mut covered = std::collections::BTreeSet::new();
    let mut failures = Vec::new();
    for line in text.lines() {
        let argv: Vec<String> = serde_json::from_str(line).unwrap();
        let args: Vec<&[u8]> = argv.iter().map(|s| s.as_bytes()).collect();
        let mut req: Vec<&[u8]> = vec![b"COMMAND", b"GETKEYS"];
        req.extend(&args);
        let reply = c.cmd(&req).unwrap();
        let mut pos = Vec::new();
        let ours = key_positions(&args, &mut pos);
        covered.insert(argv[0].to_ascii_lowercase());
        let ours_keys: Vec<Vec<u8>> = pos.iter().map(|&i| args[i].to_vec()).collect();
        match reply {
            Reply::Array(Some(items)) => {
                let theirs: Vec<Vec<u8>> = items
                    .into_iter()
                    .map(|r| match r {
                        Reply::Bulk(Some(b)) => b,
                        other => panic!("{other:?}"),
                    })
                    .collect();
                with_keys += 1;
                // An empty answer is the server's fallback for arguments that do not fit
                // the spec (EVAL with too few keys): we call that invalid, never invent keys.
                let invalid_ok = theirs.is_empty() && ours == Err(KeysError::Invalid);
                if !invalid_ok && (ours.is_err() || ours_keys != theirs) {
                    failures.push(format!(
                        "{argv:?}: ours {ours:?} {ours_keys:?}, server {theirs:?}"
                    ));
                }
            }
            Reply::Error(e) if e.contains("no key arguments") => {
                if ours.is_err() || !pos.is_empty() {
                    failures.push(format!("{argv:?}: ours {ours:?} {pos:?}, server: no keys"));
                }
            }
            Reply::Error(e) if e.contains("Invalid command specified") => {
                if ours != Err(KeysError::Unknown) {
                    failures.push(format!("{argv:?}: ours {ours:?}, server: unknown command"));
                }
            }
            Reply::Error(e) => {
                // Invalid arguments / arity: we must not invent keys.
                if !(ours == Err(KeysError::Invalid) || (ours.is_ok() && pos.is_empty())) {
                    failures.push(format!("{argv:?}: ours {ours:?} {pos:?}, server error {e}"));
                }
            }
            other => panic!("{other:?}"),
        }
        checked += 1;
    }
    assert!(
        failures.is_empty(),
        "{} mismatches:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // Every top-level command of the table has at least one sample.
    for cmd in keys_table::COMMANDS {
        let name = String::from_utf8_lossy(cmd.name).to_string();
        assert!(covered.contains(&name), "no sample for {name}");
    }
    assert!(
        checked > 400 && with_keys > 200,
        "{checked} samples, {with_keys} with keys"
    );
}
