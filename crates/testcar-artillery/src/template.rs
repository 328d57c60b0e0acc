//! `{{ }}` templates as Artillery renders them: dot/bracket paths into the VU's variables, a
//! value that is exactly one placeholder keeps its type, `$randomString(n)` and
//! `$randomNumber(a,b)` render as text, `$env.X` reads the process environment.

use std::borrow::Cow;
use std::sync::Arc;

use rand::Rng;
use serde_json::Value as Json;

/// Variables of one virtual user.
pub type Vars = serde_json::Map<String, Json>;

/// Values every VU of a run sees.
#[derive(Debug, Clone, Default)]
pub struct Globals {
    /// `target` (after `--target` and environment overrides).
    pub target: String,
    /// `$environment` (the `-e` name), if any.
    pub environment: Option<String>,
    /// `$testId`: the run's id.
    pub test_id: String,
    /// Values from `--dotenv`, seen by `$env` when the process environment lacks the name.
    pub dotenv: std::sync::Arc<std::collections::BTreeMap<String, String>>,
}

impl Globals {
    /// `$env.<name>`: the process environment, else the dotenv file.
    pub fn env_var(&self, name: &str) -> Option<String> {
        std::env::var(name)
            .ok()
            .or_else(|| self.dotenv.get(name).cloned())
    }
}

/// Where a template looks values up.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    /// The VU's variables (payload, `variables`, captures, loop variables, `$uuid`).
    pub vars: &'a Vars,
    /// Run-wide values.
    pub globals: &'a Globals,
}

/// One segment of a variable path (`a.b[0]`).
#[derive(Debug, Clone, PartialEq)]
pub enum Seg {
    /// Object key.
    Key(String),
    /// Array index.
    Index(usize),
}

/// A generator function call inside `{{ }}`.
#[derive(Debug, Clone, PartialEq)]
enum Func {
    RandomString(usize),
    RandomNumber(i64, i64),
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Lit(String),
    Var(Vec<Seg>),
    Func(Func),
}

/// A template string, parsed once at load.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    raw: Arc<str>,
    parts: Vec<Part>,
}

/// A `{{ }}` expression that is not a variable path nor a supported function.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template {{{{ {expr} }}}}: {why}")]
pub struct TemplateError {
    /// The text between the braces.
    pub expr: String,
    /// Why it is not supported.
    pub why: String,
}

impl Template {
    /// Parse `text`; text without `{{` is a literal.
    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("{{") {
            let Some(len) = rest[start + 2..].find("}}") else {
                break;
            };
            if start > 0 {
                parts.push(Part::Lit(rest[..start].to_string()));
            }
            let mut inner = &rest[start + 2..start + 2 + len];
            let mut consumed = start + 2 + len + 2;
            // Artillery also accepts triple braces.
            if let Some(stripped) = inner.strip_prefix('{') {
                inner = stripped;
                if rest[consumed..].starts_with('}') {
                    consumed += 1;
                }
            }
            parts.push(parse_expr(inner.trim())?);
            rest = &rest[consumed..];
        }
        if !rest.is_empty() {
            parts.push(Part::Lit(rest.to_string()));
        }
        Ok(Template {
            raw: text.into(),
            parts,
        })
    }

    /// A template that renders `text` as is.
    pub fn literal(text: &str) -> Template {
        Template {
            raw: text.into(),
            parts: if text.is_empty() {
                Vec::new()
            } else {
                vec![Part::Lit(text.to_string())]
            },
        }
    }

    /// The text as written.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The variable placeholders' first path segments (`$env` for `{{ $env.X }}`), or `None`
    /// when the template calls a function.
    pub fn var_roots(&self) -> Option<Vec<&str>> {
        let mut roots = Vec::new();
        for p in &self.parts {
            match p {
                Part::Lit(_) => {}
                Part::Var(path) => match path.first() {
                    Some(Seg::Key(k)) => roots.push(k.as_str()),
                    _ => return None,
                },
                Part::Func(_) => return None,
            }
        }
        Some(roots)
    }

    /// The environment variables named by `{{ $env.X }}` or `{{ $processEnvironment.X }}`.
    pub fn env_names(&self) -> Vec<&str> {
        self.parts
            .iter()
            .filter_map(|p| match p {
                Part::Var(path) => match path.as_slice() {
                    [Seg::Key(root), Seg::Key(name)]
                        if root == "$env" || root == "$processEnvironment" =>
                    {
                        Some(name.as_str())
                    }
                    _ => None,
                },
                _ => None,
            })
            .collect()
    }

    /// Whether rendering can differ from the raw text.
    pub fn is_dynamic(&self) -> bool {
        self.parts.iter().any(|p| !matches!(p, Part::Lit(_)))
    }

    /// Render to text.
    pub fn render<'s>(&'s self, scope: &Scope<'_>) -> Cow<'s, str> {
        if !self.is_dynamic() {
            return Cow::Borrowed(&self.raw);
        }
        let mut out = String::with_capacity(self.raw.len() + 16);
        for part in &self.parts {
            match part {
                Part::Lit(s) => out.push_str(s),
                Part::Var(path) => match lookup(scope, path) {
                    Some(v) => push_json_text(&mut out, &v),
                    // Artillery interpolates a missing variable as the text "undefined".
                    None if self.parts.len() > 1 => out.push_str("undefined"),
                    None => {}
                },
                Part::Func(f) => out.push_str(&call(f)),
            }
        }
        Cow::Owned(out)
    }

    /// Render keeping the type when the template is exactly one variable placeholder.
    pub fn render_value(&self, scope: &Scope<'_>) -> Json {
        if let [Part::Var(path)] = self.parts.as_slice() {
            return match lookup(scope, path) {
                Some(v) => sanitise(v),
                None => Json::Null,
            };
        }
        Json::String(self.render(scope).into_owned())
    }
}

