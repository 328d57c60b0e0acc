//! Testcar's one way to read YAML. Every file a user writes (the injector's config, auth
//! chains, `testcar.yaml`, consistency suites, Artillery scripts) is read through here, so an
//! error names the line, column and key path the same way everywhere.
//!
//! Two readers, one for each need: [`from_str`] deserialises typed documents (serde, on
//! `serde_norway`: the maintained continuation of the archived `serde_yaml` 0.9 line, same API,
//! libyaml port and licences, so positions and messages did not change when Testcar moved), and
//! [`tree::parse`] builds a tree that keeps every node's position (yaml-rust2, pure Rust) for
//! checks done after parsing. [`locate`] finds a key path's line for such checks; [`guard`]
//! refuses pathological nesting before either parser sees the text.

pub mod guard;
mod locate;
mod parse;
pub mod tree;

pub use locate::{Seg, key_path, locate};
pub use parse::{YamlError, from_str, from_value, to_string};
pub use serde_norway::{Mapping, Number, Value};

/// Serde helpers for YAML shapes (e.g. `#[serde(with = "testcar_yaml::with::singleton_map_recursive")]`
/// for enums written as `- oauth2: {...}`).
pub mod with {
    pub use serde_norway::with::singleton_map_recursive;
}
