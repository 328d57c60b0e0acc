//! The "scale-out record" check: does the injector read the ConfigMap the gate writes, and may
//! this identity write it? Either gap is silent in a pipeline: the gate only warns, and every
//! pod an autoscaler adds to a version that already passed runs its load tests again.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::api::{ListParams, PostParams};
use kube::{Api, Client, ResourceExt};

use super::{CheckOptions, CheckReport, selector_matches};
use crate::api_error;
use crate::verified::VerifiedConfigMap;

const CHECK: &str = "scale-out record";
/// The injector's setting (flag `--verified-dir`) that names the mounted record.
const VERIFIED_DIR_ENV: &str = "TESTCAR_INJECTOR_VERIFIED_DIR";
const VERIFIED_DIR_FLAG: &str = "--verified-dir";

/// What the injector's pod template says about the record of verified ReplicaSets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// No verified folder: every new pod is tested in full.
    Off,
    /// The folder is this ConfigMap, mounted.
    ConfigMap(String),
    /// The folder is set but nothing, or something other than a ConfigMap, is mounted there.
    NotAConfigMap(String),
}

/// Read the injector's pod template: its verified folder (flag or environment) and the
/// ConfigMap volume mounted at that path.
pub fn injector_record(d: &Deployment) -> Record {
    let Some(spec) = d.spec.as_ref().and_then(|s| s.template.spec.as_ref()) else {
        return Record::Off;
    };
    for c in &spec.containers {
        let from_env = c
            .env
            .iter()
            .flatten()
            .find(|e| e.name == VERIFIED_DIR_ENV)
            .and_then(|e| e.value.clone());
        let args = c.command.iter().flatten().chain(c.args.iter().flatten());
        let mut from_flag = None;
        let mut args = args.peekable();
        while let Some(a) = args.next() {
            if a == VERIFIED_DIR_FLAG {
                from_flag = args.peek().map(|v| v.to_string());
            } else if let Some(v) = a.strip_prefix("--verified-dir=") {
                from_flag = Some(v.to_string());
            }
        }
        // A flag beats the environment, as clap reads them.
        let Some(dir) = from_flag.or(from_env).filter(|d| !d.is_empty()) else {
            continue;
        };
        let dir = dir.trim_end_matches('/');
        let mount = c
            .volume_mounts
            .iter()
            .flatten()
            .find(|m| m.mount_path.trim_end_matches('/') == dir);
        let configmap = mount.and_then(|m| {
            spec.volumes
                .iter()
                .flatten()
                .find(|v| v.name == m.name)
                .and_then(|v| v.config_map.as_ref())
                .map(|cm| cm.name.clone())
        });
        return match configmap {
            Some(name) => Record::ConfigMap(name),
            None => Record::NotAConfigMap(dir.to_string()),
        };
    }
    Record::Off
}

/// The records of `namespace`'s Deployments in the ConfigMap's data, `deployment → replicaset`.
pub fn records_for(cm: &ConfigMap, namespace: &str) -> Vec<String> {
    let prefix = format!("{namespace}.");
    cm.data
        .iter()
        .flatten()
        .filter_map(|(k, v)| {
            k.strip_prefix(&prefix)
                .map(|deployment| format!("{deployment} → {v}"))
        })
        .collect()
}

