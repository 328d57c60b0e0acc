//! Fuzz property: AdmissionReviews with hostile values — huge strings and arrays, deep
//! nesting, unicode in names and annotations, duplicate keys, numbers out of range, wrong
//! types where objects are expected, `testcar.io/*` annotations with hostile values —
//! through the whole webhook path (parse → decide → patch → response). Never a panic; always
//! a well-formed AdmissionReview answering the request's uid; every patch applies to its pod;
//! the patched pod sent again gives no patch. `PROPTEST_CASES` sets the budget.

use crate::common;

#[path = "../../../../tests/fuzz/hostile.rs"]
mod fuzz;

use common::generators::{mk_review, pod};
use proptest::prelude::*;
use serde_json::{Map, Value, json};
use testcar_contract::annotations::keys;
use testcar_injector::admission::Decision;
use testcar_injector::admission::review;
use testcar_injector::config::Config;
use testcar_injector::mutate::Injector;

/// Stands in the serialized review for raw text that `serde_json::Value` cannot hold.
const HOLE: &str = "\"__hostile_raw_text__\"";

/// Strings that break naive code: unicode of every kind, controls, huge text.
fn hostile_string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "\\PC{0,40}",
        2 => proptest::sample::select(vec![
            "", " ", "\u{0}", "\u{202e}true", "tru\u{0301}e", "TRUE", "True", " true", "true\n",
            "1", "yes", "\u{1F600}", "ʇɹnǝ", "testcar", "testcar-tests", "istio-proxy",
            "configmap:", "configmap:\u{0}", "image:", "image:::", "copy:", "copy:../../..",
            "http://", "http://[::1", "-1", "0", "65536", "99999999999999999999", "1e999",
            "-5m", "0s", "100000000000000000000Gi", "1Ei", "0.000000001m", "NaN", "inf",
            ",,,", "a,,b", "/", "//", "..", "/etc/testcar/tests", "\\", "\"", "'", "{{", "${X}",
            "$(X)", "~", "~1", "~0", "/~1", "a/b", "metadata", "spec",
        ]).prop_map(str::to_string),
        1 => (0usize..100_000, proptest::sample::select(vec!["a", "é", "\u{1F600}", "/", "~", "-"]))
            .prop_map(|(n, c)| c.repeat(n)),
    ]
}

/// Any JSON value, with hostile leaves, wrong types and big arrays.
fn hostile_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        proptest::sample::select(vec![
            json!(u64::MAX),
            json!(i64::MIN),
            json!(-1),
            json!(0),
            json!(65536),
            json!(1e308),
            json!(-0.0),
            json!(0.5),
            json!(4294967296u64),
            json!(2147483648u64),
        ]),
        any::<i64>().prop_map(|i| json!(i)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        hostile_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(object_key(), inner.clone(), 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>())),
            // huge arrays (of small values, so that sizes stay linear)
            (
                proptest::sample::select(vec![
                    json!(1),
                    json!("x"),
                    json!({}),
                    json!({"name": "a"}),
                    Value::Null
                ]),
                0usize..3_000
            )
                .prop_map(|(v, n)| Value::Array(vec![v; n])),
        ]
    })
}

fn object_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => proptest::sample::select(vec![
            "name", "image", "ports", "containerPort", "protocol", "volumeMounts", "mountPath",
            "volumes", "emptyDir", "env", "value", "resources", "limits", "requests", "cpu",
            "memory", "restartPolicy", "annotations", "labels", "containers", "initContainers",
            "readinessProbe", "httpGet", "port", "tcpSocket", "securityContext", "runAsUser",
        ]).prop_map(str::to_string),
        1 => proptest::sample::select(keys::ALL).prop_map(str::to_string),
        1 => hostile_string(),
    ]
}

/// Raw JSON text where a value goes: what a `Value` cannot carry. With it, when it is deep
/// nesting, the same shape nested only 20 deep: the object as the test builds it (the
/// injector skips unknown fields without building them, so it reads nesting a `Value`
/// cannot hold; a patch never reaches inside).
fn raw_text() -> impl Strategy<Value = (String, Option<Value>)> {
    prop_oneof![
        proptest::sample::select(vec![
            "1e400", "-1e400", "123456789012345678901234567890", "-99999999999999999999",
            "1.7976931348623157e309", "\"\\ud800\"", "\"\\udc00x\"", "\"\\u0000\"",
            "{\"testcar.io/inject\":\"true\",\"testcar.io/inject\":\"false\"}",
            "{\"testcar.io/inject\":\"false\",\"testcar.io/inject\":\"true\"}",
            "{\"name\":\"app\",\"name\":\"testcar\",\"image\":\"x\"}",
            "[{\"name\":\"app\",\"image\":\"x\",\"ports\":[{\"containerPort\":80,\"containerPort\":70000}]}]",
            "{\"a\":1,\"a\":{\"a\":[1,{\"a\":1,\"a\":2}]}}",
        ])
        .prop_map(|s| (s.to_string(), None)),
        (1usize..5_000, proptest::sample::select(vec![("[", "]"), ("{\"a\":", "}")]))
            .prop_map(|(n, (open, close))| {
                let nest = |n: usize| format!("{}1{}", open.repeat(n), close.repeat(n));
                (nest(n), serde_json::from_str(&nest(n.min(20))).ok())
            }),
    ]
}

