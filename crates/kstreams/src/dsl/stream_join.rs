//! KStream-KStream windowed joins.

use super::ops::passthrough;
use super::ops::stream_stream_join::StreamJoinSide;
use super::{JoinWindows, KStream, StreamJoined};
use crate::error::{Field, TopologyError};
use crate::serde::BytesSerde;
use crate::state::Stores;
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
        g.add_store(
            Stores::timestamped_key_value_store_builder(
                Stores::persistent_key_value_store(this_store.clone()),
                BytesSerde,
                vs,
            )
            .into_def(),
        );
        g.add_store(
            Stores::timestamped_key_value_store_builder(
                Stores::persistent_key_value_store(other_store.clone()),
                BytesSerde,
                vos,
            )
            .into_def(),
        );
        let joiner = Arc::new(joiner);
        let stores = vec![this_store.clone(), other_store.clone()];
        let (j, k1, ts1, os1) = (
            joiner.clone(),
            ks.clone(),
            this_store.clone(),
            other_store.clone(),
        );
        let this_node = g.add(
            this_name,
            NodeKind::Processor,
            vec![left],
            stores.clone(),
            instantiate::processor(move || StreamJoinSide::<K, V, VO, VR> {
                this_store: ts1.clone(),
                other_store: os1.clone(),
                this: None,
                other: None,
                key_serde: k1.clone(),
                windows,
                is_left: true,
                joiner: {
                    let j = j.clone();
                    Arc::new(move |l: &V, r: &VO| j(l, r))
                },
                seq: 0,
                key_buf: Vec::new(),
                expired_before: i64::MIN,
            }),
        );
        let (j, k2) = (joiner, ks.clone());
        let other_node = g.add(
            other_name,
            NodeKind::Processor,
            vec![right],
            stores,
            instantiate::processor(move || StreamJoinSide::<K, VO, V, VR> {
                this_store: other_store.clone(),
                other_store: this_store.clone(),
                this: None,
                other: None,
                key_serde: k2.clone(),
                windows,
                is_left: false,
                // Flipped, so that both sides call it as joiner(left, right).
                joiner: {
                    let j = j.clone();
                    Arc::new(move |r: &VO, l: &V| j(l, r))
                },
                seq: 0,
                key_buf: Vec::new(),
                expired_before: i64::MIN,
            }),
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
