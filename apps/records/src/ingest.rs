//! `ingest`: validate, normalize, enrich with the customer profile, key by customer.
//!
//! Nothing is dropped: a record that fails any check goes to `records-dlq` with the reason
//! (naming the field) and its topic, partition and offset; the rest joins the `customers`
//! table (an unknown customer is dead-lettered too) and goes to `records-enriched`.
//! `in = valid + dead-lettered` holds at every commit.

use crate::model::{Customer, CustomerRecord, DeadLetter, Enriched};
use crate::topics;
use kstreams::error::SerdeError;
use kstreams::processor::{Processor, ProcessorContext, Record};
use kstreams::serde::{JsonSerde, Nullable, Serde, StringSerde};
use kstreams::{Consumed, Materialized, Produced, StreamsBuilder, Topology};
use serde::de::{DeserializeOwned, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::error::Category;
use serde_json::value::RawValue;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Keys as text whatever the bytes: a broken producer's key must not stop ingestion, it
/// only fails validation.
pub struct LossyKey;

impl Serde<String> for LossyKey {
    fn serialize(&self, value: &String, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        out.extend_from_slice(value.as_bytes());
        Ok(())
    }
    fn deserialize(&self, bytes: &[u8]) -> Result<String, SerdeError> {
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }
}

/// Raw value bytes, any content.
struct RawBytes;

impl Serde<Vec<u8>> for RawBytes {
    fn serialize(&self, value: &Vec<u8>, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        out.extend_from_slice(value);
        Ok(())
    }
    fn deserialize(&self, bytes: &[u8]) -> Result<Vec<u8>, SerdeError> {
        Ok(bytes.to_vec())
    }
}

/// Ingest's counters, shared with the metrics reporter.
#[derive(Debug, Default)]
pub struct IngestCounters {
    /// Records read from `customer-records`.
    pub read: Arc<AtomicU64>,
    /// Records written to `records-enriched`.
    pub valid: Arc<AtomicU64>,
    /// Records written to `records-dlq`.
    pub dead_lettered: Arc<AtomicU64>,
}

/// Where a record came from.
#[derive(Debug, Clone, Default)]
pub struct Source {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: u32,
    /// Offset.
    pub offset: i64,
}

/// The outcome of validation.
#[derive(Debug, Clone)]
pub enum Checked {
    /// A valid, normalized record, and where it came from.
    Valid(CustomerRecord, Source),
    /// Why not.
    Invalid(DeadLetter),
}

/// The fields of a record that ingest reads, each as its raw JSON text: a field of the
/// wrong type then gets a message naming it, and the rest of the value is skipped
/// unparsed. Decoding into a `serde_json::Value` instead built a map, a string per field
/// name and a `Value` per field, for every record (7% of ingest's CPU).
///
/// Skipping checks a field's syntax but not what a `Value` would also refuse in it (a
/// number out of `f64`'s range, a lone surrogate, nesting past 128 levels). Such a field is
/// not carried downstream, so it no longer dead-letters a record whose own fields are
/// valid.
#[derive(Default)]
struct Fields<'a> {
    record_id: Option<&'a RawValue>,
    customer_id: Option<&'a RawValue>,
    ts: Option<&'a RawValue>,
    amount: Option<&'a RawValue>,
    currency: Option<&'a RawValue>,
    country: Option<&'a RawValue>,
    device: Option<&'a RawValue>,
    sent_ms: Option<&'a RawValue>,
}

/// A field name of [`Fields`], or another one (skipped).
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "snake_case")]
enum FieldName {
    RecordId,
    CustomerId,
    Ts,
    Amount,
    Currency,
    Country,
    Device,
    SentMs,
    #[serde(other)]
    Other,
}

