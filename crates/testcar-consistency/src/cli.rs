//! `testcar-agent check-history`: read a history file, check it, print the verdict, and
//! optionally write the HTML view. Exit class: 0 linearizable, 1 not, 2 unknown or bad input.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use testcar_contract::ExitClass;

use crate::check::{CheckOptions, Linearizability, check};
use crate::format::{self, Format, ParseError};
use crate::model::{ModelError, ModelKind};

/// Arguments of `check-history`.
#[derive(clap::Args, Debug, Clone)]
pub struct CheckHistoryArgs {
    /// Model to check the history against.
    #[arg(long, value_enum)]
    pub model: ModelKind,
    /// Format of FILE; by default from its extension (.log jepsen, .edn edn, .jsonl jsonl;
    /// .txt: edn if it holds maps, else Jepsen's history.txt lines).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// The history file.
    pub file: PathBuf,
    /// Also write a self-contained HTML view of the history to OUT.
    #[arg(long, value_name = "OUT")]
    pub html: Option<PathBuf>,
    /// Time budget; when it runs out the verdict is unknown (exit 2).
    #[arg(long, default_value = "60s", value_parser = parse_timeout)]
    pub timeout: Duration,
    /// Memory limit of the process (e.g. 256MiB, 1GiB): the search stops with `unknown`
    /// (exit 2) before it would exceed it. Default: the container's cgroup limit, if any.
    #[arg(long, value_name = "SIZE", value_parser = parse_memory)]
    pub memory_limit: Option<u64>,
    /// Bank model: initial balances as `a=100,b=100` (overrides a JSONL header).
    #[arg(long, value_name = "BALANCES")]
    pub initial: Option<String>,
    /// Check the history as a whole instead of key by key (much slower; for comparison).
    #[arg(long)]
    pub no_partition: bool,
    /// Print the verdict as one JSON object instead of text.
    #[arg(long)]
    pub json: bool,
}

fn parse_memory(s: &str) -> Result<u64, String> {
    crate::memory::parse_memory_size(s).map_err(|e| e.to_string())
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    testcar_contract::duration::parse_duration(s).map_err(|e| e.to_string())
}

/// Why a history could not be checked.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// No `--format` and an unknown extension.
    #[error("{path}: cannot tell the format from the file name; pass --format jepsen|edn|jsonl")]
    UnknownFormat {
        /// The file.
        path: String,
    },
    /// The file did not parse.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The history does not fit the model.
    #[error("{path}: {source}")]
    Model {
        /// The file.
        path: String,
        /// What did not fit.
        #[source]
        source: ModelError,
    },
    /// `--initial` did not parse.
    #[error(
        "--initial: expected account=balance pairs separated by commas (e.g. a=100,b=100), found {0:?}"
    )]
    Initial(String),
    /// The HTML view or the verdict could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file (or `stdout`).
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// Parse `a=100,b=100`.
pub fn parse_initial(s: &str) -> Result<BTreeMap<String, i64>, CheckError> {
    let mut out = BTreeMap::new();
    for pair in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = pair
            .split_once('=')
            .ok_or_else(|| CheckError::Initial(s.to_string()))?;
        let v: i64 = v
            .trim()
            .parse()
            .map_err(|_| CheckError::Initial(s.to_string()))?;
        out.insert(k.trim().to_string(), v);
    }
    if out.is_empty() {
        return Err(CheckError::Initial(s.to_string()));
    }
    Ok(out)
}

/// Run `check-history`, printing the verdict on stdout.
pub fn check_history(args: &CheckHistoryArgs) -> Result<ExitClass, CheckError> {
    let stdout = std::io::stdout();
    let mut lock = stdout.lock();
    check_history_to(args, &mut lock)
}

/// Run `check-history`, printing the verdict to `out`.
pub fn check_history_to(
    args: &CheckHistoryArgs,
    out: &mut dyn Write,
) -> Result<ExitClass, CheckError> {
    let path = args.file.display().to_string();
    if args.format.is_none() && Format::from_path(&args.file).is_none() {
        return Err(CheckError::UnknownFormat { path });
    }
    let text = std::fs::read_to_string(&args.file).map_err(|source| CheckError::Read {
        path: path.clone(),
        source,
    })?;
    let format = args
        .format
        .or_else(|| Format::detect(&args.file, &text))
        .unwrap_or(Format::Edn);
    let mut history = format::parse(&text, &path, format, args.model)?;
    if let Some(initial) = &args.initial {
        history.initial = Some(parse_initial(initial)?);
    }
    let opts = CheckOptions {
        timeout: Some(args.timeout),
        partition: !args.no_partition,
        threads: None,
        memory_limit: args.memory_limit.or_else(crate::memory::cgroup_limit),
    };
    let verdict = check(args.model, &history, &opts).map_err(|source| CheckError::Model {
        path: path.clone(),
        source,
    })?;
    if let Some(html) = &args.html {
        let title = args
            .file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.clone());
        std::fs::write(html, crate::html::render(&title, &history, &verdict)).map_err(
            |source| CheckError::Write {
                path: html.display().to_string(),
                source,
            },
        )?;
    }
    let written = if args.json {
        serde_json::to_writer(&mut *out, &verdict)
            .map_err(std::io::Error::from)
            .and_then(|_| writeln!(out))
    } else {
        writeln!(out, "{path}: {}", verdict.explain(&history))
    };
    written.map_err(|source| CheckError::Write {
        path: "stdout".into(),
        source,
    })?;
    Ok(match verdict.result {
        Linearizability::Linearizable => ExitClass::Passed,
        Linearizability::NotLinearizable => ExitClass::Failed,
        Linearizability::Unknown => ExitClass::Error,
    })
}
