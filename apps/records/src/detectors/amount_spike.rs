//! An amount far above what this customer spends: above `factor` times the profile's
//! typical spend and, once the customer's running statistics have enough history, more
//! than `sigmas` standard deviations above the running mean.

use super::{alert, customer_store, raise, Detector};
use crate::generate::kinds;
use crate::model::{Alert, Enriched};
use kstreams::processor::{Processor, ProcessorContext, Record};
use kstreams::serde::JsonSerde;
use kstreams::state::KeyValueStore;
use kstreams::{KStream, StreamsBuilder};
use serde::{Deserialize, Serialize};

const STORE: &str = "spend-stats";

/// Running statistics of a customer's amounts (Welford).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Stats {
    n: u64,
    mean: f64,
    m2: f64,
}

impl Stats {
    fn add(&mut self, x: f64) {
        self.n += 1;
        let d = x - self.mean;
        self.mean += d / self.n as f64;
        self.m2 += d * (x - self.mean);
    }
    fn sd(&self) -> f64 {
        if self.n < 2 {
            0.0
        } else {
            (self.m2 / (self.n - 1) as f64).sqrt()
        }
    }
}

/// See the module docs.
pub struct AmountSpike {
    factor: f64,
    sigmas: f64,
    min_history: u64,
}

impl Default for AmountSpike {
    fn default() -> Self {
        AmountSpike {
            factor: 7.0,
            sigmas: 6.0,
            min_history: 10,
        }
    }
}

struct Check {
    store: Option<KeyValueStore<String, Stats>>,
    factor: f64,
    sigmas: f64,
    min_history: u64,
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
        let (Some(store), Some(key)) = (self.store.as_mut(), r.key.as_ref()) else {
            return Ok(());
        };
        let mut stats = store.get(key)?.unwrap_or_default();
        let e = &r.value;
        let amount = e.record.amount;
        // The profile's typical spend (from the history) is the base: one large ordinary
        // record early on must not raise the bar for the next real spike.
        let base = e.customer.typical_spend;
        let spike = amount > self.factor * base
            && (stats.n < self.min_history || amount > stats.mean + self.sigmas * stats.sd());
        if spike {
            let a = alert(
                kinds::AMOUNT_SPIKE,
                e,
                format!(
                    "amount {amount:.2} is {:.1}x the usual {base:.2}",
                    amount / base.max(0.01)
                ),
            );
            raise(ctx, &r, a)?;
        } else {
            // Spikes stay out of the statistics, so one does not hide the next.
            stats.add(amount);
            store.put(key, &stats)?;
        }
        Ok(())
    }
}

impl Detector for AmountSpike {
    fn name(&self) -> &'static str {
        kinds::AMOUNT_SPIKE
    }

    fn build(
        &self,
        builder: &StreamsBuilder,
        records: KStream<String, Enriched>,
    ) -> KStream<String, Alert> {
        customer_store(builder, STORE, JsonSerde::<Stats>::new());
        let (factor, sigmas, min_history) = (self.factor, self.sigmas, self.min_history);
        records.process_values(
            move || Check {
                store: None,
                factor,
                sigmas,
                min_history,
            },
            &[STORE],
        )
    }
}
