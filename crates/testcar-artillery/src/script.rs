//! The Artillery script model and its loader: YAML with positions → validated [`Script`].
//! Every key is checked; anything Testcar cannot run the way Artillery would is rejected with
//! `file:line:column`, the key, and the advice to fall back to real Artillery.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value as Json;

use crate::expr::Expr;
use crate::payload::{Payload, PayloadOrder};
use crate::template::{JsonTemplate, Template};
use crate::yaml::{self, Node, Pos, Value};

/// What every rejection of an unsupported feature ends with.
pub const FALLBACK_ADVICE: &str = "not supported by Testcar's native engine; run this script with real Artillery in an `exec` suite";

/// A script that could not be loaded. Display: `<file>:<line>:<column>: <key>: <why>`.
#[derive(Debug, thiserror::Error)]
pub enum ScriptError {
    /// The file could not be read.
    #[error("{file}:1:1: {file}: cannot read: {source}")]
    Read {
        /// The script path.
        file: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid YAML.
    #[error("{file}:{line}:{col}: (yaml): {message}")]
    Yaml {
        /// The script path.
        file: String,
        /// Line.
        line: usize,
        /// Column.
        col: usize,
        /// What the YAML parser said.
        message: String,
    },
    /// A key is wrong, missing or unsupported.
    #[error("{file}:{line}:{col}: {key}: {message}")]
    Invalid {
        /// The file (script or payload).
        file: String,
        /// Line.
        line: usize,
        /// Column.
        col: usize,
        /// Path of the key, e.g. `scenarios[0].flow[1].get.capture[0].xpath`.
        key: String,
        /// What was expected, or why it is unsupported.
        message: String,
    },
}

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

/// A loaded, validated Artillery script.
#[derive(Debug, Clone)]
pub struct Script {
    /// The script file.
    pub path: PathBuf,
    /// The script's file name, used as the suite name.
    pub name: String,
    /// `config` after environment and target overrides.
    pub config: Config,
    /// `before.flow`: run once before the load phases; captures are shared with every VU.
    pub before: Option<Vec<Step>>,
    /// `after.flow`: run once at the end.
    pub after: Option<Vec<Step>>,
    /// `scenarios`.
    pub scenarios: Vec<Scenario>,
}

/// `config`.
#[derive(Debug, Clone)]
pub struct Config {
    /// Base URL.
    pub target: String,
    /// Load phases, in order.
    pub phases: Vec<Phase>,
    /// `variables`: a list gives each VU one random element.
    pub variables: Vec<(String, Variable)>,
    /// CSV payloads.
    pub payloads: Vec<Payload>,
    /// Headers added to every request (`defaults.headers`, `http.defaults.headers`).
    pub headers: Vec<(String, Template)>,
    /// Cookies put in the VU's jar before every request (`http.defaults.cookie`, else
    /// `defaults.cookie`).
    pub default_cookies: Vec<(String, Template)>,
    /// `defaults.think.jitter` (`http.defaults.think` wins): every think time is drawn
    /// uniformly within this much of its value.
    pub think_jitter: Option<Jitter>,
    /// Variables from `--dotenv`, for `$env` when the process environment lacks them.
    pub dotenv: std::sync::Arc<std::collections::BTreeMap<String, String>>,
    /// `http.timeout` (default 10 s).
    pub timeout: Duration,
    /// `http.maxSockets` (connections per VU; VUs send one request at a time).
    pub max_sockets: Option<u32>,
    /// `http.pool`: this many connections per origin, shared by all VUs.
    pub pool: Option<u32>,
    /// `tls.rejectUnauthorized` (default true).
    pub reject_unauthorized: bool,
    /// `ensure` checks (from `config.ensure` or `config.plugins.ensure`).
    pub ensure: Vec<EnsureCheck>,
    /// `plugins.expect`, when enabled.
    pub expect: Option<ExpectOptions>,
    /// `plugins.metrics-by-endpoint` (Artillery enables it by default).
    pub by_endpoint: ByEndpointOptions,
    /// `plugins.apdex`, when enabled.
    pub apdex: Option<ApdexOptions>,
    /// `http.extendedMetrics`: also report `http.dns`, `http.tcp`, `http.tls`, `http.total`.
    pub extended_metrics: bool,
    /// The selected environment name.
    pub environment: Option<String>,
    /// The environments that enable the expect plugin when this configuration does not.
    pub expect_environments: Vec<String>,
    /// `defaults.strictCapture` / `http.defaults.strictCapture` (default true).
    pub strict_capture: bool,
    /// No default headers are configured: send Artillery's user agent.
    pub default_user_agent: bool,
}

/// A `variables` entry.
#[derive(Debug, Clone, PartialEq)]
pub enum Variable {
    /// One value for every VU.
    One(Json),
    /// Each VU gets one element at random.
    OneOf(Vec<Json>),
}

/// One load phase.
#[derive(Debug, Clone, PartialEq)]
pub struct Phase {
    /// `name`.
    pub name: Option<String>,
    /// What the phase does.
    pub kind: PhaseKind,
    /// `maxVusers`: arrivals beyond this many running VUs are skipped.
    pub max_vusers: Option<u64>,
}

/// The arrival pattern of a phase.
#[derive(Debug, Clone, PartialEq)]
pub enum PhaseKind {
    /// `duration` + `arrivalRate` (per second), optionally ramping to `rampTo`.
    Rate {
        /// Length.
        duration: Duration,
        /// Arrivals per second at the start.
        rate: f64,
        /// Arrivals per second at the end.
        ramp_to: Option<f64>,
    },
    /// `duration` + `arrivalCount`: that many arrivals spread evenly.
    Count {
        /// Length.
        duration: Duration,
        /// Total arrivals.
        count: u64,
    },
    /// `pause`: no arrivals.
    Pause {
        /// Length.
        duration: Duration,
    },
}

/// `plugins.expect` options.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ExpectOptions {
    /// `expectDefault200`: requests without expectations expect 200.
    pub default_200: bool,
    /// `reportFailuresAsErrors`: a failed expectation fails the VU.
    pub failures_as_errors: bool,
    /// `outputFormat`/`formatter` (`pretty`, `json`, `prettyError`, `silent`).
    pub format: String,
    /// `useOnlyRequestNames`: a failure reported as an error names the request by its
    /// `name` rather than its URL.
    pub use_only_names: bool,
}

