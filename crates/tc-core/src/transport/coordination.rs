//! The protocol between the processes that share one account and the coordinator that keeps the
//! account's shared facts, without either of them.
//!
//! Two halves, both pure:
//! - What a client does with a coordinator's answer: when it asks again after another process
//!   was creating the token ([`busy_recheck_at`]) or after the coordinator did not answer
//!   ([`unreachable_retry_at`]), how long a claim to create a token lasts ([`claim_lease_ms`]),
//!   whether a failed creation is refunded ([`token_request_may_have_reached`]), and what a
//!   refused send means for the exchange ([`SendRefusal`]).
//! - What a coordinator answers ([`SharedAccount`]): the account's tokens, its creation budget
//!   and each token's exact sliding window, as one in-memory model. `tc-http`'s
//!   `MemoryCoordinator` is this model behind a lock; `tc-redis`'s Lua scripts answer the same
//!   way (a property test holds them to it).
//!
//! Every time here is wall-clock [`EpochMillis`], the clock processes on several machines share,
//! except the client's own instants ([`MonotonicMillis`]); none is ever read from a clock.

use super::exchange::{TransportError, COORDINATOR_RETRY_MS, SHARED_TOKEN_RECHECK_MS};
use super::{MonotonicMillis, WindowLimit};
use crate::EpochMillis;
use std::collections::BTreeMap;

/// When a client asks again for a slot's token that another process is creating: at the
/// coordinator's `recheck_at` (the lease's end), but never later than
/// [`SHARED_TOKEN_RECHECK_MS`] from `now` (the creator usually publishes well before its lease
/// ends) and never at `now` itself (that would spin).
pub fn busy_recheck_at(now: MonotonicMillis, recheck_at: MonotonicMillis) -> MonotonicMillis {
    recheck_at
        .max(now.plus(1))
        .min(now.plus(SHARED_TOKEN_RECHECK_MS))
}

/// When a client asks a coordinator that did not answer again: after
/// [`COORDINATOR_RETRY_MS`]. Nothing is sent meanwhile.
pub fn unreachable_retry_at(now: MonotonicMillis) -> MonotonicMillis {
    now.plus(COORDINATOR_RETRY_MS)
}

/// How long a claim to create a token lasts: as long as the longest token request can take,
/// connection included, so a live creator never loses its claim, and a process that died
/// holding one blocks the others this long at most. At least 1 ms.
pub fn claim_lease_ms(connect_timeout_ms: i64, request_timeout_ms: i64) -> i64 {
    connect_timeout_ms.saturating_add(request_timeout_ms).max(1)
}

/// Whether a claimed token request that failed with `error` may have reached the API, which
/// may then have counted the creation against the account's budget: every failure but a
/// connection never made. A creation that cannot have reached the API is refunded.
pub fn token_request_may_have_reached(error: TransportError) -> bool {
    !matches!(error, TransportError::Connect)
}

/// Why the coordinator did not let a reserved send leave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendRefusal {
    /// The token's shared window is full; its places, on the client's clock.
    Full(Vec<MonotonicMillis>),
    /// The coordinator holds every process back until this instant (it lost its records).
    Held(MonotonicMillis),
    /// The coordinator did not answer.
    Unreachable,
}

/// What a refused send means for the exchange: the shared window's sends to tell it
/// (`Exchange::on_send_refused`), and when the call may poll the exchange again (`None`: at
/// once, the exchange plans the next attempt from the sends).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusalPlan {
    /// The shared window's places, for the exchange to plan the next attempt with.
    pub sends: Vec<MonotonicMillis>,
    /// The instant before which the call does not poll the exchange again.
    pub resume_at: Option<MonotonicMillis>,
}

impl SendRefusal {
    /// The plan for this refusal at `now`.
    pub fn plan(self, now: MonotonicMillis) -> RefusalPlan {
        match self {
            SendRefusal::Full(sends) => RefusalPlan {
                sends,
                resume_at: None,
            },
            SendRefusal::Held(until) => RefusalPlan {
                sends: Vec::new(),
                resume_at: Some(until),
            },
            SendRefusal::Unreachable => RefusalPlan {
                sends: Vec::new(),
                resume_at: Some(unreachable_retry_at(now)),
            },
        }
    }
}

/// The settings of a token question, the same for every process of the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenRules {
    /// A token this close to its expiry, in milliseconds, is refreshed.
    pub refresh_margin_ms: i64,
    /// Token creations allowed on the account per window.
    pub creations: WindowLimit,
    /// How long a claim to create a token holds, in milliseconds.
    pub lease_ms: i64,
}

