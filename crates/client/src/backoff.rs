//! Waiting between attempts: exponential backoff with jitter, and a circuit breaker per
//! broker.
//!
//! The backoff doubles from `initial` up to `max` and spreads each wait over ±20% (Kafka's
//! `reconnect.backoff` jitter), so that clients that failed together do not come back
//! together. The breaker stops a client from hammering a broker that keeps failing: after
//! `failure_threshold` consecutive failures it opens and refuses requests without trying for
//! `open_for`; then it lets one probe through (half-open); a success closes it, a failure
//! opens it again for twice as long, up to the backoff maximum.

use std::time::{Duration, Instant};

/// Backoff settings.
#[derive(Debug, Clone, Copy)]
pub struct BackoffConfig {
    /// The first wait.
    pub initial: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig {
            initial: Duration::from_millis(50),
            max: Duration::from_secs(1),
        }
    }
}

/// The waits of one retry loop.
#[derive(Debug)]
pub struct Backoff {
    config: BackoffConfig,
    attempts: u32,
}

impl Backoff {
    /// A loop that has not waited yet.
    pub fn new(config: BackoffConfig) -> Backoff {
        Backoff {
            config,
            attempts: 0,
        }
    }

    /// The next wait: `initial * 2^attempts`, capped at `max`, with ±20% jitter.
    pub fn next_delay(&mut self) -> Duration {
        let exponent = self.attempts.min(20);
        self.attempts = self.attempts.saturating_add(1);
        let base = self
            .config
            .initial
            .saturating_mul(1 << exponent)
            .min(self.config.max);
        jitter(base)
    }

    /// Sleeps for [`Backoff::next_delay`].
    pub async fn wait(&mut self) {
        tokio::time::sleep(self.next_delay()).await;
    }
}

/// `base` scaled by a factor in [0.8, 1.2).
fn jitter(base: Duration) -> Duration {
    base.mul_f64(0.8 + 0.4 * random_unit())
}

/// A number in [0, 1) from a small xorshift generator seeded per thread from the clock;
/// spreading retries needs no better randomness.
fn random_unit() -> f64 {
    use std::cell::Cell;
    thread_local! {
        static STATE: Cell<u64> = Cell::new(seed());
    }
    STATE.with(|state| {
        let mut x = state.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        state.set(x);
        (x >> 11) as f64 / (1u64 << 53) as f64
    })
}

fn seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let thread = std::thread::current().id();
    let mut hash = nanos ^ 0x9e37_79b9_7f4a_7c15;
    for byte in format!("{thread:?}").bytes() {
        hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
    }
    hash | 1
}

/// Circuit breaker settings.
#[derive(Debug, Clone, Copy)]
pub struct BreakerConfig {
    /// Consecutive failures that open the circuit.
    pub failure_threshold: u32,
    /// How long an opened circuit refuses requests before the first probe.
    pub open_for: Duration,
    /// The longest an opened circuit refuses requests.
    pub max_open_for: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failure_threshold: 5,
            open_for: Duration::from_millis(500),
            max_open_for: Duration::from_secs(10),
        }
    }
}

/// The state of a circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Requests go through; `failures` in a row so far.
    Closed {
        /// Consecutive failures.
        failures: u32,
    },
    /// Requests are refused until `until`.
    Open {
        /// When a probe may go.
        until: Instant,
        /// How long this opening lasts.
        open_for: Duration,
        /// Consecutive failures.
        failures: u32,
    },
    /// One probe is in flight; others are refused until it ends (or, should its caller have
    /// given up without a result, until `max_open_for` after it started).
    HalfOpen {
        /// When the probe went.
        since: Instant,
        /// How long the last opening lasted.
        open_for: Duration,
        /// Consecutive failures.
        failures: u32,
    },
}

/// Why a breaker refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refused {
    /// Consecutive failures so far.
    pub failures: u32,
    /// How long until a probe may go.
    pub retry_in: Duration,
}

/// A circuit breaker for one broker.
#[derive(Debug)]
pub struct Breaker {
    config: BreakerConfig,
    state: BreakerState,
}

impl Breaker {
    /// A closed circuit.
    pub fn new(config: BreakerConfig) -> Breaker {
        Breaker {
            config,
            state: BreakerState::Closed { failures: 0 },
        }
    }

    /// The current state.
    pub fn state(&self) -> BreakerState {
        self.state
    }

