//! History file formats: Jepsen etcd logs, Jepsen EDN event lines, and Testcar's own JSONL
//! (one operation per line, what suites record). Every error names the file and the line.

pub mod edn;
pub mod jepsen;
pub mod jsonl;

use std::collections::{BTreeMap, HashMap, HashSet};

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

    /// The format of a file: from its extension, except that a `.txt` file is EDN when its
    /// first event is a map or vector (porcupine's kv data) and otherwise Jepsen's
    /// `history.txt` lines (`0 :invoke :read nil`).
    pub fn detect(path: &std::path::Path, text: &str) -> Option<Format> {
        let by_name = Format::from_path(path)?;
        if path.extension().and_then(|e| e.to_str()) != Some("txt") {
            return Some(by_name);
        }
        let first = text
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with(';'))?;
        Some(if first.starts_with(['{', '[', '#']) {
            Format::Edn
        } else {
            Format::Jepsen
        })
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
            let values = edn::parse_stream(text).map_err(|e| ParseError {
                file: file.to_string(),
                line: e.line,
                message: e.message,
            })?;
            let mut events = Vec::new();
            for (line, v) in values {
                let event = Event::from_edn(&v, line).map_err(|message| ParseError {
                    file: file.to_string(),
                    line,
                    message,
                })?;
                events.extend(event);
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
    /// Whether the event names an error (`:error` in EDN, text after the value in logs).
    pub error: bool,
}

