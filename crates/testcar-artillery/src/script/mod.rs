//! An Artillery script: the model ([`model`]), the reader that builds it from YAML with
//! positions, and the load-time flags around it. Loading is validating: a script that loads
//! runs the way Artillery would run it, and anything else is refused with `file:line:column`.

mod dotenv;
mod error;
pub(crate) mod model;
mod options;
mod reader;

use std::path::Path;
use std::time::Duration;

pub use error::{FALLBACK_ADVICE, ScriptError};
pub use model::*;
pub use options::LoadOptions;

use crate::yaml::{self, Node};

/// Load and validate a script.
pub fn load(path: &Path, opts: &LoadOptions) -> Result<Script, ScriptError> {
    let text = read(path)?;
    parse(&text, path, opts)
}

fn read(path: &Path) -> Result<String, ScriptError> {
    std::fs::read_to_string(path).map_err(|source| ScriptError::Read {
        file: path.display().to_string(),
        source,
    })
}

fn parse_yaml(text: &str, file: &str) -> Result<Node, ScriptError> {
    yaml::parse(text).map_err(|e| ScriptError::Yaml {
        file: file.to_string(),
        line: e.line,
        col: e.col,
        message: e.message,
    })
}

/// Parse a script from text; `path` names it in errors and anchors payload paths. The
/// overlay's config file is read from disk.
pub fn parse(text: &str, path: &Path, opts: &LoadOptions) -> Result<Script, ScriptError> {
    let prepared = options::prepare(text, path, opts)?;
    let script = reader::read(&prepared, path, opts)?;
    options::finish(script, opts, &prepared)
}

/// Parse a think time: seconds (`2`, `0.5`) or a duration (`500ms`, `2s`).
pub fn think_duration(text: &str) -> Result<Duration, String> {
    testcar_contract::duration::parse_duration(text).map_err(|e| format!("invalid think time: {e}"))
}
