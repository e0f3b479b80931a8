use super::Serde;
use crate::error::SerdeError;
use std::marker::PhantomData;

/// JSON through `serde_json`, for any `Serialize + DeserializeOwned` type.
///
/// ```
/// use kstreams::serde::{JsonSerde, Serde};
/// #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
/// struct Account { id: String, balance: i64 }
///
/// let serde = JsonSerde::<Account>::new();
/// let mut buf = Vec::new();
/// serde.serialize(&Account { id: "a1".into(), balance: 5 }, &mut buf).unwrap();
/// assert_eq!(buf, br#"{"id":"a1","balance":5}"#);
/// assert!(serde.deserialize(b"{not json").is_err());
/// ```
pub struct JsonSerde<T>(PhantomData<fn() -> T>);

impl<T> JsonSerde<T> {
    /// A JSON serde for `T`.
    pub fn new() -> Self {
        JsonSerde(PhantomData)
    }
}

impl<T> Default for JsonSerde<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Clone for JsonSerde<T> {
    fn clone(&self) -> Self {
        Self::new()
    }
}

impl<T> std::fmt::Debug for JsonSerde<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JsonSerde<{}>", std::any::type_name::<T>())
    }
}

impl<T> Serde<T> for JsonSerde<T>
where
    T: serde::Serialize + serde::de::DeserializeOwned + 'static,
{
    fn serialize(&self, value: &T, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        serde_json::to_writer(out, value).map_err(SerdeError::from)
    }
    fn deserialize(&self, bytes: &[u8]) -> Result<T, SerdeError> {
        // serde_json reading bytes checks each string it meets for UTF-8, one call per
        // string (9% of a filter-and-map thread's samples on ~200-byte records); reading a
        // `str` it checks nothing. One pass over the whole record is cheaper. Input that is
        // not UTF-8 is read as bytes, so that serde_json's error still names where it fails.
        match std::str::from_utf8(bytes) {
            Ok(text) => serde_json::from_str(text),
            Err(_) => serde_json::from_slice(bytes),
        }
        .map_err(SerdeError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::serde::Serde;

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Purchase {
        id: String,
        amount: f64,
    }

    /// A bad record is reported by field and column: what the dead-letter reasons and the
    /// deserialization handler's log show.
    #[test]
    fn bad_input_is_named_by_field_and_column() {
        let serde = JsonSerde::<Purchase>::new();
        let error = |input: &[u8]| serde.deserialize(input).unwrap_err().to_string();
        assert_eq!(
            error(br#"{"id":"a"}"#),
            "JSON: missing field `amount` at line 1 column 10"
        );
        assert_eq!(
            error(br#"{"id":"a","amount":"12"}"#),
            "JSON: invalid type: string \"12\", expected f64 at line 1 column 23"
        );
        assert_eq!(
            error(br#"{"id":"a","amount":1} x"#),
            "JSON: trailing characters at line 1 column 23"
        );
        // Not UTF-8 (a Latin-1 é in a string): still named by line and column (the column
        // of the byte or the one after it, as serde_json versions differ).
        let not_utf8 = error(b"{\"id\":\"caf\xe9\",\"amount\":1}");
        assert!(
            not_utf8.starts_with("JSON: invalid unicode code point at line 1 column 1"),
            "{not_utf8}"
        );
        assert_eq!(
            serde.deserialize(br#"{"id":"a","amount":1.5}"#).unwrap(),
            Purchase {
                id: "a".into(),
                amount: 1.5
            }
        );
    }
}
