//! The results folder: `result.json`, `junit.xml` and `report.html` written atomically next
//! to each suite's reports, and the stored result a restarted sidecar finds instead of
//! running again.

use std::path::{Path, PathBuf};

use testcar_contract::paths::{JUNIT_FILE, REPORT_FILE, RESULT_FILE};
use testcar_contract::{PodRef, Run, junit};

/// The results could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {source}")]
pub struct WriteError {
    /// The file.
    pub path: PathBuf,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

/// Write `result.json`, `junit.xml` and `report.html` into `dir`. The HTML page draws the
/// Artillery reports the suites recorded there; one that cannot be read only costs its charts.
pub fn write(dir: &Path, run: &Run) -> Result<(), WriteError> {
    std::fs::create_dir_all(dir).map_err(|source| WriteError {
        path: dir.to_path_buf(),
        source,
    })?;
    let json = serde_json::to_string_pretty(run).expect("a Run always serializes");
    write_atomic(&dir.join(RESULT_FILE), json.as_bytes())?;
    write_atomic(&dir.join(JUNIT_FILE), junit::render_junit(run).as_bytes())?;
    let (reports, warnings) = testcar_report::reports_in_results_dir(run, dir);
    for warning in &warnings {
        tracing::warn!(error = %warning, "artillery report left out of report.html");
    }
    let page = testcar_report::render_html(run, &reports);
    write_atomic(&dir.join(REPORT_FILE), page.as_bytes())?;
    Ok(())
}

/// A report page could not be made (`testcar-agent report`).
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The result or a named Artillery report could not be read or matched.
    #[error(transparent)]
    Load(#[from] testcar_report::LoadError),
    /// The page could not be written.
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// Render `result` (with `artillery` reports, `FILE` or `SUITE=FILE`) into `output`.
pub fn write_report_page(
    result: &Path,
    artillery: &[String],
    output: &Path,
) -> Result<(), ReportError> {
    let (page, warnings) = testcar_report::render_files(result, artillery)?;
    for warning in &warnings {
        tracing::warn!(error = %warning, "artillery report left out of the page");
    }
    write_atomic(output, page.as_bytes())?;
    Ok(())
}

/// A reader never sees half a file: write aside, then rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    let err = |source| WriteError {
        path: path.to_path_buf(),
        source,
    };
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(err)?;
    std::fs::rename(&tmp, path).map_err(err)
}

/// The result this pod already produced, if the results folder holds one. A result of
/// another pod (a reused volume) or an unreadable file does not count.
pub fn stored_for(dir: &Path, pod: Option<&PodRef>) -> Option<Run> {
    let path = dir.join(RESULT_FILE);
    let text = std::fs::read_to_string(&path).ok()?;
    match serde_json::from_str::<Run>(&text) {
        Ok(run) if run.pod.as_ref() == pod => Some(run),
        Ok(run) => {
            tracing::warn!(file = %path.display(), stored_pod = ?run.pod.map(|p| p.name), "stored result belongs to another pod; running again");
            None
        }
        Err(error) => {
            tracing::warn!(file = %path.display(), %error, "stored result is unreadable; running again");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn mk_run(pod: Option<&str>) -> Run {
        let now = Utc::now();
        let mut run = Run::finish("r", now, now, vec![], Some("x".into()));
        run.pod = pod.map(|name| PodRef {
            name: name.into(),
            namespace: "ns".into(),
        });
        run
    }

    #[test]
    fn stored_result_only_for_the_same_pod() {
        let dir = tempfile::tempdir().unwrap();
        let pod = |n: &str| PodRef {
            name: n.into(),
            namespace: "ns".into(),
        };
        assert!(stored_for(dir.path(), Some(&pod("a"))).is_none());
        write(dir.path(), &mk_run(Some("a"))).unwrap();
        assert!(dir.path().join(JUNIT_FILE).is_file());
        let page = std::fs::read_to_string(dir.path().join(REPORT_FILE)).unwrap();
        assert!(page.contains("ERROR"), "the page shows the verdict");
        assert_eq!(stored_for(dir.path(), Some(&pod("a"))).unwrap().run_id, "r");
        assert!(stored_for(dir.path(), Some(&pod("b"))).is_none());
        std::fs::write(dir.path().join(RESULT_FILE), "{ cut").unwrap();
        assert!(stored_for(dir.path(), Some(&pod("a"))).is_none());
    }
}
