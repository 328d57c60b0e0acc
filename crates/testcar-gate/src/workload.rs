//! Which pods are under test: a Deployment's current-revision ReplicaSet, a StatefulSet's
//! update revision, a label selector or one pod. Pods of older revisions and terminating
//! pods are counted as ignored, never gated.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::ListParams;
use kube::{Api, Client, Resource, ResourceExt};

/// Annotation the Deployment controller sets on a Deployment and its ReplicaSets.
pub const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";
/// Label the StatefulSet controller sets on each pod: the ControllerRevision it runs.
pub const REVISION_HASH_LABEL: &str = "controller-revision-hash";

/// What the gate watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Workload {
    /// A Deployment by name.
    Deployment(String),
    /// A StatefulSet by name.
    StatefulSet(String),
    /// A label selector (`app=orders,tier!=cache`).
    Selector(String),
    /// One pod by name.
    Pod(String),
}

impl fmt::Display for Workload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Workload::Deployment(n) => write!(f, "deployment {n}"),
            Workload::StatefulSet(n) => write!(f, "statefulset {n}"),
            Workload::Selector(s) => write!(f, "pods matching {s}"),
            Workload::Pod(n) => write!(f, "pod {n}"),
        }
    }
}

impl Workload {
    /// Kind as written in reports (`Deployment`, `StatefulSet`, `Selector`, `Pod`).
    pub fn kind(&self) -> &'static str {
        match self {
            Workload::Deployment(_) => "Deployment",
            Workload::StatefulSet(_) => "StatefulSet",
            Workload::Selector(_) => "Selector",
            Workload::Pod(_) => "Pod",
        }
    }

    /// Name or selector.
    pub fn name(&self) -> &str {
        match self {
            Workload::Deployment(n)
            | Workload::StatefulSet(n)
            | Workload::Selector(n)
            | Workload::Pod(n) => n,
        }
    }
}

/// The pods of the rollout under test, as of one look at the API server.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// The revision under test: a Deployment's revision number, a StatefulSet's update
    /// revision; `None` for selectors and single pods.
    pub revision: Option<String>,
    /// The ReplicaSet of that revision (Deployments only).
    pub replica_set: Option<String>,
    /// Pods under test, in name order.
    pub pods: Vec<Pod>,
    /// How many pods the workload should end up with (its replicas); `None` when unknown.
    pub expected: Option<usize>,
    /// Pods seen but not gated: older revisions, terminating pods.
    pub ignored: usize,
    /// Pods of the current ReplicaSet the injector left without the agent because the gate
    /// had verified that ReplicaSet (`testcar.io/status: skipped-scale-out`): not gated, and
    /// not expected to report.
    pub scale_outs: usize,
    /// Set when the controller has not caught up yet and no revision can be chosen.
    pub not_ready: Option<String>,
    /// Why the current ReplicaSet cannot create pods (its `ReplicaFailure` condition: a
    /// LimitRange or ResourceQuota refusing the pod with its sidecar, an admission error).
    pub create_failure: Option<String>,
}

/// A failed look-up.
#[derive(Debug, thiserror::Error)]
pub enum WorkloadError {
    /// The named object does not exist.
    #[error("{kind} {namespace}/{name} not found")]
    NotFound {
        /// Kind of object.
        kind: &'static str,
        /// Namespace.
        namespace: String,
        /// Name.
        name: String,
    },
    /// The API server refused or failed a request.
    #[error("cannot {what}: {}", crate::api_error::describe(source))]
    Api {
        /// What the gate was doing (`list pods`, `get deployments/orders`).
        what: String,
        /// The error.
        #[source]
        source: kube::Error,
    },
}

impl WorkloadError {
    /// Whether waiting longer cannot help (not found, unauthorized, forbidden).
    pub fn is_fatal(&self) -> bool {
        match self {
            WorkloadError::NotFound { .. } => true,
            WorkloadError::Api { source, .. } => crate::api_error::is_fatal(source),
        }
    }
}

/// Render a LabelSelector in the API's query syntax.
pub fn selector_string(selector: &LabelSelector) -> String {
    let mut parts: Vec<String> = Vec::new();
    for (k, v) in selector.match_labels.iter().flatten() {
        parts.push(format!("{k}={v}"));
    }
    for e in selector.match_expressions.iter().flatten() {
        let values = e.values.clone().unwrap_or_default().join(",");
        parts.push(match e.operator.as_str() {
            "In" => format!("{} in ({values})", e.key),
            "NotIn" => format!("{} notin ({values})", e.key),
            "Exists" => e.key.clone(),
            "DoesNotExist" => format!("!{}", e.key),
            other => format!("{} {other} ({values})", e.key),
        });
    }
    parts.join(",")
}

fn owned_by(meta: &kube::api::ObjectMeta, uid: &str) -> bool {
    meta.owner_references
        .iter()
        .flatten()
        .any(|o| o.uid == uid && o.controller.unwrap_or(false))
}

