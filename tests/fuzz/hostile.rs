//! Hostile input for the fuzz properties (`hostile_*` tests), shared by several crates'
//! integration tests through `#[path = "../../../tests/fuzz/hostile.rs"] mod hostile;`.
//!
//! Structure-aware: documents are a real, valid seed with a hostile subtree grafted in at a
//! random place, or wholly hostile trees, or known attack shapes (alias bombs, deep nesting,
//! huge scalars), then optionally damaged at byte level (truncated, invalid UTF-8).
//! Budget: `PROPTEST_CASES` (default [`DEFAULT_CASES`]); `make fuzz` sets a long one.
#![allow(dead_code)]

use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::Config;

/// Cases per property under `make test`.
pub const DEFAULT_CASES: u32 = 96;

/// Longest one case may take before it counts as a hang. Generous on purpose: a loaded
/// 2-core machine must never make this fail; a real hang never finishes at all.
pub const CASE_BOUND: Duration = Duration::from_secs(30);

/// The proptest configuration: `PROPTEST_CASES` if set, else [`DEFAULT_CASES`].
pub fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    Config {
        cases,
        // Hostile documents are big; shrinking them thousands of times costs minutes.
        max_shrink_iters: 256,
        ..Config::default()
    }
}

/// Run `f` on its own thread; panic (failing the case) if it has not finished within
/// [`CASE_BOUND`]. A panic inside `f` is passed on unchanged.
pub fn within<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    let handle = std::thread::Builder::new()
        .name("hostile-case".into())
        .spawn(move || {
            let _ = tx.send(f());
        })
        .expect("spawn a case thread");
    match rx.recv_timeout(CASE_BOUND) {
        Ok(v) => {
            let _ = handle.join();
            v
        }
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the case thread ended without a result"),
        },
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
            panic!("{what}: not finished after {CASE_BOUND:?} (a hang)")
        }
    }
}

/// A YAML tree whose scalars are raw YAML text (so they can be anything, even invalid).
#[derive(Debug, Clone)]
pub enum Tree {
    /// A scalar, written as is.
    Raw(String),
    /// A sequence.
    Seq(Vec<Tree>),
    /// A mapping; keys are raw text too.
    Map(Vec<(String, Tree)>),
}

impl Tree {
    /// From a parsed seed document.
    pub fn from_yaml(v: &testcar_yaml::Value) -> Tree {
        use testcar_yaml::Value as Y;
        match v {
            Y::Sequence(items) => Tree::Seq(items.iter().map(Tree::from_yaml).collect()),
            Y::Mapping(m) => Tree::Map(
                m.iter()
                    .map(|(k, v)| (scalar(k), Tree::from_yaml(v)))
                    .collect(),
            ),
            Y::Tagged(t) => Tree::from_yaml(&t.value),
            other => Tree::Raw(scalar(other)),
        }
    }

