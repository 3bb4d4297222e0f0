//! One call's whole exchange with the API, from getting a token to the final answer, as a
//! state machine in the manner of `quinn-proto`: the driver tells an [`Exchange`] what happened
//! (an answer's status and `Retry-After`, a transport error, a token minted or refused) and asks
//! it what to do next with [`Exchange::poll`].
//!
//! Every rule about what goes wrong lives here once: how the token endpoint's statuses are
//! read, when a 401 means "refresh" and when "the credentials are wrong", how long a 429 holds a
//! token or the token endpoint (`Retry-After`, capped by [`RetryConfig::retry_after_cap_ms`]),
//! the token endpoint's own backoff, and when a failed call may have stored its batch anyway.
//!
//! The state shared by all calls of one client (token pool, retry budget, the token endpoint's
//! failure streak, the jitter generator) is a [`Transport`], passed to every method; the driver
//! keeps it behind whatever lock it likes.

use super::retry::{
    Failure, GiveUpReason, NotSentKind, RetryConfig, RetryDecision, RetryPolicy, UnknownKind,
};
use super::token::{AuthVerdict, CallAuth, CreationRefused, Decision, PoolConfig, TokenPool};
use super::MonotonicMillis;
use std::fmt;

/// After a 429 without `Retry-After`, leave the token alone this long.
pub const DEFAULT_THROTTLE_MS: i64 = 1_000;
/// After a 429 from the token endpoint without `Retry-After`, create nothing for this long.
pub const DEFAULT_CREATION_HOLD_MS: i64 = 60_000;
/// A call waiting for another call's token creation looks at the pool again at least this
/// often, in case the driver missed a wake-up.
pub const TOKEN_WAIT_RECHECK_MS: i64 = 500;
/// While the processes sharing an account cannot reach their coordinator, a call asks it
/// again this often, and sends nothing meanwhile.
pub const COORDINATOR_RETRY_MS: i64 = 1_000;
/// While another process sharing the account creates a slot's token, a call looks for that
/// token this often.
pub const SHARED_TOKEN_RECHECK_MS: i64 = 100;
/// How long a connection may take to open, by default.
pub const DEFAULT_CONNECT_TIMEOUT_MS: i64 = 10_000;
/// How long a request may take, answer included, by default. A create request past it has an
/// unknown outcome: it may have been stored.
pub const DEFAULT_REQUEST_TIMEOUT_MS: i64 = 30_000;
/// Added to each token's rate window by default, for servers whose clocks are coarser than ours.
pub const DEFAULT_RATE_GUARD_MS: i64 = 250;
/// The longest a call waits for the creation budget by default before failing.
pub const DEFAULT_MAX_TOKEN_WAIT_MS: i64 = 60_000;

/// Whether `status` is a success (2xx): the one place the transport reads that.
pub const fn is_success(status: u16) -> bool {
    matches!(status, 200..=299)
}

/// An endpoint of the API, as errors name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// `POST /clients/{id}/token`.
    Token,
    /// `POST /v2/clients/{id}/dynamic_call_records`: the only call that stores anything.
    CreateCallRecords,
    /// `GET .../dynamic_call_records?batchId=...`.
    BatchStatus,
    /// `GET /clients/{id}/labels`.
    Labels,
}

