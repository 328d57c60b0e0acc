//! The Artillery runner: loads the script with the native engine (`testcar-artillery`),
//! runs it with the run's target, environment, credentials and cancellation, and keeps its
//! Artillery-shaped report under the suite's folder of the results.

use std::path::Path;

use testcar_artillery::{LoadOptions, Overlay, RunOptions};
use testcar_contract::Suite;

use super::{RunContext, error_suite, slug};
use crate::manifest::SuiteDef;

/// Run the Artillery script of `def`.
pub async fn run(def: &SuiteDef, ctx: &RunContext) -> Suite {
    let Some(path) = def.file() else {
        return error_suite(def, "not an Artillery suite");
    };
    let environment = def.environment.clone().or_else(|| ctx.environment.clone());
    let overlay = def.overlay.clone().or(&ctx.overlay);
    let load_share = overlay.load_share;
    let load = LoadOptions {
        environment: environment.clone(),
        target: ctx.target.clone(),
        overlay,
        ..LoadOptions::default()
    };
    let script = match testcar_artillery::load_script(&path, &load) {
        Ok(script) => script,
        Err(e) => return error_suite(def, e.to_string()),
    };
    let folder = slug(&def.name);
    let outcome = testcar_artillery::run_script(
        script,
        RunOptions {
            target: ctx.target.clone(),
            environment,
            report_dir: Some(ctx.results_dir.join(&folder)),
            auth: ctx.auth.clone(),
            cancel: ctx.cancel.clone(),
            progress: ctx.progress.clone(),
            load_share,
        },
    )
    .await;
    let mut suite = outcome.suite;
    // The engine names its files relative to the suite folder; the result names them
    // relative to the results folder.
    for report in &mut suite.reports {
        report.path = format!("{folder}/{}", report.path);
    }
    suite
}

/// Check a script without running it: everything the engine checks when loading. A script
/// without `config.target` is valid here: in a pod (and with `run --target`) the agent
/// supplies the target.
pub fn validate(path: &Path, overlay: &Overlay) -> Result<(), String> {
    let opts = LoadOptions {
        target_from_runner: true,
        overlay: overlay.clone(),
        ..LoadOptions::default()
    };
    testcar_artillery::load_script(path, &opts)
        .map(|_| ())
        .map_err(|e| e.to_string())
}