/// Where in the pod the hostile value goes.
const SPOTS: &[&str] = &[
    "/metadata/annotations",
    "/metadata/annotations/testcar.io~1inject",
    "/metadata/annotations/testcar.io~1tests",
    "/metadata/annotations/testcar.io~1target",
    "/metadata/annotations/testcar.io~1resources",
    "/metadata/annotations/testcar.io~1cpu",
    "/metadata/annotations/testcar.io~1memory",
    "/metadata/annotations/testcar.io~1timeout",
    "/metadata/annotations/testcar.io~1containers",
    "/metadata/annotations/testcar.io~1auth",
    "/metadata/annotations/testcar.io~1status",
    "/metadata/name",
    "/metadata/generateName",
    "/metadata/labels",
    "/metadata",
    "/spec",
    "/spec/containers",
    "/spec/containers/0",
    "/spec/containers/0/name",
    "/spec/containers/0/ports",
    "/spec/containers/0/ports/0/containerPort",
    "/spec/containers/0/volumeMounts",
    "/spec/containers/0/env",
    "/spec/containers/0/resources",
    "/spec/containers/0/readinessProbe",
    "/spec/initContainers",
    "/spec/volumes",
    "/spec/restartPolicy",
    "/spec/hostNetwork",
    "/spec/os",
    "/spec/securityContext",
    "/spec/resources",
    "/apiVersion",
    "/kind",
];

#[derive(Debug, Clone)]
enum Graft {
    Value(Value),
    Raw(String, Option<Value>),
    /// An annotation with a hostile value under a `testcar.io/` key.
    Annotation(String, String),
}

fn graft() -> impl Strategy<Value = Graft> {
    prop_oneof![
        5 => hostile_value().prop_map(Graft::Value),
        2 => raw_text().prop_map(|(raw, twin)| Graft::Raw(raw, twin)),
        3 => (
            prop_oneof![
                3 => proptest::sample::select(keys::ALL).prop_map(str::to_string),
                1 => hostile_string().prop_map(|s| format!("testcar.io/{s}")),
            ],
            hostile_string(),
        )
            .prop_map(|(k, v)| Graft::Annotation(k, v)),
    ]
}

/// Put `value` at `pointer`, making the objects on the way (and an array slot 0) as needed.
fn set(doc: &mut Value, pointer: &str, value: Value) {
    if pointer.is_empty() {
        *doc = value;
        return;
    }
    let mut here = doc;
    let parts: Vec<String> = pointer[1..]
        .split('/')
        .map(|p| p.replace("~1", "/").replace("~0", "~"))
        .collect();
    for (i, part) in parts.iter().enumerate() {
        let last = i + 1 == parts.len();
        if let Ok(index) = part.parse::<usize>() {
            if !here.is_array() {
                *here = json!([]);
            }
            let a = here.as_array_mut().unwrap();
            if a.len() <= index {
                a.resize(index + 1, json!({}));
            }
            here = &mut a[index];
        } else {
            if !here.is_object() {
                *here = json!({});
            }
            here = here
                .as_object_mut()
                .unwrap()
                .entry(part.clone())
                .or_insert(Value::Null);
        }
        if last {
            *here = value;
            return;
        }
    }
}

