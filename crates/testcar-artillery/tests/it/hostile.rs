//! Fuzz property: hostile Artillery scripts (random structure, wrong types, deep nesting,
//! huge numbers, alias bombs, invalid UTF-8, truncation) load to `Ok` or a typed error
//! that names the file, never a panic or a hang. `PROPTEST_CASES` sets the budget
//! (`make fuzz` runs a long one).

#[path = "../../../../tests/fuzz/hostile.rs"]
mod fuzz;

use proptest::prelude::*;
use testcar_artillery::LoadOptions;

const SEEDS: &[&str] = &[
    include_str!("../../../../tests/artillery-compat/corpus/basic-get-post.yml"),
    include_str!("../../../../tests/artillery-compat/corpus/captures.yml"),
    include_str!("../../../../tests/artillery-compat/corpus/environments.yml"),
    include_str!("../../../../tests/artillery-compat/corpus/expect-all.yml"),
    include_str!("../../../../tests/artillery-compat/corpus/loop-over.yml"),
    include_str!("../../../../tests/artillery-compat/corpus/payload.yml"),
    include_str!("../../../../tests/artillery-compat/corpus/weighted-phases.yml"),
];

const KEYS: &[&str] = &[
    "config",
    "target",
    "phases",
    "duration",
    "arrivalRate",
    "arrivalCount",
    "rampTo",
    "maxVusers",
    "pause",
    "name",
    "scenarios",
    "flow",
    "get",
    "post",
    "put",
    "url",
    "json",
    "body",
    "form",
    "headers",
    "capture",
    "expect",
    "match",
    "loop",
    "count",
    "over",
    "think",
    "log",
    "function",
    "weight",
    "variables",
    "payload",
    "path",
    "fields",
    "order",
    "environments",
    "plugins",
    "ensure",
    "http",
    "timeout",
    "pool",
    "tls",
    "rejectUnauthorized",
    "defaults",
    "beforeRequest",
    "afterResponse",
    "ifTrue",
    "statusCode",
    "contentType",
    "hasProperty",
    "equals",
    "as",
    "strict",
    "processor",
    "engine",
    "before",
    "after",
    "<<",
    "parallel",
    "whileTrue",
    "qs",
    "cookie",
    "auth",
];

proptest! {
    #![proptest_config(fuzz::config())]

    #[test]
    fn hostile_scripts_load_or_name_the_file(bytes in fuzz::document(SEEDS, KEYS)) {
        let (_dir, path) = fuzz::write_case("script.yml", &bytes);
        let loading = path.clone();
        let result = fuzz::within("load_script", move || {
            testcar_artillery::load_script(&loading, &LoadOptions::default())
                .map(|_| ())
                .map_err(|e| e.to_string())
        });
        if let Err(message) = result {
            fuzz::check_error(&message, &path)?;
        }
    }
}

/// A "billion laughs" document must be refused quickly, not expanded.
#[test]
fn hostile_alias_bomb_is_refused() {
    let (_dir, path) = fuzz::write_case("bomb.yml", fuzz::alias_bomb(10, 10).as_bytes());
    let loading = path.clone();
    let err = fuzz::within("alias bomb", move || {
        testcar_artillery::load_script(&loading, &LoadOptions::default()).map(|_| ())
    })
    .unwrap_err()
    .to_string();
    assert!(err.contains(&path.display().to_string()), "{err}");
    assert!(err.contains("too large"), "{err}");
}

/// Regression: a payload path naming a device is refused, not read forever.
#[test]
fn hostile_payload_device_is_refused() {
    let (_dir, path) = fuzz::write_case(
        "script.yml",
        include_str!("../../test_data/payload-dev-zero.yml").as_bytes(),
    );
    let loading = path.clone();
    let err = fuzz::within("payload /dev/zero", move || {
        testcar_artillery::load_script(&loading, &LoadOptions::default()).map(|_| ())
    })
    .unwrap_err()
    .to_string();
    assert!(err.starts_with(&path.display().to_string()), "{err}");
    assert!(err.contains("/dev/zero: not a regular file"), "{err}");
}