/// A token as the coordinator keeps it: the claim's id, the value (opaque here: sealed by the
/// client), and when it was created and expires.
#[derive(Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeptToken<T> {
    /// The id of the claim that created it.
    pub id: u64,
    /// The value, as the client handed it over.
    pub value: T,
    /// When the request that created it started.
    pub created_at: EpochMillis,
    /// When it stops being valid.
    pub expires_at: EpochMillis,
}

impl<T> std::fmt::Debug for KeptToken<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The value is never shown: it may be a token.
        f.debug_struct("KeptToken")
            .field("id", &self.id)
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// The answer to [`SharedAccount::token`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenAnswer<T> {
    /// Use this token.
    Shared(KeptToken<T>),
    /// The asker creates the slot's token under the claim with this id, charged to the budget.
    Claimed(u64),
    /// Another process holds the slot's claim until `recheck_at`.
    Busy {
        /// When the claim's lease ends.
        recheck_at: EpochMillis,
    },
    /// The account's creations are spent until this time.
    BudgetUntil(EpochMillis),
}

/// The answer to [`SharedAccount::reserve`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlaceAnswer {
    /// A place was taken at the asked time, under this id.
    Granted(u64),
    /// The window is full: its places' times, oldest first.
    Full(Vec<EpochMillis>),
}

/// A claim to create a slot's token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Lease {
    id: u64,
    until: EpochMillis,
}

/// One account's shared facts and the coordinator's answers over them: each slot's token and
/// creation claim, the creations charged to the budget, and each token's window of places.
///
/// Every method takes the time it is asked at; nothing expires by itself. A lease ends at the
/// time it was given (`now + lease_ms` when claimed), a creation and a place leave their window
/// when a later question's `now` is a window past them.
///
/// It serialises (serde) to its facts, so a coordinator can keep it in a file between
/// questions (`tc-local` does): read, asked, written back, under a lock. Read back, it answers
/// as it would have; ids it hands out stay new even if the text was edited to an older
/// `last_id`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
#[serde(from = "AccountFacts<T>")]
pub struct SharedAccount<T> {
    tokens: BTreeMap<usize, KeptToken<T>>,
    leases: BTreeMap<usize, Lease>,
    /// (claim id, time), in the order charged.
    creations: Vec<(u64, EpochMillis)>,
    /// Each slot's places: (place id, time).
    windows: BTreeMap<usize, Vec<(u64, EpochMillis)>>,
    last_id: u64,
}

/// [`SharedAccount`] as read from its serialised form, before its ids are checked.
#[derive(serde::Deserialize)]
struct AccountFacts<T> {
    tokens: BTreeMap<usize, KeptToken<T>>,
    leases: BTreeMap<usize, Lease>,
    creations: Vec<(u64, EpochMillis)>,
    windows: BTreeMap<usize, Vec<(u64, EpochMillis)>>,
    last_id: u64,
}

impl<T> From<AccountFacts<T>> for SharedAccount<T> {
    fn from(facts: AccountFacts<T>) -> Self {
        // Every id handed out later must be new: above every id the facts hold.
        let ids = facts.tokens.values().map(|token| token.id);
        let ids = ids.chain(facts.leases.values().map(|lease| lease.id));
        let ids = ids.chain(facts.creations.iter().map(|(id, _)| *id));
        let ids = ids.chain(facts.windows.values().flatten().map(|(id, _)| *id));
        let last_id = ids.fold(facts.last_id, u64::max);
        SharedAccount {
            tokens: facts.tokens,
            leases: facts.leases,
            creations: facts.creations,
            windows: facts.windows,
            last_id,
        }
    }
}

impl<T> Default for SharedAccount<T> {
    fn default() -> Self {
        SharedAccount {
            tokens: BTreeMap::new(),
            leases: BTreeMap::new(),
            creations: Vec::new(),
            windows: BTreeMap::new(),
            last_id: 0,
        }
    }
}

impl<T: Clone> SharedAccount<T> {
    /// An account with no token, claim, creation or place.
    pub fn new() -> Self {
        Self::default()
    }

    fn next_id(&mut self) -> u64 {
        self.last_id += 1;
        self.last_id
    }

