//! `static` step: fixed credentials read once from files — a bearer token, basic
//! credentials, a file of `Name: value` header lines, or one file per header.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;

use futures::FutureExt as _;
use futures::future::BoxFuture;

use crate::apply::{AuthError, ClientTls, RequestAuth, RequestParts};
use crate::secret::{Secret, read_secret_file, resolve};
use serde::Deserialize;

/// The headers of a `static` step; values are secrets.
#[derive(Debug, Clone)]
pub struct StaticCreds {
    /// Header name and value, in config order (Authorization first).
    pub headers: Vec<(String, Secret)>,
    /// The bearer token when `bearerFile` is used (exec suites get it as a file).
    pub bearer: Option<Secret>,
}

impl StaticCreds {
    /// Read every file of the step.
    pub fn from_config(step: &str, c: &StaticConfig, base_dir: &Path) -> Result<Self, AuthError> {
        let err = |message: String| AuthError {
            step: step.to_string(),
            message,
        };
        let mut headers = Vec::new();
        let mut bearer = None;
        if let Some(f) = &c.bearer_file {
            let token = read_secret_file(&resolve(base_dir, f))
                .map_err(|e| err(format!("bearerFile: {e}")))?;
            headers.push((
                "Authorization".to_string(),
                Secret::new(format!("Bearer {}", token.expose())),
            ));
            bearer = Some(token);
        }
        if let Some(b) = &c.basic {
            let user = match (&b.username, &b.username_file) {
                (Some(u), _) => u.clone(),
                (None, Some(f)) => read_secret_file(&resolve(base_dir, f))
                    .map_err(|e| err(format!("basic.usernameFile: {e}")))?
                    .expose()
                    .to_string(),
                (None, None) => return Err(err("basic: expected username or usernameFile".into())),
            };
            let password = read_secret_file(&resolve(base_dir, &b.password_file))
                .map_err(|e| err(format!("basic.passwordFile: {e}")))?;
            let encoded = base64::engine::general_purpose::STANDARD
                .encode(format!("{user}:{}", password.expose()));
            headers.push((
                "Authorization".to_string(),
                Secret::new(format!("Basic {encoded}")),
            ));
        }
        if let Some(f) = &c.headers_file {
            let path = resolve(base_dir, f);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| err(format!("headersFile: cannot read {}: {e}", path.display())))?;
            headers.extend(
                parse_header_lines(&text)
                    .map_err(|e| err(format!("headersFile: {}:{e}", path.display())))?,
            );
        }
        for (name, f) in &c.header_files {
            let value = read_secret_file(&resolve(base_dir, f))
                .map_err(|e| err(format!("headerFiles.{name}: {e}")))?;
            headers.push((name.clone(), value));
        }
        Ok(StaticCreds { headers, bearer })
    }
}

/// Parse `Name: value` lines (blank lines and `#` comments skipped). Errors give the line
/// number and never the line's content, which may hold a secret.
pub fn parse_header_lines(text: &str) -> Result<Vec<(String, Secret)>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!("{}: expected `Name: value`", i + 1));
        };
        let name = name.trim();
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        {
            return Err(format!("{}: expected a header name before `:`", i + 1));
        }
        out.push((name.to_string(), Secret::new(value.trim())));
    }
    Ok(out)
}

impl RequestAuth for StaticCreds {
    fn headers<'a>(
        &'a self,
        _req: RequestParts<'a>,
    ) -> BoxFuture<'a, Result<Vec<(String, String)>, AuthError>> {
        let headers = self
            .headers
            .iter()
            .map(|(n, v)| (n.clone(), v.expose().to_string()))
            .collect();
        futures::future::ready(Ok(headers)).boxed()
    }

    fn refresh(&self) -> BoxFuture<'_, Result<bool, AuthError>> {
        futures::future::ready(Ok(false)).boxed()
    }

    fn client_tls(&self) -> Option<&ClientTls> {
        None
    }
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

impl StaticConfig {
    /// This step's own checks (a key path under the step, and why); the chain's checks
    /// (names, who sets `Authorization`, `authenticateWith`) are in `config`.
    pub(crate) fn check(&self, problem: &mut impl FnMut(&str, String)) {
        let c = self;
        if c.bearer_file.is_some() && c.basic.is_some() {
            problem(
                "basic",
                "give either bearerFile or basic: both set the Authorization header".into(),
            );
        }
        if c.bearer_file.is_none()
            && c.basic.is_none()
            && c.headers_file.is_none()
            && c.header_files.is_empty()
        {
            problem(
                "",
                "expected at least one of bearerFile, basic, headersFile, headerFiles".into(),
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
            crate::apply::check_header_name(name, "headerFiles", problem);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn mk_static() -> StaticConfig {
        StaticConfig {
            name: None,
            bearer_file: None,
            basic: None,
            headers_file: None,
            header_files: Default::default(),
        }
    }

    #[test]
    fn bearer_basic_and_headers() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("pw"), "open sesame\n").unwrap();
        std::fs::write(
            dir.path().join("h"),
            "# comment\nX-Api-Key: k-123\n\nX-Tenant:blue\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("one"), "v1").unwrap();
        let mut c = mk_static();
        c.basic = Some(BasicConfig {
            username: Some("Aladdin".into()),
            username_file: None,
            password_file: "pw".into(),
        });
        c.headers_file = Some("h".into());
        c.header_files.insert("X-One".into(), PathBuf::from("one"));
        let s = StaticCreds::from_config("static", &c, dir.path()).unwrap();
        let got: Vec<_> = s
            .headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.expose()))
            .collect();
        assert_eq!(
            got,
            [
                ("Authorization", "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="),
                ("X-Api-Key", "k-123"),
                ("X-Tenant", "blue"),
                ("X-One", "v1"),
            ]
        );
        assert!(!format!("{s:?}").contains("k-123"));
    }

    #[test]
    fn bad_header_line_names_line_not_content() {
        let e = parse_header_lines("X-A: 1\nsecret-without-colon\n").unwrap_err();
        assert_eq!(e, "2: expected `Name: value`");
        let dir = tempfile::tempdir().unwrap();
        let mut c = mk_static();
        c.bearer_file = Some("missing-token".into());
        let e = StaticCreds::from_config("static", &c, dir.path()).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("auth step static: bearerFile: cannot read secret file"),
            "{e}"
        );
    }
}
