//! `oauth2` step: the client-credentials grant (RFC 6749 §4.4). The token is cached,
//! refreshed in the background before it expires, refreshed once more when the service
//! answers 401, and token-endpoint errors carry the server's `error`/`error_description`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use futures::FutureExt as _;
use futures::future::BoxFuture;
use tracing::Instrument as _;

use crate::apply::{AuthError, ClientTls, RequestAuth, RequestParts};
use crate::mtls::{client_config, load_certs};
use crate::secret::{Secret, read_secret_file, resolve};
use serde::Deserialize;

const DEFAULT_REFRESH_BEFORE: Duration = Duration::from_secs(60);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// What authenticates the token request itself (`authenticateWith`).
#[derive(Debug, Default)]
pub struct TokenRequestAuth {
    /// Headers per token request (Kerberos Negotiate, static headers).
    pub headers: Option<Arc<dyn RequestAuth>>,
    /// Client certificate for the token endpoint.
    pub tls: Option<ClientTls>,
}

/// An access token and when it was obtained.
#[derive(Debug, Clone)]
pub struct Token {
    /// The access token.
    pub access_token: Secret,
    /// Lifetime the server gave (`expires_in`), if any.
    pub expires_in: Option<Duration>,
    /// When the response arrived.
    pub obtained: Instant,
}

impl Token {
    fn expires_at(&self) -> Option<Instant> {
        self.expires_in.map(|d| self.obtained + d)
    }
}

type TokenListener = Box<dyn Fn(&Secret) + Send + Sync>;

/// One `oauth2` step: requests tokens and keeps the current one fresh.
pub struct OAuth2Source {
    step: String,
    token_url: String,
    client_id: String,
    client_secret: Option<Secret>,
    method: ClientAuthMethod,
    params: Vec<(String, String)>,
    http: reqwest::Client,
    request_auth: Option<Arc<dyn RequestAuth>>,
    refresh_before: Duration,
    header: String,
    current: Mutex<Token>,
    refresh_lock: tokio::sync::Mutex<()>,
    /// Bumped on every new token; a refresh that waited for another one reuses its result
    /// (many requests may see the same 401 at once, and one token request answers them all).
    generation: AtomicU64,
    listeners: Mutex<Vec<TokenListener>>,
}

impl std::fmt::Debug for OAuth2Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuth2Source")
            .field("step", &self.step)
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("method", &self.method)
            .field("header", &self.header)
            .finish_non_exhaustive()
    }
}

