//! Loading what the report is drawn from: the result document and Artillery reports, either
//! named on a command line or found through the suites' `artillery-report` entries in a
//! results folder. Errors name the file and, for JSON, the line and column.

use std::path::{Component, Path, PathBuf};

use serde_json::Value;
use testcar_contract::{Run, RunnerKind, SCHEMA_ID};

use crate::escape::relative_href;

/// Report kind under which runners record a suite's Artillery `--output` file.
pub const ARTILLERY_REPORT: &str = "artillery-report";

/// A report input that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not JSON, or not a result document.
    #[error("{path}:{line}:{column}: {what}: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Line of the problem.
        line: usize,
        /// Column of the problem.
        column: usize,
        /// What the file was expected to be.
        what: &'static str,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// A result document of another schema.
    #[error("{path}: key `schema`: expected {SCHEMA_ID}, found {found:?}")]
    Schema {
        /// The file.
        path: PathBuf,
        /// The schema it declares.
        found: String,
    },
    /// An Artillery report could not be matched to a suite of the run.
    #[error(
        "{path}: no suite of the result matches this Artillery report; name it as SUITE=FILE (suites: {suites})"
    )]
    NoSuite {
        /// The report file.
        path: PathBuf,
        /// The run's suite names, comma-separated.
        suites: String,
    },
}

fn read(path: &Path) -> Result<String, LoadError> {
    std::fs::read_to_string(path).map_err(|source| LoadError::Read {
        path: path.to_path_buf(),
        source,
    })
}

fn parse_error(path: &Path, what: &'static str, source: serde_json::Error) -> LoadError {
    LoadError::Parse {
        path: path.to_path_buf(),
        line: source.line(),
        column: source.column(),
        what,
        source,
    }
}

/// Read a `testcar.io/result/v1` document.
pub fn load_run(path: &Path) -> Result<Run, LoadError> {
    let text = read(path)?;
    let run: Run = serde_json::from_str(&text)
        .map_err(|e| parse_error(path, "not a testcar.io/result/v1 document", e))?;
    if run.schema != SCHEMA_ID {
        return Err(LoadError::Schema {
            path: path.to_path_buf(),
            found: run.schema,
        });
    }
    Ok(run)
}

/// Read an Artillery `--output` report as JSON (its shape is checked while rendering, where
/// every odd value is listed on the page instead of failing the whole report).
pub fn load_artillery(path: &Path) -> Result<Value, LoadError> {
    let text = read(path)?;
    serde_json::from_str(&text).map_err(|e| parse_error(path, "not a JSON Artillery report", e))
}

