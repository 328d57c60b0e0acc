//! One AdmissionReview in, one AdmissionReview out: reads the request (fast path straight
//! into a typed Pod), routes it to [`Injector::mutate`], and always produces a response body
//! (an `invalid` response when the body cannot be read), never an error. Reading the review
//! is kept apart from deciding for the pod, as in kube-core's `admission.rs`.

use k8s_openapi::api::core::v1::Pod;
use kube_core::DynamicObject;
use kube_core::admission::{AdmissionRequest, AdmissionResponse, AdmissionReview, Operation};
use serde_json::Value;

use crate::mutate::{Injector, MAX_WARNING_CHARS, Outcome, Skip};

/// What the injector did with one admission request (the `decision` metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// The pod gets the agent.
    Injected,
    /// Allowed unchanged.
    Skipped,
    /// The request could not be read; allowed unchanged (or answered `invalid`).
    Error,
}

impl Decision {
    /// The metric / log spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Injected => "injected",
            Decision::Skipped => "skipped",
            Decision::Error => "error",
        }
    }
}

/// Why: a bounded set, used as the `reason` metric label. The request-level reasons are
/// decided here (and in `server.rs`); the pod-level ones come from
/// [`Skip`](crate::mutate::Skip), the injector's eligibility check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// Injected.
    Injected,
    /// The object is not a core/v1 Pod.
    NotPod,
    /// The operation is not CREATE.
    NotCreate,
    /// A subresource (e.g. `pods/ephemeralcontainers`).
    Subresource,
    /// The pod was left alone, for a reason of the pod's own or of the configuration.
    Skipped(Skip),
    /// A pod that must not restart (a Job's) on a cluster without native sidecars (before
    /// Kubernetes 1.29): the agent would keep it from completing.
    NoNativeSidecars,
    /// The object claims to be a Pod but does not read as one.
    UnreadablePod,
    /// The body is not an AdmissionReview with a request.
    InvalidReview,
    /// The body was refused before reading (too large, or the client broke off).
    BodyRejected,
}

impl Reason {
    /// The metric / log spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Injected => "injected",
            Reason::NotPod => "not-pod",
            Reason::NotCreate => "not-create",
            Reason::Subresource => "subresource",
            Reason::Skipped(skip) => skip.as_str(),
            Reason::NoNativeSidecars => "no-native-sidecars",
            Reason::UnreadablePod => "unreadable-pod",
            Reason::InvalidReview => "invalid-review",
            Reason::BodyRejected => "body-rejected",
        }
    }
}

/// The answer to one review, with what is needed to log and count it.
#[derive(Debug)]
pub struct Reviewed {
    /// The AdmissionReview response, serialized.
    pub body: Vec<u8>,
    /// What was done.
    pub decision: Decision,
    /// Why.
    pub reason: Reason,
    /// The request uid (empty if unreadable).
    pub uid: String,
    /// The request namespace.
    pub namespace: String,
    /// Pod name, else `generateName` followed by `*`.
    pub pod: String,
    /// Whether the request was a dry run.
    pub dry_run: bool,
    /// Number of patch operations returned.
    pub patch_ops: usize,
    /// The warnings returned.
    pub warnings: Vec<String>,
}

/// Answer one AdmissionReview body.
pub fn review(injector: &Injector, body: &[u8]) -> Reviewed {
    // Nearly every request the webhook sees is a Pod: read it typed in one pass, and only
    // fall back to the generic shape for other kinds or unusual bodies.
    if let Ok(review) = serde_json::from_slice::<AdmissionReview<Pod>>(body) {
        if let Ok(req) = review.try_into() {
            let mut req: AdmissionRequest<Pod> = req;
            let label = pod_label(&req);
            // Moved out, not cloned: the pod is the bulk of the request.
            let pod = req.object.take();
            return answer(injector, &req, label, |inj, ns| match &pod {
                Some(pod) => inj.mutate(pod, ns),
                None => unreadable("the request has no object"),
            });
        }
    }
    let review = match serde_json::from_slice::<AdmissionReview<DynamicObject>>(body) {
        Ok(r) => r,
        Err(e) => {
            let mut r = invalid(format!("cannot read the AdmissionReview: {e}"));
            // Still answer the request's uid when it can be found: the API server matches
            // responses by uid and reports a mismatch instead of our reason.
            if let Some(uid) = salvage_uid(body) {
                r = invalid_for(uid, r.warnings.remove(0));
            }
            return r;
        }
    };
    let req: AdmissionRequest<DynamicObject> = match review.try_into() {
        Ok(r) => r,
        Err(_) => return invalid("the AdmissionReview has no request".to_string()),
    };
    let label = pod_label(&req);
    answer(injector, &req, label, |inj, ns| {
        match pod_from_dynamic(&req) {
            Ok(pod) => inj.mutate(&pod, ns),
            Err(e) => unreadable(&e),
        }
    })
}

