//! KTable-KTable foreign-key join (Kafka's KIP-213), in four processors:
//!
//! 1. `Subscribe` (left table's task): each change of a left row sends a subscription to
//!    the partition of its foreign key, and an unsubscription to the old key's partition
//!    when the foreign key changed.
//! 2. `SubscriptionStore` (right table's task): keeps `(foreign key, primary key)`
//!    subscriptions and answers each with the right row's current value.
//! 3. `ForeignChange` (right table's task): a change of a right row answers every
//!    subscription to it.
//! 4. `Resolve` (left table's task): joins an answer with the left row, unless the left row
//!    changed since the subscription (the answer carries a hash of the value it was for),
//!    so a stale answer never overwrites a newer result.
//!
//! Deleting a left row emits the result's tombstone at once (`LeftDelete`).

use crate::dsl::getter::{GetterSupplier, ValueGetter};
use crate::error::{Result, SerdeError};
use crate::processor::{Change, Processor, ProcessorContext, Record};
use crate::serde::{Serde, SharedSerde};
use crate::state::TimestampedKeyValueStore;
use std::sync::Arc;

/// 128-bit FNV-1a of a left value's bytes: two 64-bit lanes with different offsets.
pub(crate) fn value_hash(bytes: &[u8]) -> u128 {
    let lane = |offset: u64| {
        bytes.iter().fold(offset, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    (u128::from(lane(0xcbf2_9ce4_8422_2325)) << 64) | u128::from(lane(0x6c62_272e_07bb_0142))
}

/// A subscription message, keyed by the foreign key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Subscription<K> {
    pub(crate) pk: K,
    /// Hash of the left value; `None` unsubscribes.
    pub(crate) hash: Option<u128>,
}

/// An answer, keyed by the primary key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Response<VO> {
    pub(crate) hash: u128,
    pub(crate) value: Option<VO>,
}

fn bad(expected: &'static str, reason: &str) -> SerdeError {
    SerdeError::Invalid {
        expected,
        reason: reason.to_string(),
    }
}

/// `[version 0][has hash][hash: 16 bytes][primary key]`.
pub(crate) struct SubscriptionSerde<K>(pub(crate) SharedSerde<K>);

impl<K: 'static> Serde<Subscription<K>> for SubscriptionSerde<K> {
    fn serialize(&self, s: &Subscription<K>, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        out.push(0);
        out.push(u8::from(s.hash.is_some()));
        out.extend_from_slice(&s.hash.unwrap_or(0).to_be_bytes());
        self.0.serialize(&s.pk, out)
    }
    fn deserialize(&self, b: &[u8]) -> Result<Subscription<K>, SerdeError> {
        const WHAT: &str = "foreign-key subscription";
        if b.len() < 18 || b[0] != 0 {
            return Err(bad(WHAT, "not a version-0 subscription"));
        }
        let hash = u128::from_be_bytes(b[2..18].try_into().map_err(|_| bad(WHAT, "hash"))?);
        Ok(Subscription {
            pk: self.0.deserialize(&b[18..])?,
            hash: (b[1] == 1).then_some(hash),
        })
    }
}

/// `[version 0][hash: 16 bytes][has value][value]`.
pub(crate) struct ResponseSerde<VO>(pub(crate) SharedSerde<VO>);

impl<VO: 'static> Serde<Response<VO>> for ResponseSerde<VO> {
    fn serialize(&self, r: &Response<VO>, out: &mut Vec<u8>) -> Result<(), SerdeError> {
        out.push(0);
        out.extend_from_slice(&r.hash.to_be_bytes());
        out.push(u8::from(r.value.is_some()));
        if let Some(v) = &r.value {
            self.0.serialize(v, out)?;
        }
        Ok(())
    }
    fn deserialize(&self, b: &[u8]) -> Result<Response<VO>, SerdeError> {
        const WHAT: &str = "foreign-key response";
        if b.len() < 18 || b[0] != 0 {
            return Err(bad(WHAT, "not a version-0 response"));
        }
        let hash = u128::from_be_bytes(b[1..17].try_into().map_err(|_| bad(WHAT, "hash"))?);
        let value = if b[17] == 1 {
            Some(self.0.deserialize(&b[18..])?)
        } else {
            None
        };
        Ok(Response { hash, value })
    }
}

/// Extracts the foreign key of a left value.
pub(crate) type ForeignKey<V, KO> = Arc<dyn Fn(&V) -> KO + Send + Sync>;

/// 1. Left changes to subscriptions, keyed by foreign key.
pub(crate) struct Subscribe<V, KO> {
    pub(crate) fk: ForeignKey<V, KO>,
    pub(crate) value_serde: SharedSerde<V>,
    pub(crate) fk_serde: SharedSerde<KO>,
}

