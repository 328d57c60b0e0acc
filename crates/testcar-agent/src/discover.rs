//! Turns paths into a plan of suites: a folder's `testcar.yaml` when present, else every
//! Artillery script in it by name (`*.yml`, `*.yaml`, `*.json`; `*.consistency.yaml` files
//! become consistency suites);
//! and, for tests the app copies in itself, waits until the folder is filled and settled.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use testcar_contract::paths::MANIFEST_FILE;
use testcar_contract::tags::TagSelection;
use tokio_util::sync::CancellationToken;

use crate::manifest::{self, ManifestError, SuiteDef, SuiteKind};

/// Tests that could not be found or read.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    /// A manifest is invalid.
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    /// A path does not exist or cannot be listed.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A path given as the tests does not exist.
    #[error(
        "the tests folder {path} does not exist; it should hold the tests: a {MANIFEST_FILE} manifest, Artillery scripts (*.yml, *.yaml, *.json), consistency suites (*.consistency.yaml) and any files exec suites use"
    )]
    MissingFolder {
        /// The path.
        path: PathBuf,
    },
    /// A script given by name does not exist.
    #[error("the test script {path} does not exist")]
    MissingScript {
        /// The path.
        path: PathBuf,
    },
    /// A file is neither a manifest, an Artillery script nor a consistency suite.
    #[error(
        "{path}: not a test definition; expected testcar.yaml, an Artillery script (*.yml, *.yaml, *.json) or a consistency suite (*.consistency.yaml)"
    )]
    NotADefinition {
        /// The file.
        path: PathBuf,
    },
    /// Nothing to run.
    #[error(
        "no test suites found in {}: expected a {MANIFEST_FILE} or Artillery scripts (*.yml, *.yaml, *.json)",
        .paths.join(", ")
    )]
    Empty {
        /// The paths that were searched.
        paths: Vec<String>,
    },
    /// Two suites with one name.
    #[error(
        "two suites are named {name:?} ({first} and {second}); suite names must be unique in a run"
    )]
    DuplicateName {
        /// The name.
        name: String,
        /// Where the first came from.
        first: String,
        /// Where the second came from.
        second: String,
    },
    /// Two manifests carry an `auth:` block.
    #[error("both {first} and {second} have an auth: block; a run uses one credential chain")]
    TwoAuthBlocks {
        /// The first manifest.
        first: PathBuf,
        /// The second manifest.
        second: PathBuf,
    },
    /// The shared tests folder was not filled in time.
    #[error(
        "the tests folder {path} was still empty after {waited}; with tests source `shared` the application must copy its tests there"
    )]
    NeverFilled {
        /// The folder.
        path: PathBuf,
        /// How long we waited.
        waited: String,
    },
    /// The tests come from an image volume, but the folder is empty: the volume was dropped.
    #[error(
        "the tests folder {path} is empty although its tests come from an image (testcar.io/tests: image:…): the API server dropped the image volume (the ImageVolume feature is off by default before Kubernetes 1.35) or the container runtime cannot mount images; use configmap: or copy: there"
    )]
    ImageVolumeEmpty {
        /// The folder.
        path: PathBuf,
    },
    /// Stopped while waiting for the tests.
    #[error("stopped while waiting for the tests folder {path} to be filled")]
    Interrupted {
        /// The folder.
        path: PathBuf,
    },
    /// The tag selection leaves no suite to run.
    #[error(
        "no suite has the tag(s) {wanted} (--tags / {}), so nothing was run; the {count} suite(s) found have {}",
        testcar_contract::env::SUITE_TAGS,
        if .found.is_empty() { "no tags: give the suites to run `tags:` in testcar.yaml".to_string() } else { format!("the tags {}", .found.join(", ")) }
    )]
    NoneSelected {
        /// The tags asked for.
        wanted: String,
        /// How many suites there were.
        count: usize,
        /// The tags the suites have, sorted.
        found: Vec<String>,
    },
}

impl DiscoverError {
    /// The log headline: the tests were not found, or they were found and are invalid.
    pub fn headline(&self) -> &'static str {
        match self {
            DiscoverError::Manifest(_)
            | DiscoverError::NotADefinition { .. }
            | DiscoverError::DuplicateName { .. }
            | DiscoverError::TwoAuthBlocks { .. } => "invalid test definitions",
            DiscoverError::Read { .. }
            | DiscoverError::MissingFolder { .. }
            | DiscoverError::MissingScript { .. }
            | DiscoverError::Empty { .. }
            | DiscoverError::NeverFilled { .. }
            | DiscoverError::ImageVolumeEmpty { .. }
            | DiscoverError::Interrupted { .. } => "cannot find the tests",
            DiscoverError::NoneSelected { .. } => "no suite selected by tags",
        }
    }
}

