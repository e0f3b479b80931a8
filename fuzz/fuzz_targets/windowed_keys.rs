//! The public windowed key serdes, Kafka's layouts: `WindowedSerde` (key ‖ start) and
//! `SessionWindowedSerde` (key ‖ end ‖ start). Both are canonical: whatever reads is written
//! back byte for byte, and the partition key is the key's bytes.
#![no_main]

use kstreams::dsl::{SessionWindowedSerde, Windowed, WindowedSerde};
use kstreams::serde::{BytesSerde, I64Serde, Serde, StringSerde};
use libfuzzer_sys::fuzz_target;

/// Reads `bytes`; when they read, writes them back and compares. `times` is the length of
/// the window's part at the end.
fn round_trip<K: std::fmt::Debug + 'static>(
    serde: &dyn Serde<Windowed<K>>,
    bytes: &[u8],
    times: usize,
) -> Option<Windowed<K>> {
    let value = serde.deserialize(bytes).ok()?;
    let mut out = Vec::new();
    serde
        .serialize(&value, &mut out)
        .expect("a key read writes");
    assert_eq!(out, bytes, "{value:?} is written differently");
    assert_eq!(serde.partition_key(bytes), &bytes[..bytes.len() - times]);
    Some(value)
}

fuzz_target!(|bytes: &[u8]| {
    // The window size comes from the input too, so that ends near i64::MAX are reached.
    let size = bytes
        .get(..8)
        .map(|b| i64::from_be_bytes(b.try_into().unwrap()))
        .unwrap_or(1000);
    let bytes = bytes.get(8..).unwrap_or(bytes);

    let _ = round_trip(&WindowedSerde::new(StringSerde, size), bytes, 8);
    let _ = round_trip(&WindowedSerde::new(I64Serde, size), bytes, 8);
    let w = round_trip(&WindowedSerde::new(BytesSerde, size), bytes, 8);
    assert_eq!(w.is_some(), bytes.len() >= 8);
    if let Some(w) = w {
        assert_eq!(w.window.end, w.window.start.saturating_add(size));
    }

    let _ = round_trip(&SessionWindowedSerde::new(StringSerde), bytes, 16);
    let _ = round_trip(&SessionWindowedSerde::new(I64Serde), bytes, 16);
    let s = round_trip(&SessionWindowedSerde::new(BytesSerde), bytes, 16);
    assert_eq!(s.is_some(), bytes.len() >= 16);
});