impl<'de> Deserialize<'de> for Fields<'de> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Object;
        impl<'de> Visitor<'de> for Object {
            type Value = Fields<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields<'de>, A::Error> {
                let mut fields = Fields::default();
                while let Some(name) = map.next_key::<FieldName>()? {
                    let slot = match name {
                        FieldName::RecordId => &mut fields.record_id,
                        FieldName::CustomerId => &mut fields.customer_id,
                        FieldName::Ts => &mut fields.ts,
                        FieldName::Amount => &mut fields.amount,
                        FieldName::Currency => &mut fields.currency,
                        FieldName::Country => &mut fields.country,
                        FieldName::Device => &mut fields.device,
                        FieldName::SentMs => &mut fields.sent_ms,
                        FieldName::Other => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    // The last of a repeated field wins, as it did in a `Value`; JSON null
                    // reads as absent.
                    *slot = map.next_value::<Option<&'de RawValue>>()?;
                }
                Ok(fields)
            }
        }
        d.deserialize_map(Object)
    }
}

/// Field `name`, present and not null.
fn field<'a>(raw: Option<&'a RawValue>, name: &str) -> Result<&'a RawValue, String> {
    raw.ok_or_else(|| format!("field `{name}` is missing"))
}

/// Field `name` read as a `T`: the message says what was `expected` when the JSON is of
/// another type, and what failed when it is of the type but unreadable (a number out of
/// range, a lone surrogate in a string).
fn read<T: DeserializeOwned>(raw: &RawValue, name: &str, expected: &str) -> Result<T, String> {
    serde_json::from_str(raw.get()).map_err(|e| match e.classify() {
        Category::Data => format!("field `{name}`: expected {expected}, got {}", raw.get()),
        _ => format!("field `{name}`: cannot read {}: {e}", raw.get()),
    })
}

/// Field `name` as trimmed, non-empty text.
fn text(raw: Option<&RawValue>, name: &str) -> Result<String, String> {
    let s: String = read(field(raw, name)?, name, "a string")?;
    match s.trim() {
        "" => Err(format!("field `{name}` is empty")),
        t if t.len() == s.len() => Ok(s),
        t => Ok(t.to_string()),
    }
}

/// Validates and normalizes one record's JSON; `key` is the record key.
pub fn validate(key: Option<&str>, value: Option<&[u8]>) -> Result<CustomerRecord, String> {
    let bytes = value.ok_or("value is null")?;
    let text_value = std::str::from_utf8(bytes).map_err(|e| format!("value is not UTF-8: {e}"))?;
    let m: Fields<'_> = serde_json::from_str(text_value).map_err(|e| {
        // A value of another type than an object fails at its first token, before the
        // rest is read: whether it is JSON at all takes a second look.
        match serde_json::from_str::<IgnoredAny>(text_value) {
            Ok(_) if e.classify() == Category::Data => "value is not a JSON object".to_string(),
            Ok(_) => format!("value is not JSON: {e}"),
            Err(e) => format!("value is not JSON: {e}"),
        }
    })?;
    let amount: f64 = read(field(m.amount, "amount")?, "amount", "a number")?;
    if !amount.is_finite() || amount < 0.0 {
        return Err(format!(
            "field `amount` is negative or not finite ({amount})"
        ));
    }
    let ts: i64 = read(field(m.ts, "ts")?, "ts", "an integer")?;
    if ts < 0 {
        return Err(format!("field `ts` is negative ({ts})"));
    }
    let record = CustomerRecord {
        record_id: text(m.record_id, "record_id")?,
        customer_id: text(m.customer_id, "customer_id")?,
        ts,
        amount: (amount * 100.0).round() / 100.0,
        currency: text(m.currency, "currency")?.to_ascii_uppercase(),
        country: text(m.country, "country")?.to_ascii_uppercase(),
        device: text(m.device, "device")?,
        sent_ms: m
            .sent_ms
            .and_then(|raw| serde_json::from_str(raw.get()).ok())
            .unwrap_or(0),
    };
    if key != Some(record.customer_id.as_str()) {
        return Err(format!(
            "key {key:?} does not match field `customer_id` ({})",
            record.customer_id
        ));
    }
    Ok(record)
}

