//! The sequential specifications: a register (read / write / cas), a key-value store
//! (get / put / append / delete; a missing key reads as "") and a bank (transfers and
//! balance reads; the total is conserved). Each turns history operations into search steps.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;

use crate::history::{Input, Op, Outcome, Output};
use crate::search::{Candidate, FxBuild, Model};

/// Which model a history is checked against.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// Registers (one per key) starting empty (nil): read, write, cas.
    Register,
    /// A key-value map; a missing key reads as "": get, put, append, delete.
    Kv,
    /// Accounts with initial balances: transfer, balances (read all).
    Bank,
}

impl ModelKind {
    /// Lowercase name.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Register => "register",
            ModelKind::Kv => "kv",
            ModelKind::Bank => "bank",
        }
    }

    /// The operations of the model, for messages.
    pub fn operations(self) -> &'static str {
        match self {
            ModelKind::Register => "read, write, cas",
            ModelKind::Kv => "get, put, append, delete",
            ModelKind::Bank => "transfer, balances",
        }
    }

    /// Whether operations on different keys are independent (P-compositionality).
    pub fn partitions_by_key(self) -> bool {
        !matches!(self, ModelKind::Bank)
    }
}

/// A history that does not fit its model.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    /// The operation belongs to another model.
    #[error("line {line}: operation {op} is not part of the {model} model (expected {expected})")]
    WrongOperation {
        /// Source line.
        line: usize,
        /// Operation name.
        op: &'static str,
        /// Model name.
        model: &'static str,
        /// Allowed operations.
        expected: &'static str,
    },
    /// Bank checks need to know the starting balances.
    #[error(
        "the bank model needs initial balances (a JSONL header \"initial\" or --initial a=100,b=100)"
    )]
    NoInitialBalances,
    /// A transfer or read names an account that has no initial balance.
    #[error("line {line}: account {account:?} has no initial balance")]
    UnknownAccount {
        /// Source line.
        line: usize,
        /// The account.
        account: String,
    },
}

/// Whether an operation constrains the search, and as what.
fn timing(op: &Op) -> Option<Option<u64>> {
    match (&op.outcome, op.input.is_read()) {
        // Reads with no known value and writes that surely did nothing constrain nothing.
        (Outcome::Unknown, true) | (Outcome::Fail, true) | (Outcome::Rejected, _) => None,
        (Outcome::Fail, false) if !matches!(op.input, Input::Cas { .. }) => None,
        // Unknown writes may take effect any time after their call: pending to the end.
        (Outcome::Unknown, false) => Some(None),
        _ => Some(Some(op.ret.unwrap_or(u64::MAX))),
    }
}

// ---------------------------------------------------------------- register

/// Register over interned values; 0 is nil.
#[derive(Debug, Default)]
pub(crate) struct Register {
    values: Vec<String>,
}

#[derive(Debug)]
pub(crate) enum RegisterStep {
    Read(u32),
    Write(u32),
    /// `applied`: Some(true) ok, Some(false) the compare failed, None unknown (pending).
    Cas {
        from: u32,
        to: u32,
        applied: Option<bool>,
    },
}

impl Register {
    fn intern(&mut self, v: &str) -> u32 {
        match self.values.iter().position(|x| x == v) {
            Some(i) => i as u32 + 1,
            None => {
                self.values.push(v.to_string());
                self.values.len() as u32
            }
        }
    }

    pub(crate) fn compile(
        ops: &[&Op],
    ) -> Result<(Register, Vec<Candidate<RegisterStep>>), ModelError> {
        let mut m = Register::default();
        let mut out = Vec::new();
        for op in ops {
            let Some(ret) = timing(op) else { continue };
            let step = match (&op.input, &op.outcome) {
                (Input::Read, Outcome::Ok(Output::Value(v))) => {
                    RegisterStep::Read(v.as_deref().map(|v| m.intern(v)).unwrap_or(0))
                }
                (Input::Write(v), _) => RegisterStep::Write(m.intern(v)),
                (Input::Cas { from, to }, o) => RegisterStep::Cas {
                    from: m.intern(from),
                    to: m.intern(to),
                    applied: match o {
                        Outcome::Ok(_) => Some(true),
                        Outcome::Fail => Some(false),
                        Outcome::Unknown | Outcome::Rejected => None,
                    },
                },
                (input, _) => return Err(wrong(op, input, ModelKind::Register)),
            };
            out.push(Candidate {
                op: op.id,
                call: op.call,
                ret,
                step,
            });
        }
        Ok((m, out))
    }
}

