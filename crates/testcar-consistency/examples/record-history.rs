//! Record a history from a running service with a consistency suite and save it as JSONL:
//! how the big etcd histories in tests/data/linearizability/etcd64 were made.
//!
//! Usage: record-history <suite.consistency.yaml> <target URL> <clients> <ops per client> <out.jsonl>

use std::path::PathBuf;

use testcar_consistency::{SuiteOptions, load_suite, run_suite};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 6 {
        eprintln!("usage: record-history <suite> <target> <clients> <ops per client> <out.jsonl>");
        std::process::exit(2);
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut suite = load_suite(&PathBuf::from(&args[1])).unwrap_or_else(|e| panic!("{e}"));
    let clients: usize = args[3].parse().expect("clients");
    let per: u64 = args[4].parse().expect("ops per client");
    suite.clients = clients;
    suite.count = Some(clients as u64 * per);
    let dir = tempfile::tempdir().expect("temporary directory");
    let s = run_suite(
        suite,
        SuiteOptions {
            target: Some(args[2].clone()),
            results_dir: Some(dir.path().to_path_buf()),
            ..SuiteOptions::default()
        },
    )
    .await;
    let report = s
        .reports
        .iter()
        .find(|r| r.path.ends_with(".jsonl"))
        .unwrap_or_else(|| panic!("no history written: {s:#?}"));
    std::fs::copy(dir.path().join(&report.path), &args[5]).expect("copy the history");
    eprintln!("{}: {:?}", args[5], s.status);
}
