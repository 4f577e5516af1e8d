//! Geo searches that store their result, through the replay engine, against redis-server
//! 7.0.15: a server with appendonly on holds three geo sets (300 points, so a skiplist; 40
//! points across the date line, a listpack; 60 points in the southern hemisphere) and runs
//! 600 seeded `GEORADIUS … STORE|STOREDIST`, `GEORADIUSBYMEMBER …` and `GEOSEARCHSTORE`
//! (radius and box, every unit, `COUNT` with and without `ANY`, `ASC`/`DESC`), each into a
//! key of its own. Replaying the server's AOF directory must refuse none of them and reach
//! the server's `DEBUG DIGEST`.

mod common;
mod keyspace_support;

#[path = "common/rng.rs"]
mod rng;

use common::Reply;
use redsafe::aof::AofSet;
use redsafe::keyspace::{replay_set, ReplayOptions};
use rng::Rng;

/// (key, anchor longitude, anchor latitude, spread in degrees, points)
const SETS: &[(&str, f64, f64, f64, usize)] = &[
    ("big", 13.361389, 38.115556, 3.0, 300),
    ("dateline", 179.95, 10.0, 0.1, 40),
    ("south", -58.38, -34.6, 1.0, 60),
];

fn coord(r: &mut Rng, centre: f64, spread: f64) -> String {
    let off = (r.below(2_000_001u64) as f64 - 1_000_000.0) * spread / 1_000_000.0;
    let mut v = centre + off;
    if v > 180.0 {
        v -= 360.0;
    }
    format!("{v:.6}")
}

fn search(r: &mut Rng, dest: &str) -> Vec<String> {
    let (key, lon, lat, spread, n) = SETS[r.below(SETS.len())];
    let mut c: Vec<String> = Vec::new();
    let radius = |r: &mut Rng| -> Vec<String> {
        let (v, unit) = match r.below(4) {
            0 => (r.below(400u64) as f64 * 1000.0, "m"),
            1 => (r.below(400u64) as f64, "km"),
            2 => (r.below(250u64) as f64, "mi"),
            _ => (r.below(1_000_000u64) as f64, "ft"),
        };
        vec![format!("{v}"), unit.into()]
    };
    let from_member = |r: &mut Rng| format!("p{}", r.below(n));
    match r.below(3) {
        0 => {
            c.extend(["GEORADIUS".into(), key.into()]);
            c.extend([coord(r, lon, spread), coord(r, lat, spread)]);
            c.extend(radius(r));
        }
        1 => {
            c.extend(["GEORADIUSBYMEMBER".into(), key.into(), from_member(r)]);
            c.extend(radius(r));
        }
        _ => {
            c.extend(["GEOSEARCHSTORE".into(), dest.into(), key.into()]);
            if r.chance(50) {
                c.extend(["FROMMEMBER".into(), from_member(r)]);
            } else {
                c.extend([
                    "FROMLONLAT".into(),
                    coord(r, lon, spread),
                    coord(r, lat, spread),
                ]);
            }
            if r.chance(50) {
                c.push("BYRADIUS".into());
                c.extend(radius(r));
            } else {
                let w = radius(r);
                c.extend(["BYBOX".into(), w[0].clone()]);
                c.push(format!("{}", r.below(500u64)));
                c.push(w[1].clone());
            }
        }
    }
    if r.chance(50) {
        c.extend(["COUNT".into(), (1 + r.below(20u64)).to_string()]);
        if r.chance(30) {
            c.push("ANY".into());
        }
    }
    if r.chance(40) {
        c.push(r.pick(&["ASC", "DESC"]).into());
    }
    let dist = r.chance(50);
    if c[0] == "GEOSEARCHSTORE" {
        if dist {
            c.push("STOREDIST".into());
        }
    } else {
        c.extend([if dist { "STOREDIST" } else { "STORE" }.into(), dest.into()]);
    }
    c
}

#[test]
fn geo_searches_that_store_replay_to_the_servers_digest() {
    if !common::have_redis() {
        return;
    }
    // KS_GEO_SEEDS=N runs seeds 1..=N (a longer local sweep); CI runs seed 7.
    match std::env::var("KS_GEO_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        Some(n) => (1..=n).for_each(run_seed),
        None => run_seed(7),
    }
}

fn run_seed(seed: u64) {
    let t = common::TempDir::new("ks-geo");
    let s = common::RedisServer::start(t.path(), &["--appendonly", "yes"]).unwrap();
    let mut c = s.client();
    let mut r = Rng(Rng(seed).next());
    let mut cmds: Vec<Vec<Vec<u8>>> = Vec::new();
    for &(key, lon, lat, spread, n) in SETS {
        for i in 0..n {
            cmds.push(
                [
                    "GEOADD".to_string(),
                    key.into(),
                    coord(&mut r, lon, spread),
                    coord(&mut r, lat, spread),
                    format!("p{i}"),
                ]
                .into_iter()
                .map(String::into_bytes)
                .collect(),
            );
        }
    }
    let searches: Vec<Vec<String>> = (0..600).map(|i| search(&mut r, &format!("d{i}"))).collect();
    cmds.extend(
        searches
            .iter()
            .map(|s| s.iter().map(|a| a.clone().into_bytes()).collect()),
    );
    let replies = c.pipeline(&cmds).unwrap();
    let mut stored = 0;
    for (cmd, reply) in searches
        .iter()
        .zip(&replies[replies.len() - searches.len()..])
    {
        match reply {
            Reply::Int(n) if *n > 0 => stored += 1,
            Reply::Int(_) => {}
            other => panic!("{cmd:?}: {other:?}"),
        }
    }
    // Most searches find something (so the comparison below is about real results).
    assert!(
        stored > 400,
        "only {stored} of 600 searches stored a result"
    );
    let want = s.digest();

    let set = AofSet::open(&t.path().join("appendonlydir")).unwrap();
    let got = replay_set(&set, &ReplayOptions::default(), &mut |_, _| {})
        .unwrap_or_else(|e| panic!("seed {seed}: replay failed: {e}"));
    assert_eq!(got.rejected, 0, "seed {seed}: {:?}", got.rejections.first());
    if got.keyspace.digest_hex().unwrap() != want {
        let diff = keyspace_support::first_difference(&mut s.client(), &got.keyspace);
        panic!("seed {seed}: digest differs from the server's: {diff:?}");
    }
}
