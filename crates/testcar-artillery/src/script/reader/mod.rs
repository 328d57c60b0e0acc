//! The reader: a YAML tree with positions in, a validated [`Script`] out. Every key is
//! checked against what Testcar runs the way Artillery would; the rest is refused with its
//! position, its path and the advice to fall back to real Artillery.

mod config;
mod flow;
mod plugins;
mod ws;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::error::{FALLBACK_ADVICE, ScriptError};
use super::model::{RequestId, Script, Step};
use super::options::{LoadOptions, Prepared};
use crate::template::{JsonTemplate, Template};
use crate::yaml::{Node, Pos, Value};

/// Read a prepared tree into a script.
pub(super) fn read(prepared: &Prepared, path: &Path, opts: &LoadOptions) -> R<Script> {
    let cx = Cx {
        files: prepared.files.clone(),
        dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        dotenv: prepared.dotenv.clone(),
        next_request: Cell::new(0),
    };
    cx.script(&prepared.root, path, opts)
}

/// What reading needs besides the node at hand.
struct Cx {
    /// The sources, by [`Pos::src`]: the script, the config file, the overrides, the
    /// variables.
    files: Vec<String>,
    dir: PathBuf,
    /// `--dotenv` values, for templates rendered at load.
    dotenv: Arc<BTreeMap<String, String>>,
    /// The id the next request step gets.
    next_request: Cell<usize>,
}

type R<T> = Result<T, ScriptError>;

impl Cx {
    fn request_id(&self) -> RequestId {
        let id = self.next_request.get();
        self.next_request.set(id + 1);
        RequestId(id)
    }

    fn err(&self, pos: Pos, key: &str, message: impl Into<String>) -> ScriptError {
        ScriptError::Invalid {
            file: self
                .files
                .get(pos.src as usize)
                .unwrap_or(&self.files[0])
                .clone(),
            line: pos.line,
            col: pos.col,
            key: key.to_string(),
            message: message.into(),
        }
    }

    fn unsupported(&self, pos: Pos, key: &str, what: &str) -> ScriptError {
        self.err(pos, key, format!("{what} {FALLBACK_ADVICE}"))
    }

    fn map<'n>(&self, node: &'n Node, key: &str) -> R<&'n [(Node, Node)]> {
        match &node.value {
            Value::Map(entries) => Ok(entries),
            _ => Err(self.err(
                node.pos,
                key,
                format!("expected a mapping, found {}", node.kind()),
            )),
        }
    }

    fn seq<'n>(&self, node: &'n Node, key: &str) -> R<&'n [Node]> {
        match &node.value {
            Value::Seq(items) => Ok(items),
            _ => Err(self.err(
                node.pos,
                key,
                format!("expected a list, found {}", node.kind()),
            )),
        }
    }

    /// Entries of a mapping with string keys, each key checked against `allowed`.
    fn entries<'n>(
        &self,
        node: &'n Node,
        key: &str,
        allowed: &[&str],
        rejected: &[(&str, &str)],
    ) -> R<Vec<(&'n str, &'n Node, Pos)>> {
        let mut out = Vec::new();
        for (k, v) in self.map(node, key)? {
            let Some(name) = k.as_str() else {
                return Err(self.err(k.pos, key, "keys must be strings"));
            };
            self.check_key(name, k.pos, key, allowed, rejected)?;
            out.push((name, v, k.pos));
        }
        Ok(out)
    }

    fn check_key(
        &self,
        name: &str,
        pos: Pos,
        key: &str,
        allowed: &[&str],
        rejected: &[(&str, &str)],
    ) -> R<()> {
        let path = join(key, name);
        if let Some((_, what)) = rejected.iter().find(|(r, _)| *r == name) {
            return Err(self.unsupported(pos, &path, what));
        }
        if !allowed.contains(&name) {
            return Err(self.err(
                pos,
                &path,
                format!("unknown key; expected one of: {}", allowed.join(", ")),
            ));
        }
        Ok(())
    }

    fn string(&self, node: &Node, key: &str) -> R<String> {
        match &node.value {
            Value::Str(s) => Ok(s.clone()),
            Value::Int(_) | Value::Float(_) | Value::Bool(_) => Ok(node.scalar_text()),
            _ => Err(self.err(
                node.pos,
                key,
                format!("expected a string, found {}", node.kind()),
            )),
        }
    }

    fn template(&self, node: &Node, key: &str) -> R<Template> {
        let s = self.string(node, key)?;
        Template::parse(&s).map_err(|e| self.err(node.pos, key, e.to_string()))
    }

    fn json_template(&self, node: &Node, key: &str) -> R<JsonTemplate> {
        JsonTemplate::compile(&node.to_json()).map_err(|e| self.err(node.pos, key, e.to_string()))
    }

    fn bool(&self, node: &Node, key: &str) -> R<bool> {
        match &node.value {
            Value::Bool(b) => Ok(*b),
            Value::Str(s) if s == "true" || s == "false" => Ok(s == "true"),
            _ => Err(self.err(
                node.pos,
                key,
                format!("expected true or false, found {}", node.kind()),
            )),
        }
    }

    fn number(&self, node: &Node, key: &str) -> R<f64> {
        let n = match &node.value {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::Str(s) => s.trim().parse().ok(),
            _ => None,
        };
        match n {
            Some(n) if n.is_finite() && n >= 0.0 => Ok(n),
            _ => Err(self.err(
                node.pos,
                key,
                format!(
                    "expected a non-negative number, found {} {}",
                    node.kind(),
                    node.scalar_text()
                ),
            )),
        }
    }

    /// Seconds as a number, or a duration like "30s", "2m", "500ms".
    fn duration(&self, node: &Node, key: &str) -> R<Duration> {
        match &node.value {
            Value::Int(_) | Value::Float(_) => Ok(Duration::from_secs_f64(self.number(node, key)?)),
            Value::Str(s) => testcar_contract::duration::parse_duration(s)
                .map_err(|e| self.err(node.pos, key, e.to_string())),
            _ => Err(self.err(
                node.pos,
                key,
                format!(
                    "expected seconds or a duration like \"30s\", found {}",
                    node.kind()
                ),
            )),
        }
    }
}

