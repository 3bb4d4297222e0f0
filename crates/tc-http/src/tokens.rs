//! Getting a token for a request: the pool's decision, the waiting, and the single-flight
//! creation over `POST /clients/{id}/token`.

use crate::client::{Client, Sent};
use crate::error::{AttemptFailure, Error};
use crate::http::error_body;
use crate::http::retry_after_ms;
use crate::secret::AccessToken;
use rand::RngCore;
use reqwest::header::CONTENT_TYPE;
use secrecy::ExposeSecret;
use std::time::{Duration, SystemTime};
use tc_core::transport::{CreationRefused, Decision, Failure, NotSentKind};
use tc_core::wire::TokenRequest;
use tc_core::Millis;
use tokio::time::sleep_until;

const TOKEN: &str = "token";
/// Waiting callers re-check the pool at least this often, in case a wake-up was missed.
const WAIT_RECHECK: Duration = Duration::from_millis(500);
/// After a 429 from the token endpoint without `Retry-After`, create nothing for this long.
const DEFAULT_CREATION_HOLD_MS: i64 = 60_000;

/// The token a request goes out with.
pub(crate) struct Lease {
    pub slot: usize,
    pub generation: u64,
    pub token: AccessToken,
    /// The moment reserved on the slot's rate limiter.
    pub at: Millis,
}

/// Why no token could be had for an attempt.
pub(crate) enum NoToken {
    /// The call cannot go on.
    Fatal(Error),
    /// The token request failed in a way a retry may fix; it counts as the attempt.
    Failed(Failure, AttemptFailure),
}

impl Client {
    /// A token to send on, once the rate limit allows: creates one first if the pool says so.
    pub(crate) async fn acquire(&self) -> Result<Lease, NoToken> {
        enum Step {
            SendAt(Millis, Lease),
            SleepUntil(Millis),
            Wait,
            Create(usize, Millis),
        }
        loop {
            // Registered before the pool is read, so a creation that ends in between still
            // wakes this caller.
            let ready = self.inner.token_ready.notified();
            tokio::pin!(ready);
            ready.as_mut().enable();
            let step = {
                let mut state = self.lock();
                let now = self.now();
                match state.pool.pick(now) {
                    Decision::Send { slot, at, token } => {
                        state.pool.reserve_send(slot, at);
                        Step::SendAt(
                            at,
                            Lease {
                                slot,
                                generation: token.generation,
                                token: token.token,
                                at,
                            },
                        )
                    }
                    Decision::Create { slot, at } if at <= now => {
                        match state.pool.begin_creation(slot, now) {
                            Ok(()) => Step::Create(slot, now),
                            Err(CreationRefused::BudgetUntil(at)) => Step::SleepUntil(at),
                            Err(CreationRefused::AlreadyCreating | CreationRefused::NoSuchSlot) => {
                                Step::Wait
                            }
                        }
                    }
                    Decision::Create { at, .. } => {
                        let wait = Duration::from_millis(u64::try_from(at.0 - now.0).unwrap_or(0));
                        if wait > self.inner.config.max_token_wait {
                            tracing::warn!(wait_ms = at.0 - now.0, "token creation budget spent");
                            return Err(NoToken::Fatal(Error::TokenBudgetExhausted {
                                retry_after: wait,
                                retry_at: SystemTime::now() + wait,
                                attempts: 0,
                            }));
                        }
                        Step::SleepUntil(at)
                    }
                    Decision::WaitForCreation { .. } => Step::Wait,
                }
            };
            match step {
                Step::SendAt(at, lease) => {
                    sleep_until(self.inner.clock.instant_at(at)).await;
                    return Ok(lease);
                }
                Step::SleepUntil(at) => sleep_until(self.inner.clock.instant_at(at)).await,
                Step::Wait => {
                    let _ = tokio::time::timeout(WAIT_RECHECK, ready).await;
                }
                Step::Create(slot, started) => {
                    if let Err(failed) = self.create_token(slot, started).await {
                        // A failed refresh need not fail this request while the old token
                        // lives; the next refresh waits for the creation hold.
                        if !self.lock().pool.has_usable_token(self.now()) {
                            return Err(failed);
                        }
                        tracing::warn!(
                            slot,
                            "token refresh failed; the current token is still used"
                        );
                    }
                }
            }
        }
    }

