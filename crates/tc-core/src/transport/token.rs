//! Which token to send on, and when a token must be created: the state machine of a pool of
//! 1 to 10 access tokens, each with its own rate limiter, under the account's creation budget.
//!
//! Sans-IO: the caller asks [`TokenPool::pick`], does what the [`Decision`] says (create a token
//! over HTTP, wait, or send), and reports back. Whoever calls [`TokenPool::begin_creation`] owns
//! that slot's creation until it reports success or failure; everyone else is told to wait or to
//! use another token, so a thousand concurrent callers cause one creation, not a thousand.

use super::rate_limit::{CreationBudget, RateLimiter, WindowLimit};
use super::MonotonicMillis;

/// The most tokens an account can keep alive: 10 creations per 30 minutes.
pub const MAX_TOKENS: usize = 10;
/// A token is valid for 60 minutes from its creation.
pub const TOKEN_TTL_MS: i64 = 60 * 60_000;
/// Refresh this long before expiry by default, so no request races the expiry.
pub const DEFAULT_REFRESH_MARGIN_MS: i64 = 5 * 60_000;

/// Limits and timings of a [`TokenPool`]; the defaults are the API's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolConfig {
    /// Tokens to use at once, 1 to [`MAX_TOKENS`].
    pub tokens: usize,
    /// How long a token lives, counted from the start of the request that created it, in
    /// milliseconds; [`TOKEN_TTL_MS`] by default.
    pub token_ttl_ms: i64,
    /// How long before expiry a token is refreshed, in milliseconds;
    /// [`DEFAULT_REFRESH_MARGIN_MS`] by default.
    pub refresh_margin_ms: i64,
    /// Requests per window on each token.
    pub rate: WindowLimit,
    /// Creations per window on the account.
    pub creations: WindowLimit,
}

impl Default for PoolConfig {
    fn default() -> Self {
        PoolConfig {
            tokens: 1,
            token_ttl_ms: TOKEN_TTL_MS,
            refresh_margin_ms: DEFAULT_REFRESH_MARGIN_MS,
            rate: WindowLimit::REQUESTS_PER_TOKEN,
            creations: WindowLimit::TOKEN_CREATIONS,
        }
    }
}

/// A token the pool holds. `generation` tells tokens apart without looking at the secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidToken<T> {
    /// The driver's token, handed back in [`Decision::Send`].
    pub token: T,
    /// Counts up from 1 across the whole pool with each token created, so a 401 can name the
    /// token it refused (see [`TokenPool::unauthorized`]).
    pub generation: u64,
    /// When the request that created it started: no later than the server's creation time.
    pub created_at: MonotonicMillis,
    /// `created_at` plus [`PoolConfig::token_ttl_ms`]; no request is sent with it from then on.
    pub expires_at: MonotonicMillis,
}

/// Where one slot of the pool is.
///
/// Deliberately exhaustive: a driver must act on every variant, so a new one is a breaking
/// change that the compiler points out in every driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotState<T> {
    /// No usable token: never created, failed, expired or rejected with 401.
    Empty,
    /// Someone is creating a token; `previous` is the token being refreshed, usable meanwhile
    /// until it expires.
    Creating {
        /// When the creation began, charged to the creation budget at that instant.
        since: MonotonicMillis,
        /// The token being refreshed, if it had not expired when the creation began.
        previous: Option<ValidToken<T>>,
    },
    /// A token to send with until its `expires_at` (refreshed from `refresh_margin_ms`
    /// before that).
    Valid(ValidToken<T>),
}

/// One token's place in the pool: its state and its rate limiter. The limiter stays with the
/// slot across refreshes, which can only make it stricter than the server's per-token count.
#[derive(Debug, Clone)]
pub struct TokenSlot<T> {
    /// Whether the slot has a token, is getting one, or is empty.
    pub state: SlotState<T>,
    /// The sends made on this slot's tokens, per [`PoolConfig::rate`].
    pub limiter: RateLimiter,
}

