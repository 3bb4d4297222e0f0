//! The client's side of a shared account: before it creates a token and before each request
//! leaves it asks the [`Coordinator`](crate::Coordinator), and reports the answers to its
//! exchange, which keeps every decision. While the coordinator cannot be reached, nothing is
//! sent: the client fails closed and says so once in its log, and again when it resumes.

use crate::call::{Decode, Request, Running, Stopped};
use crate::client::{Client, Coordination};
use crate::config::millis;
use crate::coordinator::{Claim, CoordinatorError, Place, Reservation, TokenClaim, TokenTerms};
use crate::secret::AccessToken;
use crate::tokens::Minted;
use tc_core::transport::coordination::{self, SendRefusal};
use tc_core::transport::{MonotonicMillis, SlotState};
use tc_core::EpochMillis;

impl Client {
    /// Carries out an `Action::CreateToken` on a shared account: takes the slot's shared
    /// token, or creates it under the coordinator's claim, or waits while another process
    /// creates it, or defers to the shared budget.
    pub(crate) async fn create_shared_token(
        &self,
        shared: &Coordination,
        running: &mut Running<'_>,
        request: &Request,
    ) -> Result<(), Stopped> {
        let Some(slot) = running.exchange.creating_slot() else {
            return Ok(());
        };
        let terms = self.token_terms();
        loop {
            let now = self.now();
            let asked = shared.coordinator.token(slot, self.wall(now), &terms);
            let answer = self.unless_stopped(asked, request).await?;
            match self.reachable(Asked::Token, answer) {
                None => {
                    self.wait(coordination::unreachable_retry_at(now), request)
                        .await?
                }
                Some(TokenClaim::Shared(token)) => {
                    if self.take_sealed(shared, slot, &token, running).await {
                        return Ok(());
                    }
                    // Retired; asked again at once, unless the coordinator did not answer.
                    if self.is_down() {
                        let retry = coordination::unreachable_retry_at(now);
                        self.wait(retry, request).await?;
                    }
                }
                Some(TokenClaim::Claimed(claim)) => {
                    self.mint_shared(shared, slot, claim, running).await;
                    return Ok(());
                }
                Some(TokenClaim::Busy { recheck_at }) => {
                    let recheck_at = self.inner.clock.monotonic_at(recheck_at);
                    let recheck = coordination::busy_recheck_at(now, recheck_at);
                    self.wait(recheck, request).await?;
                }
                Some(TokenClaim::BudgetUntil(until)) => {
                    let until = self.inner.clock.monotonic_at(until);
                    self.defer_creation(running, until);
                    return Ok(());
                }
            }
        }
    }

    /// Takes the shared `token` for this call, if it opens under this client's key (`true`).
    /// One sealed under other credentials (a rotated key) is useless to this process, and to
    /// every process with the current key: it is retired for all.
    async fn take_sealed(
        &self,
        shared: &Coordination,
        slot: usize,
        token: &crate::SharedToken,
        running: &mut Running<'_>,
    ) -> bool {
        if self.retired_here(token.id()) {
            // Refused with 401 here, and the coordinator's copy not retired yet (another call
            // of this client is on its way to retire it): taken back, it would make a call's
            // fresh token look refused too.
            let retired = shared.coordinator.retire(slot, token.id()).await;
            let _ = self.reachable(Asked::Bookkeeping, retired);
            return false;
        }
        let Some(value) = shared.sealer.open(token.sealed()) else {
            tracing::warn!("a shared token was sealed under other credentials");
            let retired = shared.coordinator.retire(slot, token.id()).await;
            let _ = self.reachable(Asked::Bookkeeping, retired);
            return false;
        };
        let value = value.shared_as(token.id());
        let created = self.inner.clock.monotonic_at(token.created_at());
        let expires = self.inner.clock.monotonic_at(token.expires_at());
        self.take_shared_token(running, value, created, expires);
        true
    }

    /// The account's creations are spent until `until`: the exchange holds its creation back,
    /// and the calls waiting for it are woken to learn so.
    fn defer_creation(&self, running: &mut Running<'_>, until: MonotonicMillis) {
        let mut state = self.lock();
        running
            .exchange
            .on_creation_deferred(&mut state.transport, until);
        drop(state);
        self.inner.token_ready.notify_waiters();
    }

