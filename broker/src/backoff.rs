//! How long to wait before the next attempt: supervisord's linear 1 s, 2 s,
//! 3 s... by default, or the `backoff` curve, `min(max, initial *
//! factor^(n-1))`, spread by ±jitter so that programs failing together do
//! not retry in lockstep. Pure: counts and a seed in, durations out.

use std::time::Duration;
use taskmaster_config::{Backoff, Retry};

/// The wait after the `failures`-th failed start (1 for the first).
pub fn start_wait(retry: &Retry, failures: u32, seed: u64) -> Duration {
    match &retry.backoff {
        None => Duration::from_secs(u64::from(failures)),
        Some(backoff) => curve(backoff, failures, seed),
    }
}

/// Whether the `failures`-th failed start is the last one allowed.
pub fn gives_up(retry: &Retry, startretries: u32, failures: u32) -> bool {
    !retry.forever && failures > startretries
}

/// The wait before restarting a process that crashed while RUNNING, the
/// `crashes`-th time within `backoff_reset` of the previous one: `None`
/// without `backoff` (supervisord restarts at once); with it, the first
/// restart is immediate and the later ones follow the curve.
pub fn crash_wait(retry: &Retry, crashes: u32, seed: u64) -> Option<Duration> {
    let backoff = retry.backoff.as_ref()?;
    Some(match crashes {
        0 | 1 => Duration::ZERO,
        n => curve(backoff, n - 1, seed),
    })
}

/// The crash count after a process that ran for `uptime` crashed: one that
/// stayed up `backoff_reset` starts afresh.
pub fn count_crash(retry: &Retry, crashes: u32, uptime: Duration) -> u32 {
    if uptime >= retry.reset {
        1
    } else {
        crashes.saturating_add(1)
    }
}

/// The `n`-th wait of the curve (`n` from 1), jittered by a draw that
/// depends on `seed` and `n` only, capped at `max`.
fn curve(backoff: &Backoff, n: u32, seed: u64) -> Duration {
    let max = backoff.max.as_secs_f64();
    let exponent = i32::try_from(n.saturating_sub(1)).unwrap_or(i32::MAX);
    let base = (backoff.initial.as_secs_f64() * backoff.factor.powi(exponent)).min(max);
    let spread = 1.0 + backoff.jitter * (2.0 * unit(seed, n) - 1.0);
    Duration::from_secs_f64((base * spread).clamp(0.0, max))
}

/// A number in `0..1` from `seed` and `n` (splitmix64): the same seed gives
/// the same waits, so that tests pin them.
fn unit(seed: u64, n: u32) -> f64 {
    let mut z = seed ^ u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    // The top 53 bits: every value is exact in an f64.
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    fn curved(factor: f64, jitter: f64) -> Retry {
        Retry {
            backoff: Some(Backoff {
                initial: secs(1.0),
                factor,
                max: secs(300.0),
                jitter,
            }),
            ..Retry::default()
        }
    }

    #[test]
    fn the_default_is_supervisords_linear_wait_and_no_crash_wait() {
        let retry = Retry::default();
        let waits: Vec<u64> = (1..=4)
            .map(|n| start_wait(&retry, n, 7).as_secs())
            .collect();
        assert_eq!(waits, [1, 2, 3, 4]);
        assert_eq!(crash_wait(&retry, 5, 7), None);
        assert!(!gives_up(&retry, 3, 3));
        assert!(gives_up(&retry, 3, 4));
        assert_eq!(retry.reset, secs(60.0));
    }

    #[test]
    fn infinite_never_gives_up() {
        let retry = Retry {
            forever: true,
            ..Retry::default()
        };
        assert!(!gives_up(&retry, 0, u32::MAX));
    }

    #[test]
    fn the_curve_is_initial_times_factor_to_the_n_minus_1_capped_at_max() {
        let retry = curved(2.0, 0.0);
        let waits: Vec<f64> = (1..=10)
            .map(|n| start_wait(&retry, n, 0).as_secs_f64())
            .collect();
        assert_eq!(
            waits,
            [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 300.0]
        );
        // Far along, no overflow: still the cap.
        assert_eq!(start_wait(&retry, u32::MAX, 0), secs(300.0));
        let linear = curved(1.0, 0.0);
        assert_eq!(start_wait(&linear, 9, 0), secs(1.0));
    }

    #[test]
    fn crash_restarts_wait_0_then_follow_the_curve() {
        let retry = curved(2.0, 0.0);
        let waits: Vec<f64> = (1..=5)
            .map(|n| crash_wait(&retry, n, 0).unwrap().as_secs_f64())
            .collect();
        assert_eq!(waits, [0.0, 1.0, 2.0, 4.0, 8.0]);
    }

    #[test]
    fn jitter_stays_within_its_bounds_and_spreads_the_waits() {
        let retry = curved(2.0, 0.2);
        let mut distinct = std::collections::BTreeSet::new();
        for seed in 0..1000u64 {
            for n in 1..=8 {
                let exact = start_wait(&curved(2.0, 0.0), n, seed).as_secs_f64();
                let wait = start_wait(&retry, n, seed).as_secs_f64();
                assert!(
                    wait >= exact * 0.8 - 1e-9 && wait <= (exact * 1.2).min(300.0) + 1e-9,
                    "wait {wait} for {exact} (seed {seed}, n {n})"
                );
                distinct.insert(wait.to_bits());
            }
        }
        // 1000 programs failing together do not all wait the same.
        assert!(distinct.len() > 7000, "{}", distinct.len());
    }

    #[test]
    fn the_same_seed_gives_the_same_wait() {
        let retry = curved(2.0, 0.5);
        assert_eq!(start_wait(&retry, 3, 42), start_wait(&retry, 3, 42));
        assert_ne!(start_wait(&retry, 3, 42), start_wait(&retry, 3, 43));
    }

    #[test]
    fn staying_up_backoff_reset_starts_the_count_afresh() {
        let retry = curved(2.0, 0.0);
        assert_eq!(count_crash(&retry, 4, secs(59.9)), 5);
        assert_eq!(count_crash(&retry, 4, secs(60.0)), 1);
        assert_eq!(count_crash(&retry, u32::MAX, secs(1.0)), u32::MAX);
    }
}
