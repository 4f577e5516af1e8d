//! Unit-level checks of the replay engine's command semantics (each expectation is Redis
//! 7.0's documented behaviour; the differential test checks them against a real server).

use redsafe::keyspace::{Client, Keyspace};

fn run(ks: &mut Keyspace, c: &mut Client, cmds: &[&[&str]]) {
    for (i, a) in cmds.iter().enumerate() {
        let args: Vec<&[u8]> = a.iter().map(|s| s.as_bytes()).collect();
        let _ = ks.apply_args(c, &args, i as u64);
    }
}

#[test]
fn select_routes_commands() {
    let mut ks = Keyspace::new();
    let mut c = Client::new(0);
    run(
        &mut ks,
        &mut c,
        &[
            &["SET", "a", "1"],
            &["SELECT", "2"],
            &["SET", "b", "1"],
            &["MULTI"],
            &["SELECT", "0"],
            &["SET", "c", "1"],
            &["EXEC"],
            &["SET", "d", "1"],
        ],
    );
    assert!(ks.get(0, b"a").is_some());
    assert!(ks.get(2, b"b").is_some());
    assert!(ks.get(0, b"c").is_some());
    assert!(ks.get(0, b"d").is_some());
}
