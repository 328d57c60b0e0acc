//! A VU's cookie jar, the subset of RFC 6265 that Artillery's jar (tough-cookie) applies to
//! a load test: cookies are scoped to their host (or `Domain`) and `Path`, `Max-Age`/`Expires`
//! in the past removes them, and they are sent longest path first.

use chrono::{DateTime, Utc};

/// One stored cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cookie {
    name: String,
    value: String,
    /// Lower-case host, or the `Domain` attribute without its leading dot.
    domain: String,
    /// Sent to subdomains of `domain` too (a `Domain` attribute was given).
    subdomains: bool,
    path: String,
}

/// The cookies one VU received.
#[derive(Debug, Clone, Default)]
pub struct CookieJar {
    /// In creation order, which breaks ties between paths of the same length.
    cookies: Vec<Cookie>,
}

impl CookieJar {
    /// Whether nothing is stored (the common case: no `cookie` header to build).
    pub fn is_empty(&self) -> bool {
        self.cookies.is_empty()
    }

    /// Store one `Set-Cookie` value received from `url`.
    pub fn store(&mut self, url: &url::Url, header: &str) {
        let mut parts = header.split(';');
        let Some((name, value)) = parts.next().and_then(|p| p.split_once('=')) else {
            return;
        };
        let host = url.host_str().unwrap_or("").to_ascii_lowercase();
        let mut cookie = Cookie {
            name: name.trim().to_string(),
            value: value.trim().trim_matches('"').to_string(),
            domain: host.clone(),
            subdomains: false,
            path: default_path(url.path()),
        };
        if cookie.name.is_empty() {
            return;
        }
        let mut expired = false;
        let mut has_max_age = false;
        for attr in parts {
            let (k, v) = attr.split_once('=').unwrap_or((attr, ""));
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            match k.as_str() {
                "path" if v.starts_with('/') => cookie.path = v.to_string(),
                "domain" if !v.is_empty() => {
                    let d = v.trim_start_matches('.').to_ascii_lowercase();
                    // A server may only set cookies for itself or a parent domain.
                    if !domain_matches(&host, &d) {
                        return;
                    }
                    cookie.domain = d;
                    cookie.subdomains = true;
                }
                "max-age" => {
                    if let Ok(secs) = v.parse::<i64>() {
                        has_max_age = true;
                        expired = secs <= 0;
                    }
                }
                "expires" if !has_max_age => {
                    if let Ok(at) = DateTime::parse_from_rfc2822(&v.replace('-', " ")) {
                        expired = at.with_timezone(&Utc) <= Utc::now();
                    }
                }
                _ => {}
            }
        }
        self.cookies.retain(|c| {
            !(c.name == cookie.name && c.domain == cookie.domain && c.path == cookie.path)
        });
        if !expired {
            self.cookies.push(cookie);
        }
    }

    /// The `cookie` header for a request to `url`, if any cookie applies.
    pub fn header_for(&self, url: &url::Url) -> Option<String> {
        let host = url.host_str().unwrap_or("").to_ascii_lowercase();
        let path = url.path();
        let mut matching: Vec<&Cookie> = self
            .cookies
            .iter()
            .filter(|c| {
                let host_ok = if c.subdomains {
                    domain_matches(&host, &c.domain)
                } else {
                    host == c.domain
                };
                host_ok && path_matches(path, &c.path)
            })
            .collect();
        if matching.is_empty() {
            return None;
        }
        // Longest path first; the sort is stable, so older cookies first among equals.
        matching.sort_by_key(|c| std::cmp::Reverse(c.path.len()));
        Some(
            matching
                .iter()
                .map(|c| format!("{}={}", c.name, c.value))
                .collect::<Vec<_>>()
                .join("; "),
        )
    }
}

/// RFC 6265 §5.1.4: the directory of the request path.
fn default_path(path: &str) -> String {
    match path.rfind('/') {
        Some(0) | None => "/".to_string(),
        Some(i) => path[..i].to_string(),
    }
}

fn path_matches(request: &str, cookie: &str) -> bool {
    request == cookie
        || (request.starts_with(cookie)
            && (cookie.ends_with('/') || request.as_bytes().get(cookie.len()) == Some(&b'/')))
}

fn domain_matches(host: &str, domain: &str) -> bool {
    host == domain
        || (host.ends_with(domain)
            && host.as_bytes().get(host.len() - domain.len() - 1) == Some(&b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mk_url(s: &str) -> url::Url {
        url::Url::parse(s).unwrap()
    }

    #[test]
    fn path_scoping_and_order() {
        let mut jar = CookieJar::default();
        let base = mk_url("http://app.test/login");
        jar.store(&base, "sid=abc; Path=/; HttpOnly");
        jar.store(&base, "private=yes; Path=/account");
        assert_eq!(
            jar.header_for(&mk_url("http://app.test/cart")).as_deref(),
            Some("sid=abc")
        );
        assert_eq!(
            jar.header_for(&mk_url("http://app.test/account/orders"))
                .as_deref(),
            Some("private=yes; sid=abc")
        );
        // "/accounts" is not under "/account".
        assert_eq!(
            jar.header_for(&mk_url("http://app.test/accounts"))
                .as_deref(),
            Some("sid=abc")
        );
        // Without Path, the default is the directory of the request.
        jar.store(&mk_url("http://app.test/a/b/form"), "step=2");
        assert!(
            jar.header_for(&mk_url("http://app.test/a/b/next"))
                .unwrap()
                .contains("step=2")
        );
        assert!(
            !jar.header_for(&mk_url("http://app.test/a/other"))
                .unwrap()
                .contains("step=2")
        );
    }

    #[test]
    fn expiry_replaces_and_removes() {
        let mut jar = CookieJar::default();
        let base = mk_url("http://app.test/");
        jar.store(&base, "sid=abc; Path=/");
        jar.store(&base, "sid=def; Path=/");
        assert_eq!(jar.header_for(&base).as_deref(), Some("sid=def"));
        jar.store(&base, "sid=; Path=/; Max-Age=0");
        assert_eq!(jar.header_for(&base), None);
        jar.store(&base, "old=1; Expires=Thu, 01 Jan 1970 00:00:00 GMT");
        assert!(jar.is_empty());
    }

    #[test]
    fn cookies_stay_with_their_host() {
        let mut jar = CookieJar::default();
        jar.store(&mk_url("http://api.app.test/"), "sid=abc");
        jar.store(&mk_url("http://api.app.test/"), "wide=1; Domain=.app.test");
        jar.store(&mk_url("http://api.app.test/"), "evil=1; Domain=other.test");
        assert_eq!(
            jar.header_for(&mk_url("http://api.app.test/x")).as_deref(),
            Some("sid=abc; wide=1")
        );
        assert_eq!(
            jar.header_for(&mk_url("http://www.app.test/x")).as_deref(),
            Some("wide=1")
        );
        assert_eq!(jar.header_for(&mk_url("http://other.test/")), None);
    }
}
