//! KTable-KTable foreign-key joins: a sequence of changes on both sides, input by input
//! (foreign key moving, right row updated and deleted, left row deleted), then an oracle
//! over random changes with tables of different partition counts.

mod common;

use common::Rng;
use kstreams::serde::{Nullable, StringSerde};
use kstreams::{Consumed, Materialized, Produced, StreamsBuilder};
use kstreams_testkit::TestDriver;
use std::collections::BTreeMap;

/// Order value: "customer:item".
fn customer_of(order: &str) -> String {
    order.split(':').next().unwrap_or_default().to_string()
}

fn item_of(order: &str) -> &str {
    order.split(':').nth(1).unwrap_or_default()
}

fn driver(left: bool, order_partitions: u32, customer_partitions: u32) -> TestDriver {
    let builder = StreamsBuilder::new();
    let orders = builder.table(
        "orders",
        Consumed::with(StringSerde, StringSerde),
        Materialized::named("orders-store"),
    );
    let customers = builder.table(
        "customers",
        Consumed::with(StringSerde, StringSerde),
        Materialized::named("customers-store"),
    );
    let result = Materialized::named("result").with_value_serde(StringSerde);
    let joined = if left {
        orders.left_join_foreign_key(
            &customers,
            |o: &String| customer_of(o),
            |o, c| format!("{}/{}", item_of(o), c.map_or("null", |c| c.as_str())),
            result,
        )
    } else {
        orders.join_foreign_key(
            &customers,
            |o: &String| customer_of(o),
            |o, c| format!("{}/{c}", item_of(o)),
            result,
        )
    };
    joined
        .to_stream()
        .to("out", Produced::with(StringSerde, Nullable(StringSerde)));
    TestDriver::builder(builder.build().unwrap())
        .partitions("orders", order_partitions)
        .partitions("customers", customer_partitions)
        .build()
        .unwrap()
}

/// (table, key, value or tombstone)
type Step = (&'static str, &'static str, Option<&'static str>);

const STEPS: [Step; 8] = [
    ("orders", "o1", Some("c1:apple")),
    ("customers", "c1", Some("Alice")),
    ("orders", "o2", Some("c1:pear")),
    ("customers", "c1", Some("Alicia")),
    ("orders", "o1", Some("c2:apple")), // the foreign key moves to a missing customer
    ("customers", "c2", Some("Bob")),
    ("customers", "c1", None),
    ("orders", "o2", None),
];

fn run(d: &TestDriver) -> Vec<Vec<(String, Option<String>)>> {
    let orders = d.input_topic("orders", StringSerde, Nullable(StringSerde));
    let customers = d.input_topic("customers", StringSerde, Nullable(StringSerde));
    let out = d.output_topic("out", StringSerde, Nullable(StringSerde));
    STEPS
        .iter()
        .map(|(table, k, v)| {
            let t = if *table == "orders" {
                &orders
            } else {
                &customers
            };
            t.pipe_input(k.to_string(), v.map(str::to_string)).unwrap();
            out.read_key_values()
                .into_iter()
                .map(|(k, v)| (k.unwrap(), v))
                .collect()
        })
        .collect()
}

fn rows(r: &[&[(&str, Option<&str>)]]) -> Vec<Vec<(String, Option<String>)>> {
    r.iter()
        .map(|row| {
            row.iter()
                .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
                .collect()
        })
        .collect()
}

#[test]
fn inner_foreign_key_join_sequence() {
    let d = driver(false, 3, 2);
    assert_eq!(
        run(&d),
        rows(&[
            &[],
            &[("o1", Some("apple/Alice"))],
            &[("o2", Some("pear/Alice"))],
            &[("o1", Some("apple/Alicia")), ("o2", Some("pear/Alicia"))],
            &[("o1", None)],
            &[("o1", Some("apple/Bob"))],
            &[("o2", None)],
            &[],
        ])
    );
}

#[test]
fn left_foreign_key_join_sequence() {
    let d = driver(true, 3, 2);
    assert_eq!(
        run(&d),
        rows(&[
            &[("o1", Some("apple/null"))],
            &[("o1", Some("apple/Alice"))],
            &[("o2", Some("pear/Alice"))],
            &[("o1", Some("apple/Alicia")), ("o2", Some("pear/Alicia"))],
            &[("o1", Some("apple/null"))],
            &[("o1", Some("apple/Bob"))],
            &[("o2", Some("pear/null"))],
            &[("o2", None)],
        ])
    );
}

#[test]
fn foreign_key_join_equals_recomputation() {
    for (seed, left) in (0..40).map(|s| (s, s % 2 == 0)) {
        let d = driver(left, 4, 3);
        let orders = d.input_topic("orders", StringSerde, Nullable(StringSerde));
        let customers = d.input_topic("customers", StringSerde, Nullable(StringSerde));
        let mut rng = Rng(seed);
        let mut o: BTreeMap<String, String> = BTreeMap::new();
        let mut c: BTreeMap<String, String> = BTreeMap::new();
        for i in 0..300 {
            if rng.below(2) == 0 {
                let k = format!("o{}", rng.below(20));
                if rng.below(6) == 0 {
                    orders.pipe_input(k.clone(), None).unwrap();
                    o.remove(&k);
                } else {
                    let v = format!("c{}:item{i}", rng.below(8));
                    orders.pipe_input(k.clone(), Some(v.clone())).unwrap();
                    o.insert(k, v);
                }
            } else {
                let k = format!("c{}", rng.below(8));
                if rng.below(4) == 0 {
                    customers.pipe_input(k.clone(), None).unwrap();
                    c.remove(&k);
                } else {
                    let v = format!("name{i}");
                    customers.pipe_input(k.clone(), Some(v.clone())).unwrap();
                    c.insert(k, v);
                }
            }
        }
        let expected: BTreeMap<String, String> = o
            .iter()
            .filter_map(|(k, v)| {
                let name = c.get(&customer_of(v));
                match (left, name) {
                    (_, Some(n)) => Some((k.clone(), format!("{}/{n}", item_of(v)))),
                    (true, None) => Some((k.clone(), format!("{}/null", item_of(v)))),
                    (false, None) => None,
                }
            })
            .collect();
        let got: BTreeMap<String, String> = d
            .key_value_store::<String, String>("result")
            .unwrap()
            .all()
            .unwrap()
            .into_iter()
            .collect();
        assert_eq!(got, expected, "seed {seed}, left {left}");
        // The emitted changes end in the same table.
        let mut last: BTreeMap<String, Option<String>> = BTreeMap::new();
        for (k, v) in d
            .output_topic("out", StringSerde, Nullable(StringSerde))
            .read_key_values()
        {
            last.insert(k.unwrap(), v);
        }
        let from_stream: BTreeMap<String, String> = last
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect();
        assert_eq!(from_stream, expected, "seed {seed}: output topic");
    }
}