/// One hostile review: a generated pod with a graft, as text (and the object the API server
/// would see, when the text has one).
fn hostile_review() -> impl Strategy<Value = (String, Option<Value>, &'static str)> {
    (
        pod(),
        proptest::sample::select(SPOTS),
        graft(),
        prop_oneof![4 => Just(true), 1 => Just(false)],
        prop_oneof![6 => Just("CREATE"), 1 => Just("UPDATE")],
    )
        .prop_map(|(mut object, spot, graft, opt_in, operation)| {
            if opt_in {
                set(
                    &mut object,
                    "/metadata/annotations/testcar.io~1inject",
                    json!("true"),
                );
            }
            match graft {
                Graft::Value(v) => {
                    set(&mut object, spot, v);
                    let text = mk_review(&object, "shop", operation).to_string();
                    (text, Some(object), operation)
                }
                Graft::Annotation(k, v) => {
                    let mut p = String::from("/metadata/annotations/");
                    p.push_str(&k.replace('~', "~0").replace('/', "~1"));
                    set(&mut object, &p, json!(v));
                    let text = mk_review(&object, "shop", operation).to_string();
                    (text, Some(object), operation)
                }
                Graft::Raw(raw, twin) => {
                    set(&mut object, spot, serde_json::from_str(HOLE).unwrap());
                    let text = mk_review(&object, "shop", operation)
                        .to_string()
                        .replacen(HOLE, &raw, 1);
                    // The object as a Go decoder sees it (duplicate keys: the last wins,
                    // like serde_json), else with the shallow twin of deep nesting; None
                    // when it is not JSON at all (numbers out of range, lone surrogates).
                    let seen = match serde_json::from_str::<Value>(&text) {
                        Ok(v) => Some(v["request"]["object"].clone()),
                        Err(_) => twin.map(|t| {
                            set(&mut object, spot, t);
                            object
                        }),
                    };
                    (text, seen, operation)
                }
            }
        })
}

const UID: &str = "6f1c1a8e-2b3d-4e5f-8a9b-0c1d2e3f4a5b";

fn check(text: String, object: Option<Value>) -> Result<(), TestCaseError> {
    let inj = Injector::new(Config::default(), Some("testcar-system"));
    let r = fuzz::within("review", move || {
        let r = review(&inj, text.as_bytes());
        (r, inj)
    });
    let (r, inj) = r;
    let resp: Value = serde_json::from_slice(&r.body)
        .map_err(|e| TestCaseError::fail(format!("response is not JSON: {e}")))?;
    prop_assert_eq!(&resp["apiVersion"], &json!("admission.k8s.io/v1"));
    prop_assert_eq!(&resp["kind"], &json!("AdmissionReview"));
    prop_assert_eq!(&resp["response"]["uid"], &json!(UID), "{}", resp);
    prop_assert!(resp["response"]["allowed"].is_boolean(), "{}", resp);
    // What the API server shows (`r.warnings` of an unreadable review is only logged).
    for w in resp["response"]["warnings"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        prop_assert!(
            w.chars().count() <= testcar_injector::mutate::MAX_WARNING_CHARS,
            "warning too long: {} chars",
            w.chars().count()
        );
    }
    let Some(patch) = common::patch_of(&resp) else {
        prop_assert!(r.decision != Decision::Injected);
        return Ok(());
    };
    prop_assert_eq!(r.decision, Decision::Injected);
    let Some(object) = object else {
        return Err(TestCaseError::fail(
            "a patch for a review whose object is not readable JSON",
        ));
    };
    let mut doc = object;
    let ops: json_patch::Patch = serde_json::from_value(patch)
        .map_err(|e| TestCaseError::fail(format!("not a JSON patch: {e}")))?;
    json_patch::patch(&mut doc, &ops)
        .map_err(|e| TestCaseError::fail(format!("patch does not apply: {e}")))?;
    let again = mk_review(&doc, "shop", "CREATE").to_string();
    let second = fuzz::within("second review", move || review(&inj, again.as_bytes()));
    prop_assert_eq!(
        second.patch_ops,
        0,
        "second pass patched: {:?}",
        second.reason
    );
    Ok(())
}

proptest! {
    #![proptest_config(fuzz::config())]

    #[test]
    fn hostile_reviews_get_a_well_formed_answer((text, object, _op) in hostile_review()) {
        check(text, object)?;
    }
}

/// Bodies damaged at byte level (cut, invalid UTF-8 put in) still get an AdmissionReview.
#[test]
fn hostile_damaged_bodies_still_get_an_answer() {
    let inj = Injector::new(Config::default(), None);
    let text = mk_review(
        &json!({"metadata": {"annotations": {"testcar.io/inject": "true"}}, "spec": {"containers": [{"name": "a", "image": "a"}]}}),
        "shop",
        "CREATE",
    )
    .to_string();
    for cut in (0..text.len()).step_by(7) {
        let r = review(&inj, &text.as_bytes()[..cut]);
        let v: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["kind"], "AdmissionReview");
        assert!(v["response"]["allowed"].is_boolean());
    }
    let mut bad = text.into_bytes();
    bad.splice(40..40, [0xED, 0xA0, 0x80, 0xFF]);
    let v: Value = serde_json::from_slice(&review(&inj, &bad).body).unwrap();
    assert_eq!(v["kind"], "AdmissionReview");
}