/// How much a think time may vary (Artillery's `jitter`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Jitter {
    /// Plus or minus this many milliseconds.
    Millis(f64),
    /// Plus or minus this percentage of the think time.
    Percent(f64),
}

impl Jitter {
    /// `think` varied: uniform within the jitter around it, never negative (Artillery works
    /// in whole milliseconds).
    pub fn apply(self, think: Duration, unit: f64) -> Duration {
        let ms = think.as_millis() as f64;
        let approx = match self {
            Jitter::Millis(n) => n,
            Jitter::Percent(p) => ms * p / 100.0,
        };
        Duration::from_secs_f64((ms - approx + unit * 2.0 * approx).max(0.0) / 1000.0)
    }
}

/// `plugins.apdex` options: each response's total time (connection set-up to the end of the
/// body) counts as satisfied up to the threshold, tolerated up to four times it, else
/// frustrated.
#[derive(Debug, Clone, PartialEq)]
pub struct ApdexOptions {
    /// `threshold` in ms (`config.apdex.threshold` wins, as in the plugin; default 500).
    pub threshold_ms: f64,
    /// Listed before `expect` in `config.plugins`: its response hook runs before the expect
    /// plugin's, so a failure reported as an error still counts the response.
    pub before_expect: bool,
}

/// `plugins.metrics-by-endpoint` options.
#[derive(Debug, Clone, PartialEq)]
pub struct ByEndpointOptions {
    /// `useOnlyRequestNames`.
    pub only_names: bool,
    /// `stripQueryString`.
    pub strip_query: bool,
    /// `ignoreUnnamedRequests`.
    pub ignore_unnamed: bool,
    /// `metricsNamespace`.
    pub prefix: String,
    /// Listed before `expect` in `config.plugins`: its response hook then runs before the
    /// expect plugin's, so a failure reported as an error does not keep the response out of
    /// the per-endpoint counters (Artillery stops a request's hooks at the first error).
    pub before_expect: bool,
}

impl Default for ByEndpointOptions {
    fn default() -> Self {
        // What Artillery adds when the script does not configure the plugin.
        ByEndpointOptions {
            only_names: false,
            strip_query: true,
            ignore_unnamed: false,
            prefix: "plugins.metrics-by-endpoint".into(),
            before_expect: false,
        }
    }
}

/// An `ensure` check.
#[derive(Debug, Clone, PartialEq)]
pub struct EnsureCheck {
    /// As Artillery prints it, e.g. `http.response_time.p95 < 200`.
    pub original: String,
    /// What kind of check (threshold, condition).
    pub kind: EnsureKind,
    /// The expression.
    pub expr: Expr,
    /// `strict: false` checks do not fail the run.
    pub strict: bool,
}

/// Which `ensure` syntax a check came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnsureKind {
    /// `thresholds`, legacy `p95`/`p99`/`max`/`min`/`median`, `maxErrorRate`.
    Threshold,
    /// `conditions`.
    Condition,
}

/// A weighted scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The name used in `vusers.created_by_name.<name>` (the index when unnamed).
    pub name: String,
    /// `weight` (default 1).
    pub weight: u32,
    /// `flow`.
    pub flow: Vec<Step>,
}

/// One step of a flow.
#[derive(Debug, Clone)]
pub enum Step {
    /// An HTTP request.
    Request(Box<Request>),
    /// `think`: pause this VU.
    Think(Template),
    /// `loop`.
    Loop(Box<LoopStep>),
    /// `parallel`: Artillery gives a VU one socket (without `http.pool`), so these requests
    /// queue on it and go out one after another in the listed order.
    Parallel(Vec<Step>),
    /// `log`: print a line.
    Log(Template),
}

/// `loop` with `count` or `over`.
#[derive(Debug, Clone)]
pub struct LoopStep {
    /// The steps repeated.
    pub steps: Vec<Step>,
    /// `count`: a number, `"from-to"` range or template.
    pub count: Option<Template>,
    /// `over`: a list, or the name of a variable holding one.
    pub over: Option<LoopOver>,
}

/// What `loop.over` iterates.
#[derive(Debug, Clone)]
pub enum LoopOver {
    /// An inline list.
    List(Vec<JsonTemplate>),
    /// A variable path.
    Var(String),
}

/// HTTP methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// GET.
    Get,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
    /// HEAD.
    Head,
    /// OPTIONS.
    Options,
}

impl Method {
    fn from_key(key: &str) -> Option<Method> {
        Some(match key {
            "get" => Method::Get,
            "post" => Method::Post,
            "put" => Method::Put,
            "patch" => Method::Patch,
            "delete" => Method::Delete,
            "head" => Method::Head,
            "options" => Method::Options,
            _ => return None,
        })
    }

    /// As an `http` method.
    pub fn http(self) -> http::Method {
        match self {
            Method::Get => http::Method::GET,
            Method::Post => http::Method::POST,
            Method::Put => http::Method::PUT,
            Method::Patch => http::Method::PATCH,
            Method::Delete => http::Method::DELETE,
            Method::Head => http::Method::HEAD,
            Method::Options => http::Method::OPTIONS,
        }
    }

    /// Upper-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Head => "HEAD",
            Method::Options => "OPTIONS",
        }
    }
}

