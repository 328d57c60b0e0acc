//! The stdout contract: a run is printed as one JSON line, the agent's last; readers
//! (the gate, humans) find the last valid result line in a log full of other lines.

use crate::result::{Run, SCHEMA_ID};

/// Render a run as one line of JSON (no trailing newline). JSON escapes every newline
/// inside strings, so the output never spans lines.
pub fn render_line(run: &Run) -> String {
    serde_json::to_string(run).expect("a Run always serializes")
}

/// No result line could be found in a log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// Nothing in the log looks like a result.
    #[error("no result yet: none of the {lines} log lines is a {SCHEMA_ID} document")]
    NoResult {
        /// Lines scanned.
        lines: usize,
    },
    /// Lines looked like results but none could be read (e.g. the last one was cut off).
    #[error(
        "no valid result: {candidates} line(s) mention {SCHEMA_ID} but none parses; the last one (line {line}) fails with: {reason}"
    )]
    Invalid {
        /// How many lines mentioned the schema id.
        candidates: usize,
        /// 1-based line number of the last such line.
        line: usize,
        /// Why it could not be read.
        reason: String,
    },
}

/// Find the last valid result document in `log`. Lines may end in CRLF, carry a prefix
/// before the JSON (timestamps from `kubectl logs --timestamps`, CRI `stdout F`), and be
/// interleaved with JSON log records that are not results. When several results are
/// present the last one wins; a truncated final line falls back to an earlier valid one.
pub fn find_last_result(log: &str) -> Result<Run, LineError> {
    let lines: Vec<&str> = log.split('\n').collect();
    let mut candidates = 0usize;
    let mut last_bad: Option<(usize, String)> = None;
    for (idx, raw) in lines.iter().enumerate().rev() {
        let line = raw.trim_end_matches('\r');
        if !line.contains(SCHEMA_ID) {
            continue;
        }
        let Some(start) = line.find('{') else {
            continue;
        };
        candidates += 1;
        let json = line[start..].trim_end();
        match serde_json::from_str::<serde_json::Value>(json) {
            Ok(value) => {
                if value.get("schema").and_then(|s| s.as_str()) != Some(SCHEMA_ID) {
                    // a log record that merely mentions the schema id
                    candidates -= 1;
                    continue;
                }
                match serde_json::from_value::<Run>(value) {
                    Ok(run) => return Ok(run),
                    Err(e) => {
                        last_bad.get_or_insert((idx + 1, e.to_string()));
                    }
                }
            }
            Err(e) => {
                last_bad.get_or_insert((idx + 1, e.to_string()));
            }
        }
    }
    match last_bad {
        Some((line, reason)) if candidates > 0 => Err(LineError::Invalid {
            candidates,
            line,
            reason,
        }),
        _ => Err(LineError::NoResult {
            lines: lines.iter().filter(|l| !l.trim().is_empty()).count(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::result::{RunnerKind, Status, Suite};
    use chrono::{TimeZone, Utc};

    fn mk_run(id: &str, status: Status) -> Run {
        let t = Utc.with_ymd_and_hms(2026, 11, 22, 10, 0, 0).unwrap();
        let mut s = Suite::new("smoke", RunnerKind::Artillery);
        s.status = status;
        s.output_tail = Some("line one\nline two".into());
        Run::finish(id, t, t, vec![s], None)
    }

    #[test]
    fn render_is_one_line_and_round_trips() {
        let run = mk_run("a", Status::Passed);
        let line = render_line(&run);
        assert!(!line.contains('\n'));
        assert_eq!(find_last_result(&line).unwrap(), run);
    }

    #[test]
    fn last_of_two_wins_among_other_lines() {
        let log = format!(
            "{{\"level\":\"info\",\"msg\":\"starting\"}}\nplain text\n{}\n{{\"level\":\"info\",\"msg\":\"wrote {SCHEMA_ID}\"}}\n{}\n{{\"level\":\"info\",\"msg\":\"idle\"}}\n",
            render_line(&mk_run("first", Status::Failed)),
            render_line(&mk_run("second", Status::Passed)),
        );
        let run = find_last_result(&log).unwrap();
        assert_eq!(run.run_id, "second");
    }

    #[test]
    fn crlf_and_timestamp_prefix() {
        let log = format!(
            "2026-11-22T10:00:00.000000001Z {}\r\n2026-11-22T10:00:01Z idle\r\n",
            render_line(&mk_run("crlf", Status::Passed))
        );
        assert_eq!(find_last_result(&log).unwrap().run_id, "crlf");
    }

    #[test]
    fn truncated_last_line_falls_back_to_earlier() {
        let good = render_line(&mk_run("good", Status::Passed));
        let cut = render_line(&mk_run("cut", Status::Failed));
        let log = format!("{good}\n{}", &cut[..cut.len() / 2]);
        assert_eq!(find_last_result(&log).unwrap().run_id, "good");
    }

    #[test]
    fn truncated_only_line_is_reported() {
        let cut = render_line(&mk_run("cut", Status::Failed));
        let err = find_last_result(&cut[..cut.len() - 5]).unwrap_err();
        assert!(matches!(err, LineError::Invalid { line: 1, .. }), "{err}");
        assert!(err.to_string().contains("none parses"));
    }

    #[test]
    fn none_gives_no_result_yet() {
        let err = find_last_result("starting\n{\"msg\":\"waiting for target\"}\n").unwrap_err();
        assert_eq!(err, LineError::NoResult { lines: 2 });
        assert!(err.to_string().starts_with("no result yet"));
        assert!(matches!(
            find_last_result(""),
            Err(LineError::NoResult { lines: 0 })
        ));
    }

    #[test]
    fn other_schema_versions_are_not_taken() {
        let line =
            render_line(&mk_run("x", Status::Passed)).replace(SCHEMA_ID, "testcar.io/result/v9");
        assert!(find_last_result(&line).is_err());
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use crate::result::{RunnerKind, Status, Suite};
    use chrono::Utc;
    use proptest::prelude::*;

    proptest! {
        /// Whatever surrounds it, the last complete result line is the one found, and noise
        /// alone never panics.
        #[test]
        fn last_result_survives_noise(
            before in proptest::collection::vec("[ -~]{0,80}", 0..8),
            after in proptest::collection::vec("[ -z|~]{0,80}", 0..8),
            id in "[a-z0-9-]{1,20}",
            crlf in any::<bool>(),
        ) {
            let now = Utc::now();
            let run = Run::finish(id.clone(), now, now, vec![{
                let mut s = Suite::new("s", RunnerKind::Exec);
                s.status = Status::Passed;
                s
            }], None);
            let eol = if crlf { "\r\n" } else { "\n" };
            let mut log = before.join(eol);
            log.push_str(eol);
            log.push_str(&render_line(&run));
            log.push_str(eol);
            // "after" lines cannot contain '{' so they cannot be results
            log.push_str(&after.join(eol));
            prop_assert_eq!(find_last_result(&log).unwrap().run_id, id);
        }

        #[test]
        fn arbitrary_text_never_panics(log in "\\PC{0,400}") {
            let _ = find_last_result(&log);
        }
    }
}
