//! One account's state file: read, changed and written back under the account's exclusive lock,
//! written atomically (a synced temporary file renamed over the old one), the user's alone.

use crate::sealed::Sealed;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};
use tc_core::transport::SharedAccount;

/// The layout of the file this version writes. A file of another layout is read as empty.
const FORMAT: u32 = 1;

/// The folder of the state directory the account files live in.
pub(crate) const ACCOUNTS: &str = "accounts";

/// How long a question waits for another process to release the account's lock before the
/// coordinator counts as not answering (the client then sends nothing and asks again).
/// Each holder keeps it for one read and one write.
const LOCK_WAIT: Duration = Duration::from_secs(2);

/// The longest pause between two attempts at a busy lock.
const LOCK_RETRY_MAX: Duration = Duration::from_millis(4);

/// Which account on which API a file keeps: named in the file, for whoever reads it, and
/// checked when it is read. Nothing secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Identity {
    pub api: String,
    pub client_account_id: String,
    pub key_id: String,
}

impl Identity {
    /// The name of the account's files: a digest of the API and the account, so that
    /// accounts and APIs never share a file and the name says nothing about either.
    pub fn file_stem(&self) -> String {
        let mut digest = Sha256::new();
        for part in [&self.api, &self.client_account_id, &self.key_id] {
            digest.update(part.as_bytes());
            digest.update([0]);
        }
        let digest = digest.finalize();
        digest[..16].iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The file as written.
#[derive(Serialize)]
struct Written<'a> {
    format: u32,
    #[serde(flatten)]
    identity: &'a Identity,
    account: &'a SharedAccount<Sealed>,
}

/// The file as read.
#[derive(Deserialize)]
struct Read {
    #[serde(flatten)]
    identity: Identity,
    account: SharedAccount<Sealed>,
}

/// Only the layout, read first: a file of another layout is not read further.
#[derive(Deserialize)]
struct Layout {
    format: u32,
}

/// Why a file was read as an empty account.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Damage {
    #[error("it cannot be read ({0})")]
    Unreadable(io::ErrorKind),
    #[error("it is not a state file of this tcbatch (format {0}, this version writes {FORMAT})")]
    OtherFormat(u32),
    #[error("it is damaged (not the JSON tcbatch writes, at line {line})")]
    Damaged { line: usize },
    #[error("it names another account or API")]
    OtherAccount,
}

/// The lock was held by another process for longer than [`LOCK_WAIT`].
#[derive(Debug, thiserror::Error)]
#[error(
    "another process held the lock of the account's state file {path} for {seconds} s",
    seconds = LOCK_WAIT.as_secs()
)]
pub(crate) struct LockBusy {
    path: PathBuf,
}

/// One account's state file and its lock.
pub(crate) struct StateFile {
    identity: Identity,
    dir: PathBuf,
    path: PathBuf,
    temp: PathBuf,
    lock_path: PathBuf,
    /// The lock file, open for this coordinator's life. The mutex keeps the threads of this
    /// process apart (a file lock is one per open file, not per thread); the file lock keeps
    /// processes apart.
    lock: Mutex<File>,
    /// Whether this process already said it read a damaged file as empty.
    warned: AtomicBool,
}

impl StateFile {
    /// The files of `identity` in `state_dir`, the directories made (0700) and the lock file
    /// opened (0600).
    pub fn open(state_dir: &Path, identity: Identity) -> io::Result<StateFile> {
        make_private_dir(state_dir, false)?;
        let dir = state_dir.join(ACCOUNTS);
        make_private_dir(&dir, true)?;
        let stem = identity.file_stem();
        let lock_path = dir.join(format!("{stem}.lock"));
        let lock = private_options().read(true).write(true).open(&lock_path)?;
        Ok(StateFile {
            identity,
            path: dir.join(format!("{stem}.json")),
            temp: dir.join(format!("{stem}.json.tmp")),
            dir,
            lock_path,
            lock: Mutex::new(lock),
            warned: AtomicBool::new(false),
        })
    }

    /// Where the account's state is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Asks `question` of the account as the file holds it, under the exclusive lock, and
    /// writes the account back if the question changed it. Blocking: call it off the runtime.
    pub fn update<R>(
        &self,
        question: impl FnOnce(&mut SharedAccount<Sealed>) -> R,
    ) -> io::Result<R> {
        let lock = self.lock.lock().unwrap_or_else(PoisonError::into_inner);
        self.lock_file(&lock)?;
        let answer = self.update_locked(question);
        let unlocked = lock.unlock();
        let answer = answer?;
        unlocked?;
        Ok(answer)
    }

