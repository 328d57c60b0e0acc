//! `hmac` step: signs every request with a shared key. A canonical string is built from a
//! template over the request (method, path, query, timestamp, body digest), MACed, and sent
//! in configurable headers along with the timestamp and key id.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha384, Sha512};

use futures::FutureExt as _;
use futures::future::BoxFuture;

use crate::apply::{AuthError, ClientTls, RequestAuth, RequestParts};
use crate::secret::{Secret, read_secret_file, resolve};
use serde::Deserialize;

/// The canonical string when none is configured: one field per line.
pub const DEFAULT_CANONICAL: &str = "{method}\n{path}\n{query}\n{timestamp}\n{bodySha256}";

/// Fields the canonical template may use.
pub const CANONICAL_FIELDS: &[&str] = &[
    "method",
    "host",
    "path",
    "query",
    "sortedQuery",
    "timestamp",
    "bodySha256",
    "bodySha256Base64",
    "keyId",
];

/// Fields the signature header's format may use.
pub const FORMAT_FIELDS: &[&str] = &["signature", "keyId", "timestamp", "algorithm"];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Field(String),
}

/// A string with `{field}` placeholders (`{{` and `}}` for literal braces).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template(Vec<Piece>);

impl Template {
    /// Parse a template, accepting only the `allowed` field names.
    pub fn parse(text: &str, allowed: &[&str]) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut text_buf = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    text_buf.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    text_buf.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(ch) => name.push(ch),
                            None => return Err(format!("unclosed `{{{name}` in template")),
                        }
                    }
                    if !allowed.contains(&name.as_str()) {
                        return Err(format!(
                            "unknown field `{{{name}}}`; expected one of {}",
                            allowed
                                .iter()
                                .map(|f| format!("{{{f}}}"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ));
                    }
                    if !text_buf.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut text_buf)));
                    }
                    pieces.push(Piece::Field(name));
                }
                '}' => {
                    return Err("unmatched `}` in template (write `}}` for a literal one)".into());
                }
                c => text_buf.push(c),
            }
        }
        if !text_buf.is_empty() {
            pieces.push(Piece::Text(text_buf));
        }
        Ok(Template(pieces))
    }

    /// Fill the template; `value` gives each field's text.
    pub fn render(&self, value: impl Fn(&str) -> String) -> String {
        let mut out = String::new();
        for p in &self.0 {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Field(f) => out.push_str(&value(f)),
            }
        }
        out
    }
}

/// Signs requests for one `hmac` step.
#[derive(Debug)]
pub struct HmacSigner {
    step: String,
    key_id: Option<String>,
    secret: Secret,
    algorithm: HmacAlgorithm,
    canonical: Template,
    format: Template,
    signature_header: String,
    timestamp_header: Option<String>,
    key_id_header: Option<String>,
    encoding: SignatureEncoding,
    timestamp_format: TimestampFormat,
}

impl HmacSigner {
    /// Read the key (and key id) files and prepare the templates.
    pub fn from_config(step: &str, c: &HmacConfig, base_dir: &Path) -> Result<Self, AuthError> {
        let err = |message: String| AuthError {
            step: step.to_string(),
            message,
        };
        let secret = read_secret_file(&resolve(base_dir, &c.secret_file))
            .map_err(|e| err(format!("secretFile: {e}")))?;
        let key_id = match (&c.key_id, &c.key_id_file) {
            (Some(id), _) => Some(id.clone()),
            (None, Some(f)) => Some(
                read_secret_file(&resolve(base_dir, f))
                    .map_err(|e| err(format!("keyIdFile: {e}")))?
                    .expose()
                    .to_string(),
            ),
            (None, None) => None,
        };
        let canonical = Template::parse(
            c.canonical.as_deref().unwrap_or(DEFAULT_CANONICAL),
            CANONICAL_FIELDS,
        )
        .map_err(|e| err(format!("canonical: {e}")))?;
        let format = Template::parse(
            c.signature_format.as_deref().unwrap_or("{signature}"),
            FORMAT_FIELDS,
        )
        .map_err(|e| err(format!("signatureFormat: {e}")))?;
        let optional_header = |h: &Option<String>, default: &str| match h.as_deref() {
            Some("") => None,
            Some(h) => Some(h.to_string()),
            None => Some(default.to_string()),
        };
        Ok(HmacSigner {
            step: step.to_string(),
            key_id_header: if key_id.is_some() {
                optional_header(&c.key_id_header, "X-Key-Id")
            } else {
                None
            },
            key_id,
            secret,
            algorithm: c.algorithm,
            canonical,
            format,
            signature_header: c
                .signature_header
                .clone()
                .unwrap_or_else(|| "X-Signature".into()),
            timestamp_header: optional_header(&c.timestamp_header, "X-Timestamp"),
            encoding: c.encoding,
            timestamp_format: c.timestamp_format,
        })
    }

    fn timestamp(&self, now: DateTime<Utc>) -> String {
        match self.timestamp_format {
            TimestampFormat::Unix => now.timestamp().to_string(),
            TimestampFormat::UnixMillis => now.timestamp_millis().to_string(),
            TimestampFormat::Rfc3339 => now.to_rfc3339_opts(SecondsFormat::Secs, true),
        }
    }