impl<K, V, KO> Processor<K, Change<V>, KO, Subscription<K>> for Subscribe<V, KO>
where
    K: Clone + 'static,
    V: 'static,
    KO: Clone + 'static,
{
    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, KO, Subscription<K>>,
        r: Record<K, Change<V>>,
    ) -> Result<()> {
        let Some(pk) = r.key else {
            ctx.record_dropped("null key at a foreign-key join");
            return Ok(());
        };
        let new_fk = r.value.new.as_ref().map(|v| (self.fk)(v));
        let old_fk = r.value.old.as_ref().map(|v| (self.fk)(v));
        let bytes = |s: &SharedSerde<KO>, k: &KO| {
            let mut out = Vec::new();
            s.serialize(k, &mut out).map(|_| out)
        };
        if let Some(old) = &old_fk {
            let moved = match &new_fk {
                Some(new) => {
                    bytes(&self.fk_serde, old).map_err(|e| ctx.error(e.to_string()))?
                        != bytes(&self.fk_serde, new).map_err(|e| ctx.error(e.to_string()))?
                }
                None => true,
            };
            if moved {
                ctx.forward(Record::new(
                    Some(old.clone()),
                    Subscription {
                        pk: pk.clone(),
                        hash: None,
                    },
                    r.timestamp,
                ))?;
            }
        }
        if let (Some(new), Some(v)) = (new_fk, r.value.new.as_ref()) {
            let mut out = Vec::new();
            self.value_serde
                .serialize(v, &mut out)
                .map_err(|e| ctx.error(format!("foreign-key join value: {e}")))?;
            ctx.forward(Record::new(
                Some(new),
                Subscription {
                    pk,
                    hash: Some(value_hash(&out)),
                },
                r.timestamp,
            ))?;
        }
        Ok(())
    }
}

/// The subscription store key: foreign key length (4 bytes), foreign key, primary key.
fn subscription_key(fk: &[u8], pk: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(4 + fk.len() + pk.len());
    k.extend_from_slice(&(fk.len() as u32).to_be_bytes());
    k.extend_from_slice(fk);
    k.extend_from_slice(pk);
    k
}

/// 2. Subscriptions in, answers out.
pub(crate) struct SubscriptionStore<K, KO, VO> {
    pub(crate) store_name: String,
    pub(crate) store: Option<TimestampedKeyValueStore<Vec<u8>, Vec<u8>>>,
    pub(crate) fk_serde: SharedSerde<KO>,
    pub(crate) pk_serde: SharedSerde<K>,
    pub(crate) right: GetterSupplier<KO, VO>,
    pub(crate) getter: Option<Box<dyn ValueGetter<KO, VO>>>,
}

impl<K, KO, VO> Processor<KO, Subscription<K>, K, Response<VO>> for SubscriptionStore<K, KO, VO>
where
    K: Clone + 'static,
    KO: Clone + 'static,
    VO: Clone + 'static,
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Response<VO>>) -> Result<()> {
        self.store = Some(ctx.timestamped_key_value_store(&self.store_name)?);
        self.getter = Some((self.right.make)(&ctx.task.stores)?);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Response<VO>>,
        r: Record<KO, Subscription<K>>,
    ) -> Result<()> {
        let (Some(store), Some(getter)) = (self.store.as_mut(), self.getter.as_ref()) else {
            return Err(ctx.error("foreign-key join not initialized"));
        };
        let Some(fk) = r.key else {
            ctx.record_dropped("null foreign key at a foreign-key join");
            return Ok(());
        };
        let (mut fk_bytes, mut pk_bytes) = (Vec::new(), Vec::new());
        self.fk_serde
            .serialize(&fk, &mut fk_bytes)
            .and_then(|_| self.pk_serde.serialize(&r.value.pk, &mut pk_bytes))
            .map_err(|e| ctx.error(format!("foreign-key subscription: {e}")))?;
        let key = subscription_key(&fk_bytes, &pk_bytes);
        let Some(hash) = r.value.hash else {
            store.delete(&key)?;
            return Ok(());
        };
        store.put(&key, &hash.to_be_bytes().to_vec(), r.timestamp)?;
        let right = getter.get(&fk)?;
        let timestamp = right
            .as_ref()
            .map_or(r.timestamp, |v| v.timestamp.max(r.timestamp));
        ctx.forward(Record::new(
            Some(r.value.pk),
            Response {
                hash,
                value: right.map(|v| v.value),
            },
            timestamp,
        ))
    }
}

/// 3. A right row changed: answer everyone subscribed to it.
pub(crate) struct ForeignChange<K, KO> {
    pub(crate) store_name: String,
    pub(crate) store: Option<TimestampedKeyValueStore<Vec<u8>, Vec<u8>>>,
    pub(crate) fk_serde: SharedSerde<KO>,
    pub(crate) pk_serde: SharedSerde<K>,
}