    fn update_locked<R>(
        &self,
        question: impl FnOnce(&mut SharedAccount<Sealed>) -> R,
    ) -> io::Result<R> {
        let before = match fs::read(&self.path) {
            Ok(bytes) => Some(bytes),
            Err(error) if error.kind() == io::ErrorKind::NotFound => None,
            Err(error) => {
                self.warn(&Damage::Unreadable(error.kind()));
                None
            }
        };
        let mut account = match before.as_deref().map(|bytes| self.read(bytes)) {
            Some(Ok(account)) => account,
            Some(Err(damage)) => {
                self.warn(&damage);
                SharedAccount::new()
            }
            None => SharedAccount::new(),
        };
        let answer = question(&mut account);
        let after = serde_json::to_vec_pretty(&Written {
            format: FORMAT,
            identity: &self.identity,
            account: &account,
        })
        .map_err(io::Error::other)?;
        if before.as_deref() != Some(after.as_slice()) {
            self.write(&after)?;
        }
        Ok(answer)
    }

    /// Takes the file lock, waiting up to [`LOCK_WAIT`] for another process to release it.
    fn lock_file(&self, file: &File) -> io::Result<()> {
        let deadline = Instant::now() + LOCK_WAIT;
        let mut pause = Duration::from_micros(50);
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(()),
                Err(TryLockError::Error(error)) => return Err(error),
                Err(TryLockError::WouldBlock) if Instant::now() >= deadline => {
                    let path = self.lock_path.clone();
                    return Err(io::Error::new(io::ErrorKind::TimedOut, LockBusy { path }));
                }
                Err(TryLockError::WouldBlock) => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(LOCK_RETRY_MAX);
                }
            }
        }
    }

    fn read(&self, bytes: &[u8]) -> Result<SharedAccount<Sealed>, Damage> {
        let damaged = |error: serde_json::Error| Damage::Damaged { line: error.line() };
        let layout: Layout = serde_json::from_slice(bytes).map_err(damaged)?;
        if layout.format != FORMAT {
            return Err(Damage::OtherFormat(layout.format));
        }
        let read: Read = serde_json::from_slice(bytes).map_err(damaged)?;
        if read.identity != self.identity {
            return Err(Damage::OtherAccount);
        }
        Ok(read.account)
    }

    /// Replaces the file with `bytes`: written to the temporary file, synced, renamed over the
    /// file, and the rename synced, so a crash at any point leaves the old file or the new.
    fn write(&self, bytes: &[u8]) -> io::Result<()> {
        let mut temp = private_options()
            .write(true)
            .truncate(true)
            .open(&self.temp)?;
        restrict(&temp, 0o600)?;
        temp.write_all(bytes)?;
        temp.sync_all()?;
        drop(temp);
        fs::rename(&self.temp, &self.path)?;
        sync_dir(&self.dir)
    }

    /// Says once per process that a file was read as empty, and why.
    fn warn(&self, damage: &Damage) {
        if !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                file = %self.path.display(),
                "the account's state file was read as empty because {damage}; it is written \
                 anew. Tokens kept in it are created again (one of the 10 creations per 30 \
                 minutes each), and requests its rate windows counted are forgotten"
            );
        }
    }
}

/// Options that create a file readable and writable by the user alone.
fn private_options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
}

/// Makes `dir` (and its missing parents) for the user alone (0700). An existing directory is
/// tightened to 0700 only when it is tcbatch's own (`own`): a state directory given by the
/// user is left as it is, and the files in it are 0600 either way.
fn make_private_dir(dir: &Path, own: bool) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)?;
    if own {
        restrict(&File::open(dir)?, 0o700)?;
    }
    Ok(())
}

/// Sets `file`'s permission bits to `mode` where they allow more.
#[cfg(unix)]
fn restrict(file: &File, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let permissions = file.metadata()?.permissions();
    if permissions.mode() & 0o777 != mode {
        file.set_permissions(fs::Permissions::from_mode(mode))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn restrict(_file: &File, _mode: u32) -> io::Result<()> {
    Ok(())
}

/// Makes a rename in `dir` durable.
#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}