/// The check. `service` is the Service the webhook calls; the injector is the Deployment
/// behind it.
pub async fn check(client: &Client, opts: &CheckOptions, service: &Service, r: &mut CheckReport) {
    let ns = service.namespace().unwrap_or_default();
    let Some(injector) = injector_behind(client, &ns, service, r).await else {
        return;
    };
    let name = match injector_record(&injector) {
        Record::Off => {
            r.ok(
                CHECK,
                format!(
                    "off: the injector {ns}/{} reads no verified ReplicaSets, so every new pod is tested in full (the chart's scaleOut.enabled)",
                    injector.name_any()
                ),
            );
            return;
        }
        Record::NotAConfigMap(dir) => {
            r.warn(
                CHECK,
                format!(
                    "the injector {ns}/{} reads verified ReplicaSets from {dir}, but no ConfigMap is mounted there",
                    injector.name_any()
                ),
                "mount the ConfigMap testcar-gate writes at that path (the chart does it with scaleOut.enabled), or unset --verified-dir".into(),
            );
            return;
        }
        Record::ConfigMap(name) => name,
    };
    let mounted = VerifiedConfigMap {
        namespace: ns.clone(),
        name,
    };
    let Some(target) = opts.verified.as_ref() else {
        r.skip(
            CHECK,
            format!(
                "the injector reads {mounted}; the gate is told not to record (--no-mark-verified)"
            ),
        );
        return;
    };
    if *target != mounted {
        r.warn(
            CHECK,
            format!(
                "the injector reads configmap {mounted}, but testcar-gate would record passed rollouts in {target}: scale-out pods are tested in full"
            ),
            format!(
                "run testcar-gate with --verified-configmap {mounted} (or TESTCAR_GATE_VERIFIED_CONFIGMAP={mounted})"
            ),
        );
        return;
    }
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), &mounted.namespace);
    let records = match api.get(&mounted.name).await {
        Ok(cm) => records_for(&cm, &opts.namespace),
        Err(e) if api_error::code(&e) == Some(404) => {
            r.warn(
                CHECK,
                format!(
                    "configmap {mounted} is not there: every new pod is tested in full until it is"
                ),
                "helm upgrade the chart (it creates the ConfigMap with scaleOut.enabled)".into(),
            );
            return;
        }
        Err(e) => {
            r.warn(
                CHECK,
                format!("configmap {mounted}: {}", api_error::describe(&e)),
                format!(
                    "needs get on configmaps/{} in namespace {} (the chart's gate Role has it with gate.rbac.markVerified)",
                    mounted.name, mounted.namespace
                ),
            );
            return;
        }
    };
    let seen = if records.is_empty() {
        format!("no rollout in {} recorded yet", opts.namespace)
    } else {
        format!("{} recorded: {}", opts.namespace, records.join(", "))
    };
    match may_patch(client, &mounted).await {
        Ok(true) => r.ok(
            CHECK,
            format!("the injector reads configmap {mounted}, and this identity may record passed rollouts there; {seen}"),
        ),
        Ok(false) => r.warn(
            CHECK,
            format!("this identity may not patch configmap {mounted}: a gate run as it cannot record passed rollouts, so scale-out pods are tested in full; {seen}"),
            "set gate.rbac.markVerified: true in the chart and bind the pipeline's identity (gate.serviceAccount or gate.extraSubjects), or run the gate with --no-mark-verified".into(),
        ),
        Err(e) => r.warn(
            CHECK,
            format!("the injector reads configmap {mounted}; {seen}; whether this identity may patch it is unknown: {}", api_error::describe(&e)),
            "needs create on selfsubjectaccessreviews (authorization.k8s.io), which every authenticated user has by default".into(),
        ),
    }
}

/// The Deployment whose pod template the Service selects.
async fn injector_behind(
    client: &Client,
    ns: &str,
    service: &Service,
    r: &mut CheckReport,
) -> Option<Deployment> {
    let selector = service
        .spec
        .as_ref()
        .and_then(|s| s.selector.clone())
        .unwrap_or_default();
    let api: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let list = match api.list(&ListParams::default()).await {
        Ok(list) => list.items,
        Err(e) => {
            r.skip(
                CHECK,
                format!(
                    "cannot list deployments in {ns} to find the injector: {}",
                    api_error::describe(&e)
                ),
            );
            return None;
        }
    };
    let as_selector = k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector {
        match_labels: Some(selector),
        match_expressions: None,
    };
    let found = list.into_iter().find(|d| {
        let labels = d
            .spec
            .as_ref()
            .and_then(|s| s.template.metadata.as_ref())
            .and_then(|m| m.labels.clone())
            .unwrap_or_default();
        selector_matches(&as_selector, &labels).is_ok()
    });
    if found.is_none() {
        r.skip(
            CHECK,
            format!(
                "no Deployment in {ns} behind service {}",
                service.name_any()
            ),
        );
    }
    found
}

