//! `auth.yaml`: an ordered list of credential steps (`oauth2`, `kerberos`, `mtls`, `hmac`,
//! `static`). Secret values are only ever referenced by file path. Errors name the file,
//! the line and the key.

use std::path::Path;

use serde::Deserialize;
use testcar_yaml::{Seg, key_path, locate};

use crate::hmac::HmacConfig;
use crate::kerberos::KerberosConfig;
use crate::mtls::MtlsConfig;
use crate::oauth::OAuth2Config;
use crate::static_creds::StaticConfig;

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
                    c.check(&mut problem);
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
                }
                Step::Kerberos(c) => c.check(&mut problem),
                Step::Mtls(c) => c.check(&mut problem),
                Step::Hmac(c) => c.check(&mut problem),
                Step::Static(c) => c.check(&mut problem),
            }
            seen.push(name);
        }
        out
    }
}

#[cfg(test)]
mod tests;
