//! The EDN that Jepsen histories contain: maps, vectors, lists, sets, keywords, strings,
//! numbers, characters, `nil`, booleans, tagged literals (`#jepsen.independent.Tuple{..}`),
//! comments and `#_` discards. A history is a stream of values, possibly one big vector.

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
    /// A number that is not an integer (`1.5`, `1/2`, `12N` beyond i64, `1.5M`), as written.
    Float(String),
    /// `[...]`, `(...)` or `#{...}`
    Vector(Vec<Edn>),
    /// `#tag value`, e.g. `#inst "..."` or a printed record `#jepsen.independent.Tuple{..}`.
    Tagged(String, Box<Edn>),
    /// `{...}`, in written order.
    Map(Vec<(Edn, Edn)>),
}

impl Edn {
    /// Look up a keyword key in a map (or a string key: JSON-encoded events).
    pub fn get(&self, keyword: &str) -> Option<&Edn> {
        match self {
            Edn::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(k, Edn::Keyword(n) | Edn::Str(n) if n == keyword))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// The value as a scalar text (`3`, `"x"` → `x`, `:a` → `:a`), `None` for nil.
    pub fn scalar(&self) -> Result<Option<String>, String> {
        match self {
            Edn::Nil => Ok(None),
            Edn::Int(i) => Ok(Some(i.to_string())),
            Edn::Str(s) | Edn::Symbol(s) | Edn::Float(s) => Ok(Some(s.clone())),
            Edn::Bool(b) => Ok(Some(b.to_string())),
            Edn::Keyword(k) => Ok(Some(format!(":{k}"))),
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
            Edn::Symbol(s) | Edn::Float(s) => f.write_str(s),
            Edn::Tagged(t, v) => write!(f, "#{t} {v}"),
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
    let mut p = Parser::new(text);
    let v = p.value().map_err(|e| e.in_line())?;
    p.skip_ws().map_err(|e| e.in_line())?;
    if p.i != p.s.len() {
        return Err(p.fail("unexpected text after the value").in_line());
    }
    Ok(v)
}

/// Parse one EDN value at the start of `text`; also return the unparsed rest (Jepsen log
/// lines put the error after the value).
pub fn parse_prefix(text: &str) -> Result<(Edn, &str), String> {
    let mut p = Parser::new(text);
    let v = p.value().map_err(|e| e.in_line())?;
    Ok((v, &text[p.i..]))
}

/// A syntax error in a stream: where, and what was expected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What went wrong.
    pub message: String,
}

/// Parse a whole file of EDN values, each with the line it starts on. A file that is one
/// vector of maps (`[{..}\n {..}]`, how older Jepsen versions wrote `history.edn`) yields its
/// elements.
pub fn parse_stream(text: &str) -> Result<Vec<(usize, Edn)>, StreamError> {
    let mut p = Parser::new(text);
    // Offsets only grow, so lines are counted incrementally.
    let counted = std::cell::Cell::new((0usize, 1usize, 0usize)); // (offset, line, line start)
    let locate = |p: &Parser<'_>, at: usize| {
        let at = at.min(p.s.len());
        let (mut from, mut line, mut start) = counted.get();
        if at < from {
            (from, line, start) = (0, 1, 0);
        }
        for (i, &b) in p.s[from..at].iter().enumerate() {
            if b == b'\n' {
                line += 1;
                start = from + i + 1;
            }
        }
        counted.set((at, line, start));
        (line, at - start + 1)
    };
    let fail = |p: &Parser<'_>, e: Failure| {
        let (line, column) = locate(p, e.at);
        StreamError {
            line,
            column,
            message: format!("{} at column {column}", e.message),
        }
    };
    let mut out = Vec::new();
    p.skip_ws().map_err(|e| fail(&p, e))?;
    // One vector holding the whole history.
    if p.s.get(p.i) == Some(&b'[') {
        let mut q = Parser {
            s: p.s,
            i: p.i + 1,
            depth: 0,
        };
        q.skip_ws().map_err(|e| fail(&q, e))?;
        if matches!(q.s.get(q.i), Some(b'{') | Some(b']')) {
            loop {
                q.skip_ws().map_err(|e| fail(&q, e))?;
                match q.s.get(q.i) {
                    Some(b']') => {
                        q.i += 1;
                        break;
                    }
                    None => {
                        return Err(fail(&q, q.fail("unclosed history vector: expected ']'")));
                    }
                    _ => {
                        let at = q.i;
                        let v = q.value().map_err(|e| fail(&q, e))?;
                        out.push((locate(&q, at).0, v));
                    }
                }
            }
            p.i = q.i;
        }
    }
    loop {
        p.skip_ws().map_err(|e| fail(&p, e))?;
        if p.i >= p.s.len() {
            return Ok(out);
        }
        let at = p.i;
        let v = p.value().map_err(|e| fail(&p, e))?;
        out.push((locate(&p, at).0, v));
    }
}

