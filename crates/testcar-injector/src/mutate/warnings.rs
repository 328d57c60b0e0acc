//! The admission warnings' budget and wording helpers. kube-apiserver may cut a long warning
//! (losing the part that says what to do) and keeps 4,096 characters per request for all
//! webhooks together, so every stage words its warnings through here.

use testcar_contract::annotations::{AnnotationError, ParsedAnnotations};

/// Longest admission warning, in characters: kube-apiserver may truncate longer ones.
pub const MAX_WARNING_CHARS: usize = 256;

/// Most characters of warnings for one pod. kube-apiserver keeps 4,096 in total for a request,
/// shared with every other webhook, so Testcar takes half and says when it left some out.
pub const MAX_WARNINGS_TOTAL_CHARS: usize = 2048;

/// Cut each warning to [`MAX_WARNING_CHARS`], then the list to [`MAX_WARNINGS_TOTAL_CHARS`].
/// Returns the warnings left out, for the log.
pub(super) fn fit_budget(warnings: &mut Vec<String>) -> Vec<String> {
    for w in warnings.iter_mut() {
        if w.chars().count() > MAX_WARNING_CHARS {
            *w = short(w, MAX_WARNING_CHARS - 1);
        }
    }
    cap_total(warnings)
}

/// The warnings for unknown `testcar.io/*` keys: given whether or not the pod is injected,
/// since a typo in a key is the usual reason for "nothing happened".
pub(super) fn unknown_keys(parsed: &ParsedAnnotations) -> Vec<String> {
    parsed
        .warnings
        .iter()
        .map(|w| format!("testcar: {}", short(&w.message, 300)))
        .collect()
}

pub(super) fn annotation_error_text(e: &AnnotationError) -> String {
    format!(
        "annotation {}: {:?} is not valid; expected {}",
        e.key,
        short(&e.value, 80),
        e.expected
    )
}

/// The warning for an annotation whose value was not understood on an injected pod: the
/// pod is still injected, with the default for that setting.
pub(super) fn default_used_text(e: &AnnotationError) -> String {
    format!("{}; the default is used", annotation_error_text(e))
}

/// Keeps the first warnings within [`MAX_WARNINGS_TOTAL_CHARS`] and replaces the rest by one
/// that counts them, so the total never exceeds the budget and nothing is dropped silently.
/// Returns the warnings left out, for the log.
fn cap_total(warnings: &mut Vec<String>) -> Vec<String> {
    // Room for the closing "N more" warning, which is always shorter than 64 characters.
    const TAIL: usize = 64;
    let total: usize = warnings.iter().map(|w| w.chars().count()).sum();
    if total <= MAX_WARNINGS_TOTAL_CHARS {
        return Vec::new();
    }
    let mut used = 0;
    let mut keep = 0;
    for w in warnings.iter() {
        let n = w.chars().count();
        if used + n > MAX_WARNINGS_TOTAL_CHARS - TAIL {
            break;
        }
        used += n;
        keep += 1;
    }
    let dropped = warnings.split_off(keep);
    warnings.push(format!(
        "testcar: {} more warning(s) left out; see the injector's log",
        dropped.len()
    ));
    dropped
}

/// `s` cut to at most `max` characters, marked when cut (warnings must stay short).
pub(super) fn short(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let cut: String = s.chars().take(max).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests;
