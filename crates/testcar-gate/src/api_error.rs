//! Reading kube-rs errors the way a pipeline user needs them: the HTTP code and the API
//! server's message in one short line, and whether waiting longer could help.

/// The HTTP status code of an API error, if the server answered.
pub fn code(error: &kube::Error) -> Option<u16> {
    match error {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

/// Whether retrying cannot help: the caller is not authenticated or not allowed.
pub fn is_fatal(error: &kube::Error) -> bool {
    matches!(code(error), Some(401 | 403))
}

/// One line: `403 Forbidden: pods is forbidden: ...`, or the transport error.
pub fn describe(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => {
            let reason = if status.reason.is_empty() {
                String::new()
            } else {
                format!(" {}", status.reason)
            };
            let message = status.message.trim();
            if message.is_empty() {
                format!("HTTP {}{reason}", status.code)
            } else {
                format!("HTTP {}{reason}: {message}", status.code)
            }
        }
        other => {
            // kube's transport errors nest the useful part in their sources.
            let mut text = other.to_string();
            let mut source = std::error::Error::source(other);
            while let Some(s) = source {
                let s_text = s.to_string();
                if !text.contains(&s_text) {
                    text.push_str(": ");
                    text.push_str(&s_text);
                }
                source = s.source();
            }
            text
        }
    }
}

/// For 401/403: which RBAC rule is missing, to append to the message.
pub fn rbac_hint(error: &kube::Error, rule: &str) -> String {
    match code(error) {
        Some(403) => format!(" (the gate's identity needs RBAC: {rule}; see docs/rbac-gate.yaml)"),
        Some(401) => {
            " (the credentials in the kubeconfig or service account were rejected)".to_string()
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mk_status(code: u16, reason: &str, message: &str) -> kube::Error {
        kube::Error::Api(Box::new(kube::core::Status {
            code,
            reason: reason.into(),
            message: message.into(),
            ..Default::default()
        }))
    }

    #[test]
    fn describes_api_errors_in_one_line() {
        let e = mk_status(
            403,
            "Forbidden",
            "pods \"x\" is forbidden: User cannot get resource \"pods/log\"",
        );
        assert_eq!(
            describe(&e),
            "HTTP 403 Forbidden: pods \"x\" is forbidden: User cannot get resource \"pods/log\""
        );
        assert!(is_fatal(&e));
        assert!(rbac_hint(&e, "get pods/log").contains("get pods/log"));
        let e = mk_status(503, "", "");
        assert_eq!(describe(&e), "HTTP 503");
        assert!(!is_fatal(&e));
        assert_eq!(rbac_hint(&e, "x"), "");
    }
}
