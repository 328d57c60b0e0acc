//! After a Deployment's rollout passed, record its ReplicaSet as verified in the
//! `testcar-verified` ConfigMap, which the injector reads from a mounted folder: a later new
//! pod of that ReplicaSet is a scale-out, not a new version (docs/rollouts.md, "Scale-out").
//! One key per Deployment, written with a JSON merge patch: atomic, and bounded in size.

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};

use crate::api_error;

/// The ConfigMap `--verified-configmap` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedConfigMap {
    /// Its namespace (the injector's).
    pub namespace: String,
    /// Its name.
    pub name: String,
}

impl std::str::FromStr for VerifiedConfigMap {
    type Err = String;

    fn from_str(value: &str) -> Result<VerifiedConfigMap, String> {
        let (namespace, name) = value.split_once('/').ok_or_else(|| {
            format!("{value:?}: expected NAMESPACE/NAME, e.g. testcar-system/testcar-verified")
        })?;
        let label = testcar_contract::annotations::is_dns_label;
        if !label(namespace) || !testcar_contract::annotations::is_dns_subdomain(name) {
            return Err(format!(
                "{value:?}: expected NAMESPACE/NAME of a ConfigMap, e.g. testcar-system/testcar-verified"
            ));
        }
        Ok(VerifiedConfigMap {
            namespace: namespace.to_string(),
            name: name.to_string(),
        })
    }
}

impl std::fmt::Display for VerifiedConfigMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// Why the mark was not written. Never changes the verdict.
#[derive(Debug, thiserror::Error)]
pub enum MarkError {
    /// The ConfigMap is not there: Testcar's chart (which creates it) is older or installed
    /// elsewhere, so scale-out pods are tested in full.
    #[error(
        "configmap {target} not found, so scale-out pods of replicaset {replica_set} are tested in full (the chart creates it; --verified-configmap names another, --no-mark-verified turns this off)"
    )]
    NotFound {
        /// The ConfigMap.
        target: VerifiedConfigMap,
        /// The ReplicaSet.
        replica_set: String,
    },
    /// The API server refused or could not be reached.
    #[error("cannot mark replicaset {replica_set} verified in configmap {target}: {reason}{hint}")]
    Api {
        /// The ConfigMap.
        target: VerifiedConfigMap,
        /// The ReplicaSet.
        replica_set: String,
        /// The API server's answer, in one line.
        reason: String,
        /// The missing RBAC rule, for 401/403.
        hint: String,
    },
}

/// The key of a Deployment's record: `<namespace>.<deployment>` (namespaces have no dots).
pub fn key(namespace: &str, deployment: &str) -> String {
    format!("{namespace}.{deployment}")
}

/// The JSON merge patch that records `replica_set` for `deployment` in `namespace`.
pub fn merge_patch(namespace: &str, deployment: &str, replica_set: &str) -> serde_json::Value {
    serde_json::json!({ "data": { key(namespace, deployment): replica_set } })
}

/// Record `replica_set` as the verified ReplicaSet of `deployment` in `namespace`.
pub async fn mark(
    client: &kube::Client,
    target: &VerifiedConfigMap,
    namespace: &str,
    deployment: &str,
    replica_set: &str,
) -> Result<(), MarkError> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &target.namespace);
    let patch = merge_patch(namespace, deployment, replica_set);
    match api
        .patch(&target.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if api_error::code(&e) == Some(404) => Err(MarkError::NotFound {
            target: target.clone(),
            replica_set: replica_set.to_string(),
        }),
        Err(e) => Err(MarkError::Api {
            target: target.clone(),
            replica_set: replica_set.to_string(),
            reason: api_error::describe(&e),
            hint: api_error::rbac_hint(
                &e,
                &format!(
                    "patch configmaps/{} in namespace {} (the chart's gate Role has it)",
                    target.name, target.namespace
                ),
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flag_names_a_configmap_and_the_patch_one_key() {
        let t: VerifiedConfigMap = "testcar-system/testcar-verified".parse().unwrap();
        assert_eq!(t.namespace, "testcar-system");
        assert_eq!(t.to_string(), "testcar-system/testcar-verified");
        for bad in ["testcar-verified", "a.b/c", "/x", "ns/", "ns/Bad_Name"] {
            let e = bad.parse::<VerifiedConfigMap>().unwrap_err();
            assert!(e.contains("NAMESPACE/NAME"), "{bad}: {e}");
        }
        assert_eq!(
            merge_patch("shop", "orders", "orders-7c9f8d6b5"),
            serde_json::json!({"data": {"shop.orders": "orders-7c9f8d6b5"}})
        );
    }
}
