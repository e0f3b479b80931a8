//! Saturating conversions between `Duration`s, milliseconds and deadlines, so that no
//! user-given duration (`Duration::MAX` included) or extreme timestamp can overflow.

use std::time::{Duration, Instant};

/// `d` in whole milliseconds, `i64::MAX` where it does not fit.
pub(crate) fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The instant `after` from now; where that is not representable, a century from now,
/// which no caller waits for.
pub(crate) fn deadline(after: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(after)
        .or_else(|| now.checked_add(Duration::from_secs(100 * 365 * 24 * 3600)))
        .unwrap_or(now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extremes_saturate() {
        assert_eq!(duration_ms(Duration::MAX), i64::MAX);
        assert_eq!(duration_ms(Duration::from_millis(1500)), 1500);
        assert!(deadline(Duration::MAX) > Instant::now() + Duration::from_secs(3600));
    }
}