impl Endpoint {
    /// The endpoint's name in messages.
    pub const fn name(self) -> &'static str {
        match self {
            Endpoint::Token => "token",
            Endpoint::CreateCallRecords => "create call records",
            Endpoint::BatchStatus => "batch status",
            Endpoint::Labels => "labels",
        }
    }

    /// The most bytes of a success answer worth reading: a create answer is one id, a status
    /// answer lists at most 500 records, a labels page at most 1000 labels. A longer answer is
    /// not the API's and is not buffered.
    pub const fn answer_limit(self) -> usize {
        match self {
            Endpoint::Token | Endpoint::CreateCallRecords => 16 * 1024,
            Endpoint::BatchStatus => 1024 * 1024,
            Endpoint::Labels => 4 * 1024 * 1024,
        }
    }

    /// The most bytes of an answer with `status` worth reading. Of an error answer only the
    /// slug and message are used, so a few kilobytes.
    pub const fn limit_for(self, status: u16) -> usize {
        if is_success(status) {
            self.answer_limit()
        } else {
            16 * 1024
        }
    }

    /// Whether sending the request twice is harmless (reads, and the token request): only a
    /// create request can store anything.
    pub const fn is_repeatable(self) -> bool {
        !matches!(self, Endpoint::CreateCallRecords)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How a request failed without an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportError {
    /// No connection could be made (refused, DNS, TLS): nothing was sent.
    Connect,
    /// No answer in time after the request was sent.
    Timeout,
    /// The connection broke after the request was sent, before the whole answer.
    ConnectionLost,
}

impl TransportError {
    fn failure(self) -> Failure {
        match self {
            TransportError::Connect => Failure::NotSent(NotSentKind::Connect),
            TransportError::Timeout => Failure::OutcomeUnknown(UnknownKind::Timeout),
            TransportError::ConnectionLost => Failure::OutcomeUnknown(UnknownKind::ConnectionLost),
        }
    }
}

/// Settings of a [`Transport`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TransportConfig {
    /// How many tokens to keep, their lifetime and refresh margin, and the per-token rate and
    /// account-wide creation limits.
    pub pool: PoolConfig,
    /// Attempts, backoff, `Retry-After` cap and retry budget, shared by every call of the
    /// [`Transport`].
    pub retry: RetryConfig,
    /// The longest a call waits for the creation budget before failing with
    /// [`FailReason::TokenBudgetSpent`], in milliseconds of the monotonic clock.
    pub max_token_wait_ms: i64,
    /// Seed of the backoff jitter; the same seed and events give the same schedule.
    pub seed: u64,
}

/// What one client's calls share: the token pool, the retry policy and its budget, the token
/// endpoint's failure streak and the jitter generator.
#[derive(Debug, Clone)]
pub struct Transport<T> {
    pool: TokenPool<T>,
    retry: RetryPolicy,
    max_token_wait_ms: i64,
    /// Failed creations in a row, for the token endpoint's own backoff.
    creation_failures: u32,
    rng: SplitMix64,
    counts: Counts,
}

/// What the calls of one [`Transport`] have met so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counts {
    /// Attempts after the first of their call, for any reason (failure, 429, 401).
    pub attempts_after_first: u64,
    /// 429 answers, from the token endpoint and the others.
    pub rate_limited: u64,
    /// 401 answers to requests sent with a token.
    pub unauthorized: u64,
}

impl<T: Clone> Transport<T> {
    /// A transport with an empty token pool (`config.pool.tokens` clamped to 1..=10), no
    /// retries spent and the jitter generator seeded with `config.seed`. `T` is the driver's
    /// token type; the transport only clones it and never looks inside.
    pub fn new(config: TransportConfig) -> Transport<T> {
        Transport {
            pool: TokenPool::new(config.pool),
            retry: RetryPolicy::new(config.retry),
            max_token_wait_ms: config.max_token_wait_ms,
            creation_failures: 0,
            rng: SplitMix64(config.seed),
            counts: Counts::default(),
        }
    }

    /// Starts one call to `endpoint`, counted toward the retry budget.
    pub fn begin(&mut self, endpoint: Endpoint) -> Exchange {
        self.retry.record_request();
        Exchange {
            endpoint,
            state: State::Acquire,
            attempt: 1,
            auth: CallAuth::default(),
            unknown_seen: false,
            send_by: None,
        }
    }

    /// The token pool the calls share, for a driver that reports on its slots or budget.
    pub fn pool(&self) -> &TokenPool<T> {
        &self.pool
    }

    /// The retry policy the calls share, with its counts of first attempts and retries.
    pub fn retry(&self) -> &RetryPolicy {
        &self.retry
    }

    /// The tokens dropped after a 401 since the last call, with their slots: a driver that
    /// shares tokens across processes retires them there too.
    pub fn take_retired(&mut self) -> Vec<(usize, T)> {
        self.pool.take_retired()
    }

