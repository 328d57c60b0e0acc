//! History file formats: Jepsen etcd logs, Jepsen EDN event lines, and Testcar's own JSONL
//! (one operation per line, what suites record). Every error names the file and the line.

pub mod edn;
pub mod jepsen;
pub mod jsonl;

use std::collections::{BTreeMap, HashMap};

use crate::history::{History, Input, Op, Outcome, Output};
use crate::model::ModelKind;
use edn::Edn;

/// A history file format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Jepsen log lines: `INFO  jepsen.util - <process> :invoke :read nil`.
    Jepsen,
    /// Jepsen EDN event maps, one per line: `{:process 0, :type :invoke, :f :get, :key "k", ...}`.
    Edn,
    /// Testcar JSONL: one operation per line (see docs/consistency.md).
    Jsonl,
}

impl Format {
    /// Guess the format from a file name: `.log` Jepsen, `.edn`/`.txt` EDN, `.jsonl` JSONL.
    pub fn from_path(path: &std::path::Path) -> Option<Format> {
        match path.extension()?.to_str()? {
            "log" => Some(Format::Jepsen),
            "edn" | "txt" => Some(Format::Edn),
            "jsonl" | "ndjson" => Some(Format::Jsonl),
            _ => None,
        }
    }
}

/// A history file that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct ParseError {
    /// The file (as given).
    pub file: String,
    /// 1-based line (0 when the problem is the file as a whole).
    pub line: usize,
    /// What was expected.
    pub message: String,
}

/// Parse `text` (the contents of `file`) in `format` for `model`.
pub fn parse(
    text: &str,
    file: &str,
    format: Format,
    model: ModelKind,
) -> Result<History, ParseError> {
    match format {
        Format::Jepsen => jepsen::parse(text, file, model),
        Format::Edn => {
            let mut events = Vec::new();
            for (i, line) in text.lines().enumerate() {
                let line_no = i + 1;
                let trimmed = line.trim();
                if trimmed.is_empty() || trimmed.starts_with(';') {
                    continue;
                }
                let err = |message: String| ParseError {
                    file: file.to_string(),
                    line: line_no,
                    message,
                };
                let v = edn::parse(trimmed).map_err(err)?;
                events.push(Event::from_edn(&v, line_no).map_err(err)?);
            }
            assemble(events, file, model)
        }
        Format::Jsonl => jsonl::parse(text, file, model),
    }
}

/// The type of a Jepsen event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EventType {
    Invoke,
    Ok,
    Fail,
    Info,
}

impl EventType {
    fn from_name(name: &str) -> Result<EventType, String> {
        Ok(match name {
            "invoke" => EventType::Invoke,
            "ok" => EventType::Ok,
            "fail" => EventType::Fail,
            "info" => EventType::Info,
            other => {
                return Err(format!(
                    "type :{other} is not one of :invoke, :ok, :fail, :info"
                ));
            }
        })
    }
}

/// One Jepsen event (invocation or completion), before pairing.
#[derive(Debug, Clone)]
pub(crate) struct Event {
    pub line: usize,
    pub process: u64,
    pub kind: EventType,
    pub f: String,
    pub key: Option<String>,
    pub value: Edn,
}

impl Event {
    fn from_edn(v: &Edn, line: usize) -> Result<Event, String> {
        if !matches!(v, Edn::Map(_)) {
            return Err(format!(
                "expected an event map {{:process .., :type .., :f ..}}, found {v}"
            ));
        }
        let process = match v.get("process") {
            Some(Edn::Int(p)) if *p >= 0 => *p as u64,
            Some(other) => {
                return Err(format!(
                    ":process: expected a non-negative integer, found {other}"
                ));
            }
            None => return Err(":process: missing".into()),
        };
        let kind = match v.get("type") {
            Some(Edn::Keyword(t)) => EventType::from_name(t).map_err(|e| format!(":type: {e}"))?,
            Some(other) => return Err(format!(":type: expected a keyword, found {other}")),
            None => return Err(":type: missing".into()),
        };
        let f = match v.get("f") {
            Some(Edn::Keyword(f)) => f.clone(),
            Some(other) => return Err(format!(":f: expected a keyword, found {other}")),
            None => return Err(":f: missing".into()),
        };
        let key = match v.get("key") {
            None | Some(Edn::Nil) => None,
            Some(k) => Some(
                k.scalar()
                    .map_err(|e| format!(":key: {e}"))?
                    .unwrap_or_default(),
            ),
        };
        Ok(Event {
            line,
            process,
            kind,
            f,
            key,
            value: v.get("value").cloned().unwrap_or(Edn::Nil),
        })
    }
}

