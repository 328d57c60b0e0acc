//! The exec runner: any command is a suite. Its exit code is the verdict (0 passed, other
//! failed; cannot start, timeout or interruption is error); stdout and stderr go to one log
//! in the results folder and the last lines go into the result.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use testcar_contract::{Check, CheckKind, CheckStatus, Report, RunnerKind, Status, Suite, env};

use super::{RunContext, error_suite, slug};
use crate::manifest::SuiteDef;

/// Lines of output kept in the result; the full log is in the results folder.
const TAIL_LINES: usize = 40;
/// Bytes read from the end of the log to find those lines.
const TAIL_BYTES: u64 = 8 * 1024;
/// How long a stopped command gets between SIGTERM and SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(2);

/// Run `cmd` for `def` in the suite's folder.
pub async fn run(def: &SuiteDef, cmd: &[String], ctx: &RunContext) -> Suite {
    let dir_name = slug(&def.name);
    let suite_dir = ctx.results_dir.join(&dir_name);
    let log_path = suite_dir.join("output.log");
    let log_rel = format!("{dir_name}/output.log");
    let (stdout, stderr) = match open_log(&suite_dir, &log_path) {
        Ok(files) => files,
        Err(e) => {
            return error_suite(
                def,
                format!("cannot write the suite log {}: {e}", log_path.display()),
            );
        }
    };

    let program = resolve_program(&cmd[0], &def.base_dir);
    let mut command = tokio::process::Command::new(&program);
    command
        .args(&cmd[1..])
        .current_dir(&def.base_dir)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        // Own process group: a timeout or SIGTERM stops the command's children too.
        .process_group(0)
        .kill_on_drop(true);
    if let Some(target) = &ctx.target {
        command.env(env::TARGET, target);
    }
    command.env(env::SUITE_RESULTS_DIR, &suite_dir);
    // The read token guards this pod's results; the suite under test has no use for it.
    command.env_remove(testcar_contract::env::READ_TOKEN);
    command.envs(ctx.exec_env.iter().map(|(k, v)| (k, v)));
    command.envs(&def.env);

    let mut suite = Suite::new(def.name.clone(), RunnerKind::Exec);
    suite.source = def.source.clone();
    suite.reports.push(Report {
        kind: "exec-log".into(),
        path: log_rel,
    });

    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => {
            suite.status = Status::Error;
            suite.error = Some(format!("cannot start `{}`: {e}", cmd[0]));
            return suite;
        }
    };
    let pgid = child.id().map(|id| Pid::from_raw(id as i32));
    tracing::debug!(suite = %def.name, program = %program.display(), "command started");

    let waited = tokio::select! {
        status = child.wait() => Some(status),
        _ = ctx.cancel.cancelled() => None,
    };
    let status = match waited {
        Some(status) => status,
        None => {
            if let Some(pgid) = pgid {
                let _ = killpg(pgid, Signal::SIGTERM);
            }
            match tokio::time::timeout(KILL_GRACE, child.wait()).await {
                Ok(status) => status,
                Err(_) => {
                    if let Some(pgid) = pgid {
                        let _ = killpg(pgid, Signal::SIGKILL);
                    }
                    child.wait().await
                }
            }
        }
    };
    // Leftover background children would keep writing into the log after the verdict.
    if let Some(pgid) = pgid {
        let _ = killpg(pgid, Signal::SIGKILL);
    }
    suite.output_tail = read_tail(&log_path);

    if ctx.cancel.is_cancelled() {
        suite.status = Status::Error;
        suite.exit_code = status.as_ref().ok().and_then(|s| s.code());
        suite.error = Some("stopped before the command finished".into());
        return suite;
    }
    match status {
        Ok(status) => {
            let code = status.code();
            suite.exit_code = code;
            let (check_status, message) = match code {
                Some(0) => (CheckStatus::Passed, None),
                Some(n) => (
                    CheckStatus::Failed,
                    Some(format!("the command exited with {n}")),
                ),
                None => (
                    CheckStatus::Failed,
                    Some(format!(
                        "the command was killed by signal {}",
                        signal_of(&status).unwrap_or(0)
                    )),
                ),
            };
            suite.checks.push(Check {
                name: "exit code".into(),
                kind: CheckKind::ExitCode,
                status: check_status,
                observed: code.map(serde_json::Value::from),
                expected: Some(0.into()),
                passes: None,
                failures: None,
                message,
            });
            suite.status = suite.status_from_checks();
        }
        Err(e) => {
            suite.status = Status::Error;
            suite.error = Some(format!("lost track of `{}`: {e}", cmd[0]));
        }
    }
    suite
}

fn signal_of(status: &std::process::ExitStatus) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    status.signal()
}

