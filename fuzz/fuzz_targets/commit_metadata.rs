//! The partition time in committed offsets' metadata (Kafka Streams'
//! `TopicPartitionMetadata`, base64), crate-private, through `kstreams::fuzzing`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = kstreams::fuzzing::commit_metadata(bytes);
});