impl OAuth2Source {
    /// Read the client's files, request the first token and start the background refresh.
    pub async fn start(
        step: &str,
        c: &OAuth2Config,
        base_dir: &Path,
        auth: TokenRequestAuth,
    ) -> Result<Arc<Self>, AuthError> {
        let err = |message: String| AuthError {
            step: step.to_string(),
            message,
        };
        let client_id = match (&c.client_id, &c.client_id_file) {
            (Some(id), _) => id.clone(),
            (None, Some(f)) => read_secret_file(&resolve(base_dir, f))
                .map_err(|e| err(format!("clientIdFile: {e}")))?
                .expose()
                .to_string(),
            (None, None) => return Err(err("expected clientId or clientIdFile".into())),
        };
        let client_secret = match &c.client_secret_file {
            Some(f) => Some(
                read_secret_file(&resolve(base_dir, f))
                    .map_err(|e| err(format!("clientSecretFile: {e}")))?,
            ),
            None => None,
        };
        let mut tls = auth.tls.unwrap_or(ClientTls {
            cert_chain: Vec::new(),
            key: None,
            roots: Vec::new(),
        });
        if let Some(ca) = &c.ca_file {
            tls.roots.extend(
                load_certs(&resolve(base_dir, ca)).map_err(|e| err(format!("caFile: {e}")))?,
            );
        }
        let tls_config = client_config(Some(&tls)).map_err(|e| err(format!("tls: {e}")))?;
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(tls_config)
            .timeout(c.timeout().unwrap_or(DEFAULT_TIMEOUT))
            // a redirect would carry the client's credentials elsewhere
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("testcar/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| err(format!("cannot build the HTTP client: {e}")))?;
        let mut params = vec![("grant_type".to_string(), "client_credentials".to_string())];
        if let Some(scope) = &c.scope {
            params.push(("scope".into(), scope.to_vec().join(" ")));
        }
        if let Some(aud) = &c.audience {
            params.push(("audience".into(), aud.clone()));
        }
        for r in c.resource.iter().flat_map(|r| r.to_vec()) {
            params.push(("resource".into(), r));
        }
        params.extend(c.extra_params.iter().map(|(k, v)| (k.clone(), v.clone())));
        let mut source = OAuth2Source {
            step: step.to_string(),
            token_url: c.token_url.clone(),
            client_id,
            client_secret,
            method: c.auth_method,
            params,
            http,
            request_auth: auth.headers,
            refresh_before: c.refresh_before().unwrap_or(DEFAULT_REFRESH_BEFORE),
            header: c.header.clone().unwrap_or_else(|| "Authorization".into()),
            current: Mutex::new(Token {
                access_token: Secret::new(""),
                expires_in: Some(Duration::ZERO),
                obtained: Instant::now(),
            }),
            refresh_lock: tokio::sync::Mutex::new(()),
            generation: AtomicU64::new(0),
            listeners: Mutex::new(Vec::new()),
        };
        let first = source.request_token().await?;
        tracing::info!(step = %source.step, expires_in = ?first.expires_in, "oauth2 token obtained");
        source.current = Mutex::new(first);
        let source = Arc::new(source);
        let weak = Arc::downgrade(&source);
        tokio::spawn(
            refresh_loop(weak).instrument(tracing::info_span!("oauth2_refresh", step = %step)),
        );
        Ok(source)
    }

    fn err(&self, message: String) -> AuthError {
        AuthError {
            step: self.step.clone(),
            message,
        }
    }

    /// Replace every occurrence of the client secret, in case a server echoes it.
    fn scrub(&self, text: &str) -> String {
        match &self.client_secret {
            Some(s) if !s.expose().is_empty() => text.replace(s.expose(), "<redacted>"),
            _ => text.to_string(),
        }
    }

    /// One token request against the endpoint.
    pub async fn request_token(&self) -> Result<Token, AuthError> {
        let mut form = self.params.clone();
        let mut req = self.http.post(&self.token_url);
        match self.method {
            ClientAuthMethod::ClientSecretBasic => {
                // RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding
                let id = form_encode(&self.client_id);
                let secret = form_encode(self.client_secret.as_ref().map_or("", |s| s.expose()));
                req = req.basic_auth(id, Some(secret));
            }
            ClientAuthMethod::ClientSecretPost => {
                form.push(("client_id".into(), self.client_id.clone()));
                if let Some(s) = &self.client_secret {
                    form.push(("client_secret".into(), s.expose().to_string()));
                }
            }
            ClientAuthMethod::None => form.push(("client_id".into(), self.client_id.clone())),
        }
        if let Some(auth) = &self.request_auth {
            let body = serde_urlencoded_body(&form);
            let headers = auth
                .headers(RequestParts {
                    method: "POST",
                    url: &self.token_url,
                    body: body.as_bytes(),
                })
                .await
                .map_err(|e| {
                    self.err(format!(
                        "cannot authenticate the token request with step `{}`: {}",
                        e.step, e.message
                    ))
                })?;
            for (n, v) in headers {
                req = req.header(n, v);
            }
        }
        let resp = req.form(&form).send().await.map_err(|e| {
            self.err(format!(
                "token endpoint {} unreachable: {}",
                self.token_url,
                self.scrub(&error_chain(&e))
            ))
        })?;
        let status = resp.status();
        let challenge = resp
            .headers()
            .get_all(reqwest::header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(|v| v.split_whitespace().next().unwrap_or("").to_string())
            .collect::<Vec<_>>();
        let obtained = Instant::now();
        let text = resp.text().await.map_err(|e| {
            self.err(format!(
                "token endpoint {} answered {status} but the body could not be read: {}",
                self.token_url,
                error_chain(&e)
            ))
        })?;
        if !status.is_success() {
            return Err(self.err(self.describe_failure(status, &challenge, &text)));
        }
        let body: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            self.err(format!(
                "token endpoint {} answered {status} with a body that is not JSON ({e})",
                self.token_url
            ))
        })?;
        let Some(token) = body.get("access_token").and_then(|t| t.as_str()) else {
            return Err(self.err(format!(
                "token endpoint {} answered {status} without an access_token",
                self.token_url
            )));
        };
        if let Some(tt) = body.get("token_type").and_then(|t| t.as_str()) {
            if !tt.eq_ignore_ascii_case("bearer") {
                return Err(self.err(format!(
                    "token endpoint {} issued a token of type `{tt}`; only Bearer tokens are supported",
                    self.token_url
                )));
            }
        }
        let expires_in = match body.get("expires_in") {
            Some(v) => v
                .as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
                .map(Duration::from_secs),
            None => None,
        };
        Ok(Token {
            access_token: Secret::new(token),
            expires_in,
            obtained,
        })
    }

