//! How records are grouped into windows: [`TimeWindows`], [`SessionWindows`],
//! [`SlidingWindows`] and [`JoinWindows`].
//!
//! Their fields are private so that every instance keeps its invariants (a size and an
//! advance above zero, an advance at most the size). Time arithmetic on them saturates: a
//! timestamp near `i64::MAX` gives windows that end at `i64::MAX`, never a wrapped one.

use crate::time::duration_ms;
use std::time::Duration;

/// Fixed-size windows on event time: tumbling (advance = size) or hopping (advance < size),
/// with a grace period after a window's end during which late records are still counted.
///
/// ```
/// use kstreams::dsl::TimeWindows;
/// use std::time::Duration;
///
/// let hopping = TimeWindows::of_size_and_grace(Duration::from_secs(60), Duration::from_secs(10))
///     .advance_by(Duration::from_secs(30));
/// // A record at 45 s is in the windows starting at 0 s and 30 s.
/// assert_eq!(hopping.window_starts(45_000), vec![0, 30_000]);
/// assert_eq!((hopping.size_ms(), hopping.advance_ms(), hopping.grace_ms()), (60_000, 30_000, 10_000));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindows {
    pub(crate) size_ms: i64,
    pub(crate) advance_ms: i64,
    pub(crate) grace_ms: i64,
}

impl TimeWindows {
    /// Tumbling windows of `size` that close as soon as stream time passes their end.
    ///
    /// # Panics
    /// If `size` is under a millisecond, as Kafka Streams throws for a size of zero.
    pub fn of_size_with_no_grace(size: Duration) -> Self {
        Self::of_size_and_grace(size, Duration::ZERO)
    }

    /// Tumbling windows of `size` with a grace period.
    ///
    /// # Panics
    /// If `size` is under a millisecond.
    pub fn of_size_and_grace(size: Duration, grace: Duration) -> Self {
        let size_ms = duration_ms(size);
        assert!(
            size_ms > 0,
            "window size must be at least 1 ms, got {size:?}"
        );
        TimeWindows {
            size_ms,
            advance_ms: size_ms,
            grace_ms: duration_ms(grace),
        }
    }

    /// Hopping windows: a new window every `advance`.
    ///
    /// # Panics
    /// If `advance` is under a millisecond or larger than the size, as Kafka Streams
    /// throws.
    #[must_use]
    pub fn advance_by(mut self, advance: Duration) -> Self {
        let advance_ms = duration_ms(advance);
        assert!(
            (1..=self.size_ms).contains(&advance_ms),
            "window advance must be between 1 ms and the size ({} ms), got {advance:?}",
            self.size_ms
        );
        self.advance_ms = advance_ms;
        self
    }

    /// Window size, ms.
    pub fn size_ms(&self) -> i64 {
        self.size_ms
    }

    /// Distance between window starts, ms.
    pub fn advance_ms(&self) -> i64 {
        self.advance_ms
    }

    /// How long after its end a window still accepts records, ms.
    pub fn grace_ms(&self) -> i64 {
        self.grace_ms
    }

    /// Starts of the windows that contain `timestamp`, ascending (Kafka's `windowsFor`).
    /// A negative timestamp is in no window.
    pub fn window_starts(&self, timestamp: i64) -> Vec<i64> {
        self.starts_of(timestamp).collect()
    }

    /// [`window_starts`](Self::window_starts) without the `Vec`: the aggregation asks for
    /// them once per record.
    pub(crate) fn starts_of(&self, timestamp: i64) -> impl Iterator<Item = i64> {
        let (size, advance) = (self.size_ms, self.advance_ms);
        let first = timestamp
            .saturating_sub(size)
            .saturating_add(advance)
            .max(0)
            / advance
            * advance;
        // `checked_add` ends the sequence where the next start would not fit in an i64;
        // a wrapped start would be negative, below `timestamp`, and never end it.
        std::iter::successors(Some(first), move |s| s.checked_add(advance))
            .take_while(move |s| *s <= timestamp)
    }

    /// The end of the window starting at `start`: `start + size`, or `i64::MAX` where that
    /// does not fit.
    pub fn window_end(&self, start: i64) -> i64 {
        start.saturating_add(self.size_ms)
    }
}

