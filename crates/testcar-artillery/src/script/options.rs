//! The `artillery run` flags that reshape a script at load (`--config`, `--overrides`,
//! `--dotenv`, `--insecure`, `--solo`, `--scenario-name`), applied here around the reader so
//! it only ever sees one YAML tree (`-e` and `--target` are validated with `config`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use super::model::{Phase, PhaseKind, Script};
use super::{ScriptError, dotenv, parse_yaml, read};
use crate::overlay::{self, Lists};
use crate::yaml::Node;

/// Options for [`crate::load_script`].
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `-e NAME`: merge `config.environments.NAME` over `config`.
    pub environment: Option<String>,
    /// `--target URL`: overrides `config.target`.
    pub target: Option<String>,
    /// The runner supplies the target when it runs the script (the agent always has one),
    /// so a script without `config.target` is valid; `validate` loads scripts this way.
    pub target_from_runner: bool,
    /// `artillery run` flags that reshape the script (`--config`, `--overrides`, …).
    pub overlay: crate::overlay::Overlay,
}

/// The tree the reader reads, with what it needs to name sources and render `$env`.
pub(super) struct Prepared {
    /// The script with the config file and the overrides merged in.
    pub root: Node,
    /// The sources by [`crate::yaml::Pos::src`]: the script, the config file, the
    /// overrides, the variables.
    pub files: Vec<String>,
    /// `--dotenv` values.
    pub dotenv: Arc<BTreeMap<String, String>>,
}

/// Before reading: merge `--config` and the overlay flags into the tree, read `--dotenv`.
pub(super) fn prepare(
    text: &str,
    path: &Path,
    opts: &LoadOptions,
) -> Result<Prepared, ScriptError> {
    let file = path.display().to_string();
    let mut root = parse_yaml(text, &file)?;
    let mut files = vec![file];
    let o = &opts.overlay;
    let config_file = o
        .config_file
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    files.push(config_file.clone());
    files.push("--overrides".into());
    files.push("--variables".into());
    if let Some(cfg) = &o.config_file {
        let mut node = parse_yaml(&read(cfg)?, &config_file)?;
        node.set_source(overlay::SRC_CONFIG_FILE);
        root = overlay::merge(&root, &node, Lists::ByIndex);
    }
    overlay::apply_to_tree(&mut root, o);
    let dotenv = match &o.dotenv {
        Some(p) => dotenv::read(p)?,
        None => Default::default(),
    };
    Ok(Prepared {
        root,
        files,
        dotenv: Arc::new(dotenv),
    })
}

/// After reading: the flags that replace parts of the validated script.
pub(super) fn finish(
    mut script: Script,
    opts: &LoadOptions,
    prepared: &Prepared,
) -> Result<Script, ScriptError> {
    let o = &opts.overlay;
    script.config.dotenv = prepared.dotenv.clone();
    if o.insecure {
        script.config.reject_unauthorized = false;
    }
    if o.solo {
        script.config.phases = vec![Phase {
            name: None,
            kind: PhaseKind::Count {
                duration: Duration::from_secs(1),
                count: 1,
            },
            max_vusers: None,
        }];
    }
    if let Some(name) = &o.scenario_name {
        let known: Vec<&str> = script.scenarios.iter().map(|s| s.name.as_str()).collect();
        if !known.contains(&name.as_str()) {
            return Err(ScriptError::Invalid {
                file: prepared.files[0].clone(),
                line: 1,
                col: 1,
                key: "--scenario-name".into(),
                message: format!(
                    "no scenario named {name:?}; the script has: {}",
                    known.join(", ")
                ),
            });
        }
        script.scenarios.retain(|s| &s.name == name);
    }
    Ok(script)
}
