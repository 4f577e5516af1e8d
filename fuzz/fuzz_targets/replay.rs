//! `replay`: see `redsafe::fuzzing::replay` for the input format and the invariants checked.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[global_allocator]
static ALLOC: redsafe::fuzzing::CountingAlloc = redsafe::fuzzing::CountingAlloc;

fuzz_target!(|data: &[u8]| redsafe::fuzzing::replay(data));