fn wrong(op: &Op, input: &Input, model: ModelKind) -> ModelError {
    ModelError::WrongOperation {
        line: op.line,
        op: input.name(),
        model: model.name(),
        expected: model.operations(),
    }
}

impl Model for Register {
    type State = u32;
    type Step = RegisterStep;
    fn init(&self) -> u32 {
        0
    }
    #[inline]
    fn apply(&self, s: &u32, step: &RegisterStep) -> Option<u32> {
        match *step {
            RegisterStep::Read(v) => (v == *s).then_some(*s),
            RegisterStep::Write(v) => Some(v),
            RegisterStep::Cas { from, to, applied } => match applied {
                // An unknown cas that did not match had no effect: same as never placing it.
                Some(true) | None => (from == *s).then_some(to),
                Some(false) => (from != *s).then_some(*s),
            },
        }
    }
    fn read_only(&self, step: &RegisterStep) -> bool {
        matches!(
            step,
            RegisterStep::Read(_)
                | RegisterStep::Cas {
                    applied: Some(false),
                    ..
                }
        )
    }
    fn class(&self, step: &RegisterStep) -> Option<u64> {
        match *step {
            RegisterStep::Write(v) => Some(u64::from(v)),
            RegisterStep::Cas {
                from,
                to,
                applied: Some(true) | None,
                // `from` is an interned value, never 0 (nil): no clash with a write's class.
            } => Some(u64::from(from) << 32 | u64::from(to)),
            _ => None,
        }
    }
    fn show(&self, s: &u32) -> String {
        match s {
            0 => "nil".to_string(),
            i => format!("{:?}", self.values[*i as usize - 1]),
        }
    }
}

// ---------------------------------------------------------------- kv

/// One key of a key-value store. Values are interned: a state is the id of its text, and
/// appends are memoized per (state, value), so the search compares and hashes integers.
#[derive(Debug, Default)]
pub(crate) struct Kv {
    table: RefCell<KvTable>,
}

#[derive(Debug, Default)]
struct KvTable {
    texts: Vec<Rc<str>>,
    ids: HashMap<Rc<str>, u32, FxBuild>,
    appends: HashMap<(u32, u32), u32, FxBuild>,
}

impl KvTable {
    fn intern(&mut self, text: &str) -> u32 {
        if let Some(&id) = self.ids.get(text) {
            return id;
        }
        let rc: Rc<str> = text.into();
        let id = self.texts.len() as u32;
        self.texts.push(rc.clone());
        self.ids.insert(rc, id);
        id
    }
}

#[derive(Debug)]
pub(crate) enum KvStep {
    /// The value read, and the puts/deletes (candidate indices) that could set the key to
    /// a prefix of it.
    Get(u32, Vec<u32>),
    Put(u32),
    Append(u32),
    Delete,
}