    /// What the calls have met so far.
    pub fn counts(&self) -> Counts {
        self.counts
    }

    /// A 429 with `retry_after_ms`: counted, and the end of the hold it earns, `default_ms`
    /// when absent and never past the cap, so a huge value cannot stall the run.
    fn throttled(
        &mut self,
        retry_after_ms: Option<i64>,
        default_ms: i64,
        now: MonotonicMillis,
    ) -> MonotonicMillis {
        self.counts.rate_limited += 1;
        let cap = self.retry.config().retry_after_cap_ms.max(0);
        now.plus(retry_after_ms.unwrap_or(default_ms).clamp(0, cap))
    }

    /// A creation ended without a token: free the slot and rest the token endpoint for a
    /// random time in `[c/2, c]`, `c` the backoff ceiling of the streak. Without the rest, a
    /// crowd of waiting calls would take turns failing and spend the creation budget.
    fn creation_failed(&mut self, slot: usize, reached_server: bool, now: MonotonicMillis) {
        self.pool.creation_failed(slot, reached_server);
        self.creation_failures = self.creation_failures.saturating_add(1);
        let ceiling = self.retry.ceiling_ms(self.creation_failures).max(0);
        let rest = ceiling / 2 + (self.rng.next() % (ceiling as u64 / 2 + 1)) as i64;
        self.pool.hold_creations_until(now.plus(rest));
    }
}

/// What the driver does next for an [`Exchange`].
///
/// Deliberately exhaustive: a driver must act on every variant, so a new one is a breaking
/// change that the compiler points out in every driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action<T> {
    /// Send the token request now, then report with [`Exchange::on_token_minted`],
    /// [`Exchange::on_token_refused`], [`Exchange::on_unreadable_answer`] or
    /// [`Exchange::on_transport_error`].
    CreateToken,
    /// Send the call's request with `token` at `at` (its place in the rate window is taken),
    /// then report with [`Exchange::on_answer`] or [`Exchange::on_transport_error`].
    Send {
        /// When the request may leave; it may be later than `now` when the token's rate
        /// window is full.
        at: MonotonicMillis,
        /// The token to authenticate the request with.
        token: T,
    },
    /// Nothing to do before this instant; then poll again.
    WaitUntil(MonotonicMillis),
    /// Another call is creating the token: poll again when a creation ends, or at `recheck_at`.
    WaitForToken {
        /// `now` plus [`TOKEN_WAIT_RECHECK_MS`]: the latest instant to poll again.
        recheck_at: MonotonicMillis,
    },
    /// The call is over.
    Done(Result<Delivered, Failed>),
}

/// Whether a planned send may leave now: the answer to [`Exchange::ready_to_send`].
///
/// Deliberately exhaustive: a driver must act on every variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendCheck {
    /// Send now: the request's place in its token's window is taken at `now`.
    Now,
    /// Answers have moved places in the window since the send was planned: wait until this
    /// instant, then ask again.
    WaitUntil(MonotonicMillis),
    /// The call is over (its request could not leave before its send-by instant, or it has no
    /// send planned): poll it for the result.
    Ended,
}

/// A call that got a 2xx answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    /// The answer's HTTP status, in `200..=299`.
    pub status: u16,
    /// Attempts it took, the first included.
    pub attempts: u32,
    /// An earlier attempt of a create call had an unknown outcome and was sent again: the API
    /// may hold the batch twice.
    pub possibly_duplicated: bool,
}

/// A call that ended without a usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    /// Where the last failure happened: the call's own endpoint, or the token endpoint.
    pub endpoint: Endpoint,
    /// Attempts the call made, the first included.
    pub attempts: u32,
    /// Why the call ended.
    pub reason: FailReason,
    /// The API may have stored the batch: an attempt of a create call had an unknown outcome,
    /// or a 2xx answer to it could not be read. Check the batch status before sending it again.
    pub possibly_stored: bool,
}

