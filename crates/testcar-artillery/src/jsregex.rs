//! The regex dialect of captures and `matchesRegexp`: JavaScript patterns and flags,
//! compiled by the `regex` crate. A leaf module, so the reader (which checks patterns at
//! load) and the VU (which runs them) share it without depending on each other.

/// Compile a JavaScript-style pattern with flags (`i`, `m`, `s`, `u`; `g`/`y` ignored).
pub fn compile(pattern: &str, flags: &str) -> Result<regex::Regex, String> {
    let mut b = regex::RegexBuilder::new(pattern);
    for f in flags.chars() {
        match f {
            'i' => {
                b.case_insensitive(true);
            }
            'm' => {
                b.multi_line(true);
            }
            's' => {
                b.dot_matches_new_line(true);
            }
            'g' | 'y' | 'u' | 'd' => {}
            other => return Err(format!("unknown regex flag {other:?}")),
        }
    }
    b.build().map_err(|e| {
        format!("pattern not supported (no look-around or back-references; an exec suite running real Artillery can use them): {e}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookaround_is_rejected_with_advice() {
        let err = compile("a(?=b)", "").unwrap_err();
        assert!(err.contains("exec suite"), "{err}");
    }
}
