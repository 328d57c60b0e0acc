//! Generators shared by the property tests: random pod shapes (valid enough to reach
//! injection often) and the AdmissionReview that carries them.

use std::collections::HashSet;

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use testcar_contract::annotations::keys;

pub fn annotation_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("true".to_string()),
        Just("false".to_string()),
        Just("shared".to_string()),
        Just("configmap:orders-tests".to_string()),
        Just("image:ghcr.io/acme/tests:1".to_string()),
        Just("copy:/srv/tests".to_string()),
        Just("http://127.0.0.1:8080".to_string()),
        Just("100m".to_string()),
        Just("4".to_string()),
        Just("64Mi".to_string()),
        Just("5m".to_string()),
        Just("app,worker".to_string()),
        Just("orders-auth".to_string()),
        Just("injected".to_string()),
        ".{0,24}",
        "[a-z0-9:/._~-]{0,16}",
    ]
}

pub fn annotation_key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => proptest::sample::select(keys::ALL).prop_map(str::to_string),
        1 => "testcar\\.io/[a-z~/-]{1,12}",
        1 => "[a-z.]{1,10}/[a-zA-Z~/]{1,10}",
    ]
}

pub fn port() -> impl Strategy<Value = Value> {
    prop_oneof![
        5 => (1u16..=65535).prop_map(|p| json!({"containerPort": p, "name": "http"})),
        1 => Just(json!({"containerPort": 9464})),
        1 => Just(json!({"containerPort": 9465, "protocol": "TCP"})),
        1 => Just(json!({"containerPort": 9464, "protocol": "UDP", "name": "udp"})),
    ]
}

pub fn mount_path() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "/[a-z]{1,8}(/[a-z]{1,8})?",
        1 => Just("/etc/testcar/tests".to_string()),
        1 => Just("/etc/testcar/results/".to_string()),
    ]
}

pub fn maybe_array(
    items: impl Strategy<Value = Vec<Value>>,
) -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        Just(Some(Value::Null)),
        items.prop_map(|v| Some(Value::Array(v))),
    ]
}

pub fn container(prefix: &'static str) -> impl Strategy<Value = Value> {
    (
        prop_oneof![
            4 => Just(prefix.to_string()),
            1 => Just("testcar".to_string()),
            1 => Just("istio-proxy".to_string()),
        ],
        maybe_array(proptest::collection::vec(port(), 0..3)),
        maybe_array(
            proptest::collection::vec(mount_path(), 0..3).prop_map(|paths| {
                // mount paths are unique within a valid container
                let uniq: HashSet<String> = paths.into_iter().collect();
                uniq.into_iter()
                    .map(|p| json!({"name": "data", "mountPath": p}))
                    .collect()
            }),
        ),
        proptest::option::of(prop_oneof![
            (1u16..=65535).prop_map(|p| json!({"httpGet": {"port": p, "path": "/ready"}})),
            Just(json!({"httpGet": {"port": "http"}})),
            Just(json!({"httpGet": {"port": "nope", "scheme": "HTTPS"}})),
            Just(json!({"tcpSocket": {"port": 80}})),
            Just(json!({"tcpSocket": {"port": 9464}})),
            Just(json!({"grpc": {"port": 9090}})),
            Just(json!({"exec": {"command": ["true"]}})),
        ]),
        proptest::option::of(Just("Always")),
    )
        .prop_map(|(name, ports, mounts, probe, restart)| {
            let mut c = Map::new();
            c.insert("name".into(), json!(name));
            c.insert("image".into(), json!(format!("registry.example/{name}:1")));
            if let Some(p) = ports {
                c.insert("ports".into(), p);
            }
            if let Some(m) = mounts {
                c.insert("volumeMounts".into(), m);
            }
            if let Some(p) = probe {
                c.insert("readinessProbe".into(), p);
            }
            if let Some(r) = restart {
                c.insert("restartPolicy".into(), json!(r));
            }
            Value::Object(c)
        })
}

pub fn pod() -> impl Strategy<Value = Value> {
    (
        proptest::option::of(proptest::collection::btree_map(
            annotation_key(),
            annotation_value(),
            0..8,
        )),
        prop_oneof![3 => Just(true), 1 => Just(false)],
        proptest::collection::vec(container("app"), 0..4),
        maybe_array(proptest::collection::vec(container("init"), 0..3)),
        maybe_array(
            proptest::collection::vec(
                prop_oneof![
                    5 => "[a-z]{1,8}",
                    1 => Just("testcar-tests".to_string()),
                ],
                0..3,
            )
            .prop_map(|names| {
                let uniq: HashSet<String> = names.into_iter().chain(["data".to_string()]).collect();
                uniq.into_iter()
                    .map(|n| json!({"name": n, "emptyDir": {}}))
                    .collect()
            }),
        ),
        proptest::option::of(proptest::sample::select(vec![
            "Always",
            "Never",
            "OnFailure",
        ])),
        prop_oneof![4 => Just(false), 1 => Just(true)],
        prop_oneof![8 => Just(None), 1 => Just(Some("windows")), 1 => Just(Some("linux"))],
    )
        .prop_map(
            |(annotations, opt_in, containers, inits, volumes, restart, host_network, os)| {
                let mut annotations = annotations;
                if opt_in {
                    annotations
                        .get_or_insert_with(Default::default)
                        .insert(keys::INJECT.to_string(), "true".to_string());
                }
                // container names are unique in a valid pod
                let mut seen = HashSet::new();
                let mut uniq = |list: Vec<Value>| -> Vec<Value> {
                    list.into_iter()
                        .enumerate()
                        .map(|(i, mut c)| {
                            let name = c["name"].as_str().unwrap().to_string();
                            if !seen.insert(name.clone()) {
                                // the generated names may already hold `{name}-{i}` too
                                let mut n = i;
                                let renamed = loop {
                                    let candidate = format!("{name}-{n}");
                                    if seen.insert(candidate.clone()) {
                                        break candidate;
                                    }
                                    n += 1;
                                };
                                c["name"] = json!(renamed);
                            }
                            c
                        })
                        .collect()
                };
                let containers = uniq(containers);
                let inits = inits.map(|v| match v {
                    Value::Array(a) => Value::Array(uniq(a)),
                    other => other,
                });
                let mut meta = json!({"generateName": "p-"});
                if let Some(a) = annotations {
                    meta["annotations"] = json!(a);
                }
                let mut spec = json!({"containers": containers});
                if let Some(i) = inits {
                    spec["initContainers"] = i;
                }
                if let Some(v) = volumes {
                    spec["volumes"] = v;
                }
                if let Some(r) = restart {
                    spec["restartPolicy"] = json!(r);
                }
                if host_network {
                    spec["hostNetwork"] = json!(true);
                }
                if let Some(os) = os {
                    spec["os"] = json!({"name": os});
                }
                json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec})
            },
        )
}

pub fn mk_review(object: &Value, namespace: &str, operation: &str) -> Value {
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "6f1c1a8e-2b3d-4e5f-8a9b-0c1d2e3f4a5b",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "namespace": namespace,
            "operation": operation,
            "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller"},
            "object": object,
            "dryRun": false
        }
    })
}
