//! KStream-KStream windowed joins: inner, left and outer.

use super::ops::passthrough;
use super::ops::stream_stream_join::{SideJoiner, SideSpec, StreamJoinSide};
use super::{JoinWindows, KStream, StreamJoined};
use crate::error::{Field, TopologyError};
use crate::serde::{BytesSerde, SharedSerde};
use crate::state::{StoreDef, Stores};
use crate::topology::graph::NodeKind;
use crate::topology::instantiate;
use std::sync::Arc;

/// Which lone records a stream-stream join emits.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Inner,
    Left,
    Outer,
}

/// The joiner of every kind, as `(left, right)` with either side possibly missing.
type FullJoiner<V, VO, VR> = Arc<dyn Fn(Option<&V>, Option<&VO>) -> Option<VR> + Send + Sync>;

impl<K: Clone + 'static, V: Clone + 'static> KStream<K, V> {
    /// Inner join with another stream over a time window: every pair of records with the
    /// same key whose timestamps are within `windows` emits `joiner(this, other)`, with the
    /// larger timestamp, as soon as the second of the two arrives. Both sides are kept in
    /// changelogged stores for the window plus grace. Records with a null key, or later
    /// than the window plus grace, are dropped and counted.
    ///
    /// ```
    /// use kstreams::dsl::{JoinWindows, StreamJoined};
    /// use kstreams::serde::StringSerde;
    /// use kstreams::{Consumed, Produced, StreamsBuilder};
    /// use std::time::Duration;
    ///
    /// let builder = StreamsBuilder::new();
    /// let views = builder.stream("ad-views", Consumed::with(StringSerde, StringSerde));
    /// let clicks = builder.stream("ad-clicks", Consumed::with(StringSerde, StringSerde));
    /// views
    ///     .join_stream(
    ///         &clicks,
    ///         |view, click| format!("{view} -> {click}"),
    ///         JoinWindows::of_time_difference_with_no_grace(Duration::from_secs(60)),
    ///         StreamJoined::inherit(),
    ///     )
    ///     .to("clicked-views", Produced::with(StringSerde, StringSerde));
    /// builder.build().unwrap();
    /// ```
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
        let full: FullJoiner<V, VO, VR> = Arc::new(move |l, r| l.zip(r).map(|(l, r)| joiner(l, r)));
        self.stream_join(other, full, windows, joined, Kind::Inner)
    }

    /// Left join over a time window: as [`join_stream`](Self::join_stream), and a record of
    /// this stream that found no partner within the window is emitted as
    /// `joiner(this, None)` once the window and grace have passed (not at once, so that a
    /// late partner never produces a spurious `None` result first, as in Kafka 3.1+).
    pub fn left_join_stream<VO, VR, F>(
        &self,
        other: &KStream<K, VO>,
        joiner: F,
        windows: JoinWindows,
        joined: StreamJoined<K, V, VO>,
    ) -> KStream<K, VR>
    where
        VO: Clone + 'static,
        VR: Clone + 'static,
        F: Fn(&V, Option<&VO>) -> VR + Send + Sync + 'static,
    {
        let full: FullJoiner<V, VO, VR> = Arc::new(move |l, r| l.map(|l| joiner(l, r)));
        self.stream_join(other, full, windows, joined, Kind::Left)
    }

    /// Outer join over a time window: as the left join, and records of either side that
    /// found no partner are emitted with `None` for the other once their window and grace
    /// have passed.
    pub fn outer_join_stream<VO, VR, F>(
        &self,
        other: &KStream<K, VO>,
        joiner: F,
        windows: JoinWindows,
        joined: StreamJoined<K, V, VO>,
    ) -> KStream<K, VR>
    where
        VO: Clone + 'static,
        VR: Clone + 'static,
        F: Fn(Option<&V>, Option<&VO>) -> VR + Send + Sync + 'static,
    {
        let full: FullJoiner<V, VO, VR> = Arc::new(move |l, r| Some(joiner(l, r)));
        self.stream_join(other, full, windows, joined, Kind::Outer)
    }

    fn stream_join<VO, VR>(
        &self,
        other: &KStream<K, VO>,
        joiner: FullJoiner<V, VO, VR>,
        windows: JoinWindows,
        joined: StreamJoined<K, V, VO>,
        kind: Kind,
    ) -> KStream<K, VR>
    where
        VO: Clone + 'static,
        VR: Clone + 'static,
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
        g.add_store(join_store(&this_store, vs.clone()));
        g.add_store(join_store(&other_store, vos.clone()));
        let mut stores = vec![this_store.clone(), other_store.clone()];
        let parked_store = (kind != Kind::Inner).then(|| {
            let name = format!("{}-store", g.next_name("KSTREAM-OUTERSHARED-"));
            g.add_store(join_store(&name, Arc::new(BytesSerde)));
            stores.push(name.clone());
            name
        });
        let left_joiner: SideJoiner<V, VO, VR> = joiner.clone();
        // Flipped, so that both sides call it as joiner(left, right).
        let right_joiner: SideJoiner<VO, V, VR> = Arc::new(move |r, l| joiner(l, r));
        let this_node = g.add(
            this_name,
            NodeKind::Processor,
            vec![left],
            stores.clone(),
            instantiate::processor(StreamJoinSide::supplier(SideSpec {
                this_store: this_store.clone(),
                other_store: other_store.clone(),
                parked_store: parked_store.clone(),
                key_serde: ks.clone(),
                this_serde: vs.clone(),
                other_serde: vos.clone(),
                windows,
                is_left: true,
                emits_lone: kind != Kind::Inner,
                joiner: left_joiner,
            })),
        );
        let other_node = g.add(
            other_name,
            NodeKind::Processor,
            vec![right],
            stores,
            instantiate::processor(StreamJoinSide::supplier(SideSpec {
                this_store: other_store,
                other_store: this_store,
                parked_store,
                key_serde: ks.clone(),
                this_serde: vos,
                other_serde: vs,
                windows,
                is_left: false,
                emits_lone: kind == Kind::Outer,
                joiner: right_joiner,
            })),
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

/// A join store: records keyed by key, time and sequence (or the shared store of records
/// waiting for a partner, keyed by time first).
fn join_store<V: 'static>(name: &str, value_serde: SharedSerde<V>) -> StoreDef {
    Stores::timestamped_key_value_store_builder(
        Stores::persistent_key_value_store(name),
        BytesSerde,
        value_serde,
    )
    .into_def()
}
