//! Turns a fault's schedule into its windows (offsets from the suite's start). Random
//! schedules use a small seeded generator so the same seed replays the same faults.

use std::time::Duration;

use super::config::Schedule;

/// One window: on at `start`, healed at `end` (`None`: when the suite ends).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Offset from the suite's start.
    pub start: Duration,
    /// Offset of the heal.
    pub end: Option<Duration>,
}

/// The windows of `schedule`, in order, lazily (a repeat without `times` never ends).
pub fn windows(schedule: &Schedule) -> Box<dyn Iterator<Item = Window> + Send> {
    match *schedule {
        Schedule::Fixed {
            at,
            duration,
            every: None,
            ..
        } => Box::new(std::iter::once(Window {
            start: at,
            end: duration.map(|d| at + d),
        })),
        Schedule::Fixed {
            at,
            duration,
            every: Some(every),
            times,
        } => {
            let d = duration.unwrap_or_default();
            let n = times.map(u64::from).unwrap_or(u64::MAX);
            Box::new((0..n).map_while(move |i| {
                let start = at.checked_add(every.checked_mul(u32::try_from(i).ok()?)?)?;
                Some(Window {
                    start,
                    end: Some(start + d),
                })
            }))
        }
        Schedule::Random {
            at,
            duration,
            seed,
            count,
            within,
        } => {
            let mut rng = SplitMix64(seed);
            let span = within.as_nanos().max(1) as u64;
            let mut starts: Vec<u64> = (0..count).map(|_| rng.next_u64() % span).collect();
            starts.sort_unstable();
            let mut out = Vec::with_capacity(starts.len());
            let mut free = Duration::ZERO;
            for s in starts {
                // Overlapping draws are pushed back: one fault is on once at a time.
                let start = (at + Duration::from_nanos(s)).max(free);
                free = start + duration;
                out.push(Window {
                    start,
                    end: Some(free),
                });
            }
            Box::new(out.into_iter())
        }
    }
}

/// SplitMix64: tiny, seedable, good enough to spread fault windows.
#[derive(Debug, Clone)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A float in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn fixed_and_repeat() {
        let once = Schedule::Fixed {
            at: S,
            duration: Some(2 * S),
            every: None,
            times: None,
        };
        assert_eq!(
            windows(&once).collect::<Vec<_>>(),
            vec![Window {
                start: S,
                end: Some(3 * S)
            }]
        );
        let rep = Schedule::Fixed {
            at: S,
            duration: Some(S),
            every: Some(5 * S),
            times: Some(3),
        };
        let w: Vec<_> = windows(&rep).collect();
        assert_eq!(w.len(), 3);
        assert_eq!(w[2].start, 11 * S);
        assert_eq!(w[2].end, Some(12 * S));
        let forever = Schedule::Fixed {
            at: S,
            duration: Some(S),
            every: Some(5 * S),
            times: None,
        };
        assert_eq!(windows(&forever).take(1000).count(), 1000);
    }

    #[test]
    fn random_is_seeded_sorted_and_disjoint() {
        let r = |seed| Schedule::Random {
            at: S,
            duration: S,
            seed,
            count: 5,
            within: 10 * S,
        };
        let a: Vec<_> = windows(&r(42)).collect();
        assert_eq!(a, windows(&r(42)).collect::<Vec<_>>());
        assert_ne!(a, windows(&r(43)).collect::<Vec<_>>());
        assert_eq!(a.len(), 5);
        for pair in a.windows(2) {
            assert!(pair[1].start >= pair[0].end.unwrap());
        }
        assert!(a[0].start >= S);
    }
}
