//! Why a pod has no sidecar: is the `testcar.io/inject` annotation on the pod, and is
//! Testcar's MutatingWebhookConfiguration installed. The hint names what is missing.

use std::collections::BTreeMap;

use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::core::v1::Pod;
use kube::api::ListParams;
use kube::{Api, Client, ResourceExt};
use testcar_contract::annotations::keys;

use crate::api_error;
use crate::workload::Workload;

/// Label the Testcar chart puts on its objects.
pub const NAME_LABEL: &str = "app.kubernetes.io/name";

/// What the webhook look-up found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WebhookLookup {
    /// Testcar's configurations, by name.
    Found(Vec<String>),
    /// None of the configurations is Testcar's.
    Missing {
        /// How many other configurations exist.
        others: usize,
    },
    /// The look-up failed (usually RBAC); the reason.
    Unknown(String),
}

/// Whether a configuration belongs to Testcar: labelled `app.kubernetes.io/name=testcar`,
/// named `*testcar*`, or calling a service named `*testcar*`.
pub(crate) fn is_testcar(config: &MutatingWebhookConfiguration) -> bool {
    config.labels().get(NAME_LABEL).map(String::as_str) == Some("testcar")
        || config.name_any().contains("testcar")
        || config.webhooks.iter().flatten().any(|w| {
            w.name.contains("testcar")
                || w.client_config
                    .service
                    .as_ref()
                    .is_some_and(|s| s.name.contains("testcar"))
        })
}

/// List the cluster's MutatingWebhookConfigurations and pick Testcar's.
pub async fn lookup_webhooks(client: &Client) -> WebhookLookup {
    let api: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    match api.list(&ListParams::default()).await {
        Ok(list) => {
            let total = list.items.len();
            let found: Vec<String> = list
                .items
                .iter()
                .filter(|c| is_testcar(c))
                .map(|c| c.name_any())
                .collect();
            if found.is_empty() {
                WebhookLookup::Missing { others: total }
            } else {
                WebhookLookup::Found(found)
            }
        }
        Err(e) => WebhookLookup::Unknown(format!(
            "{}{}",
            api_error::describe(&e),
            api_error::rbac_hint(
                &e,
                "list on mutatingwebhookconfigurations (optional, only for this hint)"
            )
        )),
    }
}

/// The hint for a pod without the sidecar.
pub fn compose(pod: &Pod, workload: &Workload, webhooks: &WebhookLookup) -> String {
    let empty = BTreeMap::new();
    let annotations = pod.metadata.annotations.as_ref().unwrap_or(&empty);
    let template = match workload {
        Workload::Deployment(n) => {
            format!("the pod template (spec.template.metadata.annotations) of deployment {n}")
        }
        Workload::StatefulSet(n) => {
            format!("the pod template (spec.template.metadata.annotations) of statefulset {n}")
        }
        _ => "the pod template of its workload".to_string(),
    };
    let annotation = match annotations.get(keys::INJECT).map(|v| v.trim()) {
        Some("true") => None,
        Some(other) => Some(format!(
            "annotation {}: {other:?} does not opt in; set it to \"true\" on {template}",
            keys::INJECT
        )),
        None => Some(format!(
            "the pod has no {}: \"true\" annotation; add it to {template}",
            keys::INJECT
        )),
    };
    let webhook = match webhooks {
        WebhookLookup::Found(names) => {
            let names = names.join(", ");
            if annotation.is_some() {
                format!("the webhook is installed (MutatingWebhookConfiguration {names})")
            } else {
                format!(
                    "the pod is annotated and the webhook is installed (MutatingWebhookConfiguration {names}) but did not inject it: \
                     the pod may predate the webhook (restart the rollout), its namespace may be excluded \
                     (kube-system, kube-public, kube-node-lease, the injector's own namespace, excludeNamespaces) \
                     or not matched by the webhook's namespaceSelector, or the injector was unreachable and \
                     failurePolicy Ignore let the pod through (see the injector's log and testcar_injector_admissions_total)"
                )
            }
        }
        WebhookLookup::Missing { others } => format!(
            "no Testcar MutatingWebhookConfiguration is installed ({others} other(s) found; none labelled \
             {NAME_LABEL}=testcar or named *testcar*): install the chart, e.g. helm install testcar charts/testcar"
        ),
        WebhookLookup::Unknown(reason) => {
            format!("could not check the MutatingWebhookConfigurations: {reason}")
        }
    };
    let mut parts = Vec::new();
    parts.extend(annotation);
    parts.push(webhook);
    format!(
        "pod {} has no {} container (not injected): {}",
        pod.name_any(),
        testcar_contract::paths::CONTAINER_NAME,
        parts.join("; ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mk_pod(annotations: &[(&str, &str)]) -> Pod {
        let mut pod = Pod::default();
        pod.metadata.name = Some("orders-1".into());
        pod.metadata.annotations = Some(
            annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        pod
    }

    fn mk_config(
        name: &str,
        labels: &[(&str, &str)],
        service: &str,
    ) -> MutatingWebhookConfiguration {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>()},
            "webhooks": [{"name": "w.example.com", "admissionReviewVersions": ["v1"], "sideEffects": "None",
                          "clientConfig": {"service": {"name": service, "namespace": "x"}}}]
        }))
        .unwrap()
    }

    #[test]
    fn recognises_testcar_configurations() {
        assert!(is_testcar(&mk_config(
            "x",
            &[(NAME_LABEL, "testcar")],
            "svc"
        )));
        assert!(is_testcar(&mk_config("testcar-injector", &[], "svc")));
        assert!(is_testcar(&mk_config("x", &[], "testcar-injector")));
        assert!(!is_testcar(&mk_config(
            "istio-sidecar-injector",
            &[(NAME_LABEL, "istio")],
            "istiod"
        )));
    }

    #[test]
    fn names_what_is_missing() {
        let d = Workload::Deployment("orders".into());
        let missing = WebhookLookup::Missing { others: 1 };
        let found = WebhookLookup::Found(vec!["testcar-injector".into()]);

        let h = compose(&mk_pod(&[]), &d, &missing);
        assert!(
            h.contains("no testcar.io/inject: \"true\" annotation"),
            "{h}"
        );
        assert!(
            h.contains("(spec.template.metadata.annotations) of deployment orders"),
            "{h}"
        );
        assert!(
            h.contains("no Testcar MutatingWebhookConfiguration is installed"),
            "{h}"
        );

        let h = compose(&mk_pod(&[("testcar.io/inject", "true")]), &d, &missing);
        assert!(!h.contains("annotation;"), "{h}");
        assert!(h.contains("no Testcar MutatingWebhookConfiguration"), "{h}");

        let h = compose(&mk_pod(&[("testcar.io/inject", "yes")]), &d, &found);
        assert!(h.contains("\"yes\" does not opt in"), "{h}");
        assert!(
            h.contains("the webhook is installed (MutatingWebhookConfiguration testcar-injector)"),
            "{h}"
        );

        let h = compose(&mk_pod(&[("testcar.io/inject", "true")]), &d, &found);
        assert!(h.contains("did not inject it"), "{h}");

        let h = compose(
            &mk_pod(&[]),
            &d,
            &WebhookLookup::Unknown("HTTP 403 Forbidden".into()),
        );
        assert!(
            h.contains("could not check the MutatingWebhookConfigurations: HTTP 403"),
            "{h}"
        );
    }
}
