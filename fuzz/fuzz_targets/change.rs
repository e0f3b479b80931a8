//! `ChangeSerde`: a flag byte, the new value's length and bytes, then the old value's
//! bytes. Whatever reads writes back as a change that reads the same; when the bytes are
//! canonical (flags 0 to 3, nothing after the new value unless an old one follows), they
//! are written back byte for byte.
#![no_main]

use kstreams::serde::{BytesSerde, ChangeSerde, I64Serde, Serde, StringSerde};
use libfuzzer_sys::fuzz_target;
use std::sync::Arc;

fn canonical(bytes: &[u8]) -> bool {
    let Some((&flags, rest)) = bytes.split_first() else {
        return false;
    };
    if flags > 3 {
        return false;
    }
    if flags & 2 != 0 {
        return true;
    }
    if flags & 1 == 0 {
        return rest.is_empty();
    }
    let len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
    rest.len() == 4 + len
}

fn check<V: std::fmt::Debug + PartialEq + 'static>(serde: ChangeSerde<V>, bytes: &[u8]) {
    let Ok(change) = serde.deserialize(bytes) else {
        return;
    };
    let mut out = Vec::new();
    serde
        .serialize(&change, &mut out)
        .expect("a change read writes");
    assert_eq!(
        serde.deserialize(&out).expect("written change reads"),
        change
    );
    if canonical(bytes) {
        assert_eq!(out, bytes, "{change:?} is written differently");
    }
}

fuzz_target!(|bytes: &[u8]| {
    check(ChangeSerde::new(Arc::new(BytesSerde)), bytes);
    check(ChangeSerde::new(Arc::new(StringSerde)), bytes);
    check(ChangeSerde::new(Arc::new(I64Serde)), bytes);
});
