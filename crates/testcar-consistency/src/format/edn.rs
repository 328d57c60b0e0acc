//! The small subset of EDN that Jepsen histories use: maps, vectors, keywords, strings,
//! integers, `nil` and booleans. Enough to read `{:process 0, :type :ok, :f :get, ...}`.

/// An EDN value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edn {
    /// `nil`
    Nil,
    /// `true` / `false`
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A string.
    Str(String),
    /// A keyword, without its colon.
    Keyword(String),
    /// A symbol (bare word).
    Symbol(String),
    /// `[...]` or `(...)`
    Vector(Vec<Edn>),
    /// `{...}`, in written order.
    Map(Vec<(Edn, Edn)>),
}

impl Edn {
    /// Look up a keyword key in a map.
    pub fn get(&self, keyword: &str) -> Option<&Edn> {
        match self {
            Edn::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(k, Edn::Keyword(n) if n == keyword))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The value as a scalar text (`3`, `"x"` → `x`), `None` for nil.
    pub fn scalar(&self) -> Result<Option<String>, String> {
        match self {
            Edn::Nil => Ok(None),
            Edn::Int(i) => Ok(Some(i.to_string())),
            Edn::Str(s) => Ok(Some(s.clone())),
            Edn::Symbol(s) => Ok(Some(s.clone())),
            other => Err(format!("expected a number, a string or nil, found {other}")),
        }
    }
}

impl std::fmt::Display for Edn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Edn::Nil => f.write_str("nil"),
            Edn::Bool(b) => write!(f, "{b}"),
            Edn::Int(i) => write!(f, "{i}"),
            Edn::Str(s) => write!(f, "{s:?}"),
            Edn::Keyword(k) => write!(f, ":{k}"),
            Edn::Symbol(s) => f.write_str(s),
            Edn::Vector(v) => {
                f.write_str("[")?;
                for (i, x) in v.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{x}")?;
                }
                f.write_str("]")
            }
            Edn::Map(m) => {
                f.write_str("{")?;
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k} {v}")?;
                }
                f.write_str("}")
            }
        }
    }
}

/// Parse one EDN value that must span the whole text (surrounding whitespace allowed).
pub fn parse(text: &str) -> Result<Edn, String> {
    let mut p = Parser {
        s: text.as_bytes(),
        i: 0,
    };
    let v = p.value()?;
    p.skip_ws();
    if p.i != p.s.len() {
        return Err(format!(
            "unexpected text after the value at column {}",
            p.i + 1
        ));
    }
    Ok(v)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.i < self.s.len()
            && (self.s[self.i].is_ascii_whitespace() || self.s[self.i] == b',')
        {
            self.i += 1;
        }
    }

    fn err(&self, what: &str) -> String {
        format!("{what} at column {}", self.i + 1)
    }

    fn value(&mut self) -> Result<Edn, String> {
        self.skip_ws();
        let Some(&c) = self.s.get(self.i) else {
            return Err(self.err("expected a value, found the end of the line"));
        };
        match c {
            b'{' => {
                self.i += 1;
                let mut entries = Vec::new();
                loop {
                    self.skip_ws();
                    match self.s.get(self.i) {
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Edn::Map(entries));
                        }
                        None => return Err(self.err("unclosed map: expected '}'")),
                        _ => {
                            let k = self.value()?;
                            self.skip_ws();
                            if matches!(self.s.get(self.i), Some(b'}') | None) {
                                return Err(self.err(&format!("map key {k} has no value")));
                            }
                            let v = self.value()?;
                            entries.push((k, v));
                        }
                    }
                }
            }
            b'[' | b'(' => {
                let close = if c == b'[' { b']' } else { b')' };
                self.i += 1;
                let mut items = Vec::new();
                loop {
                    self.skip_ws();
                    match self.s.get(self.i) {
                        Some(&x) if x == close => {
                            self.i += 1;
                            return Ok(Edn::Vector(items));
                        }
                        None => {
                            return Err(
                                self.err(&format!("unclosed vector: expected '{}'", close as char))
                            );
                        }
                        _ => items.push(self.value()?),
                    }
                }
            }
            b'"' => {
                self.i += 1;
                let mut out = Vec::new();
                loop {
                    match self.s.get(self.i) {
                        None => return Err(self.err("unclosed string")),
                        Some(b'"') => {
                            self.i += 1;
                            break;
                        }
                        Some(b'\\') => {
                            let esc = self.s.get(self.i + 1).copied();
                            out.push(match esc {
                                Some(b'n') => b'\n',
                                Some(b't') => b'\t',
                                Some(b'r') => b'\r',
                                Some(b'"') => b'"',
                                Some(b'\\') => b'\\',
                                _ => return Err(self.err("unsupported escape in string")),
                            });
                            self.i += 2;
                        }
                        Some(&b) => {
                            out.push(b);
                            self.i += 1;
                        }
                    }
                }
                String::from_utf8(out)
                    .map(Edn::Str)
                    .map_err(|_| self.err("string is not UTF-8"))
            }
            _ => {
                let start = self.i;
                while self.i < self.s.len() {
                    let b = self.s[self.i];
                    if b.is_ascii_whitespace() || b",{}[]()\"".contains(&b) {
                        break;
                    }
                    self.i += 1;
                }
                let tok = std::str::from_utf8(&self.s[start..self.i]).unwrap_or("");
                if tok.is_empty() {
                    return Err(self.err(&format!("unexpected character {:?}", c as char)));
                }
                Ok(match tok {
                    "nil" => Edn::Nil,
                    "true" => Edn::Bool(true),
                    "false" => Edn::Bool(false),
                    _ if tok.starts_with(':') && tok.len() > 1 => {
                        Edn::Keyword(tok[1..].to_string())
                    }
                    _ => match tok.parse::<i64>() {
                        Ok(i) => Edn::Int(i),
                        Err(_) if tok.as_bytes()[0].is_ascii_digit() || tok.starts_with('-') => {
                            return Err(format!("{tok:?} is not an integer"));
                        }
                        Err(_) => Edn::Symbol(tok.to_string()),
                    },
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_jepsen_event() {
        let v = parse(r#"{:process 9, :type :invoke, :f :append, :key "0", :value "x 9 0 y"}"#)
            .unwrap();
        assert_eq!(v.get("process"), Some(&Edn::Int(9)));
        assert_eq!(v.get("f"), Some(&Edn::Keyword("append".into())));
        assert_eq!(v.get("value"), Some(&Edn::Str("x 9 0 y".into())));
        assert_eq!(v.get("missing"), None);
    }

    #[test]
    fn parses_vectors_nested_maps_and_escapes() {
        let v = parse(r#"{:value [3 0], :m {:from 1 :to 2}, :s "a\"b"}"#).unwrap();
        assert_eq!(
            v.get("value"),
            Some(&Edn::Vector(vec![Edn::Int(3), Edn::Int(0)]))
        );
        assert_eq!(v.get("m").unwrap().get("to"), Some(&Edn::Int(2)));
        assert_eq!(v.get("s"), Some(&Edn::Str("a\"b".into())));
    }

    #[test]
    fn rejects_broken_input_with_column() {
        assert!(parse("{:a 1").unwrap_err().contains("unclosed map"));
        assert!(parse("{:a}").unwrap_err().contains("has no value"));
        assert!(parse(r#""abc"#).unwrap_err().contains("unclosed string"));
        assert!(parse("{:a 1} x").unwrap_err().contains("column 8"));
    }
}