/// Pair invocations with completions per process and build operations. Time is the
/// event index (logs carry no clock we can trust).
pub(crate) fn assemble(
    events: Vec<Event>,
    file: &str,
    model: ModelKind,
) -> Result<History, ParseError> {
    let mut ops: Vec<Op> = Vec::new();
    let mut open: HashMap<u64, usize> = HashMap::new();
    for (t, ev) in events.into_iter().enumerate() {
        let t = t as u64;
        let err = |message: String| ParseError {
            file: file.to_string(),
            line: ev.line,
            message,
        };
        match ev.kind {
            EventType::Invoke => {
                if let Some(&prev) = open.get(&ev.process) {
                    return Err(err(format!(
                        "process {} invokes :{} while its :{} from line {} has not completed",
                        ev.process,
                        ev.f,
                        ops[prev].input.name(),
                        ops[prev].line
                    )));
                }
                let input = input_of(model, &ev.f, &ev.value).map_err(err)?;
                open.insert(ev.process, ops.len());
                ops.push(Op {
                    id: ops.len(),
                    client: ev.process,
                    key: ev.key.clone(),
                    call: t,
                    ret: None,
                    input,
                    outcome: Outcome::Unknown,
                    line: ev.line,
                    note: None,
                });
            }
            done => {
                let Some(idx) = open.remove(&ev.process) else {
                    return Err(err(format!(
                        "process {} completes :{} but has no invocation open",
                        ev.process, ev.f
                    )));
                };
                let op = &mut ops[idx];
                if op.input.name() != canonical_f(model, &ev.f) {
                    return Err(err(format!(
                        "process {} completes :{} but invoked :{} at line {}",
                        ev.process,
                        ev.f,
                        op.input.name(),
                        op.line
                    )));
                }
                match done {
                    EventType::Ok => {
                        op.ret = Some(t);
                        op.outcome =
                            Outcome::Ok(output_of(model, &op.input, &ev.value).map_err(err)?);
                    }
                    EventType::Fail => {
                        op.ret = Some(t);
                        // A failed read (e.g. `:timed-out`) tells nothing about the value.
                        op.outcome = if op.input.is_read() {
                            Outcome::Unknown
                        } else {
                            Outcome::Fail
                        };
                    }
                    // :info = outcome unknown: the operation stays pending to the end.
                    _ => op.outcome = Outcome::Unknown,
                }
            }
        }
    }
    Ok(History {
        ops,
        timed: false,
        initial: None,
    })
}

fn canonical_f(model: ModelKind, f: &str) -> &str {
    match (model, f) {
        (ModelKind::Bank, "read") => "balances",
        _ => f,
    }
}

fn scalar_text(v: &Edn, what: &str) -> Result<String, String> {
    match v.scalar() {
        Ok(Some(s)) => Ok(s),
        Ok(None) => Err(format!("{what}: expected a value, found nil")),
        Err(e) => Err(format!("{what}: {e}")),
    }
}

