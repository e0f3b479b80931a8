//! Fixed-format serdes, byte-compatible with Kafka's Java serializers.

use super::Serde;
use crate::error::SerdeError;

/// Raw bytes, passed through unchanged (Kafka's `ByteArraySerde`).
#[derive(Debug, Clone, Copy, Default)]
pub struct BytesSerde;

impl Serde<Vec<u8>> for BytesSerde {
    fn serialize(&self, value: &Vec<u8>, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        out.extend_from_slice(value);
        Ok(())
    }
    fn deserialize(&self, bytes: &[u8]) -> Result<Vec<u8>, SerdeError> {
        Ok(bytes.to_vec())
    }
}

/// UTF-8 strings (Kafka's `StringSerde`). Invalid UTF-8 is an error, never replaced.
#[derive(Debug, Clone, Copy, Default)]
pub struct StringSerde;

impl Serde<String> for StringSerde {
    fn serialize(&self, value: &String, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        out.extend_from_slice(value.as_bytes());
        Ok(())
    }
    fn deserialize(&self, bytes: &[u8]) -> Result<String, SerdeError> {
        match std::str::from_utf8(bytes) {
            Ok(s) => Ok(s.to_owned()),
            Err(e) => Err(SerdeError::Invalid {
                expected: "UTF-8 string",
                reason: e.to_string(),
            }),
        }
    }
}

/// The unit type: always written as Kafka's null, and any payload reads as `()`.
/// Useful for the value of a stream whose information is all in the key, and as the
/// key type of streams whose keys are always null.
#[derive(Debug, Clone, Copy, Default)]
pub struct UnitSerde;

impl Serde<()> for UnitSerde {
    fn serialize(&self, _value: &(), _out: &mut Vec<u8>) -> Result<(), SerdeError> {
        Ok(())
    }
    fn deserialize(&self, _bytes: &[u8]) -> Result<(), SerdeError> {
        Ok(())
    }
    fn null_value(&self) -> Result<(), SerdeError> {
        Ok(())
    }
    fn is_null(&self, _value: &()) -> bool {
        true
    }
}

macro_rules! fixed_width {
    ($(#[$doc:meta])* $name:ident, $ty:ty, $width:expr, $label:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $name;

        impl Serde<$ty> for $name {
            fn serialize(&self, value: &$ty, out: &mut Vec<u8>) -> Result<(), SerdeError> {
                out.extend_from_slice(&value.to_be_bytes());
                Ok(())
            }
            fn deserialize(&self, bytes: &[u8]) -> Result<$ty, SerdeError> {
                let arr: [u8; $width] = bytes.try_into().map_err(|_| SerdeError::Invalid {
                    expected: $label,
                    reason: format!("expected {} bytes, got {}", $width, bytes.len()),
                })?;
                Ok(<$ty>::from_be_bytes(arr))
            }
        }
    };
}

fixed_width!(
    /// 32-bit signed integers, big-endian (Kafka's `IntegerSerde`).
    I32Serde, i32, 4, "i32"
);
fixed_width!(
    /// 64-bit signed integers, big-endian (Kafka's `LongSerde`).
    I64Serde, i64, 8, "i64"
);
fixed_width!(
    /// 64-bit unsigned integers, big-endian (same bytes as Kafka's `LongSerde` for values below 2^63).
    U64Serde, u64, 8, "u64"
);
fixed_width!(
    /// 64-bit IEEE 754 floats, big-endian (Kafka's `DoubleSerde`).
    F64Serde, f64, 8, "f64"
);

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip<T: PartialEq + std::fmt::Debug, S: Serde<T>>(s: S, v: T, bytes: &[u8]) {
        let mut out = Vec::new();
        s.serialize(&v, &mut out).unwrap();
        assert_eq!(out, bytes);
        assert_eq!(s.deserialize(bytes).unwrap(), v);
    }

    #[test]
    fn numbers_are_big_endian_like_java() {
        roundtrip(I32Serde, 1, &[0, 0, 0, 1]);
        roundtrip(I32Serde, -2, &[0xff, 0xff, 0xff, 0xfe]);
        roundtrip(I64Serde, 258, &[0, 0, 0, 0, 0, 0, 1, 2]);
        roundtrip(U64Serde, u64::MAX, &[0xff; 8]);
        // Java: Double.doubleToLongBits(1.5) == 0x3FF8000000000000
        roundtrip(F64Serde, 1.5, &[0x3f, 0xf8, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn wrong_width_is_an_error_not_a_panic() {
        let err = I64Serde.deserialize(&[1, 2, 3]).unwrap_err();
        assert!(err.to_string().contains("expected 8 bytes, got 3"), "{err}");
        assert!(I32Serde.null_value().is_err());
    }

    #[test]
    fn invalid_utf8_is_rejected() {
        let err = StringSerde.deserialize(&[0xff, 0xfe]).unwrap_err();
        assert!(err.to_string().contains("UTF-8"), "{err}");
    }
}
