//! What this process knows of the account's shared state, to write back when the store lost
//! its data: the creations it made or saw, the tokens it holds, and the windows it uses.

use std::collections::{BTreeMap, VecDeque};
use tc_core::transport::{WindowLimit, DEFAULT_RATE_GUARD_MS};
use tc_core::EpochMillis;
use tc_http::{SharedToken, TokenClaim, TokenTerms};

/// Creations remembered at most: the budget allows 10 per window.
const MAX_CREATIONS: usize = 64;

/// An id for a claim or a place: random, and below 2^53 so Lua's numbers hold it exactly.
pub(crate) fn new_id() -> u64 {
    (rand::random::<u64>() >> 11).max(1)
}

#[derive(Debug, Default)]
pub(crate) struct Memory {
    /// The store's epoch as this process last saw it.
    epoch: Option<String>,
    /// Creations made or seen: (claim id, time), oldest first.
    creations: VecDeque<(u64, i64)>,
    /// The newest token seen of each slot.
    tokens: BTreeMap<usize, SharedToken>,
    window_ms: Option<i64>,
    creation_window_ms: Option<i64>,
    /// The latest time any call of this process passed.
    latest: i64,
}

impl Memory {
    pub fn epoch(&self) -> Option<String> {
        self.epoch.clone()
    }

    pub fn set_epoch(&mut self, epoch: String) {
        self.epoch = Some(epoch);
    }

    pub fn remember_terms(&mut self, terms: &TokenTerms) {
        self.creation_window_ms = Some(terms.creations.window_ms);
        self.window_ms = Some(terms.rate_window_ms);
    }

    pub fn remember_window(&mut self, window_ms: i64) {
        self.window_ms = Some(window_ms);
    }

    /// The rate window the process last reserved in; the API's (with the default guard)
    /// before its first reservation.
    pub fn window_ms(&self) -> i64 {
        self.window_ms.unwrap_or(
            WindowLimit::REQUESTS_PER_TOKEN
                .window_ms
                .saturating_add(DEFAULT_RATE_GUARD_MS),
        )
    }

    pub fn creation_window_ms(&self) -> i64 {
        self.creation_window_ms
            .unwrap_or(WindowLimit::TOKEN_CREATIONS.window_ms)
    }

    /// The later of `now` and any time this process passed before.
    pub fn latest(&mut self, now: EpochMillis) -> i64 {
        self.latest = self.latest.max(now.as_i64());
        self.latest
    }

    pub fn saw_claim(&mut self, slot: usize, claim: &TokenClaim, now: EpochMillis) {
        let now = self.latest(now);
        match claim {
            TokenClaim::Shared(token) => self.saw_token(slot, token),
            TokenClaim::Claimed(claim) => self.add_creation(claim.id(), now),
            TokenClaim::Busy { .. } | TokenClaim::BudgetUntil(_) => {}
        }
    }

    pub fn saw_token(&mut self, slot: usize, token: &SharedToken) {
        self.add_creation(token.id(), token.created_at().as_i64());
        let newer = self
            .tokens
            .get(&slot)
            .is_none_or(|held| held.created_at() <= token.created_at());
        if newer {
            self.tokens.insert(slot, token.clone());
        }
    }

    pub fn forget_creation(&mut self, id: u64) {
        self.creations.retain(|(known, _)| *known != id);
    }

    pub fn forget_token(&mut self, slot: usize, id: u64) {
        if self.tokens.get(&slot).is_some_and(|t| t.id() == id) {
            self.tokens.remove(&slot);
        }
    }

    fn add_creation(&mut self, id: u64, at: i64) {
        if self.creations.iter().any(|(known, _)| *known == id) {
            return;
        }
        if self.creations.len() == MAX_CREATIONS {
            self.creations.pop_front();
        }
        let position = self.creations.partition_point(|(_, t)| *t <= at);
        self.creations.insert(position, (id, at));
    }

    /// The creations still inside the budget's window at `now`.
    pub fn creations_since(&self, now: i64) -> Vec<(u64, i64)> {
        let start = now.saturating_sub(self.creation_window_ms());
        self.creations
            .iter()
            .filter(|(_, at)| *at > start)
            .copied()
            .collect()
    }

    /// The tokens still valid at `now`, by slot.
    pub fn tokens_alive(&self, now: i64) -> Vec<(usize, SharedToken)> {
        self.tokens
            .iter()
            .filter(|(_, t)| t.expires_at().as_i64() > now)
            .map(|(slot, t)| (*slot, t.clone()))
            .collect()
    }
}
