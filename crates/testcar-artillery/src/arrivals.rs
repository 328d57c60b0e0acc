//! The open-model arrival schedule of `config.phases`, computed the way Artillery's phaser
//! does: a uniform process ticks every `1/arrivalRate` (first arrival one interval in), a
//! ramp gives each second its own count, `arrivalCount` spreads arrivals over the duration.

use std::time::Duration;

use crate::script::model::{Phase, PhaseKind};

/// One arrival: when, relative to the start of the run, and in which phase.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Arrival {
    /// Offset from the start of the load.
    pub at: Duration,
    /// Index of the phase.
    pub phase: usize,
}

/// Every arrival of `phases`, in time order, computed lazily (a long, fast phase would
/// otherwise hold millions of offsets).
#[derive(Debug, Clone)]
pub struct Arrivals<'p> {
    phases: &'p [Phase],
    phase: usize,
    phase_start: Duration,
    k: u64,
}

/// Iterate the arrivals of `phases`.
pub fn arrivals(phases: &[Phase]) -> Arrivals<'_> {
    Arrivals {
        phases,
        phase: 0,
        phase_start: Duration::ZERO,
        k: 0,
    }
}

/// Divide every phase's load across `replicas` pods (`testcar.io/load: shared`), so the
/// pods together send what the script describes. Rates (`arrivalRate`, `rampTo`) are divided
/// exactly (a fractional rate is fine: its interval is `1/rate`); `arrivalCount` is rounded
/// to the nearest whole arrival, so a count that `replicas` does not divide is off by less
/// than `replicas / 2` in total; `maxVusers` is rounded up (a cap of 0 would stop the pod).
/// Durations and pauses are unchanged: every pod runs the same timeline.
pub fn share(phases: &mut [Phase], replicas: u32) {
    let n = replicas.max(1);
    if n == 1 {
        return;
    }
    let nf = f64::from(n);
    for p in phases {
        match &mut p.kind {
            PhaseKind::Rate { rate, ramp_to, .. } => {
                *rate /= nf;
                if let Some(to) = ramp_to {
                    *to /= nf;
                }
            }
            PhaseKind::Count { count, .. } => {
                *count = (*count as f64 / nf).round() as u64;
            }
            PhaseKind::Pause { .. } => {}
        }
        if let Some(max) = &mut p.max_vusers {
            *max = max.div_ceil(u64::from(n));
        }
    }
}

/// Total length of the phases.
#[cfg(test)]
pub fn total_length(phases: &[Phase]) -> Duration {
    phases.iter().map(|p| phase_length(&p.kind)).sum()
}

/// Every arrival of `phases` at once, and their total length (the run streams them; only
/// the tests need them all at once).
#[cfg(test)]
pub fn schedule(phases: &[Phase]) -> (Vec<Arrival>, Duration) {
    (arrivals(phases).collect(), total_length(phases))
}

/// Number of arrivals `phases` will produce.
#[cfg(test)]
pub fn count(phases: &[Phase]) -> u64 {
    phases.iter().map(|p| arrivals_in(&p.kind)).sum()
}

impl Iterator for Arrivals<'_> {
    type Item = Arrival;

    fn next(&mut self) -> Option<Arrival> {
        loop {
            let p = self.phases.get(self.phase)?;
            if let Some(at) = nth_arrival(&p.kind, self.k) {
                self.k += 1;
                return Some(Arrival {
                    at: self.phase_start + at,
                    phase: self.phase,
                });
            }
            self.phase_start += phase_length(&p.kind);
            self.phase += 1;
            self.k = 0;
        }
    }
}

fn uniform_interval_us(kind: &PhaseKind) -> Option<(u64, u64)> {
    match *kind {
        PhaseKind::Count { duration, count } if count > 0 => {
            let interval = (duration.as_micros() as f64 / count as f64).floor() as u64;
            Some((interval, duration.as_micros() as u64))
        }
        PhaseKind::Rate {
            duration,
            rate,
            ramp_to: None,
        } if rate > 0.0 => Some((
            (1_000_000.0 / rate).floor() as u64,
            duration.as_micros() as u64,
        )),
        _ => None,
    }
}

fn ramp_periods(duration: Duration) -> u64 {
    (duration.as_secs_f64().round() as u64).max(1)
}

/// Arrivals in second `period` of a ramp.
fn ramp_count(rate: f64, to: f64, periods: u64, period: u64) -> u64 {
    let raw = if periods == 1 {
        (rate + to) / 2.0
    } else {
        (to - rate) / (periods - 1) as f64 * period as f64 + rate
    };
    raw.round().max(0.0) as u64
}

