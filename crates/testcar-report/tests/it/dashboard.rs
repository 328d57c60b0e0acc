//! The Grafana dashboard shipped in the chart (`charts/testcar/dashboards/testcar.json`): it
//! parses, its `schemaVersion` is one current Grafana releases load, every PromQL expression
//! parses and uses only metrics and labels the agent and injector export (INTERFACES §6, or a
//! real scrape given in `TESTCAR_METRICS_SCRAPE=agent.txt,injector.txt`), and its ConfigMap
//! template carries the Grafana sidecar label and is off by default.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use promql_parser::label::Matchers;
use promql_parser::parser::{self, Expr, LabelModifier};
use serde_json::Value;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

const DASHBOARD: &str = include_str!("../../../../charts/testcar/dashboards/testcar.json");
const TEMPLATE: &str = include_str!("../../../../charts/testcar/templates/grafana-dashboard.yaml");
const METRICS_DOC: &str = include_str!("../../../../docs/metrics.md");

/// Grafana's own migrations accept 9..=42 at the time of writing (`LATEST_VERSION` in
/// grafana/apps/dashboard/pkg/migration/schemaversion); 39 is what Grafana 10.3–11 write, so
/// every Grafana from 10.3 on loads the file without a schema newer than it knows.
const SCHEMA_VERSIONS: std::ops::RangeInclusive<u64> = 39..=42;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// INTERFACES §6: name, type, labels.
const METRICS: &[(&str, Kind, &[&str])] = &[
    (
        "testcar_injector_admissions_total",
        Kind::Counter,
        &["decision", "reason"],
    ),
    (
        "testcar_injector_admission_duration_seconds",
        Kind::Histogram,
        &["decision"],
    ),
    (
        "testcar_injector_tls_reloads_total",
        Kind::Counter,
        &["result"],
    ),
    (
        "testcar_injector_certificate_expiry_timestamp_seconds",
        Kind::Gauge,
        &[],
    ),
    ("testcar_run_status", Kind::Gauge, &["status"]),
    ("testcar_run_duration_seconds", Kind::Gauge, &[]),
    (
        "testcar_suite_status",
        Kind::Gauge,
        &["suite", "runner", "status"],
    ),
    ("testcar_suite_requests_total", Kind::Counter, &["suite"]),
    (
        "testcar_suite_responses_total",
        Kind::Counter,
        &["suite", "code"],
    ),
    (
        "testcar_suite_errors_total",
        Kind::Counter,
        &["suite", "code"],
    ),
    (
        "testcar_suite_response_time_seconds",
        Kind::Histogram,
        &["suite"],
    ),
    ("testcar_checks", Kind::Gauge, &["status"]),
    ("testcar_agent_info", Kind::Gauge, &["version"]),
];

/// Labels Prometheus adds when scraping pods (kubernetes_sd relabelling or a PodMonitor /
/// ServiceMonitor): the dashboard groups by `namespace` and `pod`.
const TARGET_LABELS: &[&str] = &[
    "namespace",
    "pod",
    "container",
    "job",
    "instance",
    "service",
    "endpoint",
];

/// Sample names the dashboard may query, with their labels.
fn exported() -> BTreeMap<String, BTreeSet<String>> {
    if let Ok(files) = std::env::var("TESTCAR_METRICS_SCRAPE") {
        return from_scrapes(&files);
    }
    let mut out = BTreeMap::new();
    for (name, kind, labels) in METRICS {
        let labels: BTreeSet<String> = labels.iter().map(|l| l.to_string()).collect();
        match kind {
            Kind::Histogram => {
                let mut with_le = labels.clone();
                with_le.insert("le".into());
                out.insert(format!("{name}_bucket"), with_le);
                out.insert(format!("{name}_sum"), labels.clone());
                out.insert(format!("{name}_count"), labels);
            }
            _ => {
                out.insert(name.to_string(), labels);
            }
        }
    }
    out
}