/// A syntax error at a byte offset.
#[derive(Debug)]
struct Failure {
    at: usize,
    message: String,
}

impl Failure {
    /// The message with a column, for text that is a single line.
    fn in_line(self) -> String {
        format!("{} at column {}", self.message, self.at + 1)
    }
}

/// Deepest nesting accepted (collections, tags and discards). Histories nest a few levels;
/// the parser is recursive, so without a bound a file of `[[[[…` overflows the stack and
/// aborts the process.
pub const MAX_DEPTH: usize = 128;

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Parser<'a> {
        Parser {
            s: text.as_bytes(),
            i: 0,
            depth: 0,
        }
    }

    fn fail(&self, message: &str) -> Failure {
        Failure {
            at: self.i,
            message: message.to_string(),
        }
    }

    /// Skip whitespace, commas, `;` comments and `#_` discarded values.
    fn skip_ws(&mut self) -> Result<(), Failure> {
        while let Some(&b) = self.s.get(self.i) {
            if b.is_ascii_whitespace() || b == b',' {
                self.i += 1;
            } else if b == b';' {
                while self.s.get(self.i).is_some_and(|&b| b != b'\n') {
                    self.i += 1;
                }
            } else if b == b'#' && self.s.get(self.i + 1) == Some(&b'_') {
                self.i += 2;
                self.value()?;
            } else {
                break;
            }
        }
        Ok(())
    }

    /// Items up to `close`, after the opening bracket.
    fn items(&mut self, close: u8, what: &str) -> Result<Vec<Edn>, Failure> {
        let mut items = Vec::new();
        loop {
            self.skip_ws()?;
            match self.s.get(self.i) {
                Some(&x) if x == close => {
                    self.i += 1;
                    return Ok(items);
                }
                None => {
                    return Err(
                        self.fail(&format!("unclosed {what}: expected '{}'", close as char))
                    );
                }
                _ => items.push(self.value()?),
            }
        }
    }

    fn token(&mut self) -> &'a str {
        let start = self.i;
        while let Some(&b) = self.s.get(self.i) {
            if b.is_ascii_whitespace() || b",{}[]()\";".contains(&b) {
                break;
            }
            self.i += 1;
        }
        std::str::from_utf8(&self.s[start..self.i]).unwrap_or("")
    }

    fn value(&mut self) -> Result<Edn, Failure> {
        if self.depth >= MAX_DEPTH {
            return Err(self.fail(&format!("values nest deeper than {MAX_DEPTH} levels")));
        }
        self.depth += 1;
        let v = self.value_at_depth();
        self.depth -= 1;
        v
    }

    fn value_at_depth(&mut self) -> Result<Edn, Failure> {
        self.skip_ws()?;
        let Some(&c) = self.s.get(self.i) else {
            return Err(self.fail("expected a value, found the end of the input"));
        };
        match c {
            b'{' => {
                let open = self.i;
                self.i += 1;
                let items = self.items(b'}', "map")?;
                if items.len() % 2 != 0 {
                    let key = &items[items.len() - 1];
                    return Err(Failure {
                        at: open,
                        message: format!("map key {key} has no value"),
                    });
                }
                let mut entries = Vec::with_capacity(items.len() / 2);
                let mut it = items.into_iter();
                while let (Some(k), Some(v)) = (it.next(), it.next()) {
                    entries.push((k, v));
                }
                Ok(Edn::Map(entries))
            }
            b'[' => {
                self.i += 1;
                Ok(Edn::Vector(self.items(b']', "vector")?))
            }
            b'(' => {
                self.i += 1;
                Ok(Edn::Vector(self.items(b')', "list")?))
            }
            b'#' if self.s.get(self.i + 1) == Some(&b'{') => {
                self.i += 2;
                Ok(Edn::Vector(self.items(b'}', "set")?))
            }
            b'#' => {
                self.i += 1;
                let tag = self.token();
                if tag.is_empty() {
                    return Err(self.fail("expected a tag after '#'"));
                }
                let inner = self.value()?;
                Ok(Edn::Tagged(tag.to_string(), Box::new(inner)))
            }
            b'"' => self.string(),
            b'\\' => {
                self.i += 1;
                let name = self.token();
                let ch = match name {
                    "newline" => "\n".to_string(),
                    "space" => " ".to_string(),
                    "tab" => "\t".to_string(),
                    "return" => "\r".to_string(),
                    _ if name.chars().count() == 1 => name.to_string(),
                    // `\,` and similar: the one character the token stopped at.
                    "" if self.i < self.s.len() => {
                        self.i += 1;
                        (self.s[self.i - 1] as char).to_string()
                    }
                    _ => return Err(self.fail(&format!("unknown character \\{name}"))),
                };
                Ok(Edn::Str(ch))
            }
            _ => {
                let tok = self.token();
                if tok.is_empty() {
                    return Err(self.fail(&format!("unexpected character {:?}", c as char)));
                }
                Ok(match tok {
                    "nil" => Edn::Nil,
                    "true" => Edn::Bool(true),
                    "false" => Edn::Bool(false),
                    _ if tok.starts_with(':') && tok.len() > 1 => {
                        Edn::Keyword(tok[1..].to_string())
                    }
                    _ if number_like(tok) => number(tok).map_err(|m| Failure {
                        at: self.i - tok.len(),
                        message: m,
                    })?,
                    _ => Edn::Symbol(tok.to_string()),
                })
            }
        }
    }

    fn string(&mut self) -> Result<Edn, Failure> {
        let open = self.i;
        self.i += 1;
        let mut out = Vec::new();
        loop {
            match self.s.get(self.i) {
                None => {
                    return Err(Failure {
                        at: open,
                        message: "unclosed string".into(),
                    });
                }
                Some(b'"') => {
                    self.i += 1;
                    break;
                }
                Some(b'\\') => {
                    let esc = self.s.get(self.i + 1).copied();
                    match esc {
                        Some(b'n') => out.push(b'\n'),
                        Some(b't') => out.push(b'\t'),
                        Some(b'r') => out.push(b'\r'),
                        Some(b'b') => out.push(8),
                        Some(b'f') => out.push(12),
                        Some(b'"') => out.push(b'"'),
                        Some(b'\\') => out.push(b'\\'),
                        Some(b'u') => {
                            let hex = self
                                .s
                                .get(self.i + 2..self.i + 6)
                                .and_then(|h| std::str::from_utf8(h).ok())
                                .and_then(|h| u32::from_str_radix(h, 16).ok())
                                .ok_or_else(|| self.fail("expected 4 hex digits after \\u"))?;
                            let ch = char::from_u32(hex).unwrap_or(char::REPLACEMENT_CHARACTER);
                            out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                            self.i += 4;
                        }
                        _ => return Err(self.fail("unsupported escape in string")),
                    }
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
            .map_err(|_| self.fail("string is not UTF-8"))
    }
}

/// Whether a bare token is meant as a number (`12`, `-3`, `+4`, `1.5`, `1/2`, `7N`).
fn number_like(tok: &str) -> bool {
    let digits = tok.strip_prefix(['-', '+']).unwrap_or(tok);
    digits.as_bytes().first().is_some_and(u8::is_ascii_digit)
}

fn number(tok: &str) -> Result<Edn, String> {
    let int = tok.strip_suffix('N').unwrap_or(tok);
    let unsigned = int.strip_prefix(['+', '-']).unwrap_or(int);
    let negative = int.starts_with('-');
    // Clojure's printer also writes hexadecimal (`0x5e2d`, in #object tags) and radix forms.
    let radix = if let Some(hex) = unsigned.strip_prefix("0x").or(unsigned.strip_prefix("0X")) {
        Some((16, hex))
    } else {
        unsigned
            .split_once(['r', 'R'])
            .and_then(|(r, d)| Some((r.parse::<u32>().ok().filter(|r| (2..=36).contains(r))?, d)))
    };
    if let Some((r, digits)) = radix {
        return i64::from_str_radix(digits, r)
            .map(|i| Edn::Int(if negative { -i } else { i }))
            .map_err(|_| format!("{tok:?} is not a number"));
    }
    if let Ok(i) = unsigned.parse::<i64>() {
        return Ok(Edn::Int(if negative { -i } else { i }));
    }
    let dec = tok.strip_suffix('M').unwrap_or(tok);
    let valid = dec.parse::<f64>().is_ok()
        || int.bytes().skip(1).all(|b| b.is_ascii_digit())
        || dec.split_once('/').is_some_and(|(n, d)| {
            n.parse::<i64>().is_ok() && d.bytes().all(|b| b.is_ascii_digit()) && !d.is_empty()
        });
    if valid {
        Ok(Edn::Float(tok.to_string()))
    } else {
        Err(format!("{tok:?} is not a number"))
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

    #[test]
    fn reads_what_clojure_prints() {
        let v = parse(
            r#"{:s #{"n1" "n2"}, :o #object[java.net.Socket 0x5e2d "s"], :c \a, :nl \newline,
               :f 1.5, :big 123456789012345678901234N, :r 1/3, :m 2.5M, :n -7, :h 0xff,
               :u "caf\u00e9", :k :ns/kw, :t #inst "2024-01-01T00:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(
            v.get("s"),
            Some(&Edn::Vector(vec![
                Edn::Str("n1".into()),
                Edn::Str("n2".into())
            ]))
        );
        assert!(matches!(v.get("o"), Some(Edn::Tagged(t, _)) if t == "object"));
        assert_eq!(v.get("c"), Some(&Edn::Str("a".into())));
        assert_eq!(v.get("nl"), Some(&Edn::Str("\n".into())));
        assert_eq!(v.get("f"), Some(&Edn::Float("1.5".into())));
        assert_eq!(
            v.get("big"),
            Some(&Edn::Float("123456789012345678901234N".into()))
        );
        assert_eq!(v.get("r"), Some(&Edn::Float("1/3".into())));
        assert_eq!(v.get("m"), Some(&Edn::Float("2.5M".into())));
        assert_eq!(v.get("n"), Some(&Edn::Int(-7)));
        assert_eq!(v.get("h"), Some(&Edn::Int(255)));
        assert_eq!(v.get("u"), Some(&Edn::Str("café".into())));
        assert_eq!(v.get("k"), Some(&Edn::Keyword("ns/kw".into())));
        assert!(matches!(v.get("t"), Some(Edn::Tagged(t, _)) if t == "inst"));
    }

    #[test]
    fn comments_and_discards_are_skipped() {
        let v = parse("{:a 1 ; the rest of the line\n :b #_ {:x 1} 2}").unwrap();
        assert_eq!(v.get("a"), Some(&Edn::Int(1)));
        assert_eq!(v.get("b"), Some(&Edn::Int(2)));
    }

    /// Found by the hostile-input fuzz property: 30 000 open brackets overflowed the stack
    /// (the process aborted). Now a typed error with the line.
    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        let text = include_str!("../../test_data/deep-nesting.edn");
        let err = parse_stream(text).unwrap_err();
        assert_eq!(err.line, 1);
        assert!(err.message.contains("deeper than 128 levels"), "{err:?}");
        let err = crate::format::parse(
            text,
            "deep.edn",
            crate::format::Format::Edn,
            crate::ModelKind::Register,
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("deep.edn:1: "), "{err}");
        // a tag or a discard nests too
        assert!(parse(&"#t ".repeat(10_000)).is_err());
        assert!(parse(&format!("{}1", "#_".repeat(10_000))).is_err());
        // nesting within the bound still reads
        let ok = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert!(parse(&ok).is_ok());
    }

    #[test]
    fn value_prefix_leaves_the_rest() {
        let (v, rest) = parse_prefix("[0 [2 3]]\t:conn-closed").unwrap();
        assert_eq!(v.to_string(), "[0 [2 3]]");
        assert_eq!(rest, "\t:conn-closed");
    }

    #[test]
    fn streams_give_each_value_its_line_and_errors_their_line_and_column() {
        let s = parse_stream("{:a 1}\n\n{:b\n 2}\n").unwrap();
        assert_eq!(s.iter().map(|(l, _)| *l).collect::<Vec<_>>(), vec![1, 3]);
        let e = parse_stream("{:a 1}\n{:b 2}\n{:c 12x}\n").unwrap_err();
        assert_eq!((e.line, e.column), (3, 5), "{e:?}");
        assert!(e.message.starts_with("\"12x\" is not a number"), "{e:?}");
        let e = parse_stream("[{:a 1}\n {:b 2}\n").unwrap_err();
        assert!(e.message.contains("unclosed history vector"), "{e:?}");
        let e = parse_stream("{:a \"x\\q\"}").unwrap_err();
        assert!(e.message.contains("unsupported escape"), "{e:?}");
    }
}