fn terminating(pod: &Pod) -> bool {
    pod.metadata.deletion_timestamp.is_some()
}

fn api_err(what: impl Into<String>) -> impl FnOnce(kube::Error) -> WorkloadError {
    let what = what.into();
    move |source| WorkloadError::Api { what, source }
}

async fn get_named<K>(
    api: &Api<K>,
    kind: &'static str,
    ns: &str,
    name: &str,
) -> Result<K, WorkloadError>
where
    K: Resource + Clone + serde::de::DeserializeOwned + fmt::Debug,
{
    match api.get_opt(name).await {
        Ok(Some(obj)) => Ok(obj),
        Ok(None) => Err(WorkloadError::NotFound {
            kind,
            namespace: ns.to_string(),
            name: name.to_string(),
        }),
        Err(source) => Err(WorkloadError::Api {
            what: format!("get {kind} {ns}/{name}"),
            source,
        }),
    }
}

fn sorted(mut pods: Vec<Pod>) -> Vec<Pod> {
    pods.sort_by_key(|p| p.name_any());
    pods
}

/// Look once at the API server and return the pods under test.
pub async fn select(
    client: &Client,
    namespace: &str,
    workload: &Workload,
) -> Result<Selection, WorkloadError> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    match workload {
        Workload::Deployment(name) => select_deployment(client, &pods, namespace, name).await,
        Workload::StatefulSet(name) => select_statefulset(client, &pods, namespace, name).await,
        Workload::Selector(selector) => {
            let list = pods
                .list(&ListParams::default().labels(selector))
                .await
                .map_err(api_err(format!("list pods with selector {selector}")))?;
            let (gone, live): (Vec<Pod>, Vec<Pod>) = list.items.into_iter().partition(terminating);
            Ok(Selection {
                pods: sorted(live),
                ignored: gone.len(),
                ..Selection::default()
            })
        }
        Workload::Pod(name) => {
            let pod = get_named(&pods, "pod", namespace, name).await?;
            Ok(Selection {
                pods: vec![pod],
                expected: Some(1),
                ..Selection::default()
            })
        }
    }
}

fn generation_lag(
    meta: &kube::api::ObjectMeta,
    observed: Option<i64>,
    kind: &str,
) -> Option<String> {
    let generation = meta.generation?;
    let observed = observed.unwrap_or(0);
    (observed < generation).then(|| {
        format!("the {kind} controller has not observed generation {generation} yet (observed {observed})")
    })
}

/// The label selector of a Deployment, rendered for a list call.
pub(crate) fn deployment_selector(d: &Deployment) -> String {
    d.spec
        .as_ref()
        .map(|s| selector_string(&s.selector))
        .unwrap_or_default()
}

/// The ReplicaSets a Deployment owns (by `ownerReferences`, not only by labels).
pub(crate) async fn owned_replica_sets(
    client: &Client,
    ns: &str,
    d: &Deployment,
) -> Result<Vec<ReplicaSet>, kube::Error> {
    let uid = d.uid().unwrap_or_default();
    let replica_sets: Api<ReplicaSet> = Api::namespaced(client.clone(), ns);
    let list = replica_sets
        .list(&ListParams::default().labels(&deployment_selector(d)))
        .await?;
    Ok(list
        .items
        .into_iter()
        .filter(|rs| owned_by(&rs.metadata, &uid))
        .collect())
}

async fn select_deployment(
    client: &Client,
    pods: &Api<Pod>,
    ns: &str,
    name: &str,
) -> Result<Selection, WorkloadError> {
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let d = get_named(&deployments, "deployment", ns, name).await?;
    let expected = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1).max(0) as usize;
    let mut sel = Selection {
        expected: Some(expected),
        ..Selection::default()
    };
    let observed = d.status.as_ref().and_then(|s| s.observed_generation);
    if let Some(lag) = generation_lag(&d.metadata, observed, "Deployment") {
        sel.not_ready = Some(lag);
        return Ok(sel);
    }
    let Some(revision) = d.annotations().get(REVISION_ANNOTATION).cloned() else {
        sel.not_ready = Some(format!(
            "deployment {name} has no {REVISION_ANNOTATION} annotation yet"
        ));
        return Ok(sel);
    };
    sel.revision = Some(revision.clone());
    let selector = deployment_selector(&d);
    let owned = owned_replica_sets(client, ns, &d)
        .await
        .map_err(api_err(format!(
            "list replicasets with selector {selector}"
        )))?;
    let Some(current) = owned
        .iter()
        .find(|rs| rs.annotations().get(REVISION_ANNOTATION) == Some(&revision))
    else {
        sel.not_ready = Some(format!(
            "no ReplicaSet of deployment {name} has revision {revision} yet"
        ));
        return Ok(sel);
    };
    let current_uid = current.uid().unwrap_or_default();
    sel.replica_set = Some(current.name_any());
    sel.create_failure = current
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| {
            cs.iter()
                .find(|c| c.type_ == "ReplicaFailure" && c.status == "True")
        })
        .map(|c| {
            format!(
                "ReplicaSet {} cannot create pods: {}",
                current.name_any(),
                c.message
                    .clone()
                    .or_else(|| c.reason.clone())
                    .unwrap_or_default()
            )
        });
    let older: Vec<String> = owned
        .iter()
        .filter(|rs| rs.uid().as_deref() != Some(current_uid.as_str()))
        .filter_map(|rs| rs.uid())
        .collect();

    let list = pods
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(api_err(format!("list pods with selector {selector}")))?;
    let mut chosen = Vec::new();
    for pod in list.items {
        if owned_by(&pod.metadata, &current_uid) {
            if terminating(&pod) {
                sel.ignored += 1;
            } else if skipped_scale_out(&pod) {
                sel.scale_outs += 1;
            } else {
                chosen.push(pod);
            }
        } else if older.iter().any(|u| owned_by(&pod.metadata, u)) {
            sel.ignored += 1;
        }
    }
    sel.pods = sorted(chosen);
    // A scale-out pod never reports; the tested pods of the ReplicaSet still must.
    if sel.scale_outs > 0 {
        sel.expected = sel
            .expected
            .map(|e| e.saturating_sub(sel.scale_outs).max(1));
    }
    Ok(sel)
}

