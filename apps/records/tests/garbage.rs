//! Garbage of every kind into ingest, on the test driver: every bad record is
//! dead-lettered with a reason naming what is wrong and its source offset, every good one
//! is enriched, and the pipeline never stops.

use kstreams::serde::{JsonSerde, StringSerde};
use kstreams_testkit::TestDriver;
use records::ingest;
use records::model::{Customer, DeadLetter, Enriched};
use records::topics;
use std::sync::Arc;

fn good(id: &str, customer: &str) -> String {
    format!(
        r#"{{"record_id":"{id}","customer_id":"{customer}","ts":1000,"amount":12.5,"currency":"eur","country":"fr","device":"d1","sent_ms":0}}"#
    )
}

/// Key bytes, value bytes, and what the dead letter must say.
type Case<'a> = (Option<&'a [u8]>, Option<Vec<u8>>, &'a str);

#[test]
fn garbage_of_every_kind_is_dead_lettered_and_the_rest_flows() {
    let driver = TestDriver::builder(ingest::topology(Arc::default()).unwrap())
        .default_partitions(3)
        .build()
        .unwrap();
    let customers =
        driver.input_topic(topics::CUSTOMERS, StringSerde, JsonSerde::<Customer>::new());
    customers
        .pipe_input(
            "c1".into(),
            Customer {
                id: "c1".into(),
                home_country: "FR".into(),
                devices: vec!["d1".into()],
                typical_spend: 10.0,
                activity: 1.0,
                last_active: 0,
            },
        )
        .unwrap();
    let valid = good("r0", "c1");
    let cases: Vec<Case> = vec![
        (Some(b"c1"), None, "value is null"),
        (Some(b"c1"), Some(vec![0xff, 0x00, 0xfe]), "not UTF-8"),
        (Some(b"c1"), Some(b"{\"record_id\": ".to_vec()), "not JSON"),
        (
            Some(b"c1"),
            Some(b"[1, 2, 3]".to_vec()),
            "not a JSON object",
        ),
        (
            Some(b"c1"),
            Some(b"{}".to_vec()),
            "field `amount` is missing",
        ),
        (
            Some(b"c1"),
            Some(valid.replace("12.5", "-3").into_bytes()),
            "field `amount` is negative",
        ),
        (
            Some(b"c1"),
            Some(valid.replace("12.5", "\"twelve\"").into_bytes()),
            "field `amount`: expected a number",
        ),
        (
            Some(b"c1"),
            Some(valid.replace("1000", "\"soon\"").into_bytes()),
            "field `ts`: expected an integer",
        ),
        (
            Some(b"c1"),
            Some(valid.replace("1000", "-5").into_bytes()),
            "field `ts` is negative",
        ),
        (
            Some(b"c1"),
            Some(valid.replace("\"d1\"", "\"\"").into_bytes()),
            "field `device` is empty",
        ),
        (
            Some(b"c1"),
            Some(valid.replace("\"fr\"", "7").into_bytes()),
            "field `country`: expected a string",
        ),
        (
            Some(b"c1"),
            Some(valid.replace(",\"currency\":\"eur\"", "").into_bytes()),
            "field `currency` is missing",
        ),
        (
            Some(b"c2"),
            Some(valid.clone().into_bytes()),
            "does not match field `customer_id`",
        ),
        (
            None,
            Some(valid.clone().into_bytes()),
            "does not match field `customer_id`",
        ),
        (
            Some(&[0xc3, 0x28]),
            Some(valid.clone().into_bytes()),
            "does not match field `customer_id`",
        ),
        (
            Some(b"c9"),
            Some(good("r9", "c9").into_bytes()),
            "unknown customer c9",
        ),
        (Some(b"c1"), Some(vec![b'x'; 100_000]), "not JSON"),
    ];
    for (i, (key, value, _)) in cases.iter().enumerate() {
        driver
            .pipe_raw(topics::RECORDS, *key, value.as_deref(), i as i64)
            .expect("bad input never stops ingest");
        // A good record after every bad one still flows.
        driver
            .pipe_raw(
                topics::RECORDS,
                Some(b"c1"),
                Some(good(&format!("ok{i}"), "c1").as_bytes()),
                i as i64,
            )
            .unwrap();
    }
    let dlq = driver
        .output_topic(topics::DLQ, StringSerde, JsonSerde::<DeadLetter>::new())
        .read_records();
    assert_eq!(dlq.len(), cases.len(), "{dlq:#?}");
    let mut reasons: Vec<&str> = dlq.iter().map(|r| r.value.reason.as_str()).collect();
    for (_, _, expected) in &cases {
        let at = reasons
            .iter()
            .position(|r| r.contains(expected))
            .unwrap_or_else(|| panic!("no dead letter says {expected:?}: {reasons:?}"));
        reasons.remove(at);
    }
    for d in &dlq {
        assert_eq!(d.value.topic, topics::RECORDS);
        assert!(d.value.offset >= 0, "{:?}", d.value);
    }
    let enriched = driver
        .output_topic(topics::ENRICHED, StringSerde, JsonSerde::<Enriched>::new())
        .read_records();
    assert_eq!(
        enriched.len(),
        cases.len(),
        "every good record went through"
    );
    assert!(enriched
        .iter()
        .all(|e| e.value.record.country == "FR" && e.value.record.currency == "EUR"));
}
