//! What a loaded Artillery script is: the types the reader builds and the engine runs.
//! They sit below everything else (reader, captures, expectations, VUs) so that no module
//! needs the reader to name them.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value as Json;

use crate::expr::Expr;
use crate::payload::Payload;
use crate::template::{JsonTemplate, Template};
use crate::yaml::Pos;

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
    /// `defaults.think.jitter` alone: Artillery's `ws` engine reads only this one.
    pub ws_think_jitter: Option<Jitter>,
    /// `config.engine: ws`: scenarios without their own `engine` run on the `ws` engine.
    pub ws_default: bool,
    /// `config.ws` (with `tls.rejectUnauthorized` and the legacy `config.timeout`).
    pub ws: WsConfig,
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
    /// Keys Artillery accepts and ignores on a local HTTP run (`statsInterval`, …), each
    /// as `file:line:column: key`; the load logs a warning for each.
    pub ignored_keys: Vec<String>,
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
    /// `engine` (else `config.engine`): `ws` scenarios hold a [`WsScenario`].
    pub ws: Option<WsScenario>,
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
    /// `send` or `wait` of a `ws` scenario.
    WsSend(Box<WsSend>),
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
    pub(crate) fn from_key(key: &str) -> Option<Method> {
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
    /// Unique within the script, assigned at load: what per-request state (expectation
    /// tallies, endpoint names) is keyed by, so it never depends on where the step lives.
    pub id: RequestId,
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
    /// `probability`: the percentage (at most 100) with which the request is sent; see
    /// [`Request::is_probable_enough`].
    pub probability: Option<f64>,
    /// Where the step was written.
    pub pos: Pos,
}

impl Request {
    /// Artillery's `isProbableEnough`: with a `probability`, the request is sent when a
    /// whole number drawn uniformly from 0 to 100 *inclusive* (lodash `random(100)`) is
    /// below it, so `probability: 30` sends 30 in 101 and even 100 skips 1 in 101. A skipped
    /// request counts nothing and the VU goes on, as after a false `ifTrue`; the draw comes
    /// before `ifTrue` is looked at. `roll` draws that number.
    pub fn is_probable_enough(&self, roll: impl FnOnce() -> u8) -> bool {
        match self.probability {
            None => true,
            Some(p) => f64::from(roll()) < p,
        }
    }
}

/// A request's identity within its script (see [`Request::id`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub usize);

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
    pub value: Option<JsonTemplate>,
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

/// `config.ws`: how a `ws` scenario connects and how long a reply may take.
#[derive(Debug, Clone, Default)]
pub struct WsConfig {
    /// `ws.headers`, sent with the opening handshake.
    pub headers: Vec<(String, Template)>,
    /// `ws.subprotocols` (and a `Sec-WebSocket-Protocol` in `ws.headers`).
    pub subprotocols: Vec<String>,
    /// `ws.rejectUnauthorized`, else `tls.rejectUnauthorized`.
    pub reject_unauthorized: Option<bool>,
    /// How long a `capture`/`match` waits for its message: `config.timeout`, else
    /// `ws.timeout`, else 10 s (Artillery's order).
    pub timeout: Duration,
}

/// A `ws` scenario: where it connects. Artillery opens the connection when the VU starts,
/// to the target or to the URL of a `connect` first step.
#[derive(Debug, Clone, Default)]
pub struct WsScenario {
    /// The `connect` first step, if any.
    pub connect: Option<WsConnect>,
}

/// A `connect` step: a URL, or `{target, headers, subprotocols, rejectUnauthorized}`
/// (which replace `config.ws`'s, as in Artillery).
#[derive(Debug, Clone)]
pub struct WsConnect {
    /// The URL (`target`), else `config.target`.
    pub target: Option<Template>,
    /// `headers`, else `config.ws.headers` (only in the mapping form).
    pub headers: Option<Vec<(String, Template)>>,
    /// `subprotocols`, else `config.ws.subprotocols`.
    pub subprotocols: Option<Vec<String>>,
    /// `rejectUnauthorized`, else `tls.rejectUnauthorized` (the mapping form drops
    /// `config.ws`'s other options).
    pub reject_unauthorized: Option<bool>,
    /// The mapping form (`{target, ...}`) rather than a URL.
    pub mapping: bool,
}

