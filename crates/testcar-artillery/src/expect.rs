//! Expectations of the expect plugin, evaluated on each response with the plugin's rules
//! (status codes compared as numbers, `contentType: json` means a parsed JSON body, ...).

use serde_json::Value as Json;

use crate::capture::Response;
use crate::jsregex::compile as compile_regex;
use crate::script::model::Expectation;
use crate::template::{Scope, json_text, parse_path, walk_ref};

/// The result of one expectation on one response.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Whether it held.
    pub ok: bool,
    /// What was expected, for messages.
    pub expected: String,
    /// What was seen.
    pub got: String,
}

/// Evaluate one expectation.
pub fn check(e: &Expectation, res: &Response<'_>, scope: &Scope<'_>) -> Outcome {
    let out = |ok: bool, expected: String, got: String| Outcome { ok, expected, got };
    let content_type = res
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    match e {
        Expectation::StatusCode(t) | Expectation::NotStatusCode(t) => {
            let expected = t.render(scope);
            let codes: Vec<f64> = match &expected {
                Json::Array(items) => items.iter().filter_map(as_num).collect(),
                v => as_num(v).into_iter().collect(),
            };
            let hit = codes.contains(&(res.status as f64));
            let negate = matches!(e, Expectation::NotStatusCode(_));
            out(hit != negate, json_text(&expected), res.status.to_string())
        }
        Expectation::ContentType(t) => {
            let expected = t.render(scope);
            if expected == "json" {
                let ok = res.json.is_some_and(|j| j.is_object() || j.is_array())
                    && content_type.is_some_and(is_json_type);
                let got = if ok {
                    "json".to_string()
                } else {
                    format!("content-type is {}", content_type.unwrap_or("not set"))
                };
                out(ok, expected.into_owned(), got)
            } else {
                let ok = content_type.is_some_and(|c| c.eq_ignore_ascii_case(&expected));
                out(
                    ok,
                    expected.into_owned(),
                    content_type
                        .unwrap_or("content-type header not set")
                        .to_string(),
                )
            }
        }
        Expectation::HasProperty(t) | Expectation::NotHasProperty(t) => {
            let prop = t.render(scope).into_owned();
            let negate = matches!(e, Expectation::NotHasProperty(_));
            let Some(body) = res.json.filter(|j| j.is_object() || j.is_array()) else {
                return out(false, prop, "response body is not an object".into());
            };
            let has = parse_path(&prop).is_some_and(|p| walk_ref(body, &p).is_some());
            out(
                has != negate,
                prop.clone(),
                if has != negate {
                    prop
                } else {
                    "property check failed".into()
                },
            )
        }
        Expectation::Equals(values) => {
            let rendered: Vec<String> = values
                .iter()
                .map(|v| v.render(scope).into_owned())
                .collect();
            let ok = rendered.windows(2).all(|w| w[0] == w[1]);
            out(ok, "all values to be equal".into(), rendered.join(", "))
        }
        Expectation::HasHeader(t) => {
            let name = t.render(scope).to_ascii_lowercase();
            let ok = res.headers.contains_key(name.as_str());
            out(
                ok,
                name.clone(),
                if ok { name } else { "header missing".into() },
            )
        }
        Expectation::HeaderEquals(name, value) => {
            let name = name.render(scope).to_ascii_lowercase();
            let value = value.render(scope).into_owned();
            match res.headers.get(name.as_str()).and_then(|v| v.to_str().ok()) {
                Some(got) => out(got == value, value, got.to_string()),
                None => out(
                    false,
                    format!("response to have {name} header"),
                    format!("response has no {name} header"),
                ),
            }
        }
        Expectation::MatchesRegexp(t) => {
            let pattern = t.render(scope);
            // The plugin tests the parsed body: a JSON object stringifies as
            // "[object Object]" in JavaScript, so a pattern rarely matches one.
            let subject: std::borrow::Cow<'_, str> = match res.json {
                Some(Json::Object(_)) => "[object Object]".into(),
                Some(Json::Array(items)) => items
                    .iter()
                    .map(json_text)
                    .collect::<Vec<_>>()
                    .join(",")
                    .into(),
                _ => res.text.into(),
            };
            let ok = compile_regex(&pattern, "").is_ok_and(|rx| rx.is_match(&subject));
            out(ok, pattern.into_owned(), ok.to_string())
        }
    }
}

fn as_num(v: &Json) -> Option<f64> {
    match v {
        Json::Number(n) => n.as_f64(),
        Json::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Content types the expect plugin treats as JSON.
pub fn is_json_type(ct: &str) -> bool {
    ct.contains("application/json")
        || ct.contains("application/problem+json")
        || ct.contains("application/ld+json")
}
