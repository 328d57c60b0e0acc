//! The Artillery runner seam. This agent is built without the native engine
//! (`testcar-artillery`), so a script suite is reported as `error` rather than skipped or
//! faked; `validate` checks only that the script is YAML with `scenarios`.

use std::path::Path;

use testcar_contract::Suite;

use super::{RunContext, error_suite};
use crate::manifest::SuiteDef;

/// Run the Artillery script of `def`.
pub async fn run(def: &SuiteDef, _ctx: &RunContext) -> Suite {
    error_suite(def, "artillery runner is not built into this agent")
}

/// Check a script without running it: YAML syntax and a `scenarios` list.
pub fn validate(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).map_err(|e| {
        let (line, col) = e
            .location()
            .map(|l| (l.line(), l.column()))
            .unwrap_or((0, 0));
        format!("{}:{line}:{col}: {e}", path.display())
    })?;
    match doc.get("scenarios") {
        Some(serde_yaml::Value::Sequence(_)) => Ok(()),
        Some(_) => Err(format!(
            "{}: scenarios: expected a list of scenarios",
            path.display()
        )),
        None => Err(format!(
            "{}: not an Artillery script: expected a top-level `scenarios:` list",
            path.display()
        )),
    }
}
