//! `testcar-gate check`: is Testcar installed and working for a namespace? Each check reads
//! what the API server itself relies on (the webhook configuration, the service behind it,
//! the CA bundle, the namespace) and ends with a dry-run pod that the API server sends
//! through the real webhook, so a green check means injection works, not just "installed".

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;

use k8s_openapi::api::admissionregistration::v1::{MutatingWebhook, MutatingWebhookConfiguration};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Pod, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::api::{ListParams, PostParams};
use kube::{Api, Client, ResourceExt};
use rustls::client::danger::ServerCertVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use serde::Serialize;
use testcar_contract::ExitClass;
use testcar_contract::annotations::{STATUS_INJECTED, keys};
use testcar_contract::paths::CONTAINER_NAME;

use crate::cli::{CheckArgs, CheckOutput};
use crate::verified::VerifiedConfigMap;
use crate::{api_error, client, hint};

mod scale_out;

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Fine.
    Ok,
    /// Works, but worth a look.
    Warn,
    /// Broken: injection will not work as expected.
    Fail,
    /// Not checked (an earlier check failed, or a flag turned it off).
    Skip,
}

/// One check's finding.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    /// What was checked.
    pub check: &'static str,
    /// How it came out.
    pub outcome: Outcome,
    /// What was found.
    pub message: String,
    /// How to fix it, for warnings and failures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// Every finding, in order.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckReport {
    /// The findings.
    pub findings: Vec<Finding>,
}

impl CheckReport {
    fn push(
        &mut self,
        check: &'static str,
        outcome: Outcome,
        message: String,
        hint: Option<String>,
    ) {
        self.findings.push(Finding {
            check,
            outcome,
            message,
            hint,
        });
    }

    fn ok(&mut self, check: &'static str, message: String) {
        self.push(check, Outcome::Ok, message, None);
    }

    fn warn(&mut self, check: &'static str, message: String, hint: String) {
        self.push(check, Outcome::Warn, message, Some(hint));
    }

    fn fail(&mut self, check: &'static str, message: String, hint: String) {
        self.push(check, Outcome::Fail, message, Some(hint));
    }

    fn skip(&mut self, check: &'static str, message: String) {
        self.push(check, Outcome::Skip, message, None);
    }

    /// Failed when any check failed.
    pub fn exit_class(&self) -> ExitClass {
        if self.findings.iter().any(|f| f.outcome == Outcome::Fail) {
            ExitClass::Failed
        } else {
            ExitClass::Passed
        }
    }

    /// One line per check; hints indented under it; a count at the end.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        for f in &self.findings {
            let tag = match f.outcome {
                Outcome::Ok => "[ok]  ",
                Outcome::Warn => "[warn]",
                Outcome::Fail => "[FAIL]",
                Outcome::Skip => "[skip]",
            };
            out.push_str(&format!("{tag} {}: {}\n", f.check, f.message));
            if let Some(hint) = &f.hint {
                out.push_str(&format!("       fix: {hint}\n"));
            }
        }
        let count = |o| self.findings.iter().filter(|f| f.outcome == o).count();
        out.push_str(&format!(
            "{} ok, {} warnings, {} failed, {} skipped\n",
            count(Outcome::Ok),
            count(Outcome::Warn),
            count(Outcome::Fail),
            count(Outcome::Skip)
        ));
        out
    }
}

/// What `check` looks at.
#[derive(Debug, Clone)]
pub struct CheckOptions {
    /// The namespace whose pods should be injected.
    pub namespace: String,
    /// Where the injector is installed.
    pub testcar_namespace: String,
    /// The webhook configuration's name, when known.
    pub webhook: Option<String>,
    /// Create the dry-run pod.
    pub dry_run: bool,
    /// Where the gate records passed rollouts; `None` when it is told not to.
    pub verified: Option<VerifiedConfigMap>,
}

