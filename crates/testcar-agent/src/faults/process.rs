//! Process faults for a target running beside the agent (laptop, CI, a shared process
//! namespace): find it by pid file or by name through /proc, stop, continue, kill, restart.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::config::ProcessSel;

/// A process fault that could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The pid file could not be read or holds no pid.
    #[error("pid file {path}: {message}")]
    PidFile {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// No process has that name.
    #[error("no process named {0:?} (looked in /proc/*/comm and each program's file name)")]
    NotFound(String),
    /// The pid is the agent itself, its parent, or init.
    #[error("refusing to signal pid {0}: it is the agent, its parent or init")]
    Refused(i32),
    /// The signal was refused by the kernel.
    #[error("cannot send {signal} to pid {pid}: {source}")]
    Signal {
        /// The signal.
        signal: Signal,
        /// The pid.
        pid: i32,
        /// Why.
        #[source]
        source: nix::Error,
    },
    /// The restart command did not start.
    #[error("restart command `{command}` did not start: {source}")]
    Restart {
        /// The program.
        command: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The pids `sel` names now; a pid file is read relative to `base_dir`.
pub fn find(sel: &ProcessSel, base_dir: &Path) -> Result<Vec<i32>, ProcessError> {
    let pids = match sel {
        ProcessSel::PidFile(p) => {
            let path = base_dir.join(p);
            let text = std::fs::read_to_string(&path).map_err(|e| ProcessError::PidFile {
                path: path.clone(),
                message: e.to_string(),
            })?;
            let pid: i32 = text.trim().parse().ok().filter(|p| *p > 0).ok_or_else(|| {
                ProcessError::PidFile {
                    path: path.clone(),
                    message: format!("expected a process id, found {:?}", text.trim()),
                }
            })?;
            vec![pid]
        }
        ProcessSel::Name(name) => {
            let found = by_name(name);
            if found.is_empty() {
                return Err(ProcessError::NotFound(name.clone()));
            }
            found
        }
    };
    let own = std::process::id() as i32;
    let parent = nix::unistd::getppid().as_raw();
    if let Some(bad) = pids
        .iter()
        .find(|p| **p == 1 || **p == own || **p == parent)
    {
        return Err(ProcessError::Refused(*bad));
    }
    Ok(pids)
}

/// Processes whose `comm` or program file name is `name`, zombies left out.
fn by_name(name: &str) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<i32> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let base = PathBuf::from(format!("/proc/{pid}"));
            let stat = std::fs::read_to_string(base.join("stat")).unwrap_or_default();
            // "pid (comm) S ...": a zombie (Z) or dead (X) process cannot be signalled usefully.
            let state = stat
                .rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next());
            if matches!(state, Some("Z" | "X") | None) {
                return false;
            }
            let comm = std::fs::read_to_string(base.join("comm")).unwrap_or_default();
            if comm.trim_end() == name {
                return true;
            }
            let cmdline = std::fs::read(base.join("cmdline")).unwrap_or_default();
            let argv0 = cmdline.split(|b| *b == 0).next().unwrap_or_default();
            Path::new(&*String::from_utf8_lossy(argv0))
                .file_name()
                .is_some_and(|f| f == name)
        })
        .collect();
    pids.sort_unstable();
    pids
}

/// Send `signal` to each of `pids`; the first refusal is the error.
pub fn signal_all(pids: &[i32], signal: Signal) -> Result<(), ProcessError> {
    let mut first = None;
    for &pid in pids {
        if let Err(source) = kill(Pid::from_raw(pid), signal) {
            // Already gone: nothing left to stop or continue.
            if source == nix::errno::Errno::ESRCH {
                continue;
            }
            first.get_or_insert(ProcessError::Signal {
                signal,
                pid,
                source,
            });
        } else {
            tracing::info!(pid, signal = %signal, "fault: signal sent");
        }
    }
    first.map_or(Ok(()), Err)
}

/// Start `cmd` in `base_dir`, detached in its own process group, output to `log`; it is
/// reaped in the background and outlives the suite.
pub fn restart(cmd: &[String], base_dir: &Path, log: &Path) -> Result<u32, ProcessError> {
    let err = |source| ProcessError::Restart {
        command: cmd[0].clone(),
        source,
    };
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).map_err(err)?;
    }
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(err)?;
    let errs = out.try_clone().map_err(err)?;
    let mut child = tokio::process::Command::new(&cmd[0])
        .args(&cmd[1..])
        .current_dir(base_dir)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(errs)
        .process_group(0)
        .env_remove(testcar_contract::env::READ_TOKEN)
        .spawn()
        .map_err(err)?;
    let pid = child.id().unwrap_or(0);
    tokio::spawn(async move {
        let _ = child.wait().await;
    });
    tracing::info!(pid, program = %cmd[0], "fault: restart command started");
    Ok(pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_the_agent_and_reads_pid_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("me.pid"), std::process::id().to_string()).unwrap();
        let e = find(&ProcessSel::PidFile("me.pid".into()), dir.path()).unwrap_err();
        assert!(matches!(e, ProcessError::Refused(_)), "{e}");
        std::fs::write(dir.path().join("bad.pid"), "abc").unwrap();
        let e = find(&ProcessSel::PidFile("bad.pid".into()), dir.path()).unwrap_err();
        assert!(e.to_string().contains("expected a process id"), "{e}");
        let e = find(&ProcessSel::Name("no-such-process-xyz".into()), dir.path()).unwrap_err();
        assert!(e.to_string().starts_with("no process named"), "{e}");
    }
}
