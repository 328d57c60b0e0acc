//! Building a request from its step: URL with `qs`, headers (defaults, the step's, basic
//! auth), and the body (json, raw, form, multipart) laid out the way Artillery's HTTP
//! stack writes it, so servers see the same bytes.

use bytes::Bytes;
use http_body_util::Full;
use serde_json::Value as Json;

use super::{Built, Vu, VuFailure};
use crate::client::RequestError;
use crate::script::model::{Body, FormPart, Method, Request};
use crate::template::Scope;

impl Vu<'_> {
    /// URL, headers and body of a request step, rendered.
    pub(super) fn build(&self, r: &Request) -> Result<Built, VuFailure> {
        let sh = self.sh;
        let scope = self.scope();
        let rendered = r.url.render(&scope);
        let mut url = if rendered.starts_with('/') {
            format!("{}{}", sh.globals.target.trim_end_matches('/'), rendered)
        } else {
            rendered.into_owned()
        };
        if !r.qs.is_empty() {
            if let Ok(mut u) = url::Url::parse(&url) {
                // got's `searchParams` (what Artillery turns `qs` into) replaces a query
                // already in the URL rather than adding to it.
                u.set_query(None);
                {
                    let mut q = u.query_pairs_mut();
                    for (k, v) in &r.qs {
                        match v.render(&scope) {
                            Json::Array(items) => {
                                for i in items {
                                    q.append_pair(k, &crate::template::json_text(&i));
                                }
                            }
                            v => {
                                q.append_pair(k, &crate::template::json_text(&v));
                            }
                        }
                    }
                }
                url = u.to_string();
            }
        }
        let mut headers: Vec<(String, String)> = Vec::with_capacity(4 + r.headers.len());
        headers.push((
            "user-agent".into(),
            "Artillery (https://artillery.io)".into(),
        ));
        let set = |headers: &mut Vec<(String, String)>, name: &str, value: String| {
            headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
            headers.push((name.to_string(), value));
        };
        for (k, v) in &sh.script.config.headers {
            set(&mut headers, k, v.render(&scope).into_owned());
        }
        for (k, v) in &r.headers {
            set(&mut headers, k, v.render(&scope).into_owned());
        }
        let has = |headers: &Vec<(String, String)>, name: &str| {
            headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name))
        };
        let body = match &r.body {
            Body::None => Bytes::new(),
            Body::Json(t) => {
                if !has(&headers, "content-type") {
                    headers.push(("content-type".into(), "application/json".into()));
                }
                Bytes::from(serde_json::to_vec(&t.render(&scope)).unwrap_or_default())
            }
            Body::Raw(t) => Bytes::from(t.render(&scope).into_owned()),
            Body::Form(fields) => {
                if !has(&headers, "content-type") {
                    headers.push((
                        "content-type".into(),
                        "application/x-www-form-urlencoded".into(),
                    ));
                }
                let mut ser = url::form_urlencoded::Serializer::new(String::new());
                for (k, v) in fields {
                    ser.append_pair(k, &v.render(&scope));
                }
                Bytes::from(ser.finish())
            }
            Body::Multipart(parts) => {
                let boundary = multipart_boundary();
                if !has(&headers, "content-type") {
                    headers.push((
                        "content-type".into(),
                        format!("multipart/form-data; boundary={boundary}"),
                    ));
                }
                multipart_body(parts, &boundary, &scope)
            }
        };
        if let Some((user, pass)) = &r.auth {
            use base64::Engine;
            let token = base64::engine::general_purpose::STANDARD.encode(format!(
                "{}:{}",
                user.render(&scope),
                pass.render(&scope)
            ));
            set(&mut headers, "authorization", format!("Basic {token}"));
        }
        // got asks for compressed bodies unless `gzip: false` (brotli is left out: the
        // engine cannot decode it, and a server may not send what was not asked for).
        if r.gzip && !has(&headers, "accept-encoding") {
            headers.push(("accept-encoding".into(), "gzip, deflate".into()));
        }
        Ok((url, headers, body))
    }
}

/// A boundary shaped like the form-data package's: 26 dashes and 24 hex digits.
pub(super) fn multipart_boundary() -> String {
    let n: u128 = rand::random();
    format!("--------------------------{:024x}", n & ((1u128 << 96) - 1))
}

/// A multipart/form-data body laid out as the form-data package writes it.
pub(super) fn multipart_body(
    parts: &[(String, FormPart)],
    boundary: &str,
    scope: &Scope<'_>,
) -> Bytes {
    let mut out: Vec<u8> = Vec::new();
    let quote = |s: &str| s.replace('"', "%22").replace(['\r', '\n'], " ");
    for (name, part) in parts {
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match part {
            FormPart::Text {
                value,
                content_type,
            } => {
                out.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{}\"\r\n",
                        quote(name)
                    )
                    .as_bytes(),
                );
                if let Some(ct) = content_type {
                    out.extend_from_slice(
                        format!("Content-Type: {}\r\n", ct.render(scope)).as_bytes(),
                    );
                }
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(value.render(scope).as_bytes());
            }
            FormPart::File {
                name: file,
                bytes,
                content_type,
            } => {
                let ct = match content_type {
                    Some(ct) => ct.render(scope).into_owned(),
                    None => mime_of(file).to_string(),
                };
                out.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\nContent-Type: {ct}\r\n\r\n",
                        quote(name),
                        quote(file)
                    )
                    .as_bytes(),
                );
                out.extend_from_slice(bytes);
            }
        }
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    Bytes::from(out)
}

/// The media type of a file by its extension (the common ones; else octet-stream).
pub(super) fn mime_of(file: &str) -> &'static str {
    let ext = file
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "txt" => "text/plain",
        "csv" => "text/csv",
        "html" | "htm" => "text/html",
        "json" => "application/json",
        "xml" => "application/xml",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "gz" => "application/gzip",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "mp4" => "video/mp4",
        "mp3" => "audio/mpeg",
        _ => "application/octet-stream",
    }
}

pub(super) fn build_request(
    method: Method,
    url: &url::Url,
    headers: &[(String, String)],
    extra: &[(String, String)],
    body: Bytes,
) -> Result<http::Request<Full<Bytes>>, RequestError> {
    use url::Position;
    let invalid = |detail: String| RequestError {
        code: "ERR_INVALID_HTTP_TOKEN".into(),
        detail,
    };
    let uri = http::Uri::try_from(&url[Position::BeforePath..Position::AfterQuery])
        .map_err(|e| invalid(e.to_string()))?;
    let host = http::HeaderValue::from_str(&url[Position::BeforeHost..Position::AfterPort])
        .map_err(|e| invalid(e.to_string()))?;
    let mut map = http::HeaderMap::with_capacity(headers.len() + extra.len() + 2);
    map.insert(http::header::HOST, host);
    for (k, v) in headers.iter().chain(extra) {
        let name =
            http::HeaderName::from_bytes(k.as_bytes()).map_err(|e| invalid(e.to_string()))?;
        let value = http::HeaderValue::from_str(v).map_err(|e| invalid(e.to_string()))?;
        map.append(name, value);
    }
    if !body.is_empty() || matches!(method, Method::Post | Method::Put | Method::Patch) {
        map.insert(
            http::header::CONTENT_LENGTH,
            http::HeaderValue::from(body.len()),
        );
    }
    let mut req = http::Request::new(Full::new(body));
    *req.method_mut() = method.http();
    *req.uri_mut() = uri;
    *req.headers_mut() = map;
    Ok(req)
}
