//! The consistency runner seam. This agent is built without `testcar-consistency`, so a
//! consistency suite is reported as `error` rather than skipped or faked; `validate`
//! checks only that the file is YAML.

use std::path::Path;

use testcar_contract::Suite;

use super::{RunContext, error_suite};
use crate::manifest::SuiteDef;

/// Run the consistency suite of `def`.
pub async fn run(def: &SuiteDef, _ctx: &RunContext) -> Suite {
    error_suite(def, "consistency runner is not built into this agent")
}

/// Check a suite file without running it: YAML syntax only.
pub fn validate(path: &Path) -> Result<(), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_yaml::from_str::<serde_yaml::Value>(&text)
        .map(|_| ())
        .map_err(|e| {
            let (line, col) = e
                .location()
                .map(|l| (l.line(), l.column()))
                .unwrap_or((0, 0));
            format!("{}:{line}:{col}: {e}", path.display())
        })
}
