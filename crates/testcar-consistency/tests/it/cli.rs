//! `check-history` as the agent calls it: parse the arguments with clap, run, check the
//! exit class, the printed verdict and the HTML view; bad input is exit 2 naming the line.

use clap::Parser;
use testcar_consistency::CheckHistoryArgs;
use testcar_consistency::cli::check_history_to;
use testcar_contract::ExitClass;

#[derive(Parser, Debug)]
struct Cli {
    #[command(flatten)]
    args: CheckHistoryArgs,
}

fn run(argv: &[&str]) -> (Result<ExitClass, String>, String) {
    let cli =
        Cli::try_parse_from(std::iter::once("check-history").chain(argv.iter().copied())).unwrap();
    let mut out = Vec::new();
    let r = check_history_to(&cli.args, &mut out).map_err(|e| e.to_string());
    (r, String::from_utf8(out).unwrap())
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

const STALE: &str = "INFO  jepsen.util - 0\t:invoke\t:write\t1\n\
INFO  jepsen.util - 0\t:ok\t:write\t1\n\
INFO  jepsen.util - 1\t:invoke\t:read\tnil\n\
INFO  jepsen.util - 1\t:ok\t:read\tnil\n";

#[test]
fn linearizable_history_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        &dir,
        "ok.jsonl",
        include_str!("../../test_data/register-ok.jsonl"),
    );
    let (r, out) = run(&["--model", "register", &f]);
    assert_eq!(r, Ok(ExitClass::Passed));
    assert!(out.contains(": linearizable: 4 operations"), "{out}");
}

#[test]
fn violation_exits_1_names_the_op_and_writes_html() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(&dir, "stale.log", STALE);
    let html = dir.path().join("view.html");
    let (r, out) = run(&["--model", "register", "--html", html.to_str().unwrap(), &f]);
    assert_eq!(r, Ok(ExitClass::Failed));
    assert!(out.contains("not linearizable"), "{out}");
    assert!(
        out.contains("could not place: #1 client 1 read → nil (line 3)"),
        "{out}"
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.starts_with("<!DOCTYPE html>"));
    assert!(
        page.contains("class=\"op stuck\""),
        "the stuck operation is marked"
    );
    assert!(
        page.contains("class=\"fail-at\""),
        "where linearization failed is marked"
    );
    for external in ["<script src", "<link", "url(", "<img"] {
        assert!(!page.contains(external), "self-contained: found {external}");
    }
}

#[test]
fn json_output_is_one_object() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(&dir, "stale.log", STALE);
    let (r, out) = run(&["--model", "register", "--json", &f]);
    assert_eq!(r, Ok(ExitClass::Failed));
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["result"], "not-linearizable");
    assert_eq!(v["partitions"][0]["stuck"], 1);
}

#[test]
fn time_budget_spent_exits_2() {
    // 24 concurrent writes, then reads of two of their values one after the other:
    // hopeless, slow to prove, and no refutation without search applies.
    let dir = tempfile::tempdir().unwrap();
    let mut text = String::new();
    for c in 0..24 {
        text.push_str(&format!("INFO  jepsen.util - {c}\t:invoke\t:write\t{c}\n"));
    }
    for c in 0..24 {
        text.push_str(&format!("INFO  jepsen.util - {c}\t:ok\t:write\t{c}\n"));
    }
    text.push_str(
        "INFO  jepsen.util - 99\t:invoke\t:read\tnil\nINFO  jepsen.util - 99\t:ok\t:read\t0\n\
         INFO  jepsen.util - 99\t:invoke\t:read\tnil\nINFO  jepsen.util - 99\t:ok\t:read\t1\n",
    );
    let f = write(&dir, "slow.log", &text);
    let (r, out) = run(&["--model", "register", "--timeout", "1ms", &f]);
    assert_eq!(r, Ok(ExitClass::Error), "{out}");
    assert!(out.contains("unknown"), "{out}");
    assert!(out.contains("time budget"), "{out}");
}