/// What the caller should do next.
///
/// Deliberately exhaustive: a driver must act on every variant, so a new one is a breaking
/// change that the compiler points out in every driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision<T> {
    /// Send on `slot` with `token` at `at` (now, or later when its limiter is full). Call
    /// [`TokenPool::reserve_send`] before waiting so no other caller takes the same moment.
    Send {
        /// Index of the slot whose token to use.
        slot: usize,
        /// The earliest instant the slot's limiter allows the send, before the token expires.
        at: MonotonicMillis,
        /// The token to send with.
        token: ValidToken<T>,
    },
    /// Create a token for `slot`, not before `at` (the creation budget may push it later).
    /// Call [`TokenPool::begin_creation`] at `at`, then report the result.
    Create {
        /// Index of the slot to create a token for.
        slot: usize,
        /// The earliest instant the creation budget allows it.
        at: MonotonicMillis,
    },
    /// Every usable slot is being created by someone else: wait for that creation to finish.
    WaitForCreation {
        /// Index of the first slot whose creation is under way.
        slot: usize,
    },
}

/// One call's memory of its 401s, for [`TokenPool::refused`]. Only a token minted since the
/// call's previous 401 and refused at once proves the credentials wrong: with several tokens, or
/// tokens that die early, a second 401 often lands on another slot's token that expired too,
/// and that only earns its own refresh.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallAuth {
    /// Tokens of this generation or later were created after the call's last 401.
    minted_since_401: Option<u64>,
}

impl CallAuth {
    /// The call failed another way and waited its backoff: a token may simply have expired
    /// meanwhile, so the next 401 is not conclusive either.
    pub fn other_failure(&mut self) {
        self.minted_since_401 = None;
    }
}

/// What a 401 means for the call that got it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthVerdict {
    /// Get a fresh token (single flight) and retry.
    Refresh,
    /// A freshly minted token was refused at once: stop, and say so.
    CredentialsRefused,
}

/// Why [`TokenPool::begin_creation`] refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CreationRefused {
    /// Another caller is already creating this slot's token.
    AlreadyCreating,
    /// The creation budget allows the next creation only at this time.
    BudgetUntil(MonotonicMillis),
    /// The slot index is not below the pool's number of slots.
    NoSuchSlot,
}

/// N token slots plus the account's creation budget.
#[derive(Debug, Clone)]
pub struct TokenPool<T> {
    config: PoolConfig,
    slots: Vec<TokenSlot<T>>,
    budget: CreationBudget,
    next_generation: u64,
    /// Tokens dropped after a 401, newest last, for a driver that shares tokens with other
    /// processes and must retire them there too; at most [`MAX_TOKENS`] are kept.
    retired: Vec<(usize, T)>,
}

impl<T: Clone> TokenPool<T> {
    /// A pool of `config.tokens` empty slots, clamped to 1..=[`MAX_TOKENS`].
    pub fn new(config: PoolConfig) -> TokenPool<T> {
        let config = PoolConfig {
            tokens: config.tokens.clamp(1, MAX_TOKENS),
            ..config
        };
        let slots = (0..config.tokens)
            .map(|_| TokenSlot {
                state: SlotState::Empty,
                limiter: RateLimiter::new(config.rate),
            })
            .collect();
        TokenPool {
            config,
            slots,
            budget: CreationBudget::new(config.creations),
            next_generation: 1,
            retired: Vec::new(),
        }
    }

    /// The pool's settings, with `tokens` already clamped to 1..=[`MAX_TOKENS`].
    pub fn config(&self) -> &PoolConfig {
        &self.config
    }

    /// The slots, indexed as in [`Decision`]; there are `config().tokens` of them.
    pub fn slots(&self) -> &[TokenSlot<T>] {
        &self.slots
    }

    /// The account's creation budget, charged by [`TokenPool::begin_creation`].
    pub fn budget(&self) -> &CreationBudget {
        &self.budget
    }

