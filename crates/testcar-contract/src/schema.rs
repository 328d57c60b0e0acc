//! The JSON Schema of the result document, generated from the serde types. The checked-in
//! copy at `docs/result.schema.json` must equal what this generates (a test enforces it).

use crate::result::Run;

/// `$id` of the result schema.
pub const SCHEMA_URI: &str = "https://testcar.io/schemas/result/v1.json";

/// The result schema as a JSON value.
pub fn result_schema() -> serde_json::Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(Run)).expect("schema serializes");
    if let Some(obj) = schema.as_object_mut() {
        obj.insert("$id".into(), SCHEMA_URI.into());
        // The schema id is a constant, not any string.
        if let Some(props) = obj.get_mut("properties").and_then(|p| p.as_object_mut()) {
            props.insert(
                "schema".into(),
                serde_json::json!({
                    "description": "Always `testcar.io/result/v1`.",
                    "const": crate::result::SCHEMA_ID
                }),
            );
        }
    }
    schema
}

/// The result schema, pretty-printed with a trailing newline, as checked in.
pub fn result_schema_pretty() -> String {
    let mut s = serde_json::to_string_pretty(&result_schema()).expect("schema serializes");
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHECKED_IN: &str = include_str!("../../../docs/result.schema.json");

    #[test]
    fn checked_in_schema_matches_the_types() {
        if std::env::var_os("TESTCAR_BLESS").is_some() {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/result.schema.json");
            std::fs::write(path, result_schema_pretty()).unwrap();
            return;
        }
        assert_eq!(
            CHECKED_IN,
            result_schema_pretty(),
            "docs/result.schema.json is out of date: run `make schema` (TESTCAR_BLESS=1 cargo test -p testcar-contract schema) and commit it"
        );
    }

    fn validator() -> jsonschema::Validator {
        let schema: serde_json::Value = serde_json::from_str(CHECKED_IN).unwrap();
        jsonschema::validator_for(&schema).unwrap()
    }

    #[test]
    fn examples_are_valid_and_parse() {
        let v = validator();
        for (name, text) in [
            ("passed", include_str!("../../../docs/examples/passed.json")),
            ("failed", include_str!("../../../docs/examples/failed.json")),
            ("error", include_str!("../../../docs/examples/error.json")),
        ] {
            let doc: serde_json::Value = serde_json::from_str(text).unwrap();
            let errors: Vec<String> = v.iter_errors(&doc).map(|e| e.to_string()).collect();
            assert!(errors.is_empty(), "{name}: {errors:?}");
            let run: crate::Run = serde_json::from_value(doc).unwrap();
            assert_eq!(run.status.as_str(), name);
        }
    }

    #[test]
    fn schema_rejects_bad_documents() {
        let v = validator();
        let mut doc: serde_json::Value =
            serde_json::from_str(include_str!("../../../docs/examples/passed.json")).unwrap();
        doc["status"] = "green".into();
        assert!(!v.is_valid(&doc));
        doc["status"] = "passed".into();
        doc["schema"] = "testcar.io/result/v2".into();
        assert!(!v.is_valid(&doc));
        doc["schema"] = crate::SCHEMA_ID.into();
        doc.as_object_mut().unwrap().remove("runId");
        assert!(!v.is_valid(&doc));
    }
}
