//! RFC 3339 UTC timestamps without a date/time dependency: [`format_millis`] (the form of
//! JavaScript's `toISOString`, e.g. job-stream's `failed_at` and `last_seen`),
//! [`format_seconds`] (log lines) and [`parse`] (both read back).
//!
//! ```
//! use std::time::{Duration, UNIX_EPOCH};
//!
//! let time = UNIX_EPOCH + Duration::from_millis(1_795_649_940_123);
//! assert_eq!(rfc3339::format_millis(time), "2026-11-25T23:39:00.123Z");
//! assert_eq!(rfc3339::format_seconds(time), "2026-11-25T23:39:00Z");
//! assert_eq!(rfc3339::parse("2026-11-25T23:39:00.123Z"), Some(time));
//! ```
//!
//! # Limitations
//!
//! * UTC only: [`parse`] refuses other offsets.
//! * Times before 1970 format as the epoch and do not parse.
#![deny(missing_docs)]

use std::time::{SystemTime, UNIX_EPOCH};

/// Formats `time` as `YYYY-MM-DDTHH:MM:SS.mmmZ` (RFC 3339, UTC, millisecond precision).
///
/// Times before 1970 are clamped to the epoch.
pub fn format_millis(time: SystemTime) -> String {
    let millis = time
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_millis();
    let seconds = format_seconds(time);
    // `...SSZ` → `...SS.mmmZ`.
    format!("{}.{millis:03}Z", &seconds[..seconds.len() - 1])
}

/// Formats `time` as `YYYY-MM-DDTHH:MM:SSZ` (RFC 3339, UTC, whole seconds), e.g. for log lines.
/// Times before 1970 are clamped to the epoch.
pub fn format_seconds(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    // `secs / 86_400` fits in i64 for any u64 seconds value.
    let days = (secs / 86_400) as i64;
    let secs_of_day = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs_of_day / 3600,
        secs_of_day % 3600 / 60,
        secs_of_day % 60
    )
}

/// Parses an RFC 3339 UTC timestamp as [`format_millis`], [`format_seconds`] and JavaScript's
/// `toISOString` write them, `YYYY-MM-DDTHH:MM:SS[.fraction]Z` (also `+00:00` for `Z`, and a
/// lowercase `t`/`z`); `None` for anything else, other offsets and times before 1970 included.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
///
/// let time = UNIX_EPOCH + Duration::from_millis(1_795_649_940_123);
/// assert_eq!(rfc3339::parse(&rfc3339::format_millis(time)), Some(time));
/// assert_eq!(rfc3339::parse("2026-11-25T23:39:00+01:00"), None);
/// ```
pub fn parse(text: &str) -> Option<SystemTime> {
    let text = text
        .strip_suffix(['Z', 'z'])
        .or_else(|| text.strip_suffix("+00:00"))?;
    let (date, time) = text.split_once(['T', 't'])?;
    let number = |part: &str, len: usize| -> Option<u64> {
        (part.len() == len && part.bytes().all(|byte| byte.is_ascii_digit()))
            .then(|| part.parse().ok())
            .flatten()
    };
    let mut date = date.split('-');
    let (year, month, day) = (
        number(date.next()?, 4)?,
        number(date.next()?, 2)?,
        number(date.next()?, 2)?,
    );
    let (time, fraction) = match time.split_once('.') {
        Some((time, fraction)) => (time, Some(fraction)),
        None => (time, None),
    };
    let mut time = time.split(':');
    let (hour, minute, second) = (
        number(time.next()?, 2)?,
        number(time.next()?, 2)?,
        number(time.next()?, 2)?,
    );
    if date.next().is_some() || time.next().is_some() {
        return None;
    }
    let nanos = match fraction {
        None => 0,
        Some(digits) if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
            // Nanosecond precision at most; further digits are cut off.
            let digits = &digits[..digits.len().min(9)];
            let value: u32 = digits.parse().ok()?;
            value * 10_u32.pow(9 - digits.len() as u32)
        }
        Some(_) => return None,
    };
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let valid = year >= 1970
        && (1..=12).contains(&month)
        && (1..=month_days[(month - 1) as usize]).contains(&day)
        && hour < 24
        && minute < 60
        && second < 60;
    if !valid {
        return None;
    }
    // Bounded by the checks above: year has four digits, month and day are in range.
    let days = days_from_civil(year as i64, month as u32, day as u32) as u64;
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second;
    Some(UNIX_EPOCH + std::time::Duration::new(seconds, nanos))
}

