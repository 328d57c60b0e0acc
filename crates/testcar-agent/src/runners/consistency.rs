//! The consistency runner: loads a `*.consistency.yaml` suite, drives the service with
//! concurrent clients through `testcar-consistency`, and keeps the recorded history and its
//! HTML view under the suite's folder of the results.

use std::path::Path;

use testcar_consistency::SuiteOptions;
use testcar_contract::Suite;

use super::{RunContext, error_suite, slug};
use crate::manifest::SuiteDef;

/// Run the consistency suite of `def`.
pub async fn run(def: &SuiteDef, ctx: &RunContext) -> Suite {
    let Some(path) = def.file() else {
        return error_suite(def, "not a consistency suite");
    };
    let suite = match testcar_consistency::load_suite(&path) {
        Ok(suite) => suite,
        Err(e) => return error_suite(def, e.to_string()),
    };
    let folder = slug(&def.name);
    let mut result = testcar_consistency::run_suite(
        suite,
        SuiteOptions {
            target: ctx.target.clone(),
            auth: ctx.auth.clone(),
            results_dir: Some(ctx.results_dir.join(&folder)),
            cancel: ctx.cancel.clone(),
        },
    )
    .await;
    // Reports are named relative to the suite folder; the result names them relative to
    // the results folder.
    for report in &mut result.reports {
        report.path = format!("{folder}/{}", report.path);
    }
    result
}

/// Check a suite file without running it: everything the loader checks.
pub fn validate(path: &Path) -> Result<(), String> {
    testcar_consistency::load_suite(path)
        .map(|_| ())
        .map_err(|e| e.to_string())
}