/// Sample names and label names from Prometheus text scrapes (comma-separated files).
fn from_scrapes(files: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in files.split(',').filter(|f| !f.is_empty()) {
        let text = std::fs::read_to_string(file)
            .unwrap_or_else(|e| panic!("TESTCAR_METRICS_SCRAPE: cannot read {file}: {e}"));
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        {
            let end = line.find(['{', ' ']).unwrap_or(line.len());
            let labels = out.entry(line[..end].to_string()).or_default();
            if line[end..].starts_with('{') {
                let body = &line[end + 1..line.rfind('}').expect("closing brace")];
                for pair in body.split("\",") {
                    if let Some((k, _)) = pair.split_once('=') {
                        labels.insert(k.trim().to_string());
                    }
                }
            }
        }
    }
    assert!(
        !out.is_empty(),
        "TESTCAR_METRICS_SCRAPE: no samples in {files}"
    );
    out
}

/// Every PromQL expression of the dashboard with the panel it belongs to.
fn expressions(dashboard: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    fn walk(panels: &[Value], out: &mut Vec<(String, String)>) {
        for p in panels {
            let title = p["title"].as_str().unwrap_or("(untitled)").to_string();
            for t in p["targets"].as_array().into_iter().flatten() {
                let expr = t["expr"].as_str().expect("every target has an expr");
                out.push((title.clone(), expr.to_string()));
            }
            if let Some(children) = p["panels"].as_array() {
                walk(children, out);
            }
        }
    }
    walk(dashboard["panels"].as_array().expect("panels"), &mut out);
    out
}

/// Replace Grafana's variables with values PromQL accepts.
fn substitute(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$__interval", "1m")
        .replace("$__range", "1h")
        .replace("$namespace", ".*")
}

/// Checks one parsed expression; returns the labels its result carries.
struct Checker<'a> {
    exported: &'a BTreeMap<String, BTreeSet<String>>,
    used: BTreeSet<String>,
    problems: Vec<String>,
}

impl Checker<'_> {
    fn selector(&mut self, name: &Option<String>, matchers: &Matchers) -> BTreeSet<String> {
        let name = name.clone().or_else(|| {
            matchers
                .matchers
                .iter()
                .find(|m| m.name == "__name__")
                .map(|m| m.value.clone())
        });
        let Some(name) = name else {
            self.problems.push("selector without a metric name".into());
            return BTreeSet::new();
        };
        let Some(labels) = self.exported.get(&name) else {
            self.problems.push(format!(
                "metric {name} is not exported by the agent or injector"
            ));
            return BTreeSet::new();
        };
        self.used.insert(name.clone());
        let mut available: BTreeSet<String> = labels.clone();
        available.extend(TARGET_LABELS.iter().map(|l| l.to_string()));
        for m in &matchers.matchers {
            if m.name != "__name__" && !available.contains(&m.name) {
                self.problems
                    .push(format!("{name} has no label {} to match on", m.name));
            }
        }
        available
    }

    fn labels(&mut self, expr: &Expr) -> BTreeSet<String> {
        match expr {
            Expr::VectorSelector(vs) => self.selector(&vs.name, &vs.matchers),
            Expr::MatrixSelector(ms) => self.selector(&ms.vs.name, &ms.vs.matchers),
            Expr::Aggregate(a) => {
                let inner = self.labels(&a.expr);
                if let Some(p) = &a.param {
                    self.labels(p);
                }
                match &a.modifier {
                    Some(LabelModifier::Include(by)) => {
                        for l in &by.labels {
                            if !inner.contains(l) {
                                self.problems.push(format!(
                                    "aggregation by {l}, which `{}` does not carry",
                                    a.expr
                                ));
                            }
                        }
                        by.labels.iter().cloned().collect()
                    }
                    Some(LabelModifier::Exclude(without)) => inner
                        .into_iter()
                        .filter(|l| !without.labels.contains(l))
                        .collect(),
                    None => BTreeSet::new(),
                }
            }
            Expr::Binary(b) => {
                let mut l = self.labels(&b.lhs);
                l.extend(self.labels(&b.rhs));
                l
            }
            Expr::Paren(p) => self.labels(&p.expr),
            Expr::Unary(u) => self.labels(&u.expr),
            Expr::Subquery(s) => self.labels(&s.expr),
            Expr::Call(c) => {
                let mut args: Vec<BTreeSet<String>> =
                    c.args.args.iter().map(|a| self.labels(a)).collect();
                let mut out = args.iter_mut().fold(BTreeSet::new(), |mut acc, a| {
                    acc.append(a);
                    acc
                });
                match c.func.name {
                    "label_replace" => {
                        if let Some(Expr::StringLiteral(dst)) = c.args.args.get(1).map(|b| &**b) {
                            out.insert(dst.val.clone());
                        }
                        if let Some(Expr::StringLiteral(src)) = c.args.args.get(3).map(|b| &**b)
                            && !out.contains(&src.val)
                        {
                            self.problems
                                .push(format!("label_replace reads missing label {}", src.val));
                        }
                    }
                    "histogram_quantile" if !out.remove("le") => {
                        self.problems
                            .push("histogram_quantile over series without `le`".into());
                    }
                    _ => {}
                }
                out
            }
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => BTreeSet::new(),
        }
    }
}

