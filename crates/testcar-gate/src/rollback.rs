//! What the gate does about a Deployment whose new version did not pass: say whether its
//! rollout has stalled (with `testcar.io/hold-readiness` a failing version never becomes
//! Ready, so Kubernetes reports `ProgressDeadlineExceeded`), and with `--rollback` put the
//! previous revision's pod template back, as `kubectl rollout undo` does.

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use kube::api::{Api, PostParams};
use kube::{Client, ResourceExt};

use crate::workload::{REVISION_ANNOTATION, deployment_selector, owned_replica_sets};

/// The label the Deployment controller adds to each ReplicaSet's template; a template
/// written back into the Deployment must not carry it.
const TEMPLATE_HASH_LABEL: &str = "pod-template-hash";

/// Why a rollback could not be done.
#[derive(Debug, thiserror::Error)]
pub enum RollbackError {
    /// The API server refused or could not be reached.
    #[error("{what}: {source}")]
    Api {
        /// What was being done.
        what: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
    /// Nothing older to go back to.
    #[error("deployment {name} has no revision before {current} to roll back to")]
    NoPrevious {
        /// The Deployment.
        name: String,
        /// Its current revision.
        current: String,
    },
}

/// A rollback that was done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolledBack {
    /// The revision that failed.
    pub from: String,
    /// The revision whose template is back.
    pub to: String,
}

/// `Some(message)` when the Deployment reports that its rollout is stuck.
pub fn stalled(d: &Deployment) -> Option<String> {
    let conditions = d.status.as_ref()?.conditions.as_ref()?;
    let progressing = conditions.iter().find(|c| c.type_ == "Progressing")?;
    (progressing.status == "False"
        && progressing.reason.as_deref() == Some("ProgressDeadlineExceeded"))
    .then(|| {
        format!(
            "rollout stalled (ProgressDeadlineExceeded): {}",
            progressing.message.as_deref().unwrap_or("no progress")
        )
    })
}

/// Read the Deployment and say whether its rollout is stuck.
pub async fn check_stalled(
    client: &Client,
    ns: &str,
    name: &str,
) -> Result<Option<String>, RollbackError> {
    let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let d = api.get(name).await.map_err(|source| RollbackError::Api {
        what: format!("get deployment {name}"),
        source,
    })?;
    Ok(stalled(&d))
}

/// The template of the newest ReplicaSet older than `current`, ready to write back.
pub fn previous_template(
    replica_sets: &[ReplicaSet],
    current: &str,
) -> Option<(String, PodTemplateSpec)> {
    let current: u64 = current.parse().ok()?;
    let (revision, rs) = replica_sets
        .iter()
        .filter_map(|rs| {
            let r: u64 = rs.annotations().get(REVISION_ANNOTATION)?.parse().ok()?;
            (r < current).then_some((r, rs))
        })
        .max_by_key(|(r, _)| *r)?;
    let mut template = rs.spec.as_ref()?.template.clone()?;
    if let Some(labels) = template.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(TEMPLATE_HASH_LABEL);
    }
    Some((revision.to_string(), template))
}

/// Put the previous revision's pod template back into the Deployment.
pub async fn rollback(client: &Client, ns: &str, name: &str) -> Result<RolledBack, RollbackError> {
    let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let d = api.get(name).await.map_err(|source| RollbackError::Api {
        what: format!("get deployment {name}"),
        source,
    })?;
    let current = d
        .annotations()
        .get(REVISION_ANNOTATION)
        .cloned()
        .unwrap_or_default();
    let owned = owned_replica_sets(client, ns, &d)
        .await
        .map_err(|source| RollbackError::Api {
            what: format!("list replicasets with selector {}", deployment_selector(&d)),
            source,
        })?;
    let (to, template) =
        previous_template(&owned, &current).ok_or_else(|| RollbackError::NoPrevious {
            name: name.to_string(),
            current: current.clone(),
        })?;
    // Replace the whole template (a merge would keep keys the failed version added); the
    // object carries the resourceVersion read above, so a concurrent change is not overwritten.
    let mut d = d;
    if let Some(spec) = d.spec.as_mut() {
        spec.template = template;
    }
    api.replace(name, &PostParams::default(), &d)
        .await
        .map_err(|source| RollbackError::Api {
            what: format!("update deployment {name} back to revision {to}"),
            source,
        })?;
    Ok(RolledBack { from: current, to })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mk_rs(revision: &str, image: &str) -> ReplicaSet {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": format!("web-{revision}"),
                         "annotations": {REVISION_ANNOTATION: revision}},
            "spec": {"selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web", TEMPLATE_HASH_LABEL: "abc"}},
                                  "spec": {"containers": [{"name": "web", "image": image}]}}}
        }))
        .unwrap()
    }

    #[test]
    fn the_newest_older_revision_is_chosen_without_its_hash_label() {
        let sets = [
            mk_rs("1", "web:1"),
            mk_rs("3", "web:3"),
            mk_rs("2", "web:2"),
        ];
        let (to, template) = previous_template(&sets, "3").unwrap();
        assert_eq!(to, "2");
        let spec = template.spec.unwrap();
        assert_eq!(spec.containers[0].image.as_deref(), Some("web:2"));
        let labels = template.metadata.unwrap().labels.unwrap();
        assert!(!labels.contains_key(TEMPLATE_HASH_LABEL));
        assert_eq!(labels["app"], "web");
        assert!(previous_template(&sets[..1], "1").is_none());
        assert!(previous_template(&sets, "not-a-number").is_none());
    }

    #[test]
    fn stalled_only_on_progress_deadline_exceeded() {
        let mk = |status: &str, reason: &str| -> Deployment {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": "web"},
                "status": {"conditions": [{"type": "Progressing", "status": status, "reason": reason,
                                           "message": "ReplicaSet \"web-2\" has timed out progressing."}]}
            }))
            .unwrap()
        };
        let msg = stalled(&mk("False", "ProgressDeadlineExceeded")).unwrap();
        assert!(
            msg.contains("ProgressDeadlineExceeded") && msg.contains("timed out"),
            "{msg}"
        );
        assert!(stalled(&mk("True", "NewReplicaSetAvailable")).is_none());
        assert!(stalled(&mk("True", "ReplicaSetUpdated")).is_none());
    }
}
