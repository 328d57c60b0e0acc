//! YAML documents as trees that remember where every node was written, so that errors found
//! after parsing (an Artillery script's keys, a key path from a typed check) can name
//! `file:line:column`. Built on yaml-rust2's event parser (pure Rust, no libyaml).

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// Where a node starts (1-based line and column) and in which of the loaded sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub col: usize,
    /// Which source: 0 is the script; a config file or a command-line overlay merged into
    /// it get their own number, so errors name the right file.
    pub src: u8,
}

/// A YAML value and its position.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The value.
    pub value: Value,
    /// Where it was written.
    pub pos: Pos,
}

/// A YAML value with plain scalars resolved by the YAML 1.2 core schema.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `~`, `null` or nothing.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating point number.
    Float(f64),
    /// Any string (quoted scalars are always strings).
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in the order written.
    Map(Vec<(Node, Node)>),
}

/// The document could not be parsed as YAML.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{col}: {message}")]
pub struct SyntaxError {
    /// Line of the problem.
    pub line: usize,
    /// Column of the problem.
    pub col: usize,
    /// What the YAML parser said.
    pub message: String,
}

impl Node {
    /// Mark this node and everything under it as coming from source `src`.
    pub fn set_source(&mut self, src: u8) {
        self.pos.src = src;
        match &mut self.value {
            Value::Seq(items) => items.iter_mut().for_each(|n| n.set_source(src)),
            Value::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
                k.set_source(src);
                v.set_source(src);
            }),
            _ => {}
        }
    }

    /// A tree from JSON (command-line overlays), every node at `pos`.
    pub fn from_json(v: &serde_json::Value, pos: Pos) -> Node {
        use serde_json::Value as J;
        let value = match v {
            J::Null => Value::Null,
            J::Bool(b) => Value::Bool(*b),
            J::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(0.0)),
            },
            J::String(s) => Value::Str(s.clone()),
            J::Array(items) => Value::Seq(items.iter().map(|i| Node::from_json(i, pos)).collect()),
            J::Object(m) => Value::Map(
                m.iter()
                    .map(|(k, v)| {
                        (
                            Node {
                                value: Value::Str(k.clone()),
                                pos,
                            },
                            Node::from_json(v, pos),
                        )
                    })
                    .collect(),
            ),
        };
        Node { value, pos }
    }

    /// A key of a mapping, by name.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The text of a string scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A short name of the node's type, for error messages.
    pub fn kind(&self) -> &'static str {
        match self.value {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) | Value::Float(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// The node as JSON (mapping keys rendered as strings).
    pub fn to_json(&self) -> serde_json::Value {
        match &self.value {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::Str(s) => serde_json::Value::String(s.clone()),
            Value::Seq(items) => items.iter().map(Node::to_json).collect(),
            Value::Map(entries) => entries
                .iter()
                .map(|(k, v)| (k.scalar_text(), v.to_json()))
                .collect::<serde_json::Map<_, _>>()
                .into(),
        }
    }

    /// A scalar rendered as text (numbers and booleans as written in JSON).
    pub fn scalar_text(&self) -> String {
        match &self.value {
            Value::Null => String::new(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => f.to_string(),
            Value::Str(s) => s.clone(),
            Value::Seq(_) | Value::Map(_) => self.to_json().to_string(),
        }
    }
}

/// Deepest nesting accepted. Real scripts nest a dozen levels; the tree is walked
/// recursively, so a document nested a hundred thousand levels deep would overflow the stack.
pub const MAX_DEPTH: usize = 256;

/// Most nodes a document may expand to, counting every alias as a copy of its anchor. A
/// "billion laughs" document (anchors of lists of aliases to the previous anchor) is a few
/// lines long and expands exponentially; this refuses it before it fills the memory.
pub const MAX_NODES: usize = 1_000_000;

/// Parse the first document of `text`. An empty text gives a null node.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    // Events one at a time, not `Parser::load`: that recurses once per nesting level (a
    // block document nested a few thousand levels deep overflowed the stack and aborted the
    // process) and asserts on events it does not expect. This loop stops at the end of the
    // first document or at the first problem.
    loop {
        let (ev, mark) = parser.next_token().map_err(|e| SyntaxError {
            line: e.marker().line(),
            col: e.marker().col() + 1,
            message: e.info().to_string(),
        })?;
        let end = matches!(ev, Event::DocumentEnd | Event::StreamEnd);
        builder.on_event(ev, mark);
        if end || builder.error.is_some() {
            break;
        }
    }
    if let Some(message) = builder.error {
        return Err(SyntaxError {
            line: builder.error_pos.line,
            col: builder.error_pos.col,
            message,
        });
    }
    Ok(builder.root.unwrap_or(Node {
        value: Value::Null,
        pos: Pos {
            line: 1,
            col: 1,
            src: 0,
        },
    }))
}

#[derive(Default)]
struct Builder {
    /// Open containers: the node, its pending key, its anchor, `nodes` when it opened.
    stack: Vec<(Node, Option<Node>, usize, usize)>,
    root: Option<Node>,
    /// Anchored nodes and how many nodes each expands to.
    anchors: HashMap<usize, (Node, usize)>,
    /// Nodes built so far, aliases counted as copies.
    nodes: usize,
    error: Option<String>,
    error_pos: Pos,
}

impl Builder {
    fn fail(&mut self, message: String, pos: Pos) {
        if self.error.is_none() {
            self.error = Some(message);
            self.error_pos = pos;
        }
    }

    /// Count `n` more nodes; false (and an error) past [`MAX_NODES`].
    fn count(&mut self, n: usize, pos: Pos) -> bool {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES {
            self.fail(
                format!(
                    "the document is too large: it expands to more than {MAX_NODES} values \
                     (aliases count as copies of their anchor)"
                ),
                pos,
            );
            return false;
        }
        true
    }