/// Everything a run needs to know about its tests.
#[derive(Debug, Clone, Default)]
pub struct Plan {
    /// Suites in order.
    pub suites: Vec<SuiteDef>,
    /// Whole-run timeout from a manifest.
    pub timeout: Option<Duration>,
    /// A manifest's `auth:` block and the manifest it came from.
    pub auth: Option<(PathBuf, testcar_yaml::Value)>,
    /// Run-wide fault proxies from the manifests.
    pub proxies: Vec<crate::faults::ProxyDef>,
}

impl Plan {
    /// Keep only the suites `tags` selects (all without a selection). A tag that no suite
    /// has is not an error; a selection that leaves nothing to run is, naming the tags the
    /// suites do have: a run that tests nothing must not pass.
    pub fn select(mut self, tags: Option<&TagSelection>) -> Result<Plan, DiscoverError> {
        let Some(tags) = tags else {
            return Ok(self);
        };
        let count = self.suites.len();
        let found: BTreeSet<String> = self.suites.iter().flat_map(|s| s.tags.clone()).collect();
        let (kept, left): (Vec<SuiteDef>, Vec<SuiteDef>) =
            self.suites.into_iter().partition(|s| tags.selects(&s.tags));
        if kept.is_empty() {
            return Err(DiscoverError::NoneSelected {
                wanted: tags.to_string(),
                count,
                found: found.into_iter().collect(),
            });
        }
        let names = |v: &[SuiteDef]| {
            v.iter()
                .map(|s| s.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        tracing::info!(tags = %tags, selected = %names(&kept), left_out = %names(&left), "suites selected by tag");
        self.suites = kept;
        Ok(self)
    }
}

/// Build the plan for `paths` (folders, manifests, scripts), in the order given.
pub fn discover(paths: &[PathBuf]) -> Result<Plan, DiscoverError> {
    let mut plan = Plan::default();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|source| {
            match (source.kind(), path.extension().and_then(|e| e.to_str())) {
                (std::io::ErrorKind::NotFound, Some("yml" | "yaml" | "json")) => {
                    DiscoverError::MissingScript { path: path.clone() }
                }
                (std::io::ErrorKind::NotFound, _) => {
                    DiscoverError::MissingFolder { path: path.clone() }
                }
                _ => DiscoverError::Read {
                    path: path.clone(),
                    source,
                },
            }
        })?;
        if meta.is_dir() {
            let manifest_path = path.join(MANIFEST_FILE);
            if manifest_path.is_file() {
                add_manifest(&mut plan, &manifest_path)?;
            } else {
                for file in definition_files(path)? {
                    add_file(&mut plan, &file, path)?;
                }
            }
        } else if is_manifest(path) {
            add_manifest(&mut plan, path)?;
        } else {
            let base = path.parent().unwrap_or(Path::new("."));
            add_file(&mut plan, path, base)?;
        }
    }
    if plan.suites.is_empty() {
        return Err(DiscoverError::Empty {
            paths: paths.iter().map(|p| p.display().to_string()).collect(),
        });
    }
    Ok(plan)
}

fn is_manifest(path: &Path) -> bool {
    matches!(
        path.file_name().and_then(|f| f.to_str()),
        Some("testcar.yaml" | "testcar.yml")
    )
}

/// An Artillery script by name: YAML, or JSON (which Artillery runs too).
fn is_script(name: &str) -> bool {
    name.ends_with(".yml") || name.ends_with(".yaml") || name.ends_with(".json")
}

fn consistency_stem(name: &str) -> Option<&str> {
    name.strip_suffix(".consistency.yaml")
        .or_else(|| name.strip_suffix(".consistency.yml"))
}

/// Script and suite files (YAML, JSON) directly in `dir`, by name; hidden files (Kubernetes ConfigMap volumes keep
/// `..data` links) are not tests.
fn definition_files(dir: &Path) -> Result<Vec<PathBuf>, DiscoverError> {
    let read_err = |source| DiscoverError::Read {
        path: dir.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_err)? {
        let entry = entry.map_err(read_err)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !is_script(&name) || !entry.path().is_file() {
            continue;
        }
        files.push(entry.path());
    }
    files.sort();
    Ok(files)
}

