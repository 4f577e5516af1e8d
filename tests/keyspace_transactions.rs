//! MULTI/EXEC/DISCARD edge cases in an AOF, replayed by the engine, checked by `redsafe
//! check` and loaded by redis-server 7.0.15: the engine must end with the keyspace Redis
//! loads, or refuse where Redis cannot load the file at all, and the checker must say where
//! Redis's loader goes on past what redis-check-aof calls damage.

mod common;
mod keyspace_support;

use redsafe::aof::AofSet;
use redsafe::keyspace::{replay_set, Client, Keyspace, ReplayOptions};

/// The AOF text of `cmds`.
fn aof(cmds: &[&[&str]]) -> Vec<u8> {
    let mut out = Vec::new();
    for c in cmds {
        let args: Vec<&[u8]> = c.iter().map(|s| s.as_bytes()).collect();
        out.extend(common::Client::encode(&args));
    }
    out
}

/// Writes `cmds` as `appendonly.aof` in a fresh directory (Redis 7.0 upgrades such a file to
/// the base of a multi-part set when it starts).
fn write_aof(cmds: &[&[&str]]) -> common::TempDir {
    let t = common::TempDir::new("ks-multi");
    std::fs::write(t.path().join("appendonly.aof"), aof(cmds)).unwrap();
    t
}

fn start_redis(t: &common::TempDir) -> Result<common::RedisServer, String> {
    common::RedisServer::start(
        t.path(),
        &["--appendonly", "yes", "--appendfilename", "appendonly.aof"],
    )
}

/// Commands Redis's loader refuses with an error reply and skips (EXEC or DISCARD without
/// MULTI, a nested MULTI, which it queues and refuses at EXEC), and a MULTI left open at the
/// end (reverted): the engine ends with the keyspace Redis loads.
///
/// The engine is driven command by command, and through `replay_set`, which reads the file
/// as Redis's loader does: past the stray EXECs and the nested MULTI that redis-check-aof
/// calls damage, which it reports in `checker_only_damage`.
#[test]
fn refused_transaction_commands_load_like_redis() {
    if !common::have_redis() {
        return;
    }
    let cmds: &[&[&str]] = &[
        &["SET", "b", "1"],
        &["EXEC"],
        &["DISCARD"],
        &["SET", "c", "1"],
        &["MULTI"],
        &["SET", "a", "1"],
        &["MULTI"],
        &["INCR", "a"],
        &["EXEC"],
        &["EXEC"],
        &["SELECT", "3"],
        &["SET", "d", "1"],
        &["MULTI"],
        &["SET", "e", "1"],
    ];
    let mut ks = Keyspace::new();
    let mut client = Client::new(0);
    let mut refused = Vec::new();
    for (i, c) in cmds.iter().enumerate() {
        let args: Vec<&[u8]> = c.iter().map(|s| s.as_bytes()).collect();
        if let Err(e) = ks.apply_args(&mut client, &args, i as u64) {
            assert!(e.is_rejection(), "{e}");
            refused.push(e.offset);
        }
    }
    assert_eq!(refused, [1, 2, 6, 9]);
    assert!(client.in_multi());
    client.discard();
    let t = write_aof(cmds);
    let set = AofSet::open(&t.path().join("appendonly.aof")).unwrap();
    let r = replay_set(&set, &ReplayOptions::default(), &mut |_, _| {}).unwrap();
    // Only the MULTI left open at the end is damage, as for redis-check-aof.
    assert_eq!(r.set.verdict.name(), "truncatable");
    let last_multi = aof(&cmds[..cmds.len() - 2]).len() as u64;
    assert_eq!(r.set.files[0].ok_up_to, last_multi);
    assert_eq!((r.rejected, r.open_transactions), (4, 1));
    let first_exec = aof(&cmds[..1]).len() as u64;
    let noted: Vec<_> = r.checker_only_damage().collect();
    assert_eq!(noted.len(), 1);
    assert_eq!(noted[0].1..=noted[0].2, first_exec..=3);
    let s = start_redis(&t).expect("redis-server loads the AOF");
    assert_eq!(
        keyspace_support::first_difference(&mut s.client(), &ks),
        None
    );
    assert_eq!(
        keyspace_support::first_difference(&mut s.client(), &r.keyspace),
        None
    );
    assert!(ks.get(0, b"a").is_some() && ks.get(3, b"e").is_none());
}

