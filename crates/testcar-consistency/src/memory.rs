//! The checker's memory budget: a sidecar has a cgroup memory limit and the search's cache
//! can grow past any of them, so the limit is found (cgroup v2 or v1, or given), and the
//! part of it the search may use is what is left after the process's current footprint.

/// Cgroup v2's limit file (`max` when unlimited).
const CGROUP_V2: &str = "/sys/fs/cgroup/memory.max";
/// Cgroup v1's limit file (a huge number when unlimited).
const CGROUP_V1: &str = "/sys/fs/cgroup/memory/memory.limit_in_bytes";

/// A memory size that did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected a memory size such as 256MiB, 1GiB, 500M or 1048576 (bytes), found {0:?}")]
pub struct MemorySizeError(pub String);

/// Parse `256MiB`, `1GiB`, `512Mi`, `500M`, `100k`, `1048576`.
pub fn parse_memory_size(s: &str) -> Result<u64, MemorySizeError> {
    let t = s.trim();
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num.parse().map_err(|_| MemorySizeError(s.to_string()))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1_000,
        "ki" | "kib" => 1 << 10,
        "m" | "mb" => 1_000_000,
        "mi" | "mib" => 1 << 20,
        "g" | "gb" => 1_000_000_000,
        "gi" | "gib" => 1 << 30,
        _ => return Err(MemorySizeError(s.to_string())),
    };
    let bytes = n * mult as f64;
    if !bytes.is_finite() || bytes < 1.0 {
        return Err(MemorySizeError(s.to_string()));
    }
    Ok(bytes as u64)
}

/// Bytes for people: `12.3 MiB`.
pub fn show_bytes(b: u64) -> String {
    if b >= 1 << 30 {
        format!("{:.2} GiB", b as f64 / (1u64 << 30) as f64)
    } else if b >= 1 << 20 {
        format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64)
    } else {
        format!("{:.1} KiB", b as f64 / 1024.0)
    }
}

/// The container's memory limit: cgroup v2 `memory.max`, else v1 `memory.limit_in_bytes`;
/// `None` when neither exists or says unlimited.
pub fn cgroup_limit() -> Option<u64> {
    limit_from(
        std::fs::read_to_string(CGROUP_V2).ok().as_deref(),
        std::fs::read_to_string(CGROUP_V1).ok().as_deref(),
    )
}

fn limit_from(v2: Option<&str>, v1: Option<&str>) -> Option<u64> {
    if let Some(v) = v2 {
        return v.trim().parse().ok();
    }
    // v1 reports "unlimited" as a page-rounded i64::MAX.
    v1.and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|&n| n < 1 << 60)
}

/// A field of `/proc/self/status` in bytes (`VmRSS`, `VmHWM`); `None` off Linux.
pub fn proc_status_bytes(field: &str) -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map(|kb| kb * 1024)
}

/// How much of a process memory limit the search may use: the limit less what the process
/// already holds (the parsed history, the runtime) and a margin for the allocator's own
/// overhead and the verdict that is built after the search.
pub fn search_budget(limit: u64, current_rss: u64) -> u64 {
    let margin = (limit / 8).max(8 << 20);
    limit.saturating_sub(current_rss).saturating_sub(margin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_and_decimal_units() {
        assert_eq!(parse_memory_size("256MiB"), Ok(256 << 20));
        assert_eq!(parse_memory_size("256Mi"), Ok(256 << 20));
        assert_eq!(parse_memory_size("1GiB"), Ok(1 << 30));
        assert_eq!(parse_memory_size("500M"), Ok(500_000_000));
        assert_eq!(parse_memory_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_memory_size("1.5GiB"), Ok(3 << 29));
        assert!(parse_memory_size("lots").is_err());
        assert!(parse_memory_size("12 parsecs").is_err());
        assert!(parse_memory_size("0").is_err());
    }

    #[test]
    fn cgroup_v2_then_v1_and_unlimited_is_none() {
        assert_eq!(limit_from(Some("268435456\n"), None), Some(256 << 20));
        assert_eq!(limit_from(Some("max\n"), Some("1000")), None);
        assert_eq!(limit_from(None, Some("268435456\n")), Some(256 << 20));
        assert_eq!(limit_from(None, Some("9223372036854771712\n")), None);
        assert_eq!(limit_from(None, None), None);
    }

    #[test]
    fn budget_leaves_room_for_the_process() {
        assert_eq!(search_budget(256 << 20, 16 << 20), (256 - 16 - 32) << 20);
        assert_eq!(search_budget(32 << 20, 40 << 20), 0);
        assert!(proc_status_bytes("VmHWM").is_some_and(|b| b > 0));
    }
}