/// The command: connect, check, print; exit 1 when a check failed, 2 when the cluster
/// cannot be reached at all.
pub async fn run(args: &CheckArgs) -> ExitClass {
    let opts = CheckOptions {
        namespace: args.namespace.clone(),
        testcar_namespace: args.testcar_namespace.clone(),
        webhook: args.webhook.clone(),
        dry_run: !args.no_dry_run,
        verified: args.verified.target().cloned(),
    };
    let report = match client::connect(
        args.kube.kubeconfig.as_deref(),
        args.kube.context.as_deref(),
    )
    .await
    {
        Ok(client) => check(&client, &opts).await,
        Err(e) => {
            let mut r = CheckReport::default();
            r.fail(
                "kubernetes API",
                e.to_string(),
                "pass --kubeconfig/--context, or set KUBECONFIG".into(),
            );
            r
        }
    };
    let text = match args.output {
        CheckOutput::Text => report.render_text(),
        CheckOutput::Json => serde_json::to_string_pretty(&report).unwrap_or_default() + "\n",
    };
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
    match report.findings.first() {
        Some(f) if f.check == "kubernetes API" && f.outcome == Outcome::Fail => ExitClass::Error,
        _ => report.exit_class(),
    }
}

/// Run every check against `client`.
pub async fn check(client: &Client, opts: &CheckOptions) -> CheckReport {
    let mut r = CheckReport::default();
    match client.apiserver_version().await {
        Ok(info) => {
            let minor: u32 = info.minor.trim_end_matches('+').parse().unwrap_or_default();
            if info.major == "1" && minor < 30 {
                r.warn(
                    "kubernetes API",
                    format!("reachable, {} (before 1.30)", info.git_version),
                    "matchConditions (GA in 1.30) are ignored before 1.30, so every pod goes through the webhook; native sidecars need 1.29".into(),
                );
            } else {
                r.ok("kubernetes API", format!("reachable, {}", info.git_version));
            }
        }
        Err(e) => {
            r.fail(
                "kubernetes API",
                api_error::describe(&e),
                "check the kubeconfig's server and credentials (kubectl version)".into(),
            );
            return r;
        }
    }

    let Some((config, webhook)) = find_webhook(client, opts, &mut r).await else {
        for what in [
            "injector service",
            "CA bundle",
            "namespace",
            "dry-run injection",
            "scale-out record",
        ] {
            r.skip(what, "no webhook configuration to follow".into());
        }
        return r;
    };
    let service = webhook.client_config.service.clone();
    let mut injector_service = None;
    match &service {
        Some(svc) => {
            injector_service = check_service(client, &svc.namespace, &svc.name, &mut r).await;
        }
        None => r.warn(
            "injector service",
            format!(
                "webhook {} calls a URL, not a service: {}",
                webhook.name,
                webhook.client_config.url.as_deref().unwrap_or("(none)")
            ),
            "the chart's webhook calls the injector's Service; a URL webhook is checked only by the dry run".into(),
        ),
    }
    check_ca_bundle(client, &webhook, service.as_ref(), &mut r).await;
    let selected = check_namespace(client, opts, &webhook, &mut r).await;
    if !opts.dry_run {
        r.skip("dry-run injection", "--no-dry-run".into());
    } else if !selected {
        r.skip(
            "dry-run injection",
            format!("namespace {} is not sent to the webhook", opts.namespace),
        );
    } else {
        dry_run(client, opts, &config.name_any(), &mut r).await;
    }
    match &injector_service {
        Some(svc) => scale_out::check(client, opts, svc, &mut r).await,
        None => r.skip(
            "scale-out record",
            "no injector service to find the injector by".into(),
        ),
    }
    r
}

