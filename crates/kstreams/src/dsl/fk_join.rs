//! KTable-KTable foreign-key joins.

use super::getter::GetterSupplier;
use super::ops::fk_join::{
    FkJoiner, ForeignChange, ForeignKey, LeftDelete, Resolve, Response, ResponseSerde, Subscribe,
    Subscription, SubscriptionSerde, SubscriptionStore,
};
use super::ops::passthrough;
use super::repartition::through;
use super::{materialize, KTable, Materialized};
use crate::error::{Field, TopologyError};
use crate::processor::Change;
use crate::serde::{BytesSerde, SharedSerde};
use crate::state::Stores;
use crate::topology::graph::{NodeKind, RepartitionDef, TopicName};
use crate::topology::instantiate;
use std::sync::Arc;

impl<K: Clone + 'static, V: Clone + 'static> KTable<K, V> {
    /// Joins each row with the row of `other` whose key is `foreign_key(value)`: many rows
    /// of this table may point at one row of `other` (orders at their customer). The
    /// result is keyed like this table and updates when either side changes. Inner join:
    /// a row without a match has no result.
    ///
    /// The tables need not be co-partitioned: subscriptions travel to `other`'s
    /// partitions through `<app>-KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-<n>-topic`, and
    /// answers back through `...-SUBSCRIPTION-RESPONSE-<n>-topic`. An answer for a value
    /// the row no longer holds is discarded, so results never go back in time.
    ///
    /// ```
    /// use kstreams::serde::StringSerde;
    /// use kstreams::{Consumed, Materialized, StreamsBuilder};
    ///
    /// let builder = StreamsBuilder::new();
    /// // order id -> "customer id:item"; customer id -> name
    /// let orders = builder.table("orders", Consumed::with(StringSerde, StringSerde), Materialized::default());
    /// let customers = builder.table("customers", Consumed::with(StringSerde, StringSerde), Materialized::default());
    /// orders.join_foreign_key(
    ///     &customers,
    ///     |order: &String| order.split(':').next().unwrap_or_default().to_string(),
    ///     |order, name| format!("{order} for {name}"),
    ///     Materialized::named("orders-with-customer").with_value_serde(StringSerde),
    /// );
    /// let topology = builder.build().unwrap();
    /// assert_eq!(topology.subtopology_count(), 2);
    /// ```
    pub fn join_foreign_key<KO, VO, VR, FK, F>(
        &self,
        other: &KTable<KO, VO>,
        foreign_key: FK,
        joiner: F,
        materialized: Materialized<K, VR>,
    ) -> KTable<K, VR>
    where
        KO: Clone + 'static,
        VO: Clone + 'static,
        VR: Clone + 'static,
        FK: Fn(&V) -> KO + Send + Sync + 'static,
        F: Fn(&V, &VO) -> VR + Send + Sync + 'static,
    {
        let joiner: FkJoiner<V, VO, VR> = Arc::new(move |v, o| o.map(|o| joiner(v, o)));
        self.fk_join(other, Arc::new(foreign_key), joiner, materialized)
    }

    /// Left foreign-key join: as [`join_foreign_key`](Self::join_foreign_key), and a row
    /// whose foreign key matches nothing gets `joiner(value, None)`.
    pub fn left_join_foreign_key<KO, VO, VR, FK, F>(
        &self,
        other: &KTable<KO, VO>,
        foreign_key: FK,
        joiner: F,
        materialized: Materialized<K, VR>,
    ) -> KTable<K, VR>
    where
        KO: Clone + 'static,
        VO: Clone + 'static,
        VR: Clone + 'static,
        FK: Fn(&V) -> KO + Send + Sync + 'static,
        F: Fn(&V, Option<&VO>) -> VR + Send + Sync + 'static,
    {
        let joiner: FkJoiner<V, VO, VR> = Arc::new(move |v, o| Some(joiner(v, o)));
        self.fk_join(other, Arc::new(foreign_key), joiner, materialized)
    }