/// Why a call ended without a usable answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailReason {
    /// A final answer (a 4xx other than 401 and 429): retrying the same request cannot help.
    Refused {
        /// The answer's HTTP status.
        status: u16,
    },
    /// The token endpoint refused the credentials (400, 401, 403), or a freshly minted token
    /// was refused at once.
    CredentialsRefused {
        /// The HTTP status of the refusal.
        status: u16,
    },
    /// A 3xx: the API never redirects, and credentials are sent to the configured origin only.
    Redirected {
        /// The 3xx status of the answer.
        status: u16,
    },
    /// The retry policy gave up.
    GaveUp(GiveUpReason),
    /// No usable token, and the creation budget allows the next creation only at `until`.
    TokenBudgetSpent {
        /// When the budget next allows a creation; further than
        /// [`TransportConfig::max_token_wait_ms`] from when the call asked.
        until: MonotonicMillis,
    },
    /// A 2xx answer whose body is not the documented one (or is far too long).
    UnreadableAnswer {
        /// The 2xx status of the answer.
        status: u16,
    },
    /// The driver stopped carrying out the call.
    Cancelled,
    /// The call's request could not leave by its send-by instant (see
    /// [`Exchange::with_send_by`]): the rate limit, a backoff or the token budget held it until
    /// `leaves_at`, past the moment a record of the batch stops being valid. This attempt sent
    /// nothing.
    SendByPassed {
        /// The call's send-by instant.
        send_by: MonotonicMillis,
        /// The earliest the request could have left, past `send_by`.
        leaves_at: MonotonicMillis,
    },
}

impl fmt::Display for FailReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailReason::Refused { status } => write!(f, "the API refused it with HTTP {status}"),
            FailReason::CredentialsRefused { status } => {
                write!(f, "the credentials were refused with HTTP {status}")
            }
            FailReason::Redirected { status } => write!(f, "HTTP {status}: a redirect"),
            FailReason::GaveUp(reason) => reason.fmt(f),
            FailReason::TokenBudgetSpent { until } => {
                write!(f, "the token-creation budget is spent until {}", until.0)
            }
            FailReason::UnreadableAnswer { status } => {
                write!(f, "HTTP {status} with an unreadable body")
            }
            FailReason::Cancelled => write!(f, "the call was cancelled"),
            FailReason::SendByPassed { .. } => write!(
                f,
                "the request could not leave before a record's call window closed"
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// Find a token and a send moment.
    Acquire,
    /// Backing off before the next attempt.
    Backoff {
        until: MonotonicMillis,
    },
    /// This call is creating the token of `slot`, since `started`.
    Creating {
        slot: usize,
        started: MonotonicMillis,
    },
    /// The request is out on `slot`, with the token of `generation`, its window place taken at
    /// `reserved_at`.
    Sending {
        slot: usize,
        generation: u64,
        reserved_at: MonotonicMillis,
    },
    Done(Result<Delivered, Failed>),
}

/// One call: a create, a status read or a labels page, with its token and its retries. Made by
/// [`Transport::begin`]. If the driver drops the call midway, it calls [`Exchange::abandon`] so
/// a token creation it owned is released.
#[derive(Debug, Clone)]
pub struct Exchange {
    endpoint: Endpoint,
    state: State,
    attempt: u32,
    auth: CallAuth,
    /// An attempt had an unknown outcome: it may have been processed.
    unknown_seen: bool,
    /// No request of this call may leave after this instant.
    send_by: Option<MonotonicMillis>,
}

impl Exchange {
    /// The endpoint this call is for, as given to [`Transport::begin`].
    pub fn endpoint(&self) -> Endpoint {
        self.endpoint
    }

    /// The attempt under way, 1 for the first.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// No request of this call leaves after `send_by`: past it, the call ends with
    /// [`FailReason::SendByPassed`] instead of sending. For a batch, `send_by` is the earliest
    /// `ends_at` of its records, so the wait for the rate limit cannot carry a record past its
    /// window.
    pub fn with_send_by(mut self, send_by: MonotonicMillis) -> Exchange {
        self.send_by = Some(send_by);
        self
    }

    /// Ends the call if `at`, when a request would leave, is past the send-by instant.
    fn past_send_by(&mut self, at: MonotonicMillis) -> Option<Failed> {
        let send_by = self.send_by.filter(|by| at > *by)?;
        let reason = FailReason::SendByPassed {
            send_by,
            leaves_at: at,
        };
        Some(self.finish(self.endpoint, reason))
    }

