//! One pod in, one [`Outcome`] out, in stages so that deciding never mixes with building:
//! [`eligibility`] (skip or go on) → [`facts`] (what the pod already has) → [`plan`] (every
//! choice and every warning) → [`build`] (the objects to add) → [`patch`] (the JSON Patch).
//! The stages are pure; the one read of a review (the gate's record of a verified ReplicaSet,
//! for scale-out pods) is [`Injector`]'s. Every rule is unit-tested beside its stage and
//! property-tested in `tests/`.

mod build;
mod eligibility;
mod facts;
mod patch;
mod plan;
mod warnings;

#[cfg(test)]
mod test_support;

use std::collections::HashSet;

use json_patch::Patch;
use k8s_openapi::api::core::v1::Pod;

use crate::admission::{Decision, Reason};
use crate::config::Config;
use crate::verified::{Lookup, VerifiedDir};

pub use eligibility::Skip;
pub use warnings::{MAX_WARNING_CHARS, MAX_WARNINGS_TOTAL_CHARS};

/// The injector's version, written to `testcar.io/injector-version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The decision for one pod: the patch (empty unless injected) and the admission warnings.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// What was done.
    pub decision: Decision,
    /// Why.
    pub reason: Reason,
    /// JSON Patch operations (only `add`).
    pub patch: Patch,
    /// Admission warnings for the pod's owner.
    pub warnings: Vec<String>,
}

impl Outcome {
    /// A skip with the given reason and warnings.
    pub fn skipped(reason: Reason, warnings: Vec<String>) -> Outcome {
        Outcome {
            decision: Decision::Skipped,
            reason,
            patch: Patch(Vec::new()),
            warnings,
        }
    }
}

/// Decides and builds patches, from the configuration.
#[derive(Debug, Clone)]
pub struct Injector {
    config: Config,
    excluded: HashSet<String>,
    mint: fn() -> String,
    verified: Option<VerifiedDir>,
}