impl Cx {
    fn script(&self, root: &Node, path: &Path, opts: &LoadOptions) -> R<Script> {
        let top = self.entries(
            root,
            "(top level)",
            &["config", "scenarios", "before", "after"],
            &[],
        )?;
        let mut config_node = None;
        let mut scenarios = None;
        let mut before = None;
        let mut after = None;
        for (name, node, pos) in top {
            match name {
                "config" => config_node = Some(node),
                "scenarios" => scenarios = Some((node, pos)),
                "before" => before = Some(self.hook(node, "before")?),
                _ => after = Some(self.hook(node, "after")?),
            }
        }
        let root_pos = Pos {
            line: 1,
            col: 1,
            src: 0,
        };
        let config = match config_node {
            Some(node) => self.config(node, opts)?,
            None => {
                return Err(self.err(
                    root_pos,
                    "config",
                    "missing; a script needs config.target and usually config.phases",
                ));
            }
        };
        let Some((scenarios_node, _)) = scenarios else {
            return Err(self.err(
                root_pos,
                "scenarios",
                "missing; expected a list of scenarios",
            ));
        };
        let mut list = Vec::new();
        for (i, node) in self.seq(scenarios_node, "scenarios")?.iter().enumerate() {
            list.push(self.scenario(node, i, config.ws_default)?);
        }
        if list.is_empty() {
            return Err(self.err(
                scenarios_node.pos,
                "scenarios",
                "expected at least one scenario",
            ));
        }
        self.check_ws_target(
            &config.target,
            config_node,
            &list,
            before.is_some() || after.is_some(),
        )?;
        if config.expect.is_none() {
            for s in &list {
                let Some(pos) = first_expect(&s.flow) else {
                    continue;
                };
                if !config.expect_environments.is_empty() {
                    // A script that enables the plugin only in some environments (a
                    // "functional" one beside a "load" one) means the expectations to be
                    // skipped elsewhere, as Artillery does; say so rather than refuse it.
                    tracing::warn!(
                        script = %path.display(),
                        line = pos.line,
                        environments = %config.expect_environments.join(", "),
                        "expectations are not checked: the expect plugin is enabled only in these environments"
                    );
                    break;
                }
                return Err(self.err(
                    pos,
                    "expect",
                    "expectations need the expect plugin; add `plugins: {expect: {}}` to config (Artillery would silently ignore them)",
                ));
            }
        }
        Ok(Script {
            path: path.to_path_buf(),
            name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "script".into()),
            config,
            before,
            after,
            scenarios: list,
        })
    }

    fn hook(&self, node: &Node, key: &str) -> R<Vec<Step>> {
        let mut flow = None;
        for (name, v, pos) in self.entries(node, key, &["flow", "engine"], &[])? {
            if name == "flow" {
                flow = Some(self.flow(v, &join(key, "flow"))?);
            } else if self.engine(v, &join(key, name), pos)? {
                // Artillery runs a hook on its own `engine` (never `config.engine`).
                return Err(self.unsupported(
                    pos,
                    &join(key, name),
                    "a `before`/`after` flow on the `ws` engine is",
                ));
            }
        }
        flow.ok_or_else(|| self.err(node.pos, key, "expected a `flow` list"))
    }
}

impl Cx {
    /// A `ws://` target is for `ws` scenarios: an HTTP scenario (or `before`/`after`
    /// flow) could not send to it.
    fn check_ws_target(
        &self,
        target: &str,
        config: Option<&Node>,
        scenarios: &[super::model::Scenario],
        hooks: bool,
    ) -> R<()> {
        if !url::Url::parse(target).is_ok_and(|u| matches!(u.scheme(), "ws" | "wss")) {
            return Ok(());
        }
        let pos = config
            .and_then(|c| c.get("target"))
            .map(|t| t.pos)
            .unwrap_or(Pos {
                line: 1,
                col: 1,
                src: 0,
            });
        if let Some(i) = scenarios.iter().position(|s| s.ws.is_none()) {
            return Err(self.err(pos, "config.target", format!("a ws:// target is for `engine: ws` scenarios, and scenarios[{i}] runs HTTP; give it its own URLs or `engine: ws`")));
        }
        if hooks {
            return Err(self.err(
                pos,
                "config.target",
                "a ws:// target is for `engine: ws` scenarios; the `before`/`after` flows run HTTP",
            ));
        }
        Ok(())
    }
}

fn first_expect(steps: &[Step]) -> Option<Pos> {
    steps.iter().find_map(|s| match s {
        Step::Request(r) if !r.expects.is_empty() => Some(r.pos),
        Step::Loop(l) => first_expect(&l.steps),
        Step::Parallel(steps) => first_expect(steps),
        _ => None,
    })
}

fn join(key: &str, name: &str) -> String {
    if key.is_empty() || key == "(top level)" {
        name.to_string()
    } else {
        format!("{key}.{name}")
    }
}

fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        v.to_string()
    }
}