    /// Whether the coordinator's last answer was a failure (an outage under way).
    fn is_down(&self) -> bool {
        self.lock().coordinator_down.is_some()
    }

    fn take_shared_token(
        &self,
        running: &mut Running<'_>,
        token: AccessToken,
        created: MonotonicMillis,
        expires: MonotonicMillis,
    ) {
        let mut state = self.lock();
        let state = &mut *state;
        running
            .exchange
            .on_token_shared(&mut state.transport, token, created, expires);
        state.stats.shared_tokens += 1;
        tracing::debug!("took the token another process created");
        self.inner.token_ready.notify_waiters();
    }

    /// Creates the slot's token under `claim`, then publishes it to the other processes or
    /// releases the claim.
    async fn mint_shared(
        &self,
        shared: &Coordination,
        slot: usize,
        claim: Claim,
        running: &mut Running<'_>,
    ) {
        let done = match self.create_token(running, Some(claim.id())).await {
            Minted::Token(token) => {
                let Some((created, expires)) = self.lifetime(slot) else {
                    return;
                };
                let sealed = shared.sealer.seal(&token);
                let token = crate::SharedToken::new(
                    claim.id(),
                    sealed,
                    self.wall(created),
                    self.wall(expires),
                );
                shared.coordinator.publish(slot, &claim, &token).await
            }
            Minted::Failed(reached) => shared.coordinator.release(slot, &claim, reached).await,
        };
        // The token is in use here either way; the others find out when the claim lapses.
        let _ = self.reachable(Asked::Bookkeeping, done);
    }

    /// When the token of `slot` was created and when it expires, on this client's clock.
    fn lifetime(&self, slot: usize) -> Option<(MonotonicMillis, MonotonicMillis)> {
        let state = self.lock();
        match &state.transport.pool().slots().get(slot)?.state {
            SlotState::Valid(token) => Some((token.created_at, token.expires_at)),
            _ => None,
        }
    }

    /// Sends one attempt; on a shared account, only once its place in the token's shared
    /// window is reserved. `None` when there is no decoded success (or nothing was sent: the
    /// exchange was told, and is polled again).
    pub(crate) async fn send_coordinated<T>(
        &self,
        running: &mut Running<'_>,
        request: &Request,
        token: &AccessToken,
        decode: Decode<T>,
    ) -> Result<Option<T>, Stopped> {
        let Some(shared) = &self.inner.shared else {
            self.announce(running, request).await?;
            return Ok(self.send(running, request, token, decode).await);
        };
        let Some(slot) = running.exchange.sending_slot() else {
            return Ok(None);
        };
        let Some(place) = self.reserve_shared(shared, running, request, slot).await else {
            return Ok(None);
        };
        if let Err(stopped) = self.announce(running, request).await {
            // Nothing left: the place is given back as if its request had been answered now.
            let now = self.wall(self.now());
            let moved = shared.coordinator.send_finished(slot, &place, now).await;
            let _ = self.reachable(Asked::Bookkeeping, moved);
            return Err(stopped);
        }
        let decoded = self.send(running, request, token, decode).await;
        let finished = self.wall(self.now());
        let moved = shared
            .coordinator
            .send_finished(slot, &place, finished)
            .await;
        let _ = self.reachable(Asked::Bookkeeping, moved);
        self.retire_shared(shared).await;
        Ok(decoded)
    }

    /// Reserves the send the exchange decided in its token's shared window. `None` when the
    /// window refused it or the coordinator did not answer: the exchange was told, and the
    /// call waits as long as it must before polling again.
    async fn reserve_shared(
        &self,
        shared: &Coordination,
        running: &mut Running<'_>,
        request: &Request,
        slot: usize,
    ) -> Option<Place> {
        let limit = self.lock().transport.pool().config().rate;
        let now = self.now();
        let answer = shared
            .coordinator
            .reserve(slot, self.wall(now), limit)
            .await;
        let refusal = match self.reachable(Asked::Place, answer) {
            Some(Reservation::Granted(place)) => return Some(place),
            Some(Reservation::Full { sends }) => {
                self.lock().stats.shared_window_refusals += 1;
                let clock = &self.inner.clock;
                SendRefusal::Full(sends.into_iter().map(|at| clock.monotonic_at(at)).collect())
            }
            Some(Reservation::Held { until }) => {
                SendRefusal::Held(self.inner.clock.monotonic_at(until))
            }
            None => SendRefusal::Unreachable,
        };
        let plan = refusal.plan(now);
        running
            .exchange
            .on_send_refused(&mut self.lock().transport, plan.sends);
        if let Some(at) = plan.resume_at {
            // A stop given meanwhile ends the call at its next wait, before anything leaves.
            let _ = self.wait(at, request).await;
        }
        None
    }

