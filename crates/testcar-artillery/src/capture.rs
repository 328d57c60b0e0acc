//! Captures (`json` JSONPath, `header`, `regexp` with group and flags) and `match`: what a
//! VU takes out of a response. Kept apart from the VU so the rules can be tested on a
//! response value alone.

use serde_json::Value as Json;

use crate::jsregex::compile as compile_regex;
use crate::script::model::{Capture, CaptureSource};
use crate::template::Scope;

/// A response as captures and expectations see it.
#[derive(Debug)]
pub struct Response<'a> {
    /// Status code.
    pub status: u16,
    /// Headers, names lower-cased.
    pub headers: &'a http::HeaderMap,
    /// Body as text (lossy UTF-8).
    pub text: &'a str,
    /// Body parsed as JSON when the content type says JSON.
    pub json: Option<&'a Json>,
}

/// The outcome of one capture.
#[derive(Debug, Clone, PartialEq)]
pub enum Captured {
    /// A value to store.
    Value(Json),
    /// Nothing found (or an empty value).
    Missing,
}

/// Run one capture over a response.
pub fn capture(c: &Capture, res: &Response<'_>, scope: &Scope<'_>) -> Captured {
    let v = match &c.source {
        CaptureSource::Json(path) => {
            let Some(doc) = res
                .json
                .cloned()
                .or_else(|| serde_json::from_str(res.text).ok())
            else {
                return Captured::Missing;
            };
            let path = path.render(scope);
            let Ok(p) = serde_json_path::JsonPath::parse(&path) else {
                return Captured::Missing;
            };
            let nodes = p.query(&doc).all();
            match nodes.len() {
                0 => return Captured::Missing,
                1 => nodes[0].clone(),
                // Artillery picks one of several matches at random.
                n => nodes[rand::random_range(0..n)].clone(),
            }
        }
        CaptureSource::Header(name) => {
            // Artillery looks the name up as written among Node's lower-cased header names,
            // so `header: X-Request-Id` finds nothing; `http` would match it regardless.
            let name = name.render(scope);
            if name.bytes().any(|b| b.is_ascii_uppercase()) {
                return Captured::Missing;
            }
            match res.headers.get(&*name).and_then(|v| v.to_str().ok()) {
                Some(v) => Json::String(v.to_string()),
                None => return Captured::Missing,
            }
        }
        CaptureSource::Regexp {
            pattern,
            group,
            flags,
        } => {
            let Ok(rx) = compile_regex(&pattern.render(scope), flags) else {
                return Captured::Missing;
            };
            let Some(m) = rx.captures(res.text) else {
                return Captured::Missing;
            };
            let text = match group {
                Some(g) => match g.parse::<usize>() {
                    Ok(i) => m.get(i),
                    Err(_) => m.name(g),
                }
                .or_else(|| m.get(0)),
                None => m.get(0),
            };
            Json::String(text.map(|t| t.as_str().to_string()).unwrap_or_default())
        }
    };
    if v == Json::Null || v == Json::String(String::new()) {
        Captured::Missing
    } else {
        Captured::Value(v)
    }
}

/// Whether a `match` holds: Artillery compares with `!==`, so the extracted value must have
/// the type and value of the expected one, and an object or list never matches.
pub fn matches(got: Captured, want: Option<Json>) -> bool {
    match (got, want) {
        (Captured::Value(got), Some(want)) => match (&got, &want) {
            (Json::Number(a), Json::Number(b)) => a.as_f64() == b.as_f64(),
            (Json::Array(_) | Json::Object(_), _) => false,
            _ => got == want,
        },
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::{Globals, Template, Vars};

    fn mk_capture(source: CaptureSource) -> Capture {
        Capture {
            source,
            var: "v".into(),
            strict: None,
            value: None,
        }
    }

    #[test]
    fn json_header_and_regexp() {
        let mut headers = http::HeaderMap::new();
        headers.insert("x-token", "abc".parse().unwrap());
        let body = serde_json::json!({"items": [{"id": 5}], "name": "n"});
        let text = body.to_string();
        let res = Response {
            status: 200,
            headers: &headers,
            text: &text,
            json: Some(&body),
        };
        let vars = Vars::new();
        let globals = Globals::default();
        let scope = Scope {
            vars: &vars,
            globals: &globals,
        };
        let c = mk_capture(CaptureSource::Json(
            Template::parse("$.items[0].id").unwrap(),
        ));
        assert_eq!(capture(&c, &res, &scope), Captured::Value(Json::from(5)));
        let c = mk_capture(CaptureSource::Json(Template::parse("$.nope").unwrap()));
        assert_eq!(capture(&c, &res, &scope), Captured::Missing);
        let c = mk_capture(CaptureSource::Header(Template::parse("x-token").unwrap()));
        assert_eq!(
            capture(&c, &res, &scope),
            Captured::Value(Json::from("abc"))
        );
        // As in Artillery: the name must be written in lower case.
        let c = mk_capture(CaptureSource::Header(Template::parse("X-Token").unwrap()));
        assert_eq!(capture(&c, &res, &scope), Captured::Missing);
        let c = mk_capture(CaptureSource::Regexp {
            pattern: Template::parse(r#""NAME":"(?<n>\w+)""#).unwrap(),
            group: Some("n".into()),
            flags: "i".into(),
        });
        assert_eq!(capture(&c, &res, &scope), Captured::Value(Json::from("n")));
    }
}
