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
        source: rusqlite::Error,
    },
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
    pub(crate) fn store(context: &'static str) -> impl FnOnce(rusqlite::Error) -> Error {
        move |source| Error::Store { context, source }
    }
}
