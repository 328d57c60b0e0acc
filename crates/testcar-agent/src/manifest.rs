//! The suite manifest `testcar.yaml`: suites in order with their runner, timeouts and
//! environment, a whole-run timeout and an optional `auth:` block passed through untyped to
//! the credential chain. Unknown keys are errors naming file, line and key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use testcar_contract::duration::parse_duration;
use testcar_yaml::{Seg, locate};

/// A manifest that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid YAML or not a valid manifest.
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem (0 when unknown).
        line: usize,
        /// 1-based column of the problem (0 when unknown).
        column: usize,
        /// What was wrong and what was expected.
        message: String,
    },
}

/// A parsed `testcar.yaml`.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The file it was read from.
    pub path: PathBuf,
    /// Whole-run timeout.
    pub timeout: Option<Duration>,
    /// Artillery environment for every suite that does not name its own.
    pub environment: Option<String>,
    /// The `auth:` block, untouched, for the credential chain.
    pub auth: Option<testcar_yaml::Value>,
    /// Suites in order.
    pub suites: Vec<SuiteDef>,
    /// Run-wide fault proxies (`proxies:`).
    pub proxies: Vec<crate::faults::ProxyDef>,
}

/// What runs a suite and on what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SuiteKind {
    /// An Artillery script (path as written, relative to the manifest's folder).
    Artillery(PathBuf),
    /// A command and its arguments.
    Exec(Vec<String>),
    /// A consistency suite file.
    Consistency(PathBuf),
}

impl SuiteKind {
    /// The runner kind as written in the result.
    pub fn runner(&self) -> testcar_contract::RunnerKind {
        match self {
            SuiteKind::Artillery(_) => testcar_contract::RunnerKind::Artillery,
            SuiteKind::Exec(_) => testcar_contract::RunnerKind::Exec,
            SuiteKind::Consistency(_) => testcar_contract::RunnerKind::Consistency,
        }
    }
}

/// One suite to run, from a manifest or discovered in a folder.
#[derive(Debug, Clone, PartialEq)]
pub struct SuiteDef {
    /// Suite name, unique within a run.
    pub name: String,
    /// What runs it.
    pub kind: SuiteKind,
    /// Folder relative paths resolve against and exec commands run in.
    pub base_dir: PathBuf,
    /// Definition file shown in the result: the manifest's file name for a suite it declares,
    /// the script's file name for a discovered script.
    pub source: Option<String>,
    /// Suite timeout.
    pub timeout: Option<Duration>,
    /// Extra environment variables (exec suites).
    pub env: BTreeMap<String, String>,
    /// Artillery environment (`-e`).
    pub environment: Option<String>,
    /// Keep going with the next suites when this one does not pass.
    pub continue_on_failure: bool,
    /// Artillery suites: `artillery run` flags (`config`, `overrides`, `variables`,
    /// `insecure`, `scenarioName`), the config file resolved against `base_dir`.
    pub overlay: testcar_artillery::Overlay,
    /// Faults injected while the suite runs (`faults:`).
    pub faults: Vec<crate::faults::FaultSpec>,
    /// `tags:`, for `--tags` / `TESTCAR_SUITE_TAGS` (e.g. `smoke` on a scale-out pod).
    pub tags: Vec<String>,
}

impl SuiteDef {
    /// A suite with defaults, for discovery and tests.
    pub fn new(name: impl Into<String>, kind: SuiteKind, base_dir: impl Into<PathBuf>) -> Self {
        SuiteDef {
            name: name.into(),
            kind,
            base_dir: base_dir.into(),
            source: None,
            timeout: None,
            env: BTreeMap::new(),
            environment: None,
            continue_on_failure: false,
            overlay: Default::default(),
            faults: Vec::new(),
            tags: Vec::new(),
        }
    }