/// Whether this identity may patch the ConfigMap (a SelfSubjectAccessReview, as
/// `kubectl auth can-i patch configmaps/NAME -n NS` asks).
async fn may_patch(client: &Client, target: &VerifiedConfigMap) -> Result<bool, kube::Error> {
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                namespace: Some(target.namespace.clone()),
                verb: Some("patch".into()),
                resource: Some("configmaps".into()),
                name: Some(target.name.clone()),
                ..ResourceAttributes::default()
            }),
            ..SelfSubjectAccessReviewSpec::default()
        },
        ..SelfSubjectAccessReview::default()
    };
    let api: Api<SelfSubjectAccessReview> = Api::all(client.clone());
    let answer = api.create(&PostParams::default(), &review).await?;
    Ok(answer.status.is_some_and(|s| s.allowed))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The injector's Deployment as the chart renders it (scaleOut on), with `container`
    /// fields merged over the chart's.
    fn mk_injector(container: serde_json::Value, volumes: serde_json::Value) -> Deployment {
        let mut c = serde_json::json!({
            "name": "injector",
            "image": "testcar.local/testcar-injector:dev",
            "env": [{"name": "TESTCAR_LOG_FORMAT", "value": "json"},
                    {"name": VERIFIED_DIR_ENV, "value": "/etc/testcar-injector/verified"}],
            "volumeMounts": [{"name": "config", "mountPath": "/etc/testcar-injector/config"},
                             {"name": "verified", "mountPath": "/etc/testcar-injector/verified"}]
        });
        for (k, v) in container.as_object().unwrap() {
            c[k] = v.clone();
        }
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "testcar-injector", "namespace": "tc"},
            "spec": {"selector": {"matchLabels": {"app": "i"}},
                     "template": {"metadata": {"labels": {"app": "i"}},
                                  "spec": {"containers": [c], "volumes": volumes}}}
        }))
        .unwrap()
    }

    fn chart_volumes() -> serde_json::Value {
        serde_json::json!([{"name": "config", "configMap": {"name": "testcar-injector"}},
                           {"name": "verified", "configMap": {"name": "testcar-verified", "optional": true}}])
    }

    #[test]
    fn the_chart_mounts_the_record_at_the_injectors_verified_folder() {
        let d = mk_injector(serde_json::json!({}), chart_volumes());
        assert_eq!(
            injector_record(&d),
            Record::ConfigMap("testcar-verified".into())
        );
    }

    #[test]
    fn a_flag_beats_the_environment_and_a_trailing_slash_is_the_same_folder() {
        let d = mk_injector(
            serde_json::json!({"args": ["--verified-dir", "/etc/testcar-injector/config/"]}),
            chart_volumes(),
        );
        assert_eq!(
            injector_record(&d),
            Record::ConfigMap("testcar-injector".into())
        );
        let d = mk_injector(
            serde_json::json!({"args": ["--verified-dir=/elsewhere"]}),
            chart_volumes(),
        );
        assert_eq!(
            injector_record(&d),
            Record::NotAConfigMap("/elsewhere".into())
        );
    }

    #[test]
    fn no_folder_is_off_and_a_folder_without_a_configmap_is_said() {
        let d = mk_injector(
            serde_json::json!({"env": [{"name": "TESTCAR_LOG_FORMAT", "value": "json"}]}),
            chart_volumes(),
        );
        assert_eq!(injector_record(&d), Record::Off);
        let d = mk_injector(
            serde_json::json!({}),
            serde_json::json!([{"name": "verified", "emptyDir": {}}]),
        );
        assert_eq!(
            injector_record(&d),
            Record::NotAConfigMap("/etc/testcar-injector/verified".into())
        );
        assert_eq!(injector_record(&Deployment::default()), Record::Off);
    }

    #[test]
    fn records_are_those_of_the_checked_namespace() {
        let cm: ConfigMap = serde_json::from_value(serde_json::json!({
            "data": {"shop.orders": "orders-7c9f8d6b5", "shop.cart": "cart-5d4c3b2a1",
                     "shopping.orders": "orders-1", "demo.web": "web-2"}
        }))
        .unwrap();
        assert_eq!(
            records_for(&cm, "shop"),
            vec!["cart → cart-5d4c3b2a1", "orders → orders-7c9f8d6b5"]
        );
        assert!(records_for(&cm, "other").is_empty());
        assert!(records_for(&ConfigMap::default(), "shop").is_empty());
    }
}
