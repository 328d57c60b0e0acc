//! `*.consistency.yaml`: which model, how many clients for how long, the key space, the
//! operation mix, and how each operation maps to an HTTP request and back. Loading
//! validates everything; errors name the file, the line and the key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::model::ModelKind;
use crate::template::Template;

/// A suite definition that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SuiteError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Not YAML, or a key of the wrong type or unknown.
    #[error("{file}:{line}:{column}: {message}")]
    Yaml {
        /// The file.
        file: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// The YAML reader's explanation, with the key path.
        message: String,
    },
    /// A value that parsed but makes no sense.
    #[error("{file}:{line}: {key}: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// 1-based line of the key (0 if the key is absent).
        line: usize,
        /// Dotted key path, e.g. `operations.read.output`.
        key: String,
        /// What was expected.
        message: String,
    },
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SuiteFile {
    name: Option<String>,
    model: ModelKind,
    target: Option<String>,
    #[serde(default = "default_clients")]
    clients: usize,
    duration: Option<String>,
    count: Option<u64>,
    #[serde(default)]
    keys: Option<KeysFile>,
    #[serde(default = "default_prefix")]
    key_prefix: String,
    #[serde(default = "default_values")]
    values: u32,
    #[serde(default = "default_amount")]
    amount: i64,
    initial: Option<BTreeMap<String, i64>>,
    timeout: Option<String>,
    check_timeout: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    operations: BTreeMap<String, OperationFile>,
}

fn default_clients() -> usize {
    5
}
fn default_prefix() -> String {
    "k".into()
}
fn default_values() -> u32 {
    5
}
fn default_amount() -> i64 {
    10
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum KeysFile {
    Count(u32),
    List(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct OperationFile {
    #[serde(default = "default_weight")]
    weight: f64,
    rate: Option<f64>,
    #[serde(default = "default_method")]
    method: String,
    url: String,
    #[serde(default)]
    headers: BTreeMap<String, String>,
    body: Option<String>,
    ok: Option<Vec<u16>>,
    #[serde(default)]
    fail: Vec<u16>,
    output: Option<OutputFile>,
    applied: Option<String>,
}

fn default_weight() -> f64 {
    1.0
}
fn default_method() -> String {
    "GET".into()
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OutputFile {
    Raw(String),
    Pointer(PointerFile),
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PointerFile {
    pointer: String,
    #[serde(default)]
    decode: Decode,
    missing: Option<String>,
}

/// How an output value found in a response is decoded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decode {
    /// As is (a JSON string, or a number's text).
    #[default]
    None,
    /// Base64 (etcd's JSON gateway encodes keys and values so).
    Base64,
}

/// Where a read's value comes from in the response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutputSpec {
    /// The whole body, as text.
    Body,
    /// A JSON pointer into the body.
    Pointer {
        /// RFC 6901 pointer, e.g. `/kvs/0/value`.
        pointer: String,
        /// Decoding of the value found.
        decode: Decode,
        /// The value when the pointer finds nothing: `None` = nil (empty register).
        missing: Option<String>,
    },
}

/// One operation of the mix.
#[derive(Debug, Clone)]
pub struct OperationSpec {
    /// Operation name (`read`, `cas`, `append`, ...).
    pub name: String,
    /// Relative probability.
    pub weight: f64,
    /// Upper bound on this operation's rate across all clients (per second).
    pub rate: Option<f64>,
    /// HTTP method.
    pub method: http::Method,
    /// URL template.
    pub url: Template,
    /// Header templates (suite headers, then these).
    pub headers: Vec<(String, Template)>,
    /// Body template.
    pub body: Option<Template>,
    /// Statuses meaning "completed" (default 200–299).
    pub ok: Option<Vec<u16>>,
    /// Statuses meaning "did not take effect" (for cas: the comparison failed).
    pub fail: Vec<u16>,
    /// Where a read's value is.
    pub output: Option<OutputSpec>,
    /// cas: JSON pointer to a boolean saying whether it was applied (absent = false).
    pub applied: Option<String>,
}

/// A validated consistency suite.
#[derive(Debug, Clone)]
pub struct ConsistencySuite {
    /// Suite name (`name:` or the file name without `.consistency.yaml`).
    pub name: String,
    /// The definition file.
    pub source: PathBuf,
    /// Model the history is checked against.
    pub model: ModelKind,
    /// Base URL (overridden by [`crate::SuiteOptions::target`]).
    pub target: Option<String>,
    /// Concurrent clients.
    pub clients: usize,
    /// Stop after this long ...
    pub duration: Option<Duration>,
    /// ... or after this many operations, whichever comes first.
    pub count: Option<u64>,
    /// Keys (register/kv) or accounts (bank).
    pub keys: Vec<String>,
    /// Register: values are drawn from 0..values.
    pub values: u32,
    /// Bank: largest transfer.
    pub amount: i64,
    /// Bank: initial balances.
    pub initial: Option<BTreeMap<String, i64>>,
    /// Per-request timeout: a request that takes longer has an unknown outcome.
    pub timeout: Duration,
    /// Time budget for the linearizability check.
    pub check_timeout: Duration,
    /// The operation mix.
    pub operations: Vec<OperationSpec>,
}

/// The line of a key path in the suite's text (1-based; 0 if absent).
pub(crate) fn locate(text: &str, path: &[&str]) -> usize {
    let path: Vec<testcar_yaml::Seg> = path.iter().map(|k| (*k).into()).collect();
    testcar_yaml::locate(text, &path).unwrap_or(0)
}

fn duration(
    text: &str,
    v: &Option<String>,
    file: &str,
    key: &str,
) -> Result<Option<Duration>, SuiteError> {
    v.as_deref()
        .map(|s| {
            testcar_contract::duration::parse_duration(s).map_err(|e| SuiteError::Invalid {
                file: file.to_string(),
                line: locate(text, &[key]),
                key: key.to_string(),
                message: e.to_string(),
            })
        })
        .transpose()
}

fn operations_of(model: ModelKind) -> &'static [&'static str] {
    match model {
        ModelKind::Register => &["read", "write", "cas"],
        ModelKind::Kv => &["get", "put", "append", "delete"],
        ModelKind::Bank => &["transfer", "balances"],
    }
}

/// Load and validate a `*.consistency.yaml` file.
pub fn load_suite(path: &Path) -> Result<ConsistencySuite, SuiteError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| SuiteError::Read {
        path: file.clone(),
        source,
    })?;
    parse_suite(&text, path)
}

