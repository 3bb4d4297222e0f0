//! [`Error`]: why the relay could not start or keep its store.

use std::path::PathBuf;

/// Why the relay could not start, or could not keep its store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The store failed; nothing more can be acknowledged until it works again.
    #[error("cannot {context}: {source}")]
    Store {
        context: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The store was written by a newer relay, in a layout this one cannot read.
    #[error(
        "the store's layout is version {found}, newer than this relay reads ({supported}): \
         run the newer tcbatch, or a store of its own"
    )]
    StoreSchema { found: i64, supported: i64 },
    /// Other relays send from the same store, and this one would not share the account with
    /// them: together they would go past its limits.
    #[error(
        "{peers} other relay(s) send from this store, and this one shares the account with no \
         other machine (its coordinator is not Redis): together they would go past the \
         account's limits. Give every relay the same \
         --coordinator redis://..., or split the account's tokens between them with --tokens N \
         on each"
    )]
    UnsharedAccount { peers: usize },
    /// Another relay holds the store: two relays sending one queue would send it twice.
    #[error("the store {} is in use by another relay; stop that one first", .path.display())]
    StoreInUse { path: PathBuf },
    /// A blocking task of the store panicked or was cancelled.
    #[error("the store's worker stopped: {0}")]
    Worker(String),
    /// The relay is shutting down and takes no more records.
    #[error("the relay is shutting down")]
    ShuttingDown,
    #[error("cannot serve: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    pub(crate) fn store<E>(context: &'static str) -> impl FnOnce(E) -> Error
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        move |source| Error::Store {
            context,
            source: Box::new(source),
        }
    }
}