    /// Whether a request may go now. Passing an open circuit whose time is up makes it
    /// half-open: this caller is the probe.
    pub fn allow(&mut self, now: Instant) -> Result<(), Refused> {
        // When a probe may go: an open circuit's time is up, or a probe was let through so
        // long ago that its caller must have given up without a result.
        let (ready_at, open_for, failures) = match self.state {
            BreakerState::Closed { .. } => return Ok(()),
            BreakerState::Open {
                until,
                open_for,
                failures,
            } => (until, open_for, failures),
            BreakerState::HalfOpen {
                since,
                open_for,
                failures,
            } => (since + self.config.max_open_for, open_for, failures),
        };
        if now < ready_at {
            return Err(Refused {
                failures,
                retry_in: ready_at - now,
            });
        }
        self.state = BreakerState::HalfOpen {
            since: now,
            open_for,
            failures,
        };
        Ok(())
    }

    /// A request succeeded: the circuit closes.
    pub fn record_success(&mut self) {
        self.state = BreakerState::Closed { failures: 0 };
    }

    /// A request failed: count it, and open the circuit at the threshold (or again, for
    /// longer, after a failed probe).
    pub fn record_failure(&mut self, now: Instant) {
        self.state = match self.state {
            BreakerState::Closed { failures } => {
                let failures = failures + 1;
                if failures >= self.config.failure_threshold {
                    self.open(now, self.config.open_for, failures)
                } else {
                    BreakerState::Closed { failures }
                }
            }
            BreakerState::HalfOpen {
                open_for, failures, ..
            } => {
                let longer = (open_for * 2).min(self.config.max_open_for);
                self.open(now, longer, failures + 1)
            }
            open @ BreakerState::Open { .. } => open,
        };
    }

    fn open(&self, now: Instant, open_for: Duration, failures: u32) -> BreakerState {
        BreakerState::Open {
            until: now + jitter(open_for),
            open_for,
            failures,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_maximum_within_the_jitter() {
        let mut backoff = Backoff::new(BackoffConfig {
            initial: Duration::from_millis(100),
            max: Duration::from_millis(700),
        });
        for expected in [100u64, 200, 400, 700, 700] {
            let delay = backoff.next_delay().as_secs_f64() * 1000.0;
            let expected = expected as f64;
            assert!(
                delay >= expected * 0.8 && delay < expected * 1.2,
                "{delay} ms is not within 20% of {expected} ms"
            );
        }
    }

    #[test]
    fn jitter_spreads_the_waits() {
        let waits: std::collections::HashSet<u128> = (0..50)
            .map(|_| jitter(Duration::from_secs(1)).as_micros())
            .collect();
        assert!(
            waits.len() > 40,
            "only {} distinct waits of 50",
            waits.len()
        );
    }

    fn breaker() -> Breaker {
        Breaker::new(BreakerConfig {
            failure_threshold: 3,
            open_for: Duration::from_secs(1),
            max_open_for: Duration::from_secs(3),
        })
    }

    #[test]
    fn the_circuit_opens_after_the_threshold_and_refuses_until_its_time() {
        let mut breaker = breaker();
        let now = Instant::now();
        breaker.record_failure(now);
        breaker.record_failure(now);
        assert_eq!(breaker.allow(now), Ok(()), "two failures keep it closed");
        breaker.record_failure(now);
        let refused = breaker.allow(now).unwrap_err();
        assert_eq!(refused.failures, 3);
        assert!(refused.retry_in >= Duration::from_millis(800));
        assert!(breaker.allow(now + Duration::from_millis(700)).is_err());
    }

    #[test]
    fn one_probe_goes_through_and_its_success_closes_the_circuit() {
        let mut breaker = breaker();
        let now = Instant::now();
        for _ in 0..3 {
            breaker.record_failure(now);
        }
        let later = now + Duration::from_millis(1300);
        assert_eq!(breaker.allow(later), Ok(()), "the probe");
        assert!(breaker.allow(later).is_err(), "others wait for the probe");
        breaker.record_success();
        assert_eq!(breaker.state(), BreakerState::Closed { failures: 0 });
        assert_eq!(breaker.allow(later), Ok(()));
    }

    #[test]
    fn a_failed_probe_opens_the_circuit_for_longer_up_to_the_cap() {
        let mut breaker = breaker();
        let mut now = Instant::now();
        for _ in 0..3 {
            breaker.record_failure(now);
        }
        let mut expected = [2u64, 3, 3].into_iter();
        for _ in 0..3 {
            now += Duration::from_secs(4);
            assert_eq!(breaker.allow(now), Ok(()));
            breaker.record_failure(now);
            let BreakerState::Open { open_for, .. } = breaker.state() else {
                panic!("a failed probe opens the circuit");
            };
            assert_eq!(open_for, Duration::from_secs(expected.next().unwrap()));
        }
    }
}