impl Event {
    /// The event of a map; `None` for the nemesis (`:process :nemesis`), whose fault
    /// injections are not operations on the model.
    pub(crate) fn from_edn(v: &Edn, line: usize) -> Result<Option<Event>, String> {
        if !matches!(v, Edn::Map(_)) {
            return Err(format!(
                "expected an event map {{:process .., :type .., :f ..}}, found {v}"
            ));
        }
        let process = match v.get("process") {
            Some(Edn::Int(p)) if *p >= 0 => *p as u64,
            Some(Edn::Keyword(_)) => return Ok(None),
            Some(other) => {
                return Err(format!(
                    ":process: expected a non-negative integer (or :nemesis), found {other}"
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
        Ok(Some(Event {
            line,
            process,
            kind,
            f,
            key,
            value: v.get("value").cloned().unwrap_or(Edn::Nil),
            error: v.get("error").is_some_and(|e| *e != Edn::Nil),
        }))
    }
}

/// Split a Jepsen independent-key value `[k v]` (or a printed `#jepsen.independent.Tuple{:key
/// k, :value v}`) into key and value, when the operation's own values are never pairs.
/// A cas `[from to]` is not keyed; a keyed cas is `[k [from to]]`.
fn split_key(model: ModelKind, f: &str, value: &Edn) -> Option<(String, Edn)> {
    let (k, v) = match value {
        Edn::Vector(kv) if kv.len() == 2 => (&kv[0], &kv[1]),
        Edn::Tagged(tag, inner) if tag.ends_with("Tuple") => {
            (inner.get("key")?, inner.get("value")?)
        }
        _ => return None,
    };
    let keyed = match (model, f) {
        (ModelKind::Bank, _) => false,
        (_, "cas") => matches!(v, Edn::Vector(p) if p.len() == 2),
        _ => true,
    };
    if !keyed {
        return None;
    }
    Some((k.scalar().ok()??, v.clone()))
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
    // Operations whose key came from a `[k v]` value: their completions carry it too.
    let mut tupled: HashSet<usize> = HashSet::new();
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
                let (key, value) = match (&ev.key, split_key(model, &ev.f, &ev.value)) {
                    (None, Some((k, v))) => {
                        tupled.insert(ops.len());
                        (Some(k), v)
                    }
                    _ => (ev.key.clone(), ev.value.clone()),
                };
                let input = input_of(model, &ev.f, &value).map_err(err)?;
                open.insert(ev.process, ops.len());
                ops.push(Op {
                    id: ops.len(),
                    client: ev.process,
                    key,
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
                        let value = if tupled.contains(&idx) {
                            match split_key(model, &ev.f, &ev.value) {
                                Some((k, v)) if Some(&k) == op.key.as_ref() => v,
                                _ => {
                                    return Err(err(format!(
                                        ":value: expected [{} value] like the invocation at line {}, found {}",
                                        op.key.as_deref().unwrap_or_default(),
                                        op.line,
                                        ev.value
                                    )));
                                }
                            }
                        } else {
                            ev.value.clone()
                        };
                        op.ret = Some(t);
                        op.outcome = Outcome::Ok(output_of(model, &op.input, &value).map_err(err)?);
                    }
                    EventType::Fail => {
                        op.ret = Some(t);
                        // A failed read (e.g. `:timed-out`) tells nothing about the value.
                        op.outcome = if op.input.is_read() {
                            Outcome::Unknown
                        } else if ev.error && matches!(op.input, Input::Cas { .. }) {
                            // Jepsen's :fail means "did not happen"; with an error
                            // (:conn-refused, ...) a cas did not get to compare.
                            Outcome::Rejected
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

/// The operation name `f` stands for in `model` (Jepsen's kv tests say read/write).
fn canonical_f(model: ModelKind, f: &str) -> &str {
    match (model, f) {
        (ModelKind::Bank, "read") => "balances",
        (ModelKind::Kv, "read") => "get",
        (ModelKind::Kv, "write") => "put",
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

    // ------------------------------------------------ what real tools write

    const INDEPENDENT: &str = include_str!("../../test_data/jepsen-independent.edn");
    const LOGBACK: &str = include_str!("../../test_data/jepsen-logback.log");
    const HISTORY_TXT: &str = include_str!("../../test_data/history.txt");
    const VECTOR: &str = include_str!("../../test_data/jepsen-vector.edn");
    const JSON_EVENTS: &str = include_str!("../../test_data/jepsen-events.jsonl");

    fn verdict_of(h: &History, model: ModelKind) -> crate::Linearizability {
        crate::check(model, h, &crate::CheckOptions::default())
            .unwrap()
            .result
    }

    #[test]
    fn jepsen_independent_history_splits_keys_and_skips_the_nemesis() {
        let h = parse(INDEPENDENT, "h.edn", Format::Edn, ModelKind::Register).unwrap();
        // 21 events, 3 of them the nemesis's: 9 operations.
        assert_eq!(h.ops.len(), 9);
        assert_eq!(h.ops[0].key.as_deref(), Some("1"));
        assert_eq!(h.ops[0].input, Input::Write("3".into()));
        assert_eq!(
            h.ops[1].outcome,
            Outcome::Ok(Output::Value(Some("3".into())))
        );
        assert_eq!(
            h.ops[2].input,
            Input::Cas {
                from: "3".into(),
                to: "4".into()
            }
        );
        // The :info write stays pending; the plain :fail cas is a failed compare; the :fail
        // with an :error never compared; the :fail read says nothing.
        assert_eq!((h.ops[3].key.as_deref(), h.ops[3].ret), (Some("2"), None));
        assert_eq!(h.ops[4].outcome, Outcome::Fail);
        assert_eq!(h.ops[5].outcome, Outcome::Rejected);
        assert_eq!(h.ops[7].outcome, Outcome::Unknown);
        assert_eq!(h.ops[7].line, 17);
        assert_eq!(
            verdict_of(&h, ModelKind::Register),
            crate::Linearizability::Linearizable
        );
        // A read of the overwritten 3 at the end is stale.
        let stale = INDEPENDENT.replace(
            ":type :ok, :process 0, :f :read, :value [1 4]",
            ":type :ok, :process 0, :f :read, :value [1 3]",
        );
        let h = parse(&stale, "h.edn", Format::Edn, ModelKind::Register).unwrap();
        assert_eq!(
            verdict_of(&h, ModelKind::Register),
            crate::Linearizability::NotLinearizable
        );
    }

    #[test]
    fn printed_tuple_records_are_keys_too() {
        let text = "{:process 0, :type :invoke, :f :write, :value #jepsen.independent.Tuple{:key 7, :value 1}}\n\
                    {:process 0, :type :ok, :f :write, :value #jepsen.independent.Tuple{:key 7, :value 1}}\n\
                    {:process 1, :type :invoke, :f :read, :value #jepsen.independent.Tuple{:key 7, :value nil}}\n\
                    {:process 1, :type :ok, :f :read, :value #jepsen.independent.Tuple{:key 7, :value 1}}\n";
        let h = parse(text, "t.edn", Format::Edn, ModelKind::Register).unwrap();
        assert_eq!(h.ops[1].key.as_deref(), Some("7"));
        assert_eq!(
            h.ops[1].outcome,
            Outcome::Ok(Output::Value(Some("1".into())))
        );
    }

    #[test]
    fn keyed_completion_for_another_key_is_an_error() {
        let text = "{:process 0, :type :invoke, :f :read, :value [1 nil]}\n\
                    {:process 0, :type :ok, :f :read, :value [2 5]}\n";
        let e = parse(text, "k.edn", Format::Edn, ModelKind::Register).unwrap_err();
        assert_eq!(
            e.to_string(),
            "k.edn:2: :value: expected [1 value] like the invocation at line 1, found [2 5]"
        );
    }

    #[test]
    fn logback_layout_log_with_errors_after_values() {
        let h = parse(LOGBACK, "j.log", Format::Jepsen, ModelKind::Register).unwrap();
        assert_eq!(h.ops.len(), 5, "nemesis and other loggers skipped");
        assert!(h.ops.iter().all(|o| o.key.as_deref() == Some("0")));
        // `:fail :cas [0 [2 3]] :conn-closed`: the register held 2, so reading this as a
        // failed compare would be a false violation.
        assert_eq!(h.ops[2].outcome, Outcome::Rejected);
        assert_eq!(h.ops[2].line, 8);
        assert_eq!(
            verdict_of(&h, ModelKind::Register),
            crate::Linearizability::Linearizable
        );
        // Without the error it is a failed compare while the value matched.
        let strict = LOGBACK.replace("[0 [2 3]]\t:conn-closed", "[0 [2 3]]");
        let h = parse(&strict, "j.log", Format::Jepsen, ModelKind::Register).unwrap();
        assert_eq!(h.ops[2].outcome, Outcome::Fail);
        assert_eq!(
            verdict_of(&h, ModelKind::Register),
            crate::Linearizability::NotLinearizable
        );
    }

    #[test]
    fn history_txt_lines_without_a_logger() {
        let path = std::path::Path::new("store/history.txt");
        assert_eq!(Format::detect(path, HISTORY_TXT), Some(Format::Jepsen));
        let h = parse(
            HISTORY_TXT,
            "history.txt",
            Format::Jepsen,
            ModelKind::Register,
        )
        .unwrap();
        assert_eq!(h.ops.len(), 4);
        assert_eq!(h.ops[1].outcome, Outcome::Unknown, "timed-out read");
        assert_eq!(
            verdict_of(&h, ModelKind::Register),
            crate::Linearizability::Linearizable
        );
        // porcupine's kv data is .txt too, but EDN.
        let kv = "{:process 0, :type :invoke, :f :get, :key \"6\", :value nil}\n";
        assert_eq!(Format::detect(path, kv), Some(Format::Edn));
    }

    #[test]
    fn one_vector_history_with_multiline_maps() {
        let mut h = parse(VECTOR, "v.edn", Format::Edn, ModelKind::Bank).unwrap();
        assert_eq!(h.ops.len(), 3);
        assert_eq!(
            (h.ops[0].line, h.ops[1].line, h.ops[2].line),
            (2, 4, 10),
            "each operation keeps the line its invocation starts on"
        );
        assert_eq!(
            h.ops[0].input,
            Input::Transfer {
                from: "0".into(),
                to: "1".into(),
                amount: 5
            }
        );
        h.initial = Some([("0".to_string(), 10), ("1".to_string(), 10)].into());
        assert_eq!(
            verdict_of(&h, ModelKind::Bank),
            crate::Linearizability::Linearizable
        );
        // A syntax error names the line of the map it is in, not where the vector starts.
        let broken = VECTOR.replace(
            ":amount 5},\n  :process 0, :time 1500}",
            ":amount 5},\n  :process 0, :time 1500 :x}",
        );
        let e = parse(&broken, "v.edn", Format::Edn, ModelKind::Bank).unwrap_err();
        assert_eq!(e.line, 5, "{e}");
        assert!(e.message.contains("has no value"), "{e}");
    }

    #[test]
    fn jepsen_events_as_json_lines() {
        let h = parse(JSON_EVENTS, "e.jsonl", Format::Jsonl, ModelKind::Kv).unwrap();
        assert_eq!(h.ops.len(), 4);
        assert_eq!(h.ops[2].input, Input::Append("2".into()));
        assert_eq!(h.ops[2].ret, None, ":info stays pending");
        assert_eq!(
            verdict_of(&h, ModelKind::Kv),
            crate::Linearizability::Linearizable
        );
        let lost = JSON_EVENTS.replace("\"value\": \"12\"", "\"value\": \"2\"");
        let h = parse(&lost, "e.jsonl", Format::Jsonl, ModelKind::Kv).unwrap();
        assert_eq!(
            verdict_of(&h, ModelKind::Kv),
            crate::Linearizability::NotLinearizable
        );
        // Mixing Testcar operation lines in is an error naming the line.
        let mixed = format!(
            "{JSON_EVENTS}{{\"client\":0,\"op\":\"get\",\"key\":\"x\",\"call\":1,\"return\":2,\"status\":\"ok\"}}\n"
        );
        let e = parse(&mixed, "e.jsonl", Format::Jsonl, ModelKind::Kv).unwrap_err();
        assert_eq!(e.line, 10, "{e}");
        assert!(e.message.contains("use one kind per file"), "{e}");
    }

    #[test]
    fn kv_read_and_write_aliases_pair_with_their_completions() {
        let text = "{:process 0, :type :invoke, :f :write, :value [\"k\" \"1\"]}\n\
                    {:process 0, :type :ok, :f :write, :value [\"k\" \"1\"]}\n\
                    {:process 1, :type :invoke, :f :read, :value [\"k\" nil]}\n\
                    {:process 1, :type :ok, :f :read, :value [\"k\" \"1\"]}\n";
        let h = parse(text, "a.edn", Format::Edn, ModelKind::Kv).unwrap();
        assert_eq!(h.ops[0].input, Input::Put("1".into()));
        assert_eq!(h.ops[1].input, Input::Get);
        assert_eq!(h.ops[1].key.as_deref(), Some("k"));
        assert_eq!(
            verdict_of(&h, ModelKind::Kv),
            crate::Linearizability::Linearizable
        );
    }

    #[test]
    fn porcupine_kv_lines() {
        let text = "{:process 0, :type :invoke, :f :get, :key \"6\", :value nil}\n\
                    {:process 1, :type :invoke, :f :put, :key \"6\", :value \"x 1 0 y\"}\n\
                    {:process 1, :type :ok, :f :put, :key \"6\", :value \"x 1 0 y\"}\n\
                    {:process 0, :type :ok, :f :get, :key \"6\", :value \"\"}\n\
                    {:process 0, :type :invoke, :f :append, :key \"6\", :value \"x 0 1 y\"}\n\
                    {:process 0, :type :ok, :f :append, :key \"6\", :value \"x 0 1 y\"}\n\
                    {:process 1, :type :invoke, :f :get, :key \"6\", :value nil}\n\
                    {:process 1, :type :ok, :f :get, :key \"6\", :value \"x 1 0 yx 0 1 y\"}\n";
        let h = parse(text, "c01.txt", Format::Edn, ModelKind::Kv).unwrap();
        assert_eq!(h.ops.len(), 4);
        assert_eq!(h.ops[0].key.as_deref(), Some("6"));
        assert_eq!(
            verdict_of(&h, ModelKind::Kv),
            crate::Linearizability::Linearizable
        );
    }

    #[test]
    fn nemesis_with_other_process_types_is_rejected_clearly() {
        let e = parse(
            "{:process \"n1\", :type :invoke, :f :read, :value nil}",
            "p.edn",
            Format::Edn,
            ModelKind::Register,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "p.edn:1: :process: expected a non-negative integer (or :nemesis), found \"n1\""
        );
    }
}