    /// The definition file of an Artillery or consistency suite, resolved.
    pub fn file(&self) -> Option<PathBuf> {
        match &self.kind {
            SuiteKind::Artillery(p) | SuiteKind::Consistency(p) => Some(self.base_dir.join(p)),
            SuiteKind::Exec(_) => None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    #[serde(default, deserialize_with = "de_duration")]
    timeout: Option<Duration>,
    #[serde(default)]
    environment: Option<String>,
    #[serde(default)]
    auth: Option<testcar_yaml::Value>,
    #[serde(default)]
    proxies: Vec<crate::faults::config::RawProxy>,
    suites: Vec<RawSuite>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawSuite {
    name: String,
    #[serde(default)]
    artillery: Option<PathBuf>,
    #[serde(default)]
    exec: Option<Vec<String>>,
    #[serde(default)]
    consistency: Option<PathBuf>,
    #[serde(default, deserialize_with = "de_duration")]
    timeout: Option<Duration>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    environment: Option<String>,
    #[serde(default)]
    continue_on_failure: bool,
    /// Artillery `--config`: a file merged over the script.
    #[serde(default)]
    config: Option<PathBuf>,
    /// Artillery `--overrides`, as a mapping.
    #[serde(default)]
    overrides: Option<testcar_yaml::Mapping>,
    /// Artillery `--variables`, as a mapping.
    #[serde(default)]
    variables: Option<testcar_yaml::Mapping>,
    /// Artillery `--insecure`.
    #[serde(default)]
    insecure: bool,
    /// Artillery `--scenario-name`.
    #[serde(default)]
    scenario_name: Option<String>,
    /// Artillery `--dotenv`.
    #[serde(default)]
    dotenv: Option<PathBuf>,
    /// Faults during the suite.
    #[serde(default)]
    faults: Vec<crate::faults::RawFault>,
    /// Tags that `--tags` selects by.
    #[serde(default)]
    tags: Vec<String>,
}

pub(crate) fn de_duration<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Duration>, D::Error> {
    let raw = Option::<testcar_yaml::Value>::deserialize(d)?;
    match raw {
        None | Some(testcar_yaml::Value::Null) => Ok(None),
        Some(testcar_yaml::Value::Number(n)) => parse_duration(&n.to_string())
            .map(Some)
            .map_err(serde::de::Error::custom),
        Some(testcar_yaml::Value::String(s)) => parse_duration(&s)
            .map(Some)
            .map_err(serde::de::Error::custom),
        Some(_) => Err(serde::de::Error::custom(
            "expected a duration such as 30s, 2m or 500ms",
        )),
    }
}

/// Read and check `path`.
pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
    let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&text, path)
}

/// Check `text` as the manifest at `path` (used for error messages and relative paths).
pub fn parse(text: &str, path: &Path) -> Result<Manifest, ManifestError> {
    let invalid = |line: usize, column: usize, message: String| ManifestError::Invalid {
        path: path.to_path_buf(),
        line,
        column,
        message,
    };
    if text.trim().is_empty() {
        return Err(invalid(
            1,
            1,
            "the manifest is empty; expected a mapping with `suites:` (a list of suites)".into(),
        ));
    }
    let raw: RawManifest = testcar_yaml::from_str(text).map_err(|e| {
        invalid(
            e.line,
            e.column,
            e.explained("the keys of one suite start in the same column, under its `- `"),
        )
    })?;
    let base_dir = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let source = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| testcar_contract::paths::MANIFEST_FILE.into());
    if raw.suites.is_empty() {
        let line = locate(text, &["suites".into()]).unwrap_or(1);
        return Err(invalid(
            line,
            1,
            "suites: the list is empty; a manifest must name at least one suite".into(),
        ));
    }
    let proxies = crate::faults::config::check_proxies(raw.proxies).map_err(|e| {
        let line = locate(text, &["proxies".into()]).unwrap_or(1);
        invalid(line, 1, e.to_string())
    })?;
    let mut suites = Vec::with_capacity(raw.suites.len());
    let mut seen = std::collections::BTreeSet::new();
    for (idx, s) in raw.suites.into_iter().enumerate() {
        let line = locate(text, &["suites".into(), idx.into(), "name".into()]).unwrap_or(0);
        let at =
            |message: String| invalid(line, 1, format!("suites[{idx}] ({}): {message}", s.name));
        if s.name.trim().is_empty() {
            return Err(at("name: must not be empty".into()));
        }
        if !seen.insert(s.name.clone()) {
            return Err(at("name: another suite already has this name".into()));
        }
        if let Some(bad) = s.tags.iter().find(|t| !testcar_contract::tags::is_tag(t)) {
            return Err(at(format!(
                "tags: {bad:?} is not valid; expected {}",
                testcar_contract::tags::TAG_EXPECTED
            )));
        }
        let kind = match (s.artillery, s.exec, s.consistency) {
            (Some(p), None, None) => SuiteKind::Artillery(p),
            (None, Some(cmd), None) => {
                if cmd.is_empty() || cmd[0].trim().is_empty() {
                    return Err(at(
                        "exec: expected a command and its arguments, e.g. [\"sh\", \"run-tests.sh\"]"
                            .into(),
                    ));
                }
                SuiteKind::Exec(cmd)
            }
            (None, None, Some(p)) => SuiteKind::Consistency(p),
            (None, None, None) => {
                return Err(at(
                    "expected exactly one of `artillery: FILE`, `exec: [CMD, ARGS...]`, `consistency: FILE`; found none"
                        .into(),
                ));
            }
            _ => {
                return Err(at(
                    "expected exactly one of `artillery`, `exec`, `consistency`; found several"
                        .into(),
                ));
            }
        };
        let artillery_only = [
            ("config", s.config.is_some()),
            ("overrides", s.overrides.is_some()),
            ("variables", s.variables.is_some()),
            ("insecure", s.insecure),
            ("scenarioName", s.scenario_name.is_some()),
            ("dotenv", s.dotenv.is_some()),
        ];
        if !matches!(kind, SuiteKind::Artillery(_)) {
            if let Some((key, _)) = artillery_only.iter().find(|(_, set)| *set) {
                return Err(at(format!("{key}: only Artillery suites take this key")));
            }
        }
        let as_json = |key: &str,
                       m: Option<testcar_yaml::Mapping>|
         -> Result<Option<serde_json::Value>, ManifestError> {
            m.map(|m| {
                serde_json::to_value(testcar_yaml::Value::Mapping(m))
                    .map_err(|e| at(format!("{key}: cannot be read as JSON: {e}")))
            })
            .transpose()
        };
        let overlay = testcar_artillery::Overlay {
            config_file: s.config.map(|p| base_dir.join(p)),
            overrides: as_json("overrides", s.overrides)?,
            variables: match as_json("variables", s.variables)? {
                Some(serde_json::Value::Object(m)) => m,
                _ => Default::default(),
            },
            insecure: s.insecure,
            solo: false,
            scenario_name: s.scenario_name,
            dotenv: s.dotenv.map(|p| base_dir.join(p)),
            load_share: None,
        };
        let faults = crate::faults::config::check(s.faults).map_err(|e| {
            let line = locate(text, &fault_path(idx, e.index, e.key)).unwrap_or(line);
            invalid(line, 1, format!("suites[{idx}] ({}): {e}", s.name))
        })?;
        for (i, f) in faults.iter().enumerate() {
            if let Some(name) = &f.proxy {
                if !proxies.iter().any(|p| &p.name == name) {
                    let line = locate(text, &fault_path(idx, i, "proxy")).unwrap_or(line);
                    return Err(invalid(
                        line,
                        1,
                        format!(
                            "suites[{idx}] ({}): faults[{i}] ({}): proxy: no proxy named {name:?} in `proxies:`",
                            s.name,
                            f.action.kind()
                        ),
                    ));
                }
            }
        }
        suites.push(SuiteDef {
            name: s.name,
            kind,
            base_dir: base_dir.clone(),
            source: Some(source.clone()),
            timeout: s.timeout,
            env: s.env,
            environment: s.environment.or_else(|| raw.environment.clone()),
            continue_on_failure: s.continue_on_failure,
            overlay,
            faults,
            tags: s.tags,
        });
    }
    Ok(Manifest {
        path: path.to_path_buf(),
        timeout: raw.timeout,
        environment: raw.environment,
        auth: raw.auth,
        suites,
        proxies,
    })
}

