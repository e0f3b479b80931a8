//! The changelog layouts (`ChangelogFormat::restored_from` and `logged_as`, crate-private,
//! through `kstreams::fuzzing`) for every layout: raw, timestamped, window and session. A
//! restored write logs back as its changelog record and a logged write restores as itself.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    kstreams::fuzzing::changelog_restored_from(bytes);
    kstreams::fuzzing::changelog_logged_as(bytes);
});