/// A fresh read token: 32 bytes from the operating system's CSPRNG (through rustls' ring
/// provider, which the TLS server uses anyway), hex-encoded.
pub fn mint_read_token() -> String {
    let mut bytes = [0u8; 32];
    rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut bytes)
        .expect("the operating system's random source is available");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Injector {
    /// An injector with `config`; `own_namespace` (the injector's) is always excluded.
    pub fn new(config: Config, own_namespace: Option<&str>) -> Injector {
        let mut excluded: HashSet<String> = config.exclude_namespaces.iter().cloned().collect();
        if let Some(ns) = own_namespace.filter(|ns| !ns.is_empty()) {
            excluded.insert(ns.to_string());
        }
        Injector {
            config,
            excluded,
            mint: mint_read_token,
            verified: None,
        }
    }

    /// The same injector reading the ReplicaSets testcar-gate verified from `dir`.
    pub fn with_verified(mut self, dir: VerifiedDir) -> Injector {
        self.verified = Some(dir);
        self
    }

    /// The ReplicaSet `pod` scales out, when the gate verified it: the one recorded for its
    /// Deployment is the pod's own. Another one (an older ReplicaSet a rollback brought
    /// back, or a newer rollout) is a version to test. The only I/O of a review: one small
    /// file, read here so that the stages stay pure.
    fn verified_replica_set(&self, pod: &Pod, namespace: &str) -> Option<String> {
        let dir = self.verified.as_ref()?;
        let owner = facts::replica_set_owner(pod)?;
        match dir.lookup(namespace, &owner.deployment) {
            Lookup::Verified(rs) if rs == owner.replica_set => Some(rs),
            Lookup::Verified(_) | Lookup::NotRecorded => None,
            Lookup::Unreadable(why) => {
                tracing::warn!(%namespace, deployment = %owner.deployment, %why, "verified ReplicaSet record unreadable; the pod is tested in full");
                None
            }
        }
    }

    /// The same injector with another source of read tokens (tests pin one).
    pub fn with_token_source(mut self, mint: fn() -> String) -> Injector {
        self.mint = mint;
        self
    }

    /// The configuration in use.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Whether pods of `namespace` are never injected.
    pub fn is_excluded(&self, namespace: &str) -> bool {
        self.excluded.contains(namespace)
    }

    /// The annotations that keep a mesh's proxy off the agent's port: under Istio or Linkerd
    /// the proxy would take the port's inbound traffic and, with strict mTLS, refuse the
    /// plain-text scrapes and the API server's pod proxy.
    fn mesh_exclusions(&self, pod: &Pod, port: u16) -> Vec<(String, String)> {
        use crate::config::MeshPortExclusion;
        let meshes = match self.config.agent.mesh_port_exclusion {
            MeshPortExclusion::Never => return Vec::new(),
            MeshPortExclusion::Always => vec![facts::Mesh::Istio, facts::Mesh::Linkerd],
            MeshPortExclusion::Auto => facts::meshes(pod),
        };
        let existing = pod.metadata.annotations.clone().unwrap_or_default();
        meshes
            .into_iter()
            .filter_map(|m| {
                let key = m.exclusion_key();
                facts::with_port(existing.get(key).map(String::as_str), port)
                    .map(|v| (key.to_string(), v))
            })
            .collect()
    }

    /// Decide for a Pod being created in `namespace` and build its patch.
    pub fn mutate(&self, pod: &Pod, namespace: &str) -> Outcome {
        let mut out = self.decide(pod, namespace);
        for warning in warnings::fit_budget(&mut out.warnings) {
            let pod = pod
                .metadata
                .name
                .as_deref()
                .or(pod.metadata.generate_name.as_deref());
            tracing::warn!(%namespace, pod = pod.unwrap_or(""), %warning, "admission warning left out of the response");
        }
        out
    }

    fn decide(&self, pod: &Pod, namespace: &str) -> Outcome {
        let eligible = match eligibility::check(pod, namespace, |ns| self.is_excluded(ns)) {
            Ok(e) => e,
            Err(skipped) => return Outcome::skipped(skipped.skip.into(), skipped.warnings),
        };
        let restart = eligible.spec.restart_policy.as_deref().unwrap_or("Always");
        if restart != "Always" && !self.config.native_sidecars() {
            // A regular-container agent never exits, and an init container with
            // restartPolicy Always is not understood before 1.29: either way the pod would
            // never complete (or never start). Leave it alone and say why.
            return Outcome::skipped(
                Reason::NoNativeSidecars,
                vec![format!(
                    "testcar: the pod has restartPolicy {restart} and this cluster ({}) has no native sidecars (Kubernetes 1.29+): an agent would keep it from completing, so the pod is not injected",
                    self.config
                        .kubernetes_version
                        .as_deref()
                        .unwrap_or("unknown")
                )],
            );
        }
        let verified = self.verified_replica_set(pod, namespace);
        let suite_tags = match eligibility::scale_out(
            &eligible.parsed,
            self.config.on_scale_out,
            verified.as_deref(),
        ) {
            Ok(tags) => tags,
            Err(skipped) => {
                return Outcome {
                    decision: Decision::Skipped,
                    reason: skipped.skip.into(),
                    patch: patch::mark_scale_out(pod),
                    warnings: skipped.warnings,
                };
            }
        };
        let mut plan = plan::Plan::resolve(&self.config, eligible.spec, &eligible.parsed);
        plan.suite_tags = suite_tags;
        // Minted here, not in the plan, so that planning stays a pure function of the pod.
        plan.read_token = plan.endpoints.needs_token().then(self.mint);
        plan.annotations = self.mesh_exclusions(pod, plan.port);
        let additions = build::additions(&plan, eligible.spec);
        Outcome {
            decision: Decision::Injected,
            reason: Reason::Injected,
            patch: patch::emit(pod, &additions),
            warnings: plan.warnings,
        }
    }
}