/// Artillery turns falsy exact-placeholder values other than 0/false/null into "".
fn sanitise(v: Json) -> Json {
    match v {
        Json::String(s) if s.is_empty() => Json::String(String::new()),
        other => other,
    }
}

fn parse_expr(inner: &str) -> Result<Part, TemplateError> {
    let err = |why: &str| TemplateError {
        expr: inner.to_string(),
        why: why.to_string(),
    };
    if let Some(open) = inner.find('(') {
        let name = inner[..open].trim();
        let Some(args) = inner[open + 1..].trim_end().strip_suffix(')') else {
            return Err(err("unbalanced parentheses"));
        };
        let args: Vec<&str> = args
            .split(',')
            .map(str::trim)
            .filter(|a| !a.is_empty())
            .collect();
        let num = |s: &str| {
            s.parse::<i64>()
                .map_err(|_| err("arguments must be integer literals"))
        };
        return match name {
            "$randomString" => {
                let n = match args.as_slice() {
                    [] => 10,
                    [n] => num(n)?.max(0) as usize,
                    _ => return Err(err("$randomString takes one argument")),
                };
                Ok(Part::Func(Func::RandomString(n)))
            }
            "$randomNumber" => match args.as_slice() {
                [a, b] => Ok(Part::Func(Func::RandomNumber(num(a)?, num(b)?))),
                _ => Err(err("$randomNumber takes two arguments (min, max)")),
            },
            _ => Err(err(
                "only $randomString(n) and $randomNumber(min,max) are supported; custom JavaScript functions need an exec suite running real Artillery",
            )),
        };
    }
    parse_path(inner)
        .map(Part::Var)
        .ok_or_else(|| err("expected a variable path like name, a.b or list[0]"))
}

/// Parse a lodash-style path: `a.b[0].c`, `a['b']`.
pub fn parse_path(text: &str) -> Option<Vec<Seg>> {
    let mut segs = Vec::new();
    let mut cur = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '.' => {
                if !cur.is_empty() {
                    segs.push(Seg::Key(std::mem::take(&mut cur)));
                }
            }
            '[' => {
                if !cur.is_empty() {
                    segs.push(Seg::Key(std::mem::take(&mut cur)));
                }
                let mut inner = String::new();
                for c in chars.by_ref() {
                    if c == ']' {
                        break;
                    }
                    inner.push(c);
                }
                let inner = inner.trim();
                if let Ok(i) = inner.parse::<usize>() {
                    segs.push(Seg::Index(i));
                } else {
                    segs.push(Seg::Key(inner.trim_matches(['\'', '"']).to_string()));
                }
            }
            c if c.is_alphanumeric() || matches!(c, '_' | '$' | '-') => cur.push(c),
            _ => return None,
        }
    }
    if !cur.is_empty() {
        segs.push(Seg::Key(cur));
    }
    (!segs.is_empty()).then_some(segs)
}

