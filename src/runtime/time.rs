//! Dates as RFC 3339 UTC text, for the `created` fields of the meta API and for log lines.
//! One function's worth of calendar arithmetic, so the node needs no date crate.

use std::time::{SystemTime, UNIX_EPOCH};

/// The current time as RFC 3339 UTC, to the second: `2026-11-25T13:00:00Z`.
pub(crate) fn now_rfc3339() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    rfc3339(secs)
}

/// The current time to the millisecond, as Crossbar's `utcnow`: `2026-11-25T13:00:00.123Z`.
pub(crate) fn now_millis_z() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let seconds = rfc3339(now.as_secs() as i64);
    let stem = seconds.trim_end_matches('Z');
    format!("{stem}.{:03}Z", now.subsec_millis())
}

/// Seconds since the Unix epoch as RFC 3339 UTC.
pub(crate) fn rfc3339(secs: i64) -> String {
    // Civil-from-days (Howard Hinnant's algorithm).
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Reads Crossbar's signed-request timestamp, `%Y-%m-%dT%H:%M:%S.%fZ` (UTC, one to six
/// fraction digits), as seconds since the Unix epoch.
pub(crate) fn parse_utc_fraction_z(text: &str) -> Option<f64> {
    let (date, time) = text.strip_suffix('Z')?.split_once('T')?;
    let number = |part: &str, digits: usize| -> Option<i64> {
        (part.len() == digits && part.bytes().all(|b| b.is_ascii_digit()))
            .then(|| part.parse().ok())
            .flatten()
    };
    let mut d = date.split('-');
    let (year, month, day) = (
        number(d.next()?, 4)?,
        number(d.next()?, 2)?,
        number(d.next()?, 2)?,
    );
    let (clock, fraction) = time.split_once('.')?;
    let mut t = clock.split(':');
    let (hour, minute, second) = (
        number(t.next()?, 2)?,
        number(t.next()?, 2)?,
        number(t.next()?, 2)?,
    );
    if d.next().is_some() || t.next().is_some() || fraction.is_empty() || fraction.len() > 6 {
        return None;
    }
    let micros = number(fraction, fraction.len())? * 10i64.pow(6 - fraction.len() as u32);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    // Days-from-civil (Howard Hinnant's algorithm).
    let y = year - i64::from(month <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second;
    Some(secs as f64 + micros as f64 / 1e6)
}

#[cfg(test)]
mod tests {
    #[test]
    fn crossbar_timestamps_are_read_to_the_microsecond() {
        assert_eq!(
            super::parse_utc_fraction_z("2025-11-25T13:00:00.5Z"),
            Some(1_764_075_600.5)
        );
        assert_eq!(
            super::parse_utc_fraction_z("1970-01-01T00:00:01.000001Z"),
            Some(1.000001)
        );
        for bad in [
            "2025-11-25T13:00:00Z",
            "2025-11-25 13:00:00.1Z",
            "2025-13-25T13:00:00.1Z",
            "x",
        ] {
            assert_eq!(super::parse_utc_fraction_z(bad), None, "{bad}");
        }
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_764_075_600), "2025-11-25T13:00:00Z");
    }
}