fn pod_from_dynamic(req: &AdmissionRequest<DynamicObject>) -> Result<Pod, String> {
    let obj = req
        .object
        .as_ref()
        .ok_or_else(|| "the request has no object".to_string())?;
    let mut value = serde_json::to_value(obj).map_err(|e| e.to_string())?;
    if let Value::Object(map) = &mut value {
        // k8s-openapi insists on apiVersion/kind; the request's kind already says Pod.
        map.entry("apiVersion").or_insert_with(|| "v1".into());
        map.entry("kind").or_insert_with(|| "Pod".into());
    }
    serde_json::from_value(value).map_err(|e| format!("the object is not a readable Pod: {e}"))
}

fn unreadable(why: &str) -> Outcome {
    // serde's message quotes the offending value, which can be any length: cut it so that
    // the warning stays within what the API server keeps and still ends with the outcome.
    const TAIL: &str = "; the pod is not injected";
    let room = MAX_WARNING_CHARS - "testcar: ".len() - TAIL.len() - 1;
    let why = if why.chars().count() > room {
        format!("{}…", why.chars().take(room).collect::<String>())
    } else {
        why.to_string()
    };
    Outcome {
        decision: Decision::Error,
        reason: Reason::UnreadablePod,
        patch: json_patch::Patch(Vec::new()),
        warnings: vec![format!("testcar: {why}{TAIL}")],
    }
}

/// Route a readable request: only Pod CREATE reaches the injector.
fn answer<T: kube_core::Resource + Clone>(
    injector: &Injector,
    req: &AdmissionRequest<T>,
    pod: String,
    mutate: impl FnOnce(&Injector, &str) -> Outcome,
) -> Reviewed {
    let namespace = req.namespace.clone().unwrap_or_default();
    let outcome = if !req.kind.group.is_empty() || req.kind.kind != "Pod" {
        Outcome::skipped(Reason::NotPod, Vec::new())
    } else if req.sub_resource.as_deref().is_some_and(|s| !s.is_empty()) {
        Outcome::skipped(Reason::Subresource, Vec::new())
    } else if req.operation != Operation::Create {
        Outcome::skipped(Reason::NotCreate, Vec::new())
    } else {
        mutate(injector, &namespace)
    };
    let mut response = AdmissionResponse::from(req);
    if !outcome.warnings.is_empty() {
        response.warnings = Some(outcome.warnings.clone());
    }
    let patch_ops = outcome.patch.0.len();
    if patch_ops > 0 {
        response = match response.with_patch(outcome.patch) {
            Ok(r) => r,
            Err(e) => return invalid(format!("cannot serialize the patch: {e}")),
        };
    }
    let body = match encode(response) {
        Ok(b) => b,
        Err(e) => return invalid(format!("cannot serialize the response: {e}")),
    };
    Reviewed {
        body,
        decision: outcome.decision,
        reason: outcome.reason,
        uid: req.uid.clone(),
        namespace,
        pod,
        dry_run: req.dry_run,
        patch_ops,
        warnings: outcome.warnings,
    }
}

/// The response review as the API server's Go decoder expects it: `patch` as base64 text
/// (kube-core would write the bytes as a JSON array of numbers).
fn encode(mut response: AdmissionResponse) -> Result<Vec<u8>, serde_json::Error> {
    use base64::Engine;
    let patch = response.patch.take();
    let mut review = serde_json::to_value(response.into_review())?;
    if let (Some(bytes), Some(Value::Object(r))) = (patch, review.get_mut("response")) {
        let text = base64::engine::general_purpose::STANDARD.encode(bytes);
        r.insert("patch".to_string(), Value::String(text));
    }
    serde_json::to_vec(&review)
}

fn pod_label<T: kube_core::Resource>(req: &AdmissionRequest<T>) -> String {
    if !req.name.is_empty() {
        return req.name.clone();
    }
    req.object
        .as_ref()
        .and_then(|o| o.meta().generate_name.clone())
        .map(|g| format!("{g}*"))
        .unwrap_or_default()
}

/// The request uid of a review that does not read as a whole (a number out of range, a
/// lone surrogate, nesting past serde_json's limit somewhere in the object): everything but
/// `request.uid` is skipped without being interpreted.
fn salvage_uid(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Envelope {
        request: Option<Request>,
    }
    #[derive(serde::Deserialize)]
    struct Request {
        uid: String,
    }
    serde_json::from_slice::<Envelope>(body)
        .ok()?
        .request
        .map(|r| r.uid)
        .filter(|uid| !uid.is_empty())
}

fn invalid(reason: String) -> Reviewed {
    invalid_for(String::new(), reason)
}

fn invalid_for(uid: String, reason: String) -> Reviewed {
    let mut response = AdmissionResponse::invalid(&reason);
    response.uid = uid.clone();
    let body = serde_json::to_vec(&response.into_review()).unwrap_or_else(|_| b"{}".to_vec());
    Reviewed {
        body,
        decision: Decision::Error,
        reason: Reason::InvalidReview,
        uid,
        namespace: String::new(),
        pod: String::new(),
        dry_run: false,
        patch_ops: 0,
        warnings: vec![reason],
    }
}

#[cfg(test)]
mod tests;
