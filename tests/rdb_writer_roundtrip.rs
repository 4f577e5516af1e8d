//! Property test: any owned value written with `RdbWriter` for any target version reads back
//! (with redsafe's reader) as the same value, minus exactly what the writer reported lost,
//! and the file passes `redsafe check`.

use std::collections::BTreeMap;

use proptest::prelude::*;
use redsafe::rdb::model::{HashField, Stream, StreamEntry, StreamId};
use redsafe::rdb::{
    check_rdb, CheckOptions, Dialect, EntryMeta, EntryOutcome, RdbReader, RdbWriter, Record, Value,
    WriterOptions,
};

fn bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        // Integers (canonical or not) exercise int encodings in strings, ziplists, listpacks.
        any::<i64>().prop_map(|i| i.to_string().into_bytes()),
        (0i64..200).prop_map(|i| i.to_string().into_bytes()),
        Just(b"-0".to_vec()),
        Just(b"007".to_vec()),
        Just(Vec::new()),
        proptest::collection::vec(any::<u8>(), 0..80),
        // Long compressible strings (LZF) and long ones past the compact thresholds.
        (1usize..400, any::<u8>()).prop_map(|(n, b)| vec![b; n]),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    let set = proptest::collection::btree_set(bytes(), 0..40)
        .prop_map(|s| Value::Set(s.into_iter().collect()));
    let ints = proptest::collection::btree_set(any::<i64>(), 1..30)
        .prop_map(|s| Value::Set(s.into_iter().map(|i| i.to_string().into_bytes()).collect()));
    let score = prop_oneof![
        any::<f64>().prop_filter("no NaN", |f| !f.is_nan()),
        (-1000i32..1000).prop_map(|i| i as f64),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY)
    ];
    let zset = proptest::collection::btree_map(bytes(), score, 0..40)
        .prop_map(|m| Value::Zset(m.into_iter().collect()));
    let ttl = prop_oneof![Just(None), (1u64..(1 << 48)).prop_map(Some)];
    let hash = proptest::collection::btree_map(bytes(), (bytes(), ttl), 0..40).prop_map(|m| {
        Value::Hash(
            m.into_iter()
                .map(|(field, (value, expire_ms))| HashField {
                    field,
                    value,
                    expire_ms,
                })
                .collect(),
        )
    });
    let stream = proptest::collection::vec(
        (1u64..5, proptest::collection::vec((bytes(), bytes()), 0..4)),
        0..30,
    )
    .prop_map(|es| {
        let mut id = StreamId {
            ms: 1_700_000_000_000,
            seq: 0,
        };
        let entries: Vec<StreamEntry> = es
            .into_iter()
            .map(|(step, fields)| {
                id = if step == 1 {
                    StreamId {
                        ms: id.ms,
                        seq: id.seq + 1,
                    }
                } else {
                    StreamId {
                        ms: id.ms + step,
                        seq: 0,
                    }
                };
                StreamEntry { id, fields }
            })
            .collect();
        let mut s = Stream::default();
        s.meta.length = entries.len() as u64;
        s.meta.last_id = entries.last().map(|e| e.id).unwrap_or_default();
        s.entries = entries;
        Value::Stream(Box::new(s))
    });
    prop_oneof![
        bytes().prop_map(Value::String),
        proptest::collection::vec(bytes(), 0..60).prop_map(Value::List),
        proptest::collection::vec((0usize..3000, any::<u8>()), 0..12)
            .prop_map(|v| Value::List(v.into_iter().map(|(n, b)| vec![b; n]).collect())),
        set,
        ints,
        zset,
        hash,
        stream,
    ]
}

fn norm(v: &Value, drop_ttls: bool) -> Value {
    match v.clone() {
        Value::Set(mut s) => {
            s.sort();
            Value::Set(s)
        }
        Value::Zset(mut z) => {
            z.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Zset(z)
        }
        Value::Hash(mut h) => {
            h.sort_by(|a, b| a.field.cmp(&b.field));
            if drop_ttls {
                h.iter_mut().for_each(|f| f.expire_ms = None);
            }
            Value::Hash(h)
        }
        Value::Stream(s) => Value::Stream(Box::new(Stream {
            entries: s.entries.clone(),
            ..Default::default()
        })),
        other => other,
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::List(x) | Value::Set(x) => x.is_empty(),
        Value::Zset(x) => x.is_empty(),
        Value::Hash(x) => x.is_empty(),
        _ => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]
    #[test]
    fn written_values_read_back_identical(values in proptest::collection::vec(value(), 1..6), expire in proptest::option::of(1_600_000_000_000i64..1_900_000_000_000)) {
        for (dialect, version) in (1..=14).map(|v| (Dialect::Redis, v)).chain([(Dialect::Valkey, 80)]) {
            let opts = WriterOptions { lossy: true, ..Default::default() };
            let mut w = RdbWriter::with_options(Vec::new(), dialect, version, opts).unwrap();
            w.select_db(0).unwrap();
            let mut want = BTreeMap::new();
            for (i, v) in values.iter().enumerate() {
                let key = format!("k{i}").into_bytes();
                let meta = EntryMeta { expire_ms: expire, ..Default::default() };
                let out = w.entry_value(&key, &meta, v).unwrap();
                match out {
                    EntryOutcome::Reencoded => { want.insert(key, norm(v, false)); }
                    EntryOutcome::Lossy(l) => {
                        prop_assert!(l.iter().all(|x| x.contains("TTL")), "{:?}", l);
                        want.insert(key, norm(v, true));
                    }
                    EntryOutcome::Empty => prop_assert!(is_empty(v)),
                    EntryOutcome::Dropped(_) => prop_assert!(matches!(v, Value::Stream(_)) && version < 9 || expire.is_some() && version < 3),
                    EntryOutcome::Copied => prop_assert!(false, "nothing to copy"),
                }
            }
            let data = w.finish().unwrap();
            let rep = check_rdb(&data, 0, CheckOptions::default());
            prop_assert!(rep.ok, "v{}: {:?}", version, rep.error);
            let mut got = BTreeMap::new();
            for it in RdbReader::new(&data) {
                if let Record::Entry(e) = it.unwrap().record {
                    let v = e.value.materialize().unwrap();
                    if let Some(x) = expire {
                        let x2 = if version < 3 { (x + 999).div_euclid(1000) * 1000 } else { x };
                        prop_assert_eq!(e.expire_ms, Some(x2));
                    }
                    got.insert(e.key.to_vec(), norm(&v, false));
                }
            }
            prop_assert_eq!(&got, &want, "target {:?} {}", dialect, version);
        }
    }
}