    /// Flow style (`{a: [1, 2]}`): always one line, any nesting.
    pub fn flow(&self, out: &mut String) {
        match self {
            Tree::Raw(s) => out.push_str(s),
            Tree::Seq(items) => {
                out.push('[');
                for (i, t) in items.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    t.flow(out);
                }
                out.push(']');
            }
            Tree::Map(entries) => {
                out.push('{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(k);
                    out.push_str(": ");
                    v.flow(out);
                }
                out.push('}');
            }
        }
    }

    /// Block style, nested containers indented; scalars and empty containers inline.
    pub fn block(&self, indent: usize, out: &mut String) {
        let pad = " ".repeat(indent);
        match self {
            Tree::Seq(items) if !items.is_empty() => {
                for t in items {
                    out.push_str(&pad);
                    out.push('-');
                    t.block_child(indent, out);
                }
            }
            Tree::Map(entries) if !entries.is_empty() => {
                for (k, v) in entries {
                    out.push_str(&pad);
                    out.push_str(k);
                    out.push(':');
                    v.block_child(indent, out);
                }
            }
            other => {
                out.push_str(&pad);
                other.flow(out);
                out.push('\n');
            }
        }
    }

    fn block_child(&self, indent: usize, out: &mut String) {
        match self {
            Tree::Seq(items) if !items.is_empty() => {
                out.push('\n');
                self.block(indent + 2, out);
            }
            Tree::Map(entries) if !entries.is_empty() => {
                out.push('\n');
                self.block(indent + 2, out);
            }
            other => {
                out.push(' ');
                other.flow(out);
                out.push('\n');
            }
        }
    }

    /// Replace the subtree that `path` leads to (each step picks a child modulo the count;
    /// the walk stops early at a scalar) with `graft`.
    pub fn graft(&mut self, path: &[usize], graft: Tree) {
        let next: Option<&mut Tree> = match (self, path.first()) {
            (Tree::Seq(items), Some(&i)) if !items.is_empty() => {
                let n = items.len();
                items.get_mut(i % n)
            }
            (Tree::Map(entries), Some(&i)) if !entries.is_empty() => {
                let n = entries.len();
                entries.get_mut(i % n).map(|(_, v)| v)
            }
            (me, _) => {
                *me = graft;
                return;
            }
        };
        if let Some(t) = next {
            t.graft(&path[1..], graft);
        }
    }
}

fn scalar(v: &testcar_yaml::Value) -> String {
    match v {
        testcar_yaml::Value::String(s) => serde_json::to_string(s).unwrap(),
        testcar_yaml::Value::Null => "null".into(),
        testcar_yaml::Value::Bool(b) => b.to_string(),
        testcar_yaml::Value::Number(n) => n.to_string(),
        other => testcar_yaml::to_string(other)
            .unwrap_or_default()
            .trim()
            .to_string(),
    }
}

/// Scalars that break naive loaders: out-of-range numbers, YAML 1.1 look-alikes, odd
/// unicode, control characters, tags, huge text.
pub fn hostile_scalar() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(vec![
            "~", "null", "true", "yes", "no", "on", "off", "y", "0x1F", "0o17", "017",
            "1e999", "-1e999", ".inf", "-.inf", ".nan", "1_000", "+1", "-0", "0", "-1",
            "99999999999999999999999999999", "-9223372036854775809", "9223372036854775808",
            "18446744073709551616", "4294967296", "65536", "1.7976931348623157e309",
            "5e-324", "0.1", "1h", "30s", "-5s", "999999999999d", "0ms", "\"\"", "''",
            "\"\\u0000\"", "\"\\ud800\"", "\"\\x00\"", "\"\\e\"", "!!binary aGVsbG8=",
            "!!str 1", "!!int \"x\"", "!!float abc", "!custom x", "!!set {a, b}",
            "!<tag:yaml.org,2002:str> x", "\"http://[::1\"", "\"http://\"", "\"${{}}\"",
            "\"{{ $env.X }}\"", "\"{{{{\"", "\"}}\"", "\"$(rm -rf /)\"", "\"../../etc/passwd\"",
            "\"/\"", "\"\u{202e}evil\u{202d}\"", "\"\u{feff}bom\"",
            "\"\u{1F600}\u{0301}\u{200d}\"", "\"\\t\\r\\n\"", "\"a\\nb: c\"", "&x 1", "*x",
            "*nope", "[", "]", "{", "}", "\"unterminated", "'it''s'", "|", ">", "- -", "? x",
            ": x", "%", "@", "`", "#", "\"#\"",
        ]).prop_map(str::to_string),
        2 => "\\PC{0,40}".prop_map(|s| serde_json::to_string(&s).unwrap()),
        1 => "[a-zA-Z0-9 :,.\\-\\[\\]{}#&*!|>'\"%@`]{0,20}",
        1 => (0usize..100_000, proptest::sample::select(vec!["a", "é", "\u{1F600}", " ", "\\n"]))
            .prop_map(|(n, c)| format!("\"{}\"", c.repeat(n))),
        1 => (-(1i128 << 100)..(1i128 << 100)).prop_map(|i| i.to_string()),
        1 => any::<f64>().prop_map(|f| f.to_string()),
    ]
}

