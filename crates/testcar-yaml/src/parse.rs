//! Typed parsing with errors that carry their position without repeating it: the caller's
//! `file:line:column` prefix says where, the message says what, and a syntax error is named
//! as one (wrong indentation is the usual cause, not a wrong key).

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::guard;

/// A YAML text could not be read as the expected type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct YamlError {
    /// Line of the problem, from 1; 0 when the parser gave none (e.g. a missing field).
    pub line: usize,
    /// Column of the problem, from 1; 0 when unknown.
    pub column: usize,
    /// What is wrong, without the position (the caller prefixes `file:line:column`).
    pub message: String,
    /// The text is not well-formed YAML (as opposed to a wrong key, type or value).
    pub syntax: bool,
}

impl YamlError {
    /// The message, introduced as a syntax error with the usual cause when it is one;
    /// `hint` adds what the caller's format expects (e.g. where a suite's keys start).
    pub fn explained(&self, hint: &str) -> String {
        if !self.syntax {
            return self.message.clone();
        }
        let mut out = format!(
            "YAML syntax error: {}; check the indentation of this line and the ones above it (spaces only",
            self.message
        );
        if !hint.is_empty() {
            out.push_str("; ");
            out.push_str(hint);
        }
        out.push(')');
        out
    }
}

/// Phrases of libyaml's scanner and parser: their errors are about the text's form.
const SYNTAX: [&str; 6] = [
    "while parsing",
    "while scanning",
    "did not find expected",
    "mapping values are not allowed",
    "could not find expected",
    "found character that cannot start any token",
];

/// Deserialise `text`, refusing pathological nesting first (see [`guard`]).
pub fn from_str<T: DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    if let Some((line, column)) = guard::too_deep(text) {
        return Err(YamlError {
            line,
            column,
            message: guard::too_deep_message(),
            syntax: false,
        });
    }
    serde_norway::from_str(text).map_err(|e| located(&e))
}

/// Deserialise an already parsed value (a block of a larger document).
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, YamlError> {
    serde_norway::from_value(value).map_err(|e| located(&e))
}

/// Write a value as YAML.
pub fn to_string<T: Serialize + ?Sized>(value: &T) -> Result<String, YamlError> {
    serde_norway::to_string(value).map_err(|e| located(&e))
}

use serde_norway::Value;

fn located(e: &serde_norway::Error) -> YamlError {
    let (line, column) = e
        .location()
        .map(|l| (l.line(), l.column()))
        .unwrap_or((0, 0));
    let full = e.to_string();
    let syntax = SYNTAX.iter().any(|s| full.contains(s));
    YamlError {
        line,
        column,
        message: without_positions(&full),
        syntax,
    }
}

/// libyaml and serde name positions inside the message (" at line 3 column 4", possibly
/// several times for a syntax error); the caller's prefix already says where.
fn without_positions(message: &str) -> String {
    let mut text = message.to_string();
    while let Some(i) = text.find(" at line ") {
        let rest = &text[i + " at line ".len()..];
        let skip = match rest.find("column ") {
            Some(c) => {
                let digits = rest[c + "column ".len()..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .count();
                c + "column ".len() + digits
            }
            None => rest.chars().take_while(char::is_ascii_digit).count(),
        };
        text.replace_range(i..i + " at line ".len() + skip, "");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Doc {
        name: String,
        count: u32,
    }

    #[test]
    fn unknown_key_has_its_position_once() {
        let e = from_str::<Doc>("name: a\ncount: 1\ncolour: red\n").unwrap_err();
        assert_eq!((e.line, e.column), (3, 1));
        assert!(!e.syntax);
        assert!(
            e.message.starts_with("unknown field `colour`"),
            "{}",
            e.message
        );
        assert!(!e.message.contains("line"), "{}", e.message);
        assert_eq!(e.explained("hint"), e.message);
    }

    #[test]
    fn wrong_type_names_the_field() {
        let e = from_str::<Doc>("name: a\ncount: many\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("count"), "{}", e.message);
    }

    #[test]
    fn syntax_error_is_named_and_loses_every_inner_position() {
        let e = from_str::<BTreeMap<String, Vec<u32>>>("a:\n  - 1\n - 2\n").unwrap_err();
        assert!(e.syntax, "{e:?}");
        assert!(e.line >= 2, "{e:?}");
        assert!(!e.message.contains(" at line "), "{}", e.message);
        let shown = e.explained("suite keys line up");
        assert!(shown.starts_with("YAML syntax error: "), "{shown}");
        assert!(
            shown.ends_with("(spaces only; suite keys line up)"),
            "{shown}"
        );
    }

    #[test]
    fn missing_field_has_no_position() {
        let e = from_str::<Doc>("name: a\n").unwrap_err();
        assert!(e.message.contains("missing field `count`"), "{}", e.message);
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing() {
        let text = format!("x: {}", "[".repeat(300));
        let e = from_str::<Value>(&text).unwrap_err();
        assert_eq!(e.message, guard::too_deep_message());
        assert_eq!(e.line, 1);
    }

    #[test]
    fn values_round_trip() {
        let v: Value = from_str("a: [1, two]\n").unwrap();
        let s = to_string(&v).unwrap();
        assert_eq!(from_str::<Value>(&s).unwrap(), v);
        let m: BTreeMap<String, Vec<Value>> = from_value(v).unwrap();
        assert_eq!(m["a"].len(), 2);
    }
}