/// A DISCARD inside MULTI is queued by Redis's loader and run by EXEC, which crashes Redis
/// 7.0 (the transaction is freed while EXEC walks it): the engine refuses it by name and
/// offset instead of guessing.
#[test]
fn discard_inside_multi_is_refused_where_redis_cannot_load() {
    if !common::have_redis() {
        return;
    }
    let cmds: &[&[&str]] = &[
        &["SET", "b", "1"],
        &["MULTI"],
        &["SET", "a", "1"],
        &["DISCARD"],
        &["EXEC"],
        &["SET", "c", "1"],
    ];
    let discard_offset = aof(&cmds[..3]).len();
    let t = write_aof(cmds);
    let set = AofSet::open(&t.path().join("appendonly.aof")).unwrap();
    let e = replay_set(&set, &ReplayOptions::default(), &mut |_, _| {}).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("DISCARD inside MULTI"), "{msg}");
    assert!(msg.contains(&format!("offset {discard_offset}")), "{msg}");
    assert!(
        start_redis(&t).is_err(),
        "redis-server 7.0 was expected to fail loading DISCARD inside MULTI"
    );

    // Without the EXEC the transaction is reverted at the end and the file loads.
    let t = write_aof(&cmds[..4]);
    let set = AofSet::open(&t.path().join("appendonly.aof")).unwrap();
    let r = replay_set(&set, &ReplayOptions::default(), &mut |_, _| {}).unwrap();
    let s = start_redis(&t).expect("redis-server loads the AOF");
    assert_eq!(
        keyspace_support::first_difference(&mut s.client(), &r.keyspace),
        None
    );
    assert!(r.keyspace.get(0, b"a").is_none());
}

/// `redsafe check` calls a stray EXEC and a nested MULTI damage, as redis-check-aof does, and
/// notes that redis-server's loader goes on past them — which redis-server confirms by
/// loading the key written after them. A real cut (a MULTI without EXEC) has no such note.
#[test]
fn check_notes_where_the_redis_loader_goes_on() {
    if !common::have_redis() {
        return;
    }
    let stray_exec: &[&[&str]] = &[&["SET", "a", "1"], &["EXEC"], &["SET", "after", "1"]];
    let nested: &[&[&str]] = &[
        &["MULTI"],
        &["SET", "a", "1"],
        &["MULTI"],
        &["EXEC"],
        &["SET", "after", "1"],
    ];
    let open_multi: &[&[&str]] = &[&["SET", "after", "1"], &["MULTI"], &["SET", "a", "1"]];
    for (cmds, goes_on, ok_up_to) in [
        (stray_exec, true, aof(&stray_exec[..1]).len()),
        (nested, true, 0),
        (open_multi, false, aof(&open_multi[..1]).len()),
    ] {
        let t = write_aof(cmds);
        let out = std::process::Command::new(common::redsafe_bin())
            .args(["check", "--json"])
            .arg(t.path().join("appendonly.aof"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{cmds:?}");
        let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(j["ok_up_to"], ok_up_to as u64, "{cmds:?}");
        assert_eq!(j["error"]["redis_loader_goes_on"], goes_on, "{cmds:?}");
        // `digest` replays as Redis loads: past the stray EXEC or nested MULTI (exit 0, with
        // a note), or up to the open MULTI (exit 1: damaged, the digest of what loads).
        let out = std::process::Command::new(common::redsafe_bin())
            .args(["digest", "--json"])
            .arg(t.path().join("appendonly.aof"))
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(if goes_on { 0 } else { 1 }),
            "{cmds:?}"
        );
        let d: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            d["notes"].as_array().unwrap().len(),
            goes_on as usize,
            "{d}"
        );
        let s = start_redis(&t).expect("redis-server loads the AOF");
        let got = s.client().cmd(&[b"EXISTS", b"after"]).unwrap();
        assert_eq!(got, common::Reply::Int(1), "{cmds:?}");
        let loaded = s.digest();
        assert_eq!(d["digest"].as_str(), Some(loaded.as_str()), "{cmds:?}");
        drop(s);

        // `fix` says the cut drops what Redis would load (on a fresh copy: redis-server moved
        // the file into its appendonlydir when it upgraded it).
        let t = write_aof(cmds);
        let fixed = common::TempDir::new("ks-multi-fix");
        let out = std::process::Command::new(common::redsafe_bin())
            .args(["fix", "--json", "-o"])
            .arg(fixed.path().join("appendonly.aof"))
            .arg(t.path().join("appendonly.aof"))
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{cmds:?}");
        let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let noted = j["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("own loader goes on past"));
        assert_eq!(noted, goes_on, "{cmds:?}: {j}");
        if cmds == stray_exec {
            // `restore` refuses to copy what redis-check-aof calls damage, and says how to
            // drop just that record.
            let out = std::process::Command::new(common::redsafe_bin())
                .args(["restore", "--at", "latest", "-o"])
                .arg(t.path().join("restored"))
                .arg(t.path().join("appendonly.aof"))
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(1));
            let msg = String::from_utf8_lossy(&out.stderr);
            assert!(msg.contains("fix --salvage"), "{msg}");
            // Salvage drops just the stray EXEC: Redis loads the same dataset as from the input.
            let salvaged = common::TempDir::new("ks-multi-salvage");
            let st = std::process::Command::new(common::redsafe_bin())
                .args(["fix", "--salvage", "-o"])
                .arg(salvaged.path().join("appendonly.aof"))
                .arg(t.path().join("appendonly.aof"))
                .output()
                .unwrap()
                .status;
            assert!(st.success());
            let s = start_redis(&salvaged).expect("redis-server loads the salvaged AOF");
            assert_eq!(s.digest(), loaded);
        }
    }
}

