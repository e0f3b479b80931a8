//! The fixed-format serdes (bytes, strings, numbers, unit) and `Nullable` around them: any
//! bytes either fail to read or read as a value that is written back as the same bytes.
#![no_main]

use kstreams::serde::{
    BytesSerde, F64Serde, I32Serde, I64Serde, Nullable, Serde, StringSerde, U64Serde, UnitSerde,
};
use libfuzzer_sys::fuzz_target;

/// Reads `bytes`; when they read, writes the value back and compares.
fn round_trip<T: std::fmt::Debug + 'static>(serde: &dyn Serde<T>, bytes: &[u8]) -> Option<T> {
    let value = serde.deserialize(bytes).ok()?;
    assert!(!serde.is_null(&value), "{value:?} read from bytes is null");
    let mut out = Vec::new();
    serde
        .serialize(&value, &mut out)
        .expect("a value read writes");
    assert_eq!(out, bytes, "{value:?} is written differently");
    Some(value)
}

fuzz_target!(|bytes: &[u8]| {
    let raw = round_trip(&BytesSerde, bytes).expect("any bytes are bytes");
    assert_eq!(raw, bytes);
    assert_eq!(
        round_trip(&StringSerde, bytes).is_some(),
        std::str::from_utf8(bytes).is_ok()
    );
    for (width, ok) in [
        (4, round_trip(&I32Serde, bytes).is_some()),
        (8, round_trip(&I64Serde, bytes).is_some()),
        (8, round_trip(&U64Serde, bytes).is_some()),
        // Compared as bytes, so NaN payloads must survive too.
        (8, round_trip(&F64Serde, bytes).is_some()),
    ] {
        assert_eq!(ok, bytes.len() == width, "{width}-byte number");
    }
    // Unit reads any payload and is always written as null.
    UnitSerde.deserialize(bytes).expect("unit reads anything");
    // Nullable: a payload is never null, and reads as the inner serde reads it.
    let nullable = round_trip(&Nullable(I64Serde), bytes);
    assert_eq!(nullable.flatten(), I64Serde.deserialize(bytes).ok());
    let nullable = round_trip(&Nullable(StringSerde), bytes);
    assert_eq!(nullable.flatten(), StringSerde.deserialize(bytes).ok());
    assert!(Nullable(BytesSerde).null_value().expect("null").is_none());
});