/// Any tree with hostile leaves and keys drawn from `keys` (the schema's own words, so
/// that the loader's checks, not only its parser, are reached).
pub fn hostile_tree(keys: &'static [&'static str]) -> impl Strategy<Value = Tree> {
    let key = prop_oneof![
        4 => proptest::sample::select(keys).prop_map(str::to_string),
        1 => hostile_scalar(),
    ];
    let leaf = hostile_scalar().prop_map(Tree::Raw);
    leaf.prop_recursive(6, 64, 8, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Tree::Seq),
            proptest::collection::vec((key.clone(), inner.clone()), 0..8).prop_map(Tree::Map),
            // huge arrays (of short scalars, so that sizes stay linear)
            (
                proptest::sample::select(vec!["1", "x", "null", "[]", "{}", "*x"]),
                0usize..20_000
            )
                .prop_map(|(s, n)| Tree::Seq(vec![Tree::Raw(s.to_string()); n])),
        ]
    })
}

/// Known attack shapes as whole documents.
pub fn attack() -> impl Strategy<Value = String> {
    prop_oneof![
        // "billion laughs": each level refers to the previous one `width` times
        (2usize..12, 2usize..12).prop_map(|(levels, width)| alias_bomb(levels, width)),
        // deep nesting, flow and block
        (1usize..200_000).prop_map(|n| format!("{}{}", "[".repeat(n), "]".repeat(n))),
        (1usize..200_000).prop_map(|n| "[".repeat(n)),
        (1usize..100_000).prop_map(|n| "{a: ".repeat(n)),
        (1usize..3_000).prop_map(|n| (0..n)
            .map(|i| format!("{}- x\n", " ".repeat(2 * i)))
            .collect::<String>()),
        (1usize..3_000).prop_map(|n| (0..n)
            .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
            .collect::<String>()),
        // merge-key bombs and self references
        (2usize..10).prop_map(|levels| {
            let mut s = "a0: &a0 {x: 1, y: 2}\n".to_string();
            for i in 1..levels {
                s.push_str(&format!(
                    "a{i}: &a{i}\n  <<: [*a{0}, *a{0}, *a{0}]\n  z{i}: 1\n",
                    i - 1
                ));
            }
            s
        }),
        Just("a: &a [*a]\n".to_string()),
        Just("&a a: *a\n".to_string()),
        Just("? &k [1]\n: *k\n".to_string()),
        // many documents, directives, odd headers
        (1usize..2_000).prop_map(|n| "---\na: 1\n".repeat(n)),
        Just("%YAML 1.1\n%TAG ! tag:x,2000:\n--- !foo\na: 1\n".to_string()),
        Just("%YAML 2.0\n---\n".to_string()),
        Just("\u{feff}a: 1\n".to_string()),
        // huge scalars and keys
        (1usize..2_000_000).prop_map(|n| format!("a: {}\n", "x".repeat(n))),
        (1usize..200_000).prop_map(|n| format!("{}: 1\n", "k".repeat(n))),
        (1usize..200_000).prop_map(|n| format!("[{}]", "1,".repeat(n))),
        (1usize..50_000).prop_map(|n| (0..n).map(|i| format!("k{i}: {i}\n")).collect::<String>()),
        (1usize..50_000).prop_map(|n| "a: 1\n".repeat(n)),
    ]
}

/// `levels` anchors, each a list of `width` aliases to the previous one.
pub fn alias_bomb(levels: usize, width: usize) -> String {
    let mut s = "l0: &l0 [\"lol\", \"lol\"]\n".to_string();
    for i in 1..levels {
        let refs = vec![format!("*l{}", i - 1); width].join(", ");
        s.push_str(&format!("l{i}: &l{i} [{refs}]\n"));
    }
    s
}