/// A request step.
#[derive(Debug, Clone)]
pub struct Request {
    /// Method.
    pub method: Method,
    /// `url` (relative to `target` when it starts with `/`).
    pub url: Template,
    /// `name`.
    pub name: Option<String>,
    /// `headers`.
    pub headers: Vec<(String, Template)>,
    /// `qs`.
    pub qs: Vec<(String, JsonTemplate)>,
    /// `json`, `body` or `form`.
    pub body: Body,
    /// `auth: {user, pass}` (basic).
    pub auth: Option<(Template, Template)>,
    /// `cookie`: name → value put in the VU's jar for this URL before sending (on top of
    /// the default cookies), where later requests find them too.
    pub cookies: Vec<(String, Template)>,
    /// `followRedirect` (default true).
    pub follow_redirect: bool,
    /// `gzip`: ask for and decode compressed responses (got's `decompress`, default true;
    /// `gzip: false` neither asks for nor decodes them).
    pub gzip: bool,
    /// `capture`.
    pub captures: Vec<Capture>,
    /// `match`: extractions that must equal a value (`as` not needed).
    pub matches: Vec<Capture>,
    /// `expect`.
    pub expects: Vec<Expectation>,
    /// `ifTrue`.
    pub if_true: Option<Expr>,
    /// Where the step was written.
    pub pos: Pos,
}

/// A request body.
#[derive(Debug, Clone)]
pub enum Body {
    /// No body.
    None,
    /// `json`: serialised, `content-type: application/json`.
    Json(JsonTemplate),
    /// `body`: sent as is.
    Raw(Template),
    /// `form`: urlencoded.
    Form(Vec<(String, Template)>),
    /// `formData`: multipart/form-data, parts in the order written.
    Multipart(Vec<(String, FormPart)>),
}

/// One part of a `formData` body.
#[derive(Debug, Clone)]
pub enum FormPart {
    /// A plain value, or `{value, contentType}`.
    Text {
        /// The value.
        value: Template,
        /// `contentType`, if given.
        content_type: Option<Template>,
    },
    /// `{fromFile, contentType}`: a file next to the script, sent with its name.
    File {
        /// The file's name as sent (`filename=`).
        name: String,
        /// Its bytes, read at load.
        bytes: bytes::Bytes,
        /// `contentType`, else guessed from the extension.
        content_type: Option<Template>,
    },
}

/// A `capture` entry.
#[derive(Debug, Clone)]
pub struct Capture {
    /// What to extract.
    pub source: CaptureSource,
    /// `as`: the variable set.
    pub var: String,
    /// `strict` (default from `defaults.strictCapture`, itself default true; a `match` is
    /// strict unless it says `strict: false`).
    pub strict: Option<bool>,
    /// `match` only: the value the extracted one must equal.
    pub value: Option<crate::template::JsonTemplate>,
}

/// Where a capture reads from.
#[derive(Debug, Clone)]
pub enum CaptureSource {
    /// `json`: a JSONPath over the body.
    Json(Template),
    /// `header`: a response header.
    Header(Template),
    /// `regexp` over the body, with `group` and `flags`.
    Regexp {
        /// The pattern.
        pattern: Template,
        /// `group`: a number or a name.
        group: Option<String>,
        /// `flags` (i, m, s; g is ignored).
        flags: String,
    },
}

/// An `expect` entry.
#[derive(Debug, Clone)]
pub enum Expectation {
    /// `statusCode`: one code or a list.
    StatusCode(JsonTemplate),
    /// `notStatusCode`.
    NotStatusCode(JsonTemplate),
    /// `contentType` (`json` means a JSON body).
    ContentType(Template),
    /// `hasProperty`.
    HasProperty(Template),
    /// `notHasProperty`.
    NotHasProperty(Template),
    /// `equals`: every value renders the same.
    Equals(Vec<Template>),
    /// `hasHeader`.
    HasHeader(Template),
    /// `headerEquals: [name, value]`.
    HeaderEquals(Template, Template),
    /// `matchesRegexp` over the body.
    MatchesRegexp(Template),
}

impl Expectation {
    /// The name Artillery uses in `plugins.expect.ok.<type>`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Expectation::StatusCode(_) => "statusCode",
            Expectation::NotStatusCode(_) => "notStatusCode",
            Expectation::ContentType(_) => "contentType",
            Expectation::HasProperty(_) => "hasProperty",
            Expectation::NotHasProperty(_) => "notHasProperty",
            Expectation::Equals(_) => "equals",
            Expectation::HasHeader(_) => "hasHeader",
            Expectation::HeaderEquals(..) => "headerEquals",
            Expectation::MatchesRegexp(_) => "matchesRegexp",
        }
    }
}

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
    use crate::overlay::{self, Lists};
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
        Some(p) => crate::dotenv::read(p)?,
        None => Default::default(),
    };
    let cx = Cx {
        files,
        dir: path.parent().map(Path::to_path_buf).unwrap_or_default(),
        dotenv: std::sync::Arc::new(dotenv),
    };
    let mut script = cx.script(&root, path, opts)?;
    script.config.dotenv = cx.dotenv.clone();
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
                file: cx.files[0].clone(),
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

struct Cx {
    /// The sources, by [`Pos::src`]: the script, the config file, the overrides, the
    /// variables.
    files: Vec<String>,
    dir: PathBuf,
    /// `--dotenv` values, for templates rendered at load.
    dotenv: std::sync::Arc<std::collections::BTreeMap<String, String>>,
}

type R<T> = Result<T, ScriptError>;

