//! `roundtrip`: see `redsafe_fuzz_harness::roundtrip` for the input format and the invariants checked.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: redsafe_fuzz_harness::CountingAlloc = redsafe_fuzz_harness::CountingAlloc;

fuzz_target!(|data: &[u8]| redsafe_fuzz_harness::roundtrip(data));