struct Validate {
    counters: Arc<IngestCounters>,
}

impl Processor<String, Option<Vec<u8>>, String, Checked> for Validate {
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, Checked>,
        r: Record<String, Option<Vec<u8>>>,
    ) -> kstreams::Result<()> {
        self.counters.read.fetch_add(1, Ordering::Relaxed);
        let source = ctx
            .record_metadata()
            .map(|m| Source {
                topic: m.topic.to_string(),
                partition: m.partition,
                offset: m.offset,
            })
            .unwrap_or_default();
        let checked = match validate(r.key.as_deref(), r.value.as_deref()) {
            // Downstream works in event time: the record's own `ts`.
            Ok(record) => {
                let ts = record.ts;
                return ctx.forward(Record {
                    key: r.key,
                    value: Checked::Valid(record, source),
                    timestamp: ts,
                    headers: r.headers,
                });
            }
            Err(reason) => Checked::Invalid(DeadLetter {
                reason,
                topic: source.topic,
                partition: source.partition,
                offset: source.offset,
                key: r.key.clone(),
                value: r
                    .value
                    .as_deref()
                    .map(|v| String::from_utf8_lossy(v).into_owned()),
            }),
        };
        ctx.forward(Record {
            key: r.key,
            value: checked,
            timestamp: r.timestamp,
            headers: r.headers,
        })
    }
}

/// The store of customer profiles, by customer id.
pub const CUSTOMERS_STORE: &str = "customers-store";

