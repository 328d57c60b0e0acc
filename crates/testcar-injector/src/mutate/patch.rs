//! The JSON Patch: the one place that knows JSON-pointer paths. Only `add` operations, and
//! arrays are appended to (`…/-`) when they exist, so the patch never replaces what the pod
//! or another webhook put there.

use std::collections::BTreeMap;

use json_patch::{AddOperation, Patch, PatchOperation};
use jsonptr::PointerBuf;
use k8s_openapi::api::core::v1::Pod;
use serde::Serialize;
use serde_json::Value;
use testcar_contract::annotations::{self, keys};

use super::VERSION;
use super::build::Additions;

/// The operations that add `additions` (and the injected marker) to `pod`.
pub(super) fn emit(pod: &Pod, additions: &Additions) -> Patch {
    let spec = pod.spec.as_ref();
    let mut ops = Vec::new();
    // Annotations first: a pod that carries our containers always carries the marker.
    let marker: Vec<(&str, &str)> = [
        (keys::STATUS, annotations::STATUS_INJECTED),
        (keys::INJECTOR_VERSION, VERSION),
    ]
    .into_iter()
    .chain(
        additions
            .annotations
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str())),
    )
    .collect();
    if pod.metadata.annotations.is_some() {
        for (k, v) in marker {
            ops.push(add(&["metadata", "annotations", k], Value::from(v)));
        }
    } else {
        let map: BTreeMap<&str, &str> = marker.into_iter().collect();
        ops.push(add(&["metadata", "annotations"], to_value(&map)));
    }

    // The label lets the chart's NetworkPolicy select injected pods (selectors cannot see
    // annotations).
    if pod.metadata.labels.is_some() {
        ops.push(add(
            &["metadata", "labels", annotations::INJECTED_LABEL],
            Value::from("true"),
        ));
    } else {
        let map: BTreeMap<&str, &str> = [(annotations::INJECTED_LABEL, "true")].into();
        ops.push(add(&["metadata", "labels"], to_value(&map)));
    }

    append(
        &mut ops,
        &["spec", "volumes"],
        spec.is_some_and(|s| s.volumes.is_some()),
        additions.volumes.iter().map(to_value),
    );
    for (i, mount) in &additions.app_mounts {
        let idx = i.to_string();
        let has_mounts = spec
            .and_then(|s| s.containers.get(*i))
            .is_some_and(|c| c.volume_mounts.is_some());
        append(
            &mut ops,
            &["spec", "containers", &idx, "volumeMounts"],
            has_mounts,
            [to_value(mount)],
        );
    }
    // Eligibility guarantees `spec.containers` is non-empty, so it always exists.
    for c in &additions.containers {
        ops.push(add(&["spec", "containers", "-"], to_value(c)));
    }
    if !additions.init_containers.is_empty() {
        append(
            &mut ops,
            &["spec", "initContainers"],
            spec.is_some_and(|s| s.init_containers.is_some()),
            additions.init_containers.iter().map(to_value),
        );
    }
    if !additions.image_pull_secrets.is_empty() {
        append(
            &mut ops,
            &["spec", "imagePullSecrets"],
            spec.is_some_and(|s| s.image_pull_secrets.is_some()),
            additions.image_pull_secrets.iter().map(to_value),
        );
    }
    Patch(ops)
}

/// The operations that mark a pod left without the agent because it scales out a verified
/// ReplicaSet (`testcar.io/status: skipped-scale-out`), so that `kubectl get pod` and the
/// gate tell it from a pod the webhook never saw. Empty when the mark is already there.
pub(super) fn mark_scale_out(pod: &Pod) -> Patch {
    let existing = pod.metadata.annotations.as_ref();
    if existing
        .and_then(|a| a.get(keys::STATUS))
        .map(String::as_str)
        == Some(annotations::STATUS_SCALE_OUT_SKIPPED)
    {
        return Patch(Vec::new());
    }
    let marker = [
        (keys::STATUS, annotations::STATUS_SCALE_OUT_SKIPPED),
        (keys::INJECTOR_VERSION, VERSION),
    ];
    let ops = if existing.is_some() {
        marker
            .into_iter()
            .map(|(k, v)| add(&["metadata", "annotations", k], Value::from(v)))
            .collect()
    } else {
        let map: BTreeMap<&str, &str> = marker.into_iter().collect();
        vec![add(&["metadata", "annotations"], to_value(&map))]
    };
    Patch(ops)
}

fn to_value<T: Serialize>(v: &T) -> Value {
    // k8s-openapi types and string maps always serialize.
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// An `add` at the pointer made of unescaped `tokens` (escaping `~` and `/` as `~0`, `~1`).
fn add(tokens: &[&str], value: Value) -> PatchOperation {
    PatchOperation::Add(AddOperation {
        path: PointerBuf::from_tokens(tokens.iter().copied()),
        value,
    })
}

/// Append `items` to the array at `tokens`: `add …/-` each when it exists, else create it.
fn append(
    ops: &mut Vec<PatchOperation>,
    tokens: &[&str],
    exists: bool,
    items: impl IntoIterator<Item = Value>,
) {
    if exists {
        let mut t = tokens.to_vec();
        t.push("-");
        for item in items {
            ops.push(add(&t, item));
        }
    } else {
        ops.push(add(tokens, Value::Array(items.into_iter().collect())));
    }
}

#[cfg(test)]
mod tests;