impl<K, KO, VO> Processor<KO, Change<VO>, K, Response<VO>> for ForeignChange<K, KO>
where
    K: Clone + 'static,
    KO: Clone + 'static,
    VO: Clone + 'static,
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Response<VO>>) -> Result<()> {
        self.store = Some(ctx.timestamped_key_value_store(&self.store_name)?);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Response<VO>>,
        r: Record<KO, Change<VO>>,
    ) -> Result<()> {
        let (Some(store), Some(fk)) = (self.store.as_ref(), r.key.as_ref()) else {
            return Ok(());
        };
        let mut fk_bytes = Vec::new();
        self.fk_serde
            .serialize(fk, &mut fk_bytes)
            .map_err(|e| ctx.error(format!("foreign key: {e}")))?;
        let prefix = subscription_key(&fk_bytes, &[]);
        // The first key after every key with this prefix: the prefix, last byte + 1
        // (a trailing 0xff carries over).
        let mut upper = prefix.clone();
        while upper.last() == Some(&0xff) {
            upper.pop();
        }
        if let Some(last) = upper.last_mut() {
            *last += 1;
        }
        for (k, hash) in store.range(&prefix, &upper)? {
            let Some(pk_bytes) = k.strip_prefix(prefix.as_slice()) else {
                continue;
            };
            let pk = self
                .pk_serde
                .deserialize(pk_bytes)
                .map_err(|e| ctx.error(format!("subscribed primary key: {e}")))?;
            let hash = <[u8; 16]>::try_from(hash.value.as_slice())
                .map(u128::from_be_bytes)
                .map_err(|_| ctx.error("subscription hash of the wrong length"))?;
            ctx.forward(Record::new(
                Some(pk),
                Response {
                    hash,
                    value: r.value.new.clone(),
                },
                r.timestamp,
            ))?;
        }
        Ok(())
    }
}

/// `joiner(left, right)`: `None` means no row (inner join without a right row).
pub(crate) type FkJoiner<V, VO, VR> = Arc<dyn Fn(&V, Option<&VO>) -> Option<VR> + Send + Sync>;

/// 4. Answers joined with the current left row, into the result store.
pub(crate) struct Resolve<K, V, VO, VR> {
    pub(crate) left: GetterSupplier<K, V>,
    pub(crate) getter: Option<Box<dyn ValueGetter<K, V>>>,
    pub(crate) value_serde: SharedSerde<V>,
    pub(crate) result_name: String,
    pub(crate) result: Option<TimestampedKeyValueStore<K, VR>>,
    pub(crate) joiner: FkJoiner<V, VO, VR>,
}

impl<K, V, VO, VR> Processor<K, Response<VO>, K, Change<VR>> for Resolve<K, V, VO, VR>
where
    K: Clone + 'static,
    V: 'static,
    VO: 'static,
    VR: Clone + 'static,
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<VR>>) -> Result<()> {
        self.getter = Some((self.left.make)(&ctx.task.stores)?);
        self.result = Some(ctx.timestamped_key_value_store(&self.result_name)?);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<VR>>,
        r: Record<K, Response<VO>>,
    ) -> Result<()> {
        let (Some(getter), Some(result), Some(pk)) =
            (self.getter.as_ref(), self.result.as_mut(), r.key)
        else {
            return Ok(());
        };
        let Some(left) = getter.get(&pk)? else {
            // Deleted since: its tombstone went out already.
            return Ok(());
        };
        let mut bytes = Vec::new();
        self.value_serde
            .serialize(&left.value, &mut bytes)
            .map_err(|e| ctx.error(format!("foreign-key join value: {e}")))?;
        if value_hash(&bytes) != r.value.hash {
            // An answer for a value the row no longer has: a newer answer follows.
            return Ok(());
        }
        let new = (self.joiner)(&left.value, r.value.value.as_ref());
        let old = result.get(&pk)?.map(|v| v.value);
        let timestamp = r.timestamp.max(left.timestamp);
        match &new {
            Some(v) => result.put(&pk, v, timestamp)?,
            None if old.is_some() => {
                result.delete(&pk)?;
            }
            None => return Ok(()),
        }
        ctx.forward(Record::new(Some(pk), Change { new, old }, timestamp))
    }
}

/// Deleting a left row deletes its result at once.
pub(crate) struct LeftDelete<K, VR> {
    pub(crate) result_name: String,
    pub(crate) result: Option<TimestampedKeyValueStore<K, VR>>,
}

impl<K, V, VR> Processor<K, Change<V>, K, Change<VR>> for LeftDelete<K, VR>
where
    K: Clone + 'static,
    V: 'static,
    VR: Clone + 'static,
{
    fn init(&mut self, ctx: &mut ProcessorContext<'_, K, Change<VR>>) -> Result<()> {
        self.result = Some(ctx.timestamped_key_value_store(&self.result_name)?);
        Ok(())
    }

    fn process(
        &mut self,
        ctx: &mut ProcessorContext<'_, K, Change<VR>>,
        r: Record<K, Change<V>>,
    ) -> Result<()> {
        if r.value.new.is_some() {
            return Ok(());
        }
        let (Some(pk), Some(result)) = (r.key, self.result.as_mut()) else {
            return Ok(());
        };
        if let Some(old) = result.delete(&pk)? {
            ctx.forward(Record::new(
                Some(pk),
                Change {
                    new: None,
                    old: Some(old.value),
                },
                r.timestamp,
            ))?;
        }
        Ok(())
    }
}
