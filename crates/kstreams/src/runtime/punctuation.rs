//! Punctuation schedules of one task.

use crate::processor::{PunctuationType, PunctuatorId};

#[derive(Debug)]
struct Schedule {
    id: PunctuatorId,
    node: usize,
    interval: i64,
    kind: PunctuationType,
    next: i64,
}

/// The schedules registered by a task's processors.
#[derive(Debug, Default)]
pub(crate) struct Schedules {
    list: Vec<Schedule>,
    next_id: u64,
}

impl Schedules {
    /// Registers a schedule for processor `node`. Stream-time schedules are aligned to 0 and
    /// fire as soon as data arrives; wall-clock ones fire one interval from `wall_now`. Both
    /// follow Kafka Streams' `StreamTask#schedule`.
    pub(crate) fn add(
        &mut self,
        node: usize,
        interval_ms: i64,
        kind: PunctuationType,
        wall_now: i64,
    ) -> PunctuatorId {
        let id = PunctuatorId(self.next_id);
        self.next_id += 1;
        let next = match kind {
            PunctuationType::StreamTime => 0,
            PunctuationType::WallClockTime => wall_now.saturating_add(interval_ms),
        };
        self.list.push(Schedule {
            id,
            node,
            interval: interval_ms.max(1),
            kind,
            next,
        });
        id
    }

    pub(crate) fn cancel(&mut self, id: PunctuatorId) {
        self.list.retain(|s| s.id != id);
    }

    /// The punctuations due at `now`, as (node, id). Each due schedule fires once however
    /// many intervals were missed, and its next time stays aligned to its start, as in Kafka.
    pub(crate) fn due(&mut self, kind: PunctuationType, now: i64) -> Vec<(usize, PunctuatorId)> {
        let mut fired = Vec::new();
        for s in self.list.iter_mut().filter(|s| s.kind == kind) {
            if s.next <= now {
                fired.push((s.node, s.id));
                // Saturating: at the end of time the schedule stays due at `i64::MAX`.
                let missed = now.saturating_sub(s.next) / s.interval;
                s.next = s
                    .next
                    .saturating_add(missed.saturating_add(1).saturating_mul(s.interval));
            }
        }
        fired
    }

    /// Whether any schedule of `kind` could ever be due; lets the hot path skip the scan.
    pub(crate) fn any(&self, kind: PunctuationType) -> bool {
        self.list.iter().any(|s| s.kind == kind)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_time_fires_on_first_data_then_aligned_once_per_gap() {
        let mut s = Schedules::default();
        let id = s.add(0, 10, PunctuationType::StreamTime, 0);
        assert_eq!(s.due(PunctuationType::StreamTime, 3), vec![(0, id)]);
        assert!(s.due(PunctuationType::StreamTime, 9).is_empty());
        assert_eq!(s.due(PunctuationType::StreamTime, 10).len(), 1);
        // a jump over several intervals fires once, and the next time stays on the grid
        assert_eq!(s.due(PunctuationType::StreamTime, 57).len(), 1);
        assert!(s.due(PunctuationType::StreamTime, 59).is_empty());
        assert_eq!(s.due(PunctuationType::StreamTime, 60).len(), 1);
        assert!(s.due(PunctuationType::WallClockTime, 1_000).is_empty());
        s.cancel(id);
        assert!(s.due(PunctuationType::StreamTime, 1_000).is_empty());
    }

    #[test]
    fn wall_clock_starts_one_interval_from_now() {
        let mut s = Schedules::default();
        s.add(3, 100, PunctuationType::WallClockTime, 1_000);
        assert!(s.due(PunctuationType::WallClockTime, 1_099).is_empty());
        assert_eq!(s.due(PunctuationType::WallClockTime, 1_100).len(), 1);
    }
}
