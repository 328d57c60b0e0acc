//! Number, duration and value formatting for the report: short, locale-free, and never
//! `NaN`/`inf` on the page.

use serde_json::Value;

/// A number as people read it: integers without decimals, `412.7`, `0.35`.
pub fn num(v: f64) -> String {
    if !v.is_finite() {
        return "–".to_string();
    }
    if v.fract() == 0.0 && v.abs() < 1e15 {
        return format!("{}", v as i64);
    }
    let text = if v.abs() >= 1000.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    };
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    if text == "-0" { "0".to_string() } else { text }
}

/// `850 ms`, `32.4 s`, `2 min 5 s`, `1 h 2 min`.
pub fn duration_ms(ms: u64) -> String {
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{} s", num((ms as f64 / 100.0).round() / 10.0))
    } else if ms < 3_600_000 {
        let s = ms / 1000;
        if s % 60 == 0 {
            format!("{} min", s / 60)
        } else {
            format!("{} min {} s", s / 60, s % 60)
        }
    } else {
        let m = ms / 60_000;
        format!("{} h {} min", m / 60, m % 60)
    }
}

/// An observed/expected value from a check: numbers formatted, strings as-is, a dash when
/// absent (a JSON `null` reads back as absent: the metric had no data).
pub fn value(v: Option<&Value>) -> String {
    match v {
        None => "–".to_string(),
        Some(Value::Null) => "no data".to_string(),
        Some(Value::Number(n)) => n.as_f64().map(num).unwrap_or_else(|| n.to_string()),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(other) => other.to_string(),
    }
}

/// Optional number, or a dash.
pub fn opt(v: Option<f64>) -> String {
    v.map(num).unwrap_or_else(|| "–".to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(num(3000.0), "3000");
        assert_eq!(num(412.7), "412.7");
        assert_eq!(num(41.66), "41.7");
        assert_eq!(num(0.354), "0.35");
        assert_eq!(num(0.5), "0.5");
        assert_eq!(num(1234.56), "1235");
        assert_eq!(num(-0.001), "0");
        assert_eq!(num(f64::NAN), "–");
    }

    #[test]
    fn durations() {
        assert_eq!(duration_ms(850), "850 ms");
        assert_eq!(duration_ms(32_400), "32.4 s");
        assert_eq!(duration_ms(61_000), "1 min 1 s");
        assert_eq!(duration_ms(120_000), "2 min");
        assert_eq!(duration_ms(3_720_000), "1 h 2 min");
    }

    #[test]
    fn values() {
        assert_eq!(value(Some(&json!(412.7))), "412.7");
        assert_eq!(value(Some(&json!("< 250"))), "< 250");
        assert_eq!(value(Some(&json!(null))), "no data");
        assert_eq!(value(None), "–");
        assert_eq!(value(Some(&json!([1, 2]))), "[1,2]");
    }
}
