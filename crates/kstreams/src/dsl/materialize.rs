//! Declaring the stores behind DSL tables and aggregations.

use super::ops::table_source::SupplierRef;
use super::Materialized;
use crate::error::{Field, TopologyError};
use crate::serde::SharedSerde;
use crate::state::{ChangelogFormat, Stores};
use crate::topology::graph::Graph;

/// The serdes of a DSL store: `Materialized`'s, else the fallbacks. Records a
/// `MissingSerde` error (reported by `build()`) when neither has one.
pub(crate) fn serdes<K: 'static, V: 'static>(
    g: &mut Graph,
    operation: &str,
    m: &Materialized<K, V>,
    key_fallback: Option<SharedSerde<K>>,
    value_fallback: Option<SharedSerde<V>>,
) -> Option<(SharedSerde<K>, SharedSerde<V>)> {
    let ks = m.key_serde.clone().or(key_fallback);
    let vs = m.value_serde.clone().or(value_fallback);
    match (ks, vs) {
        (Some(k), Some(v)) => Some((k, v)),
        (k, _) => {
            g.error(TopologyError::MissingSerde {
                operation: operation.to_string(),
                field: if k.is_none() {
                    Field::Key
                } else {
                    Field::Value
                },
            });
            None
        }
    }
}

/// Adds a timestamped store named `name` with these serdes, as the DSL keeps its tables.
pub(crate) fn add_store<MK: 'static, MV: 'static, K: 'static, V: 'static>(
    g: &mut Graph,
    name: &str,
    m: &Materialized<MK, MV>,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
) {
    add_store_logged_as(
        g,
        name,
        m,
        key_serde,
        value_serde,
        ChangelogFormat::Timestamped,
    );
}

/// [`add_store`] for a store whose changelog has another of Kafka's layouts (windows,
/// sessions).
pub(crate) fn add_store_logged_as<MK: 'static, MV: 'static, K: 'static, V: 'static>(
    g: &mut Graph,
    name: &str,
    m: &Materialized<MK, MV>,
    key_serde: SharedSerde<K>,
    value_serde: SharedSerde<V>,
    format: ChangelogFormat,
) {
    let mut builder = Stores::timestamped_key_value_store_builder(
        SupplierRef(m.supplier_or_default(name)),
        key_serde,
        value_serde,
    )
    .with_changelog_format(format);
    if !m.logging {
        builder = builder.with_logging_disabled();
    }
    if m.caching {
        builder = builder.with_caching_enabled();
    }
    if g.has_store(name) {
        g.error(TopologyError::DuplicateStore(name.to_string()));
    } else {
        g.add_store(builder.into_def());
    }
}