/// Look a path up in the scope: globals and the environment first, then the VU's variables.
pub fn lookup(scope: &Scope<'_>, path: &[Seg]) -> Option<Json> {
    let Some(Seg::Key(head)) = path.first() else {
        return None;
    };
    match head.as_str() {
        "$env" | "$processEnvironment" => {
            return match path {
                [_] => {
                    let mut all: serde_json::Map<String, Json> = scope
                        .globals
                        .dotenv
                        .iter()
                        .map(|(k, v)| (k.clone(), Json::String(v.clone())))
                        .collect();
                    all.extend(std::env::vars().map(|(k, v)| (k, Json::String(v))));
                    Some(Json::Object(all))
                }
                [_, Seg::Key(name)] => scope.globals.env_var(name).map(Json::String),
                _ => None,
            };
        }
        "target" if !scope.vars.contains_key("target") => {
            return walk(Json::String(scope.globals.target.clone()), &path[1..]);
        }
        "$environment" => {
            return scope.globals.environment.clone().map(Json::String);
        }
        "$testId" => return Some(Json::String(scope.globals.test_id.clone())),
        _ => {}
    }
    let root = scope.vars.get(head.as_str())?;
    if path.len() == 1 {
        return Some(root.clone());
    }
    walk_ref(root, &path[1..]).cloned()
}

fn walk(v: Json, rest: &[Seg]) -> Option<Json> {
    if rest.is_empty() {
        Some(v)
    } else {
        walk_ref(&v, rest).cloned()
    }
}