    /// The token a request could use on `slot` at `now`, even if it is due for refresh.
    fn usable(&self, slot: usize, now: MonotonicMillis) -> Option<&ValidToken<T>> {
        let token = match &self.slots.get(slot)?.state {
            SlotState::Valid(token) => token,
            SlotState::Creating {
                previous: Some(token),
                ..
            } => token,
            _ => return None,
        };
        (now < token.expires_at).then_some(token)
    }

    /// Whether `slot` should get a new token: empty, or valid but within the refresh margin.
    fn needs_creation(&self, slot: usize, now: MonotonicMillis) -> bool {
        match &self.slots[slot].state {
            SlotState::Empty => true,
            SlotState::Valid(token) => now >= token.expires_at.plus(-self.config.refresh_margin_ms),
            SlotState::Creating { .. } => false,
        }
    }

    /// Whether some slot holds a token a request could still use at `now`.
    pub fn has_usable_token(&self, now: MonotonicMillis) -> bool {
        (0..self.slots.len()).any(|slot| self.usable(slot, now).is_some())
    }

    /// Decides what the next request does.
    ///
    /// Order of preference: refresh a token that is due (never let a token expire under load);
    /// create a missing token only if no existing token can send right now (tokens are made on
    /// demand, so a small job spends one creation, not ten); send on the token whose limiter frees
    /// earliest; wait for a creation in flight; and last, create as soon as the budget allows.
    pub fn pick(&self, now: MonotonicMillis) -> Decision<T> {
        let budget_at = self.budget.earliest_creation(now);
        let best_send = (0..self.slots.len())
            .filter_map(|slot| {
                let token = self.usable(slot, now)?;
                let at = self.slots[slot].limiter.earliest_send(now);
                // A send the limiter pushes past expiry would only earn a 401.
                (at < token.expires_at).then_some((at, slot, token))
            })
            .min_by_key(|(at, slot, _)| (*at, *slot));
        let can_send_now = best_send.as_ref().is_some_and(|(at, _, _)| *at <= now);

        if budget_at <= now {
            let due_refresh = (0..self.slots.len()).find(|&slot| {
                matches!(self.slots[slot].state, SlotState::Valid(_))
                    && self.needs_creation(slot, now)
            });
            if let Some(slot) = due_refresh {
                return Decision::Create { slot, at: now };
            }
            if !can_send_now {
                if let Some(slot) = (0..self.slots.len()).find(|&s| self.needs_creation(s, now)) {
                    return Decision::Create { slot, at: now };
                }
            }
        }
        if let Some((at, slot, token)) = best_send {
            return Decision::Send {
                slot,
                at,
                token: token.clone(),
            };
        }
        if let Some(slot) = self
            .slots
            .iter()
            .position(|s| matches!(s.state, SlotState::Creating { .. }))
        {
            return Decision::WaitForCreation { slot };
        }
        let slot = (0..self.slots.len())
            .find(|&s| self.needs_creation(s, now))
            .unwrap_or(0);
        Decision::Create {
            slot,
            at: budget_at,
        }
    }

    /// Takes the send moment `at` on `slot`'s limiter for a request about to wait and send.
    pub fn reserve_send(&mut self, slot: usize, at: MonotonicMillis) {
        if let Some(s) = self.slots.get_mut(slot) {
            s.limiter.record_send(at);
        }
    }

    /// The send reserved at `reserved_at` on `slot` ended at `finished_at`: see
    /// [`crate::transport::RateLimiter::send_finished`].
    pub fn send_finished(
        &mut self,
        slot: usize,
        reserved_at: MonotonicMillis,
        finished_at: MonotonicMillis,
    ) {
        if let Some(s) = self.slots.get_mut(slot) {
            s.limiter.send_finished(reserved_at, finished_at);
        }
    }

