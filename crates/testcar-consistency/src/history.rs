//! A recorded concurrent history: every operation with its client, key, input, outcome and
//! the times it was called and returned. Parsers produce it; the checker and views read it.

use std::collections::BTreeMap;

/// What an operation asked the service to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// Register read.
    Read,
    /// Register write of a value.
    Write(String),
    /// Register compare-and-set.
    Cas {
        /// Expected current value.
        from: String,
        /// New value.
        to: String,
    },
    /// Key-value get.
    Get,
    /// Key-value put.
    Put(String),
    /// Key-value append (concatenation).
    Append(String),
    /// Key-value delete.
    Delete,
    /// Bank transfer between two accounts.
    Transfer {
        /// Debited account.
        from: String,
        /// Credited account.
        to: String,
        /// Amount moved.
        amount: i64,
    },
    /// Bank read of every balance.
    Balances,
}

impl Input {
    /// The operation's name as written in histories (`read`, `cas`, `append`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            Input::Read => "read",
            Input::Write(_) => "write",
            Input::Cas { .. } => "cas",
            Input::Get => "get",
            Input::Put(_) => "put",
            Input::Append(_) => "append",
            Input::Delete => "delete",
            Input::Transfer { .. } => "transfer",
            Input::Balances => "balances",
        }
    }

    /// Whether the operation only observes state.
    pub fn is_read(&self) -> bool {
        matches!(self, Input::Read | Input::Get | Input::Balances)
    }
}

/// What came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Completed and took effect; reads carry the value they saw.
    Ok(Output),
    /// Definitely did not take effect (for `cas`: the comparison did not match).
    Fail,
    /// Definitely did not take effect, for a reason outside the model (a Jepsen `:fail`
    /// with an `:error` such as `:conn-refused`): for a `cas` this says nothing about the
    /// value, so unlike [`Outcome::Fail`] it constrains nothing.
    Rejected,
    /// Unknown: never returned, timed out, or an ambiguous error. A write may or may not
    /// have taken effect (at any time after its call); a read constrains nothing.
    Unknown,
}

/// The value a completed operation returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Nothing (writes, cas, transfers).
    None,
    /// A read value; `None` is the empty register (nil).
    Value(Option<String>),
    /// Every balance, by account.
    Balances(BTreeMap<String, i64>),
}

/// One operation of a history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    /// Index in [`History::ops`].
    pub id: usize,
    /// The client (Jepsen process) that issued it.
    pub client: u64,
    /// The key it touched, for models with more than one object.
    pub key: Option<String>,
    /// When it was called (nanoseconds since the start, or event index).
    pub call: u64,
    /// When it returned; `None` if it never did.
    pub ret: Option<u64>,
    /// What was asked.
    pub input: Input,
    /// What came back.
    pub outcome: Outcome,
    /// Line of the call in the source file (1-based; 0 when recorded in memory).
    pub line: usize,
    /// Free text about how it ended (e.g. `HTTP 503`, `timed out`).
    pub note: Option<String>,
}

impl Op {
    /// A one-line human description, e.g. `client 3 cas x 1→2 ok`.
    pub fn describe(&self) -> String {
        let key = self
            .key
            .as_deref()
            .map(|k| format!(" {k:?}"))
            .unwrap_or_default();
        let input = match &self.input {
            Input::Write(v) | Input::Put(v) | Input::Append(v) => format!(" {v:?}"),
            Input::Cas { from, to } => format!(" {from:?}→{to:?}"),
            Input::Transfer { from, to, amount } => format!(" {amount} {from}→{to}"),
            _ => String::new(),
        };
        let outcome = match &self.outcome {
            Outcome::Ok(Output::None) => "ok".to_string(),
            Outcome::Ok(Output::Value(None)) => "→ nil".to_string(),
            Outcome::Ok(Output::Value(Some(v))) => format!("→ {v:?}"),
            Outcome::Ok(Output::Balances(b)) => format!(
                "→ {{{}}}",
                b.iter()
                    .map(|(k, v)| format!("{k}: {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Outcome::Fail => "fail".to_string(),
            Outcome::Rejected => "rejected".to_string(),
            Outcome::Unknown if self.ret.is_none() => "never returned".to_string(),
            Outcome::Unknown => "unknown".to_string(),
        };
        let line = if self.line > 0 {
            format!(" (line {})", self.line)
        } else {
            String::new()
        };
        format!(
            "#{} client {} {}{key}{input} {outcome}{line}",
            self.id,
            self.client,
            self.input.name()
        )
    }
}

/// A whole history.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct History {
    /// Operations in call order.
    pub ops: Vec<Op>,
    /// Whether `call`/`ret` are nanoseconds (recorded) rather than event indices (logs).
    pub timed: bool,
    /// Initial balances for the bank model, when the history says.
    pub initial: Option<BTreeMap<String, i64>>,
}

impl History {
    /// A history of `ops` in call order, each `id` its position (what the checker and the
    /// views index by).
    pub fn in_call_order(
        mut ops: Vec<Op>,
        timed: bool,
        initial: Option<BTreeMap<String, i64>>,
    ) -> History {
        ops.sort_by_key(|o| o.call);
        for (i, op) in ops.iter_mut().enumerate() {
            op.id = i;
        }
        History {
            ops,
            timed,
            initial,
        }
    }

    /// The end of the history: the latest time any operation was called or returned.
    pub fn end(&self) -> u64 {
        self.ops
            .iter()
            .map(|o| o.ret.unwrap_or(o.call))
            .max()
            .unwrap_or(0)
    }

    /// Number of distinct clients.
    pub fn clients(&self) -> usize {
        let mut c: Vec<u64> = self.ops.iter().map(|o| o.client).collect();
        c.sort_unstable();
        c.dedup();
        c.len()
    }
}
