//! Durations as users write them everywhere in Testcar: a bare number of seconds
//! (`30`, `1.5`) or a number with a unit (`500ms`, `30s`, `2m`, `1h`, `1h30m`).

use std::time::Duration;

/// A duration that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{value:?} is not a duration; expected seconds (e.g. 30) or a number with a unit: ms, s, m, h (e.g. 500ms, 30s, 2m, 1h30m)"
)]
pub struct DurationError {
    /// The text that was given.
    pub value: String,
}

/// Parse `30`, `1.5`, `500ms`, `30s`, `2m`, `1h`, `1h30m`, `90 s`.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let err = || DurationError {
        value: text.to_string(),
    };
    let s = text.trim();
    if s.is_empty() {
        return Err(err());
    }
    if let Ok(secs) = s.parse::<f64>() {
        return seconds(secs).ok_or_else(err);
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return Err(err());
        }
        let number: f64 = rest[..num_len].parse().map_err(|_| err())?;
        rest = rest[num_len..].trim_start();
        let unit_len = rest
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = rest[unit_len..].trim_start();
        let factor = match unit {
            "ms" => 0.001,
            "s" | "sec" | "secs" | "second" | "seconds" => 1.0,
            "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
            "h" | "hr" | "hour" | "hours" => 3600.0,
            _ => return Err(err()),
        };
        total += number * factor;
    }
    seconds(total).ok_or_else(err)
}

fn seconds(secs: f64) -> Option<Duration> {
    // `from_secs_f64` panics past u64::MAX seconds: `99999999999999999999` in an
    // annotation panicked the injector (found by its hostile-review fuzz property).
    (secs.is_finite() && secs >= 0.0)
        .then(|| Duration::try_from_secs_f64(secs).ok())
        .flatten()
}

/// Render a duration the short way users write it (`90s` → `1m30s`, `500ms`).
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms == 0 {
        return "0s".to_string();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    if ms % 1000 != 0 && ms < 60_000 {
        return format!("{:.1}s", ms as f64 / 1000.0);
    }
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the injector's hostile-review fuzz property: this panicked.
    #[test]
    fn too_long_is_an_error_not_a_panic() {
        for text in [
            "99999999999999999999",
            "99999999999999999999h",
            "1e300",
            "1e300s",
        ] {
            assert!(parse_duration(text).is_err(), "{text}");
        }
    }

    #[test]
    fn reads_the_usual_forms() {
        assert_eq!(parse_duration("30").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(
            parse_duration(" 10 min ").unwrap(),
            Duration::from_secs(600)
        );
    }

    #[test]
    fn rejects_garbage_with_the_value() {
        for bad in ["", "abc", "10x", "-5", "m", "1..2s"] {
            let e = parse_duration(bad).unwrap_err();
            assert!(e.to_string().contains("expected seconds"), "{bad}: {e}");
        }
    }

    #[test]
    fn formats_short() {
        assert_eq!(format_duration(Duration::from_secs(90)), "1m30s");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_duration(Duration::from_secs(3600)), "1h");
    }
}