    fn push_value(&mut self, node: Node, anchor: usize, weight: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, (node.clone(), weight));
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some((parent, pending_key, _, _)) => match &mut parent.value {
                Value::Seq(items) => items.push(node),
                Value::Map(entries) => match pending_key.take() {
                    None => *pending_key = Some(node),
                    Some(key) => {
                        // YAML merge keys (`<<: *defaults`) are common in scripts.
                        if key.as_str() == Some("<<") {
                            if let Value::Map(merged) = node.value {
                                for (k, v) in merged {
                                    if !entries.iter().any(|(ek, _)| ek.value == k.value) {
                                        entries.push((k, v));
                                    }
                                }
                            }
                        } else {
                            entries.push((key, node));
                        }
                    }
                },
                _ => {}
            },
        }
    }
}

impl Builder {
    fn open(&mut self, value: Value, pos: Pos, anchor: usize) {
        if self.stack.len() >= MAX_DEPTH {
            self.fail(
                format!("the document nests deeper than {MAX_DEPTH} levels"),
                pos,
            );
            return;
        }
        if self.count(1, pos) {
            let start = self.nodes - 1;
            self.stack.push((Node { value, pos }, None, anchor, start));
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let pos = Pos {
            line: mark.line(),
            col: mark.col() + 1,
            src: 0,
        };
        if self.error.is_some() {
            // The first error stands; the rest of the text is only scanned.
            return;
        }
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let value = if style != TScalarStyle::Plain
                    || tag.as_ref().is_some_and(|t| t.suffix == "str")
                {
                    Value::Str(text)
                } else {
                    resolve_plain(text)
                };
                if self.count(1, pos) {
                    self.push_value(Node { value, pos }, anchor, 1);
                }
            }
            Event::SequenceStart(anchor, _) => {
                self.open(Value::Seq(Vec::new()), pos, anchor);
            }
            Event::MappingStart(anchor, _) => {
                self.open(Value::Map(Vec::new()), pos, anchor);
            }
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((node, _, anchor, start)) = self.stack.pop() {
                    let weight = self.nodes - start;
                    self.push_value(node, anchor, weight);
                }
            }
            Event::Alias(id) => match self.anchors.get(&id).map(|(_, w)| *w) {
                Some(weight) => {
                    if self.count(weight, pos) {
                        let mut node = self.anchors[&id].0.clone();
                        node.pos = pos;
                        self.push_value(node, 0, weight);
                    }
                }
                None => self.fail("alias to an unknown anchor".into(), pos),
            },
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

fn resolve_plain(text: String) -> Value {
    match text.as_str() {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    if let Ok(i) = text.parse::<i64>() {
        return Value::Int(i);
    }
    let looks_numeric = text
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))
        && text.chars().any(|c| c.is_ascii_digit());
    if looks_numeric {
        if let Ok(f) = text.parse::<f64>() {
            return Value::Float(f);
        }
    }
    Value::Str(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the hostile-input fuzz property (the process aborted on a stack overflow).
    #[test]
    fn deep_block_nesting_is_an_error_not_a_stack_overflow() {
        let err = parse(include_str!("../test_data/deep-block-nesting.yml")).unwrap_err();
        assert!(
            err.message.contains("nests deeper than 256 levels"),
            "{err}"
        );
        assert_eq!(err.line, 4);
        let ok = format!("a:\n  {}x\n", "- ".repeat(200));
        assert!(parse(&ok).is_ok());
    }

    /// Expanding every alias would make 10^10 nodes: refused, quickly.
    #[test]
    fn alias_bombs_are_refused() {
        let err = parse(include_str!("../test_data/alias-bomb.yml")).unwrap_err();
        assert!(err.message.contains("too large"), "{err}");
        // ordinary aliases still expand
        let doc = parse("a: &a [1, 2]\nb: *a\nc: *a\n").unwrap();
        assert_eq!(
            doc.to_json(),
            serde_json::json!({"a": [1, 2], "b": [1, 2], "c": [1, 2]})
        );
    }

    #[test]
    fn positions_are_one_based_and_point_at_keys() {
        let doc = parse("config:\n  target: http://x\n  phases:\n    - duration: 5\n").unwrap();
        let config = doc.get("config").unwrap();
        let Value::Map(entries) = &config.value else {
            panic!("mapping expected")
        };
        assert_eq!(
            entries[0].0.pos,
            Pos {
                line: 2,
                col: 3,
                src: 0
            }
        );
        assert_eq!(
            entries[1].0.pos,
            Pos {
                line: 3,
                col: 3,
                src: 0
            }
        );
        let phases = config.get("phases").unwrap();
        let Value::Seq(items) = &phases.value else {
            panic!("list expected")
        };
        assert_eq!(items[0].get("duration").unwrap().value, Value::Int(5));
    }

    #[test]
    fn quoted_numbers_stay_strings_and_anchors_resolve() {
        let doc = parse("a: '5'\nb: 5.5\nc: &x {k: v}\nd: *x\ne: {<<: *x, z: 1}\n").unwrap();
        assert_eq!(doc.get("a").unwrap().value, Value::Str("5".into()));
        assert_eq!(doc.get("b").unwrap().value, Value::Float(5.5));
        assert_eq!(doc.get("d").unwrap().get("k").unwrap().as_str(), Some("v"));
        assert_eq!(doc.get("e").unwrap().get("k").unwrap().as_str(), Some("v"));
    }

    #[test]
    fn syntax_errors_carry_a_position() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.line >= 1, "{err}");
    }
}