/// Sessions: a key's records belong to one session while no gap between them exceeds the
/// inactivity gap; a record that bridges two sessions merges them.
///
/// ```
/// use kstreams::dsl::SessionWindows;
/// use std::time::Duration;
///
/// let sessions = SessionWindows::of_inactivity_gap_and_grace(Duration::from_secs(300), Duration::from_secs(30));
/// assert_eq!((sessions.gap_ms(), sessions.grace_ms()), (300_000, 30_000));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionWindows {
    pub(crate) gap_ms: i64,
    pub(crate) grace_ms: i64,
}

impl SessionWindows {
    /// Sessions with this inactivity gap and grace period.
    ///
    /// # Panics
    /// If `gap` is under a millisecond, as Kafka Streams throws for a gap of zero.
    pub fn of_inactivity_gap_and_grace(gap: Duration, grace: Duration) -> Self {
        let gap_ms = duration_ms(gap);
        assert!(
            gap_ms > 0,
            "session inactivity gap must be at least 1 ms, got {gap:?}"
        );
        SessionWindows {
            gap_ms,
            grace_ms: duration_ms(grace),
        }
    }

    /// Sessions with this inactivity gap and no grace period.
    ///
    /// # Panics
    /// If `gap` is under a millisecond.
    pub fn of_inactivity_gap_with_no_grace(gap: Duration) -> Self {
        Self::of_inactivity_gap_and_grace(gap, Duration::ZERO)
    }

    /// Largest gap between two records of one session, ms (inclusive).
    pub fn gap_ms(&self) -> i64 {
        self.gap_ms
    }

    /// How long after a session could last have grown it still accepts records, ms.
    pub fn grace_ms(&self) -> i64 {
        self.grace_ms
    }

    /// How long after a session's end it closes: the gap (a record that late could still
    /// extend it) plus grace, plus 1 since the gap is inclusive.
    pub(crate) fn close_after_ms(&self) -> i64 {
        self.gap_ms.saturating_add(self.grace_ms).saturating_add(1)
    }
}

/// Sliding windows (Kafka's `SlidingWindows`): windows of `[t - difference, t]`, both ends
/// inclusive, one for every distinct set of records a window of that size can hold. Each
/// record updates the windows ending at it and the windows it falls into.
///
/// ```
/// use kstreams::dsl::SlidingWindows;
/// use std::time::Duration;
///
/// let w = SlidingWindows::of_time_difference_and_grace(Duration::from_secs(10), Duration::from_secs(2));
/// assert_eq!((w.difference_ms(), w.grace_ms()), (10_000, 2_000));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlidingWindows {
    pub(crate) difference_ms: i64,
    pub(crate) grace_ms: i64,
}

impl SlidingWindows {
    /// Sliding windows of this size (the time difference) and grace period.
    pub fn of_time_difference_and_grace(difference: Duration, grace: Duration) -> Self {
        SlidingWindows {
            difference_ms: duration_ms(difference),
            grace_ms: duration_ms(grace),
        }
    }

    /// As above, without grace.
    pub fn of_time_difference_with_no_grace(difference: Duration) -> Self {
        Self::of_time_difference_and_grace(difference, Duration::ZERO)
    }

    /// Largest time difference between two records of one window, ms.
    pub fn difference_ms(&self) -> i64 {
        self.difference_ms
    }

    /// How long after its end a window still accepts records, ms.
    pub fn grace_ms(&self) -> i64 {
        self.grace_ms
    }
}

/// How far apart in time two records of a stream-stream join may be: the other side's
/// record may be up to `before` earlier or `after` later, and records arriving up to
/// `grace` after that still join.
///
/// ```
/// use kstreams::dsl::JoinWindows;
/// use std::time::Duration;
///
/// // Join a payment with a login of the same customer up to 5 minutes before it, or 10
/// // seconds after.
/// let w = JoinWindows::of_time_difference_with_no_grace(Duration::from_secs(300))
///     .after(Duration::from_secs(10));
/// assert_eq!((w.before_ms(), w.after_ms(), w.grace_ms()), (300_000, 10_000, 0));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JoinWindows {
    pub(crate) before_ms: i64,
    pub(crate) after_ms: i64,
    pub(crate) grace_ms: i64,
}

impl JoinWindows {
    /// Records join when their timestamps differ by at most `difference`.
    pub fn of_time_difference_and_grace(difference: Duration, grace: Duration) -> Self {
        JoinWindows {
            before_ms: duration_ms(difference),
            after_ms: duration_ms(difference),
            grace_ms: duration_ms(grace),
        }
    }

