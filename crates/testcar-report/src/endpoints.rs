//! Per-endpoint rows from Artillery's metrics-by-endpoint plugin names:
//! counters `plugins.metrics-by-endpoint.<endpoint>.codes.<n>` / `.errors.<code>` and
//! summaries `plugins.metrics-by-endpoint.response_time.<endpoint>`.

use std::collections::BTreeMap;

use crate::periods::Summary;

const PREFIX: &str = "plugins.metrics-by-endpoint.";
const RESPONSE_TIME: &str = "response_time.";

/// What was measured for one endpoint.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Endpoint {
    /// The endpoint as the plugin names it (a path, or a request name).
    pub name: String,
    /// Responses by status code.
    pub codes: BTreeMap<String, u64>,
    /// Failed requests by error code.
    pub errors: BTreeMap<String, u64>,
    /// Response time summary.
    pub latency: Option<Summary>,
}

impl Endpoint {
    /// Requests that got a response or an error.
    pub fn requests(&self) -> u64 {
        self.codes.values().sum::<u64>() + self.errors.values().sum::<u64>()
    }

    /// Responses with a 4xx/5xx status plus failed requests.
    pub fn failures(&self) -> u64 {
        self.codes
            .iter()
            .filter(|(c, _)| c.starts_with('4') || c.starts_with('5'))
            .map(|(_, n)| n)
            .sum::<u64>()
            + self.errors.values().sum::<u64>()
    }
}

/// Collect endpoints from counters and summaries, ordered by name.
pub fn collect<'a>(
    counters: impl IntoIterator<Item = (&'a str, u64)>,
    summaries: impl IntoIterator<Item = (&'a str, Summary)>,
) -> Vec<Endpoint> {
    let mut by_name: BTreeMap<String, Endpoint> = BTreeMap::new();
    fn entry<'m>(by_name: &'m mut BTreeMap<String, Endpoint>, name: &str) -> &'m mut Endpoint {
        by_name.entry(name.to_string()).or_insert_with(|| Endpoint {
            name: name.to_string(),
            ..Endpoint::default()
        })
    }
    for (key, value) in counters {
        let Some(rest) = key.strip_prefix(PREFIX) else {
            continue;
        };
        // Endpoint names may contain dots (`/v1.2/items`): split at the last marker.
        if let Some(at) = rest.rfind(".codes.") {
            let e = entry(&mut by_name, &rest[..at]);
            *e.codes.entry(rest[at + 7..].to_string()).or_default() += value;
        } else if let Some(at) = rest.rfind(".errors.") {
            let e = entry(&mut by_name, &rest[..at]);
            *e.errors.entry(rest[at + 8..].to_string()).or_default() += value;
        }
    }
    for (key, summary) in summaries {
        if let Some(name) = key
            .strip_prefix(PREFIX)
            .and_then(|r| r.strip_prefix(RESPONSE_TIME))
        {
            entry(&mut by_name, name).latency = Some(summary);
        }
    }
    by_name.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_with_dots_codes_errors_and_latency() {
        let counters = [
            ("plugins.metrics-by-endpoint./dino.codes.200", 1263),
            ("plugins.metrics-by-endpoint./dino.errors.ETIMEDOUT", 1797),
            ("plugins.metrics-by-endpoint./v1.2/items.codes.200", 5),
            ("plugins.metrics-by-endpoint./v1.2/items.codes.503", 2),
            ("http.codes.200", 1268),
        ];
        let summaries = [(
            "plugins.metrics-by-endpoint.response_time./dino",
            Summary {
                p95: Some(257.3),
                ..Summary::default()
            },
        )];
        let eps = collect(counters, summaries);
        assert_eq!(eps.len(), 2);
        assert_eq!(eps[0].name, "/dino");
        assert_eq!(eps[0].requests(), 3060);
        assert_eq!(eps[0].failures(), 1797);
        assert_eq!(eps[0].latency.unwrap().p95, Some(257.3));
        assert_eq!(eps[1].name, "/v1.2/items");
        assert_eq!(eps[1].codes.get("503"), Some(&2));
        assert_eq!(eps[1].failures(), 2);
        assert!(eps[1].latency.is_none());
    }

    #[test]
    fn nothing_without_the_plugin() {
        assert!(collect([("http.codes.200", 3)], []).is_empty());
    }
}
