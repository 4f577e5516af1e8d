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

fn apply(
    ks: &mut Keyspace,
    c: &mut Client,
    a: &[&str],
) -> Result<(), redsafe::keyspace::ApplyError> {
    let args: Vec<&[u8]> = a.iter().map(|s| s.as_bytes()).collect();
    ks.apply_args(c, &args, 77)
}

#[test]
fn refused_commands_change_nothing_and_name_themselves() {
    use redsafe::keyspace::{ApplyErrorKind, Reject};
    let mut ks = Keyspace::new();
    let mut c = Client::new(0);
    apply(&mut ks, &mut c, &["ZADD", "z", "1", "a"]).unwrap();
    let before = ks.clone();
    // The second score is not a float: the first pair is not added either.
    let e = apply(&mut ks, &mut c, &["ZADD", "z", "2", "b", "x", "c"]).unwrap_err();
    assert_eq!(e.kind, ApplyErrorKind::Rejected(Reject::NotFloat));
    assert_eq!(e.offset, 77);
    assert_eq!(e.command, "ZADD");
    assert!(ks == before);
    let e = apply(&mut ks, &mut c, &["LPUSH", "z", "v"]).unwrap_err();
    assert_eq!(e.kind, ApplyErrorKind::Rejected(Reject::WrongType));
    // Redis 8's HGETDEL: not replayed (no Redis 8 oracle here).
    let e = apply(&mut ks, &mut c, &["HGETDEL", "h", "FIELDS", "1", "f"]).unwrap_err();
    assert_eq!(e.kind, ApplyErrorKind::UnknownCommand);
    assert!(e.to_string().contains("HGETDEL at offset 77"), "{e}");
    apply(&mut ks, &mut c, &["SADD", "s", "a", "b", "c"]).unwrap();
    let e = apply(&mut ks, &mut c, &["SPOP", "s"]).unwrap_err();
    assert!(matches!(e.kind, ApplyErrorKind::Unsupported(_)), "{e}");
    // SPOP of every member is deterministic.
    apply(&mut ks, &mut c, &["SPOP", "s", "5"]).unwrap();
    assert!(ks.get(0, b"s").is_none());
    assert!(ks.get(0, b"z").is_some());
}

#[test]
fn hash_field_expiry_commands() {
    let mut ks = Keyspace::new();
    let mut c = Client::new(1_000_000);
    apply(&mut ks, &mut c, &["HSET", "h", "a", "1", "b", "2"]).unwrap();
    apply(
        &mut ks,
        &mut c,
        &["HPEXPIREAT", "h", "5000", "FIELDS", "1", "a"],
    )
    .unwrap();
    // GT against a field with no TTL (infinite) does nothing; NX sets it.
    apply(
        &mut ks,
        &mut c,
        &["HPEXPIREAT", "h", "9000", "GT", "FIELDS", "1", "b"],
    )
    .unwrap();
    apply(
        &mut ks,
        &mut c,
        &["HPEXPIREAT", "h", "4000", "LT", "FIELDS", "2", "a", "b"],
    )
    .unwrap();
    let ttl = |ks: &Keyspace, f: &[u8]| match &ks.get(0, b"h").unwrap().value {
        redsafe::keyspace::Value::Hash(h) => h.get(f).unwrap().expire_ms,
        _ => panic!(),
    };
    assert_eq!(ttl(&ks, b"a"), Some(4000));
    assert_eq!(ttl(&ks, b"b"), Some(4000));
    // The field count must match.
    assert!(apply(&mut ks, &mut c, &["HPERSIST", "h", "FIELDS", "2", "a"]).is_err());
    apply(&mut ks, &mut c, &["HPERSIST", "h", "FIELDS", "1", "a"]).unwrap();
    assert_eq!(ttl(&ks, b"a"), None);
    // HSET clears a field's TTL.
    apply(&mut ks, &mut c, &["HSET", "h", "b", "3"]).unwrap();
    assert_eq!(ttl(&ks, b"b"), None);
}

