//! `auth.yaml`: an ordered list of credential steps (`oauth2`, `kerberos`, `mtls`, `hmac`,
//! `static`). Secret values are only ever referenced by file path. Errors name the file,
//! the line and the key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use testcar_yaml::{Seg, key_path, locate};

/// The whole credential chain configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AuthConfig {
    /// Steps, run in order at start.
    #[serde(default, with = "testcar_yaml::with::singleton_map_recursive")]
    pub steps: Vec<Step>,
}

/// One step of the chain: exactly one of the kinds, written as a one-key map
/// (`- oauth2: {...}`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Step {
    /// OAuth2 client-credentials grant.
    Oauth2(OAuth2Config),
    /// Kerberos/SPNEGO from a keytab.
    Kerberos(KerberosConfig),
    /// Client certificate (and CA) for TLS to the service.
    Mtls(MtlsConfig),
    /// HMAC request signing.
    Hmac(HmacConfig),
    /// Bearer, basic or headers from files.
    Static(StaticConfig),
}

impl Step {
    /// The step's kind as written in the config.
    pub fn kind(&self) -> &'static str {
        match self {
            Step::Oauth2(_) => "oauth2",
            Step::Kerberos(_) => "kerberos",
            Step::Mtls(_) => "mtls",
            Step::Hmac(_) => "hmac",
            Step::Static(_) => "static",
        }
    }

    /// The step's name: its `name` key, or its kind.
    pub fn name(&self) -> &str {
        let explicit = match self {
            Step::Oauth2(c) => c.name.as_deref(),
            Step::Kerberos(c) => c.name.as_deref(),
            Step::Mtls(c) => c.name.as_deref(),
            Step::Hmac(c) => c.name.as_deref(),
            Step::Static(c) => c.name.as_deref(),
        };
        explicit.unwrap_or(self.kind())
    }
}

/// One string or a list of strings (`scope: a b` or `scope: [a, b]`).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum OneOrMany {
    /// A single value.
    One(String),
    /// Several values.
    Many(Vec<String>),
}

impl OneOrMany {
    /// The values as a list.
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// How the client authenticates to the token endpoint.
#[derive(Debug, Clone, Copy, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMethod {
    /// HTTP Basic with the client id and secret (RFC 6749 §2.3.1).
    #[default]
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
    /// Only `client_id` in the body: the client is authenticated by another step
    /// (`authenticateWith`), e.g. Kerberos or mTLS.
    None,
}

/// `oauth2` step: client-credentials grant (RFC 6749 §4.4).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OAuth2Config {
    /// Step name (default `oauth2`), used by `authenticateWith` and in errors.
    pub name: Option<String>,
    /// Token endpoint URL.
    pub token_url: String,
    /// Client id (not a secret).
    pub client_id: Option<String>,
    /// File holding the client id.
    pub client_id_file: Option<PathBuf>,
    /// File holding the client secret.
    pub client_secret_file: Option<PathBuf>,
    /// `client_secret_basic` (default), `client_secret_post` or `none`.
    #[serde(default)]
    pub auth_method: ClientAuthMethod,
    /// Requested scope(s), joined with spaces.
    pub scope: Option<OneOrMany>,
    /// `audience` parameter (Auth0, Keycloak, Okta style).
    pub audience: Option<String>,
    /// `resource` parameter(s) (RFC 8707).
    pub resource: Option<OneOrMany>,
    /// Extra form parameters for the token request.
    #[serde(default)]
    pub extra_params: BTreeMap<String, String>,
    /// Refresh this long before expiry (default 60s, at most half the lifetime).
    pub refresh_before: Option<String>,
    /// Timeout of one token request (default 10s).
    pub timeout: Option<String>,
    /// Extra CA bundle (PEM) trusted for the token endpoint.
    pub ca_file: Option<PathBuf>,
    /// Name of an earlier step that authenticates the token request (kerberos, mtls, static).
    pub authenticate_with: Option<String>,
    /// Header the token goes into (default `Authorization`, as `Bearer <token>`).
    pub header: Option<String>,
}

/// `kerberos` step: SPNEGO `Authorization: Negotiate` from a keytab.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KerberosConfig {
    /// Step name (default `kerberos`).
    pub name: Option<String>,
    /// Client principal, e.g. `svc-testcar@EXAMPLE.COM`.
    pub principal: String,
    /// Keytab holding the principal's keys. Without it the existing credential cache is used.
    pub keytab_file: Option<PathBuf>,
    /// Service principal in GSSAPI host-based form, e.g. `HTTP@api.example.com`
    /// (default `HTTP@<host of the request URL>`).
    pub service_principal: Option<String>,
}

