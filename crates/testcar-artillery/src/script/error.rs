//! Why a script did not load. Every rejection points at `file:line:column` and the key, so
//! a user can fix the script without reading the engine.

/// What every rejection of an unsupported feature ends with.
pub const FALLBACK_ADVICE: &str = "not supported by Testcar's native engine; run this script with real Artillery in an `exec` suite";

/// A script that could not be loaded. Display: `<file>:<line>:<column>: <key>: <why>`.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    /// The file could not be read.
    #[error("{file}:1:1: {file}: cannot read: {source}")]
    Read {
        /// The script path.
        file: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid YAML (or, for a `*.json` script, not valid JSON; JSON is read
    /// as the YAML it is a subset of, so positions come out the same).
    #[error("{file}:{line}:{col}: ({}): {message}", syntax_name(file))]
    Yaml {
        /// The script path.
        file: String,
        /// Line.
        line: usize,
        /// Column.
        col: usize,
        /// What the YAML parser said.
        message: String,
    },
    /// A key is wrong, missing or unsupported.
    #[error("{file}:{line}:{col}: {key}: {message}")]
    Invalid {
        /// The file (script or payload).
        file: String,
        /// Line.
        line: usize,
        /// Column.
        col: usize,
        /// Path of the key, e.g. `scenarios[0].flow[1].get.capture[0].xpath`.
        key: String,
        /// What was expected, or why it is unsupported.
        message: String,
    },
}

/// What a syntax error is named after: `json` for a `*.json` script, else `yaml`.
fn syntax_name(file: &str) -> &'static str {
    if file.ends_with(".json") {
        "json"
    } else {
        "yaml"
    }
}