    /// What to do next, at `now`. Poll only while none of this call's requests is out: after
    /// [`Action::CreateToken`] or [`Action::Send`], report the request's outcome first (a poll
    /// before that repeats the action, and a driver that obeyed it would send twice).
    pub fn poll<T: Clone>(
        &mut self,
        transport: &mut Transport<T>,
        now: MonotonicMillis,
    ) -> Action<T> {
        // Between requests, the next one cannot leave before now, nor before a backoff ends:
        // a call whose backoff runs past its send-by ends at once instead of waiting it out.
        let next_leaves = match self.state {
            State::Acquire => Some(now),
            State::Backoff { until } => Some(until.max(now)),
            _ => None,
        };
        if let Some(failed) = next_leaves.and_then(|at| self.past_send_by(at)) {
            return Action::Done(Err(failed));
        }
        match &self.state {
            State::Done(result) => Action::Done(result.clone()),
            State::Creating { .. } => Action::CreateToken,
            State::Sending { .. } => Action::WaitUntil(now),
            State::Backoff { until } if *until > now => Action::WaitUntil(*until),
            State::Backoff { .. } => {
                self.next_attempt(transport);
                self.acquire(transport, now)
            }
            State::Acquire => self.acquire(transport, now),
        }
    }

    fn acquire<T: Clone>(
        &mut self,
        transport: &mut Transport<T>,
        now: MonotonicMillis,
    ) -> Action<T> {
        let decision = transport.pool.pick(now);
        if let Decision::Send { at, .. } = &decision {
            // Checked before the window place is taken, so a call that gives up takes none.
            if let Some(failed) = self.past_send_by(*at) {
                return Action::Done(Err(failed));
            }
        }
        match decision {
            Decision::Send { slot, at, token } => {
                transport.pool.reserve_send(slot, at);
                self.state = State::Sending {
                    slot,
                    generation: token.generation,
                    reserved_at: at,
                };
                Action::Send {
                    at,
                    token: token.token,
                }
            }
            Decision::Create { slot, at } if at <= now => {
                match transport.pool.begin_creation(slot, now) {
                    Ok(()) => {
                        self.state = State::Creating { slot, started: now };
                        Action::CreateToken
                    }
                    Err(CreationRefused::BudgetUntil(at)) => Action::WaitUntil(at),
                    Err(CreationRefused::AlreadyCreating | CreationRefused::NoSuchSlot) => {
                        self.wait_for_token(now)
                    }
                }
            }
            Decision::Create { at, .. }
                if at.0.saturating_sub(now.0) > transport.max_token_wait_ms =>
            {
                Action::Done(Err(
                    self.finish(self.endpoint, FailReason::TokenBudgetSpent { until: at })
                ))
            }
            Decision::Create { at, .. } => Action::WaitUntil(at),
            Decision::WaitForCreation { .. } => self.wait_for_token(now),
        }
    }

    fn wait_for_token<T>(&self, now: MonotonicMillis) -> Action<T> {
        Action::WaitForToken {
            recheck_at: now.plus(TOKEN_WAIT_RECHECK_MS),
        }
    }

    fn next_attempt<T: Clone>(&mut self, transport: &mut Transport<T>) {
        self.attempt = self.attempt.saturating_add(1);
        transport.counts.attempts_after_first += 1;
        self.state = State::Acquire;
    }

    /// Ends the call with `reason`, failed at `endpoint`.
    fn finish(&mut self, endpoint: Endpoint, reason: FailReason) -> Failed {
        let failed = Failed {
            endpoint,
            attempts: self.attempt,
            possibly_stored: self.possibly_stored(),
            reason,
        };
        self.state = State::Done(Err(failed.clone()));
        failed
    }

    fn possibly_stored(&self) -> bool {
        self.unknown_seen && !self.endpoint.is_repeatable()
    }