    /// Claims the creation of `slot`'s token and charges it to the creation budget at `now`. A
    /// still-live token in the slot stays usable, as the creation's `previous`, until it expires.
    ///
    /// # Errors
    ///
    /// Nothing changes, and the error says why, when `slot` is out of range
    /// ([`CreationRefused::NoSuchSlot`]), another caller is already creating that slot's token
    /// ([`CreationRefused::AlreadyCreating`], single flight), or the budget allows no creation
    /// before a later instant ([`CreationRefused::BudgetUntil`]).
    pub fn begin_creation(
        &mut self,
        slot: usize,
        now: MonotonicMillis,
    ) -> Result<(), CreationRefused> {
        let budget_at = self.budget.earliest_creation(now);
        let s = self
            .slots
            .get_mut(slot)
            .ok_or(CreationRefused::NoSuchSlot)?;
        if matches!(s.state, SlotState::Creating { .. }) {
            return Err(CreationRefused::AlreadyCreating);
        }
        if budget_at > now {
            return Err(CreationRefused::BudgetUntil(budget_at));
        }
        self.budget.record_creation(now);
        let previous = match std::mem::replace(&mut s.state, SlotState::Empty) {
            SlotState::Valid(token) if now < token.expires_at => Some(token),
            _ => None,
        };
        s.state = SlotState::Creating {
            since: now,
            previous,
        };
        Ok(())
    }

    /// The creation begun at `started_at` succeeded. The token's life is counted from the start
    /// of the request, which is no later than the server's `created_at`, so it never outlives the
    /// server's idea of it whatever the clocks say. Returns the new token, or `None` (and
    /// changes nothing) if `slot` is out of range or no creation is under way on it.
    pub fn creation_succeeded(
        &mut self,
        slot: usize,
        token: T,
        started_at: MonotonicMillis,
    ) -> Option<ValidToken<T>> {
        let expires_at = started_at.plus(self.config.token_ttl_ms);
        self.install(slot, token, started_at, expires_at)
    }

    /// Ends the creation under way on `slot` with `token`, valid from `created_at` to
    /// `expires_at`; `None` (nothing changes) if there is no such slot or creation.
    fn install(
        &mut self,
        slot: usize,
        token: T,
        created_at: MonotonicMillis,
        expires_at: MonotonicMillis,
    ) -> Option<ValidToken<T>> {
        let s = self.slots.get_mut(slot)?;
        if !matches!(s.state, SlotState::Creating { .. }) {
            return None;
        }
        let valid = ValidToken {
            token,
            generation: self.next_generation,
            created_at,
            expires_at,
        };
        self.next_generation += 1;
        s.state = SlotState::Valid(valid.clone());
        Some(valid)
    }

    /// The creation begun on `slot` ended with a token that another process sharing the
    /// account had already created (see [`crate::transport::Exchange::on_token_shared`]): the
    /// slot takes it with the lifetime that process gave it, and the creation this pool charged
    /// is refunded, because no request was sent. Returns the token, or `None` (and changes
    /// nothing) if `slot` is out of range or no creation is under way on it.
    pub fn creation_shared(
        &mut self,
        slot: usize,
        token: T,
        created_at: MonotonicMillis,
        expires_at: MonotonicMillis,
    ) -> Option<ValidToken<T>> {
        let SlotState::Creating { since, .. } = self.slots.get(slot)?.state else {
            return None;
        };
        self.budget.refund(since);
        self.install(slot, token, created_at, expires_at)
    }

    /// The sends of `slot`'s window as the processes sharing the account recorded them
    /// together, on this pool's clock: they replace this pool's own record, so the next
    /// [`TokenPool::pick`] sees the others' traffic too.
    pub fn share_sends(&mut self, slot: usize, sends: impl IntoIterator<Item = MonotonicMillis>) {
        if let Some(s) = self.slots.get_mut(slot) {
            s.limiter.replace_sends(sends);
        }
    }

    /// The first instant at or after `now` that `slot`'s limiter allows a send that is due,
    /// counting the sends before it (`now` for a slot out of range).
    pub fn earliest_due_send(&self, slot: usize, now: MonotonicMillis) -> MonotonicMillis {
        self.slots
            .get(slot)
            .map_or(now, |s| s.limiter.earliest_send_looking_back(now))
    }