/// One log file shared by stdout and stderr, so lines keep their real order.
fn open_log(dir: &Path, path: &Path) -> std::io::Result<(Stdio, Stdio)> {
    std::fs::create_dir_all(dir)?;
    let file = std::fs::File::create(path)?;
    let second = file.try_clone()?;
    Ok((Stdio::from(file), Stdio::from(second)))
}

/// A relative program with a slash (`./run.sh`, `bin/test`) means a file in the tests
/// folder; a bare name is looked up on PATH.
fn resolve_program(program: &str, base: &Path) -> PathBuf {
    let p = Path::new(program);
    if p.is_relative() && program.contains('/') {
        base.join(p)
    } else {
        p.to_path_buf()
    }
}

/// The last lines of the log, or `None` when it is empty.
pub fn read_tail(path: &Path) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    let start = len.saturating_sub(TAIL_BYTES);
    file.seek(SeekFrom::Start(start)).ok()?;
    let mut buf = Vec::new();
    file.read_to_end(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf);
    let mut lines: Vec<&str> = text.lines().collect();
    if start > 0 && !lines.is_empty() {
        // the first line was cut by the byte window
        lines.remove(0);
    }
    let keep = &lines[lines.len().saturating_sub(TAIL_LINES)..];
    if keep.is_empty() {
        return None;
    }
    let mut out = keep.join("\n");
    out.push('\n');
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mk_ctx(results: &Path) -> RunContext {
        RunContext {
            target: Some("http://127.0.0.1:9".into()),
            ..RunContext::new(results.to_path_buf())
        }
    }

    fn mk_def(name: &str, dir: &Path) -> SuiteDef {
        SuiteDef::new(name, crate::manifest::SuiteKind::Exec(vec![]), dir)
    }

    fn sh(script: &str) -> Vec<String> {
        vec!["sh".into(), "-c".into(), script.into()]
    }

    #[tokio::test]
    async fn exit_zero_passes_and_keeps_output_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut def = mk_def("ok suite", dir.path());
        def.env.insert("GREETING".into(), "hello".into());
        let suite = run(
            &def,
            &sh("echo $GREETING; echo to-stderr >&2; echo target=$TESTCAR_TARGET"),
            &mk_ctx(dir.path()),
        )
        .await;
        assert_eq!(suite.status, Status::Passed, "{suite:?}");
        assert_eq!(suite.exit_code, Some(0));
        assert_eq!(
            suite.output_tail.as_deref(),
            Some("hello\nto-stderr\ntarget=http://127.0.0.1:9\n")
        );
        assert_eq!(suite.reports[0].path, "ok-suite/output.log");
        assert!(dir.path().join("ok-suite/output.log").is_file());
    }

    #[tokio::test]
    async fn non_zero_fails() {
        let dir = tempfile::tempdir().unwrap();
        let suite = run(&mk_def("f", dir.path()), &sh("exit 3"), &mk_ctx(dir.path())).await;
        assert_eq!(suite.status, Status::Failed);
        assert_eq!(suite.exit_code, Some(3));
        assert_eq!(suite.checks[0].status, CheckStatus::Failed);
        assert_eq!(
            suite.checks[0].message.as_deref(),
            Some("the command exited with 3")
        );
    }

    #[tokio::test]
    async fn cannot_start_is_error() {
        let dir = tempfile::tempdir().unwrap();
        let suite = run(
            &mk_def("e", dir.path()),
            &["./no-such-script.sh".to_string()],
            &mk_ctx(dir.path()),
        )
        .await;
        assert_eq!(suite.status, Status::Error);
        assert!(
            suite
                .error
                .as_deref()
                .unwrap()
                .starts_with("cannot start `./no-such-script.sh`"),
            "{suite:?}"
        );
    }

    #[tokio::test]
    async fn cancel_stops_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = mk_ctx(dir.path());
        let cancel = ctx.cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            cancel.cancel();
        });
        let started = std::time::Instant::now();
        let suite = run(
            &mk_def("slow", dir.path()),
            &sh("echo started; sleep 30 & sleep 30; echo never"),
            &ctx,
        )
        .await;
        assert!(started.elapsed() < Duration::from_secs(10));
        assert_eq!(suite.status, Status::Error);
        assert_eq!(suite.output_tail.as_deref(), Some("started\n"));
    }

    #[test]
    fn tail_keeps_last_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let text: String = (0..1000).map(|i| format!("line {i}\n")).collect();
        std::fs::write(&path, text).unwrap();
        let tail = read_tail(&path).unwrap();
        assert_eq!(tail.lines().count(), TAIL_LINES);
        assert!(tail.ends_with("line 999\n"));
        assert!(tail.starts_with("line 960\n"));
    }
}
