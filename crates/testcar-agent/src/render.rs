//! `testcar-agent render`: show a stored result document as the human summary and the
//! result line, optionally writing JUnit XML; exits with the document's class.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use testcar_contract::{ExitClass, Run, junit, line, summary};

/// A result document that could not be rendered.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a result v1 document.
    #[error("{path}:{line}:{column}: not a testcar.io/result/v1 document: {source}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// Line of the problem.
        line: usize,
        /// Column of the problem.
        column: usize,
        /// Why.
        #[source]
        source: serde_json::Error,
    },
    /// The JUnit file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// Read a result document from `path`.
pub fn read_result(path: &Path) -> Result<Run, RenderError> {
    let text = std::fs::read_to_string(path).map_err(|source| RenderError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| RenderError::Parse {
        path: path.to_path_buf(),
        line: source.line(),
        column: source.column(),
        source,
    })
}

/// Print the summary and the result line of `result`; write JUnit to `junit` if given.
pub fn run(result: &Path, junit_path: Option<&Path>) -> Result<ExitClass, RenderError> {
    let run = read_result(result)?;
    if let Some(path) = junit_path {
        std::fs::write(path, junit::render_junit(&run)).map_err(|source| RenderError::Write {
            path: path.to_path_buf(),
            source,
        })?;
    }
    print!(
        "{}",
        summary::render_summary(&run, std::io::stdout().is_terminal())
    );
    println!("{}", line::render_line(&run));
    Ok(ExitClass::from(run.status))
}
