//! Whether a pod gets the agent at all, and if not, why (a bounded set, counted in metrics).
//! Checked before anything is planned so that a skipped pod costs no more than reading its
//! annotations, and each skip says in one warning what the owner can change.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Pod, PodSpec};
use testcar_contract::annotations::{self, OnScaleOut, ParsedAnnotations, keys};
use testcar_contract::tags::{self, TagSelection};

use super::facts;
use super::warnings::{annotation_error_text, default_used_text, short, unknown_keys};
use crate::admission::Reason;

/// Why an admissible pod is left alone: only what the pod and the configuration decide
/// (the request-level reasons, such as not a Pod or not a CREATE, are the admission layer's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Skip {
    /// No `testcar.io/inject: "true"`.
    NotOptedIn,
    /// `testcar.io/inject` has a value other than `true` / `false`.
    InvalidInject,
    /// The namespace is excluded by configuration.
    ExcludedNamespace,
    /// `testcar.io/status: injected` is already there.
    AlreadyInjected,
    /// The pod already has a container, volume, mount or port Testcar would add.
    Collision,
    /// The pod has no containers to test.
    NoContainers,
    /// The pod runs on an operating system the agent does not support (Windows).
    UnsupportedOs,
    /// A new pod of a ReplicaSet testcar-gate verified, with `testcar.io/on-scale-out: none`.
    ScaleOut,
}

impl Skip {
    /// The metric / log spelling (the `reason` label).
    pub fn as_str(self) -> &'static str {
        match self {
            Skip::NotOptedIn => "not-opted-in",
            Skip::InvalidInject => "invalid-inject-annotation",
            Skip::ExcludedNamespace => "excluded-namespace",
            Skip::AlreadyInjected => "already-injected",
            Skip::Collision => "collision",
            Skip::NoContainers => "no-containers",
            Skip::UnsupportedOs => "unsupported-os",
            Skip::ScaleOut => "scale-out-verified",
        }
    }
}

impl From<Skip> for Reason {
    fn from(s: Skip) -> Reason {
        Reason::Skipped(s)
    }
}

/// A pod left alone, with the warnings that say why.
#[derive(Debug)]
pub(super) struct Skipped {
    pub skip: Skip,
    pub warnings: Vec<String>,
}

/// A pod that gets the agent: its spec (with at least one container) and its annotations.
#[derive(Debug)]
pub(super) struct Eligible<'p> {
    pub spec: &'p PodSpec,
    pub parsed: ParsedAnnotations,
}

fn skipped<T>(skip: Skip, warnings: Vec<String>) -> Result<T, Skipped> {
    Err(Skipped { skip, warnings })
}

/// The first reason `pod` (created in `namespace`) is not injected, or what planning needs.
pub(super) fn check<'p>(
    pod: &'p Pod,
    namespace: &str,
    is_excluded: impl Fn(&str) -> bool,
) -> Result<Eligible<'p>, Skipped> {
    let empty = BTreeMap::new();
    let pod_annotations = pod.metadata.annotations.as_ref().unwrap_or(&empty);
    let parsed = annotations::parse(pod_annotations);

    if let Some(err) = parsed.errors.iter().find(|e| e.key == keys::INJECT) {
        let mut w = vec![format!(
            "{}; the pod is not injected",
            annotation_error_text(err)
        )];
        w.extend(unknown_keys(&parsed));
        return skipped(Skip::InvalidInject, w);
    }
    let a = &parsed.annotations;
    if !a.inject {
        let mut w = unknown_keys(&parsed);
        // A label is what Istio and Linkerd users reach for; say why nothing happened.
        let label = pod
            .metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(keys::INJECT));
        if let Some(v) = label.filter(|_| !pod_annotations.contains_key(keys::INJECT)) {
            w.push(format!(
                "testcar: the pod has the label {}={:?}, but injection is chosen by the annotation; add the annotation {}: \"true\" to the pod template",
                keys::INJECT,
                short(v, 40),
                keys::INJECT
            ));
        }
        return skipped(Skip::NotOptedIn, w);
    }
    if a.is_injected() {
        return skipped(Skip::AlreadyInjected, Vec::new());
    }
    if is_excluded(namespace) {
        return skipped(
            Skip::ExcludedNamespace,
            vec![format!(
                "testcar: namespace {namespace} is excluded from injection by the injector configuration; the pod is not injected"
            )],
        );
    }
    let Some(spec) = pod.spec.as_ref().filter(|s| !s.containers.is_empty()) else {
        return skipped(
            Skip::NoContainers,
            vec!["testcar: the pod has no containers; it is not injected".to_string()],
        );
    };
    if let Some(os) = facts::unsupported_os(spec) {
        return skipped(
            Skip::UnsupportedOs,
            vec![format!(
                "testcar: the pod runs on {os}; the agent runs on Linux only; the pod is not injected"
            )],
        );
    }
    let clashes = facts::collisions(spec);
    if !clashes.is_empty() {
        let mut w: Vec<String> = clashes
            .into_iter()
            .map(|c| format!("testcar: {c}; the pod is not injected"))
            .collect();
        w.extend(unknown_keys(&parsed));
        return skipped(Skip::Collision, w);
    }
    Ok(Eligible { spec, parsed })
}

/// What a pod that scales out `replica_set` (verified by the gate) runs: skipped with
/// `none`, the suites tagged `smoke` with `smoke` (the selection returned), everything with
/// `all`. The pod's `testcar.io/on-scale-out` wins over the operator's `default`; a bad
/// value is warned about and the default used. `None` for a pod that is not a scale-out.
pub(super) fn scale_out(
    parsed: &ParsedAnnotations,
    default: OnScaleOut,
    replica_set: Option<&str>,
) -> Result<Option<TagSelection>, Skipped> {
    let Some(replica_set) = replica_set else {
        return Ok(None);
    };
    match parsed.annotations.on_scale_out.unwrap_or(default) {
        OnScaleOut::All => Ok(None),
        OnScaleOut::Smoke => Ok(Some(TagSelection::one(tags::SMOKE))),
        OnScaleOut::None => {
            let mut w: Vec<String> = parsed
                .errors
                .iter()
                .filter(|e| e.key == keys::ON_SCALE_OUT)
                .map(default_used_text)
                .collect();
            w.push(format!(
                "testcar: the pod scales out ReplicaSet {}, which testcar-gate verified; with {}: none it is not injected (smoke or all test it)",
                short(replica_set, 80),
                keys::ON_SCALE_OUT
            ));
            skipped(Skip::ScaleOut, w)
        }
    }
}

#[cfg(test)]
mod tests;
