//! Escaping for text placed into HTML and SVG: every string that came from a result
//! document or an Artillery report (suite names, output tails, messages) goes through here.

use std::fmt::Write as _;

/// Escape `text` for use as element content or a quoted attribute value (HTML and SVG).
///
/// Quotes are escaped too, so the same function is safe inside `"..."` and `'...'`
/// attributes. Terminal colour sequences (`ESC [ … m`, common in exec output tails) are
/// removed, and other control characters but tab/newline are dropped because XML (SVG)
/// rejects them.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            // CSI: parameters and intermediates, then one final byte in @..~.
            chars.next();
            for f in chars.by_ref() {
                if ('@'..='~').contains(&f) {
                    break;
                }
            }
            continue;
        }
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// A relative link target for a file in the results folder, or `None` when the path could
/// navigate elsewhere (a scheme such as `javascript:`, an absolute path or a `..` step).
///
/// Result documents store report paths relative to the results folder, and `report.html`
/// lives in that folder, so a safe relative path links correctly from the page.
pub fn relative_href(path: &str) -> Option<String> {
    let path = path.trim();
    if path.is_empty()
        || path.starts_with('/')
        || path.starts_with('\\')
        || path.contains(':')
        || path.split(['/', '\\']).any(|step| step == "..")
    {
        return None;
    }
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    Some(out)
}

/// A string usable as an HTML `id` (and in `#fragment` links): letters, digits, `-`, `_`.
pub fn anchor(prefix: &str, index: usize, name: &str) -> String {
    let mut out = format!("{prefix}-{index}-");
    for c in name.chars().take(40) {
        if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
            out.push(c.to_ascii_lowercase());
        } else {
            out.push('-');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<script>alert("x&y")</script>'"#),
            "&lt;script&gt;alert(&quot;x&amp;y&quot;)&lt;/script&gt;&#39;"
        );
    }

    #[test]
    fn drops_control_characters_and_colours_but_keeps_newlines() {
        assert_eq!(
            escape("a\u{1b}[1;31mb\u{1b}[0m\nc\td\u{0}\u{7}"),
            "ab\nc\td"
        );
        // A lone ESC is dropped, the text after it kept.
        assert_eq!(escape("x\u{1b}y"), "xy");
    }

    #[test]
    fn relative_href_refuses_escapes_from_the_results_folder() {
        assert_eq!(
            relative_href("register/history.html").as_deref(),
            Some("register/history.html")
        );
        assert_eq!(
            relative_href("my suite/h#1.html").as_deref(),
            Some("my%20suite/h%231.html")
        );
        for bad in [
            "javascript:alert(1)",
            "/etc/passwd",
            "../secret.html",
            "a/../../b",
            "http://example.com/x",
            "",
            "\\\\host\\share",
        ] {
            assert_eq!(relative_href(bad), None, "{bad}");
        }
    }

    #[test]
    fn anchors_are_plain() {
        assert_eq!(anchor("suite", 2, "GET <x> & y"), "suite-2-get--x----y");
    }
}
