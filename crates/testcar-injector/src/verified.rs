//! The ReplicaSets testcar-gate verified, as the chart mounts them: the `testcar-verified`
//! ConfigMap as a folder, one file `<namespace>.<deployment>` holding the ReplicaSet's name.
//! Read at admission (one small file; the kubelet refreshes the folder), so the injector
//! needs no API access. Missing or unreadable means "not verified": the pod is tested.

use std::io::Read;
use std::path::{Path, PathBuf};

use testcar_contract::annotations::{is_dns_label, is_dns_subdomain};

/// Largest record read: a ReplicaSet name is at most 253 characters.
const MAX_RECORD_BYTES: u64 = 1024;

/// What the folder says about one Deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// The gate verified this ReplicaSet (by name).
    Verified(String),
    /// No record: nothing verified yet (or the kubelet has not synced it).
    NotRecorded,
    /// A record that cannot be used, and why (logged; the pod is tested in full).
    Unreadable(String),
}

/// The mounted folder of verified ReplicaSets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedDir {
    dir: PathBuf,
}

impl VerifiedDir {
    /// The folder the ConfigMap is mounted at.
    pub fn new(dir: impl Into<PathBuf>) -> VerifiedDir {
        VerifiedDir { dir: dir.into() }
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The record's key (`<namespace>.<deployment>`), when both are valid names: the
    /// deployment comes from the pod's ownerReference, which the pod's author writes, so it
    /// must never reach outside the folder.
    pub fn key(namespace: &str, deployment: &str) -> Option<String> {
        (is_dns_label(namespace) && is_dns_subdomain(deployment))
            .then(|| format!("{namespace}.{deployment}"))
    }

    /// The record of `deployment` in `namespace`.
    pub fn lookup(&self, namespace: &str, deployment: &str) -> Lookup {
        let Some(key) = Self::key(namespace, deployment) else {
            return Lookup::NotRecorded;
        };
        let path = self.dir.join(&key);
        let file = match std::fs::File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Lookup::NotRecorded,
            Err(e) => return Lookup::Unreadable(format!("cannot read {}: {e}", path.display())),
        };
        let mut bytes = Vec::new();
        if let Err(e) = file.take(MAX_RECORD_BYTES + 1).read_to_end(&mut bytes) {
            return Lookup::Unreadable(format!("cannot read {}: {e}", path.display()));
        }
        if bytes.len() as u64 > MAX_RECORD_BYTES {
            return Lookup::Unreadable(format!(
                "{}: longer than {MAX_RECORD_BYTES} bytes; expected a ReplicaSet name",
                path.display()
            ));
        }
        let name = String::from_utf8_lossy(&bytes).trim().to_string();
        if !is_dns_subdomain(&name) {
            let shown: String = name.chars().take(64).collect();
            return Lookup::Unreadable(format!(
                "{}: {shown:?} is not a ReplicaSet name (lowercase letters, digits, '-' and '.')",
                path.display()
            ));
        }
        Lookup::Verified(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_record_of_a_deployment() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("shop.orders"), "orders-7d4b9c\n").unwrap();
        let v = VerifiedDir::new(dir.path());
        assert_eq!(
            v.lookup("shop", "orders"),
            Lookup::Verified("orders-7d4b9c".into())
        );
        assert_eq!(v.lookup("shop", "billing"), Lookup::NotRecorded);
        assert_eq!(v.lookup("other", "orders"), Lookup::NotRecorded);
        // A folder that is not there (the ConfigMap is optional) is no record.
        assert_eq!(
            VerifiedDir::new(dir.path().join("absent")).lookup("shop", "orders"),
            Lookup::NotRecorded
        );
    }

    #[test]
    fn garbled_records_are_unreadable_and_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let v = VerifiedDir::new(dir.path());
        for (deployment, content) in [
            ("a", b"Orders_7d4b9c".to_vec()),
            ("b", b"".to_vec()),
            ("c", vec![0xff, 0xfe, 0x00]),
            ("d", "x".repeat(2000).into_bytes()),
        ] {
            std::fs::write(dir.path().join(format!("shop.{deployment}")), content).unwrap();
            match v.lookup("shop", deployment) {
                Lookup::Unreadable(why) => {
                    assert!(why.contains(&format!("shop.{deployment}")), "{why}")
                }
                other => panic!("{deployment}: {other:?}"),
            }
        }
        // A folder where the file should be.
        std::fs::create_dir(dir.path().join("shop.e")).unwrap();
        assert!(matches!(v.lookup("shop", "e"), Lookup::Unreadable(_)));
    }

    #[test]
    fn names_from_the_pod_never_leave_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secret"), "orders-1").unwrap();
        let v = VerifiedDir::new(dir.path().join("sub"));
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        for (ns, d) in [
            ("..", "secret"),
            ("shop", "../secret"),
            ("a.b", "c"),
            ("", "x"),
        ] {
            assert_eq!(v.lookup(ns, d), Lookup::NotRecorded, "{ns} {d}");
            assert_eq!(VerifiedDir::key(ns, d), None);
        }
        assert_eq!(
            VerifiedDir::key("shop", "orders").as_deref(),
            Some("shop.orders")
        );
    }
}