/// Whether the injector marked `pod` as a scale-out of a verified ReplicaSet, left untested.
fn skipped_scale_out(pod: &Pod) -> bool {
    pod.annotations()
        .get(testcar_contract::annotations::keys::STATUS)
        .map(String::as_str)
        == Some(testcar_contract::annotations::STATUS_SCALE_OUT_SKIPPED)
}

async fn select_statefulset(
    client: &Client,
    pods: &Api<Pod>,
    ns: &str,
    name: &str,
) -> Result<Selection, WorkloadError> {
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), ns);
    let s = get_named(&sets, "statefulset", ns, name).await?;
    let spec = s.spec.as_ref();
    let replicas = spec.and_then(|s| s.replicas).unwrap_or(1).max(0);
    // With a partition, only ordinals >= partition move to the update revision.
    let partition = spec
        .and_then(|s| s.update_strategy.as_ref())
        .and_then(|u| u.rolling_update.as_ref())
        .and_then(|r| r.partition)
        .unwrap_or(0)
        .clamp(0, replicas);
    let mut sel = Selection {
        expected: Some((replicas - partition) as usize),
        ..Selection::default()
    };
    let status = s.status.as_ref();
    if let Some(lag) = generation_lag(
        &s.metadata,
        status.and_then(|s| s.observed_generation),
        "StatefulSet",
    ) {
        sel.not_ready = Some(lag);
        return Ok(sel);
    }
    let Some(revision) = status.and_then(|s| {
        s.update_revision
            .clone()
            .or_else(|| s.current_revision.clone())
    }) else {
        sel.not_ready = Some(format!("statefulset {name} reports no update revision yet"));
        return Ok(sel);
    };
    sel.revision = Some(revision.clone());
    let uid = s.uid().unwrap_or_default();
    let selector = spec
        .map(|s| selector_string(&s.selector))
        .unwrap_or_default();
    let list = pods
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(api_err(format!("list pods with selector {selector}")))?;
    let mut chosen = Vec::new();
    for pod in list
        .items
        .into_iter()
        .filter(|p| owned_by(&p.metadata, &uid))
    {
        let labels: &BTreeMap<String, String> = pod.labels();
        if labels.get(REVISION_HASH_LABEL) == Some(&revision) && !terminating(&pod) {
            chosen.push(pod);
        } else {
            sel.ignored += 1;
        }
    }
    sel.pods = sorted(chosen);
    Ok(sel)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    #[test]
    fn selector_renders_labels_and_expressions() {
        let sel = LabelSelector {
            match_labels: Some(BTreeMap::from([
                ("app".to_string(), "orders".to_string()),
                ("tier".to_string(), "web".to_string()),
            ])),
            match_expressions: Some(vec![
                LabelSelectorRequirement {
                    key: "track".into(),
                    operator: "In".into(),
                    values: Some(vec!["stable".into(), "canary".into()]),
                },
                LabelSelectorRequirement {
                    key: "legacy".into(),
                    operator: "DoesNotExist".into(),
                    values: None,
                },
            ]),
        };
        assert_eq!(
            selector_string(&sel),
            "app=orders,tier=web,track in (stable,canary),!legacy"
        );
    }

    #[test]
    fn generation_lag_only_when_behind() {
        let meta = kube::api::ObjectMeta {
            generation: Some(4),
            ..Default::default()
        };
        assert!(generation_lag(&meta, Some(4), "Deployment").is_none());
        let lag = generation_lag(&meta, Some(3), "Deployment").unwrap();
        assert!(
            lag.contains("generation 4") && lag.contains("observed 3"),
            "{lag}"
        );
    }
}