/// Days since 1970-01-01 to a proleptic Gregorian (year, month, day); Howard Hinnant's
/// `civil_from_days` algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    // Both values are small and non-negative by construction of the algorithm.
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Proleptic Gregorian (year, month, day) to days since 1970-01-01; Howard Hinnant's
/// `days_from_civil`, the inverse of [`civil_from_days`].
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[track_caller]
    fn check(secs: u64, millis: u64, expect: &str) {
        let time = UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis);
        assert_eq!(format_millis(time), expect);
    }

    #[test]
    fn whole_seconds() {
        let at = |secs| format_seconds(UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(at(0), "1970-01-01T00:00:00Z");
        assert_eq!(at(1_709_251_199), "2024-02-29T23:59:59Z");
        assert_eq!(at(1_795_649_940), "2026-11-25T23:39:00Z");
        assert_eq!(at(4_102_444_800), "2100-01-01T00:00:00Z");
    }

    #[test]
    fn epoch() {
        check(0, 0, "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn leap_day_2024() {
        check(1_709_164_800, 5, "2024-02-29T00:00:00.005Z");
    }

    #[test]
    fn end_of_2026() {
        check(1_798_761_599, 999, "2026-12-31T23:59:59.999Z");
    }

    #[test]
    fn year_2000_is_a_leap_year() {
        check(951_782_400, 0, "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn like_javascripts_to_iso_string() {
        check(951_782_399, 999, "2000-02-28T23:59:59.999Z");
        check(1_700_000_000, 123, "2023-11-14T22:13:20.123Z");
        check(4_107_542_400, 7, "2100-03-01T00:00:00.007Z");
    }

    #[test]
    fn before_the_epoch_is_clamped() {
        assert_eq!(
            format_millis(UNIX_EPOCH - Duration::from_secs(10)),
            "1970-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn parsing_reads_what_formatting_writes_and_refuses_the_rest() {
        let at = |millis: u64| Some(UNIX_EPOCH + Duration::from_millis(millis));
        assert_eq!(parse("1970-01-01T00:00:00Z"), at(0));
        assert_eq!(parse("2024-02-29T00:00:00.005Z"), at(1_709_164_800_005));
        assert_eq!(parse("2026-12-31T23:59:59.999Z"), at(1_798_761_599_999));
        assert_eq!(parse("2026-12-31t23:59:59+00:00"), at(1_798_761_599_000));
        assert_eq!(
            parse("2000-02-29T00:00:00.000000001Z"),
            Some(UNIX_EPOCH + Duration::new(951_782_400, 1))
        );
        for bad in [
            "",
            "2026-11-25",
            "2026-11-25T23:39:00",
            "2026-11-25T23:39:00+01:00",
            "2026-02-29T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-11-25T24:00:00Z",
            "2026-11-25T23:39:00.Z",
            "2026-11-25T23:39:0aZ",
            "1969-12-31T23:59:59Z",
            "+2026-11-25T23:39:00Z",
            "2026-11-25T23:39:00:00Z",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    proptest::proptest! {
        /// Every formatted instant parses back to itself.
        #[test]
        fn parse_inverts_format(millis in 0u64..253_402_300_799_000) {
            let time = UNIX_EPOCH + Duration::from_millis(millis);
            proptest::prop_assert_eq!(parse(&format_millis(time)), Some(time));
        }
    }

    proptest::proptest! {
        /// Later instants never format to an earlier string, and the shape is fixed.
        #[test]
        fn formatting_is_monotonic_and_fixed_width(
            a in 0u64..253_402_300_799_000,
            b in 0u64..253_402_300_799_000,
        ) {
            let (earlier, later) = (a.min(b), a.max(b));
            let format = |ms: u64| format_millis(UNIX_EPOCH + Duration::from_millis(ms));
            let (earlier, later) = (format(earlier), format(later));
            proptest::prop_assert!(earlier <= later, "{earlier} > {later}");
            proptest::prop_assert_eq!(later.len(), 24);
        }
    }
}
