//! Testcar's history format: JSON Lines, one operation per line with its call and return
//! times, after an optional header line. Suites record it; `check-history` reads it. Files of
//! Jepsen events encoded as JSON (`{"type":"invoke","f":"read","process":0,...}`, as
//! tools exporting Jepsen histories write them) are read too.

use std::collections::BTreeMap;
use std::io::Write;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::edn::Edn;
use super::{Event, ParseError};
use crate::history::{History, Input, Op, Outcome, Output};
use crate::model::ModelKind;

/// The `history` field of the header line.
pub const HISTORY_ID: &str = "testcar.io/history/v1";

/// The optional first line.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// Always [`HISTORY_ID`].
    pub history: String,
    /// The model the history was recorded for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Whether `call`/`return` are nanoseconds since the start (else event indices).
    #[serde(default)]
    pub timed: bool,
    /// Bank model: initial balance of every account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial: Option<BTreeMap<String, i64>>,
}

/// One operation line.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Line {
    /// Optional sequence number (informative).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// The client that issued the operation.
    pub client: u64,
    /// Operation name: read, write, cas, get, put, append, delete, transfer, balances.
    pub op: String,
    /// The key, for register and kv models.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Input: a value for write/put/append, `{"from","to"}` for cas,
    /// `{"from","to","amount"}` for transfer.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub value: Value,
    /// Call time.
    pub call: u64,
    /// Return time; absent or null when the operation never returned.
    #[serde(default, rename = "return")]
    pub ret: Option<u64>,
    /// `ok`, `fail` (did not take effect; for cas: no match), `rejected` (did not take
    /// effect, for a reason outside the model) or `unknown`.
    pub status: String,
    /// What a read returned (null = nil), or the balances map.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub output: Value,
    /// How the operation ended, for people (HTTP status, error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

fn text(v: &Value, what: &str) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(format!(
            "{what}: expected a string or number, found {other}"
        )),
    }
}

fn field<'a>(v: &'a Value, name: &str, op: &str) -> Result<&'a Value, String> {
    v.get(name).ok_or_else(|| {
        format!(
            "value: {op} needs {{\"from\": .., \"to\": ..{}}}, missing {name:?}",
            if op == "transfer" {
                ", \"amount\": .."
            } else {
                ""
            }
        )
    })
}

fn to_op(line: Line, id: usize, line_no: usize, model: ModelKind) -> Result<Op, String> {
    let input = match (model, line.op.as_str()) {
        (ModelKind::Register, "read") => Input::Read,
        (ModelKind::Register, "write") => Input::Write(text(&line.value, "value")?),
        (ModelKind::Register, "cas") => match &line.value {
            Value::Array(a) if a.len() == 2 => Input::Cas {
                from: text(&a[0], "value[0]")?,
                to: text(&a[1], "value[1]")?,
            },
            v => Input::Cas {
                from: text(field(v, "from", "cas")?, "value.from")?,
                to: text(field(v, "to", "cas")?, "value.to")?,
            },
        },
        (ModelKind::Kv, "get") => Input::Get,
        (ModelKind::Kv, "put") => Input::Put(text(&line.value, "value")?),
        (ModelKind::Kv, "append") => Input::Append(text(&line.value, "value")?),
        (ModelKind::Kv, "delete") => Input::Delete,
        (ModelKind::Bank, "transfer") => {
            let v = &line.value;
            let amount = field(v, "amount", "transfer")?
                .as_i64()
                .ok_or("value.amount: expected an integer")?;
            Input::Transfer {
                from: text(field(v, "from", "transfer")?, "value.from")?,
                to: text(field(v, "to", "transfer")?, "value.to")?,
                amount,
            }
        }
        (ModelKind::Bank, "balances" | "read") => Input::Balances,
        (m, other) => {
            return Err(format!(
                "op: {other:?} is not an operation of the {} model (expected {})",
                m.name(),
                m.operations()
            ));
        }
    };
    let outcome = match line.status.as_str() {
        "ok" => Outcome::Ok(match &input {
            Input::Read => Output::Value(match &line.output {
                Value::Null => None,
                v => Some(text(v, "output")?),
            }),
            Input::Get => Output::Value(Some(match &line.output {
                Value::Null => String::new(),
                v => text(v, "output")?,
            })),
            Input::Balances => {
                let Value::Object(m) = &line.output else {
                    return Err("output: expected an object of balances {\"account\": n}".into());
                };
                let mut b = BTreeMap::new();
                for (k, v) in m {
                    b.insert(
                        k.clone(),
                        v.as_i64()
                            .ok_or_else(|| format!("output.{k}: expected an integer"))?,
                    );
                }
                Output::Balances(b)
            }
            _ => Output::None,
        }),
        "fail" => Outcome::Fail,
        "rejected" => Outcome::Rejected,
        "unknown" => Outcome::Unknown,
        other => {
            return Err(format!(
                "status: expected ok, fail, rejected or unknown, found {other:?}"
            ));
        }
    };
    if let Some(r) = line.ret {
        if r < line.call {
            return Err(format!("return: {r} is before call {}", line.call));
        }
    } else if matches!(outcome, Outcome::Ok(_) | Outcome::Fail | Outcome::Rejected) {
        return Err(format!(
            "return: missing, but status is {:?} (an operation that never returned is \"unknown\")",
            line.status
        ));
    }
    Ok(Op {
        id,
        client: line.client,
        key: line.key,
        call: line.call,
        ret: line.ret,
        input,
        outcome,
        line: line_no,
        note: line.note,
    })
}