fn dashboard() -> Value {
    serde_json::from_str(DASHBOARD).expect("dashboard JSON parses")
}

#[test]
fn dashboard_parses_with_a_loadable_schema_version() {
    let d = dashboard();
    let v = d["schemaVersion"]
        .as_u64()
        .expect("schemaVersion is a number");
    assert!(SCHEMA_VERSIONS.contains(&v), "schemaVersion {v}");
    assert_eq!(d["uid"], "testcar-overview");
    assert_eq!(d["title"], "Testcar");
    // Grid: unique ids, inside 24 columns, no overlaps.
    let panels = d["panels"].as_array().unwrap();
    let mut ids = BTreeSet::new();
    let mut cells = BTreeSet::new();
    for p in panels {
        assert!(
            ids.insert(p["id"].as_u64().unwrap()),
            "duplicate id in {}",
            p["title"]
        );
        let g = &p["gridPos"];
        let (x, y, w, h) = (
            g["x"].as_u64().unwrap(),
            g["y"].as_u64().unwrap(),
            g["w"].as_u64().unwrap(),
            g["h"].as_u64().unwrap(),
        );
        assert!(x + w <= 24, "{} is wider than the grid", p["title"]);
        for cx in x..x + w {
            for cy in y..y + h {
                assert!(
                    cells.insert((cx, cy)),
                    "{} overlaps another panel",
                    p["title"]
                );
            }
        }
        if p["type"] != "row" {
            assert_eq!(p["datasource"]["uid"], "${datasource}", "{}", p["title"]);
            assert!(
                !p["targets"].as_array().unwrap().is_empty(),
                "{} has no query",
                p["title"]
            );
        }
    }
}

#[test]
fn every_expression_uses_exported_metrics_and_labels() {
    let d = dashboard();
    let exported = exported();
    let mut checker = Checker {
        exported: &exported,
        used: BTreeSet::new(),
        problems: Vec::new(),
    };
    let exprs = expressions(&d);
    assert!(exprs.len() >= 15, "only {} queries", exprs.len());
    let name_re = regex::Regex::new(r"testcar_[a-z_]+").unwrap();
    for (panel, expr) in &exprs {
        let parsed = parser::parse(&substitute(expr))
            .unwrap_or_else(|e| panic!("panel {panel:?}: PromQL does not parse: {e}\n{expr}"));
        let before = checker.problems.len();
        checker.labels(&parsed);
        for p in &mut checker.problems[before..] {
            *p = format!("panel {panel:?}: {p}");
        }
        // Independent of the parser: every identifier that looks like ours is exported.
        for m in name_re.find_iter(expr) {
            assert!(
                exported.contains_key(m.as_str()),
                "panel {panel:?}: {} is not exported",
                m.as_str()
            );
        }
    }
    // Template variable queries, too.
    for v in d["templating"]["list"].as_array().unwrap() {
        let q = v["definition"].as_str().unwrap_or("");
        for m in name_re.find_iter(q) {
            assert!(
                exported.contains_key(m.as_str()),
                "variable {}: {}",
                v["name"],
                m.as_str()
            );
        }
    }
    assert!(checker.problems.is_empty(), "{:#?}", checker.problems);
    // The dashboard shows every metric family.
    for (name, kind, _) in METRICS {
        let sample = if *kind == Kind::Histogram {
            format!("{name}_bucket")
        } else {
            name.to_string()
        };
        assert!(checker.used.contains(&sample), "no panel shows {sample}");
    }
}