    /// Whether this client dropped the shared token `id` after a 401.
    fn retired_here(&self, id: u64) -> bool {
        let state = self.lock();
        let pending = state.transport.pool().retired().iter();
        state.retired_shared.contains(&id)
            || pending
                .filter_map(|(_, token)| token.shared_id())
                .any(|pending| pending == id)
    }

    /// Retires, for every process, the shared tokens the API refused with 401.
    async fn retire_shared(&self, shared: &Coordination) {
        let retired = {
            let mut state = self.lock();
            let retired = state.transport.take_retired();
            for id in retired.iter().filter_map(|(_, token)| token.shared_id()) {
                state.retired_shared.remember(id);
            }
            retired
        };
        for (slot, token) in retired {
            if let Some(id) = token.shared_id() {
                let done = shared.coordinator.retire(slot, id).await;
                let _ = self.reachable(Asked::Bookkeeping, done);
            }
        }
    }

    /// The settings of the coordinator's token answers, from this client's.
    fn token_terms(&self) -> TokenTerms {
        let config = &self.inner.config;
        let state = self.lock();
        let pool = state.transport.pool().config();
        TokenTerms {
            refresh_margin_ms: pool.refresh_margin_ms,
            creations: pool.creations,
            lease_ms: coordination::claim_lease_ms(
                millis(config.connect_timeout()),
                millis(config.request_timeout()),
            ),
            rate_window_ms: pool.rate.window_ms,
        }
    }

    /// The coordinator's answer to `asked`, or `None` when it could not answer: the first
    /// failure of an outage is logged and counted, and so is the end of the outage. An outage
    /// of a question sending waits on (a token, a place) ends only when that question is
    /// answered: a coordinator that answers one and fails the other (a damaged key) stays
    /// down instead of flipping between the two with a line each time.
    fn reachable<T>(&self, asked: Asked, answer: Result<T, CoordinatorError>) -> Option<T> {
        let mut state = self.lock();
        match answer {
            Ok(value) => {
                if let Some(down) = state.coordinator_down {
                    if down == asked || down == Asked::Bookkeeping {
                        state.coordinator_down = None;
                        tracing::warn!("the coordinator answers again: sending resumes");
                    }
                }
                Some(value)
            }
            Err(error) => {
                if state.coordinator_down == Some(Asked::Bookkeeping) {
                    state.coordinator_down = Some(asked);
                }
                if state.coordinator_down.is_none() {
                    state.coordinator_down = Some(asked);
                    state.stats.coordinator_outages += 1;
                    match std::error::Error::source(&error) {
                        Some(cause) => tracing::warn!(%error, %cause, "sending paused"),
                        None => tracing::warn!(%error, "sending paused"),
                    }
                }
                None
            }
        }
    }

    fn wall(&self, at: MonotonicMillis) -> EpochMillis {
        self.inner.clock.wall_at(at)
    }
}

/// The ids of the shared tokens a client retired, the latest few: enough to outlast the moment
/// between a 401 and the coordinator's retirement of that token.
#[derive(Debug, Default)]
pub(crate) struct RetiredIds(std::collections::VecDeque<u64>);

impl RetiredIds {
    const KEPT: usize = 64;

    fn remember(&mut self, id: u64) {
        if self.0.len() == Self::KEPT {
            self.0.pop_front();
        }
        self.0.push_back(id);
    }

    fn contains(&self, id: &u64) -> bool {
        self.0.contains(id)
    }
}

/// What a coordinator was asked, as far as an outage goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Asked {
    /// A slot's token, or who creates it: a call waits on it.
    Token,
    /// A place in a token's shared window: a send waits on it.
    Place,
    /// Publishing, releasing or retiring a token, or moving a place: nothing waits on it.
    Bookkeeping,
}