/// Which suite an Artillery report file belongs to. `arg` is `FILE` or `SUITE=FILE`.
///
/// Without an explicit suite: the suite whose `artillery-report` entry the path ends with,
/// else the suite named like the file (`load.json`) or its folder (`load/report.json`),
/// else the only Artillery suite of the run.
pub fn suite_for_report(run: &Run, arg: &str) -> Result<(String, PathBuf), LoadError> {
    if let Some((suite, file)) = arg.split_once('=')
        && run.suites.iter().any(|s| s.name == suite)
    {
        return Ok((suite.to_string(), PathBuf::from(file)));
    }
    let path = PathBuf::from(arg);
    let normal = |p: &Path| -> Vec<String> {
        p.components()
            .filter_map(|c| match c {
                Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect()
    };
    let given = normal(&path);
    for suite in &run.suites {
        for r in suite.reports.iter().filter(|r| r.kind == ARTILLERY_REPORT) {
            let rel = normal(Path::new(&r.path));
            if !rel.is_empty() && given.ends_with(&rel) {
                return Ok((suite.name.clone(), path));
            }
        }
    }
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
    let parent = path
        .parent()
        .and_then(|p| p.file_name())
        .map(|s| s.to_string_lossy().into_owned());
    for candidate in [stem, parent].into_iter().flatten() {
        if let Some(s) = run.suites.iter().find(|s| s.name == candidate) {
            return Ok((s.name.clone(), path));
        }
    }
    let mut artillery = run
        .suites
        .iter()
        .filter(|s| s.runner == RunnerKind::Artillery);
    if let (Some(only), None) = (artillery.next(), artillery.next()) {
        return Ok((only.name.clone(), path));
    }
    Err(LoadError::NoSuite {
        path,
        suites: run
            .suites
            .iter()
            .map(|s| s.name.as_str())
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// The Artillery reports the run recorded (`reports` of kind `artillery-report`), read from
/// `results_dir`. Files that are missing or unreadable are returned as errors next to the
/// reports that loaded; paths that leave the results folder are not followed.
pub fn reports_in_results_dir(
    run: &Run,
    results_dir: &Path,
) -> (Vec<(String, Value)>, Vec<LoadError>) {
    let mut reports = Vec::new();
    let mut errors = Vec::new();
    for suite in &run.suites {
        for r in suite.reports.iter().filter(|r| r.kind == ARTILLERY_REPORT) {
            if relative_href(&r.path).is_none() {
                continue;
            }
            match load_artillery(&results_dir.join(&r.path)) {
                Ok(v) => reports.push((suite.name.clone(), v)),
                Err(e) => errors.push(e),
            }
        }
    }
    (reports, errors)
}

#[cfg(test)]
mod tests {
    use testcar_contract::{Report, Suite};

    use super::*;

    fn mk_run(suites: Vec<Suite>) -> Run {
        let now = chrono::Utc::now();
        Run::finish("id", now, now, suites, None)
    }

    fn mk_suite(name: &str, runner: RunnerKind, report: Option<&str>) -> Suite {
        let mut s = Suite::new(name, runner);
        if let Some(p) = report {
            s.reports.push(Report {
                kind: ARTILLERY_REPORT.into(),
                path: p.into(),
            });
        }
        s
    }

    #[test]
    fn matching_reports_to_suites() {
        let run = mk_run(vec![
            mk_suite("smoke", RunnerKind::Artillery, Some("smoke/report.json")),
            mk_suite("load", RunnerKind::Artillery, None),
            mk_suite("api", RunnerKind::Exec, None),
        ]);
        let name = |arg: &str| suite_for_report(&run, arg).map(|(n, _)| n).ok();
        assert_eq!(name("/tmp/x/smoke/report.json").as_deref(), Some("smoke"));
        assert_eq!(name("out/load.json").as_deref(), Some("load"));
        assert_eq!(name("load/report.json").as_deref(), Some("load"));
        assert_eq!(name("api=whatever.json").as_deref(), Some("api"));
        let err = suite_for_report(&run, "other.json")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "other.json: no suite of the result matches this Artillery report; name it as SUITE=FILE (suites: smoke, load, api)"
        );
    }

    #[test]
    fn the_only_artillery_suite_takes_an_unnamed_report() {
        let run = mk_run(vec![mk_suite("load", RunnerKind::Artillery, None)]);
        assert_eq!(suite_for_report(&run, "x.json").unwrap().0, "load");
    }

    #[test]
    fn bad_files_are_named_with_line_and_column() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("result.json");
        std::fs::write(
            &p,
            "{\n  \"schema\": \"testcar.io/result/v1\",\n  \"runId\": 7\n}",
        )
        .unwrap();
        let err = load_run(&p).unwrap_err().to_string();
        assert!(err.starts_with(&format!("{}:3:", p.display())), "{err}");
        assert!(err.contains("not a testcar.io/result/v1 document"), "{err}");

        std::fs::write(&p, include_str!("../test_data/other-schema.json")).unwrap();
        let err = load_run(&p).unwrap_err().to_string();
        assert!(
            err.contains(
                "key `schema`: expected testcar.io/result/v1, found \"testcar.io/result/v0\""
            ),
            "{err}"
        );

        let err = load_artillery(&dir.path().join("missing.json"))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("cannot read ") && err.contains("missing.json"),
            "{err}"
        );
    }

    #[test]
    fn reports_are_read_from_the_results_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("smoke")).unwrap();
        std::fs::write(dir.path().join("smoke/report.json"), r#"{"aggregate":{}}"#).unwrap();
        let run = mk_run(vec![
            mk_suite("smoke", RunnerKind::Artillery, Some("smoke/report.json")),
            mk_suite("gone", RunnerKind::Artillery, Some("gone/report.json")),
            mk_suite("sneaky", RunnerKind::Artillery, Some("../../etc/passwd")),
        ]);
        let (reports, errors) = reports_in_results_dir(&run, dir.path());
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].0, "smoke");
        assert_eq!(errors.len(), 1);
        assert!(errors[0].to_string().contains("gone/report.json"));
    }
}
