//! A VU's cookie jar, the subset of RFC 6265 that Artillery's jar (tough-cookie) applies to
//! a load test: cookies are scoped to their host (or `Domain`) and `Path`, `Max-Age`/`Expires`
//! in the past removes them, and they are sent longest path first. A `Set-Cookie` that
//! tough-cookie's `setCookie` would throw on is refused ([`CookieRefused`]) so the VU can
//! count it as Artillery does.

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

/// A `Set-Cookie` value tough-cookie (Artillery's jar) throws on: it does not parse (no `=`
/// before the first `;`, an empty name, a control character in the name or value), or its
/// `Domain` is not the server's or a parent of it, or is what tough-cookie takes for a public
/// suffix (an IP address, a single label other than `localhost`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CookieRefused {
    /// `Cookie failed to parse`.
    #[error("Cookie failed to parse")]
    Parse,
    /// `Cookie has domain set to a public suffix`.
    #[error("Cookie has domain set to a public suffix")]
    PublicSuffix,
    /// `Cookie not in this host's domain`.
    #[error("Cookie not in this host's domain")]
    OtherDomain,
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

    /// Store one `Set-Cookie` value received from `url`; a value tough-cookie would throw on
    /// is refused and changes nothing. As tough-cookie's default `prefixSecurity: silent`
    /// does, a `__Secure-` or `__Host-` cookie without its conditions is dropped quietly.
    pub fn store(&mut self, url: &url::Url, header: &str) -> Result<(), CookieRefused> {
        let header = header.trim();
        let (pair, attrs) = header.split_once(';').unwrap_or((header, ""));
        // tough-cookie cuts the pair at a line end or NUL before anything else.
        let pair = pair.split(['\n', '\r', '\0']).next().unwrap_or("");
        let (name, value) = match pair.split_once('=') {
            Some((n, v)) if !n.is_empty() => (n.trim(), v.trim()),
            _ => return Err(CookieRefused::Parse),
        };
        if name.chars().chain(value.chars()).any(|c| c < ' ') {
            return Err(CookieRefused::Parse);
        }
        let host = url.host_str().unwrap_or("").to_ascii_lowercase();
        let mut cookie = Cookie {
            name: name.to_string(),
            value: value.trim_matches('"').to_string(),
            domain: host.clone(),
            subdomains: false,
            path: default_path(url.path()),
        };
        let mut expired = false;
        let mut has_max_age = false;
        let mut secure = false;
        let mut domain = None;
        for attr in attrs.split(';') {
            let (k, v) = attr.split_once('=').unwrap_or((attr, ""));
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
            match k.as_str() {
                "path" if v.starts_with('/') => cookie.path = v.to_string(),
                "secure" => secure = true,
                "domain" => {
                    // One leading dot goes; what is left empty is no Domain at all.
                    let d = v.strip_prefix('.').unwrap_or(v).to_ascii_lowercase();
                    if !d.is_empty() {
                        domain = Some(d);
                    }
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
        if let Some(d) = domain {
            if public_suffix(&d) {
                return Err(CookieRefused::PublicSuffix);
            }
            // A server may only set cookies for itself or a parent domain.
            if !domain_matches(&host, &d) {
                return Err(CookieRefused::OtherDomain);
            }
            cookie.domain = d;
            cookie.subdomains = true;
        }
        let prefix_unmet = (cookie.name.starts_with("__Secure-") && !secure)
            || (cookie.name.starts_with("__Host-")
                && (!secure || cookie.subdomains || cookie.path != "/"));
        if prefix_unmet {
            return Ok(());
        }
        self.cookies.retain(|c| {
            !(c.name == cookie.name && c.domain == cookie.domain && c.path == cookie.path)
        });
        if !expired {
            self.cookies.push(cookie);
        }
        Ok(())
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

/// What tough-cookie's public-suffix check refuses as a `Domain`, without the public suffix
/// list: an IPv4 address (with or without a final dot), a name with an empty label, or a
/// single label other than `localhost` (`com`, `local`, a bare service name). Multi-label
/// suffixes such as `co.uk` are not known here and pass.
fn public_suffix(domain: &str) -> bool {
    let d = domain.strip_suffix('.').unwrap_or(domain);
    if d.parse::<std::net::Ipv4Addr>().is_ok() {
        return true;
    }
    if d.split('.').any(str::is_empty) {
        return true;
    }
    !d.contains('.') && d != "localhost" && !d.contains(':')
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
        jar.store(&base, "sid=abc; Path=/; HttpOnly").unwrap();
        jar.store(&base, "private=yes; Path=/account").unwrap();
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
        jar.store(&mk_url("http://app.test/a/b/form"), "step=2")
            .unwrap();
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
        jar.store(&base, "sid=abc; Path=/").unwrap();
        jar.store(&base, "sid=def; Path=/").unwrap();
        assert_eq!(jar.header_for(&base).as_deref(), Some("sid=def"));
        jar.store(&base, "sid=; Path=/; Max-Age=0").unwrap();
        assert_eq!(jar.header_for(&base), None);
        jar.store(&base, "old=1; Expires=Thu, 01 Jan 1970 00:00:00 GMT")
            .unwrap();
        assert!(jar.is_empty());
    }

    #[test]
    fn cookies_stay_with_their_host() {
        let mut jar = CookieJar::default();
        jar.store(&mk_url("http://api.app.test/"), "sid=abc")
            .unwrap();
        jar.store(&mk_url("http://api.app.test/"), "wide=1; Domain=.app.test")
            .unwrap();
        assert_eq!(
            jar.store(&mk_url("http://api.app.test/"), "evil=1; Domain=other.test"),
            Err(CookieRefused::OtherDomain)
        );
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

    #[test]
    fn set_cookie_values_tough_cookie_throws_on_are_refused() {
        let ip = mk_url("http://127.0.0.1:8080/p/q");
        let name = mk_url("http://svc.example.test/p");
        let mut jar = CookieJar::default();
        for bad in ["novalue", "=x", " =x", "", "   ", "a=b\tc", "a\tb=c", "a"] {
            assert_eq!(jar.store(&ip, bad), Err(CookieRefused::Parse), "{bad:?}");
        }
        for (url, bad) in [
            (&ip, "a=1; Domain=com"),
            (&ip, "a=1; Domain=127.0.0.1"),
            (&ip, "a=1; Domain=.127.0.0.1"),
            (&ip, "a=1; Domain=127.0.0.1."),
            (&ip, "a=1; Domain=.."),
            (&name, "a=1; Domain=svc"),
            (&name, "a=1; Domain=local"),
        ] {
            assert_eq!(
                jar.store(url, bad),
                Err(CookieRefused::PublicSuffix),
                "{bad}"
            );
        }
        for (url, bad) in [
            (&ip, "a=1; Domain=example.com"),
            (&ip, "a=1; Domain=localhost"),
            (&name, "a=1; Domain=other.test"),
        ] {
            assert_eq!(
                jar.store(url, bad),
                Err(CookieRefused::OtherDomain),
                "{bad}"
            );
        }
        assert!(jar.is_empty());
        // What tough-cookie takes: odd attributes are ignored, a line end cuts the value.
        for ok in [
            "a=1; Path=x",
            "b=1; Expires=garbage",
            "c=1; Max-Age=x",
            "d=",
            "e=1;;;",
            "f=1\r\nb",
            "g=1; Domain=",
            "h=1; Domain=.",
            "i=1; SameSite=Bogus",
            "j b=1",
        ] {
            assert_eq!(jar.store(&ip, ok), Ok(()), "{ok}");
        }
        assert_eq!(
            jar.header_for(&ip).as_deref(),
            Some("a=1; b=1; c=1; d=; e=1; f=1; g=1; h=1; i=1; j b=1")
        );
        let mut jar = CookieJar::default();
        jar.store(&name, "a=1; Domain=example.test").unwrap();
        jar.store(&mk_url("http://localhost/"), "l=1; Domain=localhost")
            .unwrap();
        assert_eq!(jar.header_for(&name).as_deref(), Some("a=1"));
    }

    #[test]
    fn prefixed_cookies_without_their_conditions_are_dropped_quietly() {
        let url = mk_url("http://127.0.0.1/");
        let mut jar = CookieJar::default();
        assert_eq!(jar.store(&url, "__Host-a=1"), Ok(()));
        assert_eq!(jar.store(&url, "__Secure-b=1"), Ok(()));
        assert_eq!(jar.store(&url, "__Host-c=1; Secure; Path=/x"), Ok(()));
        assert!(jar.is_empty());
        jar.store(&url, "__Host-d=1; Secure; Path=/").unwrap();
        assert!(!jar.is_empty());
    }
}
