//! The table node of `StreamsBuilder::table` and `KStream::to_table`: upsert or delete,
//! forward the change.

use crate::dsl::getter::GetterSupplier;
use crate::dsl::{materialize, KTable, Materialized};
use crate::error::Result;
use crate::processor::{Change, Processor, ProcessorContext, Record};
use crate::state::TimestampedKeyValueStore;
use crate::topology::graph::{Graph, NodeId, NodeKind};
use crate::topology::instantiate;
use std::cell::RefCell;
use std::rc::Rc;

pub(crate) struct TableSource<K, V, VIn> {
    store_name: String,
    store: Option<TimestampedKeyValueStore<K, V>>,
    convert: fn(VIn) -> Option<V>,
}

impl<K, V, VIn> Processor<K, VIn, K, Change<V>> for TableSource<K, V, VIn>
where
    K: Clone + 'static,
    V: Clone + 'static,
    VIn: 'static,
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<V>>) -> Result<()> {
        self.store = Some(ctx.timestamped_key_value_store(&self.store_name)?);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<V>>,
        r: Record<K, VIn>,
    ) -> Result<()> {
        let (Some(store), Some(key)) = (self.store.as_mut(), r.key) else {
            ctx.record_dropped("null key: a table has no null keys");
            return Ok(());
        };
        let old = store.get(&key)?.map(|v| v.value);
        let new = (self.convert)(r.value);
        match &new {
            Some(v) => store.put(&key, v, r.timestamp)?,
            // A tombstone for an absent key changes nothing, so it forwards nothing (as in
            // the join tables of the Kafka documentation).
            None if old.is_none() => return Ok(()),
            None => {
                store.delete(&key)?;
            }
        }
        ctx.forward(Record {
            key: Some(key),
            value: Change { new, old },
            timestamp: r.timestamp,
            headers: r.headers,
        })
    }
}

/// Adds a materialized table node under `parent`.
pub(crate) fn add<K, VIn, V>(
    graph: &Rc<RefCell<Graph>>,
    parent: NodeId,
    prefix: &str,
    materialized: Materialized<K, V>,
    convert: fn(VIn) -> Option<V>,
) -> KTable<K, V>
where
    K: Clone + 'static,
    V: Clone + 'static,
    VIn: 'static,
{
    let mut g = graph.borrow_mut();
    let name = g.next_name(prefix);
    let store = materialized
        .name
        .clone()
        .unwrap_or_else(|| g.next_name("KTABLE-SOURCE-STATE-STORE-"));
    let Some((ks, vs)) =
        materialize::serdes(&mut g, &format!("table {name}"), &materialized, None, None)
    else {
        drop(g);
        return KTable::detached(graph.clone(), parent, store);
    };
    materialize::add_store(&mut g, &store, &materialized, ks.clone(), vs.clone());
    let store_name = store.clone();
    let node = g.add(
        name,
        NodeKind::Processor,
        vec![parent],
        vec![store.clone()],
        instantiate::processor(move || TableSource::<K, V, VIn> {
            store_name: store_name.clone(),
            store: None,
            convert,
        }),
    );
    drop(g);
    KTable {
        graph: graph.clone(),
        node,
        key_serde: Some(ks),
        value_serde: Some(vs),
        getter: GetterSupplier::store(store.clone()),
        store: Some(store),
    }
}

/// Lets a shared supplier be handed to the store builder.
pub(crate) struct SupplierRef(
    pub(crate) std::sync::Arc<dyn crate::state::KeyValueBytesStoreSupplier>,
);

impl crate::state::KeyValueBytesStoreSupplier for SupplierRef {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn get(
        &self,
        init: &crate::state::StoreInit<'_>,
    ) -> Result<Box<dyn crate::state::KeyValueBytesStore>, crate::error::StoreError> {
        self.0.get(init)
    }
    fn persistent(&self) -> bool {
        self.0.persistent()
    }
}