    /// The instant an [`Action::Send`] named has come: may the request leave now? While it
    /// waited, answers may have moved places of its token's window to when they came back (the
    /// latest the server can have counted them), so a send planned early can be too early now;
    /// its place is checked again and moved to the first instant the window allows.
    pub fn ready_to_send<T: Clone>(
        &mut self,
        transport: &mut Transport<T>,
        now: MonotonicMillis,
    ) -> SendCheck {
        let State::Sending {
            slot,
            generation,
            reserved_at,
        } = self.state
        else {
            return SendCheck::Ended;
        };
        transport.pool.forget_send(slot, reserved_at);
        let at = transport.pool.earliest_due_send(slot, now);
        if self.past_send_by(at).is_some() {
            return SendCheck::Ended;
        }
        transport.pool.reserve_send(slot, at);
        self.state = State::Sending {
            slot,
            generation,
            reserved_at: at,
        };
        if at <= now {
            SendCheck::Now
        } else {
            SendCheck::WaitUntil(at)
        }
    }

    /// The slot whose token this call is creating, while an [`Action::CreateToken`] is under
    /// way: a driver that shares tokens across processes creates or finds that slot's token.
    pub fn creating_slot(&self) -> Option<usize> {
        match self.state {
            State::Creating { slot, .. } => Some(slot),
            _ => None,
        }
    }

    /// The slot whose token an [`Action::Send`] under way uses: a driver that shares rate
    /// windows across processes reserves the send in that slot's shared window.
    pub fn sending_slot(&self) -> Option<usize> {
        match self.state {
            State::Sending { slot, .. } => Some(slot),
            _ => None,
        }
    }

    /// Instead of creating the token it claimed, the driver found one that another process
    /// sharing the account created, valid from `created_at` to `expires_at` on this driver's
    /// clock. The slot takes it, and the creation charged to this transport's budget is
    /// refunded: the account's budget is kept where the processes share it.
    pub fn on_token_shared<T: Clone>(
        &mut self,
        transport: &mut Transport<T>,
        token: T,
        created_at: MonotonicMillis,
        expires_at: MonotonicMillis,
    ) {
        if let State::Creating { slot, .. } = self.state {
            transport
                .pool
                .creation_shared(slot, token, created_at, expires_at);
            transport.creation_failures = 0;
            self.state = State::Acquire;
        }
    }

    /// The account's creation budget, shared with other processes, allows the next creation
    /// only at `until`: the claimed creation ends without a request, and the call waits for the
    /// budget (or fails with [`FailReason::TokenBudgetSpent`]) as it would for this transport's
    /// own budget.
    pub fn on_creation_deferred<T: Clone>(
        &mut self,
        transport: &mut Transport<T>,
        until: MonotonicMillis,
    ) {
        if let State::Creating { slot, .. } = self.state {
            transport.pool.creation_failed(slot, false);
            transport.pool.hold_creations_until(until);
            self.state = State::Acquire;
        }
    }

    /// The send [`Exchange::poll`] reserved did not leave: the window the processes sharing
    /// the token keep together was full. `shared_sends` are that window's sends on this
    /// driver's clock (empty when the driver could not read them); they replace the slot's own
    /// record. The call picks a token and a moment again, as the same attempt: nothing was sent.
    pub fn on_send_refused<T: Clone>(
        &mut self,
        transport: &mut Transport<T>,
        shared_sends: impl IntoIterator<Item = MonotonicMillis>,
    ) {
        if let State::Sending {
            slot, reserved_at, ..
        } = self.state
        {
            transport.pool.forget_send(slot, reserved_at);
            let mut shared_sends = shared_sends.into_iter().peekable();
            if shared_sends.peek().is_some() {
                transport.pool.share_sends(slot, shared_sends);
            }
            self.state = State::Acquire;
        }
    }

    /// The token request this call sent was answered with a token.
    pub fn on_token_minted<T: Clone>(&mut self, transport: &mut Transport<T>, token: T) {
        if let State::Creating { slot, started } = self.state {
            transport.pool.creation_succeeded(slot, token, started);
            transport.creation_failures = 0;
            self.state = State::Acquire;
        }
    }

