//! The small expression language of `ifTrue` and `ensure.conditions` (Artillery uses filtrex):
//! numbers, "strings", names with dots, arithmetic, comparisons, `and`/`or`/`not`, `in`.
//! A name with no value makes every comparison over it false, so the check fails.

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A number literal.
    Num(f64),
    /// A string literal.
    Str(String),
    /// A variable or metric name.
    Name(String),
    /// A unary operator.
    Unary(&'static str, Box<Expr>),
    /// A binary operator.
    Binary(&'static str, Box<Expr>, Box<Expr>),
    /// `x in (a, b)`; negated for `not in`.
    In(Box<Expr>, Vec<Expr>, bool),
    /// `c ? a : b`.
    Cond(Box<Expr>, Box<Expr>, Box<Expr>),
    /// A built-in function call (`abs`, `ceil`, `floor`, `max`, `min`, `round`, `sqrt`, `log`).
    Call(String, Vec<Expr>),
}

/// An evaluated value.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    /// A number (booleans are 1 and 0, like filtrex).
    Num(f64),
    /// Text.
    Str(String),
    /// A name with no value.
    Missing,
}

impl Val {
    /// Truthiness: non-zero numbers and non-empty strings.
    pub fn truthy(&self) -> bool {
        match self {
            Val::Num(n) => *n != 0.0 && !n.is_nan(),
            Val::Str(s) => !s.is_empty(),
            Val::Missing => false,
        }
    }

    fn num(&self) -> Option<f64> {
        match self {
            Val::Num(n) => Some(*n),
            Val::Str(s) => s.trim().parse().ok(),
            Val::Missing => None,
        }
    }
}

/// The expression could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expression {expr:?}: {why}")]
pub struct ExprError {
    /// The expression.
    pub expr: String,
    /// What is wrong at which offset.
    pub why: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(f64),
    Str(String),
    Name(String),
    Op(&'static str),
}

const OPS: [&str; 18] = [
    "==", "!=", "<=", ">=", "<", ">", "+", "-", "*", "/", "%", "^", "(", ")", ",", "?", ":", "!",
];

fn tokenize(src: &str) -> Result<Vec<Tok>, String> {
    let b = src.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    while i < b.len() {
        let c = b[i] as char;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c.is_ascii_digit() || (c == '.' && b.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            let start = i;
            while i < b.len() && (b[i].is_ascii_digit() || b[i] == b'.') {
                i += 1;
            }
            if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
                i += 1;
                if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
                    i += 1;
                }
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
            }
            let n = src[start..i]
                .parse()
                .map_err(|_| format!("bad number at offset {start}"))?;
            out.push(Tok::Num(n));
            continue;
        }
        if c == '"' || c == '\'' {
            let start = i + 1;
            let Some(len) = src[start..].find(c) else {
                return Err(format!("unterminated quote at offset {i}"));
            };
            let text = src[start..start + len].to_string();
            // filtrex: "text" is a string, 'name' is a quoted variable name.
            out.push(if c == '"' {
                Tok::Str(text)
            } else {
                Tok::Name(text)
            });
            i = start + len + 1;
            continue;
        }
        if c.is_alphabetic() || c == '_' || c == '$' {
            let start = i;
            while i < b.len() {
                let d = b[i] as char;
                let next_is_word = b
                    .get(i + 1)
                    .is_some_and(|n| n.is_ascii_alphanumeric() || *n == b'_' || *n == b'.');
                if d.is_alphanumeric() || matches!(d, '_' | '$' | '.') {
                    i += 1;
                } else if matches!(d, '-' | '/') && next_is_word {
                    // Metric names such as `plugins.metrics-by-endpoint.response_time./x.p95`.
                    i += 1;
                } else {
                    break;
                }
            }
            let word = &src[start..i];
            out.push(match word {
                "and" => Tok::Op("and"),
                "or" => Tok::Op("or"),
                "not" => Tok::Op("not"),
                "in" => Tok::Op("in"),
                _ => Tok::Name(word.to_string()),
            });
            continue;
        }
        match OPS.iter().find(|op| src[i..].starts_with(**op)) {
            Some(op) => {
                out.push(Tok::Op(op));
                i += op.len();
            }
            None => return Err(format!("unexpected {c:?} at offset {i}")),
        }
    }
    Ok(out)
}

