//! `config`: environments, load-time templates, then one reader per top-level key
//! (`target`, `phases`, `variables`, `payload`, `defaults`, `http`, `tls`), and what needs
//! them all read (`ensure`, the default phase, the target's checks).

use std::time::Duration;

use super::{Cx, R, join};
use crate::payload::{Payload, PayloadOrder};
use crate::script::model::{ByEndpointOptions, Config, Jitter, Phase, PhaseKind, Variable};
use crate::script::options::LoadOptions;
use crate::template::Template;
use crate::yaml::{Node, Pos, Value};

/// `config` keys Artillery 2 accepts and that change nothing in a local HTTP run: accepted
/// with a warning naming them. Each with why Artillery ignores it.
pub(crate) const IGNORED_CONFIG_KEYS: [(&str, &str); 3] = [
    (
        "statsInterval",
        "Artillery 1.x's reporting interval; Artillery 2 reports every 10 s whatever it says",
    ),
    (
        "includeFiles",
        "files to ship with a distributed (cloud) run; a local run does not read it",
    ),
    (
        "bundling",
        "how a distributed run bundles `processor` code, which Testcar does not run",
    ),
];

/// A `config` being read: the result, and what its keys leave for the end.
pub(super) struct Draft<'n> {
    pub(super) config: Config,
    /// Where an error about the target points.
    target_pos: Pos,
    /// `ensure` and `plugins.ensure`, read once every key is.
    pub(super) ensure_nodes: Vec<(&'n Node, String)>,
    /// `defaults.headers` was given (then no user agent is added).
    has_defaults: bool,
    /// `config.apdex.threshold`, which wins over the plugin's.
    apdex_threshold: Option<f64>,
}

impl Cx {
    pub(super) fn config(&self, node: &Node, opts: &LoadOptions) -> R<Config> {
        // Environments are validated whether selected or not, so a typo never hides.
        let envs = node.get("environments");
        let mut expect_environments = Vec::new();
        if let Some(envs) = envs {
            for (k, v) in self.map(envs, "config.environments")? {
                let name = k.scalar_text();
                let mut merged = crate::overlay::merge(node, v, crate::overlay::Lists::ByIndex);
                self.resolve_load_templates(&mut merged, "config", opts, false)?;
                let c = self.config_body(&merged, &format!("config.environments.{name}"), opts)?;
                if c.expect.is_some() {
                    expect_environments.push(name);
                }
            }
        }
        let mut effective = node.clone();
        if let Some(env) = &opts.environment {
            let chosen = envs.and_then(|e| e.get(env));
            match chosen {
                Some(v) => {
                    effective = crate::overlay::merge(node, v, crate::overlay::Lists::ByIndex)
                }
                None => {
                    let known: Vec<String> = envs
                        .and_then(|e| match &e.value {
                            Value::Map(m) => Some(m.iter().map(|(k, _)| k.scalar_text()).collect()),
                            _ => None,
                        })
                        .unwrap_or_default();
                    return Err(self.err(
                        envs.map(|e| e.pos).unwrap_or(node.pos),
                        &format!("config.environments.{env}"),
                        format!(
                            "environment not defined; defined: {}",
                            if known.is_empty() {
                                "none".into()
                            } else {
                                known.join(", ")
                            }
                        ),
                    ));
                }
            }
        }
        self.resolve_load_templates(&mut effective, "config", opts, true)?;
        let mut config = self.config_body(&effective, "config", opts)?;
        config.environment = opts.environment.clone();
        if config.expect.is_none() {
            config.expect_environments = expect_environments;
        }
        Ok(config)
    }

