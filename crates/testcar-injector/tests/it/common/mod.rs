//! Helpers shared by the integration tests: tool availability (fail under
//! `TESTCAR_REQUIRE_TOOLS=1`, skip otherwise) and AdmissionReview builders.
#![allow(dead_code)]

pub mod generators;

use std::process::Command;

use base64::Engine;
use serde_json::Value;

/// Whether an external tool works. Missing + `TESTCAR_REQUIRE_TOOLS=1` → panic; missing
/// otherwise → print "skipped" and return false.
pub fn tool_available(what: &str, probe: &mut Command) -> bool {
    let ok = probe.output().map(|o| o.status.success()).unwrap_or(false);
    if !ok {
        if std::env::var("TESTCAR_REQUIRE_TOOLS").as_deref() == Ok("1") {
            panic!(
                "{what} is required (TESTCAR_REQUIRE_TOOLS=1) but not available; run scripts/setup.sh"
            );
        }
        eprintln!(
            "skipped: {what} is not installed (scripts/setup.d/20-python-tools.sh installs it)"
        );
    }
    ok
}

/// The decoded JSON Patch of a response review, if any.
pub fn patch_of(response_review: &Value) -> Option<Value> {
    let text = response_review["response"]["patch"].as_str()?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .expect("patch is base64");
    Some(serde_json::from_slice(&bytes).expect("patch is JSON"))
}

/// A copy of `review` whose request carries `object` (for the second pass).
pub fn with_object(review: &Value, object: &Value) -> Value {
    let mut r = review.clone();
    r["request"]["object"] = object.clone();
    r
}
