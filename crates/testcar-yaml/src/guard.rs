//! A cheap check run before a YAML text reaches the parser. libyaml (under the serde parser)
//! scans flow collections nested N deep in time that grows with N² before serde's own
//! recursion limit applies: 100 000 `{a: ` took minutes. Real files nest a few levels.

/// Deepest flow nesting (`[` / `{`) accepted.
pub const MAX_FLOW_DEPTH: usize = 256;

/// Where the text first nests deeper than [`MAX_FLOW_DEPTH`]: 1-based (line, column).
/// Brackets are counted everywhere, even inside quoted scalars: only a text with hundreds
/// of unmatched brackets in a row is refused, which no real file has.
pub fn too_deep(text: &str) -> Option<(usize, usize)> {
    let (mut depth, mut line, mut col) = (0usize, 1usize, 0usize);
    for c in text.chars() {
        col += 1;
        match c {
            '\n' => {
                line += 1;
                col = 0;
            }
            '[' | '{' => {
                depth += 1;
                if depth > MAX_FLOW_DEPTH {
                    return Some((line, col));
                }
            }
            ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

/// The message for [`too_deep`].
pub fn too_deep_message() -> String {
    format!("the document nests deeper than {MAX_FLOW_DEPTH} levels of [ ] or {{ }}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_unmatched_brackets_only() {
        assert_eq!(too_deep("a: [1, [2], {b: c}]\n"), None);
        let ok = format!("{}{}", "[".repeat(256), "]".repeat(256));
        assert_eq!(too_deep(&ok), None);
        let many = "[]".repeat(10_000);
        assert_eq!(too_deep(&many), None);
        assert_eq!(
            too_deep(&format!("x:\n  {}", "{a: ".repeat(300))),
            Some((2, 3 + 4 * 256))
        );
    }
}
