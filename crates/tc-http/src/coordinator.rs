//! Sharing one account's budget with other processes: the [`Coordinator`] a [`Client`] asks,
//! when it has one, before it creates a token and before each request leaves.
//!
//! The account's limits (10 token creations in any 30 minutes, 60 requests in any minute on
//! each token) belong to the account, not to a process. A client on its own keeps them in its
//! own memory; clients in several processes that share an account keep them in one place
//! through a coordinator (the `tc-redis` crate implements one over Redis). The decisions stay
//! tc-core's: the coordinator only answers whether a token exists, who may create one, and
//! whether a send fits the shared window, and the client reports those answers to its
//! [`tc_core::transport::Exchange`].
//!
//! Every time passed to and from a coordinator is wall-clock [`EpochMillis`], the one clock
//! processes on different machines share; the client converts to and from its monotonic clock.
//!
//! [`Client`]: crate::Client

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use tc_core::transport::{KeptToken, PlaceAnswer, TokenAnswer, TokenRules, WindowLimit};
use tc_core::EpochMillis;

/// What a [`Coordinator`] method returns: a boxed future, so a client can hold any coordinator
/// behind `Arc<dyn Coordinator>`.
pub type CoordinatorFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, CoordinatorError>> + Send + 'a>>;

/// Where the processes sharing an account keep its tokens, its creation budget and each
/// token's rate window. Token slots are numbered as in the client (`0..tokens`), and every
/// process uses the same slot for the same token.
///
/// An implementation must answer each method atomically with respect to every other process:
/// two processes must never both be told to create a slot's token, and a window must never
/// grant more places than its limit.
pub trait Coordinator: Send + Sync + fmt::Debug {
    /// The token of `slot`, or who creates it. Answers [`TokenClaim::Shared`] for a token that
    /// is valid at `now` for longer than `terms.refresh_margin_ms`, or that is still valid
    /// while another process refreshes it; otherwise, if no other process holds the slot's
    /// creation and the account's budget allows one at `now`, charges the budget and answers
    /// [`TokenClaim::Claimed`], a claim that lapses after `terms.lease_ms`.
    fn token<'a>(
        &'a self,
        slot: usize,
        now: EpochMillis,
        terms: &'a TokenTerms,
    ) -> CoordinatorFuture<'a, TokenClaim>;

    /// The claimed creation succeeded: `token` becomes the slot's token for every process, and
    /// the claim is released.
    fn publish<'a>(
        &'a self,
        slot: usize,
        claim: &'a Claim,
        token: &'a SharedToken,
    ) -> CoordinatorFuture<'a, ()>;

    /// The claimed creation failed: the claim is released, and if the request never reached
    /// the API ([`Reached::No`]) its charge to the budget is refunded.
    fn release<'a>(
        &'a self,
        slot: usize,
        claim: &'a Claim,
        reached: Reached,
    ) -> CoordinatorFuture<'a, ()>;

    /// The API refused token `token_id` with 401: no process uses it again. A newer token of
    /// the slot is left alone.
    fn retire(&self, slot: usize, token_id: u64) -> CoordinatorFuture<'_, ()>;

    /// Reserves a place at `now` in the window of `slot`'s token, which holds at most
    /// `limit.limit` sends in any `limit.window_ms`.
    fn reserve(
        &self,
        slot: usize,
        now: EpochMillis,
        limit: WindowLimit,
    ) -> CoordinatorFuture<'_, Reservation>;

    /// The request that took `place` got its answer (or failed) at `at`: its place moves to
    /// `at`, the latest moment the API can have counted it. A place never moves earlier.
    fn send_finished<'a>(
        &'a self,
        slot: usize,
        place: &'a Place,
        at: EpochMillis,
    ) -> CoordinatorFuture<'a, ()>;
}

/// The settings of a token answer, the same for every process of the account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenTerms {
    /// A token this close to its expiry, in milliseconds, is refreshed.
    pub refresh_margin_ms: i64,
    /// Token creations allowed on the account per window.
    pub creations: WindowLimit,
    /// How long a claim to create a token holds, in milliseconds: longer than a token request
    /// can take, so a process that dies holding it blocks the others this long at most.
    pub lease_ms: i64,
    /// The length of each token's rate window, in milliseconds: after the coordinator lost its
    /// records, how long every process holds back.
    pub rate_window_ms: i64,
}

impl TokenTerms {
    /// The terms as tc-core's [`SharedAccount`](tc_core::transport::SharedAccount) takes them.
    pub fn rules(&self) -> TokenRules {
        TokenRules {
            refresh_margin_ms: self.refresh_margin_ms,
            creations: self.creations,
            lease_ms: self.lease_ms,
        }
    }
}

/// A coordinator's answer to [`Coordinator::token`].
///
/// Deliberately exhaustive: the client must act on every variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenClaim {
    /// Use this token, created by some process of the account.
    Shared(SharedToken),
    /// This process creates the slot's token: request one, then
    /// [`publish`](Coordinator::publish) it or [`release`](Coordinator::release) the claim.
    Claimed(Claim),
    /// Another process is creating the slot's token, or the coordinator holds every process
    /// back: ask again, not later than `recheck_at`.
    Busy {
        /// When to ask again at the latest.
        recheck_at: EpochMillis,
    },
    /// The account's creations are spent until `until`.
    BudgetUntil(EpochMillis),
}