/// Parse and validate suite YAML (`path` names it in errors and is kept as the source).
pub fn parse_suite(text: &str, path: &Path) -> Result<ConsistencySuite, SuiteError> {
    let file = path.display().to_string();
    let def: SuiteFile = testcar_yaml::from_str(text).map_err(|e| SuiteError::Yaml {
        file: file.clone(),
        line: e.line,
        column: e.column,
        message: e.explained(""),
    })?;
    let invalid = |path: &[&str], message: String| SuiteError::Invalid {
        file: file.clone(),
        line: locate(text, path),
        key: path.join("."),
        message,
    };
    if def.clients == 0 {
        return Err(invalid(&["clients"], "expected at least 1 client".into()));
    }
    let dur = duration(text, &def.duration, &file, "duration")?;
    if dur.is_none() && def.count.is_none() {
        return Err(invalid(
            &["duration"],
            "missing: give a duration (e.g. 10s), a count of operations, or both".into(),
        ));
    }
    if def.count == Some(0) {
        return Err(invalid(&["count"], "expected at least 1 operation".into()));
    }
    let timeout = duration(text, &def.timeout, &file, "timeout")?.unwrap_or(Duration::from_secs(2));
    let check_timeout = duration(text, &def.check_timeout, &file, "checkTimeout")?
        .unwrap_or(Duration::from_secs(60));
    let keys = match (&def.keys, def.model) {
        (_, ModelKind::Bank) => {
            let Some(initial) = &def.initial else {
                return Err(invalid(
                    &["initial"],
                    "missing: the bank model needs initial balances, e.g. {a: 100, b: 100}".into(),
                ));
            };
            if initial.len() < 2 {
                return Err(invalid(
                    &["initial"],
                    "expected at least two accounts".into(),
                ));
            }
            initial.keys().cloned().collect()
        }
        (None, _) => vec![format!("{}0", def.key_prefix)],
        (Some(KeysFile::Count(0)), _) => {
            return Err(invalid(&["keys"], "expected at least 1 key".into()));
        }
        (Some(KeysFile::Count(n)), _) => {
            (0..*n).map(|i| format!("{}{i}", def.key_prefix)).collect()
        }
        (Some(KeysFile::List(l)), _) if l.is_empty() => {
            return Err(invalid(&["keys"], "expected at least 1 key".into()));
        }
        (Some(KeysFile::List(l)), _) => l.clone(),
    };
    if def.model == ModelKind::Register && def.values == 0 {
        return Err(invalid(&["values"], "expected at least 1 value".into()));
    }
    let allowed = operations_of(def.model);
    let mut operations = Vec::new();
    let mut suite_headers = Vec::new();
    for (k, v) in &def.headers {
        suite_headers.push((
            k.clone(),
            Template::parse(v).map_err(|e| invalid(&["headers", k], e))?,
        ));
    }
    for (name, op) in &def.operations {
        let at = |key: &'static str| -> Vec<&str> {
            if key.is_empty() {
                vec!["operations", name]
            } else {
                vec!["operations", name, key]
            }
        };
        if !allowed.contains(&name.as_str()) {
            return Err(invalid(
                &at(""),
                format!(
                    "not an operation of the {} model (expected {})",
                    def.model.name(),
                    allowed.join(", ")
                ),
            ));
        }
        if !(op.weight >= 0.0 && op.weight.is_finite()) {
            return Err(invalid(&at("weight"), "expected a number ≥ 0".into()));
        }
        if let Some(r) = op.rate {
            if !(r > 0.0 && r.is_finite()) {
                return Err(invalid(
                    &at("rate"),
                    "expected operations per second > 0".into(),
                ));
            }
        }
        let method =
            http::Method::from_bytes(op.method.to_ascii_uppercase().as_bytes()).map_err(|_| {
                invalid(
                    &at("method"),
                    format!("{:?} is not an HTTP method", op.method),
                )
            })?;
        let url = Template::parse(&op.url).map_err(|e| invalid(&at("url"), e))?;
        let mut headers = suite_headers.clone();
        for (k, v) in &op.headers {
            headers.push((
                k.clone(),
                Template::parse(v).map_err(|e| invalid(&["operations", name, "headers", k], e))?,
            ));
        }
        let body = op
            .body
            .as_deref()
            .map(Template::parse)
            .transpose()
            .map_err(|e| invalid(&at("body"), e))?;
        let is_read = matches!(name.as_str(), "read" | "get" | "balances");
        let output = match &op.output {
            None if is_read => {
                return Err(invalid(
                    &at(""),
                    "missing output: say where the value is (output: body, or output: {pointer: /path})".into(),
                ))
            }
            None => None,
            Some(OutputFile::Raw(s)) if s == "body" => Some(OutputSpec::Body),
            Some(OutputFile::Raw(s)) => {
                return Err(invalid(&at("output"), format!("expected `body` or {{pointer: ...}}, found {s:?}")))
            }
            Some(OutputFile::Pointer(p)) => {
                if !(p.pointer.is_empty() || p.pointer.starts_with('/')) {
                    return Err(invalid(&at("output"), format!("pointer {:?} must start with '/'", p.pointer)));
                }
                Some(OutputSpec::Pointer {
                    pointer: p.pointer.clone(),
                    decode: p.decode,
                    missing: p.missing.clone().or(match def.model {
                        ModelKind::Register => None,
                        _ => Some(String::new()),
                    }),
                })
            }
        };
        if op.applied.is_some() && name != "cas" && name != "transfer" {
            return Err(invalid(
                &at("applied"),
                "only cas and transfer have an applied flag".into(),
            ));
        }
        if let Some(p) = &op.applied {
            if !p.starts_with('/') {
                return Err(invalid(
                    &at("applied"),
                    format!("pointer {p:?} must start with '/'"),
                ));
            }
        }
        operations.push(OperationSpec {
            name: name.clone(),
            weight: op.weight,
            rate: op.rate,
            method,
            url,
            headers,
            body,
            ok: op.ok.clone(),
            fail: op.fail.clone(),
            output,
            applied: op.applied.clone(),
        });
    }
    if operations.iter().map(|o| o.weight).sum::<f64>() <= 0.0 {
        return Err(invalid(
            &["operations"],
            "expected at least one operation with a weight > 0".into(),
        ));
    }
    let name = def.name.clone().unwrap_or_else(|| {
        let base = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        base.trim_end_matches(".yaml")
            .trim_end_matches(".yml")
            .trim_end_matches(".consistency")
            .to_string()
    });
    Ok(ConsistencySuite {
        name,
        source: path.to_path_buf(),
        model: def.model,
        target: def.target,
        clients: def.clients,
        duration: dur,
        count: def.count,
        keys,
        values: def.values,
        amount: def.amount.max(1),
        initial: def.initial,
        timeout,
        check_timeout,
        operations,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ETCD: &str = include_str!("../test_data/etcd-register.consistency.yaml");

    fn err(text: &str) -> String {
        parse_suite(text, Path::new("s.consistency.yaml"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn loads_the_etcd_register_suite() {
        let s = parse_suite(ETCD, Path::new("dir/etcd-register.consistency.yaml")).unwrap();
        assert_eq!(s.name, "etcd-register");
        assert_eq!(s.model, ModelKind::Register);
        assert_eq!(s.keys, vec!["r0", "r1"]);
        assert_eq!(s.operations.len(), 3);
        let read = s.operations.iter().find(|o| o.name == "read").unwrap();
        assert_eq!(
            read.output,
            Some(OutputSpec::Pointer {
                pointer: "/kvs/0/value".into(),
                decode: Decode::Base64,
                missing: None
            })
        );
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let e = err(
            "model: kv\ncount: 5\noperations:\n  get:\n    url: x\n    output: body\n    wieght: 2\n",
        );
        assert!(
            e.starts_with("s.consistency.yaml:7:5: operations.get: "),
            "{e}"
        );
        assert!(e.contains("unknown field `wieght`"), "{e}");
    }

    #[test]
    fn semantic_errors_name_line_and_key() {
        let e = err(
            "model: kv\ncount: 5\noperations:\n  get:\n    url: \"{{ kee }}\"\n    output: body\n",
        );
        assert_eq!(
            e,
            "s.consistency.yaml:5: operations.get.url: unknown variable \"kee\" (expected one of target, key, value, from, to, amount, client, seq)"
        );
        let e = err("model: kv\ncount: 5\noperations:\n  get:\n    url: x\n");
        assert_eq!(
            e,
            "s.consistency.yaml:4: operations.get: missing output: say where the value is (output: body, or output: {pointer: /path})"
        );
        let e = err("model: register\ncount: 5\noperations:\n  put:\n    url: x\n");
        assert!(
            e.starts_with(
                "s.consistency.yaml:4: operations.put: not an operation of the register model"
            ),
            "{e}"
        );
        let e = err("model: kv\noperations:\n  put:\n    url: x\n");
        assert!(e.contains(": duration: missing"), "{e}");
        let e = err("model: kv\nduration: soon\noperations:\n  put:\n    url: x\n");
        assert!(
            e.starts_with("s.consistency.yaml:2: duration: \"soon\" is not a duration"),
            "{e}"
        );
        let e = err("model: bank\ncount: 3\noperations:\n  transfer:\n    url: x\n");
        assert!(e.contains("initial: missing"), "{e}");
    }

    #[test]
    fn locate_follows_indentation() {
        let text = "a:\n  b: 1\nc:\n  d:\n    b: 2\n";
        assert_eq!(locate(text, &["c", "d", "b"]), 5);
        assert_eq!(locate(text, &["a", "b"]), 2);
        assert_eq!(locate(text, &["x"]), 0);
    }
}