    /// As above, with no grace period.
    pub fn of_time_difference_with_no_grace(difference: Duration) -> Self {
        Self::of_time_difference_and_grace(difference, Duration::ZERO)
    }

    /// How much earlier than this side's record the other side's may be (Kafka's
    /// `before`).
    #[must_use]
    pub fn before(mut self, before: Duration) -> Self {
        self.before_ms = duration_ms(before);
        self
    }

    /// How much later than this side's record the other side's may be (Kafka's `after`).
    #[must_use]
    pub fn after(mut self, after: Duration) -> Self {
        self.after_ms = duration_ms(after);
        self
    }

    /// How much earlier the other side's record may be, ms.
    pub fn before_ms(&self) -> i64 {
        self.before_ms
    }

    /// How much later the other side's record may be, ms.
    pub fn after_ms(&self) -> i64 {
        self.after_ms
    }

    /// Grace period, ms.
    pub fn grace_ms(&self) -> i64 {
        self.grace_ms
    }

    /// How long a record is kept for joining: both reaches and grace.
    pub(crate) fn retention_ms(&self) -> i64 {
        self.before_ms
            .saturating_add(self.after_ms)
            .saturating_add(self.grace_ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_for_a_timestamp() {
        let tumbling = TimeWindows::of_size_with_no_grace(Duration::from_millis(10));
        assert_eq!(tumbling.window_starts(0), vec![0]);
        assert_eq!(tumbling.window_starts(9), vec![0]);
        assert_eq!(tumbling.window_starts(10), vec![10]);
        assert_eq!(tumbling.window_starts(-1), Vec::<i64>::new());
        let hopping = tumbling.advance_by(Duration::from_millis(5));
        assert_eq!(hopping.window_starts(3), vec![0]);
        assert_eq!(hopping.window_starts(12), vec![5, 10]);
        assert_eq!(hopping.window_starts(15), vec![10, 15]);
    }

    #[test]
    fn windows_near_the_end_of_time_end_there() {
        let hopping = TimeWindows::of_size_with_no_grace(Duration::from_millis(10))
            .advance_by(Duration::from_millis(3));
        let starts = hopping.window_starts(i64::MAX);
        assert!(!starts.is_empty() && starts.len() <= 4, "{starts:?}");
        assert!(starts.iter().all(|s| *s > i64::MAX - 10), "{starts:?}");
        assert_eq!(hopping.window_end(*starts.last().unwrap()), i64::MAX);
        let huge = TimeWindows::of_size_and_grace(Duration::MAX, Duration::MAX);
        assert_eq!((huge.size_ms(), huge.grace_ms()), (i64::MAX, i64::MAX));
        assert_eq!(huge.window_starts(5), vec![0]);
        // [0, MAX) ends just before MAX (ends are exclusive), so MAX opens a window of its own.
        assert_eq!(huge.window_starts(i64::MAX), vec![i64::MAX]);
        assert_eq!(huge.window_starts(i64::MIN), Vec::<i64>::new());
    }

    #[test]
    #[should_panic(expected = "window size must be at least 1 ms")]
    fn a_window_of_size_zero_is_refused() {
        let _ = TimeWindows::of_size_with_no_grace(Duration::ZERO);
    }

    #[test]
    #[should_panic(expected = "window advance must be between 1 ms and the size")]
    fn an_advance_of_zero_is_refused() {
        let _ =
            TimeWindows::of_size_with_no_grace(Duration::from_secs(1)).advance_by(Duration::ZERO);
    }

    #[test]
    #[should_panic(expected = "session inactivity gap must be at least 1 ms")]
    fn a_session_gap_of_zero_is_refused() {
        let _ = SessionWindows::of_inactivity_gap_with_no_grace(Duration::ZERO);
    }

    #[test]
    fn reaches_saturate() {
        let w = JoinWindows::of_time_difference_and_grace(Duration::MAX, Duration::MAX);
        assert_eq!(w.retention_ms(), i64::MAX);
        let s =
            SessionWindows::of_inactivity_gap_and_grace(Duration::MAX, Duration::from_millis(1));
        assert_eq!(s.close_after_ms(), i64::MAX);
    }
}
