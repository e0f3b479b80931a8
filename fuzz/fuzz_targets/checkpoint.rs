//! Checkpoint files (`<task>/.checkpoint`), crate-private, through `kstreams::fuzzing`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = kstreams::fuzzing::checkpoint(bytes);
});
