//! `--dotenv FILE`: `KEY=VALUE` lines whose values `{{ $env.KEY }}` sees when the process
//! environment does not set `KEY` (the dotenv package never overrides what is already set).

use std::collections::BTreeMap;
use std::path::Path;

use super::ScriptError;

/// Read a dotenv file: `KEY=VALUE` or `export KEY=VALUE` lines, `#` comments and blank lines;
/// values may be single-quoted (as written) or double-quoted (`\n` is a newline).
pub fn read(path: &Path) -> Result<BTreeMap<String, String>, ScriptError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ScriptError::Read {
        file: file.clone(),
        source,
    })?;
    parse(&text, &file)
}

/// Parse dotenv text; `file` names it in errors.
pub fn parse(text: &str, file: &str) -> Result<BTreeMap<String, String>, ScriptError> {
    let mut out = BTreeMap::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line);
        let bad = |message: &str| ScriptError::Invalid {
            file: file.to_string(),
            line: i + 1,
            col: 1,
            key: line.split('=').next().unwrap_or("").trim().to_string(),
            message: message.to_string(),
        };
        let Some((key, value)) = line.split_once('=') else {
            return Err(bad("expected KEY=VALUE"));
        };
        let key = key.trim();
        if key.is_empty()
            || !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == '-')
        {
            return Err(bad(
                "expected a variable name (letters, digits, _) before =",
            ));
        }
        let value = value.trim();
        let value = if let Some(v) = value.strip_prefix('"') {
            let v = v
                .strip_suffix('"')
                .ok_or_else(|| bad("unterminated double quote"))?;
            v.replace("\\n", "\n").replace("\\\"", "\"")
        } else if let Some(v) = value.strip_prefix('\'') {
            v.strip_suffix('\'')
                .ok_or_else(|| bad("unterminated single quote"))?
                .to_string()
        } else {
            // An unquoted value ends at a ` #` comment.
            match value.find(" #") {
                Some(i) => value[..i].trim_end().to_string(),
                None => value.to_string(),
            }
        };
        out.insert(key.to_string(), value);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_forms_people_write() {
        let env = parse(
            "# staging\nRATE=5\nexport TOKEN_URL=https://idp/token # the IdP\nGREETING=\"hello\\nworld\"\nRAW='a # b'\n\nEMPTY=\n",
            ".env",
        )
        .unwrap();
        assert_eq!(env["RATE"], "5");
        assert_eq!(env["TOKEN_URL"], "https://idp/token");
        assert_eq!(env["GREETING"], "hello\nworld");
        assert_eq!(env["RAW"], "a # b");
        assert_eq!(env["EMPTY"], "");
    }

    #[test]
    fn a_bad_line_names_the_file_and_line() {
        let err = parse("A=1\nnot a pair\n", "ci.env")
            .unwrap_err()
            .to_string();
        assert_eq!(err, "ci.env:2:1: not a pair: expected KEY=VALUE");
        let err = parse("Q=\"open\n", "ci.env").unwrap_err().to_string();
        assert!(
            err.starts_with("ci.env:1:1: Q: unterminated double quote"),
            "{err}"
        );
    }
}
