//! JUnit XML in the form Azure DevOps (PublishTestResults), GitHub and GitLab import:
//! one `testsuite` per suite (per pod and suite when the gate merges runs), one
//! `testcase` per check, `failure`/`error` elements with messages.

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

use crate::result::{Check, CheckStatus, Run, Status, Suite};

/// Builds one JUnit document from one or more runs.
#[derive(Debug, Default)]
pub struct JunitReport<'a> {
    runs: Vec<(Option<String>, &'a Run)>,
}

#[derive(Default)]
struct Tally {
    tests: u64,
    failures: u64,
    errors: u64,
}

/// A test suite to write.
struct SuiteOut {
    name: String,
    cases: Vec<Case>,
    time_s: f64,
    timestamp: String,
    output: Option<String>,
}

/// A test case to write: name, status, message, details.
struct Case {
    name: String,
    status: CheckStatus,
    kind: String,
    message: String,
    details: String,
    time_s: f64,
}

impl<'a> JunitReport<'a> {
    /// An empty report.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a run; `label` (e.g. the pod name) prefixes its suite names.
    pub fn add_run(mut self, label: Option<&str>, run: &'a Run) -> Self {
        self.runs.push((label.map(str::to_string), run));
        self
    }

    /// Render the document.
    pub fn render(&self) -> String {
        let mut suites: Vec<SuiteOut> = Vec::new();
        for (label, run) in &self.runs {
            let prefix = label.as_ref().map(|l| format!("{l}/")).unwrap_or_default();
            let ts = run
                .started
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            if run.suites.is_empty()
                || (run.status == Status::Error
                    && run.error.is_some()
                    && run.suites.iter().all(|s| s.status != Status::Error))
            {
                // The run itself could not test: show that as its own suite.
                let message = run
                    .error
                    .clone()
                    .unwrap_or_else(|| "run did not complete".into());
                suites.push(SuiteOut {
                    name: format!("{prefix}testcar"),
                    cases: vec![Case {
                        name: "run".into(),
                        status: CheckStatus::Error,
                        kind: "error".into(),
                        message: message.clone(),
                        details: message,
                        time_s: run.duration_ms as f64 / 1000.0,
                    }],
                    time_s: run.duration_ms as f64 / 1000.0,
                    timestamp: ts.clone(),
                    output: None,
                });
            }
            for suite in &run.suites {
                suites.push(SuiteOut {
                    name: format!("{prefix}{}", suite.name),
                    cases: cases_of(suite),
                    time_s: suite.duration_ms as f64 / 1000.0,
                    timestamp: ts.clone(),
                    output: suite.output_tail.clone(),
                });
            }
        }

        let mut total = Tally::default();
        let mut total_time = 0.0;
        for suite in &suites {
            let t = tally(&suite.cases);
            total.tests += t.tests;
            total.failures += t.failures;
            total.errors += t.errors;
            total_time += suite.time_s;
        }

        let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
        w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))
            .expect("write to Vec");
        let mut root = BytesStart::new("testsuites");
        root.push_attribute(("name", "testcar"));
        root.push_attribute(("tests", total.tests.to_string().as_str()));
        root.push_attribute(("failures", total.failures.to_string().as_str()));
        root.push_attribute(("errors", total.errors.to_string().as_str()));
        root.push_attribute(("time", format!("{total_time:.3}").as_str()));
        w.write_event(Event::Start(root)).expect("write to Vec");
        for SuiteOut {
            name,
            cases,
            time_s: time,
            timestamp: ts,
            output,
        } in &suites
        {
            let t = tally(cases);
            let mut s = BytesStart::new("testsuite");
            s.push_attribute(("name", name.as_str()));
            s.push_attribute(("tests", t.tests.to_string().as_str()));
            s.push_attribute(("failures", t.failures.to_string().as_str()));
            s.push_attribute(("errors", t.errors.to_string().as_str()));
            s.push_attribute(("skipped", "0"));
            s.push_attribute(("time", format!("{time:.3}").as_str()));
            s.push_attribute(("timestamp", ts.as_str()));
            w.write_event(Event::Start(s)).expect("write to Vec");
            for case in cases {
                let mut c = BytesStart::new("testcase");
                c.push_attribute(("name", case.name.as_str()));
                c.push_attribute(("classname", name.as_str()));
                c.push_attribute(("time", format!("{:.3}", case.time_s).as_str()));
                let elem = match case.status {
                    CheckStatus::Passed => None,
                    CheckStatus::Failed => Some("failure"),
                    CheckStatus::Error => Some("error"),
                };
                match elem {
                    None => {
                        w.write_event(Event::Empty(c)).expect("write to Vec");
                    }
                    Some(elem) => {
                        w.write_event(Event::Start(c)).expect("write to Vec");
                        let mut f = BytesStart::new(elem);
                        f.push_attribute(("message", case.message.as_str()));
                        f.push_attribute(("type", case.kind.as_str()));
                        w.write_event(Event::Start(f)).expect("write to Vec");
                        w.write_event(Event::Text(BytesText::new(&case.details)))
                            .expect("write to Vec");
                        w.write_event(Event::End(BytesEnd::new(elem)))
                            .expect("write to Vec");
                        w.write_event(Event::End(BytesEnd::new("testcase")))
                            .expect("write to Vec");
                    }
                }
            }
            if let Some(out) = output {
                w.write_event(Event::Start(BytesStart::new("system-out")))
                    .expect("write to Vec");
                w.write_event(Event::Text(BytesText::new(&strip_invalid_xml(out))))
                    .expect("write to Vec");
                w.write_event(Event::End(BytesEnd::new("system-out")))
                    .expect("write to Vec");
            }
            w.write_event(Event::End(BytesEnd::new("testsuite")))
                .expect("write to Vec");
        }
        w.write_event(Event::End(BytesEnd::new("testsuites")))
            .expect("write to Vec");
        let mut out = String::from_utf8(w.into_inner()).expect("utf-8 in, utf-8 out");
        out.push('\n');
        out
    }
}