/// `mtls` step: client certificate for TLS connections to the service.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MtlsConfig {
    /// Step name (default `mtls`).
    pub name: Option<String>,
    /// Client certificate chain (PEM, leaf first).
    pub cert_file: Option<PathBuf>,
    /// Client private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
    /// CA bundle (PEM) trusted for the service's certificate.
    pub ca_file: Option<PathBuf>,
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

/// `static` step: fixed credentials from files.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct StaticConfig {
    /// Step name (default `static`).
    pub name: Option<String>,
    /// File holding a bearer token: `Authorization: Bearer <token>`.
    pub bearer_file: Option<PathBuf>,
    /// Basic credentials: `Authorization: Basic ...`.
    pub basic: Option<BasicConfig>,
    /// File of `Name: value` lines, each added as a header.
    pub headers_file: Option<PathBuf>,
    /// Header name → file holding its value.
    #[serde(default)]
    pub header_files: BTreeMap<String, PathBuf>,
}

/// Basic credentials for a `static` step.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct BasicConfig {
    /// User name (not a secret).
    pub username: Option<String>,
    /// File holding the user name.
    pub username_file: Option<PathBuf>,
    /// File holding the password.
    pub password_file: PathBuf,
}

impl OAuth2Config {
    /// `refreshBefore` as a duration (checked when the config was parsed).
    pub fn refresh_before(&self) -> Option<Duration> {
        self.refresh_before
            .as_deref()
            .and_then(|t| testcar_contract::duration::parse_duration(t).ok())
    }

    /// `timeout` as a duration (checked when the config was parsed).
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
            .as_deref()
            .and_then(|t| testcar_contract::duration::parse_duration(t).ok())
    }
}

/// Why an auth config could not be loaded. Every variant names the file (the origin).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{origin}: cannot read: {source}")]
    Read {
        /// The file.
        origin: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The YAML is malformed or does not match the schema (unknown key, wrong type).
    #[error("{origin}:{line}:{column}: {message}")]
    Syntax {
        /// The file.
        origin: String,
        /// 1-based line (0 when unknown).
        line: usize,
        /// 1-based column (0 when unknown).
        column: usize,
        /// What is wrong, starting with the key path (e.g. `steps[0].oauth2: unknown field ...`).
        message: String,
    },
    /// The YAML is well-formed but a value is not acceptable.
    #[error("{origin}:{line}: {key}: {message}")]
    Invalid {
        /// The file.
        origin: String,
        /// 1-based line of the key (0 when unknown).
        line: usize,
        /// Key path, e.g. `steps[1].oauth2.authenticateWith`.
        key: String,
        /// What was expected.
        message: String,
    },
}

/// A semantic problem found after parsing.
#[derive(Debug)]
struct Problem {
    path: Vec<Seg>,
    message: String,
}

/// Read and check `auth.yaml`. Relative file paths inside resolve against its folder when
/// the chain starts.
pub fn load_config(path: &Path) -> Result<AuthConfig, ConfigError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        origin: origin.clone(),
        source,
    })?;
    parse_config(&text, &origin)
}

/// Read `auth.yaml` from an auth folder (e.g. [`testcar_contract::paths::AUTH_DIR`]);
/// `Ok(None)` when the folder has none (no credentials needed).
pub fn load_from_dir(dir: &Path) -> Result<Option<AuthConfig>, ConfigError> {
    let path = dir.join(testcar_contract::paths::AUTH_FILE);
    if !path.exists() {
        return Ok(None);
    }
    load_config(&path).map(Some)
}

/// Parse and check an auth config from YAML text; `origin` names it in errors (a path, or
/// e.g. `testcar.yaml (auth)`).
pub fn parse_config(yaml: &str, origin: &str) -> Result<AuthConfig, ConfigError> {
    let config: AuthConfig = if yaml.trim().is_empty() {
        AuthConfig { steps: Vec::new() }
    } else {
        testcar_yaml::from_str(yaml).map_err(|e| ConfigError::Syntax {
            origin: origin.to_string(),
            line: e.line,
            column: e.column,
            message: explain(e.explained("")),
        })?
    };
    if let Some(p) = config.problems().into_iter().next() {
        return Err(ConfigError::Invalid {
            origin: origin.to_string(),
            line: locate(yaml, &p.path).unwrap_or(0),
            key: key_path(&p.path),
            message: p.message,
        });
    }
    Ok(config)
}