    /// The token endpoint answered a non-2xx `status`. 400, 401 and 403 mean the credentials
    /// are wrong; a 429 holds every creation until its `Retry-After` (capped); a 5xx is worth
    /// another try; anything else is final.
    pub fn on_token_refused<T: Clone>(
        &mut self,
        transport: &mut Transport<T>,
        status: u16,
        retry_after_ms: Option<i64>,
        now: MonotonicMillis,
    ) {
        let State::Creating { slot, .. } = self.state else {
            return;
        };
        transport.creation_failed(slot, true, now);
        let failure = match Verdict::of(Endpoint::Token, status) {
            Verdict::RateLimited => {
                let until = transport.throttled(retry_after_ms, DEFAULT_CREATION_HOLD_MS, now);
                transport.pool.hold_creations_until(until);
                rate_limited(until, now)
            }
            Verdict::ServerError => Failure::NotSent(NotSentKind::Server { status }),
            Verdict::End(reason) => {
                self.finish(Endpoint::Token, reason);
                return;
            }
            // The token endpoint has no token to refuse and nothing else to answer 2xx to.
            Verdict::Success | Verdict::Unauthorized => {
                self.finish(Endpoint::Token, FailReason::Refused { status });
                return;
            }
        };
        self.token_failed(transport, &failure, now);
    }

    /// A 2xx answer whose body could not be read, to the token request or to the call's own.
    /// For a create call the batch may be stored: a 2xx means the request was processed.
    pub fn on_unreadable_answer<T: Clone>(
        &mut self,
        transport: &mut Transport<T>,
        status: u16,
        now: MonotonicMillis,
    ) {
        match self.state {
            State::Creating { slot, .. } => {
                transport.creation_failed(slot, true, now);
                self.finish(Endpoint::Token, FailReason::UnreadableAnswer { status });
            }
            State::Done(Ok(_)) => {
                // A 2xx means the request was processed, whatever its body says.
                self.unknown_seen = true;
                self.finish(self.endpoint, FailReason::UnreadableAnswer { status });
            }
            _ => {}
        }
    }

    /// The request under way got no answer.
    pub fn on_transport_error<T: Clone>(
        &mut self,
        transport: &mut Transport<T>,
        error: TransportError,
        now: MonotonicMillis,
    ) {
        match self.state {
            State::Creating { slot, .. } => {
                let reached_server = error != TransportError::Connect;
                transport.creation_failed(slot, reached_server, now);
                self.token_failed(transport, &error.failure(), now);
            }
            State::Sending {
                slot, reserved_at, ..
            } => {
                transport.pool.send_finished(slot, reserved_at, now);
                self.call_failed(transport, &error.failure(), now);
            }
            _ => {}
        }
    }

    /// The call's request was answered with `status` (and, for a 429, maybe `Retry-After` in
    /// milliseconds). After a 2xx, poll says [`Action::Done`]; if the body then proves
    /// unreadable, report it with [`Exchange::on_unreadable_answer`].
    pub fn on_answer<T: Clone>(
        &mut self,
        transport: &mut Transport<T>,
        status: u16,
        retry_after_ms: Option<i64>,
        now: MonotonicMillis,
    ) {
        let State::Sending {
            slot,
            generation,
            reserved_at,
        } = self.state
        else {
            return;
        };
        // The server counted the request somewhere before now: its window place moves to now.
        transport.pool.send_finished(slot, reserved_at, now);
        let failure = match Verdict::of(self.endpoint, status) {
            Verdict::Success => {
                let delivered = Delivered {
                    status,
                    attempts: self.attempt,
                    possibly_duplicated: self.possibly_stored(),
                };
                self.state = State::Done(Ok(delivered));
                return;
            }
            Verdict::Unauthorized => {
                transport.counts.unauthorized += 1;
                self.unauthorized(transport, slot, generation, status);
                return;
            }
            Verdict::RateLimited => {
                let until = transport.throttled(retry_after_ms, DEFAULT_THROTTLE_MS, now);
                transport.pool.rate_limited(slot, until);
                rate_limited(until, now)
            }
            Verdict::ServerError => Failure::NotSent(NotSentKind::Server { status }),
            Verdict::End(reason) => {
                self.finish(self.endpoint, reason);
                return;
            }
        };
        self.call_failed(transport, &failure, now);
    }

