//! Arguments for the scenario clock: points in time and durations, accepted
//! in the forms tests find handy (an RFC 3339 string needs no `chrono` import).

use chrono::{DateTime, TimeDelta, Utc};

/// The time a new scenario's clock shows: `2026-01-01T00:00:00Z`. Fixed, so
/// that scenarios never depend on the day they run.
pub const DEFAULT_NOW: &str = "2026-01-01T00:00:00Z";

/// A point in time for [`Scenario::at`](super::Scenario::at): a
/// `DateTime<Utc>`, or an RFC 3339 string such as `"2026-03-01T09:30:00Z"`.
pub trait IntoTime {
    /// The point in time, or why the value is not one.
    fn into_time(self) -> Result<DateTime<Utc>, String>;
}

impl IntoTime for DateTime<Utc> {
    fn into_time(self) -> Result<DateTime<Utc>, String> {
        Ok(self)
    }
}

impl IntoTime for &str {
    fn into_time(self) -> Result<DateTime<Utc>, String> {
        DateTime::parse_from_rfc3339(self)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| {
                format!(
                    "{self:?} is not an RFC 3339 time ({e}); write e.g. \"2026-01-01T09:30:00Z\""
                )
            })
    }
}

impl IntoTime for String {
    fn into_time(self) -> Result<DateTime<Utc>, String> {
        self.as_str().into_time()
    }
}

/// A duration for [`Scenario::advance`](super::Scenario::advance): a
/// `std::time::Duration` or a `chrono::TimeDelta` (which may be negative).
pub trait IntoTimeDelta {
    /// The duration, or why the value is not one.
    fn into_time_delta(self) -> Result<TimeDelta, String>;
}

impl IntoTimeDelta for TimeDelta {
    fn into_time_delta(self) -> Result<TimeDelta, String> {
        Ok(self)
    }
}

impl IntoTimeDelta for std::time::Duration {
    fn into_time_delta(self) -> Result<TimeDelta, String> {
        TimeDelta::from_std(self).map_err(|_| format!("{self:?} is too long to advance a clock by"))
    }
}

/// The default time as a value.
pub(crate) fn default_now() -> DateTime<Utc> {
    DEFAULT_NOW
        .into_time()
        .unwrap_or(DateTime::<Utc>::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_parse_as_rfc3339_and_bad_ones_say_why() {
        assert_eq!(
            "2026-03-01T09:30:00+01:00"
                .into_time()
                .unwrap()
                .to_rfc3339(),
            "2026-03-01T08:30:00+00:00"
        );
        let err = "yesterday".into_time().unwrap_err();
        assert!(
            err.contains("\"yesterday\" is not an RFC 3339 time"),
            "{err}"
        );
        assert_eq!(default_now().to_rfc3339(), "2026-01-01T00:00:00+00:00");
    }

    #[test]
    fn std_durations_convert() {
        assert_eq!(
            std::time::Duration::from_secs(90).into_time_delta(),
            Ok(TimeDelta::seconds(90))
        );
        assert!(std::time::Duration::MAX.into_time_delta().is_err());
    }
}
