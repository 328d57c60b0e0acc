//! Credential chain: OAuth2, Kerberos/SPNEGO, chaining, mTLS, HMAC, static.
