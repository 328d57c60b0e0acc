//! Secret values read from mounted files. [`Secret`] never shows its value in `Debug` or
//! `Display`, so a secret that ends up in a struct, log field or error prints as `<redacted>`.

use std::path::{Path, PathBuf};

/// A secret value (token, password, key). Only [`Secret::expose`] reveals it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a value obtained at run time (e.g. an access token from a server).
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value itself: only for putting it on the wire or into a 0600 file.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A secret file could not be read. Names the file, never its content.
#[derive(Debug, thiserror::Error)]
#[error("cannot read secret file {}: {source}", path.display())]
pub struct SecretFileError {
    /// The file that was asked for.
    pub path: PathBuf,
    /// Why it could not be read.
    #[source]
    pub source: std::io::Error,
}

/// Read a secret from a file. Surrounding whitespace (Kubernetes Secrets created with
/// `echo` carry a trailing newline) is dropped; an empty file is an error because an empty
/// credential is never what was meant.
pub fn read_secret_file(path: &Path) -> Result<Secret, SecretFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| SecretFileError {
        path: path.to_path_buf(),
        source,
    })?;
    let value = text.trim();
    if value.is_empty() {
        return Err(SecretFileError {
            path: path.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, "the file is empty"),
        });
    }
    Ok(Secret(value.to_string()))
}

/// Resolve a path from the config: relative paths are relative to the auth folder.
pub fn resolve(base_dir: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base_dir.join(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("hunter2-very-secret");
        assert_eq!(format!("{s:?}"), "<redacted>");
        assert_eq!(format!("{s}"), "<redacted>");
        assert_eq!(format!("{:?}", Some(&s)), "Some(<redacted>)");
        assert_eq!(s.expose(), "hunter2-very-secret");
    }

    #[test]
    fn file_is_trimmed_and_empty_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("token");
        std::fs::write(&p, "abc123\n").unwrap();
        assert_eq!(read_secret_file(&p).unwrap().expose(), "abc123");
        std::fs::write(&p, "\n").unwrap();
        let err = read_secret_file(&p).unwrap_err().to_string();
        assert!(err.contains("token") && err.contains("empty"), "{err}");
        let err = read_secret_file(&dir.path().join("missing")).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
    }

    #[test]
    fn relative_paths_resolve_against_the_auth_folder() {
        let base = Path::new("/etc/testcar/auth");
        assert_eq!(
            resolve(base, Path::new("client-secret")),
            Path::new("/etc/testcar/auth/client-secret")
        );
        assert_eq!(resolve(base, Path::new("/run/s")), Path::new("/run/s"));
    }
}
