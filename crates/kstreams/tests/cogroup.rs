//! `cogroup`: streams of different value types folded into one table, one of them
//! re-keyed (and so repartitioned) first, over four partitions; the table equals the fold
//! recomputed from the inputs.

mod common;

use common::Rng;
use kstreams::serde::{I64Serde, JsonSerde, StringSerde};
use kstreams::{Consumed, Grouped, Materialized, StreamsBuilder};
use kstreams_testkit::TestDriver;
use std::collections::BTreeMap;

#[test]
fn cogrouped_aggregate_equals_recomputation() {
    let builder = StreamsBuilder::new();
    let clicks = builder
        .stream("clicks", Consumed::with(StringSerde, StringSerde))
        .group_by_key(Grouped::with(StringSerde, StringSerde));
    // Purchases are keyed by order id; the customer is in the value ("customer:cents").
    let purchases = builder
        .stream("purchases", Consumed::with(StringSerde, StringSerde))
        .group_by(
            |_, v: &String| v.split(':').next().unwrap_or_default().to_string(),
            Grouped::with(StringSerde, StringSerde).with_name("by-customer"),
        );
    let refunds = builder
        .stream("refunds", Consumed::with(StringSerde, I64Serde))
        .group_by_key(Grouped::with(StringSerde, I64Serde));
    clicks
        .cogroup(|_, _: String, (c, s): (i64, i64)| (c + 1, s))
        .cogroup(&purchases, |_, v: String, (c, s): (i64, i64)| {
            let cents: i64 = v
                .split(':')
                .nth(1)
                .and_then(|x| x.parse().ok())
                .unwrap_or(0);
            (c, s + cents)
        })
        .cogroup(&refunds, |_, cents: i64, (c, s): (i64, i64)| (c, s - cents))
        .aggregate(
            || (0, 0),
            Materialized::named("activity").with_value_serde(JsonSerde::<(i64, i64)>::new()),
        );
    let topology = builder.build().unwrap();
    assert_eq!(
        topology.subtopology_count(),
        2,
        "purchases go through a repartition"
    );
    let driver = TestDriver::builder(topology)
        .default_partitions(4)
        .build()
        .unwrap();
    let (c, p, r) = (
        driver.input_topic("clicks", StringSerde, StringSerde),
        driver.input_topic("purchases", StringSerde, StringSerde),
        driver.input_topic("refunds", StringSerde, I64Serde),
    );
    let mut rng = Rng(42);
    let mut truth: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for i in 0..500 {
        let customer = format!("c{}", rng.below(7));
        let e = truth.entry(customer.clone()).or_insert((0, 0));
        match rng.below(3) {
            0 => {
                c.pipe_input(customer, "page".into()).unwrap();
                e.0 += 1;
            }
            1 => {
                let cents = rng.below(1000) as i64;
                p.pipe_input(format!("order-{i}"), format!("{customer}:{cents}"))
                    .unwrap();
                e.1 += cents;
            }
            _ => {
                let cents = rng.below(100) as i64;
                r.pipe_input(customer, cents).unwrap();
                e.1 -= cents;
            }
        }
    }
    let got: BTreeMap<String, (i64, i64)> = driver
        .key_value_store::<String, (i64, i64)>("activity")
        .unwrap()
        .all()
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(got, truth);
}
