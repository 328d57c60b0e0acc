//! What the agent is doing right now, shared by the runner and the HTTP endpoints:
//! pending (finding tests, waiting for the service), running (which suite, live figures),
//! or done (the result document). Keeps the metrics in step.

use std::sync::Mutex;
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use testcar_contract::{Run, Suite};

use crate::metrics::Metrics;
use crate::runners::Progress;

#[derive(Debug)]
enum Phase {
    Pending {
        since: DateTime<Utc>,
        step: String,
    },
    Running {
        run_id: String,
        started: DateTime<Utc>,
        clock: Instant,
        total: usize,
        done: usize,
        suite: Option<String>,
        progress: Progress,
        /// Requests of the current suite already counted in the metrics.
        counted: u64,
    },
    Done(Box<Run>),
}

/// The agent's state and metrics.
#[derive(Debug)]
pub struct AgentState {
    phase: Mutex<Phase>,
    /// Prometheus metrics.
    pub metrics: Metrics,
}

impl Default for AgentState {
    fn default() -> Self {
        Self::new()
    }
}

impl AgentState {
    /// Pending, starting up.
    pub fn new() -> Self {
        AgentState {
            phase: Mutex::new(Phase::Pending {
                since: Utc::now(),
                step: "starting".into(),
            }),
            metrics: Metrics::new(),
        }
    }

    fn phase(&self) -> std::sync::MutexGuard<'_, Phase> {
        // A panic elsewhere must not take the endpoints down with it.
        self.phase.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Still preparing: `step` says what (e.g. "waiting for the service").
    pub fn pending(&self, step: impl Into<String>) {
        *self.phase() = Phase::Pending {
            since: Utc::now(),
            step: step.into(),
        };
        self.metrics.set_state("pending");
    }

    /// Suites are about to run.
    pub fn running(&self, run_id: &str, started: DateTime<Utc>, total: usize) {
        *self.phase() = Phase::Running {
            run_id: run_id.into(),
            started,
            clock: Instant::now(),
            total,
            done: 0,
            suite: None,
            progress: Progress::default(),
            counted: 0,
        };
        self.metrics.set_state("running");
    }

    /// Suite `name` started.
    pub fn suite_started(&self, name: &str) {
        if let Phase::Running {
            suite,
            progress,
            counted,
            ..
        } = &mut *self.phase()
        {
            *suite = Some(name.into());
            *progress = Progress::default();
            *counted = 0;
        }
    }

    /// Live figures of the current suite.
    pub fn progress(&self, p: Progress) {
        if let Phase::Running {
            suite: Some(name),
            progress,
            counted,
            clock,
            ..
        } = &mut *self.phase()
        {
            self.metrics
                .add_requests(name, p.requests.saturating_sub(*counted));
            if let Some(h) = &p.response_time {
                self.metrics.set_response_times(name, h);
            }
            *counted = (*counted).max(p.requests);
            *progress = p;
            self.metrics.set_duration(clock.elapsed().as_secs_f64());
        }
    }

    /// The current suite ended.
    pub fn suite_finished(&self, s: &Suite) {
        let mut phase = self.phase();
        let seen = match &mut *phase {
            Phase::Running {
                done,
                suite,
                counted,
                clock,
                ..
            } => {
                *done += 1;
                *suite = None;
                self.metrics.set_duration(clock.elapsed().as_secs_f64());
                std::mem::take(counted)
            }
            _ => 0,
        };
        self.metrics.record_suite(s, seen);
    }

    /// The run ended (or a stored result was found).
    pub fn done(&self, run: &Run) {
        if matches!(&*self.phase(), Phase::Pending { .. }) {
            // A stored result or a run that never started suites: count its suites now.
            for s in &run.suites {
                self.metrics.record_suite(s, 0);
            }
        }
        *self.phase() = Phase::Done(Box::new(run.clone()));
        self.metrics.record_run(run);
    }

    /// The result document when done.
    pub fn result(&self) -> Option<Run> {
        match &*self.phase() {
            Phase::Done(run) => Some((**run).clone()),
            _ => None,
        }
    }

    /// What `/result` answers: the document when done, else the state and progress.
    pub fn to_json(&self) -> Value {
        match &*self.phase() {
            Phase::Pending { since, step } => json!({
                "state": "pending",
                "step": step,
                "since": since,
            }),
            Phase::Running {
                run_id,
                started,
                clock,
                total,
                done,
                suite,
                progress,
                ..
            } => json!({
                "state": "running",
                "runId": run_id,
                "started": started,
                "elapsedMs": clock.elapsed().as_millis() as u64,
                "suitesTotal": total,
                "suitesDone": done,
                "suite": suite,
                "progress": {
                    "elapsedMs": progress.elapsed.as_millis() as u64,
                    "requests": progress.requests,
                    "responses": progress.responses,
                    "errors": progress.errors,
                    "rate": progress.rate,
                    "p99Ms": progress.p99_ms,
                },
            }),
            Phase::Done(run) => serde_json::to_value(run).expect("a Run always serializes"),
        }
    }

    /// One line for a terminal: elapsed, suite, requests, rate, errors, p99.
    pub fn progress_line(&self) -> Option<String> {
        match &*self.phase() {
            Phase::Running {
                clock,
                total,
                done,
                suite,
                progress,
                ..
            } => {
                let mut line = format!(
                    "{:>6.1}s  suite {}/{total} {}",
                    clock.elapsed().as_secs_f64(),
                    (*done + 1).min(*total),
                    suite.as_deref().unwrap_or("-")
                );
                if progress.requests > 0 {
                    line.push_str(&format!(
                        "  requests {}  rate {:.0}/s  errors {}  p99 {}",
                        progress.requests,
                        progress.rate,
                        progress.errors,
                        progress
                            .p99_ms
                            .map(|v| format!("{v:.1}ms"))
                            .unwrap_or_else(|| "-".into())
                    ));
                }
                Some(line)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use testcar_contract::{RunnerKind, Status};

    #[test]
    fn pending_running_done() {
        let state = AgentState::new();
        state.pending("waiting for the service");
        assert_eq!(state.to_json()["state"], "pending");
        assert_eq!(state.to_json()["step"], "waiting for the service");

        state.running("r1", Utc::now(), 2);
        state.suite_started("smoke");
        state.progress(Progress {
            requests: 7,
            ..Default::default()
        });
        let j = state.to_json();
        assert_eq!(j["state"], "running");
        assert_eq!(j["suite"], "smoke");
        assert_eq!(j["progress"]["requests"], 7);
        assert!(state.progress_line().unwrap().contains("requests 7"));
        assert!(
            state
                .metrics
                .encode()
                .contains("testcar_suite_requests_total{suite=\"smoke\"} 7")
        );

        let mut s = Suite::new("smoke", RunnerKind::Exec);
        s.status = Status::Passed;
        state.suite_finished(&s);
        let now = Utc::now();
        let run = Run::finish("r1", now, now, vec![s], None);
        state.done(&run);
        assert_eq!(state.to_json()["schema"], testcar_contract::SCHEMA_ID);
        assert!(
            state
                .metrics
                .encode()
                .contains("testcar_run_status{status=\"passed\"} 1")
        );
    }
}
