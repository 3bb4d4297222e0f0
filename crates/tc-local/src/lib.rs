//! Every process on one machine, one account: a [`tc_http::Coordinator`] kept in a file of the
//! user's state directory, so that `tcbatch check`, `labels`, `status`, each `submit` and each
//! start of `serve` share the account's tokens, its budget of 10 token creations per 30 minutes
//! and each token's window of 60 requests per minute, with no server to run. A token lives 60
//! minutes: any number of commands within its life create one.
//!
//! - **What the file holds**: one file per account and API, `accounts/<digest>.json` (the
//!   digest of the base URL, the client account id and the key id: accounts and APIs never
//!   share a file, and the name says nothing about either), holding tc-core's
//!   [`SharedAccount`]: each token slot's token, *sealed* by the client under a key derived
//!   from the API key (the file alone never gives a usable token), the claim of the process
//!   creating one, the creations charged to the budget and each token's window of places.
//!   The API key is never in it.
//! - **How it is changed**: each question takes the account's exclusive lock
//!   (`accounts/<digest>.lock`, `flock`), reads the file, asks the model at the time the client
//!   passed, and writes the file back if the answer changed it: to a temporary file, synced,
//!   then renamed over the file, so a crash leaves the old file or the new one, never a torn
//!   one. An unreadable or damaged file is read as an empty account, with one warning. The
//!   file I/O runs on tokio's blocking threads, never on the runtime's own.
//! - **Whose it is**: the directories it makes are 0700, the files 0600.
//!
//! It answers as `tc_http::MemoryCoordinator` does (the same model), for every process that
//! opens the same directory: it reads no clock (every time is the client's), and never holds
//! processes back ([`Reservation::Held`] is Redis's, for a store that lost its data). For
//! processes on several machines, use `tc-redis`.
//!
//! ```no_run
//! use std::sync::Arc;
//! use tc_local::LocalCoordinator;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let base_url = tc_http::DEFAULT_BASE_URL;
//! let coordinator = LocalCoordinator::open("/home/me/.local/state/tcbatch", base_url, "my-account", "key-id")?;
//! let client = tc_http::ClientBuilder::from_env()
//!     .base_url(base_url)
//!     .client_account_id("my-account")
//!     .key_id("key-id")
//!     .coordinator(Arc::new(coordinator))
//!     .build()?;
//! # drop(client);
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

mod file;
mod sealed;

use file::{Identity, StateFile};
use sealed::Sealed;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tc_core::transport::{SharedAccount, WindowLimit};
use tc_core::EpochMillis;
use tc_http::{
    Claim, Coordinator, CoordinatorError, CoordinatorFuture, Place, Reached, Reservation,
    SharedToken, TokenClaim, TokenTerms,
};

/// A [`Coordinator`] that keeps one account's tokens, creation budget and rate windows in a
/// file of a state directory, shared by every process that opens the same directory. Cheap to
/// share behind an `Arc`.
pub struct LocalCoordinator {
    file: Arc<StateFile>,
}

/// Why a [`LocalCoordinator`] could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LocalCoordinatorError {
    /// The account id is empty.
    #[error(
        "the local coordinator needs the client account id, to keep each account's file apart"
    )]
    NoAccount,
    /// The state directory or the account's lock file cannot be made or opened.
    #[error("cannot use the state directory {}", .dir.display())]
    Dir {
        /// The state directory.
        dir: PathBuf,
        /// What the file system said.
        #[source]
        source: std::io::Error,
    },
}

