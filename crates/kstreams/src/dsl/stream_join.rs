//! KStream-KStream windowed joins.

use super::ops::passthrough;
use super::ops::stream_stream_join::{SideJoiner, StreamJoinSide};
use super::{JoinWindows, KStream, StreamJoined};
use crate::error::{Field, TopologyError};
use crate::serde::BytesSerde;
use crate::serde::SharedSerde;
use crate::state::{StoreDef, Stores};
use crate::topology::graph::NodeKind;
use crate::topology::instantiate;
use std::sync::Arc;

impl<K: Clone + 'static, V: Clone + 'static> KStream<K, V> {
    /// Inner join with another stream over a time window: every pair of records with the
    /// same key whose timestamps are within `windows` emits `joiner(this, other)`, with the
    /// larger timestamp, as soon as the second of the two arrives. Both sides are kept in
    /// changelogged stores for the window plus grace. Records with a null key, or later
    /// than the window plus grace, are dropped and counted.
    pub fn join_stream<VO, VR, F>(
        &self,
        other: &KStream<K, VO>,
        joiner: F,
        windows: JoinWindows,
        joined: StreamJoined<K, V, VO>,
    ) -> KStream<K, VR>
    where
        VO: Clone + 'static,
        VR: Clone + 'static,
        F: Fn(&V, &VO) -> VR + Send + Sync + 'static,
    {
        let key_serde = joined
            .key_serde
            .or_else(|| self.key_serde.clone())
            .or_else(|| other.key_serde.clone());
        let vs = joined.value_serde.or_else(|| self.value_serde.clone());
        let vos = joined
            .other_value_serde
            .or_else(|| other.value_serde.clone());
        let (Some(ks), Some(vs), Some(vos)) = (key_serde, vs, vos) else {
            self.graph.borrow_mut().error(TopologyError::MissingSerde {
                operation: "stream-stream join".into(),
                field: if self.key_serde.is_none() && other.key_serde.is_none() {
                    Field::Key
                } else {
                    Field::Value
                },
            });
            return self.derive(self.node, None, None, false);
        };
        let left = self.repartitioned_for_state(None, "KSTREAM-JOINTHIS-");
        let right = other.repartitioned_for_state(None, "KSTREAM-JOINOTHER-");
        let mut g = self.graph.borrow_mut();
        let this_name = g.next_name("KSTREAM-JOINTHIS-");
        let other_name = g.next_name("KSTREAM-JOINOTHER-");
        let (this_store, other_store) =
            (format!("{this_name}-store"), format!("{other_name}-store"));
        g.add_store(join_store(&this_store, vs));
        g.add_store(join_store(&other_store, vos));
        let joiner = Arc::new(joiner);
        let stores = vec![this_store.clone(), other_store.clone()];
        let left_joiner: SideJoiner<V, VO, VR> = {
            let j = joiner.clone();
            Arc::new(move |l: &V, r: &VO| j(l, r))
        };
        // Flipped, so that both sides call it as joiner(left, right).
        let right_joiner: SideJoiner<VO, V, VR> = Arc::new(move |r: &VO, l: &V| joiner(l, r));
        let this_node = g.add(
            this_name,
            NodeKind::Processor,
            vec![left],
            stores.clone(),
            instantiate::processor(StreamJoinSide::supplier(
                this_store.clone(),
                other_store.clone(),
                ks.clone(),
                windows,
                true,
                left_joiner,
            )),
        );
        let other_node = g.add(
            other_name,
            NodeKind::Processor,
            vec![right],
            stores,
            instantiate::processor(StreamJoinSide::supplier(
                other_store,
                this_store,
                ks.clone(),
                windows,
                false,
                right_joiner,
            )),
        );
        let merge_name = g.next_name("KSTREAM-MERGE-");
        let merge = g.add(
            merge_name,
            NodeKind::Processor,
            vec![this_node, other_node],
            vec![],
            instantiate::processor::<K, VR, K, VR, _, _>(|| passthrough::PassThrough),
        );
        g.copartition.push(vec![left, right]);
        drop(g);
        self.derive(merge, Some(ks), None, false)
    }
}

/// One side's store: every record of the window, keyed by key, time and sequence.
fn join_store<V: 'static>(name: &str, value_serde: SharedSerde<V>) -> StoreDef {
    Stores::timestamped_key_value_store_builder(
        Stores::persistent_key_value_store(name),
        BytesSerde,
        value_serde,
    )
    .into_def()
}