    /// The string that is MACed for this request at this timestamp.
    pub fn canonical_string(
        &self,
        req: RequestParts<'_>,
        timestamp: &str,
    ) -> Result<String, AuthError> {
        let url = url::Url::parse(req.url).map_err(|e| AuthError {
            step: self.step.clone(),
            message: format!("cannot sign a request to an invalid URL: {e}"),
        })?;
        let host = match (url.host_str(), url.port()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => String::new(),
        };
        let query = url.query().unwrap_or("").to_string();
        let body = Sha256::digest(req.body);
        Ok(self.canonical.render(|field| match field {
            "method" => req.method.to_ascii_uppercase(),
            "host" => host.clone(),
            "path" => url.path().to_string(),
            "query" => query.clone(),
            "sortedQuery" => {
                let mut pairs: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
                pairs.sort_unstable();
                pairs.join("&")
            }
            "timestamp" => timestamp.to_string(),
            "bodySha256" => hex(&body),
            "bodySha256Base64" => base64::engine::general_purpose::STANDARD.encode(body),
            "keyId" => self.key_id.clone().unwrap_or_default(),
            _ => String::new(),
        }))
    }

    /// Headers for one request signed at `now`.
    pub fn sign(
        &self,
        req: RequestParts<'_>,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, String)>, AuthError> {
        let timestamp = self.timestamp(now);
        let canonical = self.canonical_string(req, &timestamp)?;
        let key = self.secret.expose().as_bytes();
        let mac = match self.algorithm {
            HmacAlgorithm::HmacSha256 => mac_bytes::<Hmac<Sha256>>(key, canonical.as_bytes()),
            HmacAlgorithm::HmacSha384 => mac_bytes::<Hmac<Sha384>>(key, canonical.as_bytes()),
            HmacAlgorithm::HmacSha512 => mac_bytes::<Hmac<Sha512>>(key, canonical.as_bytes()),
        };
        let signature = match self.encoding {
            SignatureEncoding::Base64 => base64::engine::general_purpose::STANDARD.encode(mac),
            SignatureEncoding::Hex => hex(&mac),
        };
        let algorithm = match self.algorithm {
            HmacAlgorithm::HmacSha256 => "HMAC-SHA256",
            HmacAlgorithm::HmacSha384 => "HMAC-SHA384",
            HmacAlgorithm::HmacSha512 => "HMAC-SHA512",
        };
        let mut headers = vec![(
            self.signature_header.clone(),
            self.format.render(|f| match f {
                "signature" => signature.clone(),
                "keyId" => self.key_id.clone().unwrap_or_default(),
                "timestamp" => timestamp.clone(),
                "algorithm" => algorithm.to_string(),
                _ => String::new(),
            }),
        )];
        if let Some(h) = &self.timestamp_header {
            headers.push((h.clone(), timestamp.clone()));
        }
        if let (Some(h), Some(id)) = (&self.key_id_header, &self.key_id) {
            headers.push((h.clone(), id.clone()));
        }
        Ok(headers)
    }
}

impl RequestAuth for HmacSigner {
    fn headers<'a>(
        &'a self,
        req: RequestParts<'a>,
    ) -> BoxFuture<'a, Result<Vec<(String, String)>, AuthError>> {
        futures::future::ready(self.sign(req, Utc::now())).boxed()
    }

    fn refresh(&self) -> BoxFuture<'_, Result<bool, AuthError>> {
        futures::future::ready(Ok(false)).boxed()
    }

    fn client_tls(&self) -> Option<&ClientTls> {
        None
    }
}

fn mac_bytes<M: Mac + hmac::digest::KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = <M as Mac>::new_from_slice(key).expect("HMAC accepts keys of any length");
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// HMAC algorithms.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum HmacAlgorithm {
    /// HMAC with SHA-256 (default).
    #[default]
    HmacSha256,
    /// HMAC with SHA-384.
    HmacSha384,
    /// HMAC with SHA-512.
    HmacSha512,
}

/// How the signature bytes are written.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum SignatureEncoding {
    /// Standard base64 with padding (default).
    #[default]
    Base64,
    /// Lower-case hex.
    Hex,
}

/// How the timestamp is written.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum TimestampFormat {
    /// Seconds since the Unix epoch (default).
    #[default]
    Unix,
    /// Milliseconds since the Unix epoch.
    UnixMillis,
    /// RFC 3339 in UTC, e.g. `2026-01-02T03:04:05Z`.
    Rfc3339,
}