    /// The token of `slot`, or who creates it, at `now`. A token valid for longer than the
    /// refresh margin is shared. Otherwise, while another claim's lease runs, a token still
    /// valid is shared and none is `Busy` until the lease ends; once the budget (creations
    /// within the last window, a creation leaving it a full window after it was charged) is
    /// spent, a token still valid is shared and none is `BudgetUntil` the oldest creation
    /// leaves; else the creation is charged at `now` and claimed until `now + lease_ms`.
    pub fn token(&mut self, slot: usize, now: EpochMillis, rules: &TokenRules) -> TokenAnswer<T> {
        let alive = self
            .tokens
            .get(&slot)
            .filter(|token| token.expires_at > now)
            .cloned();
        if let Some(token) = &alive {
            if token.expires_at.as_i64() - rules.refresh_margin_ms > now.as_i64() {
                return TokenAnswer::Shared(token.clone());
            }
        }
        if let Some(lease) = self.leases.get(&slot).filter(|lease| lease.until > now) {
            return match alive {
                Some(token) => TokenAnswer::Shared(token),
                None => TokenAnswer::Busy {
                    recheck_at: lease.until,
                },
            };
        }
        let window = rules.creations.window_ms;
        self.creations
            .retain(|(_, at)| at.as_i64() > now.as_i64().saturating_sub(window));
        if self.creations.len() >= rules.creations.limit as usize {
            if let Some(token) = alive {
                return TokenAnswer::Shared(token);
            }
            let oldest = self.creations.iter().map(|(_, at)| *at).min();
            let oldest = oldest.unwrap_or(now);
            return TokenAnswer::BudgetUntil(oldest.plus(window));
        }
        let id = self.next_id();
        self.creations.push((id, now));
        let until = now.plus(rules.lease_ms.max(1));
        self.leases.insert(slot, Lease { id, until });
        TokenAnswer::Claimed(id)
    }

    /// The creation claimed under `claim` succeeded: `token` becomes the slot's, unless the
    /// slot holds one created at the same time or later; the claim is released. `true` when
    /// the token was kept.
    pub fn publish(&mut self, slot: usize, claim: u64, token: KeptToken<T>) -> bool {
        self.end_lease(slot, claim);
        let newer = self
            .tokens
            .get(&slot)
            .is_some_and(|current| current.created_at >= token.created_at);
        if newer {
            return false;
        }
        self.tokens.insert(slot, token);
        true
    }

    /// The creation claimed under `claim` failed: the claim is released, and its charge to the
    /// budget refunded when `refund` (the request never reached the API).
    pub fn release(&mut self, slot: usize, claim: u64, refund: bool) {
        self.end_lease(slot, claim);
        if refund {
            self.creations.retain(|(id, _)| *id != claim);
        }
    }

    fn end_lease(&mut self, slot: usize, claim: u64) {
        if self
            .leases
            .get(&slot)
            .is_some_and(|lease| lease.id == claim)
        {
            self.leases.remove(&slot);
        }
    }

    /// The token `token_id` was refused: the slot drops it, unless it holds a newer one.
    pub fn retire(&mut self, slot: usize, token_id: u64) {
        if self.tokens.get(&slot).is_some_and(|t| t.id == token_id) {
            self.tokens.remove(&slot);
        }
    }

    /// A place at `now` in the window of `slot`'s token: places a full window old leave it,
    /// then a place is granted if fewer than `limit.limit` remain.
    pub fn reserve(&mut self, slot: usize, now: EpochMillis, limit: WindowLimit) -> PlaceAnswer {
        let start = now.as_i64().saturating_sub(limit.window_ms);
        let places = self.windows.entry(slot).or_default();
        places.retain(|(_, at)| at.as_i64() > start);
        if places.len() < limit.limit as usize {
            self.last_id += 1;
            places.push((self.last_id, now));
            return PlaceAnswer::Granted(self.last_id);
        }
        let mut sends: Vec<_> = places.iter().map(|(_, at)| *at).collect();
        sends.sort_unstable();
        PlaceAnswer::Full(sends)
    }

    /// The request that took place `place` ended at `at`: the place moves there, never earlier.
    /// A place that already left its window stays gone.
    pub fn send_finished(&mut self, slot: usize, place: u64, at: EpochMillis) {
        let places = self.windows.get_mut(&slot).into_iter().flatten();
        for (id, time) in places {
            if *id == place {
                *time = (*time).max(at);
            }
        }
    }
}

#[cfg(test)]
#[path = "coordination_tests.rs"]
mod tests;
