//! Jepsen's text logs: `INFO  jepsen.util - <process> :<type> :<f> <value>` (old log4j
//! layout, the etcd histories), `... [jepsen worker 0] jepsen.util: 0 :invoke ...` (current
//! logback layout) and `history.txt` (`0 :invoke :read nil`, an error after the value).
//! Lines from other loggers are skipped; an operation line that does not parse is an error.

use super::{Event, EventType, ParseError, assemble, edn};
use crate::history::History;
use crate::model::ModelKind;

const MARKERS: [&str; 2] = ["jepsen.util - ", "jepsen.util: "];

/// The event text of a line: after a `jepsen.util` marker, or the whole line when it reads
/// like a `history.txt` event (`<process> :<type> ...`); `None` for other log lines.
fn event_text(line: &str) -> Option<&str> {
    if let Some((pos, m)) = MARKERS
        .iter()
        .find_map(|m| line.find(m).map(|pos| (pos, m)))
    {
        return Some(&line[pos + m.len()..]);
    }
    let mut words = line.split_whitespace();
    let process = words.next()?;
    let kind = words.next()?;
    let is_process = process.parse::<u64>().is_ok() || process.starts_with(':');
    let is_type = matches!(kind, ":invoke" | ":ok" | ":fail" | ":info");
    (is_process && is_type).then_some(line)
}

/// Parse a Jepsen log.
pub fn parse(text: &str, file: &str, model: ModelKind) -> Result<History, ParseError> {
    let mut events = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let Some(rest) = event_text(line) else {
            continue;
        };
        let err = |message: String| ParseError {
            file: file.to_string(),
            line: line_no,
            message,
        };
        let rest = rest.trim_start();
        let (Some(process), rest) = split_word(rest) else {
            return Err(err(
                "expected `<process> :<type> :<f> <value>` after `jepsen.util`".into(),
            ));
        };
        // The nemesis injects faults; its events are not operations on the model.
        if process.starts_with(':') {
            continue;
        }
        let (Some(kind), rest) = split_word(rest) else {
            return Err(err(format!(
                "expected `:<type> :<f> <value>` after process {process}"
            )));
        };
        let (Some(f), rest) = split_word(rest) else {
            return Err(err(format!(
                "expected `:<f> <value>` after process {process} {kind}"
            )));
        };
        let process: u64 = process.parse().map_err(|_| {
            err(format!(
                "process: expected a non-negative integer (or :nemesis), found {process:?}"
            ))
        })?;
        let kind = kind
            .strip_prefix(':')
            .ok_or_else(|| format!("type: expected a keyword like :invoke, found {kind:?}"))
            .and_then(EventType::from_name)
            .map_err(err)?;
        let f = f
            .strip_prefix(':')
            .ok_or_else(|| err(format!("f: expected a keyword like :read, found {f:?}")))?;
        // Whatever follows the value is the error (`:timed-out`, `:conn-closed`, ...).
        let (value, error) = if rest.trim().is_empty() {
            (edn::Edn::Nil, "")
        } else {
            edn::parse_prefix(rest).map_err(|e| err(format!("value: {e}")))?
        };
        events.push(Event {
            line: line_no,
            process,
            kind,
            f: f.to_string(),
            key: None,
            value,
            error: !error.trim().is_empty(),
        });
    }
    assemble(events, file, model)
}

/// The first whitespace-separated word and the rest.
fn split_word(s: &str) -> (Option<&str>, &str) {
    let s = s.trim_start();
    if s.is_empty() {
        return (None, s);
    }
    let end = s.find(char::is_whitespace).unwrap_or(s.len());
    (Some(&s[..end]), &s[end..])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Input, Outcome, Output};

    #[test]
    fn reads_tab_and_space_separated_lines() {
        let text = "INFO  jepsen.util - 0\t:invoke\t:cas\t[3 0]\n\
                    some other logger line\n\
                    INFO  jepsen.util - 1   :invoke :read   nil\n\
                    INFO  jepsen.util - 0\t:fail\t:cas\t[3 0]\n\
                    INFO  jepsen.util - 1   :ok     :read   4\n\
                    INFO  jepsen.util - 2\t:invoke\t:write\t1\n\
                    INFO  jepsen.util - 2\t:info\t:write\t:timed-out\n";
        let h = parse(text, "e.log", ModelKind::Register).unwrap();
        assert_eq!(h.ops.len(), 3);
        assert_eq!(
            h.ops[0].input,
            Input::Cas {
                from: "3".into(),
                to: "0".into()
            }
        );
        assert_eq!(h.ops[0].outcome, Outcome::Fail);
        assert_eq!(h.ops[0].line, 1);
        assert_eq!(
            h.ops[1].outcome,
            Outcome::Ok(Output::Value(Some("4".into())))
        );
        assert_eq!(h.ops[2].ret, None);
    }

    #[test]
    fn timed_out_read_is_unknown() {
        let text = "INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - 0\t:fail\t:read\t:timed-out\n";
        let h = parse(text, "e.log", ModelKind::Register).unwrap();
        assert_eq!(h.ops[0].outcome, Outcome::Unknown);
        assert_eq!(h.ops[0].ret, Some(1));
    }

    #[test]
    fn bad_line_names_line_and_field() {
        let text =
            "INFO  jepsen.util - 0\t:invoke\t:read\tnil\nINFO  jepsen.util - x\t:ok\t:read\t1\n";
        let e = parse(text, "e.log", ModelKind::Register).unwrap_err();
        assert_eq!(
            e.to_string(),
            "e.log:2: process: expected a non-negative integer (or :nemesis), found \"x\""
        );
        let e = parse(
            "INFO  jepsen.util - 0\t:invoke\t:write\t[1\n",
            "e.log",
            ModelKind::Register,
        )
        .unwrap_err();
        assert!(
            e.to_string().starts_with("e.log:1: value: unclosed vector"),
            "{e}"
        );
    }
}