/// The ingest topology.
pub fn topology(counters: Arc<IngestCounters>) -> kstreams::Result<Topology> {
    let builder = StreamsBuilder::new();
    let customers = builder.table(
        topics::CUSTOMERS,
        Consumed::with(StringSerde, JsonSerde::<Customer>::new()),
        Materialized::named(CUSTOMERS_STORE),
    );
    let validate_counters = counters.clone();
    let checked = builder
        .stream(
            topics::RECORDS,
            Consumed::with(LossyKey, Nullable(RawBytes)),
        )
        .process_values(
            move || Validate {
                counters: validate_counters.clone(),
            },
            &[],
        );
    let dlq_counters = counters.clone();
    checked
        .flat_map_values(|c| match c {
            Checked::Invalid(d) => Some(d),
            Checked::Valid(..) => None,
        })
        .peek(move |_, _| {
            dlq_counters.dead_lettered.fetch_add(1, Ordering::Relaxed);
        })
        .to(
            topics::DLQ,
            Produced::with(StringSerde, JsonSerde::<DeadLetter>::new()),
        );
    let joined = checked
        .flat_map_values(|c| match c {
            Checked::Valid(r, s) => Some((r, s)),
            Checked::Invalid(_) => None,
        })
        .left_join(
            &customers,
            |(r, s): &(CustomerRecord, Source), c: Option<&Customer>| match c {
                Some(c) => Ok(Enriched {
                    record: r.clone(),
                    customer: c.clone(),
                }),
                None => Err(Box::new((r.clone(), s.clone()))),
            },
        );
    let (valid_counters, unknown_counters) = (counters.clone(), counters);
    joined
        .flat_map_values(|e: Result<Enriched, Box<(CustomerRecord, Source)>>| e.ok())
        .peek(move |_, _| {
            valid_counters.valid.fetch_add(1, Ordering::Relaxed);
        })
        .to(
            topics::ENRICHED,
            Produced::with(StringSerde, JsonSerde::<Enriched>::new()),
        );
    joined
        .flat_map_values(|e: Result<Enriched, Box<(CustomerRecord, Source)>>| e.err())
        .map_values(|unknown: Box<(CustomerRecord, Source)>| {
            let (r, s) = *unknown;
            DeadLetter {
                reason: format!("field `customer_id`: unknown customer {}", r.customer_id),
                topic: s.topic,
                partition: s.partition,
                offset: s.offset,
                key: Some(r.customer_id.clone()),
                value: serde_json::to_string(&r).ok(),
            }
        })
        .peek(move |_, _| {
            unknown_counters
                .dead_lettered
                .fetch_add(1, Ordering::Relaxed);
        })
        .to(
            topics::DLQ,
            Produced::with(StringSerde, JsonSerde::<DeadLetter>::new()),
        );
    Ok(builder.build()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rejection_names_its_field() {
        let ok = br#"{"record_id":"r1","customer_id":"c1","ts":5,"amount":1.234,"currency":"eur","country":"fr","device":"d"}"#;
        let r = validate(Some("c1"), Some(ok)).unwrap();
        assert_eq!(
            (r.amount, r.currency.as_str(), r.country.as_str()),
            (1.23, "EUR", "FR")
        );
        // Other fields are skipped, escapes decoded, text trimmed, a repeated field's last
        // value taken (as JSON objects are usually read).
        let more = br#"{"note":{"a":[1,"}"]},"record_id":" r\u0031 ","customer_id":"c1","ts":1,"ts":7,"amount":3,"currency":"usd","country":"de","device":"d","sent_ms":9}"#;
        let r = validate(Some("c1"), Some(more)).unwrap();
        assert_eq!(
            (r.record_id.as_str(), r.ts, r.amount, r.sent_ms),
            ("r1", 7, 3.0, 9)
        );
        let cases: [(&[u8], &str); 17] = [
            (br#"{"record_id":"r1"#, "not JSON"),
            (br#"{"record_id":"r1"} x"#, "not JSON"),
            (br#""a string""#, "not a JSON object"),
            // Broken JSON that starts as another type than an object is still "not JSON".
            (br#"[1,2"#, "not JSON"),
            (br#"1 2"#, "not JSON"),
            (br#"{"record_id":"r1","customer_id":"c1","ts":5,"amount":1e400,"currency":"e","country":"f","device":"d"}"#, "`amount`: cannot read 1e400"),
            (br#"{"record_id":"\ud800","customer_id":"c1","ts":5,"amount":2,"currency":"e","country":"f","device":"d"}"#, "`record_id`: cannot read"),
            (br#"{"record_id":"r1","customer_id":"c1","ts":5,"amount":"2","currency":"e","country":"f","device":"d"}"#, "`amount`: expected a number, got \"2\""),
            (br#"{"record_id":7,"customer_id":"c1","ts":5,"amount":2,"currency":"e","country":"f","device":"d"}"#, "`record_id`: expected a string, got 7"),
            (br#"{"record_id":"  ","customer_id":"c1","ts":5,"amount":2,"currency":"e","country":"f","device":"d"}"#, "`record_id` is empty"),
            (br#"{"record_id":"r1","customer_id":"c1","ts":5.5,"amount":2,"currency":"e","country":"f","device":"d"}"#, "`ts`: expected an integer, got 5.5"),
            (br#"{"record_id":"r1","customer_id":"c1","ts":5,"amount":2,"currency":"e","country":"f","device":null}"#, "`device` is missing"),
            (br#"{"record_id":"r1","customer_id":"c1","ts":5,"currency":"e","country":"f","device":"d"}"#, "`amount` is missing"),
            (br#"{"record_id":"r1","customer_id":"c1","ts":5,"amount":-2,"currency":"e","country":"f","device":"d"}"#, "`amount` is negative"),
            (br#"{"record_id":"r1","customer_id":"c1","ts":"x","amount":2,"currency":"e","country":"f","device":"d"}"#, "`ts`: expected an integer"),
            (b"\xff\xfe", "not UTF-8"),
            (br#"[1,2]"#, "not a JSON object"),
        ];
        for (bytes, expected) in cases {
            let err = validate(Some("c1"), Some(bytes)).unwrap_err();
            assert!(err.contains(expected), "{err}");
        }
        assert!(validate(Some("c1"), None).unwrap_err().contains("null"));
        assert!(validate(Some("c2"), Some(ok))
            .unwrap_err()
            .contains("customer_id"));
    }
}