impl Kv {
    pub(crate) fn compile(ops: &[&Op]) -> Result<(Kv, Vec<Candidate<KvStep>>), ModelError> {
        let mut t = KvTable::default();
        t.intern("");
        let mut out = Vec::new();
        for op in ops {
            let Some(ret) = timing(op) else { continue };
            let step = match (&op.input, &op.outcome) {
                (Input::Get, Outcome::Ok(Output::Value(v))) => {
                    KvStep::Get(t.intern(v.as_deref().unwrap_or("")), Vec::new())
                }
                (Input::Put(v), _) => KvStep::Put(t.intern(v)),
                (Input::Append(v), _) => KvStep::Append(t.intern(v)),
                (Input::Delete, _) => KvStep::Delete,
                (input, _) => return Err(wrong(op, input, ModelKind::Kv)),
            };
            out.push(Candidate {
                op: op.id,
                call: op.call,
                ret,
                step,
            });
        }
        // Which resets could lead to each read value: appends only extend a value.
        let resets: Vec<(u32, u32)> = out
            .iter()
            .enumerate()
            .filter_map(|(i, c)| match c.step {
                KvStep::Put(v) => Some((i as u32, v)),
                KvStep::Delete => Some((i as u32, 0)),
                _ => None,
            })
            .collect();
        for c in out.iter_mut() {
            if let KvStep::Get(v, enablers) = &mut c.step {
                let read = &t.texts[*v as usize];
                enablers.extend(
                    resets
                        .iter()
                        .filter(|(_, p)| read.starts_with(&*t.texts[*p as usize]))
                        .map(|(i, _)| *i),
                );
            }
        }
        Ok((
            Kv {
                table: RefCell::new(t),
            },
            out,
        ))
    }
}

impl Model for Kv {
    type State = u32;
    type Step = KvStep;
    fn init(&self) -> u32 {
        0
    }
    #[inline]
    fn apply(&self, s: &u32, step: &KvStep) -> Option<u32> {
        match *step {
            KvStep::Get(v, _) => (v == *s).then_some(*s),
            KvStep::Put(v) => Some(v),
            KvStep::Delete => Some(0),
            KvStep::Append(v) => {
                let mut t = self.table.borrow_mut();
                if let Some(&n) = t.appends.get(&(*s, v)) {
                    return Some(n);
                }
                let text = format!("{}{}", t.texts[*s as usize], t.texts[v as usize]);
                let n = t.intern(&text);
                t.appends.insert((*s, v), n);
                Some(n)
            }
        }
    }
    fn read_only(&self, step: &KvStep) -> bool {
        matches!(step, KvStep::Get(..))
    }
    fn class(&self, step: &KvStep) -> Option<u64> {
        match *step {
            KvStep::Put(v) => Some(u64::from(v)),
            KvStep::Append(v) => Some(1 << 62 | u64::from(v)),
            KvStep::Delete => Some(1 << 61),
            KvStep::Get(..) => None,
        }
    }
    fn dead(&self, s: &u32, step: &KvStep, linearized: &dyn Fn(usize) -> bool) -> bool {
        let KvStep::Get(v, enablers) = step else {
            return false;
        };
        let t = self.table.borrow();
        !t.texts[*v as usize].starts_with(&*t.texts[*s as usize])
            && enablers.iter().all(|&i| linearized(i as usize))
    }
    fn show(&self, s: &u32) -> String {
        format!("{:?}", &*self.table.borrow().texts[*s as usize])
    }
}

// ---------------------------------------------------------------- several keys at once

/// Several independent objects checked as one (`--no-partition`): the state is one state
/// per key. Without P-compositionality this is exponentially slower; it exists to compare.
#[derive(Debug)]
pub(crate) struct Keyed<M> {
    models: Vec<M>,
}

type Compiled<M> = (M, Vec<Candidate<<M as Model>::Step>>);

impl<M: Model> Keyed<M> {
    pub(crate) fn compile(
        ops: &[&Op],
        compile_one: impl Fn(&[&Op]) -> Result<Compiled<M>, ModelError>,
    ) -> Result<Compiled<Keyed<M>>, ModelError> {
        let mut by_key: BTreeMap<Option<&str>, Vec<&Op>> = BTreeMap::new();
        for op in ops {
            by_key.entry(op.key.as_deref()).or_default().push(op);
        }
        let mut models = Vec::new();
        let mut out = Vec::new();
        for (k, key_ops) in by_key.into_values().enumerate() {
            let (m, cands) = compile_one(&key_ops)?;
            models.push(m);
            out.extend(cands.into_iter().map(|c| Candidate {
                op: c.op,
                call: c.call,
                ret: c.ret,
                step: (k, c.step),
            }));
        }
        Ok((Keyed { models }, out))
    }
}

