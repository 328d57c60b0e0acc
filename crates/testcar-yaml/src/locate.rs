//! The line of a key path, for problems found after a typed parse (serde only knows where
//! the text stopped parsing, not where a valid-but-wrong value was written). Walks the
//! positioned [`tree`](crate::tree), so flow style (`{a: {b: 1}}`) is found as well as blocks.

use crate::tree::{self, Node, Value};

/// A segment of a key path: a mapping key or a sequence index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// A mapping key.
    Key(String),
    /// A sequence index, from 0.
    Index(usize),
}

impl From<&str> for Seg {
    fn from(key: &str) -> Self {
        Seg::Key(key.to_string())
    }
}

impl From<usize> for Seg {
    fn from(index: usize) -> Self {
        Seg::Index(index)
    }
}

/// The path as users read it: `steps[0].oauth2.tokenUrl`.
pub fn key_path(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// The 1-based line of the deepest segment of `path` that exists in `text` (a key's own
/// line, or a sequence item's); `None` when not even the first does or the text is not YAML.
pub fn locate(text: &str, path: &[Seg]) -> Option<usize> {
    let root = tree::parse(text).ok()?;
    let mut node: &Node = &root;
    let mut found = None;
    for seg in path {
        let next = match (seg, &node.value) {
            (Seg::Key(k), Value::Map(entries)) => entries
                .iter()
                .find(|(key, _)| key.scalar_text() == *k)
                .map(|(key, value)| (key.pos.line, value)),
            (Seg::Index(i), Value::Seq(items)) => items.get(*i).map(|item| (item.pos.line, item)),
            _ => None,
        };
        let Some((line, child)) = next else { break };
        found = Some(line);
        node = child;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(segs: &[Seg]) -> Vec<Seg> {
        segs.to_vec()
    }

    #[test]
    fn follows_blocks_sequences_and_flow() {
        let text = "# comment\na:\n  b: 1\nc:\n  - x: 1\n  - d:\n      b: 2\ne: {f: {g: 3}}\n";
        assert_eq!(locate(text, &p(&["a".into(), "b".into()])), Some(3));
        assert_eq!(
            locate(text, &p(&["c".into(), 1.into(), "d".into(), "b".into()])),
            Some(7)
        );
        assert_eq!(locate(text, &p(&["c".into(), 0.into()])), Some(5));
        assert_eq!(
            locate(text, &p(&["e".into(), "f".into(), "g".into()])),
            Some(8)
        );
    }

    #[test]
    fn deepest_found_segment_or_none() {
        let text = "a:\n  b: 1\n";
        assert_eq!(locate(text, &p(&["a".into(), "zz".into()])), Some(1));
        assert_eq!(locate(text, &p(&["x".into()])), None);
        assert_eq!(locate("a: [", &p(&["a".into()])), None);
    }

    #[test]
    fn quoted_keys_match() {
        assert_eq!(
            locate("\"a\":\n  'b': 1\n", &p(&["a".into(), "b".into()])),
            Some(2)
        );
    }

    #[test]
    fn paths_read_as_written() {
        let path = p(&["steps".into(), 0.into(), "oauth2".into(), "tokenUrl".into()]);
        assert_eq!(key_path(&path), "steps[0].oauth2.tokenUrl");
    }
}