/// Render one run as JUnit XML.
pub fn render_junit(run: &Run) -> String {
    JunitReport::new().add_run(None, run).render()
}

fn tally(cases: &[Case]) -> Tally {
    let mut t = Tally::default();
    for c in cases {
        t.tests += 1;
        match c.status {
            CheckStatus::Passed => {}
            CheckStatus::Failed => t.failures += 1,
            CheckStatus::Error => t.errors += 1,
        }
    }
    t
}

fn cases_of(suite: &Suite) -> Vec<Case> {
    let mut cases: Vec<Case> = suite.checks.iter().map(case_of_check).collect();
    let suite_time = suite.duration_ms as f64 / 1000.0;
    if suite.status == Status::Error {
        let message = suite
            .error
            .clone()
            .unwrap_or_else(|| "suite could not be run".to_string());
        cases.push(Case {
            name: format!("{} (run)", suite.name),
            status: CheckStatus::Error,
            kind: "error".into(),
            message: message.clone(),
            details: message,
            time_s: suite_time,
        });
    } else if suite.status == Status::Failed
        && !cases.is_empty()
        && cases.iter().all(|c| c.status == CheckStatus::Passed)
    {
        // The result says the suite failed though every check in it passed (a hand-edited
        // or older result can say that): the suite's verdict must still show as a failure,
        // or a CI that reads only JUnit would pass what the gate fails.
        let message = suite
            .error
            .clone()
            .unwrap_or_else(|| "suite failed although every check in it passed".to_string());
        cases.push(Case {
            name: format!("{} (suite)", suite.name),
            status: CheckStatus::Failed,
            kind: "suite".into(),
            message: message.clone(),
            details: format!("suite: {}\nstatus: {}\n{message}", suite.name, suite.status),
            time_s: suite_time,
        });
    } else if cases.is_empty() {
        // A suite with no checks still shows up as one test case with its status.
        let status = match suite.status {
            Status::Passed => CheckStatus::Passed,
            Status::Failed => CheckStatus::Failed,
            Status::Error => CheckStatus::Error,
        };
        cases.push(Case {
            name: suite.name.clone(),
            status,
            kind: suite.runner.as_str().to_string(),
            message: format!("suite {}", suite.status),
            details: String::new(),
            time_s: suite_time,
        });
    }
    if let Some(first) = cases.first_mut() {
        if first.time_s == 0.0 {
            first.time_s = suite_time;
        }
    }
    cases
}