/// Parse a JSONL history.
pub fn parse(text: &str, file: &str, model: ModelKind) -> Result<History, ParseError> {
    let mut history = History::default();
    let mut seen_op = false;
    let mut jepsen_events: Vec<Event> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line_no = i + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            continue;
        }
        let err = |message: String| ParseError {
            file: file.to_string(),
            line: line_no,
            message,
        };
        if !seen_op && trimmed.contains("\"history\"") {
            let header: Header =
                serde_json::from_str(trimmed).map_err(|e| err(format!("header: {e}")))?;
            if header.history != HISTORY_ID {
                return Err(err(format!(
                    "history: expected {HISTORY_ID:?}, found {:?}",
                    header.history
                )));
            }
            if let Some(m) = &header.model {
                if m != model.name() {
                    return Err(err(format!(
                        "model: the history was recorded for {m:?}, checked as {:?}",
                        model.name()
                    )));
                }
            }
            history.timed = header.timed;
            history.initial = header.initial;
            continue;
        }
        let value: Value = serde_json::from_str(trimmed).map_err(|e| err(e.to_string()))?;
        if value.get("type").is_some() && value.get("status").is_none() {
            if seen_op {
                return Err(err(
                    "a Jepsen event ({\"type\": ..}) after Testcar operations ({\"status\": ..}): use one kind per file".into(),
                ));
            }
            jepsen_events.extend(Event::from_edn(&edn_of(&value, true), line_no).map_err(err)?);
            continue;
        }
        if !jepsen_events.is_empty() {
            return Err(err(
                "a Testcar operation ({\"status\": ..}) after Jepsen events ({\"type\": ..}): use one kind per file".into(),
            ));
        }
        seen_op = true;
        let line: Line = serde_json::from_value(value).map_err(|e| err(e.to_string()))?;
        let op = to_op(line, history.ops.len(), line_no, model).map_err(err)?;
        history.ops.push(op);
    }
    if !jepsen_events.is_empty() {
        let mut events = super::assemble(jepsen_events, file, model)?;
        events.initial = history.initial;
        return Ok(events);
    }
    Ok(History::in_call_order(
        history.ops,
        history.timed,
        history.initial,
    ))
}

/// A JSON Jepsen event as the EDN it stands for: at the top level, keys are keywords and
/// the `type`, `f` and a string `process` (`"nemesis"`) are keywords too.
fn edn_of(v: &Value, top: bool) -> Edn {
    match v {
        Value::Null => Edn::Nil,
        Value::Bool(b) => Edn::Bool(*b),
        Value::Number(n) => n
            .as_i64()
            .map(Edn::Int)
            .unwrap_or_else(|| Edn::Float(n.to_string())),
        Value::String(s) => Edn::Str(s.clone()),
        Value::Array(a) => Edn::Vector(a.iter().map(|x| edn_of(x, false)).collect()),
        Value::Object(m) => Edn::Map(
            m.iter()
                .map(|(k, x)| {
                    if !top {
                        return (Edn::Str(k.clone()), edn_of(x, false));
                    }
                    let value = match (k.as_str(), x) {
                        ("type" | "f" | "process", Value::String(s)) => {
                            Edn::Keyword(s.trim_start_matches(':').to_string())
                        }
                        _ => edn_of(x, false),
                    };
                    (Edn::Keyword(k.clone()), value)
                })
                .collect(),
        ),
    }
}