/// Testcar's webhook configuration and its webhook entry.
async fn find_webhook(
    client: &Client,
    opts: &CheckOptions,
    r: &mut CheckReport,
) -> Option<(MutatingWebhookConfiguration, MutatingWebhook)> {
    const CHECK: &str = "webhook configuration";
    let api: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    let list = match api.list(&ListParams::default()).await {
        Ok(list) => list.items,
        Err(e) => {
            r.fail(
                CHECK,
                format!(
                    "cannot list MutatingWebhookConfigurations: {}",
                    api_error::describe(&e)
                ),
                "run check as a user who may list mutatingwebhookconfigurations (cluster-scoped)"
                    .into(),
            );
            return None;
        }
    };
    let candidates: Vec<&MutatingWebhookConfiguration> = match &opts.webhook {
        Some(name) => list.iter().filter(|c| &c.name_any() == name).collect(),
        None => {
            let ours: Vec<_> = list.iter().filter(|c| hint::is_testcar(c)).collect();
            // Two releases: prefer the one whose service lives where Testcar was said to be.
            let here: Vec<_> = ours
                .iter()
                .copied()
                .filter(|c| {
                    c.webhooks.iter().flatten().any(|w| {
                        w.client_config
                            .service
                            .as_ref()
                            .is_some_and(|s| s.namespace == opts.testcar_namespace)
                    })
                })
                .collect();
            if here.is_empty() { ours } else { here }
        }
    };
    let config = match candidates.as_slice() {
        [] => {
            let what = opts
                .webhook
                .as_ref()
                .map(|n| format!("no MutatingWebhookConfiguration named {n}"))
                .unwrap_or_else(|| {
                    format!(
                        "no Testcar MutatingWebhookConfiguration among the cluster's {}",
                        list.len()
                    )
                });
            r.fail(
                CHECK,
                what,
                format!(
                    "install the chart: helm install testcar charts/testcar -n {} --create-namespace (docs/install.md)",
                    opts.testcar_namespace
                ),
            );
            return None;
        }
        [one] => (*one).clone(),
        many => {
            let names: Vec<String> = many.iter().map(|c| c.name_any()).collect();
            r.fail(
                CHECK,
                format!("several Testcar webhook configurations: {}", names.join(", ")),
                "pods would be injected more than once or by the wrong release: pass --webhook NAME, and uninstall the extra release".into(),
            );
            return None;
        }
    };
    let Some(webhook) = config.webhooks.iter().flatten().next().cloned() else {
        r.fail(
            CHECK,
            format!("{} has no webhooks", config.name_any()),
            "reinstall the chart".into(),
        );
        return None;
    };
    let side_effects = webhook.side_effects.as_str();
    let policy = webhook.failure_policy.as_deref().unwrap_or("Fail");
    let summary = format!(
        "{} (webhook {}, failurePolicy {policy}, sideEffects {side_effects}, timeout {}s)",
        config.name_any(),
        webhook.name,
        webhook.timeout_seconds.unwrap_or(10)
    );
    if side_effects != "None" && side_effects != "NoneOnDryRun" {
        r.fail(
            CHECK,
            summary,
            "sideEffects must be None: the API server refuses dry-run requests (kubectl --dry-run=server, GitOps diffs) for webhooks with side effects".into(),
        );
    } else if !webhook.admission_review_versions.iter().any(|v| v == "v1") {
        r.fail(
            CHECK,
            summary,
            "admissionReviewVersions must include v1".into(),
        );
    } else {
        r.ok(CHECK, summary);
    }
    Some((config, webhook))
}