fn add_manifest(plan: &mut Plan, path: &Path) -> Result<(), DiscoverError> {
    let m = manifest::load(path)?;
    if let Some(auth) = m.auth {
        if let Some((first, _)) = &plan.auth {
            return Err(DiscoverError::TwoAuthBlocks {
                first: first.clone(),
                second: path.to_path_buf(),
            });
        }
        plan.auth = Some((path.to_path_buf(), auth));
    }
    plan.timeout = match (plan.timeout, m.timeout) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    plan.proxies.extend(m.proxies);
    for suite in m.suites {
        push(plan, suite)?;
    }
    Ok(())
}

fn add_file(plan: &mut Plan, file: &Path, base: &Path) -> Result<(), DiscoverError> {
    let name = file
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let rel = PathBuf::from(&name);
    let (suite_name, kind) = if let Some(stem) = consistency_stem(&name) {
        (stem.to_string(), SuiteKind::Consistency(rel))
    } else if is_script(&name) {
        let stem = name.rsplit_once('.').map(|(s, _)| s).unwrap_or(&name);
        (stem.to_string(), SuiteKind::Artillery(rel))
    } else {
        return Err(DiscoverError::NotADefinition {
            path: file.to_path_buf(),
        });
    };
    let mut def = SuiteDef::new(suite_name, kind, base);
    def.source = Some(name);
    // Without a manifest every script runs: one failing script must not hide the others.
    def.continue_on_failure = true;
    push(plan, def)
}

fn push(plan: &mut Plan, suite: SuiteDef) -> Result<(), DiscoverError> {
    let origin = |s: &SuiteDef| {
        s.file()
            .map(|f| f.display().to_string())
            .or_else(|| s.source.clone())
            .unwrap_or_default()
    };
    if let Some(prev) = plan.suites.iter().find(|s| s.name == suite.name) {
        return Err(DiscoverError::DuplicateName {
            name: suite.name.clone(),
            first: origin(prev),
            second: origin(&suite),
        });
    }
    plan.suites.push(suite);
    Ok(())
}

/// Whether `path` is missing or a folder with nothing in it: what an image volume the API
/// server dropped leaves behind.
pub fn is_empty_folder(path: &Path) -> bool {
    std::fs::read_dir(path).map_or(true, |mut entries| entries.next().is_none())
}