/// Add what the user most likely meant to serde's wording.
fn explain(mut message: String) -> String {
    if let Some(rest) = message.split("unknown field `").nth(1) {
        let field = rest.split('`').next().unwrap_or("");
        if message.contains(&format!("`{field}File`")) {
            message.push_str(&format!(
                "; secret values are never written inline: put the value in a file and give its path as `{field}File`"
            ));
        }
    }
    if message.ends_with("invalid type: unit variant, expected newtype variant") {
        message.push_str(" (a step needs its settings, e.g. `- oauth2: {tokenUrl: ..., ...}`)");
    }
    message
}

impl AuthConfig {
    /// Check the config's semantics (for configs deserialized as part of another document).
    /// The error's line is 0: the caller knows where the block sits.
    pub fn validate(&self, origin: &str) -> Result<(), ConfigError> {
        match self.problems().into_iter().next() {
            None => Ok(()),
            Some(p) => Err(ConfigError::Invalid {
                origin: origin.to_string(),
                line: 0,
                key: key_path(&p.path),
                message: p.message,
            }),
        }
    }

    /// Names of steps used by another step's `authenticateWith`: they authenticate that
    /// step only and are not applied to requests to the service.
    pub fn consumed_steps(&self) -> Vec<&str> {
        self.steps
            .iter()
            .filter_map(|s| match s {
                Step::Oauth2(c) => c.authenticate_with.as_deref(),
                _ => None,
            })
            .collect()
    }