#[test]
fn the_checker_rejects_unknown_metrics_and_labels() {
    // Guards the test above: a typo in a metric or a grouping label must be caught.
    let exported = exported();
    let mut checker = Checker {
        exported: &exported,
        used: BTreeSet::new(),
        problems: Vec::new(),
    };
    for bad in [
        "sum(rate(testcar_suite_request_total[1m]))",
        "sum by (route) (rate(testcar_suite_requests_total[1m]))",
        "testcar_run_status{uid=\"x\"}",
        "histogram_quantile(0.9, sum by (suite) (rate(testcar_suite_response_time_seconds_bucket[1m])))",
    ] {
        let before = checker.problems.len();
        checker.labels(&parser::parse(bad).unwrap());
        assert!(checker.problems.len() > before, "not caught: {bad}");
    }
}

#[test]
fn required_panels_are_present() {
    let d = dashboard();
    let exprs = expressions(&d);
    let find = |title: &str| -> Vec<&String> {
        exprs
            .iter()
            .filter(|(p, _)| p == title)
            .map(|(_, e)| e)
            .collect()
    };
    let runs = find("Runs by verdict per workload");
    assert!(runs[0].contains("testcar_run_status") && runs[0].contains("workload"));
    let latency = find("Response time percentiles per suite");
    assert_eq!(latency.len(), 3);
    assert!(latency.iter().all(|e| e.starts_with("histogram_quantile(")
        && e.contains("testcar_suite_response_time_seconds_bucket")
        && e.contains("by (le, suite)")));
    assert!(!find("Error ratio per suite").is_empty());
    assert!(find("Admissions by decision")[0].contains("by (decision)"));
    assert!(
        find("Webhook latency")
            .iter()
            .any(|e| e.contains("testcar_injector_admission_duration_seconds_bucket"))
    );
}

