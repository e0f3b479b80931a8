//! A country or a device this customer has never used: the set of known ones starts from
//! the profile and grows with every record.

use super::{alert, customer_store, raise, Detector};
use crate::generate::kinds;
use crate::model::{Alert, Enriched};
use kstreams::processor::{Processor, ProcessorContext, Record};
use kstreams::serde::JsonSerde;
use kstreams::state::KeyValueStore;
use kstreams::{KStream, StreamsBuilder};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

const STORE: &str = "known-places";

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Known {
    countries: BTreeSet<String>,
    devices: BTreeSet<String>,
}

/// See the module docs.
pub struct NewCountryDevice;

struct Check {
    store: Option<KeyValueStore<String, Known>>,
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
        let stored = store.get(key)?;
        let first = stored.is_none();
        let mut known = stored.unwrap_or_else(|| Known {
            countries: BTreeSet::from([e.customer.home_country.clone()]),
            devices: e.customer.devices.iter().cloned().collect(),
        });
        let new_country = !known.countries.contains(&e.record.country);
        let new_device = !known.devices.contains(&e.record.device);
        if new_country || new_device {
            let what = match (new_country, new_device) {
                (true, true) => format!(
                    "new country {} and device {}",
                    e.record.country, e.record.device
                ),
                (true, false) => format!("new country {}", e.record.country),
                _ => format!("new device {}", e.record.device),
            };
            raise(ctx, &r, alert(kinds::NEW_COUNTRY_DEVICE, e, what))?;
            known.countries.insert(e.record.country.clone());
            known.devices.insert(e.record.device.clone());
            store.put(key, &known)?;
        } else if first {
            // The profile's places, stored once: later records read them back.
            store.put(key, &known)?;
        }
        Ok(())
    }
}

impl Detector for NewCountryDevice {
    fn name(&self) -> &'static str {
        kinds::NEW_COUNTRY_DEVICE
    }

    fn build(
        &self,
        builder: &StreamsBuilder,
        records: KStream<String, Enriched>,
    ) -> KStream<String, Alert> {
        customer_store(builder, STORE, JsonSerde::<Known>::new());
        records.process_values(|| Check { store: None }, &[STORE])
    }
}