    fn problems(&self) -> Vec<Problem> {
        let mut out = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        let consumed = self.consumed_steps();
        let mut authorization_setter: Option<String> = None;
        for (i, step) in self.steps.iter().enumerate() {
            let at = |key: &str| {
                let mut p = vec![
                    Seg::Key("steps".into()),
                    Seg::Index(i),
                    Seg::Key(step.kind().into()),
                ];
                if !key.is_empty() {
                    p.push(Seg::Key(key.into()));
                }
                p
            };
            let mut problem = |key: &str, message: String| {
                out.push(Problem {
                    path: at(key),
                    message,
                })
            };
            let name = step.name();
            if name.is_empty() || name.contains(char::is_whitespace) {
                problem("name", "expected a non-empty name without spaces".into());
            }
            if seen.contains(&name) {
                problem(
                    "name",
                    format!("step name `{name}` is used twice; give each step its own `name`"),
                );
            }
            let sets_authorization = !consumed.contains(&name)
                && match step {
                    Step::Oauth2(c) => c
                        .header
                        .as_deref()
                        .is_none_or(|h| h.eq_ignore_ascii_case("authorization")),
                    Step::Kerberos(_) => true,
                    Step::Static(c) => c.bearer_file.is_some() || c.basic.is_some(),
                    Step::Hmac(c) => c
                        .signature_header
                        .as_deref()
                        .is_some_and(|h| h.eq_ignore_ascii_case("authorization")),
                    Step::Mtls(_) => false,
                };
            if sets_authorization {
                if let Some(other) = &authorization_setter {
                    problem(
                        "",
                        format!(
                            "both step `{other}` and step `{name}` set the Authorization header on requests to the service; use `authenticateWith` to chain them or a different `header`"
                        ),
                    );
                }
                authorization_setter = Some(name.to_string());
            }
            match step {
                Step::Oauth2(c) => {
                    match url::Url::parse(&c.token_url) {
                        Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {
                            if !u.username().is_empty() || u.password().is_some() {
                                problem(
                                    "tokenUrl",
                                    "credentials in the URL are not allowed; use clientId and clientSecretFile".into(),
                                );
                            }
                        }
                        Ok(u) => problem(
                            "tokenUrl",
                            format!("expected an http or https URL, got scheme `{}`", u.scheme()),
                        ),
                        Err(e) => problem("tokenUrl", format!("expected a URL: {e}")),
                    }
                    match (&c.client_id, &c.client_id_file) {
                        (None, None) => {
                            problem("clientId", "expected clientId or clientIdFile".into())
                        }
                        (Some(_), Some(_)) => problem(
                            "clientIdFile",
                            "give either clientId or clientIdFile, not both".into(),
                        ),
                        _ => {}
                    }
                    match (c.auth_method, &c.client_secret_file) {
                        (ClientAuthMethod::None, Some(_)) => problem(
                            "clientSecretFile",
                            "authMethod `none` sends no client secret; remove clientSecretFile or choose client_secret_basic/client_secret_post".into(),
                        ),
                        (ClientAuthMethod::None, None) if c.authenticate_with.is_none() => problem(
                            "authMethod",
                            "authMethod `none` needs `authenticateWith` naming the step that authenticates the token request".into(),
                        ),
                        (m, None) if m != ClientAuthMethod::None => problem(
                            "clientSecretFile",
                            "expected the path of the file holding the client secret (or authMethod: none with authenticateWith)".into(),
                        ),
                        _ => {}
                    }
                    if let Some(with) = &c.authenticate_with {
                        match self.steps[..i].iter().find(|s| s.name() == with) {
                            None => problem(
                                "authenticateWith",
                                format!(
                                    "no earlier step is named `{with}`; steps before this one: [{}]",
                                    self.steps[..i]
                                        .iter()
                                        .map(|s| s.name())
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                ),
                            ),
                            Some(Step::Oauth2(_)) | Some(Step::Hmac(_)) => problem(
                                "authenticateWith",
                                format!(
                                    "step `{with}` cannot authenticate a token request; expected a kerberos, mtls or static step"
                                ),
                            ),
                            Some(_) => {}
                        }
                    }
                    if let Some(h) = &c.header {
                        check_header_name(h, "header", &mut problem);
                    }
                    for (key, text) in [
                        ("refreshBefore", &c.refresh_before),
                        ("timeout", &c.timeout),
                    ] {
                        if let Some(t) = text {
                            if let Err(e) = testcar_contract::duration::parse_duration(t) {
                                problem(key, e.to_string());
                            }
                        }
                    }
                }
                Step::Kerberos(c) => {
                    if c.principal.trim().is_empty() {
                        problem("principal", "expected a principal such as svc@REALM".into());
                    }
                    if let Some(sp) = &c.service_principal {
                        if !sp.contains('@') && !sp.contains('/') {
                            problem(
                                "servicePrincipal",
                                format!("expected a host-based name like HTTP@host, got `{sp}`"),
                            );
                        }
                    }
                }
                Step::Mtls(c) => match (&c.cert_file, &c.key_file) {
                    (Some(_), None) => problem(
                        "keyFile",
                        "certFile is given: expected keyFile with its private key".into(),
                    ),
                    (None, Some(_)) => problem(
                        "certFile",
                        "keyFile is given: expected certFile with the certificate".into(),
                    ),
                    (None, None) if c.ca_file.is_none() => problem(
                        "certFile",
                        "expected certFile and keyFile (and/or caFile)".into(),
                    ),
                    _ => {}
                },
                Step::Hmac(c) => {
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
                    if let Err(e) =
                        crate::hmac::Template::parse(canonical, crate::hmac::CANONICAL_FIELDS)
                    {
                        problem("canonical", e);
                    }
                    if let Some(f) = &c.signature_format {
                        if let Err(e) = crate::hmac::Template::parse(f, crate::hmac::FORMAT_FIELDS)
                        {
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
                                check_header_name(h, key, &mut problem);
                            }
                        }
                    }
                }
                Step::Static(c) => {
                    if c.bearer_file.is_some() && c.basic.is_some() {
                        problem(
                            "basic",
                            "give either bearerFile or basic: both set the Authorization header"
                                .into(),
                        );
                    }
                    if c.bearer_file.is_none()
                        && c.basic.is_none()
                        && c.headers_file.is_none()
                        && c.header_files.is_empty()
                    {
                        problem(
                            "",
                            "expected at least one of bearerFile, basic, headersFile, headerFiles"
                                .into(),
                        );
                    }
                    if let Some(b) = &c.basic {
                        if b.username.is_some() == b.username_file.is_some() {
                            problem(
                                "basic",
                                "expected exactly one of username or usernameFile".into(),
                            );
                        }
                    }
                    for name in c.header_files.keys() {
                        check_header_name(name, "headerFiles", &mut problem);
                    }
                }
            }
            seen.push(name);
        }
        out
    }
}

fn check_header_name(name: &str, key: &str, problem: &mut impl FnMut(&str, String)) {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !ok {
        problem(key, format!("`{name}` is not a valid HTTP header name"));
    }
}

#[cfg(test)]
mod tests;