struct P {
    toks: Vec<Tok>,
    i: usize,
}

impl P {
    fn peek_op(&self, op: &str) -> bool {
        matches!(self.toks.get(self.i), Some(Tok::Op(o)) if *o == op)
    }
    fn eat(&mut self, op: &str) -> bool {
        if self.peek_op(op) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn expect(&mut self, op: &str) -> Result<(), String> {
        if self.eat(op) {
            Ok(())
        } else {
            Err(format!("expected {op:?}"))
        }
    }
    fn cond(&mut self) -> Result<Expr, String> {
        let c = self.or()?;
        if self.eat("?") {
            let a = self.cond()?;
            self.expect(":")?;
            let b = self.cond()?;
            return Ok(Expr::Cond(Box::new(c), Box::new(a), Box::new(b)));
        }
        Ok(c)
    }
    fn or(&mut self) -> Result<Expr, String> {
        let mut l = self.and()?;
        while self.eat("or") {
            l = Expr::Binary("or", Box::new(l), Box::new(self.and()?));
        }
        Ok(l)
    }
    fn and(&mut self) -> Result<Expr, String> {
        let mut l = self.not()?;
        while self.eat("and") {
            l = Expr::Binary("and", Box::new(l), Box::new(self.not()?));
        }
        Ok(l)
    }
    fn not(&mut self) -> Result<Expr, String> {
        if self.eat("not") || self.eat("!") {
            return Ok(Expr::Unary("not", Box::new(self.not()?)));
        }
        self.cmp()
    }
    fn cmp(&mut self) -> Result<Expr, String> {
        let l = self.add()?;
        for op in ["==", "!=", "<=", ">=", "<", ">"] {
            if self.eat(op) {
                return Ok(Expr::Binary(op, Box::new(l), Box::new(self.add()?)));
            }
        }
        let negated =
            if self.peek_op("not") && matches!(self.toks.get(self.i + 1), Some(Tok::Op("in"))) {
                self.i += 1;
                true
            } else {
                false
            };
        if self.eat("in") {
            self.expect("(")?;
            let mut items = vec![self.cond()?];
            while self.eat(",") {
                items.push(self.cond()?);
            }
            self.expect(")")?;
            return Ok(Expr::In(Box::new(l), items, negated));
        }
        Ok(l)
    }
    fn add(&mut self) -> Result<Expr, String> {
        let mut l = self.mul()?;
        loop {
            let op = if self.eat("+") {
                "+"
            } else if self.eat("-") {
                "-"
            } else {
                return Ok(l);
            };
            l = Expr::Binary(op, Box::new(l), Box::new(self.mul()?));
        }
    }
    fn mul(&mut self) -> Result<Expr, String> {
        let mut l = self.pow()?;
        loop {
            let op = ["*", "/", "%"].into_iter().find(|op| self.eat(op));
            match op {
                Some(op) => l = Expr::Binary(op, Box::new(l), Box::new(self.pow()?)),
                None => return Ok(l),
            }
        }
    }
    fn pow(&mut self) -> Result<Expr, String> {
        let l = self.unary()?;
        if self.eat("^") {
            return Ok(Expr::Binary("^", Box::new(l), Box::new(self.pow()?)));
        }
        Ok(l)
    }
    fn unary(&mut self) -> Result<Expr, String> {
        if self.eat("-") {
            return Ok(Expr::Unary("-", Box::new(self.unary()?)));
        }
        self.primary()
    }
    fn primary(&mut self) -> Result<Expr, String> {
        let tok = self.toks.get(self.i).cloned();
        self.i += 1;
        match tok {
            Some(Tok::Num(n)) => Ok(Expr::Num(n)),
            Some(Tok::Str(s)) => Ok(Expr::Str(s)),
            Some(Tok::Name(n)) => {
                if self.eat("(") {
                    let mut args = Vec::new();
                    if !self.eat(")") {
                        args.push(self.cond()?);
                        while self.eat(",") {
                            args.push(self.cond()?);
                        }
                        self.expect(")")?;
                    }
                    const FUNCS: [&str; 8] =
                        ["abs", "ceil", "floor", "log", "max", "min", "round", "sqrt"];
                    if !FUNCS.contains(&n.as_str()) {
                        return Err(format!(
                            "unknown function {n}(); supported: {}",
                            FUNCS.join(", ")
                        ));
                    }
                    Ok(Expr::Call(n, args))
                } else {
                    Ok(Expr::Name(n))
                }
            }
            Some(Tok::Op("(")) => {
                let e = self.cond()?;
                self.expect(")")?;
                Ok(e)
            }
            Some(Tok::Op(op)) => Err(format!("unexpected {op:?}")),
            None => Err("unexpected end".into()),
        }
    }
}

impl Expr {
    /// Parse `src`.
    pub fn parse(src: &str) -> Result<Expr, ExprError> {
        let err = |why: String| ExprError {
            expr: src.to_string(),
            why,
        };
        let toks = tokenize(src).map_err(err)?;
        let mut p = P { toks, i: 0 };
        let e = p.cond().map_err(err)?;
        if p.i != p.toks.len() {
            return Err(err(format!("unexpected token after position {}", p.i)));
        }
        Ok(e)
    }