    /// Artillery renders the whole `config` once at load with the process environment and
    /// `$environment`: a phase's `arrivalRate: "{{ $env.RATE }}"` is a number by the time
    /// the phase is read. Strings whose placeholders are all such load-time values are
    /// rendered here; the rest (VU variables, functions) stay templates for the run.
    /// `selected` is false while validating an environment that was not chosen: a phase
    /// value from an unset variable is then left unchecked rather than refused.
    fn resolve_load_templates(
        &self,
        node: &mut Node,
        key: &str,
        opts: &LoadOptions,
        selected: bool,
    ) -> R<()> {
        const LOAD_TIME: [&str; 3] = ["$env", "$processEnvironment", "$environment"];
        match &mut node.value {
            Value::Str(text) if text.contains("{{") => {
                let Ok(t) = crate::template::Template::parse(text) else {
                    return Ok(());
                };
                let Some(roots) = t.var_roots() else {
                    return Ok(());
                };
                if roots.is_empty() || !roots.iter().all(|r| LOAD_TIME.contains(r)) {
                    return Ok(());
                }
                let unset: Vec<&str> = t
                    .env_names()
                    .into_iter()
                    .filter(|n| std::env::var_os(n).is_none() && !self.dotenv.contains_key(*n))
                    .collect();
                // A phase built from an unset variable would silently run no load.
                if !unset.is_empty() && key.starts_with("config.phases") {
                    if !selected {
                        *text = "0".into();
                        return Ok(());
                    }
                    return Err(self.err(
                        node.pos,
                        key,
                        format!(
                            "{text:?} needs the environment variable {}, which is not set",
                            unset.join(", ")
                        ),
                    ));
                }
                let vars = Default::default();
                let globals = crate::template::Globals {
                    environment: opts.environment.clone(),
                    dotenv: self.dotenv.clone(),
                    ..Default::default()
                };
                let scope = crate::template::Scope {
                    vars: &vars,
                    globals: &globals,
                };
                *text = t.render(&scope).into_owned();
            }
            Value::Map(entries) => {
                for (k, v) in entries {
                    let name = k.scalar_text();
                    // Environments are merged in before this; the unselected ones stay as
                    // written.
                    if key == "config" && name == "environments" {
                        continue;
                    }
                    self.resolve_load_templates(v, &join(key, &name), opts, selected)?;
                }
            }
            Value::Seq(items) => {
                for (i, v) in items.iter_mut().enumerate() {
                    self.resolve_load_templates(v, &format!("{key}[{i}]"), opts, selected)?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// One `config` (the chosen one, or an environment being validated), key by key.
    fn config_body(&self, node: &Node, key: &str, opts: &LoadOptions) -> R<Config> {
        let rejected = [
            ("processor", "`processor` (custom JavaScript) is"),
            ("engines", "other engines are"),
            ("socketio", super::ws::SOCKETIO),
        ];
        let allowed = [
            "target",
            "phases",
            "variables",
            "payload",
            "defaults",
            "http",
            "tls",
            "environments",
            "ensure",
            "plugins",
            "apdex",
            "timeout",
            "mode",
            "engine",
            "ws",
        ]
        .into_iter()
        .chain(IGNORED_CONFIG_KEYS.iter().map(|(k, _)| *k))
        .collect::<Vec<_>>();
        // Artillery reads `http.defaults.X || defaults.X`: what `http.defaults` sets, the
        // top-level `defaults` only has checked, whichever of the two comes first.
        let http_defaults = node.get("http").and_then(|h| h.get("defaults"));
        let overridden: Vec<&str> = ["headers", "cookie", "think"]
            .into_iter()
            .filter(|k| http_defaults.and_then(|d| d.get(k)).is_some())
            .collect();
        let mut d = Draft {
            config: Config {
                target: String::new(),
                phases: Vec::new(),
                variables: Vec::new(),
                payloads: Vec::new(),
                headers: Vec::new(),
                default_cookies: Vec::new(),
                think_jitter: None,
                ws_think_jitter: None,
                ws_default: false,
                ws: crate::script::model::WsConfig {
                    timeout: Duration::from_secs(10),
                    ..Default::default()
                },
                dotenv: Default::default(),
                timeout: Duration::from_secs(10),
                max_sockets: None,
                pool: None,
                reject_unauthorized: true,
                ensure: Vec::new(),
                expect: None,
                by_endpoint: ByEndpointOptions::default(),
                apdex: None,
                extended_metrics: false,
                environment: None,
                expect_environments: Vec::new(),
                strict_capture: true,
                default_user_agent: true,
                ignored_keys: Vec::new(),
            },
            target_pos: node.pos,
            ensure_nodes: Vec::new(),
            has_defaults: false,
            apdex_threshold: None,
        };
        let mut legacy_timeout = None;
        for (name, v, pos) in self.entries(node, key, &allowed, &rejected)? {
            let k = join(key, name);
            match name {
                "target" => self.config_target(v, &k, &mut d)?,
                "phases" => self.config_phases(v, &k, &mut d.config)?,
                "variables" => self.config_variables(v, &k, &mut d.config)?,
                "payload" => self.config_payload(v, &k, &mut d.config)?,
                "defaults" => {
                    self.defaults(v, &k, &mut d.config, &overridden)?;
                    d.has_defaults |= v.get("headers").is_some();
                }
                "http" => self.config_http(v, &k, &mut d.config)?,
                "tls" => self.config_tls(v, &k, &mut d.config)?,
                "environments" => {}
                "apdex" => d.apdex_threshold = self.apdex_threshold(v, &k)?,
                "ensure" => d.ensure_nodes.push((v, k)),
                "plugins" => self.config_plugins(v, &k, &mut d)?,
                // Artillery 1.x's request timeout: `config.timeout || http.timeout || 10`.
                "timeout" => legacy_timeout = Some(self.number(v, &k)?),
                "mode" => self.arrival_mode(v, &k)?,
                "engine" => d.config.ws_default = self.engine(v, &k, pos)?,
                "ws" => self.config_ws(v, &k, &mut d.config)?,
                ignored => {
                    let why = IGNORED_CONFIG_KEYS
                        .iter()
                        .find(|(n, _)| *n == ignored)
                        .map(|(_, why)| *why)
                        .unwrap_or_else(|| unreachable!("checked by entries: {pos:?}"));
                    let file = self.files.get(pos.src as usize).unwrap_or(&self.files[0]);
                    // Environments are validated merged over `config`: warn once, for the
                    // configuration that runs.
                    if key == "config" {
                        tracing::warn!(
                            file = %file,
                            line = pos.line,
                            key = %k,
                            "key ignored, as Artillery 2 ignores it: {why}"
                        );
                    }
                    d.config
                        .ignored_keys
                        .push(format!("{file}:{}:{}: {k}", pos.line, pos.col));
                }
            }
        }
        if let Some(t) = legacy_timeout.filter(|t| *t > 0.0) {
            d.config.timeout = Duration::from_secs_f64(t);
            // `config.timeout || ws.timeout || 10` in the ws engine too.
            d.config.ws.timeout = d.config.timeout;
        }
        self.config_finish(d, overridden.contains(&"headers"), opts)
    }

    fn config_target(&self, v: &Node, k: &str, d: &mut Draft<'_>) -> R<()> {
        let t = self.template(v, k)?;
        // Artillery renders config templates once at load ($env, variables).
        let vars = Default::default();
        let globals = Default::default();
        d.config.target = t
            .render(&crate::template::Scope {
                vars: &vars,
                globals: &globals,
            })
            .into_owned();
        d.target_pos = v.pos;
        Ok(())
    }

    fn config_phases(&self, v: &Node, k: &str, config: &mut Config) -> R<()> {
        for (i, p) in self.seq(v, k)?.iter().enumerate() {
            config.phases.push(self.phase(p, &format!("{k}[{i}]"))?);
        }
        Ok(())
    }

    fn config_variables(&self, v: &Node, k: &str, config: &mut Config) -> R<()> {
        for (vk, vv) in self.map(v, k)? {
            let var = match &vv.value {
                Value::Seq(items) => Variable::OneOf(items.iter().map(Node::to_json).collect()),
                _ => Variable::One(vv.to_json()),
            };
            config.variables.push((vk.scalar_text(), var));
        }
        Ok(())
    }

    fn config_payload(&self, v: &Node, k: &str, config: &mut Config) -> R<()> {
        match &v.value {
            Value::Seq(items) => {
                for (i, p) in items.iter().enumerate() {
                    config.payloads.push(self.payload(p, &format!("{k}[{i}]"))?);
                }
            }
            _ => config.payloads.push(self.payload(v, k)?),
        }
        Ok(())
    }

    fn config_http(&self, v: &Node, k: &str, config: &mut Config) -> R<()> {
        let allowed = [
            "timeout",
            "maxSockets",
            "defaults",
            "extendedMetrics",
            "pool",
        ];
        for (hk, hv, _) in self.entries(v, k, &allowed, &[])? {
            let kk = join(k, hk);
            match hk {
                "timeout" => config.timeout = Duration::from_secs_f64(self.number(hv, &kk)?),
                "maxSockets" => config.max_sockets = Some(self.number(hv, &kk)?.max(1.0) as u32),
                "pool" => {
                    let n = self.number(hv, &kk)?;
                    if n < 1.0 || n.fract() != 0.0 {
                        return Err(self.err(
                            hv.pos,
                            &kk,
                            "expected a whole number of connections, at least 1",
                        ));
                    }
                    config.pool = Some(n as u32);
                }
                "defaults" => self.defaults(hv, &kk, config, &[])?,
                _ => config.extended_metrics = self.bool(hv, &kk)?,
            }
        }
        Ok(())
    }

    /// `mode` (of `config` or a phase): Artillery spaces an `arrivalRate` phase's arrivals
    /// evenly (`uniform`, the default) or at random (`poisson`); only the first is run.
    fn arrival_mode(&self, v: &Node, k: &str) -> R<()> {
        match self.string(v, k)?.as_str() {
            "uniform" => Ok(()),
            "poisson" => Err(self.unsupported(v.pos, k, "`mode: poisson` (random arrivals) is")),
            other => Err(self.err(
                v.pos,
                k,
                format!("unknown arrival mode {other:?}; expected uniform"),
            )),
        }
    }

    fn config_tls(&self, v: &Node, k: &str, config: &mut Config) -> R<()> {
        for (tk, tv, _) in self.entries(v, k, &["rejectUnauthorized"], &[])? {
            config.reject_unauthorized = self.bool(tv, &join(k, tk))?;
        }
        Ok(())
    }

    /// What needs every key read first: `ensure` (any of its two places), the apdex
    /// threshold, the user agent, the target and the default phase.
    fn config_finish(&self, d: Draft<'_>, http_headers: bool, opts: &LoadOptions) -> R<Config> {
        let Draft {
            mut config,
            target_pos,
            ensure_nodes,
            has_defaults,
            apdex_threshold,
        } = d;
        for (v, k) in ensure_nodes {
            self.ensure(v, &k, &mut config.ensure)?;
        }
        if let (Some(a), Some(t)) = (config.apdex.as_mut(), apdex_threshold) {
            a.threshold_ms = t;
        }
        config.default_user_agent = !http_headers && !has_defaults;
        if let Some(t) = opts.target.as_deref() {
            config.target = t.to_string();
        }
        let target_later = config.target.is_empty() && opts.target_from_runner;
        if config.target.is_empty() && !target_later {
            return Err(self.err(
                target_pos,
                "config.target",
                "missing; set it in the script, in the chosen environment, or pass --target",
            ));
        }
        // A ws:// target is checked against the scenarios' engines once they are read.
        if !target_later
            && url::Url::parse(&config.target)
                .map(|u| !matches!(u.scheme(), "http" | "https" | "ws" | "wss"))
                .unwrap_or(true)
        {
            return Err(self.err(
                target_pos,
                "config.target",
                format!(
                    "{:?} is not an http://, https://, ws:// or wss:// URL",
                    config.target
                ),
            ));
        }
        if config.phases.is_empty() {
            // Artillery's default: one VU.
            config.phases.push(Phase {
                name: None,
                kind: PhaseKind::Count {
                    duration: Duration::from_secs(1),
                    count: 1,
                },
                max_vusers: None,
            });
        }
        Ok(config)
    }

    /// `defaults` or `http.defaults`; the keys in `overridden` are checked but not applied.
    fn defaults(&self, node: &Node, key: &str, config: &mut Config, overridden: &[&str]) -> R<()> {
        for (dk, dv, _) in self.entries(
            node,
            key,
            &["headers", "strictCapture", "think", "cookie"],
            &[],
        )? {
            let k = join(key, dk);
            let apply = !overridden.contains(&dk);
            match dk {
                "headers" => {
                    let mut headers: Vec<(String, Template)> = Vec::new();
                    for (hk, hv) in self.map(dv, &k)? {
                        let name = hk.scalar_text();
                        let t = self.template(hv, &join(&k, &name))?;
                        headers.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
                        headers.push((name, t));
                    }
                    if apply {
                        config.headers = headers;
                    }
                }
                "strictCapture" => config.strict_capture = self.bool(dv, &k)?,
                "cookie" => {
                    let cookies = self.cookies(dv, &k)?;
                    if apply {
                        config.default_cookies = cookies;
                    }
                }
                _ => {
                    let mut jitter = None;
                    for (tk, tv, _) in self.entries(dv, &k, &["jitter"], &[])? {
                        jitter = Some(self.jitter(tv, &join(&k, tk))?);
                    }
                    if !key.ends_with("http.defaults") {
                        // The ws engine reads `defaults.think` whatever `http.defaults` says.
                        config.ws_think_jitter = jitter;
                    }
                    if apply {
                        config.think_jitter = jitter;
                    }
                }
            }
        }
        Ok(())
    }

    /// `jitter`: milliseconds (`500`) or a percentage of the think time (`"10%"`).
    fn jitter(&self, node: &Node, key: &str) -> R<Jitter> {
        let bad = || {
            self.err(
                node.pos,
                key,
                "expected milliseconds (e.g. 500) or a percentage (e.g. \"10%\")",
            )
        };
        match &node.value {
            Value::Int(_) | Value::Float(_) => Ok(Jitter::Millis(self.number(node, key)?.trunc())),
            Value::Str(s) => {
                // Artillery reads the leading integer (parseInt), a `%` making it relative.
                let t = s.trim();
                let digits: String = t.chars().take_while(|c| c.is_ascii_digit()).collect();
                let n: f64 = digits.parse().map_err(|_| bad())?;
                Ok(if t.contains('%') {
                    Jitter::Percent(n)
                } else {
                    Jitter::Millis(n)
                })
            }
            _ => Err(bad()),
        }
    }

    fn phase(&self, node: &Node, key: &str) -> R<Phase> {
        let allowed = [
            "duration",
            "arrivalRate",
            "rampTo",
            "arrivalCount",
            "pause",
            "maxVusers",
            "name",
            "mode",
        ];
        let mut duration = None;
        let mut rate = None;
        let mut ramp_to = None;
        let mut count = None;
        let mut pause = None;
        let mut max_vusers = None;
        let mut name = None;
        for (pk, pv, _) in self.entries(node, key, &allowed, &[])? {
            let k = join(key, pk);
            match pk {
                "duration" => duration = Some(self.duration(pv, &k)?),
                "arrivalRate" => rate = Some(self.number(pv, &k)?),
                "rampTo" => ramp_to = Some(self.number(pv, &k)?),
                "arrivalCount" => count = Some(self.number(pv, &k)? as u64),
                "pause" => pause = Some(self.duration(pv, &k)?),
                "maxVusers" => max_vusers = Some(self.number(pv, &k)? as u64),
                "mode" => self.arrival_mode(pv, &k)?,
                _ => name = Some(self.string(pv, &k)?),
            }
        }
        let kind = if let Some(duration) = pause {
            PhaseKind::Pause { duration }
        } else if let Some(count) = count {
            let Some(duration) = duration else {
                return Err(self.err(
                    node.pos,
                    &join(key, "duration"),
                    "missing; arrivalCount needs a duration",
                ));
            };
            PhaseKind::Count { duration, count }
        } else if let Some(rate) = rate {
            let Some(duration) = duration else {
                return Err(self.err(
                    node.pos,
                    &join(key, "duration"),
                    "missing; arrivalRate needs a duration",
                ));
            };
            PhaseKind::Rate {
                duration,
                rate,
                ramp_to,
            }
        } else {
            return Err(self.err(
                node.pos,
                key,
                "expected arrivalRate (with duration), arrivalCount (with duration) or pause",
            ));
        };
        Ok(Phase {
            name,
            kind,
            max_vusers,
        })
    }

    fn payload(&self, node: &Node, key: &str) -> R<Payload> {
        let allowed = [
            "path",
            "fields",
            "order",
            "skipHeader",
            "delimiter",
            "cast",
            "loadAll",
            "name",
            "skipEmptyLines",
        ];
        let mut path = None;
        let mut fields = Vec::new();
        let mut order = PayloadOrder::Random;
        let mut skip_header = false;
        let mut delimiter = b',';
        let mut cast = true;
        let mut load_all = false;
        let mut name = None;
        let mut skip_empty = true;
        for (pk, pv, _) in self.entries(node, key, &allowed, &[])? {
            let k = join(key, pk);
            match pk {
                "path" => path = Some((self.string(pv, &k)?, pv.pos)),
                "fields" => {
                    for f in self.seq(pv, &k)? {
                        fields.push(self.string(f, &k)?);
                    }
                }
                "order" => {
                    order = match self.string(pv, &k)?.as_str() {
                        "random" => PayloadOrder::Random,
                        "sequence" => PayloadOrder::Sequence,
                        other => {
                            return Err(self.err(
                                pv.pos,
                                &k,
                                format!("{other:?}: expected random or sequence"),
                            ));
                        }
                    }
                }
                "skipHeader" => skip_header = self.bool(pv, &k)?,
                "delimiter" => {
                    let d = self.string(pv, &k)?;
                    if d.len() != 1 {
                        return Err(self.err(pv.pos, &k, "expected a single character"));
                    }
                    delimiter = d.as_bytes()[0];
                }
                "cast" => cast = self.bool(pv, &k)?,
                "loadAll" => load_all = self.bool(pv, &k)?,
                "skipEmptyLines" => skip_empty = self.bool(pv, &k)?,
                _ => name = Some(self.string(pv, &k)?),
            }
        }
        let Some((rel, pos)) = path else {
            return Err(self.err(
                node.pos,
                &join(key, "path"),
                "missing; expected the CSV file, relative to the script",
            ));
        };
        if load_all && name.is_none() {
            return Err(self.err(
                node.pos,
                &join(key, "name"),
                "missing; loadAll needs a name for the variable holding the rows",
            ));
        }
        let file = self.dir.join(&rel);
        Payload::load(
            &file,
            fields,
            order,
            skip_header,
            delimiter,
            cast,
            load_all,
            name,
            skip_empty,
        )
        .map_err(|e| self.err(pos, &join(key, "path"), e.to_string()))
    }
}