/// Follow `path` inside a JSON value.
pub fn walk_ref<'v>(mut v: &'v Json, path: &[Seg]) -> Option<&'v Json> {
    for seg in path {
        v = match (seg, v) {
            (Seg::Key(k), Json::Object(m)) => m.get(k)?,
            (Seg::Index(i), Json::Array(a)) => a.get(*i)?,
            (Seg::Key(k), Json::Array(a)) => a.get(k.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(v)
}

/// Set `path` in the VU's variables, creating objects on the way (lodash `_.set`).
pub fn set_path(vars: &mut Vars, path: &str, value: Json) {
    let Some(segs) = parse_path(path) else {
        vars.insert(path.to_string(), value);
        return;
    };
    let mut segs = segs.into_iter();
    let Some(Seg::Key(first)) = segs.next() else {
        vars.insert(path.to_string(), value);
        return;
    };
    let rest: Vec<Seg> = segs.collect();
    if rest.is_empty() {
        vars.insert(first, value);
        return;
    }
    let mut slot = vars.entry(first).or_insert(Json::Null);
    for seg in rest {
        if !slot.is_object() {
            *slot = Json::Object(Default::default());
        }
        let key = match seg {
            Seg::Key(k) => k,
            Seg::Index(i) => i.to_string(),
        };
        slot = slot
            .as_object_mut()
            .expect("made an object above")
            .entry(key)
            .or_insert(Json::Null);
    }
    *slot = value;
}

/// Append a value as JavaScript's `String(v)` would (objects as JSON).
pub fn push_json_text(out: &mut String, v: &Json) {
    match v {
        Json::String(s) => out.push_str(s),
        Json::Null => out.push_str("null"),
        Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Json::Number(n) => out.push_str(&js_number(n)),
        other => out.push_str(&other.to_string()),
    }
}

/// A JSON value as text, the way JavaScript stringifies it.
pub fn json_text(v: &Json) -> String {
    let mut s = String::new();
    push_json_text(&mut s, v);
    s
}

fn js_number(n: &serde_json::Number) -> String {
    match n.as_f64() {
        Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
        _ => n.to_string(),
    }
}

fn call(f: &Func) -> String {
    let mut rng = rand::rng();
    match f {
        Func::RandomString(n) => {
            const ALPHABET: &[u8] =
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
            (0..*n)
                .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
                .collect()
        }
        Func::RandomNumber(a, b) => {
            let (lo, hi) = if a <= b { (*a, *b) } else { (*b, *a) };
            rng.random_range(lo..=hi).to_string()
        }
    }
}

/// A JSON document whose strings (keys and values) are templates.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonTemplate {
    /// A string value: rendered, keeping the type of an exact placeholder.
    Str(Template),
    /// A literal that is not a string.
    Lit(Json),
    /// An array.
    Array(Vec<JsonTemplate>),
    /// An object with templated keys.
    Object(Vec<(Template, JsonTemplate)>),
}

impl JsonTemplate {
    /// Compile every string of `v`.
    pub fn compile(v: &Json) -> Result<JsonTemplate, TemplateError> {
        Ok(match v {
            Json::String(s) => JsonTemplate::Str(Template::parse(s)?),
            Json::Array(items) => JsonTemplate::Array(
                items
                    .iter()
                    .map(JsonTemplate::compile)
                    .collect::<Result<_, _>>()?,
            ),
            Json::Object(m) => JsonTemplate::Object(
                m.iter()
                    .map(|(k, v)| Ok((Template::parse(k)?, JsonTemplate::compile(v)?)))
                    .collect::<Result<_, TemplateError>>()?,
            ),
            other => JsonTemplate::Lit(other.clone()),
        })
    }

    /// Render to a JSON value.
    pub fn render(&self, scope: &Scope<'_>) -> Json {
        match self {
            JsonTemplate::Str(t) => t.render_value(scope),
            JsonTemplate::Lit(v) => v.clone(),
            JsonTemplate::Array(items) => items.iter().map(|i| i.render(scope)).collect(),
            JsonTemplate::Object(entries) => entries
                .iter()
                .map(|(k, v)| (k.render(scope).into_owned(), v.render(scope)))
                .collect::<serde_json::Map<_, _>>()
                .into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mk_scope_vars() -> Vars {
        json!({"id": 7, "user": {"name": "ann", "tags": ["a", "b"]}, "flag": false})
            .as_object()
            .unwrap()
            .clone()
    }

    #[test]
    fn exact_placeholder_keeps_type_and_mixed_text_interpolates() {
        let vars = mk_scope_vars();
        let globals = Globals {
            target: "http://t".into(),
            ..Default::default()
        };
        let scope = Scope {
            vars: &vars,
            globals: &globals,
        };
        assert_eq!(
            Template::parse("{{ id }}").unwrap().render_value(&scope),
            json!(7)
        );
        assert_eq!(
            Template::parse("{{flag}}").unwrap().render_value(&scope),
            json!(false)
        );
        assert_eq!(
            Template::parse("/u/{{ id }}/{{ user.tags[1] }}")
                .unwrap()
                .render(&scope),
            "/u/7/b"
        );
        assert_eq!(
            Template::parse("{{ target }}/x").unwrap().render(&scope),
            "http://t/x"
        );
        assert_eq!(
            Template::parse("a{{ missing }}").unwrap().render(&scope),
            "aundefined"
        );
        assert_eq!(
            Template::parse("{{ user }}").unwrap().render(&scope),
            r#"{"name":"ann","tags":["a","b"]}"#
        );
    }

    #[test]
    fn functions_render_as_text() {
        let vars = Vars::new();
        let globals = Globals::default();
        let scope = Scope {
            vars: &vars,
            globals: &globals,
        };
        let s = Template::parse("{{ $randomString(12) }}")
            .unwrap()
            .render(&scope)
            .into_owned();
        assert_eq!(s.len(), 12);
        let n: i64 = Template::parse("{{ $randomNumber(5, 6) }}")
            .unwrap()
            .render(&scope)
            .parse()
            .unwrap();
        assert!((5..=6).contains(&n));
    }

    #[test]
    fn unknown_functions_are_rejected() {
        let err = Template::parse("{{ $myFunc(1) }}").unwrap_err();
        assert!(err.to_string().contains("exec suite"), "{err}");
    }

    #[test]
    fn set_path_creates_objects() {
        let mut vars = Vars::new();
        set_path(&mut vars, "a.b", json!(1));
        set_path(&mut vars, "c", json!("x"));
        assert_eq!(Json::Object(vars), json!({"a": {"b": 1}, "c": "x"}));
    }
}
