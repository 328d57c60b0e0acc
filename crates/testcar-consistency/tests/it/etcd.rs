//! A real target: Debian's etcd on 127.0.0.1 (free ports, temporary data dir), driven through
//! its HTTP/JSON gateway by a register suite (range / put / txn for cas) and a kv suite
//! (range / put / deleterange). A single etcd member is linearizable: both must pass.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use testcar_consistency::{Format, ModelKind, SuiteOptions, load_suite, run_suite};
use testcar_contract::Status;

fn etcd_binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin")])
        .map(|d| d.join("etcd"))
        .find(|p| p.is_file())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Etcd {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_etcd() -> Option<Etcd> {
    let Some(bin) = etcd_binary() else {
        if std::env::var("TESTCAR_REQUIRE_TOOLS").as_deref() == Ok("1") {
            panic!("etcd not found (package etcd-server; scripts/setup.d/60-etcd.sh installs it)");
        }
        eprintln!("skipped: etcd not installed (apt-get install etcd-server)");
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    let (client, peer) = (free_port(), free_port());
    let url = format!("http://127.0.0.1:{client}");
    let peer_url = format!("http://127.0.0.1:{peer}");
    let log = std::fs::File::create(dir.path().join("etcd.log")).unwrap();
    let child = Command::new(bin)
        .args(["--name", "testcar", "--data-dir"])
        .arg(dir.path().join("data"))
        .args([
            "--listen-client-urls",
            &url,
            "--advertise-client-urls",
            &url,
        ])
        .args([
            "--listen-peer-urls",
            &peer_url,
            "--initial-advertise-peer-urls",
            &peer_url,
        ])
        .args(["--initial-cluster", &format!("testcar={peer_url}")])
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start etcd");
    let etcd = Etcd {
        child,
        url,
        _dir: dir,
    };
    // Plain HTTP only; reqwest still wants a crypto provider to exist.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let started = Instant::now();
    loop {
        let r = http
            .post(format!("{}/v3/kv/range", etcd.url))
            .body(r#"{"key":"AA=="}"#)
            .send()
            .await;
        if matches!(&r, Ok(resp) if resp.status().is_success()) {
            return Some(etcd);
        }
        if started.elapsed() > Duration::from_secs(30) {
            let log =
                std::fs::read_to_string(etcd._dir.path().join("etcd.log")).unwrap_or_default();
            panic!("etcd did not become ready in 30 s: {r:?}\n{log}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn test_data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("test_data")
        .join(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn etcd_register_and_kv_suites_are_linearizable() {
    let Some(etcd) = start_etcd().await else {
        return;
    };
    let results = tempfile::tempdir().unwrap();
    for (file, model) in [
        ("etcd-register.consistency.yaml", ModelKind::Register),
        ("etcd-kv.consistency.yaml", ModelKind::Kv),
    ] {
        let suite = load_suite(&test_data(file)).unwrap();
        let s = run_suite(
            suite,
            SuiteOptions {
                target: Some(etcd.url.clone()),
                results_dir: Some(results.path().to_path_buf()),
                ..SuiteOptions::default()
            },
        )
        .await;
        assert_eq!(s.status, Status::Passed, "{file}: {s:#?}");
        let m = s.metrics.as_ref().unwrap();
        assert_eq!(
            m.codes.get("200").copied(),
            Some(200),
            "{file}: every request answered 200"
        );
        // The history is meaningful: writes took effect and reads saw them.
        let text = std::fs::read_to_string(results.path().join(&s.reports[0].path)).unwrap();
        let h = testcar_consistency::format::parse(&text, file, Format::Jsonl, model).unwrap();
        let reads_with_values = h
            .ops
            .iter()
            .filter(|o| {
                matches!(&o.outcome, testcar_consistency::Outcome::Ok(testcar_consistency::Output::Value(Some(v))) if !v.is_empty())
            })
            .count();
        assert!(
            reads_with_values > 0,
            "{file}: some reads saw written values"
        );
        if model == ModelKind::Register {
            let cas = |ok: bool| {
                h.ops
                    .iter()
                    .filter(|o| o.input.name() == "cas")
                    .filter(|o| {
                        if ok {
                            matches!(o.outcome, testcar_consistency::Outcome::Ok(_))
                        } else {
                            o.outcome == testcar_consistency::Outcome::Fail
                        }
                    })
                    .count()
            };
            assert!(
                cas(true) > 0 && cas(false) > 0,
                "cas both succeeded and failed: {} / {}",
                cas(true),
                cas(false)
            );
        }
    }
}