/// A document: a seed with a hostile graft, a hostile tree, or an attack; in flow or block
/// style; then maybe damaged at byte level.
pub fn document(
    seeds: &'static [&'static str],
    keys: &'static [&'static str],
) -> impl Strategy<Value = Vec<u8>> {
    let seed_trees: Vec<Tree> = seeds
        .iter()
        .map(|s| Tree::from_yaml(&testcar_yaml::from_str(s).expect("seeds are valid YAML")))
        .collect();
    let grafted = (
        proptest::sample::select(seed_trees),
        proptest::collection::vec(any::<usize>(), 0..8),
        hostile_tree(keys),
        any::<bool>(),
    )
        .prop_map(|(mut tree, path, graft, flow)| {
            tree.graft(&path, graft);
            render(&tree, flow)
        });
    let seed_text = proptest::sample::select(seeds).prop_map(str::to_string);
    let text = prop_oneof![
        6 => grafted,
        2 => (hostile_tree(keys), any::<bool>()).prop_map(|(t, flow)| render(&t, flow)),
        2 => attack(),
        1 => seed_text,
    ];
    (text, damage()).prop_map(|(text, damage)| damage.apply_to(text.into_bytes()))
}

fn render(tree: &Tree, flow: bool) -> String {
    let mut out = String::new();
    if flow {
        tree.flow(&mut out);
        out.push('\n');
    } else {
        tree.block(0, &mut out);
    }
    out
}

/// Byte-level damage.
#[derive(Debug, Clone)]
pub enum Damage {
    /// Left whole.
    None,
    /// Cut after this fraction (per mille) of the bytes, maybe inside a UTF-8 sequence.
    Truncate(u16),
    /// These bytes put in at this fraction (per mille).
    Insert(u16, Vec<u8>),
}

impl Damage {
    pub fn apply_to(self, mut bytes: Vec<u8>) -> Vec<u8> {
        let at = |per_mille: u16, len: usize| len * per_mille as usize / 1000;
        match self {
            Damage::None => {}
            Damage::Truncate(p) => bytes.truncate(at(p, bytes.len())),
            Damage::Insert(p, junk) => {
                let i = at(p, bytes.len());
                bytes.splice(i..i, junk);
            }
        }
        bytes
    }
}

pub fn damage() -> impl Strategy<Value = Damage> {
    let junk = prop_oneof![
        // invalid UTF-8: lone continuation, overlong, surrogate, truncated sequence, 0xFF
        proptest::sample::select(vec![
            vec![0x80u8],
            vec![0xC0, 0xAF],
            vec![0xED, 0xA0, 0x80],
            vec![0xF0, 0x9F],
            vec![0xFF, 0xFE],
            vec![0x00],
            vec![0x1B, b'['],
            b"\t".to_vec(),
            b"\r".to_vec(),
            b"\n  ".to_vec(),
            b": ".to_vec(),
            b"- ".to_vec(),
            b"&a ".to_vec(),
            b"*a".to_vec(),
        ]),
        proptest::collection::vec(any::<u8>(), 1..16),
    ];
    prop_oneof![
        6 => Just(Damage::None),
        2 => (0u16..=1000).prop_map(Damage::Truncate),
        2 => ((0u16..=1000), junk).prop_map(|(p, j)| Damage::Insert(p, j)),
    ]
}

/// Write `bytes` as `name` in a fresh temporary folder; returns the folder (keep it alive)
/// and the path.
pub fn write_case(name: &str, bytes: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().expect("temporary folder");
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).expect("write the case");
    (dir, path)
}

/// The error contract of every loader: a non-empty message that names the file.
pub fn check_error(message: &str, path: &std::path::Path) -> Result<(), TestCaseError> {
    prop_assert!(!message.trim().is_empty(), "empty error message");
    let shown = path.display().to_string();
    prop_assert!(
        message.contains(&shown),
        "the error does not name the file {}: {}",
        shown,
        message
    );
    Ok(())
}