fn input_of(model: ModelKind, f: &str, value: &Edn) -> Result<Input, String> {
    Ok(match (model, f) {
        (ModelKind::Register, "read") => Input::Read,
        (ModelKind::Register, "write") => Input::Write(scalar_text(value, ":write :value")?),
        (ModelKind::Register, "cas") => match value {
            Edn::Vector(v) if v.len() == 2 => Input::Cas {
                from: scalar_text(&v[0], ":cas :value")?,
                to: scalar_text(&v[1], ":cas :value")?,
            },
            other => return Err(format!(":cas :value: expected [from to], found {other}")),
        },
        (ModelKind::Kv, "get" | "read") => Input::Get,
        (ModelKind::Kv, "put" | "write") => Input::Put(scalar_text(value, ":put :value")?),
        (ModelKind::Kv, "append") => Input::Append(scalar_text(value, ":append :value")?),
        (ModelKind::Kv, "delete") => Input::Delete,
        (ModelKind::Bank, "transfer") => {
            let field = |k: &str| {
                value.get(k).ok_or_else(|| {
                    format!(
                        ":transfer :value: missing :{k} (expected {{:from a, :to b, :amount n}})"
                    )
                })
            };
            let amount = match field("amount")? {
                Edn::Int(i) => *i,
                other => {
                    return Err(format!(
                        ":transfer :amount: expected an integer, found {other}"
                    ));
                }
            };
            Input::Transfer {
                from: scalar_text(field("from")?, ":transfer :from")?,
                to: scalar_text(field("to")?, ":transfer :to")?,
                amount,
            }
        }
        (ModelKind::Bank, "read" | "balances") => Input::Balances,
        (m, f) => {
            return Err(format!(
                ":f :{f} is not an operation of the {} model (expected {})",
                m.name(),
                m.operations()
            ));
        }
    })
}

fn output_of(model: ModelKind, input: &Input, value: &Edn) -> Result<Output, String> {
    Ok(match input {
        Input::Read => Output::Value(value.scalar().map_err(|e| format!(":read :value: {e}"))?),
        Input::Get => Output::Value(Some(
            value
                .scalar()
                .map_err(|e| format!(":get :value: {e}"))?
                .unwrap_or_default(),
        )),
        Input::Balances => match value {
            Edn::Map(entries) => {
                let mut b = BTreeMap::new();
                for (k, v) in entries {
                    let k = scalar_text(k, ":read account")?;
                    let Edn::Int(n) = v else {
                        return Err(format!(
                            ":read balance of {k}: expected an integer, found {v}"
                        ));
                    };
                    b.insert(k, *n);
                }
                Output::Balances(b)
            }
            other => {
                return Err(format!(
                    ":read :value: expected a map of balances, found {other}"
                ));
            }
        },
        _ => {
            let _ = model;
            Output::None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edn_pairs_events_and_keeps_unreturned_ops_pending() {
        let text = r#"{:process 0, :type :invoke, :f :put, :key "a", :value "1"}
{:process 1, :type :invoke, :f :get, :key "a", :value nil}
{:process 1, :type :ok, :f :get, :key "a", :value "1"}
{:process 0, :type :info, :f :put, :key "a", :value "1"}
"#;
        let h = parse(text, "h.edn", Format::Edn, ModelKind::Kv).unwrap();
        assert_eq!(h.ops.len(), 2);
        assert_eq!(h.ops[0].ret, None);
        assert_eq!(h.ops[0].outcome, Outcome::Unknown);
        assert_eq!(
            h.ops[1].outcome,
            Outcome::Ok(Output::Value(Some("1".into())))
        );
        assert_eq!(h.ops[1].call, 1);
        assert_eq!(h.ops[1].ret, Some(2));
    }

    #[test]
    fn edn_errors_name_file_line_and_key() {
        let text = "{:process 0, :type :invoke, :f :get, :key \"a\", :value nil}\n{:process 0, :type :done, :f :get}\n";
        let e = parse(text, "h.edn", Format::Edn, ModelKind::Kv).unwrap_err();
        assert_eq!(
            e.to_string(),
            "h.edn:2: :type: type :done is not one of :invoke, :ok, :fail, :info"
        );
        let e = parse(
            "{:process 0, :type :invoke, :f :cas, :value 3}",
            "h.edn",
            Format::Edn,
            ModelKind::Register,
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("h.edn:1: :cas :value: expected [from to]"),
            "{e}"
        );
        let e = parse(
            "{:process 0, :type :invoke, :f :transfer}",
            "b.edn",
            Format::Edn,
            ModelKind::Kv,
        )
        .unwrap_err();
        assert!(
            e.message.contains("not an operation of the kv model"),
            "{e}"
        );
    }

    #[test]
    fn completion_without_invocation_is_an_error() {
        let e = parse(
            "{:process 3, :type :ok, :f :get, :key \"a\", :value \"\"}",
            "h.edn",
            Format::Edn,
            ModelKind::Kv,
        )
        .unwrap_err();
        assert!(e.message.contains("no invocation open"), "{e}");
    }
}