impl TokenClaim {
    /// The answer of tc-core's [`SharedAccount`](tc_core::transport::SharedAccount), whose
    /// tokens are kept sealed as `T`, as a coordinator gives it: what `MemoryCoordinator` and
    /// every coordinator built on that model answer.
    pub fn from_answer<T: Into<Vec<u8>>>(answer: TokenAnswer<T>) -> TokenClaim {
        match answer {
            TokenAnswer::Shared(kept) => TokenClaim::Shared(SharedToken::new(
                kept.id,
                kept.value.into(),
                kept.created_at,
                kept.expires_at,
            )),
            TokenAnswer::Claimed(id) => TokenClaim::Claimed(Claim::new(id)),
            TokenAnswer::Busy { recheck_at } => TokenClaim::Busy { recheck_at },
            TokenAnswer::BudgetUntil(until) => TokenClaim::BudgetUntil(until),
        }
    }
}

/// The right to create one slot's token, charged to the account's budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    id: u64,
}

impl Claim {
    /// The claim the coordinator recorded under `id`.
    pub fn new(id: u64) -> Claim {
        Claim { id }
    }

    /// Its id in the coordinator's records.
    pub fn id(&self) -> u64 {
        self.id
    }
}

/// Whether a failed token request reached the API, which may then have counted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reached {
    /// The request may have reached the API: its creation stays charged.
    Maybe,
    /// No connection was made: nothing was counted.
    No,
}

/// A coordinator's answer to [`Coordinator::reserve`].
///
/// Deliberately exhaustive: the client must act on every variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reservation {
    /// The send may leave now; report its end with [`Coordinator::send_finished`].
    Granted(Place),
    /// The window is full. `sends` are its places, oldest first: the client plans its next
    /// attempt with them.
    Full {
        /// The window's places, as every process recorded them.
        sends: Vec<EpochMillis>,
    },
    /// The coordinator holds every process back until `until` (after it lost its records, for
    /// one window, so that nothing the API still counts is forgotten).
    Held {
        /// When sends may be reserved again.
        until: EpochMillis,
    },
}

impl Reservation {
    /// The answer of tc-core's [`SharedAccount`](tc_core::transport::SharedAccount) to a
    /// reservation asked at `now`, as a coordinator gives it.
    pub fn from_answer(answer: PlaceAnswer, now: EpochMillis) -> Reservation {
        match answer {
            PlaceAnswer::Granted(id) => Reservation::Granted(Place::new(id, now)),
            PlaceAnswer::Full(sends) => Reservation::Full { sends },
        }
    }
}

/// A place taken in a token's shared window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    id: u64,
    at: EpochMillis,
}

impl Place {
    /// The place recorded under `id`, taken at `at`.
    pub fn new(id: u64, at: EpochMillis) -> Place {
        Place { id, at }
    }

    /// Its id in the coordinator's records.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// When it was taken.
    pub fn at(&self) -> EpochMillis {
        self.at
    }
}

/// A token as processes share it. Its value is sealed: encrypted and authenticated with a key
/// derived from the account's API key, so the coordinator's store never holds a usable token
/// and a token sealed under other credentials is refused rather than sent.
#[derive(Clone, PartialEq, Eq)]
pub struct SharedToken {
    id: u64,
    sealed: Vec<u8>,
    created_at: EpochMillis,
    expires_at: EpochMillis,
}

impl SharedToken {
    /// A token as the coordinator stores it: its id (the claim's), the sealed value, and the
    /// start of the request that created it and its expiry.
    pub fn new(id: u64, sealed: Vec<u8>, created_at: EpochMillis, expires_at: EpochMillis) -> Self {
        SharedToken {
            id,
            sealed,
            created_at,
            expires_at,
        }
    }

    /// Its id: the id of the claim that created it.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The sealed value, opaque to everyone but a client with the account's API key.
    pub fn sealed(&self) -> &[u8] {
        &self.sealed
    }

    /// When the request that created it started.
    pub fn created_at(&self) -> EpochMillis {
        self.created_at
    }

    /// When it stops being valid.
    pub fn expires_at(&self) -> EpochMillis {
        self.expires_at
    }

    /// The token as tc-core's [`SharedAccount`](tc_core::transport::SharedAccount) keeps it,
    /// its sealed value as `T`.
    pub fn kept<T: From<Vec<u8>>>(&self) -> KeptToken<T> {
        KeptToken {
            id: self.id,
            value: T::from(self.sealed.clone()),
            created_at: self.created_at,
            expires_at: self.expires_at,
        }
    }
}

impl fmt::Debug for SharedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedToken")
            .field("id", &self.id)
            .field("sealed", &format_args!("[{} bytes]", self.sealed.len()))
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// A coordinator could not answer: its store is unreachable or answered something else. The
/// client sends nothing until it answers again.
#[derive(Debug)]
pub struct CoordinatorError {
    action: &'static str,
    source: Box<dyn StdError + Send + Sync>,
}

impl CoordinatorError {
    /// `action` (what the coordinator was asked to do, as "reserve a send") failed because of
    /// `source`, which must not carry a secret (a store URL with a password, say).
    pub fn new(action: &'static str, source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        CoordinatorError {
            action,
            source: source.into(),
        }
    }

    /// What the coordinator was asked to do.
    pub fn action(&self) -> &'static str {
        self.action
    }
}

impl fmt::Display for CoordinatorError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the coordinator could not {}; nothing is sent until it answers again",
            self.action
        )
    }
}

impl StdError for CoordinatorError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&*self.source)
    }
}