/// The JSONL line of an operation.
pub fn line_of(op: &Op) -> Line {
    let (value, output) = (
        match &op.input {
            Input::Write(v) | Input::Put(v) | Input::Append(v) => Value::String(v.clone()),
            Input::Cas { from, to } => serde_json::json!({"from": from, "to": to}),
            Input::Transfer { from, to, amount } => {
                serde_json::json!({"from": from, "to": to, "amount": amount})
            }
            _ => Value::Null,
        },
        match &op.outcome {
            Outcome::Ok(Output::Value(Some(v))) => Value::String(v.clone()),
            Outcome::Ok(Output::Balances(b)) => serde_json::to_value(b).unwrap_or(Value::Null),
            _ => Value::Null,
        },
    );
    Line {
        id: Some(op.id as u64),
        client: op.client,
        op: op.input.name().to_string(),
        key: op.key.clone(),
        value,
        call: op.call,
        ret: op.ret,
        status: match op.outcome {
            Outcome::Ok(_) => "ok",
            Outcome::Fail => "fail",
            Outcome::Rejected => "rejected",
            Outcome::Unknown => "unknown",
        }
        .to_string(),
        output,
        note: op.note.clone(),
    }
}

/// Write a history as JSONL, header first.
pub fn write(history: &History, model: ModelKind, out: &mut dyn Write) -> std::io::Result<()> {
    let header = Header {
        history: HISTORY_ID.to_string(),
        model: Some(model.name().to_string()),
        timed: history.timed,
        initial: history.initial.clone(),
    };
    serde_json::to_writer(&mut *out, &header)?;
    out.write_all(b"\n")?;
    for op in &history.ops {
        serde_json::to_writer(&mut *out, &line_of(op))?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!("../../test_data/register-ok.jsonl");

    #[test]
    fn round_trips_through_write() {
        let h = parse(SAMPLE, "s.jsonl", ModelKind::Register).unwrap();
        assert!(h.timed);
        assert_eq!(h.ops.len(), 4);
        assert_eq!(
            h.ops[2].input,
            Input::Cas {
                from: "1".into(),
                to: "2".into()
            }
        );
        let mut buf = Vec::new();
        write(&h, ModelKind::Register, &mut buf).unwrap();
        let again = parse(
            std::str::from_utf8(&buf).unwrap(),
            "w.jsonl",
            ModelKind::Register,
        )
        .unwrap();
        assert_eq!(again, h);
    }

    #[test]
    fn errors_name_line_and_key() {
        let bad = "{\"client\":0,\"op\":\"write\",\"value\":\"1\",\"call\":0,\"return\":2,\"status\":\"done\"}";
        let e = parse(bad, "b.jsonl", ModelKind::Register).unwrap_err();
        assert_eq!(
            e.to_string(),
            "b.jsonl:1: status: expected ok, fail, rejected or unknown, found \"done\""
        );
        let bad = "\n{\"client\":0,\"op\":\"write\",\"valeu\":\"1\",\"call\":0,\"status\":\"ok\"}";
        let e = parse(bad, "b.jsonl", ModelKind::Register).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("b.jsonl:2: unknown field `valeu`"),
            "{e}"
        );
        let bad = "{\"client\":0,\"op\":\"write\",\"value\":\"1\",\"call\":0,\"status\":\"ok\"}";
        let e = parse(bad, "b.jsonl", ModelKind::Register).unwrap_err();
        assert!(e.message.starts_with("return: missing"), "{e}");
        let e = parse(SAMPLE, "s.jsonl", ModelKind::Kv).unwrap_err();
        assert!(
            e.message
                .starts_with("model: the history was recorded for \"register\""),
            "{e}"
        );
    }
}
