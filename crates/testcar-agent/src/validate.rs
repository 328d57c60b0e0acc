//! `testcar-agent validate`: reads every definition the way a run would and reports the
//! problems, without contacting any service.

use std::path::{Path, PathBuf};

use testcar_artillery::Overlay;
use testcar_contract::ExitClass;

use crate::discover;
use crate::manifest::SuiteKind;
use crate::runners;

/// Problems found, one line each; empty when everything is valid.
pub fn check(paths: &[PathBuf], overlay: &Overlay) -> Result<Vec<String>, Vec<String>> {
    let plan = discover::discover(paths).map_err(|e| vec![e.to_string()])?;
    let mut problems = Vec::new();
    let mut notes = Vec::new();
    for suite in &plan.suites {
        match &suite.kind {
            SuiteKind::Artillery(_) => {
                let file = suite.file().expect("artillery suites have a file");
                if let Err(e) =
                    runners::artillery::validate(&file, &suite.overlay.clone().or(overlay))
                {
                    problems.push(e);
                }
            }
            SuiteKind::Consistency(_) => {
                let file = suite.file().expect("consistency suites have a file");
                if let Err(e) = runners::consistency::validate(&file) {
                    problems.push(e);
                }
            }
            SuiteKind::Exec(cmd) => {
                if !program_exists(&cmd[0], &suite.base_dir) {
                    notes.push(format!(
                        "suite {}: `{}` is not found here; it must exist where the tests run",
                        suite.name, cmd[0]
                    ));
                }
            }
        }
    }
    if problems.is_empty() {
        let mut out = notes;
        out.insert(
            0,
            format!(
                "valid: {} suite(s): {}",
                plan.suites.len(),
                plan.suites
                    .iter()
                    .map(|s| format!("{} ({})", s.name, s.kind.runner().as_str()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        Ok(out)
    } else {
        Err(problems)
    }
}

fn program_exists(program: &str, base: &Path) -> bool {
    if program.contains('/') {
        let p = Path::new(program);
        return if p.is_absolute() {
            p.exists()
        } else {
            base.join(p).exists()
        };
    }
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
}

/// Print the outcome: notes on stdout, problems on stderr; 0 valid, 2 invalid.
pub fn run(paths: &[PathBuf], overlay: &Overlay) -> ExitClass {
    match check(paths, overlay) {
        Ok(lines) => {
            for l in lines {
                println!("{l}");
            }
            ExitClass::Passed
        }
        Err(problems) => {
            for p in problems {
                eprintln!("invalid: {p}");
            }
            ExitClass::Error
        }
    }
}