/// Wait until `dir` holds at least one file and nothing in it changed for `settle`: the
/// application copies its tests in while both containers start.
pub async fn wait_until_filled(
    dir: &Path,
    timeout: Duration,
    settle: Duration,
    cancel: &CancellationToken,
) -> Result<(), DiscoverError> {
    let started = tokio::time::Instant::now();
    let mut last: Option<(Snapshot, tokio::time::Instant)> = None;
    loop {
        let snapshot = snapshot(dir);
        let now = tokio::time::Instant::now();
        if !snapshot.is_empty() {
            match &last {
                Some((prev, since)) if *prev == snapshot => {
                    if now.duration_since(*since) >= settle {
                        return Ok(());
                    }
                }
                _ => last = Some((snapshot, now)),
            }
        } else {
            last = None;
        }
        if now.duration_since(started) >= timeout {
            if last.is_some() {
                // Filled but still changing at the deadline: run what is there.
                tracing::warn!(dir = %dir.display(), "tests folder still changing at the deadline; running what is there");
                return Ok(());
            }
            return Err(DiscoverError::NeverFilled {
                path: dir.to_path_buf(),
                waited: testcar_contract::duration::format_duration(timeout),
            });
        }
        tokio::select! {
            _ = cancel.cancelled() => return Err(DiscoverError::Interrupted { path: dir.to_path_buf() }),
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
}

/// Files with size and modification time, sorted.
type Snapshot = Vec<(PathBuf, u64, Option<SystemTime>)>;

/// Files under `dir` (two levels) with size and modification time.
fn snapshot(dir: &Path) -> Snapshot {
    fn walk(dir: &Path, depth: u8, out: &mut Snapshot) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                if depth > 0 {
                    walk(&entry.path(), depth - 1, out);
                }
            } else {
                out.push((entry.path(), meta.len(), meta.modified().ok()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, 1, &mut out);
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mk_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        dir
    }

    #[test]
    fn scripts_in_name_order_with_consistency_suites() {
        let dir = mk_dir(&[
            ("b-load.yaml", "scenarios: []"),
            ("a-smoke.yml", "scenarios: []"),
            ("c-soak.json", "{\"scenarios\": []}"),
            ("kv.consistency.yaml", "x: 1"),
            ("notes.txt", "not a test"),
            (".hidden.yaml", "x: 1"),
        ]);
        let plan = discover(&[dir.path().to_path_buf()]).unwrap();
        let names: Vec<_> = plan.suites.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["a-smoke", "b-load", "c-soak", "kv"]);
        assert_eq!(
            plan.suites[2].kind,
            SuiteKind::Artillery("c-soak.json".into())
        );
        assert_eq!(
            plan.suites[3].kind,
            SuiteKind::Consistency("kv.consistency.yaml".into())
        );
        assert_eq!(plan.suites[0].source.as_deref(), Some("a-smoke.yml"));
    }

    #[test]
    fn manifest_wins_over_scripts() {
        let dir = mk_dir(&[
            ("smoke.yml", "scenarios: []"),
            (
                "testcar.yaml",
                "timeout: 1m\nsuites:\n  - name: only\n    exec: [\"true\"]\n",
            ),
        ]);
        let plan = discover(&[dir.path().to_path_buf()]).unwrap();
        assert_eq!(plan.suites.len(), 1);
        assert_eq!(plan.suites[0].name, "only");
        assert_eq!(plan.timeout, Some(Duration::from_secs(60)));
    }

    #[test]
    fn empty_folder_is_an_error() {
        let dir = mk_dir(&[("README.md", "nothing")]);
        let e = discover(&[dir.path().to_path_buf()]).unwrap_err();
        assert!(matches!(e, DiscoverError::Empty { .. }));
        assert!(e.to_string().contains("no test suites found"), "{e}");
    }

    #[test]
    fn duplicate_names_across_paths() {
        let a = mk_dir(&[("smoke.yml", "scenarios: []")]);
        let b = mk_dir(&[("smoke.yaml", "scenarios: []")]);
        let e = discover(&[a.path().to_path_buf(), b.path().to_path_buf()]).unwrap_err();
        assert!(
            e.to_string().contains("two suites are named \"smoke\""),
            "{e}"
        );
    }

    #[test]
    fn missing_path() {
        let e = discover(&[PathBuf::from("/nonexistent/testcar")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the tests folder /nonexistent/testcar does not exist; it should hold the tests: a testcar.yaml manifest, Artillery scripts (*.yml, *.yaml, *.json), consistency suites (*.consistency.yaml) and any files exec suites use"
        );
        assert_eq!(e.headline(), "cannot find the tests");
        let e = discover(&[PathBuf::from("/nonexistent/smoke.yml")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the test script /nonexistent/smoke.yml does not exist"
        );
        let e = discover(&[PathBuf::from("/nonexistent/smoke.json")]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the test script /nonexistent/smoke.json does not exist"
        );
    }

    #[test]
    fn bad_yaml_is_invalid_not_missing() {
        let dir = mk_dir(&[(
            "testcar.yaml",
            "suites:\n  - name: a\n   exec: [\"true\"]\n",
        )]);
        let e = discover(&[dir.path().to_path_buf()]).unwrap_err();
        assert_eq!(e.headline(), "invalid test definitions");
        let text = e.to_string();
        assert!(
            text.contains("testcar.yaml:3:4: YAML syntax error"),
            "{text}"
        );
        assert!(text.contains("check the indentation"), "{text}");
        assert!(!text.contains(" at line "), "{text}");
    }

    #[tokio::test(start_paused = true)]
    async fn waits_for_shared_folder_to_settle() {
        let dir = tempfile::tempdir().unwrap();
        let cancel = CancellationToken::new();
        let e = wait_until_filled(
            dir.path(),
            Duration::from_secs(1),
            Duration::from_millis(400),
            &cancel,
        )
        .await
        .unwrap_err();
        assert!(e.to_string().contains("still empty after 1s"), "{e}");

        std::fs::write(dir.path().join("smoke.yml"), "scenarios: []").unwrap();
        wait_until_filled(
            dir.path(),
            Duration::from_secs(5),
            Duration::from_millis(400),
            &cancel,
        )
        .await
        .unwrap();
    }
}
