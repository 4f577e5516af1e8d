fn main() {
    for p in std::env::args().skip(1) {
        let f = redsafe::mmap::MappedFile::open(p.as_ref()).unwrap();
        let r = redsafe::rdb::check_rdb(f.bytes(), 0, Default::default());
        println!(
            "{p}: ok={} keys={} empty={} checksum={:?} err={:?}",
            r.ok, r.keys, r.empty_keys, r.checksum, r.error
        );
    }
}
