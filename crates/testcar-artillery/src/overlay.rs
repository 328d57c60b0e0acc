//! What `artillery run`'s flags change in a script before it runs: a config file merged over
//! it (`--config`), JSON overrides (`--overrides`), variables (`--variables`), `--insecure`,
//! `--solo` and `--scenario-name`, applied the way Artillery applies them.

use std::path::PathBuf;

use serde_json::Value as Json;

use crate::yaml::{Node, Pos, Value};

/// Source numbers of the overlays in [`Pos::src`]; 0 is the script itself.
pub const SRC_CONFIG_FILE: u8 = 1;
/// `--overrides`.
pub const SRC_OVERRIDES: u8 = 2;
/// `--variables`.
pub const SRC_VARIABLES: u8 = 3;

/// The flags of `artillery run` that reshape a script, all optional.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overlay {
    /// `--config FILE`: its keys are merged over the script's (Artillery reads the script,
    /// then the config file, and lodash-merges them in that order).
    pub config_file: Option<PathBuf>,
    /// `--overrides JSON`: merged over the script; a list replaces the script's list.
    pub overrides: Option<Json>,
    /// `--variables JSON`: each key replaces `config.variables.<key>`.
    pub variables: serde_json::Map<String, Json>,
    /// `--insecure`: accept any server certificate.
    pub insecure: bool,
    /// `--solo`: one VU, whatever the phases say.
    pub solo: bool,
    /// `--scenario-name NAME`: run only that scenario.
    pub scenario_name: Option<String>,
    /// `--dotenv FILE`: variables `$env` sees when the process environment lacks them.
    pub dotenv: Option<PathBuf>,
    /// Testcar's own (`testcar.io/load: shared`): this many replicas share the script's
    /// load, so each runs `1/n` of every phase's arrivals. Applied when the script runs
    /// ([`crate::RunOptions::load_share`]), not when it is read.
    pub load_share: Option<u32>,
}

impl Overlay {
    /// Fill what `self` leaves unset from `defaults` (a suite's own settings over the run's).
    pub fn or(mut self, defaults: &Overlay) -> Overlay {
        if self.config_file.is_none() {
            self.config_file = defaults.config_file.clone();
        }
        if self.overrides.is_none() {
            self.overrides = defaults.overrides.clone();
        }
        for (k, v) in &defaults.variables {
            self.variables.entry(k.clone()).or_insert_with(|| v.clone());
        }
        self.insecure |= defaults.insecure;
        self.solo |= defaults.solo;
        if self.scenario_name.is_none() {
            self.scenario_name = defaults.scenario_name.clone();
        }
        if self.dotenv.is_none() {
            self.dotenv = defaults.dotenv.clone();
        }
        if self.load_share.is_none() {
            self.load_share = defaults.load_share;
        }
        self
    }

    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        *self == Overlay::default()
    }
}

/// How two lists merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lists {
    /// Element by element, like lodash `merge` (config files, environments).
    ByIndex,
    /// The newer list wins whole (Artillery's `--overrides`).
    Replace,
}

/// `over` merged into `base`: mappings key by key, scalars replaced, lists as `lists` says.
pub fn merge(base: &Node, over: &Node, lists: Lists) -> Node {
    match (&base.value, &over.value) {
        (Value::Map(b), Value::Map(o)) => {
            let mut out = b.clone();
            for (k, v) in o {
                match out.iter_mut().find(|(bk, _)| bk.value == k.value) {
                    Some((_, bv)) => *bv = merge(bv, v, lists),
                    None => out.push((k.clone(), v.clone())),
                }
            }
            Node {
                value: Value::Map(out),
                pos: base.pos,
            }
        }
        (Value::Seq(b), Value::Seq(o)) if lists == Lists::ByIndex => {
            let mut out = b.clone();
            for (i, v) in o.iter().enumerate() {
                if i < out.len() {
                    out[i] = merge(&out[i], v, lists);
                } else {
                    out.push(v.clone());
                }
            }
            Node {
                value: Value::Seq(out),
                pos: base.pos,
            }
        }
        _ => over.clone(),
    }
}

/// Apply the overrides and variables of `overlay` to a script's tree (the config file is
/// merged by the loader, which reads it).
pub fn apply_to_tree(root: &mut Node, overlay: &Overlay) {
    if let Some(o) = &overlay.overrides {
        let node = Node::from_json(o, at(SRC_OVERRIDES));
        *root = merge(root, &node, Lists::Replace);
    }
    if !overlay.variables.is_empty() {
        let vars = Json::Object(overlay.variables.clone());
        let node = Node::from_json(
            &serde_json::json!({ "config": { "variables": vars } }),
            at(SRC_VARIABLES),
        );
        // Each variable replaces the script's whole value, list or not.
        *root = merge(root, &node, Lists::Replace);
    }
}

fn at(src: u8) -> Pos {
    Pos {
        line: 1,
        col: 1,
        src,
    }
}
