//! `GlobalKTable`: a table every instance holds in full, and the stream joins against it.

use super::ops::stream_global_join::{GlobalJoiner, KeySelector, StreamGlobalJoin};
use super::{Consumed, KStream, Materialized, StreamsBuilder};
use crate::error::TopologyError;
use crate::state::Stores;
use crate::topology::global::{apply_fn, GlobalDef};
use crate::topology::graph::NodeKind;
use crate::topology::instantiate;
use std::marker::PhantomData;
use std::sync::Arc;

/// A table read in full by every instance, from all partitions of its topic, before any
/// task processes a record, and kept up to date while the application runs. Streams join
/// against it by any key computed from the record, without co-partitioning or
/// repartitioning: the reference-data side of enrichment.
///
/// The topic is the store's changelog: no changelog topic is created, and the store is
/// rebuilt from the topic when an instance starts (in memory unless `Materialized` names
/// another engine).
pub struct GlobalKTable<K, V> {
    pub(crate) store: String,
    _types: PhantomData<fn() -> (K, V)>,
}

impl<K, V> Clone for GlobalKTable<K, V> {
    fn clone(&self) -> Self {
        GlobalKTable {
            store: self.store.clone(),
            _types: PhantomData,
        }
    }
}

impl<K, V> GlobalKTable<K, V> {
    /// The store holding the table, for queries.
    pub fn queryable_store_name(&self) -> &str {
        &self.store
    }
}

impl StreamsBuilder {
    /// A global table of `topic`: every instance reads all of it (see [`GlobalKTable`]).
    ///
    /// ```
    /// use kstreams::serde::StringSerde;
    /// use kstreams::{Consumed, Materialized, Produced, StreamsBuilder};
    ///
    /// let builder = StreamsBuilder::new();
    /// let countries = builder.global_table(
    ///     "countries",
    ///     Consumed::with(StringSerde, StringSerde),
    ///     Materialized::named("countries-store"),
    /// );
    /// builder
    ///     .stream("orders", Consumed::with(StringSerde, StringSerde))
    ///     // order value "<country code>:<amount>"; join on the country code
    ///     .join_global(
    ///         &countries,
    ///         |_, order: &String| order.split(':').next().unwrap_or_default().to_string(),
    ///         |order, country| format!("{order} in {country}"),
    ///     )
    ///     .to("orders-with-country", Produced::with(StringSerde, StringSerde));
    /// builder.build().unwrap();
    /// ```
    pub fn global_table<K: Clone + 'static, V: Clone + 'static>(
        &self,
        topic: impl Into<String>,
        consumed: Consumed<K, V>,
        materialized: Materialized<K, V>,
    ) -> GlobalKTable<K, V> {
        let topic = topic.into();
        let mut g = self.graph.borrow_mut();
        let store = materialized
            .name
            .clone()
            .unwrap_or_else(|| g.next_name(&format!("{topic}-STATE-STORE-")));
        let ks = materialized
            .key_serde
            .clone()
            .unwrap_or(consumed.key_serde.clone());
        let vs = materialized
            .value_serde
            .clone()
            .unwrap_or(consumed.value_serde.clone());
        let supplier = match &materialized.supplier {
            Some(s) => s.clone(),
            None => Arc::new(Stores::in_memory_key_value_store(&store)),
        };
        if g.has_store(&store) || g.globals.iter().any(|d| d.store.name == store) {
            g.error(TopologyError::DuplicateStore(store.clone()));
        }
        let def = Stores::timestamped_key_value_store_builder(
            super::ops::table_source::SupplierRef(supplier),
            ks.clone(),
            vs.clone(),
        )
        .with_logging_disabled()
        .into_def();
        let names = (
            g.next_name("KSTREAM-SOURCE-"),
            g.next_name("KTABLE-SOURCE-"),
        );
        g.globals.push(GlobalDef {
            names,
            topic,
            store: def,
            apply: apply_fn(ks, vs),
        });
        GlobalKTable {
            store,
            _types: PhantomData,
        }
    }
}

impl<K: Clone + 'static, V: Clone + 'static> KStream<K, V> {
    /// Inner join with a global table: each record looks up `key_selector(key, value)` in
    /// the table and, when a row exists, emits `joiner(value, row)`; otherwise nothing.
    pub fn join_global<GK, GV, VR, S, F>(
        &self,
        table: &GlobalKTable<GK, GV>,
        key_selector: S,
        joiner: F,
    ) -> KStream<K, VR>
    where
        GK: 'static,
        GV: 'static,
        VR: Clone + 'static,
        S: Fn(&K, &V) -> GK + Send + Sync + 'static,
        F: Fn(&V, &GV) -> VR + Send + Sync + 'static,
    {
        let joiner: GlobalJoiner<V, GV, VR> = Arc::new(move |v, g| g.map(|g| joiner(v, g)));
        self.global_join(table, Arc::new(key_selector), joiner)
    }

    /// Left join with a global table: as [`join_global`](Self::join_global), and a record
    /// without a row emits `joiner(value, None)`.
    pub fn left_join_global<GK, GV, VR, S, F>(
        &self,
        table: &GlobalKTable<GK, GV>,
        key_selector: S,
        joiner: F,
    ) -> KStream<K, VR>
    where
        GK: 'static,
        GV: 'static,
        VR: Clone + 'static,
        S: Fn(&K, &V) -> GK + Send + Sync + 'static,
        F: Fn(&V, Option<&GV>) -> VR + Send + Sync + 'static,
    {
        let joiner: GlobalJoiner<V, GV, VR> = Arc::new(move |v, g| Some(joiner(v, g)));
        self.global_join(table, Arc::new(key_selector), joiner)
    }

    fn global_join<GK: 'static, GV: 'static, VR: Clone + 'static>(
        &self,
        table: &GlobalKTable<GK, GV>,
        key_selector: KeySelector<K, V, GK>,
        joiner: GlobalJoiner<V, GV, VR>,
    ) -> KStream<K, VR> {
        let store = table.store.clone();
        let mut g = self.graph.borrow_mut();
        let name = g.next_name("KSTREAM-JOIN-");
        let node = g.add(
            name,
            NodeKind::Processor,
            vec![self.node],
            vec![],
            instantiate::processor(move || StreamGlobalJoin {
                store_name: store.clone(),
                store: None,
                key_selector: key_selector.clone(),
                joiner: joiner.clone(),
            }),
        );
        drop(g);
        // The key is unchanged: no repartition needed downstream.
        self.derive(
            node,
            self.key_serde.clone(),
            None,
            self.repartition_required,
        )
    }
}