/// A `send` (or `wait`) step: a message to send, and with `capture`/`match` the next
/// message to wait for and read.
#[derive(Debug, Clone)]
pub struct WsSend {
    /// What to send: a string as is, anything else as JSON; none for a `wait`.
    pub payload: Option<JsonTemplate>,
    /// `capture` on the reply.
    pub captures: Vec<Capture>,
    /// `match` on the reply.
    pub matches: Vec<Capture>,
    /// Where the step was written.
    pub pos: Pos,
}

impl WsSend {
    /// Whether the step waits for a reply (it has a `capture` or a `match`).
    pub fn waits(&self) -> bool {
        !self.captures.is_empty() || !self.matches.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng, SeedableRng};

    use super::*;

    fn request_with(probability: &str) -> Request {
        let text = format!(
            "config: {{target: 'http://127.0.0.1:1'}}\nscenarios:\n  - flow:\n      - get: {{url: /, probability: {probability}}}\n"
        );
        let script = crate::script::parse(
            &text,
            std::path::Path::new("p.yml"),
            &crate::script::LoadOptions::default(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        match &script.scenarios[0].flow[0] {
            Step::Request(r) => (**r).clone(),
            other => panic!("{other:?}"),
        }
    }

    /// How many of the 101 equally likely draws (0 to 100) send the request.
    fn sent_of_101(r: &Request) -> usize {
        (0..=100u8).filter(|&n| r.is_probable_enough(|| n)).count()
    }

    #[test]
    fn probability_sends_on_draws_below_it_out_of_0_to_100_inclusive() {
        assert_eq!(sent_of_101(&request_with("30")), 30);
        assert_eq!(sent_of_101(&request_with("'30'")), 30, "numeric string");
        assert_eq!(sent_of_101(&request_with("30.5")), 31);
        assert_eq!(
            sent_of_101(&request_with("100")),
            100,
            "100 still skips 1 in 101"
        );
        assert_eq!(sent_of_101(&request_with("250")), 100, "capped at 100");
        assert_eq!(sent_of_101(&request_with("0")), 0);
        assert_eq!(sent_of_101(&request_with("-5")), 0);
    }

    #[test]
    fn probability_under_a_seed_is_reproducible() {
        let r = request_with("30");
        let run = |seed| {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            (0..10_100)
                .filter(|_| r.is_probable_enough(|| rng.random_range(0..=100)))
                .count()
        };
        let sent = run(23);
        assert_eq!(sent, run(23));
        // 30 in 101 of 10,100 is 3,000; the seeded draw stays well inside ±5%.
        assert!((2850..=3150).contains(&sent), "{sent}");
    }

    #[test]
    fn probability_that_is_not_a_number_is_refused() {
        for bad in ["often", "'{{ p }}'", "true", "[1]"] {
            let text = format!(
                "config: {{target: 'http://127.0.0.1:1'}}\nscenarios:\n  - flow:\n      - get: {{url: /, probability: {bad}}}\n"
            );
            let e = crate::script::parse(
                &text,
                std::path::Path::new("p.yml"),
                &crate::script::LoadOptions::default(),
            )
            .unwrap_err()
            .to_string();
            assert!(
                e.starts_with(
                    "p.yml:4:36: scenarios[0].flow[0].get.probability: expected a percentage"
                ),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn without_probability_every_request_is_sent() {
        let text = "config: {target: 'http://127.0.0.1:1'}\nscenarios:\n  - flow:\n      - get: {url: /}\n";
        let script = crate::script::parse(
            text,
            std::path::Path::new("p.yml"),
            &crate::script::LoadOptions::default(),
        )
        .unwrap();
        let Step::Request(r) = &script.scenarios[0].flow[0] else {
            panic!()
        };
        assert!(r.is_probable_enough(|| unreachable!("no draw without probability")));
    }
}
