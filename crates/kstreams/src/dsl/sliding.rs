//! Sliding-window aggregation behind `windowed_by_sliding`.

use super::ops::sliding_aggregate::SlidingAggregate;
use super::suppress::EmitStrategy;
use super::windowed_stream::{windowed_aggregation, WindowedAggregation, WindowedFold};
use super::windows::{SlidingWindows, StartFirstSerde, Windowed, WindowedSerde};
use super::{KGroupedStream, KTable};
use crate::error::{Field, TopologyError};
use crate::serde::BytesSerde;
use crate::state::Stores;
use crate::topology::instantiate;
use std::sync::Arc;

/// Kafka Streams' default retention of window stores: one day.
const DEFAULT_RETENTION_MS: i64 = 24 * 60 * 60 * 1000;

/// Adds a sliding-window aggregation with `fold(key, value, aggregate)`. The grouped
/// stream's value serde is required: the records of the last `2 × difference + grace` are
/// kept (in `<store>-records`, changelogged) to recompute windows from.
pub(crate) fn fold<K, V, VA, F>(
    grouped: &KGroupedStream<K, V>,
    w: SlidingWindows,
    emit: EmitStrategy,
    spec: WindowedFold<'_, K, VA>,
    fold: F,
) -> KTable<Windowed<K>, VA>
where
    K: Clone + 'static,
    V: Clone + 'static,
    VA: Clone + 'static,
    F: Fn(&K, V, Option<VA>) -> VA + Send + Sync + 'static,
{
    let d = w.difference_ms;
    let retention_ms = spec
        .materialized
        .retention_ms
        .unwrap_or(DEFAULT_RETENTION_MS)
        .max(d.saturating_add(w.grace_ms));
    let graph = grouped.graph();
    let (Some(input_serde), Some(ks)) = (grouped.value_serde(), grouped.key_serde()) else {
        graph.borrow_mut().error(TopologyError::MissingSerde {
            operation: "sliding-window aggregation (it keeps the input records)".into(),
            field: if grouped.key_serde().is_none() {
                Field::Key
            } else {
                Field::Value
            },
        });
        return KTable::detached(graph, grouped.node(), String::new());
    };
    let logged = spec.materialized.logging;
    let fold = Arc::new(fold);
    windowed_aggregation(
        grouped,
        WindowedAggregation {
            prefix: spec.prefix,
            materialized: spec.materialized,
            default_value_serde: spec.default_value_serde,
            store_keys: Arc::new(move |ks| {
                Arc::new(StartFirstSerde {
                    inner: ks,
                    size_ms: d,
                })
            }),
            table_keys: Arc::new(move |ks| Arc::new(WindowedSerde::shared(ks, d))),
            // A window [s, s + d] (inclusive) is final once stream time minus grace has
            // passed its end.
            close_after_ms: w.grace_ms.saturating_add(1),
            emit,
            emits_final_itself: false,
            changelog: crate::state::ChangelogFormat::Window,
        },
        move |store_name, g| {
            let records_name = format!("{store_name}-records");
            let mut records = Stores::timestamped_key_value_store_builder(
                Stores::persistent_key_value_store(&records_name),
                BytesSerde,
                input_serde,
            );
            if !logged {
                records = records.with_logging_disabled();
            }
            g.add_store(records.into_def());
            (
                vec![records_name.clone()],
                instantiate::processor(move || SlidingAggregate {
                    store_name: store_name.clone(),
                    records_name: records_name.clone(),
                    store: None,
                    records: None,
                    key_serde: ks.clone(),
                    windows: w,
                    retention_ms,
                    fold: fold.clone(),
                    seq: 0,
                    key_buf: Vec::new(),
                    window_expiry: Default::default(),
                    record_expiry: Default::default(),
                    observed: Default::default(),
                }),
            )
        },
    )
}
