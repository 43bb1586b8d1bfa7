//! Running a step or compensation: up to `retry.max_attempts` attempts, each under the time limit
//! (`TIMEOUT`, retryable) with panics caught (`PANIC`, retryable), exponential backoff with jitter
//! between attempts, and one [`HistoryEntry`] per attempt.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use futures::FutureExt;
use rand::Rng;
use tracing::Instrument;

use crate::order::{HistoryEntry, Outcome};
use crate::plan::{Jitter, Plan, RetryPlan};
use crate::steps::util::now_rfc3339;
use crate::steps::{StepError, StepHandler, StepInput, StepOutput};

use super::metrics::{Metrics, bump};

/// The outcome of all attempts.
pub(crate) struct Attempts {
    /// The successful output, or the error of the last attempt (terminal, or retryable but out of
    /// attempts).
    pub result: Result<StepOutput, StepError>,
    /// One entry per attempt; the last one is `Succeeded` or `Failed`.
    pub history: Vec<HistoryEntry>,
    /// The span of the last attempt (`attempt{step, attempt}`): what follows from it (the commit,
    /// the failure policy) runs in it, so that its log lines name the step and attempt too.
    pub span: tracing::Span,
}

/// What to run and how.
pub(crate) struct Run<'a> {
    pub plan: &'a Plan,
    pub handler: &'a dyn StepHandler,
    pub name: &'a str,
    pub retry: &'a RetryPlan,
    pub timeout_ms: u64,
    pub metrics: &'a Metrics,
}

impl Run<'_> {
    /// Runs the attempts; `input(attempt)` builds each attempt's input.
    pub async fn attempts(&self, mut input: impl FnMut(u32) -> StepInput) -> Attempts {
        let max_attempts = self.retry.max_attempts.max(1);
        let limit = Duration::from_millis(self.timeout_ms.max(1));
        let mut history = Vec::new();
        let mut attempt = 1;
        loop {
            let span = tracing::info_span!("attempt", step = self.name, attempt);
            let started = Instant::now();
            let call =
                AssertUnwindSafe(self.handler.call(self.plan, input(attempt))).catch_unwind().instrument(span.clone());
            let result = match tokio::time::timeout(limit, call).await {
                Ok(Ok(result)) => result,
                Ok(Err(panic)) => {
                    Err(StepError::retryable("PANIC", format!("the handler panicked: {}", panic_message(&*panic))))
                }
                Err(_) => Err(StepError::retryable(
                    "TIMEOUT",
                    format!("attempt {attempt} did not finish within {} ms", self.timeout_ms),
                )),
            };
            let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            let retry = matches!(&result, Err(e) if e.is_retryable()) && attempt < max_attempts;
            let outcome = match &result {
                Ok(_) => Outcome::Succeeded,
                Err(_) if retry => Outcome::Retried,
                Err(_) => Outcome::Failed,
            };
            span.in_scope(|| match &result {
                // Debug: the move's `order moved` line names the steps it ran, the history keeps
                // every attempt and the StepDuration metric its time (an INFO line per successful
                // attempt was a quarter of the log volume an order costs).
                Ok(_) => tracing::debug!(duration_ms, "attempt succeeded"),
                Err(error) if retry => tracing::warn!(duration_ms, %error, "attempt failed, will retry"),
                Err(error) => tracing::warn!(duration_ms, %error, "attempt failed"),
            });
            history.push(HistoryEntry {
                step: self.name.to_owned(),
                attempt,
                outcome,
                duration_ms,
                error: result.as_ref().err().map(ToString::to_string),
                at: now_rfc3339(),
            });
            if !retry {
                let result = result.map_err(|e| match e {
                    StepError::Retryable { code, message, retry_after_ms } if max_attempts > 1 => {
                        StepError::Retryable {
                            code,
                            message: format!("{message} (after {max_attempts} attempts)"),
                            retry_after_ms,
                        }
                    }
                    e => e,
                });
                return Attempts { result, history, span };
            }
            bump(&self.metrics.step_retries);
            // A service's own `Retry-After` is honoured up to the step's time limit.
            let asked = result
                .as_ref()
                .err()
                .and_then(StepError::retry_after)
                .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX).min(self.timeout_ms));
            tokio::time::sleep(Duration::from_millis(jittered(self.retry, attempt).max(asked))).await;
            attempt += 1;
        }
    }
}

/// The delay after attempt `attempt`, with the policy's jitter.
pub(crate) fn jittered(retry: &RetryPlan, attempt: u32) -> u64 {
    let delay = retry.delay_ms(attempt);
    match retry.jitter {
        Jitter::None => delay,
        Jitter::Full => rand::rng().random_range(0..=delay),
        Jitter::Equal => delay / 2 + rand::rng().random_range(0..=delay - delay / 2),
    }
}

/// The message of a panic payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a non-string panic payload".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry(jitter: Jitter) -> RetryPlan {
        RetryPlan { max_attempts: 5, base_delay_ms: 100, max_delay_ms: 1000, jitter }
    }

    #[test]
    fn jitter_stays_in_bounds() {
        assert_eq!(jittered(&retry(Jitter::None), 1), 100);
        assert_eq!(jittered(&retry(Jitter::None), 3), 400);
        assert_eq!(jittered(&retry(Jitter::None), 9), 1000);
        for _ in 0..200 {
            assert!(jittered(&retry(Jitter::Full), 2) <= 200);
            let equal = jittered(&retry(Jitter::Equal), 2);
            assert!((100..=200).contains(&equal), "{equal}");
        }
    }
}