    /// Takes the record of a send reserved at `at` on `slot` that never left.
    pub fn forget_send(&mut self, slot: usize, at: MonotonicMillis) {
        if let Some(s) = self.slots.get_mut(slot) {
            s.limiter.forget_send(at);
        }
    }

    /// The tokens dropped after a 401 and not yet taken by [`TokenPool::take_retired`], with
    /// their slots: a driver sharing tokens must not take one of them back from its
    /// coordinator before it has told the coordinator to retire it.
    pub fn retired(&self) -> &[(usize, T)] {
        &self.retired
    }

    /// The tokens dropped after a 401 since the last call, with their slots, oldest first.
    pub fn take_retired(&mut self) -> Vec<(usize, T)> {
        std::mem::take(&mut self.retired)
    }

    /// The creation failed (or its caller went away): the slot falls back to the token it was
    /// refreshing, if that is still alive, so the next caller may try again. `reached_server`
    /// false (connection refused) gives the creation back to the budget; when in doubt say true.
    pub fn creation_failed(&mut self, slot: usize, reached_server: bool) {
        if let Some(s) = self.slots.get_mut(slot) {
            if let SlotState::Creating { previous, since } = &mut s.state {
                if !reached_server {
                    self.budget.refund(*since);
                }
                s.state = match previous.take() {
                    Some(token) => SlotState::Valid(token),
                    None => SlotState::Empty,
                };
            }
        }
    }

    /// A request of one call, sent on `slot` with token `generation`, got 401. The token is
    /// dropped if it is still the slot's current one; the verdict says whether the call may get
    /// a fresh token and retry, or the credentials themselves are refused.
    pub fn refused(&mut self, slot: usize, generation: u64, call: &mut CallAuth) -> AuthVerdict {
        self.unauthorized(slot, generation);
        if call
            .minted_since_401
            .is_some_and(|since| generation >= since)
        {
            return AuthVerdict::CredentialsRefused;
        }
        call.minted_since_401 = Some(self.next_generation);
        AuthVerdict::Refresh
    }

    /// A request with token `generation` on `slot` got 401. The token is dropped only if it is
    /// still the slot's current one: a caller holding an old token must not throw away the
    /// fresh token another caller just made. A dropped token is kept for
    /// [`TokenPool::take_retired`]. Returns whether the token was dropped.
    pub fn unauthorized(&mut self, slot: usize, generation: u64) -> bool {
        let Some(s) = self.slots.get_mut(slot) else {
            return false;
        };
        let dropped = match &mut s.state {
            SlotState::Valid(token) if token.generation == generation => {
                match std::mem::replace(&mut s.state, SlotState::Empty) {
                    SlotState::Valid(token) => Some(token),
                    _ => None,
                }
            }
            SlotState::Creating { previous, .. }
                if previous
                    .as_ref()
                    .is_some_and(|t| t.generation == generation) =>
            {
                previous.take()
            }
            _ => None,
        };
        let Some(token) = dropped else {
            return false;
        };
        if self.retired.len() == MAX_TOKENS {
            self.retired.remove(0);
        }
        self.retired.push((slot, token.token));
        true
    }

    /// A 429 on `slot`: nothing more on that token before `until`.
    pub fn rate_limited(&mut self, slot: usize, until: MonotonicMillis) {
        if let Some(s) = self.slots.get_mut(slot) {
            s.limiter.block_until(until);
        }
    }

    /// No creation before `until`: after a 429 from the token endpoint (its `Retry-After`), or
    /// after a failed creation, so a crowd of waiting callers does not take turns failing.
    pub fn hold_creations_until(&mut self, until: MonotonicMillis) {
        self.budget.block_until(until);
    }

    /// When the next creation is allowed.
    pub fn earliest_creation(&self, now: MonotonicMillis) -> MonotonicMillis {
        self.budget.earliest_creation(now)
    }
}
