//! CSV payloads (`config.payload`): rows read once at load, handed to VUs one row each
//! (random or in sequence), or all rows under one variable (`loadAll` + `name`).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rand::Rng;
use serde_json::Value as Json;

use crate::template::Vars;

/// How rows are handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadOrder {
    /// A random row per VU (Artillery's default).
    Random,
    /// Rows in file order, wrapping around.
    Sequence,
}

/// A CSV file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    /// Reading or parsing the file failed.
    #[error("cannot read CSV {path}: {source}")]
    Csv {
        /// The file.
        path: String,
        /// The reason.
        #[source]
        source: csv::Error,
    },
    /// The path names a device, a FIFO or a folder: reading it could never end.
    #[error("cannot read CSV {path}: not a regular file")]
    NotAFile {
        /// The file.
        path: String,
    },
}

/// A loaded CSV payload.
#[derive(Debug, Clone)]
pub struct Payload {
    fields: Vec<String>,
    order: PayloadOrder,
    rows: Arc<Vec<Vec<Json>>>,
    load_all: Option<String>,
    next: Arc<AtomicUsize>,
}

impl Payload {
    /// Read `path`.
    #[allow(clippy::too_many_arguments)]
    pub fn load(
        path: &Path,
        fields: Vec<String>,
        order: PayloadOrder,
        skip_header: bool,
        delimiter: u8,
        cast: bool,
        load_all: bool,
        name: Option<String>,
        skip_empty: bool,
    ) -> Result<Payload, PayloadError> {
        let err = |source| PayloadError::Csv {
            path: path.display().to_string(),
            source,
        };
        // `/dev/zero` or a FIFO would be read forever; a missing file is reported below.
        if std::fs::metadata(path).is_ok_and(|m| !m.is_file()) {
            return Err(PayloadError::NotAFile {
                path: path.display().to_string(),
            });
        }
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .delimiter(delimiter)
            .flexible(true)
            .from_path(path)
            .map_err(err)?;
        let mut rows = Vec::new();
        for (i, record) in reader.records().enumerate() {
            let record = record.map_err(err)?;
            if i == 0 && skip_header {
                continue;
            }
            if skip_empty && record.iter().all(str::is_empty) {
                continue;
            }
            rows.push(
                record
                    .iter()
                    .map(|cell| {
                        if cast {
                            cast_cell(cell)
                        } else {
                            Json::String(cell.into())
                        }
                    })
                    .collect(),
            );
        }
        Ok(Payload {
            fields,
            order,
            rows: Arc::new(rows),
            load_all: if load_all { name } else { None },
            next: Arc::new(AtomicUsize::new(0)),
        })
    }

    /// Number of data rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the file had no data rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Put this payload's variables for a new VU into `vars`.
    pub fn assign(&self, vars: &mut Vars) {
        if let Some(name) = &self.load_all {
            let all: Vec<Json> = self
                .rows
                .iter()
                .map(|row| {
                    if self.fields.is_empty() {
                        Json::Array(row.clone())
                    } else {
                        self.fields
                            .iter()
                            .zip(row.iter().chain(std::iter::repeat(&Json::Null)))
                            .map(|(f, v)| (f.clone(), v.clone()))
                            .collect::<serde_json::Map<_, _>>()
                            .into()
                    }
                })
                .collect();
            vars.insert(name.clone(), Json::Array(all));
            return;
        }
        let row = if self.rows.is_empty() {
            None
        } else {
            let i = match self.order {
                PayloadOrder::Random => rand::rng().random_range(0..self.rows.len()),
                PayloadOrder::Sequence => {
                    self.next.fetch_add(1, Ordering::Relaxed) % self.rows.len()
                }
            };
            self.rows.get(i)
        };
        for (j, field) in self.fields.iter().enumerate() {
            let v = row.and_then(|r| r.get(j)).cloned().unwrap_or(Json::Null);
            vars.insert(field.clone(), v);
        }
    }
}

/// csv-parse's `cast`: numbers become numbers; everything else stays text.
fn cast_cell(cell: &str) -> Json {
    if let Ok(i) = cell.parse::<i64>() {
        return Json::from(i);
    }
    if !cell.is_empty() && cell.trim() == cell {
        if let Ok(f) = cell.parse::<f64>() {
            if f.is_finite() {
                return Json::from(f);
            }
        }
    }
    Json::String(cell.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn mk_csv(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    #[test]
    fn sequence_hands_out_rows_in_order_and_casts_numbers() {
        let f = mk_csv("id,name\n1,ann\n2,bob\n");
        let p = Payload::load(
            f.path(),
            vec!["id".into(), "name".into()],
            PayloadOrder::Sequence,
            true,
            b',',
            true,
            false,
            None,
            true,
        )
        .unwrap();
        assert_eq!(p.len(), 2);
        let mut seen = Vec::new();
        for _ in 0..3 {
            let mut vars = Vars::new();
            p.assign(&mut vars);
            seen.push((vars["id"].clone(), vars["name"].clone()));
        }
        assert_eq!(seen[0], (Json::from(1), Json::from("ann")));
        assert_eq!(seen[1], (Json::from(2), Json::from("bob")));
        assert_eq!(seen[2], seen[0]);
    }

    #[test]
    fn load_all_with_fields_gives_objects() {
        let f = mk_csv("a;b\nc;d\n");
        let p = Payload::load(
            f.path(),
            vec!["x".into(), "y".into()],
            PayloadOrder::Random,
            false,
            b';',
            false,
            true,
            Some("rows".into()),
            true,
        )
        .unwrap();
        let mut vars = Vars::new();
        p.assign(&mut vars);
        assert_eq!(
            vars["rows"],
            serde_json::json!([{"x": "a", "y": "b"}, {"x": "c", "y": "d"}])
        );
    }
}