/// `hmac` step: sign every request.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HmacConfig {
    /// Step name (default `hmac`).
    pub name: Option<String>,
    /// Key id sent in `keyIdHeader` (not a secret).
    pub key_id: Option<String>,
    /// File holding the key id.
    pub key_id_file: Option<PathBuf>,
    /// File holding the shared secret key.
    pub secret_file: PathBuf,
    /// `hmac-sha256` (default), `hmac-sha384`, `hmac-sha512`.
    #[serde(default)]
    pub algorithm: HmacAlgorithm,
    /// Canonical string template; see [`crate::hmac::DEFAULT_CANONICAL`].
    pub canonical: Option<String>,
    /// Signature header (default `X-Signature`).
    pub signature_header: Option<String>,
    /// Template of the signature header's value (default `{signature}`).
    pub signature_format: Option<String>,
    /// Timestamp header (default `X-Timestamp`); `""` sends none.
    pub timestamp_header: Option<String>,
    /// Key id header (default `X-Key-Id`); `""` sends none.
    pub key_id_header: Option<String>,
    /// `base64` (default) or `hex`.
    #[serde(default)]
    pub encoding: SignatureEncoding,
    /// `unix` (default), `unixMillis` or `rfc3339`.
    #[serde(default)]
    pub timestamp_format: TimestampFormat,
}

impl HmacConfig {
    /// This step's own checks (a key path under the step, and why); the chain's checks
    /// (names, who sets `Authorization`, `authenticateWith`) are in `config`.
    pub(crate) fn check(&self, problem: &mut impl FnMut(&str, String)) {
        let c = self;
        if c.key_id.is_some() && c.key_id_file.is_some() {
            problem(
                "keyIdFile",
                "give either keyId or keyIdFile, not both".into(),
            );
        }
        let canonical = c
            .canonical
            .as_deref()
            .unwrap_or(crate::hmac::DEFAULT_CANONICAL);
        if let Err(e) = crate::hmac::Template::parse(canonical, crate::hmac::CANONICAL_FIELDS) {
            problem("canonical", e);
        }
        if let Some(f) = &c.signature_format {
            if let Err(e) = crate::hmac::Template::parse(f, crate::hmac::FORMAT_FIELDS) {
                problem("signatureFormat", e);
            }
        }
        for (key, h) in [
            ("signatureHeader", &c.signature_header),
            ("timestampHeader", &c.timestamp_header),
            ("keyIdHeader", &c.key_id_header),
        ] {
            if let Some(h) = h {
                if !(key != "signatureHeader" && h.is_empty()) {
                    crate::apply::check_header_name(h, key, problem);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn mk_signer(dir: &Path, extra: &str) -> HmacSigner {
        std::fs::write(dir.join("hmac-key"), "s3cr3t-hmac-key\n").unwrap();
        let yaml =
            format!("steps:\n  - hmac:\n      keyId: key-1\n      secretFile: hmac-key\n{extra}");
        let c = crate::config::parse_config(&yaml, "auth.yaml").unwrap();
        let crate::config::Step::Hmac(h) = &c.steps[0] else {
            panic!()
        };
        HmacSigner::from_config("hmac", h, dir).unwrap()
    }

    fn mk_req<'a>(url: &'a str, body: &'a [u8]) -> RequestParts<'a> {
        RequestParts {
            method: "post",
            url,
            body,
        }
    }

    #[test]
    fn template_rejects_unknown_and_unbalanced() {
        assert!(Template::parse("{method}{{x}}", CANONICAL_FIELDS).is_ok());
        let e = Template::parse("{verb}", CANONICAL_FIELDS).unwrap_err();
        assert!(e.contains("unknown field `{verb}`"), "{e}");
        assert!(Template::parse("{method", CANONICAL_FIELDS).is_err());
        assert!(Template::parse("a}b", CANONICAL_FIELDS).is_err());
    }

    #[test]
    fn default_canonical_string() {
        let dir = tempfile::tempdir().unwrap();
        let s = mk_signer(dir.path(), "");
        let c = s
            .canonical_string(
                mk_req("http://127.0.0.1:8080/a/b?z=1&a=2", b"{}"),
                "1700000000",
            )
            .unwrap();
        assert_eq!(
            c,
            "POST\n/a/b\nz=1&a=2\n1700000000\n44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }

    #[test]
    fn known_vector_and_headers() {
        let dir = tempfile::tempdir().unwrap();
        let s = mk_signer(
            dir.path(),
            "      canonical: \"{method} {sortedQuery}\"\n      encoding: hex\n      signatureHeader: Authorization\n      signatureFormat: \"{algorithm} Credential={keyId}, Signature={signature}\"\n      timestampFormat: rfc3339\n",
        );
        let now = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap();
        let h = s.sign(mk_req("http://h/p?b=2&a=1", b""), now).unwrap();
        // python3 -c 'import hmac,hashlib;print(hmac.new(b"s3cr3t-hmac-key",b"POST a=1&b=2",hashlib.sha256).hexdigest())'
        assert_eq!(h[0].0, "Authorization");
        assert_eq!(
            h[0].1,
            "HMAC-SHA256 Credential=key-1, Signature=3a774535f006e3b9ce59fc6747aed739544d7ca6079bd4971892d48af81fa0b7"
        );
        assert_eq!(h[1], ("X-Timestamp".into(), "2026-01-02T03:04:05Z".into()));
        assert_eq!(h[2], ("X-Key-Id".into(), "key-1".into()));
    }

    #[test]
    fn debug_hides_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let s = mk_signer(dir.path(), "");
        assert!(!format!("{s:?}").contains("s3cr3t-hmac-key"));
    }
}