    fn describe_failure(
        &self,
        status: reqwest::StatusCode,
        challenge: &[String],
        text: &str,
    ) -> String {
        let mut msg = format!("token endpoint {} answered {status}", self.token_url);
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
            if let Some(e) = v.get("error").and_then(|e| e.as_str()) {
                msg.push_str(&format!(": {}", self.scrub(e)));
                if let Some(d) = v.get("error_description").and_then(|e| e.as_str()) {
                    msg.push_str(&format!(" ({})", self.scrub(d)));
                }
                return msg;
            }
        }
        if !challenge.is_empty() {
            msg.push_str(&format!(
                " asking for {} authentication",
                challenge.join(", ")
            ));
        }
        let snippet: String = text.chars().filter(|c| !c.is_control()).take(200).collect();
        if !snippet.trim().is_empty() && !snippet.trim_start().starts_with('<') {
            msg.push_str(&format!(": {}", self.scrub(snippet.trim())));
        }
        msg
    }

    /// When the background task should refresh the current token.
    fn refresh_at(&self) -> Option<Instant> {
        let t = self.current.lock().expect("token lock").clone();
        let life = t.expires_in?;
        let before = self.refresh_before.min(life / 2);
        Some(t.obtained + life - before)
    }

    /// Get a new token now and make it current. Concurrent callers share one request.
    pub async fn refresh_now(&self) -> Result<(), AuthError> {
        let seen = self.generation.load(Ordering::Acquire);
        let _guard = self.refresh_lock.lock().await;
        if self.generation.load(Ordering::Acquire) != seen {
            return Ok(());
        }
        let token = self.request_token().await?;
        tracing::info!(step = %self.step, expires_in = ?token.expires_in, "oauth2 token refreshed");
        let secret = token.access_token.clone();
        *self.current.lock().expect("token lock") = token;
        self.generation.fetch_add(1, Ordering::AcqRel);
        for l in self.listeners.lock().expect("listener lock").iter() {
            l(&secret);
        }
        Ok(())
    }

    /// The current access token, refreshed first when it has already expired (the
    /// background refresh failed or the process was suspended).
    pub async fn token(&self) -> Result<Secret, AuthError> {
        let expired = {
            let t = self.current.lock().expect("token lock");
            t.expires_at().is_some_and(|at| at <= Instant::now())
        };
        if expired {
            self.refresh_now().await?;
        }
        Ok(self
            .current
            .lock()
            .expect("token lock")
            .access_token
            .clone())
    }

    /// The current token without waiting (for files handed to exec suites).
    pub fn token_now(&self) -> Result<Secret, AuthError> {
        let t = self.current.lock().expect("token lock");
        if t.expires_at().is_some_and(|at| at <= Instant::now()) {
            return Err(self.err("the access token has expired and could not be refreshed".into()));
        }
        Ok(t.access_token.clone())
    }

    /// The header the token goes into.
    pub fn header_name(&self) -> &str {
        &self.header
    }

    /// Call `f` with every new token (exec suites' token files are rewritten this way).
    pub fn on_refresh(&self, f: impl Fn(&Secret) + Send + Sync + 'static) {
        self.listeners
            .lock()
            .expect("listener lock")
            .push(Box::new(f));
    }
}

async fn refresh_loop(source: Weak<OAuth2Source>) {
    let mut failures = 0u32;
    loop {
        let wait = {
            let Some(s) = source.upgrade() else { return };
            let Some(at) = s.refresh_at() else {
                return; // no expiry: refreshed only on 401
            };
            let due = at.saturating_duration_since(Instant::now());
            if failures > 0 {
                due.max(Duration::from_millis(500 * 2u64.pow(failures.min(6))))
                    .min(Duration::from_secs(30))
            } else {
                due
            }
        };
        tokio::time::sleep(wait).await;
        let Some(s) = source.upgrade() else { return };
        match s.refresh_now().await {
            Ok(()) => failures = 0,
            Err(error) => {
                failures += 1;
                tracing::warn!(%error, failures, "background token refresh failed; retrying");
            }
        }
    }
}

impl RequestAuth for OAuth2Source {
    fn headers<'a>(
        &'a self,
        _req: RequestParts<'a>,
    ) -> BoxFuture<'a, Result<Vec<(String, String)>, AuthError>> {
        async move {
            let token = self.token().await?;
            let value = if self.header.eq_ignore_ascii_case("authorization") {
                format!("Bearer {}", token.expose())
            } else {
                token.expose().to_string()
            };
            Ok(vec![(self.header.clone(), value)])
        }
        .boxed()
    }

    fn refresh(&self) -> BoxFuture<'_, Result<bool, AuthError>> {
        async move {
            self.refresh_now().await?;
            Ok(true)
        }
        .boxed()
    }

    fn client_tls(&self) -> Option<&ClientTls> {
        None
    }
}

fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn serde_urlencoded_body(form: &[(String, String)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form.iter())
        .finish()
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        let t = s.to_string();
        if !out.contains(&t) {
            out.push_str(": ");
            out.push_str(&t);
        }
        src = s.source();
    }
    out
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

impl OAuth2Config {
    /// This step's own checks (a key path under the step, and why); the chain's checks
    /// (names, who sets `Authorization`, `authenticateWith`) are in `config`.
    pub(crate) fn check(&self, problem: &mut impl FnMut(&str, String)) {
        let c = self;
        match url::Url::parse(&c.token_url) {
            Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {
                if !u.username().is_empty() || u.password().is_some() {
                    problem(
                        "tokenUrl",
                        "credentials in the URL are not allowed; use clientId and clientSecretFile"
                            .into(),
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
            (None, None) => problem("clientId", "expected clientId or clientIdFile".into()),
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
        if let Some(h) = &c.header {
            crate::apply::check_header_name(h, "header", problem);
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
}