#[test]
fn workload_regex_strips_pod_suffixes() {
    // The workload label is derived from the pod name with the regex the dashboard uses.
    let d = dashboard();
    let expr = expressions(&d)
        .into_iter()
        .find(|(p, _)| p == "Runs by verdict per workload")
        .unwrap()
        .1;
    // The outer label_replace strips the suffix; the inner one copies `pod` for names it does
    // not match. label_replace anchors its regex at both ends.
    let re_src = expr
        .rsplit("\"pod\", \"")
        .next()
        .unwrap()
        .split("\")")
        .next()
        .unwrap();
    let re = regex::Regex::new(&format!("^(?:{re_src})$")).unwrap();
    assert!(
        expr.contains(r#""workload", "$1", "pod", "(.*)")"#),
        "{expr}"
    );
    for (pod, workload) in [
        ("orders-7c9f8d6b5-x2kqz", "orders"),
        ("payment-api-5d8f7b9c4d-b2c4d", "payment-api"),
        ("node-agent-x2kqz", "node-agent"),
        ("db-0", "db"),
        ("kafka-broker-12", "kafka-broker"),
        ("standalone", "standalone"),
    ] {
        let got = re
            .captures(pod)
            .map(|c| c[1].to_string())
            .unwrap_or_else(|| pod.to_string());
        assert_eq!(got, workload, "{pod}");
    }
}

#[test]
fn configmap_template_is_off_by_default_and_labelled_for_the_sidecar() {
    assert!(TEMPLATE.starts_with("{{- if ((.Values.grafana).dashboard).enabled }}"));
    assert!(TEMPLATE.contains("kind: ConfigMap"));
    assert!(TEMPLATE.contains("    grafana_dashboard: \"1\""));
    assert!(TEMPLATE.contains(".Files.Get \"dashboards/testcar.json\""));
    assert!(TEMPLATE.trim_end().ends_with("{{- end }}"));
}

#[test]
fn configmap_renders_with_helm_when_the_chart_is_present() {
    // TESTCAR_CHART_DIR points at another copy of the chart (e.g. one under review).
    let chart = std::env::var_os("TESTCAR_CHART_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("charts/testcar"));
    if !chart.join("Chart.yaml").is_file() {
        eprintln!(
            "skipped: charts/testcar/Chart.yaml is not in this tree (the chart lands from its own branch)"
        );
        return;
    }
    let tools = std::env::var_os("TESTCAR_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join(".tools"));
    let helm = [tools.join("bin/helm")]
        .into_iter()
        .chain(std::env::var_os("PATH").into_iter().flat_map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("helm"))
                .collect::<Vec<_>>()
        }))
        .find(|p| p.is_file());
    let Some(helm) = helm else {
        if std::env::var("TESTCAR_REQUIRE_TOOLS").as_deref() == Ok("1") {
            panic!("helm not found under $TESTCAR_TOOLS/bin or PATH (scripts/setup.d/30-helm.sh)");
        }
        eprintln!("skipped: helm not found");
        return;
    };
    let render = |args: &[&str]| -> String {
        let out = std::process::Command::new(&helm)
            .args([
                "template",
                "t",
                chart.to_str().unwrap(),
                "--namespace",
                "monitoring",
            ])
            .args(args)
            .output()
            .expect("run helm");
        assert!(
            out.status.success(),
            "helm template {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let off = render(&[]);
    assert!(
        !off.contains("grafana_dashboard"),
        "dashboard rendered although disabled"
    );
    let configmap = |rendered: &str| -> testcar_yaml::Value {
        let doc = rendered
            .split("\n---")
            .find(|d| d.contains("grafana_dashboard"))
            .expect("dashboard ConfigMap rendered");
        testcar_yaml::from_str(doc).expect("ConfigMap is YAML")
    };
    let cm = configmap(&render(&["--set", "grafana.dashboard.enabled=true"]));
    assert_eq!(cm["kind"].as_str(), Some("ConfigMap"));
    assert_eq!(
        cm["metadata"]["labels"]["grafana_dashboard"].as_str(),
        Some("1")
    );
    assert_eq!(cm["metadata"]["namespace"].as_str(), Some("monitoring"));
    assert!(
        cm["metadata"]["annotations"]["grafana_folder"].is_null(),
        "folder annotation without grafana.dashboard.folder"
    );
    let json = cm["data"]["testcar.json"]
        .as_str()
        .expect("data.testcar.json");
    let embedded: Value = serde_json::from_str(json).expect("embedded dashboard parses");
    assert_eq!(embedded, dashboard());
    // The optional placement values are accepted by the chart's strict values schema.
    let placed = configmap(&render(&[
        "--set",
        "grafana.dashboard.enabled=true",
        "--set",
        "grafana.dashboard.namespace=grafana",
        "--set",
        "grafana.dashboard.folder=Platform / Testcar",
    ]));
    assert_eq!(placed["metadata"]["namespace"].as_str(), Some("grafana"));
    assert_eq!(
        placed["metadata"]["annotations"]["grafana_folder"].as_str(),
        Some("Platform / Testcar")
    );
}

#[test]
fn metrics_doc_names_every_metric_and_label() {
    for (name, _, labels) in METRICS {
        assert!(
            METRICS_DOC.contains(&format!("`{name}`")),
            "docs/metrics.md lacks {name}"
        );
        for l in *labels {
            assert!(
                METRICS_DOC.contains(&format!("`{l}`")),
                "docs/metrics.md lacks label {l}"
            );
        }
    }
}
