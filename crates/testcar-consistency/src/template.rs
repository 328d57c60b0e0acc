//! `{{ name }}` / `{{ name | filter }}` templates for suite URLs, headers and bodies.
//! Parsed once when the suite loads, so an unknown variable is reported with its line.

use base64::Engine;

/// Variables a template may use.
pub const VARIABLES: &[&str] = &[
    "target", "key", "value", "from", "to", "amount", "client", "seq",
];
const FILTERS: &[&str] = &["base64", "url", "json"];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Var {
        name: &'static str,
        filter: Option<&'static str>,
    },
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
}

/// Values for one request.
#[derive(Debug, Clone, Default)]
pub struct Vars<'a> {
    /// Base URL of the service, without a trailing slash.
    pub target: &'a str,
    /// The key.
    pub key: &'a str,
    /// The value written / appended.
    pub value: &'a str,
    /// cas: expected value; transfer: debited account.
    pub from: &'a str,
    /// cas: new value; transfer: credited account.
    pub to: &'a str,
    /// transfer: amount.
    pub amount: i64,
    /// Client number.
    pub client: u64,
    /// Operation number within the client.
    pub seq: u64,
}

impl Template {
    /// Parse `text`; the error says which variable or filter is unknown.
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            if start > 0 {
                pieces.push(Piece::Text(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let end = after
                .find("}}")
                .ok_or_else(|| format!("unclosed {{{{ in {text:?}"))?;
            let inner = after[..end].trim();
            let (name, filter) = match inner.split_once('|') {
                Some((n, f)) => (n.trim(), Some(f.trim())),
                None => (inner, None),
            };
            let name = VARIABLES.iter().find(|v| **v == name).ok_or_else(|| {
                format!(
                    "unknown variable {name:?} (expected one of {})",
                    VARIABLES.join(", ")
                )
            })?;
            let filter = match filter {
                None => None,
                Some(f) => Some(*FILTERS.iter().find(|x| **x == f).ok_or_else(|| {
                    format!(
                        "unknown filter {f:?} (expected one of {})",
                        FILTERS.join(", ")
                    )
                })?),
            };
            pieces.push(Piece::Var { name, filter });
            rest = &after[end + 2..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_string()));
        }
        Ok(Template { pieces })
    }

    /// Fill in the variables.
    pub fn render(&self, vars: &Vars<'_>) -> String {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Var { name, filter } => {
                    let owned;
                    let raw: &str = match *name {
                        "target" => vars.target,
                        "key" => vars.key,
                        "value" => vars.value,
                        "from" => vars.from,
                        "to" => vars.to,
                        "amount" => {
                            owned = vars.amount.to_string();
                            &owned
                        }
                        "client" => {
                            owned = vars.client.to_string();
                            &owned
                        }
                        _ => {
                            owned = vars.seq.to_string();
                            &owned
                        }
                    };
                    match filter {
                        Some("base64") => {
                            out.push_str(&base64::engine::general_purpose::STANDARD.encode(raw))
                        }
                        Some("url") => {
                            for b in raw.bytes() {
                                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                                    out.push(b as char);
                                } else {
                                    out.push_str(&format!("%{b:02X}"));
                                }
                            }
                        }
                        Some(_) => {
                            out.push_str(&serde_json::Value::String(raw.to_string()).to_string())
                        }
                        None => out.push_str(raw),
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_variables_and_filters() {
        let t = Template::parse(
            r#"{"key":"{{ key | base64 }}","v":{{value|json}}} {{target}}/x/{{key|url}}"#,
        )
        .unwrap();
        let vars = Vars {
            target: "http://h",
            key: "a b",
            value: "q\"",
            ..Vars::default()
        };
        assert_eq!(
            t.render(&vars),
            r#"{"key":"YSBi","v":"q\""} http://h/x/a%20b"#
        );
    }

    #[test]
    fn unknown_names_are_errors() {
        assert!(
            Template::parse("{{ nope }}")
                .unwrap_err()
                .contains("unknown variable \"nope\"")
        );
        assert!(
            Template::parse("{{ key | hex }}")
                .unwrap_err()
                .contains("unknown filter \"hex\"")
        );
        assert!(Template::parse("{{ key ").unwrap_err().contains("unclosed"));
    }
}
