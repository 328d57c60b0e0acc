//! The results folder: `result.json` and `junit.xml` written atomically next to each
//! suite's reports, and the stored result a restarted sidecar finds instead of running again.

use std::path::{Path, PathBuf};

use testcar_contract::paths::{JUNIT_FILE, RESULT_FILE};
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

/// Write `result.json` and `junit.xml` into `dir`.
pub fn write(dir: &Path, run: &Run) -> Result<(), WriteError> {
    std::fs::create_dir_all(dir).map_err(|source| WriteError {
        path: dir.to_path_buf(),
        source,
    })?;
    let json = serde_json::to_string_pretty(run).expect("a Run always serializes");
    write_atomic(&dir.join(RESULT_FILE), json.as_bytes())?;
    write_atomic(&dir.join(JUNIT_FILE), junit::render_junit(run).as_bytes())?;
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
        assert_eq!(stored_for(dir.path(), Some(&pod("a"))).unwrap().run_id, "r");
        assert!(stored_for(dir.path(), Some(&pod("b"))).is_none());
        std::fs::write(dir.path().join(RESULT_FILE), "{ cut").unwrap();
        assert!(stored_for(dir.path(), Some(&pod("a"))).is_none());
    }
}