    /// `POST /clients/{id}/token` for `slot`, which this caller has claimed in the pool.
    async fn create_token(&self, slot: usize, started: Millis) -> Result<(), NoToken> {
        let mut claim = CreationClaim {
            client: self,
            slot,
            reached_server: true,
            done: false,
        };
        let config = &self.inner.config;
        let body = serde_json::to_vec(&TokenRequest {
            key_id: config.key_id.clone(),
            api_key: config.api_key.expose_secret().to_owned(),
        })
        .map_err(|e| {
            NoToken::Fatal(Error::config(format!(
                "the token request could not be encoded: {e}"
            )))
        })?;
        let url = self.url(&["clients", &config.client_account_id, "token"]);
        let request = self
            .inner
            .http
            .post(url)
            .header("X-Public-Access", "allow")
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        {
            let mut state = self.lock();
            state.stats.requests += 1;
            state.stats.token_requests += 1;
        }
        tracing::debug!(slot, "creating a token");
        let sent = self.finish(TOKEN, request.send().await).await;
        let (failure, detail) = match sent {
            Sent::Answer {
                status: status @ 200..=299,
                body,
                ..
            } => {
                let token = read_token(&body).ok_or_else(|| {
                    NoToken::Fatal(Error::InvalidResponse {
                        endpoint: TOKEN,
                        status,
                        detail: "the body is not {\"token\": \"...\", \"created_at\": \"...\"}"
                            .into(),
                        attempts: 0,
                    })
                })?;
                let mut state = self.lock();
                state.pool.creation_succeeded(slot, token, started);
                state.stats.tokens_created += 1;
                state.creation_failures = 0;
                claim.done = true;
                drop(state);
                self.inner.token_ready.notify_waiters();
                tracing::debug!(slot, "token created");
                return Ok(());
            }
            Sent::Answer {
                status,
                headers,
                body,
            } => {
                let (slug, message) = error_body(&body);
                let detail = AttemptFailure::Status {
                    status,
                    slug: slug.clone(),
                    message: message.clone(),
                };
                match status {
                    429 => {
                        let retry_after = retry_after_ms(&headers);
                        let until = self
                            .now()
                            .plus(retry_after.unwrap_or(DEFAULT_CREATION_HOLD_MS));
                        self.lock().pool.hold_creations_until(until);
                        (
                            Failure::NotSent(NotSentKind::RateLimited {
                                retry_after_ms: retry_after,
                            }),
                            detail,
                        )
                    }
                    500..=599 => (Failure::NotSent(NotSentKind::Server { status }), detail),
                    400 | 401 | 403 => {
                        return Err(NoToken::Fatal(Error::Unauthorized {
                            endpoint: TOKEN,
                            status,
                            slug,
                            message,
                            attempts: 0,
                        }))
                    }
                    _ => {
                        return Err(NoToken::Fatal(Error::Final {
                            endpoint: TOKEN,
                            status,
                            slug,
                            message,
                            attempts: 1,
                        }))
                    }
                }
            }
            Sent::Failed(failure, detail) => {
                claim.reached_server = !matches!(failure, Failure::NotSent(NotSentKind::Connect));
                // A token request is safe to repeat; the retry policy must not treat it as a
                // possibly stored batch.
                let failure = match failure {
                    Failure::OutcomeUnknown(_) => Failure::NotSent(NotSentKind::Connect),
                    other => other,
                };
                (failure, detail)
            }
        };
        Err(NoToken::Failed(failure, detail))
    }
}

/// The claim on a slot's creation. Whatever way the creation ends, by error, by `?`, or by the
/// caller's future being dropped mid-request, the slot is released and the waiters are woken,
/// so no slot stays "creating" forever.
struct CreationClaim<'a> {
    client: &'a Client,
    slot: usize,
    reached_server: bool,
    done: bool,
}

impl Drop for CreationClaim<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut state = self.client.lock();
        state.pool.creation_failed(self.slot, self.reached_server);
        // The token endpoint's own backoff: after k failures in a row, no creation for a
        // random time in [c/2, c], c = min(max delay, base * 2^(k-1)). Without it, a crowd
        // of waiting callers would take turns failing and spend the creation budget.
        state.creation_failures = state.creation_failures.saturating_add(1);
        let ceiling = state.retry.ceiling_ms(state.creation_failures);
        let random = state.rng.next_u64();
        let hold = ceiling / 2 + (random % (ceiling as u64 / 2 + 1)) as i64;
        let until = self.client.now().plus(hold);
        state.pool.hold_creations_until(until);
        drop(state);
        self.client.inner.token_ready.notify_waiters();
    }
}

/// The token of a 200 answer. Parse errors are not kept: serde's messages can quote the input.
fn read_token(body: &[u8]) -> Option<AccessToken> {
    #[derive(serde::Deserialize)]
    struct TokenAnswer {
        token: String,
    }
    let answer: TokenAnswer = serde_json::from_slice(body).ok()?;
    (!answer.token.is_empty()).then(|| AccessToken::new(answer.token))
}