#[test]
fn edge_cases_follow_redis() {
    let mut ks = Keyspace::new();
    let mut c = Client::new(0);
    // SETRANGE with an empty value does not create the key.
    apply(&mut ks, &mut c, &["SETRANGE", "k", "5", ""]).unwrap();
    assert!(ks.get(0, b"k").is_none());
    // LMOVE on the same list rotates it.
    apply(&mut ks, &mut c, &["RPUSH", "l", "a", "b", "c"]).unwrap();
    apply(&mut ks, &mut c, &["LMOVE", "l", "l", "LEFT", "RIGHT"]).unwrap();
    match &ks.get(0, b"l").unwrap().value {
        redsafe::keyspace::Value::List(l) => {
            let v: Vec<&[u8]> = l.iter().map(Vec::as_slice).collect();
            assert_eq!(v, [&b"b"[..], b"c", b"a"]);
        }
        _ => panic!(),
    }
    // XADD with an ID not above the top item fails but leaves the stream it created.
    assert!(apply(&mut ks, &mut c, &["XADD", "x", "0-1", "f", "v"]).is_ok());
    assert!(apply(&mut ks, &mut c, &["XADD", "x", "0-1", "f", "v"]).is_err());
    assert!(apply(
        &mut ks,
        &mut c,
        &["XADD", "y", "MAXLEN", "0", "1-1", "f", "v"]
    )
    .is_ok());
    assert!(ks.get(0, b"y").is_some(), "an emptied stream is kept");
    // Approximate trimming that would remove entries is refused, not guessed.
    assert!(apply(
        &mut ks,
        &mut c,
        &["XADD", "x", "MAXLEN", "~", "0", "2-1", "f", "v"]
    )
    .is_err());
    // A listpack-encoded sorted set stores -0 as 0.
    apply(&mut ks, &mut c, &["ZADD", "z", "-0", "m"]).unwrap();
    assert_eq!(
        redsafe::keyspace::digest::digest_value(&ks, 0, b"z", Default::default()).unwrap(),
        {
            let mut k2 = Keyspace::new();
            apply(&mut k2, &mut c, &["ZADD", "z", "0", "m"]).unwrap();
            redsafe::keyspace::digest::digest_value(&k2, 0, b"z", Default::default()).unwrap()
        }
    );
}

/// `SORT … BY pattern ALPHA` where two different elements have the same (or no) sort value:
/// their order is whatever Redis's sort routine leaves, so the engine refuses rather than
/// guess; with distinct values, or without `BY`, the result is the sorted list.
#[test]
fn sort_alpha_by_with_ties_is_refused_not_guessed() {
    use redsafe::keyspace::{ApplyErrorKind, Value};
    let mut ks = Keyspace::new();
    let mut c = Client::new(0);
    apply(&mut ks, &mut c, &["RPUSH", "l", "b", "a", "c"]).unwrap();
    let before = ks.clone();
    let e = apply(
        &mut ks,
        &mut c,
        &["SORT", "l", "BY", "w_*", "ALPHA", "STORE", "d"],
    )
    .unwrap_err();
    assert!(matches!(e.kind, ApplyErrorKind::Unsupported(_)), "{e}");
    assert!(ks == before);
    for (k, v) in [("w_a", "3"), ("w_b", "2"), ("w_c", "1")] {
        apply(&mut ks, &mut c, &["SET", k, v]).unwrap();
    }
    apply(
        &mut ks,
        &mut c,
        &["SORT", "l", "BY", "w_*", "ALPHA", "STORE", "d"],
    )
    .unwrap();
    let Some(Value::List(d)) = ks.get(0, b"d").map(|e| &e.value) else {
        panic!("d is a list");
    };
    assert_eq!(
        d.iter().map(|x| x.as_slice()).collect::<Vec<_>>(),
        [&b"c"[..], b"b", b"a"]
    );
}