fn case_of_check(check: &Check) -> Case {
    let show = |v: &Option<serde_json::Value>| match v {
        None => "no data".to_string(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    };
    let mut message = check.message.clone().unwrap_or_else(|| {
        format!(
            "expected {}, observed {}",
            show(&check.expected),
            show(&check.observed)
        )
    });
    if let (Some(p), Some(f)) = (check.passes, check.failures) {
        message = format!("{message} ({f} of {} failed)", p + f);
    }
    let details = format!(
        "check: {}\nkind: {}\nexpected: {}\nobserved: {}",
        check.name,
        check.kind.as_str(),
        show(&check.expected),
        show(&check.observed)
    );
    Case {
        name: check.name.clone(),
        status: check.status,
        kind: check.kind.as_str().to_string(),
        message,
        details,
        time_s: 0.0,
    }
}

/// XML 1.0 cannot carry most control characters even escaped; exec output may have them.
fn strip_invalid_xml(s: &str) -> String {
    s.chars()
        .filter(|&c| matches!(c, '\t' | '\n' | '\r') || c >= ' ')
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use quick_xml::Reader;
    use quick_xml::events::Event;

    fn failed_run() -> Run {
        serde_json::from_str(include_str!("../../../docs/examples/failed.json")).unwrap()
    }

    /// (suite name, case name, Some((element, message))) of one test case.
    type ParsedCase = (String, String, Option<(String, String)>);

    fn parse_cases(xml: &str) -> Vec<ParsedCase> {
        let mut reader = Reader::from_str(xml);
        let mut out = Vec::new();
        let (mut suite, mut case) = (String::new(), String::new());
        loop {
            match reader.read_event().unwrap() {
                Event::Start(e) | Event::Empty(e) => {
                    let attr = |name: &str| {
                        e.attributes()
                            .flatten()
                            .find(|a| a.key.as_ref() == name.as_bytes())
                            .map(|a| a.unescape_value().unwrap().to_string())
                            .unwrap_or_default()
                    };
                    match e.name().as_ref() {
                        b"testsuite" => suite = attr("name"),
                        b"testcase" => {
                            case = attr("name");
                            out.push((suite.clone(), case.clone(), None));
                        }
                        b"failure" | b"error" => {
                            let el = String::from_utf8(e.name().as_ref().to_vec()).unwrap();
                            out.last_mut().unwrap().2 = Some((el, attr("message")));
                        }
                        _ => {}
                    }
                }
                Event::Eof => break,
                _ => {}
            }
        }
        let _ = case;
        out
    }

    #[test]
    fn failed_run_parses_back_with_its_failures() {
        let run = failed_run();
        let xml = render_junit(&run);
        let cases = parse_cases(&xml);
        let failed_checks: Vec<&Check> = run
            .suites
            .iter()
            .flat_map(|s| &s.checks)
            .filter(|c| c.status == CheckStatus::Failed)
            .collect();
        assert!(!failed_checks.is_empty());
        for check in &failed_checks {
            let case = cases
                .iter()
                .find(|(_, name, _)| name == &check.name)
                .unwrap_or_else(|| panic!("no testcase for {}", check.name));
            let (el, msg) = case.2.as_ref().expect("failure element");
            assert_eq!(el, "failure");
            assert!(!msg.is_empty());
        }
        let failures = cases
            .iter()
            .filter(|c| matches!(&c.2, Some((e, _)) if e == "failure"))
            .count();
        assert_eq!(failures, failed_checks.len());
        let root_failures = format!("failures=\"{}\"", failed_checks.len());
        assert!(xml.contains(&root_failures), "{xml}");
    }

    #[test]
    fn error_run_without_suites_has_an_error_case() {
        let run: Run =
            serde_json::from_str(include_str!("../../../docs/examples/error.json")).unwrap();
        let xml = render_junit(&run);
        let cases = parse_cases(&xml);
        assert!(
            cases
                .iter()
                .any(|c| matches!(&c.2, Some((e, m)) if e == "error" && m.contains(run.error.as_deref().unwrap())))
        );
    }

    /// Every suite whose status is failed or error has a `<failure>` or `<error>` in its
    /// `testsuite`, whatever its checks say.
    #[test]
    fn failed_suite_whose_checks_all_passed_still_fails() {
        let run: Run =
            serde_json::from_str(include_str!("../testdata/suite-failed-checks-passed.json"))
                .unwrap();
        assert!(run.suites.iter().all(|s| s.status == Status::Failed
            && s.checks.iter().all(|c| c.status == CheckStatus::Passed)));
        let xml = render_junit(&run);
        let cases = parse_cases(&xml);
        for suite in &run.suites {
            let failures: Vec<&ParsedCase> = cases
                .iter()
                .filter(|c| c.0 == suite.name && matches!(&c.2, Some((e, _)) if e == "failure"))
                .collect();
            assert_eq!(failures.len(), 1, "suite {}: {xml}", suite.name);
            // The checks themselves are still reported as passed.
            for check in &suite.checks {
                assert!(
                    cases
                        .iter()
                        .any(|c| c.0 == suite.name && c.1 == check.name && c.2.is_none())
                );
            }
        }
        // The suite's own error text is the failure's message when it has one.
        assert!(cases.iter().any(|c| matches!(&c.2,
            Some((_, m)) if m == "history check timed out")));
        assert!(
            xml.contains("<testsuites name=\"testcar\" tests=\"5\" failures=\"2\""),
            "{xml}"
        );
    }

    /// The same for every status a suite can have on top of the checked-in examples: a
    /// failed or error suite always carries a failure or error element.
    #[test]
    fn every_failed_or_error_suite_has_a_failure_or_error() {
        for text in [
            include_str!("../../../docs/examples/passed.json"),
            include_str!("../../../docs/examples/failed.json"),
            include_str!("../../../docs/examples/error.json"),
            include_str!("../testdata/suite-failed-checks-passed.json"),
        ] {
            let base: Run = serde_json::from_str(text).unwrap();
            for status in [Status::Passed, Status::Failed, Status::Error] {
                let mut run = base.clone();
                for suite in &mut run.suites {
                    suite.status = status;
                }
                let cases = parse_cases(&render_junit(&run));
                for suite in &run.suites {
                    let bad = cases.iter().any(|c| c.0 == suite.name && c.2.is_some());
                    if status != Status::Passed {
                        assert!(bad, "suite {} ({status}) has no failure/error", suite.name);
                    }
                }
            }
        }
    }

    #[test]
    fn labels_prefix_suites_and_text_is_escaped() {
        let mut run = failed_run();
        run.suites[0].name = "a<b>&\"c\"".into();
        run.suites[0].output_tail = Some("bell\u{7} ok".into());
        let xml = JunitReport::new().add_run(Some("pod-1"), &run).render();
        let cases = parse_cases(&xml);
        assert!(cases.iter().any(|c| c.0 == "pod-1/a<b>&\"c\""));
        assert!(!xml.contains('\u{7}'));
    }
}