/// The Service exists and has ready endpoints: otherwise, with failurePolicy Ignore, pods
/// are created without the sidecar and nobody is told. Returns the Service when it exists.
async fn check_service(
    client: &Client,
    ns: &str,
    name: &str,
    r: &mut CheckReport,
) -> Option<Service> {
    const CHECK: &str = "injector service";
    let services: Api<Service> = Api::namespaced(client.clone(), ns);
    let service = match services.get(name).await {
        Ok(s) => s,
        Err(e) => {
            r.fail(
                CHECK,
                format!("service {ns}/{name}: {}", api_error::describe(&e)),
                "the webhook calls a Service that is not there: reinstall the chart or fix the webhook's clientConfig".into(),
            );
            return None;
        }
    };
    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), ns);
    let params = ListParams::default().labels(&format!("kubernetes.io/service-name={name}"));
    match slices.list(&params).await {
        Ok(list) => {
            let (ready, total) =
                list.items
                    .iter()
                    .flat_map(|s| &s.endpoints)
                    .fold((0, 0), |(ready, total), e| {
                        let up = e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true);
                        (ready + usize::from(up), total + 1)
                    });
            if ready == 0 {
                r.fail(
                    CHECK,
                    format!("service {ns}/{name} has no ready endpoints ({total} not ready)"),
                    format!("the injector is not ready: kubectl -n {ns} get pods -l app.kubernetes.io/component=injector; kubectl -n {ns} logs deploy/{name}"),
                );
            } else {
                r.ok(
                    CHECK,
                    format!("service {ns}/{name}: {ready} ready endpoint(s) of {total}"),
                );
            }
        }
        Err(e) => r.warn(
            CHECK,
            format!(
                "service {ns}/{name} exists; endpoints not readable: {}",
                api_error::describe(&e)
            ),
            "needs list on endpointslices (discovery.k8s.io) in the injector's namespace".into(),
        ),
    }
    Some(service)
}

/// The CA bundle parses and verifies the injector's serving certificate for the name the
/// API server dials (`SERVICE.NAMESPACE.svc`), as the API server itself will.
async fn check_ca_bundle(
    client: &Client,
    webhook: &MutatingWebhook,
    service: Option<&k8s_openapi::api::admissionregistration::v1::ServiceReference>,
    r: &mut CheckReport,
) {
    const CHECK: &str = "CA bundle";
    let bundle = webhook
        .client_config
        .ca_bundle
        .as_ref()
        .map(|b| b.0.clone())
        .unwrap_or_default();
    let roots: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bundle)
        .filter_map(Result::ok)
        .collect();
    if roots.is_empty() {
        r.fail(
            CHECK,
            format!("webhook {} has no usable caBundle", webhook.name),
            "with tls.mode=certManager the cainjector fills it (is cert-manager running?); with tls.mode=helm, helm upgrade writes it".into(),
        );
        return;
    }
    let Some(svc) = service else {
        r.ok(CHECK, format!("{} CA certificate(s)", roots.len()));
        return;
    };
    let Some(secret_name) = serving_secret(client, &svc.namespace, &svc.name).await else {
        r.warn(
            CHECK,
            format!(
                "{} CA certificate(s); the injector's serving Secret was not found",
                roots.len()
            ),
            "the dry run below still shows whether the API server trusts the injector".into(),
        );
        return;
    };
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &svc.namespace);
    let crt = match secrets.get(&secret_name).await {
        Ok(secret) => secret
            .data
            .and_then(|d| d.get("tls.crt").map(|b| b.0.clone()))
            .unwrap_or_default(),
        Err(e) => {
            r.warn(
                CHECK,
                format!(
                    "{} CA certificate(s); Secret {}/{secret_name} not readable: {}",
                    roots.len(),
                    svc.namespace,
                    api_error::describe(&e)
                ),
                "reading it needs get on secrets in the injector's namespace; the dry run below still shows whether the API server trusts the injector".into(),
            );
            return;
        }
    };
    let dns = format!("{}.{}.svc", svc.name, svc.namespace);
    match verify_serving(&roots, &crt, &dns) {
        Ok(()) => r.ok(
            CHECK,
            format!(
                "verifies the serving certificate in Secret {}/{secret_name} for {dns}",
                svc.namespace
            ),
        ),
        Err(why) => r.fail(
            CHECK,
            format!(
                "does not verify the serving certificate in Secret {}/{secret_name} for {dns}: {why}",
                svc.namespace
            ),
            "the API server will not trust the injector: with tls.mode=helm run helm upgrade (it rewrites both); with cert-manager check the Certificate and the cainjector annotation".into(),
        ),
    }
}

