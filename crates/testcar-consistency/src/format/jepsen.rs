//! Jepsen's etcd test log: `INFO  jepsen.util - <process> :<type> :<f> <value>` per line.
//! Lines from other loggers are skipped; a `jepsen.util` line that does not parse is an error.

use super::{Event, EventType, ParseError, assemble, edn};
use crate::history::History;
use crate::model::ModelKind;

const MARKER: &str = "jepsen.util - ";

/// Parse a Jepsen log.
pub fn parse(text: &str, file: &str, model: ModelKind) -> Result<History, ParseError> {
    let mut events = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let Some(pos) = line.find(MARKER) else {
            continue;
        };
        let err = |message: String| ParseError {
            file: file.to_string(),
            line: line_no,
            message,
        };
        let rest = &line[pos + MARKER.len()..];
        let mut parts = rest.split_whitespace();
        let (Some(process), Some(kind), Some(f)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(err(
                "expected `<process> :<type> :<f> <value>` after `jepsen.util -`".into(),
            ));
        };
        let process: u64 = process.parse().map_err(|_| {
            err(format!(
                "process: expected a non-negative integer, found {process:?}"
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
        let value_text = parts.collect::<Vec<_>>().join(" ");
        let value = if value_text.is_empty() {
            edn::Edn::Nil
        } else {
            edn::parse(&value_text).map_err(|e| err(format!("value: {e}")))?
        };
        events.push(Event {
            line: line_no,
            process,
            kind,
            f: f.to_string(),
            key: None,
            value,
        });
    }
    assemble(events, file, model)
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
            "e.log:2: process: expected a non-negative integer, found \"x\""
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