impl LocalCoordinator {
    /// The coordinator of the account `client_account_id` (with `key_id`) on the API at
    /// `base_url`, in the state directory `state_dir` (made, 0700, if missing). The account's
    /// file is made at the first question.
    ///
    /// # Errors
    /// [`LocalCoordinatorError::NoAccount`] if `client_account_id` is empty, and
    /// [`LocalCoordinatorError::Dir`] if the directory or the lock file cannot be made.
    pub fn open(
        state_dir: impl AsRef<Path>,
        base_url: &str,
        client_account_id: &str,
        key_id: &str,
    ) -> Result<LocalCoordinator, LocalCoordinatorError> {
        if client_account_id.trim().is_empty() {
            return Err(LocalCoordinatorError::NoAccount);
        }
        let identity = Identity {
            api: base_url.trim_end_matches('/').to_owned(),
            client_account_id: client_account_id.to_owned(),
            key_id: key_id.to_owned(),
        };
        let dir = state_dir.as_ref();
        let file = StateFile::open(dir, identity).map_err(|source| LocalCoordinatorError::Dir {
            dir: dir.to_owned(),
            source,
        })?;
        Ok(LocalCoordinator {
            file: Arc::new(file),
        })
    }

    /// The file the account's state is kept in.
    pub fn file(&self) -> &Path {
        self.file.path()
    }

    /// Asks `question` of the account on a blocking thread: the file is locked, read, and
    /// written back if the question changed the account.
    fn ask<R: Send + 'static>(
        &self,
        action: &'static str,
        question: impl FnOnce(&mut SharedAccount<Sealed>) -> R + Send + 'static,
    ) -> CoordinatorFuture<'static, R> {
        let file = self.file.clone();
        // What the file logs goes where the caller's logs go, in the caller's span.
        let dispatch = tracing::dispatcher::get_default(tracing::Dispatch::clone);
        let span = tracing::Span::current();
        let blocking = move || {
            tracing::dispatcher::with_default(&dispatch, || span.in_scope(|| file.update(question)))
        };
        Box::pin(async move {
            match tokio::task::spawn_blocking(blocking).await {
                Ok(Ok(answer)) => Ok(answer),
                Ok(Err(error)) => Err(CoordinatorError::new(action, error)),
                Err(stopped) => Err(CoordinatorError::new(action, stopped)),
            }
        })
    }
}

impl fmt::Debug for LocalCoordinator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalCoordinator")
            .field("file", &self.file.path())
            .finish_non_exhaustive()
    }
}

impl Coordinator for LocalCoordinator {
    fn token<'a>(
        &'a self,
        slot: usize,
        now: EpochMillis,
        terms: &'a TokenTerms,
    ) -> CoordinatorFuture<'a, TokenClaim> {
        let rules = terms.rules();
        self.ask("look up or claim a token", move |account| {
            TokenClaim::from_answer(account.token(slot, now, &rules))
        })
    }

    fn publish<'a>(
        &'a self,
        slot: usize,
        claim: &'a Claim,
        token: &'a SharedToken,
    ) -> CoordinatorFuture<'a, ()> {
        let (claim, kept) = (claim.id(), token.kept::<Sealed>());
        self.ask("publish a token", move |account| {
            // A newer token of the slot is kept instead: nothing for the client to do.
            let _kept = account.publish(slot, claim, kept);
        })
    }

    fn release<'a>(
        &'a self,
        slot: usize,
        claim: &'a Claim,
        reached: Reached,
    ) -> CoordinatorFuture<'a, ()> {
        let (claim, refund) = (claim.id(), matches!(reached, Reached::No));
        self.ask("release a token claim", move |account| {
            account.release(slot, claim, refund);
        })
    }

    fn retire(&self, slot: usize, token_id: u64) -> CoordinatorFuture<'_, ()> {
        self.ask("retire a token", move |account| {
            account.retire(slot, token_id);
        })
    }

    fn reserve(
        &self,
        slot: usize,
        now: EpochMillis,
        limit: WindowLimit,
    ) -> CoordinatorFuture<'_, Reservation> {
        self.ask("reserve a send", move |account| {
            Reservation::from_answer(account.reserve(slot, now, limit), now)
        })
    }

    fn send_finished<'a>(
        &'a self,
        slot: usize,
        place: &'a Place,
        at: EpochMillis,
    ) -> CoordinatorFuture<'a, ()> {
        let place = place.id();
        self.ask("move a send to its answer", move |account| {
            account.send_finished(slot, place, at);
        })
    }
}