/// The Secret mounted by the Deployment behind the Service (the one holding `tls.crt`).
async fn serving_secret(client: &Client, ns: &str, service: &str) -> Option<String> {
    let svc = Api::<Service>::namespaced(client.clone(), ns)
        .get(service)
        .await
        .ok()?;
    let selector = svc.spec?.selector?;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), ns);
    let list = deployments.list(&ListParams::default()).await.ok()?;
    list.items.into_iter().find_map(|d| {
        let template = d.spec?.template;
        let labels = template.metadata?.labels.unwrap_or_default();
        if !selector.iter().all(|(k, v)| labels.get(k) == Some(v)) {
            return None;
        }
        template
            .spec?
            .volumes?
            .into_iter()
            .find_map(|v| v.secret.and_then(|s| s.secret_name))
    })
}

/// Verify `crt_pem` (leaf first) against `roots` for `dns`, now.
pub fn verify_serving(
    roots: &[CertificateDer<'static>],
    crt_pem: &[u8],
    dns: &str,
) -> Result<(), String> {
    let mut store = rustls::RootCertStore::empty();
    for root in roots {
        store
            .add(root.clone())
            .map_err(|e| format!("bad CA certificate: {e}"))?;
    }
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(crt_pem)
        .filter_map(Result::ok)
        .collect();
    let Some((leaf, intermediates)) = chain.split_first() else {
        return Err("tls.crt holds no certificate".into());
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier =
        rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(store), provider)
            .build()
            .map_err(|e| e.to_string())?;
    let name = ServerName::try_from(dns.to_string()).map_err(|e| e.to_string())?;
    verifier
        .verify_server_cert(leaf, intermediates, &name, &[], UnixTime::now())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The namespace exists, the webhook's namespaceSelector sends its pods, and its Pod
/// Security level admits the agent. Returns whether its pods reach the webhook.
async fn check_namespace(
    client: &Client,
    opts: &CheckOptions,
    webhook: &MutatingWebhook,
    r: &mut CheckReport,
) -> bool {
    const CHECK: &str = "namespace";
    let ns = &opts.namespace;
    let namespace = match Api::<Namespace>::all(client.clone()).get(ns).await {
        Ok(n) => n,
        Err(e) => {
            r.fail(
                CHECK,
                format!("namespace {ns}: {}", api_error::describe(&e)),
                "pass -n with the namespace your workload runs in".into(),
            );
            return false;
        }
    };
    let labels = namespace.labels().clone();
    if let Some(selector) = &webhook.namespace_selector {
        if let Err(why) = selector_matches(selector, &labels) {
            r.fail(
                CHECK,
                format!(
                    "namespace {ns} is not selected by webhook {}: {why}",
                    webhook.name
                ),
                selector_fix(ns, selector),
            );
            return false;
        }
    }
    let level = labels
        .get("pod-security.kubernetes.io/enforce")
        .map(String::as_str)
        .unwrap_or("(none)");
    r.ok(
        CHECK,
        format!("{ns} is sent to the webhook; Pod Security enforce {level} (the agent is restricted-compliant)"),
    );
    true
}

/// Whether `labels` satisfy `selector`; the first unmet requirement otherwise.
pub fn selector_matches(
    selector: &LabelSelector,
    labels: &BTreeMap<String, String>,
) -> Result<(), String> {
    for (k, v) in selector.match_labels.iter().flatten() {
        if labels.get(k) != Some(v) {
            return Err(format!("needs label {k}={v}"));
        }
    }
    for e in selector.match_expressions.iter().flatten() {
        let values = e.values.clone().unwrap_or_default();
        let have = labels.get(&e.key);
        let ok = match e.operator.as_str() {
            "In" => have.is_some_and(|v| values.contains(v)),
            "NotIn" => !have.is_some_and(|v| values.contains(v)),
            "Exists" => have.is_some(),
            "DoesNotExist" => have.is_none(),
            _ => false,
        };
        if !ok {
            return Err(format!(
                "{} {} {}",
                e.key,
                e.operator,
                if values.is_empty() {
                    String::new()
                } else {
                    format!("[{}]", values.join(", "))
                }
            )
            .trim_end()
            .to_string());
        }
    }
    Ok(())
}

fn selector_fix(ns: &str, selector: &LabelSelector) -> String {
    if let Some((k, v)) = selector.match_labels.iter().flatten().next() {
        return format!("kubectl label namespace {ns} {k}={v}");
    }
    for e in selector.match_expressions.iter().flatten() {
        let values = e.values.clone().unwrap_or_default();
        match (e.operator.as_str(), values.as_slice()) {
            ("In", [one]) if e.key != "kubernetes.io/metadata.name" => {
                return format!("kubectl label namespace {ns} {}={one}", e.key);
            }
            ("NotIn", _) if values.iter().any(|v| v == ns) => {
                return format!(
                    "{ns} is excluded on purpose (the chart's excludeNamespaces and the system namespaces): run the workload in another namespace"
                );
            }
            _ => {}
        }
    }
    "the namespace is not matched by the chart's webhook.namespaceSelector; label it to match or change the values".to_string()
}

/// A sample opted-in pod, created with `dryRun=All`: the API server runs admission (this
/// webhook included, which is why it must declare no side effects) and stores nothing.
async fn dry_run(client: &Client, opts: &CheckOptions, config: &str, r: &mut CheckReport) {
    const CHECK: &str = "dry-run injection";
    let pods: Api<Pod> = Api::namespaced(client.clone(), &opts.namespace);
    let sample = sample_pod();
    let params = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    match pods.create(&params, &sample).await {
        Ok(pod) => {
            let annotated =
                pod.annotations().get(keys::STATUS).map(String::as_str) == Some(STATUS_INJECTED);
            let spec = pod.spec.unwrap_or_default();
            let container = spec
                .containers
                .iter()
                .chain(spec.init_containers.iter().flatten())
                .any(|c| c.name == CONTAINER_NAME);
            if annotated && container {
                r.ok(
                    CHECK,
                    format!(
                        "a sample pod in {} gets the {CONTAINER_NAME} sidecar",
                        opts.namespace
                    ),
                );
            } else {
                r.fail(
                    CHECK,
                    format!("a sample opted-in pod in {} came back without the sidecar", opts.namespace),
                    format!("the API server did not get an answer from the injector and, with failurePolicy Ignore, went on: see the injector's log and the API server's log for webhook {config} (TLS or network from the control plane to the injector's port)"),
                );
            }
        }
        Err(e) => {
            let text = api_error::describe(&e);
            let hint = if text.contains("maximum") && text.contains("per Container")
                || text.contains("minimum") && text.contains("per Container")
            {
                "the namespace's LimitRange refuses the pod with the agent's resources: lower them for the namespace's pods (testcar.io/cpu-limit, testcar.io/memory-limit) or in the chart (agent.resources)".to_string()
            } else if text.contains("exceeded quota") {
                "the namespace's ResourceQuota has no room for the pod with its sidecar: raise the quota or lower agent.resources".to_string()
            } else if text.contains("violates PodSecurity") {
                "the namespace's Pod Security level refuses the pod (the sample app is restricted-compliant; see the message for the agent's field)".to_string()
            } else {
                format!(
                    "the dry run needs create on pods in {}{}; or pass --no-dry-run",
                    opts.namespace,
                    api_error::rbac_hint(&e, "create on pods")
                )
            };
            r.fail(CHECK, format!("cannot dry-run a pod: {text}"), hint);
        }
    }
}

fn sample_pod() -> Pod {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "generateName": "testcar-check-",
            "labels": {"app.kubernetes.io/name": "testcar-check"},
            "annotations": {keys::INJECT: "true", keys::TARGET: "http://127.0.0.1:8080"}
        },
        "spec": {
            "securityContext": {"runAsNonRoot": true, "runAsUser": 65532, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "app",
                "image": "registry.k8s.io/pause:3.10",
                "ports": [{"containerPort": 8080}],
                "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}
            }]
        }
    }))
    .expect("the sample pod is a valid Pod")
}

#[cfg(test)]
mod tests;