/// The key path of `key` in entry `fault` of suite `suite`'s `faults:` list: checks after
/// parsing have no serde location, so the line comes from the text.
fn fault_path(suite: usize, fault: usize, key: &str) -> [Seg; 5] {
    [
        "suites".into(),
        suite.into(),
        "faults".into(),
        fault.into(),
        key.into(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(text: &str) -> Result<Manifest, ManifestError> {
        parse(text, Path::new("/tests/testcar.yaml"))
    }

    #[test]
    fn full_manifest() {
        let m = parse_str(include_str!("../test_data/manifest-full.yaml")).unwrap();
        assert_eq!(m.timeout, Some(Duration::from_secs(300)));
        assert_eq!(m.suites.len(), 3);
        assert_eq!(m.suites[0].kind, SuiteKind::Artillery("smoke.yml".into()));
        assert_eq!(m.suites[0].environment.as_deref(), Some("staging"));
        assert_eq!(m.suites[1].environment.as_deref(), Some("local"));
        assert_eq!(
            m.suites[1].kind,
            SuiteKind::Exec(vec!["sh".into(), "api.sh".into()])
        );
        assert_eq!(m.suites[1].timeout, Some(Duration::from_secs(30)));
        assert_eq!(
            m.suites[1].env.get("LOG_LEVEL").map(String::as_str),
            Some("debug")
        );
        assert!(m.suites[1].continue_on_failure);
        assert_eq!(
            m.suites[2].kind,
            SuiteKind::Consistency("kv.consistency.yaml".into())
        );
        assert_eq!(m.suites[0].base_dir, Path::new("/tests"));
        let auth = m.auth.unwrap();
        assert!(auth.get("steps").is_some());
    }

    #[test]
    fn tags_are_read_and_a_bad_one_names_the_suite() {
        let m = parse_str(
            "suites:\n  - name: smoke\n    exec: [\"true\"]\n    tags: [smoke, api]\n  - name: load\n    exec: [\"true\"]\n",
        )
        .unwrap();
        assert_eq!(m.suites[0].tags, ["smoke", "api"]);
        assert!(m.suites[1].tags.is_empty());
        let e = parse_str(
            "suites:\n  - name: a\n    exec: [\"true\"]\n  - name: b\n    exec: [\"true\"]\n    tags: [Smoke Test]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains(":4:")
                && e.contains("suites[1] (b): tags: \"Smoke Test\" is not valid")
                && e.contains("lowercase"),
            "{e}"
        );
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let text = "suites:\n  - name: a\n    exec: [\"true\"]\n    retries: 3\n";
        let e = parse_str(text).unwrap_err().to_string();
        assert!(e.starts_with("/tests/testcar.yaml:4:"), "{e}");
        assert!(e.contains("unknown field `retries`"), "{e}");
        assert!(
            e.contains("continueOnFailure"),
            "lists the expected keys: {e}"
        );
    }

    #[test]
    fn unknown_top_level_key() {
        let e = parse_str("suite:\n  - name: a\n").unwrap_err().to_string();
        assert!(e.starts_with("/tests/testcar.yaml:1:"), "{e}");
        assert!(e.contains("unknown field `suite`"), "{e}");
    }

    #[test]
    fn bad_yaml_has_line() {
        let e = parse_str("suites:\n  - name: a\n    exec: [\"true\"\n  - name: b\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/tests/testcar.yaml:"), "{e}");
        let line: usize = e.split(':').nth(1).unwrap().parse().unwrap();
        assert!((3..=5).contains(&line), "{e}");
    }

    #[test]
    fn runner_must_be_exactly_one() {
        let e = parse_str("suites:\n  - name: a\n    timeout: 5s\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/tests/testcar.yaml:2:"), "{e}");
        assert!(e.contains("found none"), "{e}");
        let e = parse_str("suites:\n  - name: a\n    exec: [x]\n    artillery: a.yml\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("found several"), "{e}");
    }

    #[test]
    fn bad_duration_says_what_is_expected() {
        let e = parse_str("timeout: soon\nsuites:\n  - name: a\n    exec: [x]\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/tests/testcar.yaml:1:"), "{e}");
        assert!(e.contains("not a duration"), "{e}");
    }

    #[test]
    fn empty_and_duplicate() {
        assert!(parse_str("").unwrap_err().to_string().contains("empty"));
        assert!(
            parse_str("suites: []\n")
                .unwrap_err()
                .to_string()
                .contains("at least one suite")
        );
        let e = parse_str("suites:\n  - name: a\n    exec: [x]\n  - name: a\n    exec: [y]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("already has this name"), "{e}");
        let e = parse_str("suites:\n  - name: a\n    exec: []\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("expected a command"), "{e}");
    }
    #[test]
    fn artillery_suites_take_the_artillery_run_flags_and_others_refuse_them() {
        let m = parse_str(
            "suites:\n  - name: load\n    artillery: load.yml\n    config: common.yml\n    insecure: true\n    scenarioName: browse\n    variables:\n      user: ann\n    overrides:\n      config:\n        phases: []\n",
        )
        .unwrap();
        let o = &m.suites[0].overlay;
        assert!(o.config_file.as_ref().unwrap().ends_with("common.yml"));
        assert!(o.insecure);
        assert_eq!(o.scenario_name.as_deref(), Some("browse"));
        assert_eq!(o.variables["user"], "ann");
        assert_eq!(
            o.overrides.as_ref().unwrap()["config"]["phases"],
            serde_json::json!([])
        );
        let err =
            parse_str("suites:\n  - name: unit\n    exec: [make, test]\n    config: common.yml\n")
                .unwrap_err()
                .to_string();
        assert!(
            err.contains("suites[0] (unit): config: only Artillery suites take this key"),
            "{err}"
        );
    }

    #[test]
    fn faults_are_read_and_their_errors_name_line_and_key() {
        let m = parse_str(
            "suites:\n  - name: slow\n    exec: [x]\n    faults:\n      - kind: latency\n        latency: 200ms\n        at: 1s\n        duration: 5s\n",
        )
        .unwrap();
        assert_eq!(m.suites[0].faults.len(), 1);
        assert_eq!(m.suites[0].faults[0].action.kind(), "latency");
        let text = "suites:\n  - name: a\n    exec: [x]\n    faults:\n      - kind: cut\n  - name: b\n    exec: [x]\n    faults:\n    - kind: stall\n    - kind: drop\n      at: 1s\n      fraction: 2\n";
        let e = parse_str(text).unwrap_err().to_string();
        assert_eq!(
            e,
            "/tests/testcar.yaml:12:1: suites[1] (b): faults[1] (drop): fraction: expected a number above 0 and at most 1, found 2"
        );
        let e = parse_str("suites:\n  - name: a\n    exec: [x]\n    faults: [{kind: pause}]\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(
                "/tests/testcar.yaml:4:1: suites[0] (a): faults[0] (pause): process: required"
            ),
            "{e}"
        );
        let e = parse_str("suites:\n  - name: a\n    exec: [x]\n    faults:\n      - kind: drop\n        fraction: half\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("/tests/testcar.yaml:6:"), "{e}");
    }

    #[test]
    fn run_wide_proxies_and_faults_that_name_them() {
        let m = parse_str(
            "proxies:\n  - name: n1\n    listen: 127.0.0.1:12380\n    target: 127.0.0.1:2380\nsuites:\n  - name: a\n    exec: [x]\n    faults:\n      - kind: cut\n        proxy: n1\n",
        )
        .unwrap();
        assert_eq!(m.proxies[0].name, "n1");
        assert_eq!(m.proxies[0].listen.port(), 12380);
        assert_eq!(m.suites[0].faults[0].proxy.as_deref(), Some("n1"));
        let e = parse_str(
            "proxies:\n  - name: n1\n    listen: 127.0.0.1:12380\n    target: 127.0.0.1:2380\nsuites:\n  - name: a\n    exec: [x]\n    faults:\n      - kind: cut\n        proxy: n2\n",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "/tests/testcar.yaml:10:1: suites[0] (a): faults[0] (cut): proxy: no proxy named \"n2\" in `proxies:`"
        );
        let e = parse_str(
            "proxies:\n  - name: n1\n    listen: localhost\n    target: 127.0.0.1:2380\nsuites:\n  - name: a\n    exec: [x]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with(
                "/tests/testcar.yaml:1:1: proxies[0] (n1): listen: expected an address and port"
            ),
            "{e}"
        );
        let e = parse_str(
            "suites:\n  - name: a\n    exec: [x]\n    faults:\n      - kind: pause\n        proxy: n1\n        process: {name: x}\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("faults[0] (pause): proxy: only network faults"),
            "{e}"
        );
    }
}
