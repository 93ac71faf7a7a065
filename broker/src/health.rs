//! A running process's health, pure: consecutive failures of its
//! `healthcheck` counted against `retries`, and when to act.

/// What the broker knows of one process's health since it last started.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Health {
    /// Consecutive failed checks.
    pub failures: u32,
    /// Why the last check failed.
    pub error: Option<String>,
    /// At least one check has answered since the process started.
    pub checked: bool,
}

/// What one check changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Nothing to report: healthy again, or the first healthy answer.
    Same,
    /// It answered after failing.
    Recovered,
    /// One more failure; `act` when this one reaches `retries`.
    Failed { act: bool },
}

impl Health {
    pub fn observe(&mut self, outcome: Result<(), String>, retries: u32) -> Change {
        self.checked = true;
        match outcome {
            Ok(()) if self.failures == 0 => Change::Same,
            Ok(()) => {
                self.failures = 0;
                self.error = None;
                Change::Recovered
            }
            Err(error) => {
                self.failures += 1;
                self.error = Some(error);
                Change::Failed {
                    act: self.failures == retries,
                }
            }
        }
    }

    /// `healthy`, `unhealthy (2/3: connection refused)`, or `None` before
    /// the first check.
    pub fn describe(&self, retries: u32) -> Option<String> {
        if !self.checked {
            return None;
        }
        Some(match &self.error {
            Some(error) if self.failures > 0 => {
                format!("unhealthy ({}/{retries}: {error})", self.failures)
            }
            _ => "healthy".to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acts_once_when_failures_reach_retries() {
        let mut health = Health::default();
        assert_eq!(health.describe(3), None);
        assert_eq!(health.observe(Ok(()), 3), Change::Same);
        assert_eq!(health.describe(3).as_deref(), Some("healthy"));
        let refused = || Err("connection refused".to_string());
        assert_eq!(health.observe(refused(), 3), Change::Failed { act: false });
        assert_eq!(health.observe(refused(), 3), Change::Failed { act: false });
        assert_eq!(
            health.describe(3).as_deref(),
            Some("unhealthy (2/3: connection refused)")
        );
        assert_eq!(health.observe(refused(), 3), Change::Failed { act: true });
        assert_eq!(health.observe(refused(), 3), Change::Failed { act: false });
    }

    #[test]
    fn a_success_resets_the_count() {
        let mut health = Health::default();
        health.observe(Err("HTTP 500".into()), 2);
        assert_eq!(health.observe(Ok(()), 2), Change::Recovered);
        assert_eq!(
            health.observe(Err("HTTP 500".into()), 2),
            Change::Failed { act: false }
        );
        assert_eq!(
            health.describe(2).as_deref(),
            Some("unhealthy (1/2: HTTP 500)")
        );
    }
}