    fn fk_join<KO, VO, VR>(
        &self,
        other: &KTable<KO, VO>,
        fk: ForeignKey<V, KO>,
        joiner: FkJoiner<V, VO, VR>,
        materialized: Materialized<K, VR>,
    ) -> KTable<K, VR>
    where
        KO: Clone + 'static,
        VO: Clone + 'static,
        VR: Clone + 'static,
    {
        let mut g = self.graph.borrow_mut();
        let (Some(ks), Some(vs), Some(fks), Some(vos)) = (
            self.key_serde.clone(),
            self.value_serde.clone(),
            other.key_serde.clone(),
            other.value_serde.clone(),
        ) else {
            g.error(TopologyError::MissingSerde {
                operation: "foreign-key join (both tables need key and value serdes)".into(),
                field: if self.key_serde.is_none() || other.key_serde.is_none() {
                    Field::Key
                } else {
                    Field::Value
                },
            });
            drop(g);
            return KTable::detached(self.graph.clone(), self.node, String::new());
        };
        let result = materialized
            .name
            .clone()
            .unwrap_or_else(|| g.next_name("KTABLE-FK-JOIN-OUTPUT-STATE-STORE-"));
        let Some((_, rvs)) = materialize::serdes(
            &mut g,
            "foreign-key join result",
            &materialized,
            Some(ks.clone()),
            None,
        ) else {
            drop(g);
            return KTable::detached(self.graph.clone(), self.node, result);
        };
        materialize::add_store(&mut g, &result, &materialized, ks.clone(), rvs.clone());

        // 1. Left changes become subscriptions, to the foreign key's partition.
        let sub_topic = TopicName::internal(format!(
            "{}-topic",
            g.next_name("KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-")
        ));
        let (f, v2) = (fk, vs.clone());
        let fks2 = fks.clone();
        let subscribe = g.next_name("KTABLE-FK-JOIN-SUBSCRIPTION-REGISTRATION-");
        let subscribe = g.add(
            subscribe,
            NodeKind::Processor,
            vec![self.node],
            vec![],
            instantiate::processor::<K, Change<V>, KO, Subscription<K>, _, _>(move || Subscribe {
                fk: f.clone(),
                value_serde: v2.clone(),
                fk_serde: fks2.clone(),
            }),
        );
        let sub_serde: SharedSerde<Subscription<K>> = Arc::new(SubscriptionSerde(ks.clone()));
        let sub_source = through(
            &mut g,
            "KTABLE-",
            sub_topic.clone(),
            vec![subscribe],
            (fks.clone(), sub_serde),
            None,
        );

        // 2. and 3. In the right table's task: the subscription store answers
        // subscriptions and right-side changes.
        let store = g.next_name("KTABLE-FK-JOIN-SUBSCRIPTION-STATE-STORE-");
        g.add_store(
            Stores::timestamped_key_value_store_builder(
                Stores::persistent_key_value_store(&store),
                BytesSerde,
                BytesSerde,
            )
            .into_def(),
        );
        let mut answer_stores = vec![store.clone()];
        answer_stores.extend(other.getter.stores.iter().cloned());
        let (st, fks3, ks3, right) = (store.clone(), fks.clone(), ks.clone(), other.getter.clone());
        let answer = g.next_name("KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-");
        let answer = g.add(
            answer,
            NodeKind::Processor,
            vec![sub_source],
            answer_stores,
            instantiate::processor(move || SubscriptionStore::<K, KO, VO> {
                store_name: st.clone(),
                store: None,
                fk_serde: fks3.clone(),
                pk_serde: ks3.clone(),
                right: right.clone(),
                getter: None,
            }),
        );
        let (st, fks4, ks4) = (store.clone(), fks.clone(), ks.clone());
        let change = g.next_name("KTABLE-FK-JOIN-SUBSCRIPTION-PROCESSOR-");
        let change = g.add(
            change,
            NodeKind::Processor,
            vec![other.node],
            vec![store],
            instantiate::processor::<KO, Change<VO>, K, Response<VO>, _, _>(move || {
                ForeignChange {
                    store_name: st.clone(),
                    store: None,
                    fk_serde: fks4.clone(),
                    pk_serde: ks4.clone(),
                }
            }),
        );
        let resp_topic = TopicName::internal(format!(
            "{}-topic",
            g.next_name("KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-")
        ));
        let resp_serde: SharedSerde<Response<VO>> = Arc::new(ResponseSerde(vos));
        let resp_source = through(
            &mut g,
            "KTABLE-",
            resp_topic.clone(),
            vec![answer, change],
            (ks.clone(), resp_serde),
            None,
        );

        // 4. Back in this table's task: resolve answers against the current row.
        let mut resolve_stores = self.getter.stores.clone();
        resolve_stores.push(result.clone());
        let (left, rn) = (self.getter.clone(), result.clone());
        let resolve = g.next_name("KTABLE-FK-JOIN-SUBSCRIPTION-RESPONSE-RESOLVER-PROCESSOR-");
        let resolve = g.add(
            resolve,
            NodeKind::Processor,
            vec![resp_source],
            resolve_stores,
            instantiate::processor(move || Resolve {
                left: left.clone(),
                getter: None,
                value_serde: vs.clone(),
                result_name: rn.clone(),
                result: None,
                joiner: joiner.clone(),
            }),
        );
        let rn = result.clone();
        let delete = g.next_name("KTABLE-FK-JOIN-LEFT-DELETE-");
        let delete = g.add(
            delete,
            NodeKind::Processor,
            vec![self.node],
            vec![result.clone()],
            instantiate::processor::<K, Change<V>, K, Change<VR>, _, _>(move || LeftDelete {
                result_name: rn.clone(),
                result: None,
            }),
        );
        let merge = g.next_name("KTABLE-MERGE-");
        let merge = g.add(
            merge,
            NodeKind::Processor,
            vec![resolve, delete],
            vec![],
            instantiate::processor::<K, Change<VR>, K, Change<VR>, _, _>(|| {
                passthrough::PassThrough
            }),
        );
        // The subscription topic is partitioned like the right table, the response topic
        // like this one, and each is read in that table's task.
        let (right_topic, left_topic) = (
            g.source_topic_above(other.node),
            g.source_topic_above(self.node),
        );
        g.repartitions.push(RepartitionDef {
            topic: sub_topic,
            partitions: None,
            like: right_topic,
        });
        g.repartitions.push(RepartitionDef {
            topic: resp_topic,
            partitions: None,
            like: left_topic,
        });
        g.copartition.push(vec![sub_source, other.node]);
        g.copartition.push(vec![resp_source, self.node]);
        drop(g);
        KTable {
            graph: self.graph.clone(),
            node: merge,
            key_serde: Some(ks),
            value_serde: Some(rvs),
            getter: GetterSupplier::store(result.clone()),
            store: Some(result),
        }
    }
}