impl<M: Model> Model for Keyed<M> {
    type State = Vec<M::State>;
    type Step = (usize, M::Step);
    fn init(&self) -> Self::State {
        self.models.iter().map(Model::init).collect()
    }
    fn apply(&self, s: &Self::State, (k, step): &Self::Step) -> Option<Self::State> {
        let next = self.models[*k].apply(&s[*k], step)?;
        let mut all = s.clone();
        all[*k] = next;
        Some(all)
    }
    fn read_only(&self, (k, step): &Self::Step) -> bool {
        self.models[*k].read_only(step)
    }
    fn state_heap(&self, s: &Self::State) -> usize {
        s.capacity() * std::mem::size_of::<M::State>()
            + s.iter()
                .map(|x| self.models[0].state_heap(x))
                .sum::<usize>()
    }
    fn show(&self, s: &Self::State) -> String {
        let parts: Vec<String> = self.models.iter().zip(s).map(|(m, x)| m.show(x)).collect();
        format!("[{}]", parts.join(", "))
    }
}

// ---------------------------------------------------------------- bank

/// Accounts with balances; transfers conserve the total.
#[derive(Debug)]
pub(crate) struct Bank {
    accounts: Vec<String>,
    initial: Vec<i64>,
}

#[derive(Debug)]
pub(crate) enum BankStep {
    Transfer { from: usize, to: usize, amount: i64 },
    Read(Vec<i64>),
}

impl Bank {
    pub(crate) fn compile(
        ops: &[&Op],
        initial: Option<&BTreeMap<String, i64>>,
    ) -> Result<(Bank, Vec<Candidate<BankStep>>), ModelError> {
        let initial = initial.ok_or(ModelError::NoInitialBalances)?;
        let accounts: Vec<String> = initial.keys().cloned().collect();
        let index = |a: &str, line: usize| {
            accounts
                .iter()
                .position(|x| x == a)
                .ok_or_else(|| ModelError::UnknownAccount {
                    line,
                    account: a.to_string(),
                })
        };
        let mut out = Vec::new();
        for op in ops {
            let Some(ret) = timing(op) else { continue };
            let step = match (&op.input, &op.outcome) {
                (Input::Transfer { from, to, amount }, _) => BankStep::Transfer {
                    from: index(from, op.line)?,
                    to: index(to, op.line)?,
                    amount: *amount,
                },
                (Input::Balances, Outcome::Ok(Output::Balances(b))) => {
                    let mut v = vec![0i64; accounts.len()];
                    for (a, n) in b {
                        v[index(a, op.line)?] = *n;
                    }
                    BankStep::Read(v)
                }
                (input, _) => return Err(wrong(op, input, ModelKind::Bank)),
            };
            out.push(Candidate {
                op: op.id,
                call: op.call,
                ret,
                step,
            });
        }
        Ok((
            Bank {
                accounts,
                initial: initial.values().copied().collect(),
            },
            out,
        ))
    }

    /// The conserved total.
    pub(crate) fn total(&self) -> i64 {
        self.initial.iter().sum()
    }
}

impl Model for Bank {
    type State = Vec<i64>;
    type Step = BankStep;
    fn init(&self) -> Vec<i64> {
        self.initial.clone()
    }
    #[inline]
    fn apply(&self, s: &Vec<i64>, step: &BankStep) -> Option<Vec<i64>> {
        match step {
            BankStep::Read(v) => (v == s).then(|| s.clone()),
            BankStep::Transfer { from, to, amount } => {
                let mut n = s.clone();
                n[*from] -= amount;
                n[*to] += amount;
                Some(n)
            }
        }
    }
    fn read_only(&self, step: &BankStep) -> bool {
        matches!(step, BankStep::Read(_))
    }
    fn state_heap(&self, s: &Vec<i64>) -> usize {
        s.capacity() * 8
    }
    fn show(&self, s: &Vec<i64>) -> String {
        let parts: Vec<String> = self
            .accounts
            .iter()
            .zip(s)
            .map(|(a, n)| format!("{a}: {n}"))
            .collect();
        format!("{{{}}} (total {})", parts.join(", "), s.iter().sum::<i64>())
    }
}