/// A multi-part set whose INCR files hold a stray EXEC (in a file that is not the last, which
/// redis-check-aof refuses to cut) and a nested MULTI: redis-server loads every file, and so
/// does `replay_set`, to the same `DEBUG DIGEST`, noting both records.
#[test]
fn multi_part_set_replays_past_what_only_redis_check_aof_calls_damage() {
    if !common::have_redis() {
        return;
    }
    let t = common::TempDir::new("ks-multi-part");
    let dir = t.path().join("appendonlydir");
    std::fs::create_dir(&dir).unwrap();
    let files: [(&str, &[&[&str]]); 3] = [
        (
            "appendonly.aof.1.base.aof",
            &[&["SET", "a", "1"], &["RPUSH", "l", "x"]],
        ),
        (
            "appendonly.aof.1.incr.aof",
            &[&["INCR", "a"], &["EXEC"], &["SET", "c", "3"]],
        ),
        (
            "appendonly.aof.2.incr.aof",
            &[
                &["SET", "d", "4"],
                &["MULTI"],
                &["INCR", "d"],
                &["MULTI"],
                &["EXEC"],
                &["SET", "e", "5"],
            ],
        ),
    ];
    for (name, cmds) in files {
        std::fs::write(dir.join(name), aof(cmds)).unwrap();
    }
    std::fs::write(
        dir.join("appendonly.aof.manifest"),
        "file appendonly.aof.1.base.aof seq 1 type b\n\
         file appendonly.aof.1.incr.aof seq 1 type i\n\
         file appendonly.aof.2.incr.aof seq 2 type i\n",
    )
    .unwrap();
    let set = AofSet::open(&dir).unwrap();
    let r = replay_set(&set, &ReplayOptions::default(), &mut |_, _| {}).unwrap();
    assert!(r.set.verdict.is_ok(), "{:?}", r.set.verdict);
    let noted: Vec<u64> = r.checker_only_damage().map(|d| d.1).collect();
    assert_eq!(
        noted,
        [
            aof(&[&["INCR", "a"]]).len() as u64,
            aof(&[&["SET", "d", "4"], &["MULTI"], &["INCR", "d"]]).len() as u64
        ]
    );
    let s = common::RedisServer::start(t.path(), &["--appendonly", "yes"])
        .expect("redis-server loads the set");
    assert_eq!(r.keyspace.digest_hex().unwrap(), s.digest());
    let got = s.client().cmd(&[b"GET", b"d"]).unwrap();
    assert_eq!(got, common::Reply::Bulk(Some(b"5".to_vec())));
}
