//! A [`Coordinator`] in this process's memory: tc-core's [`SharedAccount`] behind a lock.

use crate::coordinator::{
    Claim, Coordinator, CoordinatorFuture, Place, Reached, Reservation, SharedToken, TokenClaim,
    TokenTerms,
};
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};
use tc_core::transport::{SharedAccount, WindowLimit};
use tc_core::EpochMillis;

/// A [`Coordinator`] that keeps one account's tokens, creation budget and rate windows in this
/// process's memory, for clients of one process that share an account, and for tests of what
/// sharing does. Every answer is [`tc_core::transport::SharedAccount`]'s, at the time the client
/// passes: it reads no clock, so clients in paused time drive it as they drive everything else.
/// Tokens are held sealed, as the client hands them over.
///
/// It never loses its records (so it never holds processes back, and never answers
/// [`Reservation::Held`]) and always answers. Share one behind an `Arc`:
///
/// ```
/// use std::sync::Arc;
/// use tc_http::{Client, MemoryCoordinator};
///
/// let coordinator = Arc::new(MemoryCoordinator::new());
/// let build = || {
///     Client::builder()
///         .client_account_id("my-account")
///         .key_id("key-id")
///         .api_key("api-key".to_owned())
///         .coordinator(coordinator.clone())
///         .build()
/// };
/// let (first, second) = (build()?, build()?);
/// # drop((first, second));
/// # Ok::<(), tc_http::Error>(())
/// ```
#[derive(Default)]
pub struct MemoryCoordinator {
    account: Mutex<SharedAccount<Vec<u8>>>,
}

impl MemoryCoordinator {
    /// A coordinator with no token, claim, creation or place yet.
    pub fn new() -> MemoryCoordinator {
        MemoryCoordinator::default()
    }

    fn account(&self) -> MutexGuard<'_, SharedAccount<Vec<u8>>> {
        // Every method leaves the model whole before it can panic.
        self.account.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for MemoryCoordinator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The sealed tokens are never shown.
        f.debug_struct("MemoryCoordinator").finish_non_exhaustive()
    }
}

fn answered<'a, T: Send + 'a>(value: T) -> CoordinatorFuture<'a, T> {
    Box::pin(std::future::ready(Ok(value)))
}

impl Coordinator for MemoryCoordinator {
    fn token<'a>(
        &'a self,
        slot: usize,
        now: EpochMillis,
        terms: &'a TokenTerms,
    ) -> CoordinatorFuture<'a, TokenClaim> {
        let answer = self.account().token(slot, now, &terms.rules());
        answered(TokenClaim::from_answer(answer))
    }

    fn publish<'a>(
        &'a self,
        slot: usize,
        claim: &'a Claim,
        token: &'a SharedToken,
    ) -> CoordinatorFuture<'a, ()> {
        // A newer token of the slot is kept instead: nothing for the client to do either way.
        let _kept = self.account().publish(slot, claim.id(), token.kept());
        answered(())
    }

    fn release<'a>(
        &'a self,
        slot: usize,
        claim: &'a Claim,
        reached: Reached,
    ) -> CoordinatorFuture<'a, ()> {
        let refund = matches!(reached, Reached::No);
        self.account().release(slot, claim.id(), refund);
        answered(())
    }

    fn retire(&self, slot: usize, token_id: u64) -> CoordinatorFuture<'_, ()> {
        self.account().retire(slot, token_id);
        answered(())
    }

    fn reserve(
        &self,
        slot: usize,
        now: EpochMillis,
        limit: WindowLimit,
    ) -> CoordinatorFuture<'_, Reservation> {
        let answer = self.account().reserve(slot, now, limit);
        answered(Reservation::from_answer(answer, now))
    }

    fn send_finished<'a>(
        &'a self,
        slot: usize,
        place: &'a Place,
        at: EpochMillis,
    ) -> CoordinatorFuture<'a, ()> {
        self.account().send_finished(slot, place.id(), at);
        answered(())
    }
}
