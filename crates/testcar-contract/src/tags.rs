//! Suite tags: the `tags:` of a suite in `testcar.yaml` and the selection the agent runs
//! (`--tags`, `TESTCAR_SUITE_TAGS`), shared so that the injector writes what the agent reads.
//! A scale-out pod of a verified ReplicaSet with `testcar.io/on-scale-out: smoke` runs `smoke`.

use std::fmt;
use std::str::FromStr;

/// The tag a scale-out pod runs with `testcar.io/on-scale-out: smoke`.
pub const SMOKE: &str = "smoke";

/// Longest tag, in characters.
pub const MAX_TAG_LEN: usize = 63;

/// Whether `tag` is a valid tag: 1 to 63 lowercase letters, digits, `-` or `_`, starting with
/// a letter or digit.
pub fn is_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= MAX_TAG_LEN
        && tag
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        && !tag.starts_with(['-', '_'])
}

/// What a tag must look like, for error messages.
pub const TAG_EXPECTED: &str =
    "a tag of lowercase letters, digits, '-' or '_' (at most 63 characters), e.g. smoke";

/// A selection of suites by tag: a suite runs when it has at least one of the tags. A tag no
/// suite has is not an error (the manifest decides which tags exist); a selection that
/// leaves no suite to run is, and the run says which tags it looked for and which it found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagSelection(Vec<String>);

/// A selection that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{value:?} is not a tag list; expected comma-separated tags, each {TAG_EXPECTED}")]
pub struct TagSelectionError {
    /// The value found.
    pub value: String,
}

impl TagSelection {
    /// A selection of one tag (which must be valid).
    pub fn one(tag: &str) -> TagSelection {
        debug_assert!(is_tag(tag), "{tag}");
        TagSelection(vec![tag.to_string()])
    }

    /// The tags, in the order given, without repeats.
    pub fn tags(&self) -> &[String] {
        &self.0
    }

    /// Whether a suite with `suite_tags` is selected.
    pub fn selects<S: AsRef<str>>(&self, suite_tags: &[S]) -> bool {
        suite_tags
            .iter()
            .any(|t| self.0.iter().any(|w| w == t.as_ref()))
    }
}

impl FromStr for TagSelection {
    type Err = TagSelectionError;

    /// Comma-separated tags (`smoke` or `smoke,api`); blanks around commas are ignored.
    fn from_str(value: &str) -> Result<TagSelection, TagSelectionError> {
        let err = || TagSelectionError {
            value: value.to_string(),
        };
        let mut tags: Vec<String> = Vec::new();
        for t in value.split(',').map(str::trim) {
            if !is_tag(t) {
                return Err(err());
            }
            if !tags.iter().any(|x| x == t) {
                tags.push(t.to_string());
            }
        }
        Ok(TagSelection(tags))
    }
}

impl fmt::Display for TagSelection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_comma_separated_list_and_selects_by_any_tag() {
        let s: TagSelection = " smoke , api,smoke".parse().unwrap();
        assert_eq!(s.tags(), ["smoke", "api"]);
        assert_eq!(s.to_string(), "smoke,api");
        assert!(s.selects(&["load", "api"]));
        assert!(!s.selects(&["load"]));
        assert!(!s.selects::<&str>(&[]));
        assert_eq!(TagSelection::one(SMOKE).tags(), ["smoke"]);
    }

    #[test]
    fn bad_lists_say_what_a_tag_is() {
        for bad in [
            "",
            ",",
            "smoke,",
            "Smoke",
            "smoke test",
            "-x",
            &"a".repeat(64),
        ] {
            let e = bad.parse::<TagSelection>().unwrap_err().to_string();
            assert!(
                e.contains("lowercase letters") && e.contains("e.g. smoke"),
                "{bad}: {e}"
            );
        }
        assert!(is_tag("load_1") && is_tag("9x") && !is_tag("_x"));
    }
}
