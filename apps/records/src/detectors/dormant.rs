//! A dormant account suddenly active: the previous activity (the customer's last record,
//! or the profile's last activity for the first record seen) is more than `dormant_days`
//! of event time before this one.

use super::{alert, customer_store, raise, Detector};
use crate::generate::kinds;
use crate::model::{Alert, Enriched};
use kstreams::processor::{Processor, ProcessorContext, Record};
use kstreams::serde::I64Serde;
use kstreams::state::KeyValueStore;
use kstreams::{KStream, StreamsBuilder};

const STORE: &str = "last-seen";
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// See the module docs.
pub struct Dormant {
    dormant_days: i64,
}

impl Default for Dormant {
    fn default() -> Self {
        Dormant { dormant_days: 30 }
    }
}

struct Check {
    store: Option<KeyValueStore<String, i64>>,
    dormant_ms: i64,
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
        let e = &r.value;
        let last = store.get(key)?.unwrap_or(e.customer.last_active);
        let gap = e.record.ts - last;
        if gap > self.dormant_ms {
            raise(
                ctx,
                &r,
                alert(
                    kinds::DORMANT,
                    e,
                    format!("first activity in {} days", gap / DAY_MS),
                ),
            )?;
        }
        store.put(key, &last.max(e.record.ts))?;
        Ok(())
    }
}

impl Detector for Dormant {
    fn name(&self) -> &'static str {
        kinds::DORMANT
    }

    fn build(
        &self,
        builder: &StreamsBuilder,
        records: KStream<String, Enriched>,
    ) -> KStream<String, Alert> {
        customer_store(builder, STORE, I64Serde);
        let dormant_ms = self.dormant_days * DAY_MS;
        records.process_values(
            move || Check {
                store: None,
                dormant_ms,
            },
            &[STORE],
        )
    }
}
