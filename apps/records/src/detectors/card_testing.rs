//! Card testing: a stolen card tried with a few tiny amounts before it is used for real.
//! At least `threshold` records of at most `max_amount` from one customer within `within`
//! (event time) raise one alert; the next alert needs a fresh run of tiny amounts.
//!
//! Only tiny amounts touch the store, so the detector costs one comparison for most
//! records. The store keeps, per customer, the event times of the recent tiny ones.

use super::{alert, customer_store, raise, Detector};
use crate::generate::kinds;
use crate::model::{Alert, Enriched};
use kstreams::processor::{Processor, ProcessorContext, Record};
use kstreams::serde::JsonSerde;
use kstreams::state::KeyValueStore;
use kstreams::{KStream, StreamsBuilder};
use std::time::Duration;

const STORE: &str = "tiny-amounts";

/// See the module docs.
#[derive(Debug, Clone, Copy)]
pub struct CardTesting {
    max_amount: f64,
    threshold: usize,
    within: Duration,
}

impl Default for CardTesting {
    fn default() -> Self {
        // A test charge is typically below one unit of currency; three of them within ten
        // minutes is the usual card-testing pattern.
        CardTesting {
            max_amount: 1.0,
            threshold: 3,
            within: Duration::from_secs(600),
        }
    }
}

struct Check {
    cfg: CardTesting,
    store: Option<KeyValueStore<String, Vec<i64>>>,
}

impl Processor<String, Enriched, String, Alert> for Check {
    fn init(&mut self, ctx: &mut ProcessorContext<'_, String, Alert>) -> kstreams::Result<()> {
        self.store = Some(ctx.key_value_store(STORE)?);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, String, Alert>,
        r: Record<String, Enriched>,
    ) -> kstreams::Result<()> {
        let e = &r.value;
        if e.record.amount > self.cfg.max_amount {
            return Ok(());
        }
        let (Some(store), Some(key)) = (self.store.as_mut(), r.key.as_ref()) else {
            return Ok(());
        };
        let within = i64::try_from(self.cfg.within.as_millis()).unwrap_or(i64::MAX);
        let ts = e.record.ts;
        let mut recent = store.get(key)?.unwrap_or_default();
        recent.retain(|t| ts.saturating_sub(*t) < within);
        recent.push(ts);
        if recent.len() >= self.cfg.threshold {
            let n = recent.len();
            raise(
                ctx,
                &r,
                alert(
                    kinds::CARD_TESTING,
                    e,
                    format!(
                        "{n} amounts of at most {:.2} within {within} ms",
                        self.cfg.max_amount
                    ),
                ),
            )?;
            // This run is reported: the next alert needs a new run of tiny amounts.
            store.delete(key)?;
        } else {
            store.put(key, &recent)?;
        }
        Ok(())
    }
}

impl Detector for CardTesting {
    fn name(&self) -> &'static str {
        kinds::CARD_TESTING
    }

    fn build(
        &self,
        builder: &StreamsBuilder,
        records: KStream<String, Enriched>,
    ) -> KStream<String, Alert> {
        customer_store(builder, STORE, JsonSerde::<Vec<i64>>::new());
        let cfg = *self;
        records.process_values(move || Check { cfg, store: None }, &[STORE])
    }
}