#[test]
fn bad_input_is_an_error_with_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        &dir,
        "bad.log",
        "INFO  jepsen.util - 0\t:invoke\t:write\t1\nINFO  jepsen.util - 0\t:ok\t:frobnicate\t1\n",
    );
    let (r, _) = run(&["--model", "register", &f]);
    let e = r.unwrap_err();
    assert!(
        e.ends_with("bad.log:2: process 0 completes :frobnicate but invoked :write at line 1"),
        "{e}"
    );
    let f = write(&dir, "h.dat", "x");
    let (r, _) = run(&["--model", "kv", &f]);
    assert!(r.unwrap_err().contains("cannot tell the format"));
    let (r, _) = run(&["--model", "kv", "--format", "edn", "/nonexistent/h.edn"]);
    assert!(r.unwrap_err().starts_with("cannot read /nonexistent/h.edn"));
}

#[test]
fn bank_model_checks_transfers_and_conservation() {
    let dir = tempfile::tempdir().unwrap();
    let ok = "{:process 0, :type :invoke, :f :transfer, :value {:from \"a\", :to \"b\", :amount 5}}\n\
{:process 0, :type :ok, :f :transfer, :value {:from \"a\", :to \"b\", :amount 5}}\n\
{:process 1, :type :invoke, :f :read, :value nil}\n\
{:process 1, :type :ok, :f :read, :value {\"a\" 5, \"b\" 15}}\n";
    let f = write(&dir, "bank.edn", ok);
    let (r, out) = run(&["--model", "bank", "--initial", "a=10,b=10", &f]);
    assert_eq!(r, Ok(ExitClass::Passed), "{out}");
    let lost = ok.replace("\"b\" 15", "\"b\" 14");
    let f = write(&dir, "lost.edn", &lost);
    let (r, out) = run(&["--model", "bank", "--initial", "a=10,b=10", &f]);
    assert_eq!(r, Ok(ExitClass::Failed), "{out}");
    assert!(
        out.contains("the total is 20 but this read sums to 19"),
        "{out}"
    );
    let (r, _) = run(&["--model", "bank", &f]);
    assert!(r.unwrap_err().contains("needs initial balances"));
}

#[test]
fn jepsen_history_txt_is_detected_and_checked() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        &dir,
        "history.txt",
        include_str!("../../test_data/history.txt"),
    );
    let (r, out) = run(&["--model", "register", &f]);
    assert_eq!(r, Ok(ExitClass::Passed), "{out}");
    let stale =
        include_str!("../../test_data/history.txt").replace("2\t:ok\t:read\t2", "2\t:ok\t:read\t1");
    let f = write(&dir, "history.txt", &stale);
    let (r, out) = run(&["--model", "register", &f]);
    assert_eq!(r, Ok(ExitClass::Failed), "{out}");
    assert!(
        out.contains("could not place: #3 client 2 read → \"1\" (line 9)"),
        "{out}"
    );
}

#[test]
fn bad_edn_deep_in_a_file_names_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let mut text = include_str!("../../test_data/jepsen-independent.edn").to_string();
    text.push_str("{:index 21, :type :invoke, :process 3, :f :write, :value [1 \"unterminated]}\n");
    let f = write(&dir, "h.edn", &text);
    let (r, _) = run(&["--model", "register", &f]);
    let e = r.unwrap_err();
    assert!(e.starts_with(&format!("{f}:22: unclosed string")), "{e}");
    let text = "{:process 0, :type :invoke, :f :cas, :value [1 [2 3]]}\n{:process 0, :type :ok, :f :cas, :value [5 [2 3]]}\n";
    let f = write(&dir, "k.edn", text);
    let (r, _) = run(&["--model", "register", &f]);
    assert!(
        r.unwrap_err()
            .starts_with(&format!("{f}:2: :value: expected [1 value]"))
    );
}