#[cfg(test)]
fn arrivals_in(kind: &PhaseKind) -> u64 {
    match *kind {
        PhaseKind::Rate {
            duration,
            rate,
            ramp_to: Some(to),
        } => {
            let periods = ramp_periods(duration);
            (0..periods).map(|p| ramp_count(rate, to, periods, p)).sum()
        }
        _ => match uniform_interval_us(kind) {
            Some((interval, duration)) if interval > 0 => duration / interval,
            _ => 0,
        },
    }
}

fn phase_length(kind: &PhaseKind) -> Duration {
    match *kind {
        PhaseKind::Pause { duration } | PhaseKind::Count { duration, .. } => duration,
        PhaseKind::Rate {
            duration,
            ramp_to: None,
            ..
        } => duration,
        PhaseKind::Rate {
            duration,
            ramp_to: Some(_),
            ..
        } => Duration::from_secs(ramp_periods(duration)),
    }
}

/// Offset of the `k`-th arrival (from 0) within its phase, if the phase has that many.
fn nth_arrival(kind: &PhaseKind, k: u64) -> Option<Duration> {
    match *kind {
        PhaseKind::Pause { .. } => None,
        PhaseKind::Rate {
            duration,
            rate,
            ramp_to: Some(to),
        } => {
            let periods = ramp_periods(duration);
            let mut k = k;
            for period in 0..periods {
                let n = ramp_count(rate, to, periods, period);
                if k < n {
                    let tick_ms = (1000 / n).clamp(1, 1000);
                    return Some(Duration::from_millis(period * 1000 + (k + 1) * tick_ms));
                }
                k -= n;
            }
            None
        }
        _ => {
            let (interval, duration) = uniform_interval_us(kind)?;
            if interval == 0 || k >= duration / interval {
                return None;
            }
            Some(Duration::from_micros((k + 1) * interval))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mk_phase(kind: PhaseKind) -> Phase {
        Phase {
            name: None,
            kind,
            max_vusers: None,
        }
    }

    #[test]
    fn arrival_rate_ticks_from_one_interval_in() {
        let (a, len) = schedule(&[mk_phase(PhaseKind::Rate {
            duration: Duration::from_secs(2),
            rate: 5.0,
            ramp_to: None,
        })]);
        assert_eq!(a.len(), 10);
        assert_eq!(a[0].at, Duration::from_millis(200));
        assert_eq!(a[9].at, Duration::from_secs(2));
        assert_eq!(len, Duration::from_secs(2));
    }

    #[test]
    fn count_pause_and_ramp() {
        let phases = [
            mk_phase(PhaseKind::Count {
                duration: Duration::from_secs(3),
                count: 3,
            }),
            mk_phase(PhaseKind::Pause {
                duration: Duration::from_secs(1),
            }),
            mk_phase(PhaseKind::Rate {
                duration: Duration::from_secs(3),
                rate: 1.0,
                ramp_to: Some(5.0),
            }),
        ];
        let (a, len) = schedule(&phases);
        let count_offsets: Vec<_> = a.iter().filter(|x| x.phase == 0).map(|x| x.at).collect();
        assert_eq!(count_offsets, [1, 2, 3].map(Duration::from_secs));
        // Ramp 1 → 5 over 3 s: 1, 3, 5 arrivals per second.
        assert_eq!(a.iter().filter(|x| x.phase == 2).count(), 9);
        assert!(
            a.iter()
                .filter(|x| x.phase == 2)
                .all(|x| x.at > Duration::from_secs(4))
        );
        assert_eq!(len, Duration::from_secs(7));
        assert_eq!(count(&phases), 12);
    }

    #[test]
    fn a_shared_load_is_divided_across_the_replicas() {
        let mut phases = vec![
            mk_phase(PhaseKind::Rate {
                duration: Duration::from_secs(10),
                rate: 30.0,
                ramp_to: None,
            }),
            mk_phase(PhaseKind::Count {
                duration: Duration::from_secs(3),
                count: 30,
            }),
            mk_phase(PhaseKind::Rate {
                duration: Duration::from_secs(4),
                rate: 3.0,
                ramp_to: Some(12.0),
            }),
        ];
        phases[0].max_vusers = Some(10);
        let full = count(&phases);
        let full_len = total_length(&phases);
        share(&mut phases, 3);
        assert_eq!(phases[0].max_vusers, Some(4));
        assert_eq!(total_length(&phases), full_len);
        // 300 + 30 + (3+6+9+12) = 360 in all; each of three pods sends 100 + 10 + (1+2+3+4).
        assert_eq!(full, 360);
        assert_eq!(count(&phases) * 3, full);
        let mut unchanged = phases.clone();
        share(&mut unchanged, 1);
        assert_eq!(unchanged, phases);
    }
}
