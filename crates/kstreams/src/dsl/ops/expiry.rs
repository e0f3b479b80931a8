//! Deleting what time has made useless from window, session and join stores.

use crate::error::Result;
use crate::state::StoreHandle;

/// Expires every entry whose key starts with an 8-byte big-endian time in
/// `[from, cutoff)`: in start-first layouts they are one range at the front of the store,
/// dropped at once ([`expire_range`](crate::state::KeyValueBytesStore::expire_range)), with
/// a tombstone per entry in the changelog. `from` is where the previous expiry
/// stopped: everything before it is gone already, and starting there keeps the scan from
/// wading through the tombstones an LSM engine still holds for it (which would make every
/// expiry slower than the last).
pub(crate) fn delete_front(handle: &StoreHandle, from: i64, cutoff: i64) -> Result<()> {
    let upper = cutoff.max(0).to_be_bytes();
    let lower = from.max(0).to_be_bytes();
    let start = (from > 0).then_some(lower.as_slice());
    handle.lock().expire_range(start, &upper)?;
    Ok(())
}

/// Expires every entry whose key holds a time (read by `time_of`) before `cutoff`. Keys
/// come first in these layouts, so this passes over every key (not the values); callers
/// run it once per retention period of stream time, not per record
/// ([`expire_where`](crate::state::KeyValueBytesStore::expire_where)).
pub(crate) fn expire_scanning(
    handle: &StoreHandle,
    time_of: fn(&[u8]) -> Option<i64>,
    cutoff: i64,
) -> Result<()> {
    handle
        .lock()
        .expire_where(&|k| time_of(k).is_some_and(|t| t < cutoff))?;
    Ok(())
}

/// When to expire next: every `step` of stream time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Schedule {
    pub(crate) done_before: i64,
}

impl Default for Schedule {
    fn default() -> Self {
        Schedule {
            done_before: i64::MIN,
        }
    }
}

impl Schedule {
    /// Whether `cutoff` has moved at least `step` since the last expiry; if so, records it
    /// and returns where the last expiry stopped.
    pub(crate) fn due(&mut self, cutoff: i64, step: i64) -> Option<i64> {
        if cutoff < self.done_before.saturating_add(step.max(1)) {
            return None;
        }
        Some(std::mem::replace(&mut self.done_before, cutoff))
    }
}

/// Key layout of per-key time-ordered records (join sides, sliding-window inputs): key
/// length (4 bytes), key, timestamp (8 bytes), sequence number (4 bytes), big-endian, so
/// one key's records sort by time and ranges never mix keys.
pub(crate) fn record_key(key: &[u8], ts: i64, seq: u32) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 16);
    k.extend_from_slice(&(key.len() as u32).to_be_bytes());
    k.extend_from_slice(key);
    k.extend_from_slice(&ts.to_be_bytes());
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// The time in a [`record_key`] (or in a session key, whose end sits at the same place).
pub(crate) fn time_after_key(k: &[u8]) -> Option<i64> {
    let len = u32::from_be_bytes(k.get(..4)?.try_into().ok()?) as usize;
    Some(i64::from_be_bytes(
        k.get(4 + len..12 + len)?.try_into().ok()?,
    ))
}

/// The stream time a windowed aggregation judges lateness and expiry by, as Kafka Streams'
/// `observedStreamTime`: the highest timestamp among the records that reached the
/// aggregation (a record dropped before it, for a null key, does not move it). Unlike
/// Kafka Streams, which starts it afresh after a restart, it starts from the stream time
/// the task resumed, so a window that closed before a restart stays closed.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Observed(Option<i64>);

impl Observed {
    /// Moves it to `timestamp` if later, and returns it.
    pub(crate) fn advance<K, V>(
        &mut self,
        ctx: &crate::processor::ProcessorContext<'_, K, V>,
        timestamp: i64,
    ) -> i64 {
        let t = self
            .0
            .unwrap_or_else(|| ctx.resumed_stream_time())
            .max(timestamp);
        self.0 = Some(t);
        t
    }
}