    fn unauthorized<T: Clone>(
        &mut self,
        transport: &mut Transport<T>,
        slot: usize,
        generation: u64,
        status: u16,
    ) {
        match transport.pool.refused(slot, generation, &mut self.auth) {
            AuthVerdict::Refresh => self.next_attempt(transport),
            AuthVerdict::CredentialsRefused => {
                self.finish(self.endpoint, FailReason::CredentialsRefused { status });
            }
        }
    }

    /// The driver stopped carrying out this call (its future was dropped). A token creation it
    /// owned is released, as a failure that may have reached the server.
    pub fn abandon<T: Clone>(&mut self, transport: &mut Transport<T>, now: MonotonicMillis) {
        if let State::Creating { slot, .. } = self.state {
            transport.creation_failed(slot, true, now);
        }
        if !matches!(self.state, State::Done(_)) {
            self.finish(self.endpoint, FailReason::Cancelled);
        }
    }

    /// A token creation failed in a way a retry may fix. While another token is still usable
    /// the call carries on with it; otherwise the failure is this attempt's.
    fn token_failed<T: Clone>(
        &mut self,
        transport: &mut Transport<T>,
        failure: &Failure,
        now: MonotonicMillis,
    ) {
        self.state = State::Acquire;
        if transport.pool.has_usable_token(now) {
            return;
        }
        let random = transport.rng.next();
        let decision = transport
            .retry
            .decide_idempotent(self.attempt, failure, now, random);
        self.retry_or_end(decision, Endpoint::Token);
    }

    fn call_failed<T: Clone>(
        &mut self,
        transport: &mut Transport<T>,
        failure: &Failure,
        now: MonotonicMillis,
    ) {
        if matches!(failure, Failure::OutcomeUnknown(_)) {
            self.unknown_seen = true;
        }
        self.auth.other_failure();
        let random = transport.rng.next();
        let decision = if self.endpoint.is_repeatable() {
            transport
                .retry
                .decide_idempotent(self.attempt, failure, now, random)
        } else {
            transport.retry.decide(self.attempt, failure, now, random)
        };
        self.retry_or_end(decision, self.endpoint);
    }

    fn retry_or_end(&mut self, decision: RetryDecision, endpoint: Endpoint) {
        match decision {
            RetryDecision::RetryAt(until) => self.state = State::Backoff { until },
            RetryDecision::GiveUp(reason) => {
                self.finish(endpoint, FailReason::GaveUp(reason));
            }
        }
    }
}

/// What an answer's status means. The same for every endpoint, but for the token endpoint,
/// which refuses wrong credentials with 400, 401 or 403.
enum Verdict {
    Success,
    /// 401 to a request sent with a token.
    Unauthorized,
    RateLimited,
    ServerError,
    End(FailReason),
}

impl Verdict {
    fn of(endpoint: Endpoint, status: u16) -> Verdict {
        let token = endpoint == Endpoint::Token;
        match status {
            _ if is_success(status) => Verdict::Success,
            401 if !token => Verdict::Unauthorized,
            429 => Verdict::RateLimited,
            500..=599 => Verdict::ServerError,
            300..=399 => Verdict::End(FailReason::Redirected { status }),
            400 | 401 | 403 if token => Verdict::End(FailReason::CredentialsRefused { status }),
            _ => Verdict::End(FailReason::Refused { status }),
        }
    }
}

/// The failure a 429 is, with the hold it earned as its `Retry-After`.
fn rate_limited(until: MonotonicMillis, now: MonotonicMillis) -> Failure {
    let retry_after_ms = Some(until.0 - now.0);
    Failure::NotSent(NotSentKind::RateLimited { retry_after_ms })
}

/// splitmix64: the jitter generator, deterministic from its seed.
#[derive(Debug, Clone)]
pub(crate) struct SplitMix64(pub(crate) u64);

impl SplitMix64 {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
#[path = "exchange_tests.rs"]
mod tests;
