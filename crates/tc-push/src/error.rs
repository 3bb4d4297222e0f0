//! Why a push could not start, go on, or be reported.

use std::fmt;
use std::path::PathBuf;

/// The files a push touches, named in [`Error::SameFile`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileRole {
    Input,
    Journal,
    Report,
}

impl fmt::Display for FileRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileRole::Input => "the input",
            FileRole::Journal => "the journal",
            FileRole::Report => "the report",
        })
    }
}

/// Why the engine stopped. Each message says what happened and what to do next.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The journal could not be created, read, written or synced.
    #[error("journal {}: {source}", path.display())]
    Journal {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A new push found a journal already there: overwriting it would forget what was sent.
    #[error(
        "journal {} already exists: resume that push, or give another journal path to start a \
         new one",
        path.display()
    )]
    JournalExists { path: PathBuf },

    /// Another push holds the journal's lock.
    #[error(
        "journal {} is in use by another push (it is locked); wait for that push to end: two \
         pushes on one journal would send the same rows twice",
        path.display()
    )]
    JournalLocked { path: PathBuf },

    /// A line in the middle of the journal cannot be read.
    #[error("journal {} line {line} is damaged ({detail}); it cannot be resumed safely", path.display())]
    JournalDamaged {
        path: PathBuf,
        line: u64,
        detail: String,
    },

    /// The journal holds no start entry: it is empty, or not a journal of this engine.
    #[error(
        "journal {} holds no start entry (it is empty or not a push journal), so nothing in it \
         says which input it belongs to; it cannot be resumed. If a push was killed before its \
         first line was written, nothing was sent: remove the file and start again",
        path.display()
    )]
    JournalNotStarted { path: PathBuf },

    /// The journal was written by a newer version of the engine than this one reads.
    #[error(
        "journal {} was written in format {version}, newer than this tcbatch reads (up to {}); \
         resume it with the tcbatch that wrote it, or a newer one",
        path.display(),
        crate::journal::JOURNAL_VERSION
    )]
    JournalVersion { path: PathBuf, version: u32 },

    /// The journal belongs to another input.
    #[error(
        "journal {} belongs to another input (it was written for {input}, whose content differs \
         from this one); resume with the same input, or start a new push with another journal path",
        path.display()
    )]
    OtherInput { path: PathBuf, input: String },

    /// The journal's push sent with other options than this run would.
    #[error(
        "journal {} was written by a push with other options: {}; resume with the same options, \
         or start a new push with another journal path",
        path.display(),
        differences.join(", ")
    )]
    OtherOptions {
        path: PathBuf,
        /// One phrase per option that differs, such as `region IN (now US)`.
        differences: Vec<String>,
    },

    /// Two of the push's files are one and the same.
    #[error("{first} and {second} are the same file ({}); give them distinct paths", path.display())]
    SameFile {
        first: FileRole,
        second: FileRole,
        path: PathBuf,
    },

    /// The report cannot be written where it was asked for.
    #[error("cannot write report {}: {source}", path.display())]
    Report {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The API client failed in a way that concerns the whole push (delivery polling).
    #[error(transparent)]
    Client(#[from] tc_http::Error),

    /// A task or thread of the engine failed.
    #[error("a task of the push failed: {detail}")]
    Task { detail: String },
}

impl Error {
    pub(crate) fn journal(path: &std::path::Path, source: std::io::Error) -> Error {
        Error::Journal {
            path: path.to_owned(),
            source,
        }
    }
}
