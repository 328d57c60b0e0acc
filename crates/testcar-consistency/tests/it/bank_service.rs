//! A bank suite end to end against an in-process HTTP ledger on 127.0.0.1: transfers applied
//! atomically are linearizable; transfers that read the balances, yield, then write back what
//! they computed lose concurrent updates and are not. Also: a per-operation `rate` is honoured.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use testcar_consistency::suite::parse_suite;
use testcar_consistency::{ConsistencySuite, SuiteOptions, run_suite};
use testcar_contract::{CheckStatus, Status, Suite};

#[derive(Clone)]
struct Bank {
    balances: Arc<Mutex<BTreeMap<String, i64>>>,
    /// Read-modify-write with a pause in between and no lock held across it.
    lossy: bool,
}

#[derive(serde::Deserialize)]
struct Transfer {
    from: String,
    to: String,
    amount: i64,
}

async fn balances(State(bank): State<Bank>) -> Json<BTreeMap<String, i64>> {
    Json(bank.balances.lock().unwrap().clone())
}

async fn transfer(State(bank): State<Bank>, Json(t): Json<Transfer>) -> StatusCode {
    if !bank.lossy {
        let mut b = bank.balances.lock().unwrap();
        if b[&t.from] < t.amount {
            return StatusCode::CONFLICT;
        }
        *b.get_mut(&t.from).unwrap() -= t.amount;
        *b.get_mut(&t.to).unwrap() += t.amount;
        return StatusCode::NO_CONTENT;
    }
    let (from, to) = {
        let b = bank.balances.lock().unwrap();
        (b[&t.from], b[&t.to])
    };
    if from < t.amount {
        return StatusCode::CONFLICT;
    }
    tokio::time::sleep(Duration::from_millis(2)).await;
    let mut b = bank.balances.lock().unwrap();
    b.insert(t.from, from - t.amount);
    b.insert(t.to, to + t.amount);
    StatusCode::NO_CONTENT
}

async fn start(lossy: bool) -> String {
    let bank = Bank {
        balances: Arc::new(Mutex::new(
            [("a", 100), ("b", 100), ("c", 100)]
                .map(|(a, n)| (a.to_string(), n))
                .into(),
        )),
        lossy,
    };
    let app = Router::new()
        .route("/balances", get(balances))
        .route("/transfer", post(transfer))
        .with_state(bank);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

const SUITE: &str = include_str!("../../test_data/bank-http.consistency.yaml");

fn mk_suite(text: &str) -> ConsistencySuite {
    parse_suite(text, Path::new("bank-http.consistency.yaml")).unwrap()
}

async fn run(suite: ConsistencySuite, target: String) -> Suite {
    run_suite(
        suite,
        SuiteOptions {
            target: Some(target),
            ..SuiteOptions::default()
        },
    )
    .await
}

fn count(s: &Suite, name: &str) -> u64 {
    s.metrics
        .as_ref()
        .and_then(|m| m.counters.get(name).copied())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn atomic_transfers_are_linearizable() {
    let s = run(mk_suite(SUITE), start(false).await).await;
    assert_eq!(s.status, Status::Passed, "{s:#?}");
    assert_eq!(s.checks[0].status, CheckStatus::Passed);
    assert_eq!(
        count(&s, "consistency.ops.transfer") + count(&s, "consistency.ops.balances"),
        200
    );
    assert!(count(&s, "consistency.ops.balances") > 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_transfers_are_not_linearizable() {
    let s = run(mk_suite(SUITE), start(true).await).await;
    assert_eq!(s.status, Status::Failed, "{s:#?}");
    let c = &s.checks[0];
    assert_eq!(c.status, CheckStatus::Failed);
    assert_eq!(c.observed, Some(serde_json::json!("not linearizable")));
    let msg = c.message.as_deref().unwrap();
    assert!(msg.contains("could not place"), "{msg}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_operation_rate_is_honoured() {
    // Transfers at most 20/s for 2 s: slots start when the first is taken and none is used
    // after the deadline, so at most 40 (41 allowing for rounding). Balances are not limited.
    let text = SUITE
        .replace("count: 200", "duration: 2s")
        .replace("    weight: 3\n", "    weight: 3\n    rate: 20\n");
    assert!(text.contains("rate: 20"));
    let s = run(mk_suite(&text), start(false).await).await;
    assert_eq!(s.status, Status::Passed, "{s:#?}");
    let transfers = count(&s, "consistency.ops.transfer");
    assert!(
        (10..=41).contains(&transfers),
        "{transfers} transfers at 20/s for 2 s"
    );
    assert!(count(&s, "consistency.ops.balances") > 0);
}

#[tokio::test]
async fn refused_connections_are_recorded_as_rejected() {
    // Nothing was sent, so nothing took effect; for a cas that is not a failed compare.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let results = tempfile::tempdir().unwrap();
    let s = run_suite(
        mk_suite(&SUITE.replace("count: 200", "count: 10")),
        SuiteOptions {
            target: Some(format!("http://127.0.0.1:{port}")),
            results_dir: Some(results.path().to_path_buf()),
            ..SuiteOptions::default()
        },
    )
    .await;
    assert_eq!(s.status, Status::Error, "{s:#?}");
    assert_eq!(count(&s, "consistency.rejected"), 10);
    let text = std::fs::read_to_string(results.path().join(&s.reports[0].path)).unwrap();
    let lines: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(lines.len(), 10);
    assert!(
        lines.iter().all(|l| l.contains("\"status\":\"rejected\"")),
        "{text}"
    );
}
