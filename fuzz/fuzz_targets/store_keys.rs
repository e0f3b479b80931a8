//! The store layouts of windowed keys (crate-private, through `kstreams::fuzzing`): window
//! stores' start ‖ key and session stores' len ‖ key ‖ end ‖ start. Both are canonical; the
//! fuzzing functions check the round trip.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let w = kstreams::fuzzing::start_first_key(bytes);
    assert_eq!(w.is_ok(), bytes.len() >= 8);
    let _ = kstreams::fuzzing::session_store_key(bytes);
});