    /// Every name the expression reads.
    pub fn names(&self, out: &mut Vec<String>) {
        match self {
            Expr::Name(n) => out.push(n.clone()),
            Expr::Num(_) | Expr::Str(_) => {}
            Expr::Unary(_, e) => e.names(out),
            Expr::Binary(_, a, b) => {
                a.names(out);
                b.names(out);
            }
            Expr::In(e, items, _) => {
                e.names(out);
                items.iter().for_each(|i| i.names(out));
            }
            Expr::Cond(c, a, b) => {
                c.names(out);
                a.names(out);
                b.names(out);
            }
            Expr::Call(_, args) => args.iter().for_each(|a| a.names(out)),
        }
    }

    /// Evaluate with `get` resolving names.
    pub fn eval(&self, get: &dyn Fn(&str) -> Val) -> Val {
        let b = |x: bool| Val::Num(if x { 1.0 } else { 0.0 });
        match self {
            Expr::Num(n) => Val::Num(*n),
            Expr::Str(s) => Val::Str(s.clone()),
            Expr::Name(n) => get(n),
            Expr::Unary("-", e) => match e.eval(get).num() {
                Some(n) => Val::Num(-n),
                None => Val::Missing,
            },
            Expr::Unary(_, e) => match e.eval(get) {
                Val::Missing => Val::Missing,
                v => b(!v.truthy()),
            },
            Expr::Binary("and", l, r) => {
                let l = l.eval(get);
                if !l.truthy() {
                    return if l == Val::Missing { l } else { b(false) };
                }
                let r = r.eval(get);
                if r == Val::Missing { r } else { b(r.truthy()) }
            }
            Expr::Binary("or", l, r) => {
                if l.eval(get).truthy() {
                    return b(true);
                }
                let r = r.eval(get);
                if r == Val::Missing { r } else { b(r.truthy()) }
            }
            Expr::Binary(op, l, r) => {
                let (l, r) = (l.eval(get), r.eval(get));
                if l == Val::Missing || r == Val::Missing {
                    return Val::Missing;
                }
                match *op {
                    "==" => b(equal(&l, &r)),
                    "!=" => b(!equal(&l, &r)),
                    _ => {
                        let (Some(x), Some(y)) = (l.num(), r.num()) else {
                            return Val::Missing;
                        };
                        match *op {
                            "<" => b(x < y),
                            "<=" => b(x <= y),
                            ">" => b(x > y),
                            ">=" => b(x >= y),
                            "+" => Val::Num(x + y),
                            "-" => Val::Num(x - y),
                            "*" => Val::Num(x * y),
                            "/" => Val::Num(x / y),
                            "%" => Val::Num(x % y),
                            _ => Val::Num(x.powf(y)),
                        }
                    }
                }
            }
            Expr::In(e, items, negated) => {
                let v = e.eval(get);
                if v == Val::Missing {
                    return v;
                }
                let found = items.iter().any(|i| equal(&v, &i.eval(get)));
                b(found != *negated)
            }
            Expr::Cond(c, x, y) => {
                if c.eval(get).truthy() {
                    x.eval(get)
                } else {
                    y.eval(get)
                }
            }
            Expr::Call(name, args) => {
                let nums: Option<Vec<f64>> = args.iter().map(|a| a.eval(get).num()).collect();
                let Some(nums) = nums else {
                    return Val::Missing;
                };
                let first = nums.first().copied().unwrap_or(f64::NAN);
                Val::Num(match name.as_str() {
                    "abs" => first.abs(),
                    "ceil" => first.ceil(),
                    "floor" => first.floor(),
                    "log" => first.ln(),
                    "round" => first.round(),
                    "sqrt" => first.sqrt(),
                    "max" => nums.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                    _ => nums.iter().copied().fold(f64::INFINITY, f64::min),
                })
            }
        }
    }
}

fn equal(a: &Val, b: &Val) -> bool {
    match (a, b) {
        (Val::Str(x), Val::Str(y)) => x == y,
        _ => match (a.num(), b.num()) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eval(src: &str, vars: &[(&str, f64)]) -> Val {
        let e = Expr::parse(src).unwrap();
        e.eval(&|n| {
            vars.iter()
                .find(|(k, _)| *k == n)
                .map(|(_, v)| Val::Num(*v))
                .unwrap_or(Val::Missing)
        })
    }

    #[test]
    fn conditions_over_metric_names() {
        let vars = [
            ("http.response_time.p95", 120.0),
            ("http.request_rate", 50.0),
        ];
        assert!(
            eval(
                "http.response_time.p95 < 250 and http.request_rate > 10",
                &vars
            )
            .truthy()
        );
        assert!(
            !eval(
                "http.response_time.p95 < 100 or http.request_rate > 100",
                &vars
            )
            .truthy()
        );
        assert!(eval("not (http.request_rate == 0)", &vars).truthy());
        assert!(eval("(2 + 3) * 2 == 10 and 7 % 4 == 3 and 2 ^ 3 == 8", &[]).truthy());
        assert!(eval("3 in (1, 2, 3) and 4 not in (1, 2)", &[]).truthy());
        assert!(eval("max(1, 5, 2) == 5 ? 1 : 0", &[]).truthy());
    }

    #[test]
    fn missing_names_fail_every_check() {
        assert_eq!(eval("nosuch.metric < 5", &[]), Val::Missing);
        assert!(!eval("not (nosuch.metric < 5)", &[]).truthy());
        assert!(!eval("nosuch.metric == 0 or nosuch.metric != 0", &[]).truthy());
    }

    #[test]
    fn metric_names_with_dashes_and_slashes() {
        let e = Expr::parse("plugins.metrics-by-endpoint.response_time./users.p95 < 10").unwrap();
        let mut names = Vec::new();
        e.names(&mut names);
        assert_eq!(
            names,
            ["plugins.metrics-by-endpoint.response_time./users.p95"]
        );
    }

    #[test]
    fn syntax_errors_are_reported() {
        assert!(Expr::parse("a < ").is_err());
        assert!(Expr::parse("a <> b").is_err());
        assert!(Expr::parse("exec(1)").is_err());
    }
}