impl Cx {
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
            list.push(self.scenario(node, i)?);
        }
        if list.is_empty() {
            return Err(self.err(
                scenarios_node.pos,
                "scenarios",
                "expected at least one scenario",
            ));
        }
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
        for (name, v, _) in self.entries(node, key, &["flow"], &[])? {
            if name == "flow" {
                flow = Some(self.flow(v, &join(key, "flow"))?);
            }
        }
        flow.ok_or_else(|| self.err(node.pos, key, "expected a `flow` list"))
    }

    fn config(&self, node: &Node, opts: &LoadOptions) -> R<Config> {
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

    fn config_body(&self, node: &Node, key: &str, opts: &LoadOptions) -> R<Config> {
        let rejected = [
            ("processor", "`processor` (custom JavaScript) is"),
            ("engines", "other engines are"),
            ("engine", "other engines are"),
            ("ws", "the WebSocket engine is"),
            ("socketio", "the Socket.IO engine is"),
            ("includeFiles", "`includeFiles` is"),
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
        ];
        let mut config = Config {
            target: String::new(),
            phases: Vec::new(),
            variables: Vec::new(),
            payloads: Vec::new(),
            headers: Vec::new(),
            default_cookies: Vec::new(),
            think_jitter: None,
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
        };
        let mut target_pos = node.pos;
        let mut ensure_nodes = Vec::new();
        // Artillery reads `http.defaults.X || defaults.X`: what `http.defaults` sets, the
        // top-level `defaults` only has checked, whichever of the two comes first.
        let http_defaults = node.get("http").and_then(|h| h.get("defaults"));
        let overridden: Vec<&str> = ["headers", "cookie", "think"]
            .into_iter()
            .filter(|k| http_defaults.and_then(|d| d.get(k)).is_some())
            .collect();
        let http_headers = overridden.contains(&"headers");
        let mut has_defaults = false;
        let mut apdex_threshold = None;
        for (name, v, pos) in self.entries(node, key, &allowed, &rejected)? {
            let k = join(key, name);
            match name {
                "target" => {
                    let t = self.template(v, &k)?;
                    // Artillery renders config templates once at load ($env, variables).
                    let vars = Default::default();
                    let globals = Default::default();
                    config.target = t
                        .render(&crate::template::Scope {
                            vars: &vars,
                            globals: &globals,
                        })
                        .into_owned();
                    target_pos = v.pos;
                }
                "phases" => {
                    for (i, p) in self.seq(v, &k)?.iter().enumerate() {
                        config.phases.push(self.phase(p, &format!("{k}[{i}]"))?);
                    }
                }
                "variables" => {
                    for (vk, vv) in self.map(v, &k)? {
                        let var = match &vv.value {
                            Value::Seq(items) => {
                                Variable::OneOf(items.iter().map(Node::to_json).collect())
                            }
                            _ => Variable::One(vv.to_json()),
                        };
                        config.variables.push((vk.scalar_text(), var));
                    }
                }
                "payload" => match &v.value {
                    Value::Seq(items) => {
                        for (i, p) in items.iter().enumerate() {
                            config.payloads.push(self.payload(p, &format!("{k}[{i}]"))?);
                        }
                    }
                    _ => config.payloads.push(self.payload(v, &k)?),
                },
                "defaults" => {
                    self.defaults(v, &k, &mut config, &overridden)?;
                    has_defaults |= v.get("headers").is_some();
                }
                "http" => {
                    let allowed = [
                        "timeout",
                        "maxSockets",
                        "defaults",
                        "extendedMetrics",
                        "pool",
                    ];
                    for (hk, hv, _) in self.entries(v, &k, &allowed, &[])? {
                        let kk = join(&k, hk);
                        match hk {
                            "timeout" => {
                                config.timeout = Duration::from_secs_f64(self.number(hv, &kk)?)
                            }
                            "maxSockets" => {
                                config.max_sockets = Some(self.number(hv, &kk)?.max(1.0) as u32)
                            }
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
                            "defaults" => self.defaults(hv, &kk, &mut config, &[])?,
                            _ => config.extended_metrics = self.bool(hv, &kk)?,
                        }
                    }
                }
                "tls" => {
                    for (tk, tv, _) in self.entries(v, &k, &["rejectUnauthorized"], &[])? {
                        config.reject_unauthorized = self.bool(tv, &join(&k, tk))?;
                    }
                }
                "environments" => {}
                "apdex" => apdex_threshold = self.apdex_threshold(v, &k)?,
                "ensure" => ensure_nodes.push((v, k)),
                "plugins" => {
                    for (pk, pv, ppos) in self
                        .map(v, &k)?
                        .iter()
                        .map(|(a, b)| (a.scalar_text(), b, a.pos))
                    {
                        let kk = join(&k, &pk);
                        match pk.as_str() {
                            "expect" => config.expect = Some(self.expect_options(pv, &kk)?),
                            "ensure" => ensure_nodes.push((pv, kk)),
                            "metrics-by-endpoint" => {
                                config.by_endpoint = self.by_endpoint(pv, &kk)?;
                                config.by_endpoint.before_expect = config.expect.is_none();
                            }
                            "apdex" => {
                                // `apdex:` with nothing after it enables the plugin as is.
                                let threshold = match pv.value {
                                    Value::Null => None,
                                    _ => self.apdex_threshold(pv, &kk)?,
                                };
                                config.apdex = Some(ApdexOptions {
                                    threshold_ms: threshold.unwrap_or(500.0),
                                    before_expect: config.expect.is_none(),
                                });
                            }
                            // Plugins that only send results elsewhere change nothing a run
                            // measures or decides: the run goes on, and the log says so.
                            "publish-metrics" | "slack" | "memory-inspector" => {
                                tracing::warn!(
                                    file = %self.files[ppos.src as usize],
                                    line = ppos.line,
                                    plugin = %pk,
                                    "plugin not run: it only reports elsewhere; Testcar's results and /metrics carry the figures"
                                );
                            }
                            other => {
                                return Err(self.unsupported(
                                    ppos,
                                    &kk,
                                    &format!("plugin `{other}` is"),
                                ));
                            }
                        }
                    }
                }
                _ => unreachable!("checked by entries: {pos:?}"),
            }
        }
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
        if !target_later
            && url::Url::parse(&config.target).is_ok_and(|u| matches!(u.scheme(), "ws" | "wss"))
        {
            return Err(self.unsupported(
                target_pos,
                "config.target",
                "WebSocket targets (the `ws` engine) are",
            ));
        }
        if !target_later
            && url::Url::parse(&config.target)
                .map(|u| !matches!(u.scheme(), "http" | "https"))
                .unwrap_or(true)
        {
            return Err(self.err(
                target_pos,
                "config.target",
                format!("{:?} is not an http:// or https:// URL", config.target),
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

    /// A `formData` field: a scalar, `{value, contentType}` or `{fromFile, contentType}`.
    fn form_part(&self, node: &Node, key: &str) -> R<FormPart> {
        if !matches!(node.value, Value::Map(_)) {
            return Ok(FormPart::Text {
                value: self.template(node, key)?,
                content_type: None,
            });
        }
        let (mut value, mut file, mut content_type) = (None, None, None);
        for (k, v, _) in self.entries(node, key, &["value", "fromFile", "contentType"], &[])? {
            let kk = join(key, k);
            match k {
                "value" => value = Some(self.template(v, &kk)?),
                "fromFile" => file = Some((self.string(v, &kk)?, v.pos, kk)),
                _ => content_type = Some(self.template(v, &kk)?),
            }
        }
        match (value, file) {
            (_, Some((path, pos, kk))) => {
                if path.contains("{{") {
                    return Err(self.err(
                        pos,
                        &kk,
                        "a templated file path is not supported; name the file",
                    ));
                }
                // Relative to the script, as Artillery resolves it.
                let full = self.dir.join(&path);
                let bytes = std::fs::read(&full).map_err(|e| {
                    self.err(pos, &kk, format!("cannot read {}: {e}", full.display()))
                })?;
                let name = Path::new(&path)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or(path);
                Ok(FormPart::File {
                    name,
                    bytes: bytes.into(),
                    content_type,
                })
            }
            (Some(value), None) => Ok(FormPart::Text {
                value,
                content_type,
            }),
            (None, None) => Err(self.err(node.pos, key, "expected value or fromFile")),
        }
    }

    /// A `cookie` mapping: names to (templated) values.
    fn cookies(&self, node: &Node, key: &str) -> R<Vec<(String, Template)>> {
        let mut out = Vec::new();
        for (ck, cv) in self.map(node, key)? {
            let name = ck.scalar_text();
            if name.is_empty() || name.contains(['=', ';', ' ']) {
                return Err(self.err(ck.pos, &join(key, &name), "not a valid cookie name"));
            }
            out.push((name.clone(), self.template(cv, &join(key, &name))?));
        }
        Ok(out)
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

    fn expect_options(&self, node: &Node, key: &str) -> R<ExpectOptions> {
        let mut o = ExpectOptions {
            format: "pretty".into(),
            ..Default::default()
        };
        if matches!(node.value, Value::Null) {
            return Ok(o);
        }
        let allowed = [
            "outputFormat",
            "formatter",
            "expectDefault200",
            "reportFailuresAsErrors",
            "useOnlyRequestNames",
        ];
        for (k, v, _) in self.entries(node, key, &allowed, &[])? {
            let kk = join(key, k);
            match k {
                "outputFormat" | "formatter" => o.format = self.string(v, &kk)?,
                "expectDefault200" => o.default_200 = self.bool(v, &kk)?,
                "reportFailuresAsErrors" => o.failures_as_errors = self.bool(v, &kk)?,
                _ => o.use_only_names = self.bool(v, &kk)?,
            }
        }
        Ok(o)
    }

    /// The `threshold` (ms) of an apdex mapping (`config.apdex` or `plugins.apdex`), if set.
    fn apdex_threshold(&self, node: &Node, key: &str) -> R<Option<f64>> {
        let mut threshold = None;
        for (ak, av, _) in self.entries(node, key, &["threshold"], &[])? {
            let kk = join(key, ak);
            let t = self.number(av, &kk)?;
            if !(t.is_finite() && t > 0.0) {
                return Err(self.err(av.pos, &kk, "expected a positive number of milliseconds"));
            }
            threshold = Some(t);
        }
        Ok(threshold)
    }

    fn by_endpoint(&self, node: &Node, key: &str) -> R<ByEndpointOptions> {
        // A configured plugin starts from the plugin's own defaults, not Artillery's add-on ones.
        let mut o = ByEndpointOptions {
            strip_query: false,
            ..Default::default()
        };
        if matches!(node.value, Value::Null) {
            return Ok(o);
        }
        let allowed = [
            "useOnlyRequestNames",
            "stripQueryString",
            "ignoreUnnamedRequests",
            "metricsNamespace",
            "groupDynamicURLs",
            "suppressOutput",
        ];
        for (k, v, _) in self.entries(node, key, &allowed, &[])? {
            let kk = join(key, k);
            match k {
                "useOnlyRequestNames" => o.only_names = self.bool(v, &kk)?,
                "stripQueryString" => o.strip_query = self.bool(v, &kk)?,
                "ignoreUnnamedRequests" => o.ignore_unnamed = self.bool(v, &kk)?,
                "metricsNamespace" => o.prefix = self.string(v, &kk)?,
                "groupDynamicURLs" => {
                    if !self.bool(v, &kk)? {
                        return Err(self.unsupported(
                            v.pos,
                            &kk,
                            "per-URL (ungrouped) endpoint metrics are",
                        ));
                    }
                }
                _ => {
                    self.bool(v, &kk)?;
                }
            }
        }
        Ok(o)
    }

    fn ensure(&self, node: &Node, key: &str, out: &mut Vec<EnsureCheck>) -> R<()> {
        if matches!(node.value, Value::Null) {
            return Ok(());
        }
        let allowed = [
            "thresholds",
            "conditions",
            "p95",
            "p99",
            "max",
            "min",
            "median",
            "maxErrorRate",
        ];
        for (k, v, _) in self.entries(node, key, &allowed, &[])? {
            let kk = join(key, k);
            match k {
                "thresholds" => {
                    for (i, t) in self.seq(v, &kk)?.iter().enumerate() {
                        let tk = format!("{kk}[{i}]");
                        let entries = self.map(t, &tk)?;
                        if entries.len() != 1 {
                            return Err(self.err(
                                t.pos,
                                &tk,
                                "expected one `metric.name: value` pair",
                            ));
                        }
                        let (mk, mv) = &entries[0];
                        let metric = mk.scalar_text();
                        let value = self.number(mv, &join(&tk, &metric))?;
                        let original = format!("{metric} < {}", fmt_num(value));
                        out.push(EnsureCheck {
                            expr: Expr::Binary(
                                "<",
                                Box::new(Expr::Name(metric)),
                                Box::new(Expr::Num(value)),
                            ),
                            original,
                            kind: EnsureKind::Threshold,
                            strict: true,
                        });
                    }
                }
                "conditions" => {
                    for (i, c) in self.seq(v, &kk)?.iter().enumerate() {
                        let ck = format!("{kk}[{i}]");
                        let mut expression = None;
                        let mut strict = true;
                        for (ek, ev, _) in self.entries(c, &ck, &["expression", "strict"], &[])? {
                            if ek == "expression" {
                                let text = self.string(ev, &join(&ck, ek))?;
                                let expr = Expr::parse(&text)
                                    .map_err(|e| self.err(ev.pos, &join(&ck, ek), e.to_string()))?;
                                expression = Some((text, expr));
                            } else {
                                strict = self.bool(ev, &join(&ck, ek))?;
                            }
                        }
                        let Some((original, expr)) = expression else {
                            return Err(self.err(c.pos, &join(&ck, "expression"), "missing"));
                        };
                        out.push(EnsureCheck {
                            original,
                            kind: EnsureKind::Condition,
                            expr,
                            strict,
                        });
                    }
                }
                "maxErrorRate" => {
                    let value = self.number(v, &kk)?;
                    let text = format!(
                        "((vusers.created - vusers.completed)/vusers.created * 100) <= {}",
                        fmt_num(value)
                    );
                    let expr =
                        Expr::parse(&text.replace('/', " / ")).expect("built-in expression parses");
                    out.push(EnsureCheck {
                        original: format!("maxErrorRate < {}", fmt_num(value)),
                        kind: EnsureKind::Threshold,
                        expr,
                        strict: true,
                    });
                }
                legacy => {
                    let value = self.number(v, &kk)?.trunc();
                    let metric = format!("http.response_time.{legacy}");
                    out.push(EnsureCheck {
                        original: format!("{legacy} < {}", fmt_num(value)),
                        kind: EnsureKind::Threshold,
                        expr: Expr::Binary(
                            "<",
                            Box::new(Expr::Name(metric)),
                            Box::new(Expr::Num(value)),
                        ),
                        strict: true,
                    });
                }
            }
        }
        Ok(())
    }

    fn scenario(&self, node: &Node, index: usize) -> R<Scenario> {
        let key = format!("scenarios[{index}]");
        let rejected = [
            ("engine", "other engines are"),
            ("beforeScenario", "`beforeScenario` (custom JavaScript) is"),
            ("afterScenario", "`afterScenario` (custom JavaScript) is"),
            ("beforeRequest", "`beforeRequest` (custom JavaScript) is"),
            ("afterResponse", "`afterResponse` (custom JavaScript) is"),
            ("onError", "`onError` (custom JavaScript) is"),
        ];
        let mut name = None;
        let mut weight = 1;
        let mut flow = None;
        for (k, v, kpos) in self
            .map(node, &key)?
            .iter()
            .map(|(a, b)| (a.scalar_text(), b, a.pos))
        {
            // `engine: http` is the default and harmless.
            if k == "engine" && v.as_str() == Some("http") {
                continue;
            }
            if k == "engine" {
                let engine = v.scalar_text();
                return Err(self.unsupported(
                    kpos,
                    &join(&key, &k),
                    &format!("the `{engine}` engine is"),
                ));
            }
            self.check_key(&k, kpos, &key, &["name", "weight", "flow"], &rejected)?;
            let kk = join(&key, &k);
            match k.as_str() {
                "name" => name = Some(self.string(v, &kk)?),
                "weight" => weight = self.number(v, &kk)? as u32,
                _ => flow = Some(self.flow(v, &kk)?),
            }
        }
        let Some(flow) = flow else {
            return Err(self.err(
                node.pos,
                &join(&key, "flow"),
                "missing; expected a list of steps",
            ));
        };
        Ok(Scenario {
            name: name.unwrap_or_else(|| index.to_string()),
            weight,
            flow,
        })
    }

    fn flow(&self, node: &Node, key: &str) -> R<Vec<Step>> {
        let mut steps = Vec::new();
        for (i, s) in self.seq(node, key)?.iter().enumerate() {
            steps.push(self.step(s, &format!("{key}[{i}]"))?);
        }
        Ok(steps)
    }

    fn step(&self, node: &Node, key: &str) -> R<Step> {
        let entries = self.map(node, key)?;
        let first = entries
            .first()
            .ok_or_else(|| self.err(node.pos, key, "empty step"))?;
        let kind = first.0.scalar_text();
        let kpos = first.0.pos;
        let kk = join(key, &kind);
        if let Some(method) = Method::from_key(&kind) {
            if entries.len() > 1 {
                return Err(self.err(
                    entries[1].0.pos,
                    &join(key, &entries[1].0.scalar_text()),
                    "unexpected key next to the request; put it inside the request",
                ));
            }
            return Ok(Step::Request(Box::new(
                self.request(&first.1, &kk, method, kpos)?,
            )));
        }
        match kind.as_str() {
            "think" => {
                if let Some((k, _)) = entries.get(1) {
                    return Err(self.err(k.pos, &join(key, &k.scalar_text()), "unexpected key next to think (Artillery refuses it too); for jitter use config.defaults.think.jitter"));
                }
                let t = self.template(&first.1, &kk)?;
                if !t.is_dynamic() {
                    think_duration(t.raw()).map_err(|m| self.err(first.1.pos, &kk, m))?;
                }
                Ok(Step::Think(t))
            }
            "log" => {
                if entries.len() > 1 {
                    return Err(self.err(entries[1].0.pos, key, "unexpected key next to log"));
                }
                Ok(Step::Log(self.template(&first.1, &kk)?))
            }
            "loop" => {
                let steps = self.flow(&first.1, &kk)?;
                let mut count = None;
                let mut over = None;
                for (k, v) in &entries[1..] {
                    let name = k.scalar_text();
                    let sk = join(key, &name);
                    match name.as_str() {
                        "count" => count = Some(self.template(v, &sk)?),
                        "over" => {
                            over = Some(match &v.value {
                                Value::Seq(items) => LoopOver::List(items.iter().map(|i| self.json_template(i, &sk)).collect::<R<_>>()?),
                                _ => LoopOver::Var(self.string(v, &sk)?),
                            })
                        }
                        "whileTrue" => return Err(self.unsupported(k.pos, &sk, "`whileTrue` (a JavaScript function) is")),
                        _ => return Err(self.err(k.pos, &sk, "unknown loop key; expected count or over")),
                    }
                }
                if count.is_some() && over.is_some() {
                    return Err(self.err(kpos, key, "use either count or over, not both"));
                }
                Ok(Step::Loop(Box::new(LoopStep { steps, count, over })))
            }
            "function" => Err(self.unsupported(kpos, &kk, "`function` steps (custom JavaScript) are")),
            "parallel" => {
                let steps = self.flow(&first.1, &kk)?;
                // Artillery's validation refuses any key beside `parallel` (`limit` included).
                if let Some((k, _)) = entries.get(1) {
                    return Err(self.err(k.pos, &join(key, &k.scalar_text()), "unexpected key next to parallel; a parallel step has that one key"));
                }
                Ok(Step::Parallel(steps))
            }
            "emit" | "send" | "connect" | "context" | "wait" | "reply" => {
                Err(self.unsupported(kpos, &kk, &format!("`{kind}` steps (WebSocket/Socket.IO engines) are")))
            }
            _ => Err(self.err(kpos, &kk, "unknown step; expected get, post, put, patch, delete, head, options, think, loop, parallel or log")),
        }
    }

    fn request(&self, node: &Node, key: &str, method: Method, pos: Pos) -> R<Request> {
        let allowed = [
            "url",
            "uri",
            "name",
            "headers",
            "qs",
            "json",
            "body",
            "form",
            "auth",
            "followRedirect",
            "gzip",
            "capture",
            "expect",
            "ifTrue",
            "cookie",
            "match",
            "formData",
        ];
        let rejected = [
            ("beforeRequest", "`beforeRequest` (custom JavaScript) is"),
            ("afterResponse", "`afterResponse` (custom JavaScript) is"),
            ("function", "`function` (custom JavaScript) is"),
            ("probability", "`probability` is"),
        ];
        let mut r = Request {
            method,
            url: Template::literal(""),
            name: None,
            headers: Vec::new(),
            qs: Vec::new(),
            body: Body::None,
            auth: None,
            cookies: Vec::new(),
            follow_redirect: true,
            gzip: true,
            captures: Vec::new(),
            matches: Vec::new(),
            expects: Vec::new(),
            if_true: None,
            pos,
        };
        let mut has_url = false;
        for (k, v, kpos) in self.entries(node, key, &allowed, &rejected)? {
            let kk = join(key, k);
            let set_body = |r: &mut Request, b: Body| -> R<()> {
                if !matches!(r.body, Body::None) {
                    return Err(self.err(kpos, &kk, "use only one of json, body and form"));
                }
                r.body = b;
                Ok(())
            };
            match k {
                "url" | "uri" => {
                    r.url = self.template(v, &kk)?;
                    has_url = true;
                }
                "name" => r.name = Some(self.string(v, &kk)?),
                "headers" => {
                    for (hk, hv) in self.map(v, &kk)? {
                        let name = hk.scalar_text();
                        r.headers
                            .push((name.clone(), self.template(hv, &join(&kk, &name))?));
                    }
                }
                "qs" => {
                    for (qk, qv) in self.map(v, &kk)? {
                        let name = qk.scalar_text();
                        r.qs.push((name.clone(), self.json_template(qv, &join(&kk, &name))?));
                    }
                }
                "json" => set_body(&mut r, Body::Json(self.json_template(v, &kk)?))?,
                "body" => set_body(&mut r, Body::Raw(self.template(v, &kk)?))?,
                "form" => {
                    let mut fields = Vec::new();
                    for (fk, fv) in self.map(v, &kk)? {
                        let name = fk.scalar_text();
                        fields.push((name.clone(), self.template(fv, &join(&kk, &name))?));
                    }
                    set_body(&mut r, Body::Form(fields))?
                }
                "formData" => {
                    let mut parts = Vec::new();
                    for (fk, fv) in self.map(v, &kk)? {
                        let name = fk.scalar_text();
                        parts.push((name.clone(), self.form_part(fv, &join(&kk, &name))?));
                    }
                    set_body(&mut r, Body::Multipart(parts))?
                }
                "auth" => {
                    let mut user = None;
                    let mut pass = Template::literal("");
                    for (ak, av, _) in self.entries(v, &kk, &["user", "pass"], &[])? {
                        let t = self.template(av, &join(&kk, ak))?;
                        if ak == "user" {
                            user = Some(t)
                        } else {
                            pass = t
                        }
                    }
                    let user =
                        user.ok_or_else(|| self.err(v.pos, &join(&kk, "user"), "missing"))?;
                    r.auth = Some((user, pass));
                }
                "cookie" => r.cookies = self.cookies(v, &kk)?,
                "followRedirect" => r.follow_redirect = self.bool(v, &kk)?,
                "gzip" => r.gzip = self.bool(v, &kk)?,
                "capture" | "match" => {
                    let is_match = k == "match";
                    let items: Vec<&Node> = match &v.value {
                        Value::Seq(items) => items.iter().collect(),
                        _ => vec![v],
                    };
                    for (i, c) in items.into_iter().enumerate() {
                        let c = self.capture(c, &format!("{kk}[{i}]"), is_match)?;
                        if is_match {
                            r.matches.push(c)
                        } else {
                            r.captures.push(c)
                        }
                    }
                }
                "expect" => match &v.value {
                    Value::Seq(items) => {
                        for (i, e) in items.iter().enumerate() {
                            let ek = format!("{kk}[{i}]");
                            let entries = self.map(e, &ek)?;
                            for (ek2, ev) in entries {
                                r.expects.push(self.expectation(ek2, ev, &ek)?);
                            }
                        }
                    }
                    Value::Map(entries) => {
                        for (ek, ev) in entries {
                            r.expects.push(self.expectation(ek, ev, &kk)?);
                        }
                    }
                    _ => return Err(self.err(v.pos, &kk, "expected a list of expectations")),
                },
                _ => {
                    let text = self.string(v, &kk)?;
                    r.if_true =
                        Some(Expr::parse(&text).map_err(|e| self.err(v.pos, &kk, e.to_string()))?);
                }
            }
        }
        if !has_url {
            return Err(self.err(
                node.pos,
                &join(key, "url"),
                "missing; every request needs a url",
            ));
        }
        Ok(r)
    }

    /// A `capture` entry, or with `is_match` a `match` entry (`value` instead of `as`).
    fn capture(&self, node: &Node, key: &str, is_match: bool) -> R<Capture> {
        let allowed: &[&str] = if is_match {
            &[
                "json", "header", "regexp", "value", "strict", "group", "flags",
            ]
        } else {
            &["json", "header", "regexp", "as", "strict", "group", "flags"]
        };
        let mut value = None;
        let rejected = [
            ("xpath", "xpath captures are"),
            ("selector", "selector (HTML) captures are"),
            ("transform", "capture `transform` is"),
        ];
        let mut source = None;
        let mut var = None;
        let mut strict = None;
        let mut group = None;
        let mut flags = String::new();
        let mut regexp_pos = node.pos;
        for (k, v, _) in self.entries(node, key, allowed, &rejected)? {
            let kk = join(key, k);
            match k {
                "value" => value = Some(self.json_template(v, &kk)?),
                "json" => {
                    let t = self.template(v, &kk)?;
                    if !t.is_dynamic() {
                        serde_json_path::JsonPath::parse(t.raw())
                            .map_err(|e| self.err(v.pos, &kk, format!("invalid JSONPath: {e}")))?;
                    }
                    source = Some(CaptureSource::Json(t));
                }
                "header" => source = Some(CaptureSource::Header(self.template(v, &kk)?)),
                "regexp" => {
                    regexp_pos = v.pos;
                    source = Some(CaptureSource::Regexp {
                        pattern: self.template(v, &kk)?,
                        group: None,
                        flags: String::new(),
                    });
                }
                "as" => var = Some(self.string(v, &kk)?),
                "strict" => strict = Some(self.bool(v, &kk)?),
                "group" => group = Some(self.string(v, &kk)?),
                _ => flags = self.string(v, &kk)?,
            }
        }
        if let Some(CaptureSource::Regexp {
            pattern,
            group: g,
            flags: f,
        }) = &mut source
        {
            *g = group;
            *f = flags;
            if !pattern.is_dynamic() {
                crate::capture::compile_regex(pattern.raw(), f)
                    .map_err(|e| self.err(regexp_pos, &join(key, "regexp"), e))?;
            }
        }
        let source =
            source.ok_or_else(|| self.err(node.pos, key, "expected json, header or regexp"))?;
        if is_match {
            let value = value.ok_or_else(|| {
                self.err(
                    node.pos,
                    &join(key, "value"),
                    "missing; the value the response must hold",
                )
            })?;
            return Ok(Capture {
                source,
                var: String::new(),
                strict,
                value: Some(value),
            });
        }
        let var = var.ok_or_else(|| {
            self.err(
                node.pos,
                &join(key, "as"),
                "missing; name the variable to capture into",
            )
        })?;
        Ok(Capture {
            source,
            var,
            strict,
            value: None,
        })
    }

    fn expectation(&self, k: &Node, v: &Node, key: &str) -> R<Expectation> {
        let name = k.scalar_text();
        let kk = join(key, &name);
        Ok(match name.as_str() {
            "statusCode" => Expectation::StatusCode(self.json_template(v, &kk)?),
            "notStatusCode" => Expectation::NotStatusCode(self.json_template(v, &kk)?),
            "contentType" => Expectation::ContentType(self.template(v, &kk)?),
            "hasProperty" => Expectation::HasProperty(self.template(v, &kk)?),
            "notHasProperty" => Expectation::NotHasProperty(self.template(v, &kk)?),
            "equals" => Expectation::Equals(
                self.seq(v, &kk)?
                    .iter()
                    .map(|i| self.template(i, &kk))
                    .collect::<R<_>>()?,
            ),
            "hasHeader" => Expectation::HasHeader(self.template(v, &kk)?),
            "headerEquals" => {
                let items = self.seq(v, &kk)?;
                if items.len() != 2 {
                    return Err(self.err(v.pos, &kk, "expected [header-name, value]"));
                }
                Expectation::HeaderEquals(
                    self.template(&items[0], &kk)?,
                    self.template(&items[1], &kk)?,
                )
            }
            "matchesRegexp" => {
                let t = self.template(v, &kk)?;
                if !t.is_dynamic() {
                    crate::capture::compile_regex(t.raw(), "")
                        .map_err(|e| self.err(v.pos, &kk, e))?;
                }
                Expectation::MatchesRegexp(t)
            }
            "cdnHit" | "jmespath" | "jpath" => {
                return Err(self.unsupported(k.pos, &kk, &format!("the `{name}` expectation is")));
            }
            _ => {
                return Err(self.err(k.pos, &kk, "unknown expectation; expected statusCode, notStatusCode, contentType, hasProperty, notHasProperty, equals, hasHeader, headerEquals or matchesRegexp"));
            }
        })
    }
}

/// Parse a think time: seconds (`2`, `0.5`) or a duration (`500ms`, `2s`).
pub fn think_duration(text: &str) -> Result<Duration, String> {
    testcar_contract::duration::parse_duration(text).map_err(|e| format!("invalid think time: {e}"))
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
