//! Kubernetes resource quantities as numbers, so that a request can be compared with its
//! limit before the injector emits a container the API server would reject.

/// The value of a quantity (`250m` → 0.25, `64Mi` → 67108864), or `None` if it is not one.
pub fn parse(text: &str) -> Option<f64> {
    let v = text.trim();
    if !testcar_contract::annotations::is_quantity(v) {
        return None;
    }
    let num_len = v
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+'))
        .unwrap_or(v.len());
    let (num, suffix) = v.split_at(num_len);
    let number: f64 = num.trim_start_matches('+').parse().ok()?;
    let factor = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        exp => {
            let e: i32 = exp[1..].parse().ok()?;
            10f64.powi(e)
        }
    };
    let value = number * factor;
    value.is_finite().then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values() {
        assert_eq!(parse("250m"), Some(0.25));
        assert_eq!(parse("1"), Some(1.0));
        assert_eq!(parse("0.5"), Some(0.5));
        assert_eq!(parse("64Mi"), Some(67_108_864.0));
        assert_eq!(parse("1G"), Some(1e9));
        assert_eq!(parse("1e3"), Some(1000.0));
        assert_eq!(parse("lots"), None);
        assert!(parse("2") > parse("1500m"));
        assert!(parse("1Gi") > parse("1G"));
    }
}
