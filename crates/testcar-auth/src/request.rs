//! The one rule every runner follows to put credentials on a request: ask for headers before
//! each send, and after the first HTTP 401 refresh once and send again. Written once here so
//! the Artillery engine and the consistency checker cannot drift apart on it.

use crate::apply::{AuthError, RequestAuth, RequestParts};

/// Why credentials could not be applied to a request. Like [`AuthError`], whose message it
/// carries, it names the step and the reason, never a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// No headers could be had: the request must not be sent without them.
    #[error("credentials unavailable: {0}")]
    Unavailable(AuthError),
    /// A 401 asked for a refresh, which failed: the 401 stands.
    #[error("credential refresh failed: {0}")]
    Refresh(AuthError),
}

impl CredentialError {
    /// The step's own error, for runners that report it in their own words.
    pub fn cause(&self) -> &AuthError {
        match self {
            CredentialError::Unavailable(e) | CredentialError::Refresh(e) => e,
        }
    }
}

/// Credentials for one logical request and its resends (redirects included). Without
/// credentials it adds nothing and never asks for a resend.
#[derive(Debug)]
pub struct RequestCredentials<'a> {
    auth: Option<&'a dyn RequestAuth>,
    /// A refresh was already tried for this request: a second 401 is the answer.
    refreshed: bool,
}

impl<'a> RequestCredentials<'a> {
    /// Credentials from `auth` (none: requests go out as they are).
    pub fn new(auth: Option<&'a dyn RequestAuth>) -> Self {
        RequestCredentials {
            auth,
            refreshed: false,
        }
    }

    /// The headers to add to this send, asked for every time: a signature covers the URL
    /// and body as sent, and a refreshed token must replace the old one.
    pub async fn headers(
        &self,
        req: RequestParts<'_>,
    ) -> Result<Vec<(String, String)>, CredentialError> {
        match self.auth {
            Some(auth) => auth
                .headers(req)
                .await
                .map_err(CredentialError::Unavailable),
            None => Ok(Vec::new()),
        }
    }

    /// After a response with `status`: `Ok(true)` when the request should be sent again,
    /// which happens at most once, for the first 401 and only if the refresh renewed
    /// something (a static credential cannot do better the second time).
    pub async fn resend_after(&mut self, status: u16) -> Result<bool, CredentialError> {
        let Some(auth) = self.auth else {
            return Ok(false);
        };
        if status != 401 || self.refreshed {
            return Ok(false);
        }
        self.refreshed = true;
        auth.refresh().await.map_err(CredentialError::Refresh)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use futures::FutureExt;
    use futures::future::BoxFuture;

    use super::*;
    use crate::apply::ClientTls;

    const SECRET: &str = "s3cr3t-token";

    #[derive(Debug, Default)]
    struct Fake {
        refreshes: AtomicUsize,
        fail: bool,
    }

    impl RequestAuth for Fake {
        fn headers<'a>(
            &'a self,
            _req: RequestParts<'a>,
        ) -> BoxFuture<'a, Result<Vec<(String, String)>, AuthError>> {
            let fail = self.fail;
            async move {
                if fail {
                    return Err(AuthError {
                        step: "oauth2".into(),
                        message: "token endpoint answered 500".into(),
                    });
                }
                Ok(vec![("authorization".into(), format!("Bearer {SECRET}"))])
            }
            .boxed()
        }

        fn refresh(&self) -> BoxFuture<'_, Result<bool, AuthError>> {
            self.refreshes.fetch_add(1, Ordering::SeqCst);
            let fail = self.fail;
            async move {
                if fail {
                    return Err(AuthError {
                        step: "oauth2".into(),
                        message: "refresh refused".into(),
                    });
                }
                Ok(true)
            }
            .boxed()
        }

        fn client_tls(&self) -> Option<&ClientTls> {
            None
        }
    }

    fn parts() -> RequestParts<'static> {
        RequestParts {
            method: "GET",
            url: "http://svc/x",
            body: b"",
        }
    }

    #[tokio::test]
    async fn refreshes_once_on_the_first_401_only() {
        let auth = Fake::default();
        let mut creds = RequestCredentials::new(Some(&auth));
        assert_eq!(creds.headers(parts()).await.unwrap().len(), 1);
        assert!(!creds.resend_after(200).await.unwrap());
        assert!(!creds.resend_after(403).await.unwrap());
        assert!(creds.resend_after(401).await.unwrap());
        assert!(!creds.resend_after(401).await.unwrap());
        assert_eq!(auth.refreshes.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn without_credentials_nothing_is_added_or_resent() {
        let mut creds = RequestCredentials::new(None);
        assert!(creds.headers(parts()).await.unwrap().is_empty());
        assert!(!creds.resend_after(401).await.unwrap());
    }

    #[tokio::test]
    async fn errors_name_the_step_and_never_a_secret() {
        let auth = Fake {
            fail: true,
            ..Default::default()
        };
        let mut creds = RequestCredentials::new(Some(&auth));
        let e = creds.headers(parts()).await.unwrap_err();
        assert_eq!(
            e.to_string(),
            "credentials unavailable: auth step oauth2: token endpoint answered 500"
        );
        assert_eq!(e.cause().step, "oauth2");
        let e = creds.resend_after(401).await.unwrap_err();
        assert!(matches!(e, CredentialError::Refresh(_)));
        for text in [e.to_string(), format!("{e:?}"), format!("{creds:?}")] {
            assert!(!text.contains(SECRET), "{text}");
        }
    }
}
