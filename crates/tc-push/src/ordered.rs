//! Work on every core, answers in input order: the pipeline `tcbatch validate` and the push
//! validate with.
//!
//! The calling thread reads the input and cuts it into chunks of [`CHUNK_ROWS`] items; `jobs`
//! worker threads map each chunk, each with its own state (a validator's caller memo needs no
//! lock that way), and the calling thread maps a chunk itself whenever every worker is busy and
//! the queue is full; one consumer thread takes the answers back in input order. Channels are
//! bounded and every chunk takes a slot until the consumer has taken it, so at most a few chunks
//! per worker are ever held, whatever the size of the input: memory stays flat, and a slow
//! consumer (a push at the rate limit) makes the reading wait.

use std::collections::BTreeMap;
use std::fmt;
use std::num::NonZeroUsize;
use std::panic::{self, AssertUnwindSafe};
use std::str::FromStr;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

/// Items per chunk: enough that handing a chunk between threads costs little next to the work
/// on it, few enough that the first answers come after about a millisecond of reading.
pub const CHUNK_ROWS: usize = 1024;

/// How many worker threads map the chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Jobs(NonZeroUsize);

impl Jobs {
    /// One worker, next to the reading and the consuming thread.
    pub const ONE: Jobs = Jobs(NonZeroUsize::MIN);

    pub fn new(workers: NonZeroUsize) -> Jobs {
        Jobs(workers)
    }

    /// As many workers as the machine has cores for this process (one when that is unknown).
    pub fn all_cores() -> Jobs {
        Jobs(std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN))
    }

    /// A worker for every core but the one the reading thread keeps busy, and at least one.
    /// Reading and parsing a CSV costs about as much as checking what it holds, so a worker
    /// more than that only takes turns with the reader: on two cores, one worker validated
    /// 1,000,000 rows in 0.76-0.79 s where two took 0.99-1.04 s (docs/performance.md).
    pub fn beside_the_reader() -> Jobs {
        let cores = std::thread::available_parallelism().map_or(1, NonZeroUsize::get);
        Jobs(NonZeroUsize::new(cores - 1).unwrap_or(NonZeroUsize::MIN))
    }

    pub fn get(self) -> usize {
        self.0.get()
    }
}

impl Default for Jobs {
    fn default() -> Jobs {
        Jobs::beside_the_reader()
    }
}

impl fmt::Display for Jobs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Why a text is not a number of jobs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobsError {
    text: String,
}

impl fmt::Display for JobsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not a number of jobs; give a whole number of at least 1",
            self.text.escape_debug()
        )
    }
}

impl std::error::Error for JobsError {}

impl FromStr for Jobs {
    type Err = JobsError;

    /// ```
    /// use tc_push::ordered::Jobs;
    ///
    /// assert_eq!("4".parse::<Jobs>().map(Jobs::get), Ok(4));
    /// assert!("0".parse::<Jobs>().is_err());
    /// ```
    fn from_str(text: &str) -> Result<Jobs, JobsError> {
        text.trim()
            .parse::<NonZeroUsize>()
            .map(Jobs)
            .map_err(|_| JobsError {
                text: text.to_owned(),
            })
    }
}

/// A chunk's answers, or the panic of the worker that mapped it.
type Answer<U> = (u64, std::thread::Result<Vec<U>>);

/// Maps every item of `input` with a function made by `worker` (once per worker thread) on
/// `jobs` threads, and hands the answers, in input order, to `consume` on a thread of its own.
/// Returns what `consume` returns. When `consume` returns before taking every answer, the
/// reading stops soon after: a push that stops reads no further.
///
/// A panic in a worker or in `consume` is carried to the caller once every thread has ended.
///
/// ```
/// use tc_push::ordered::{map_ordered, Jobs};
///
/// let squares: Vec<u64> = map_ordered(1..=5000u64, Jobs::all_cores(), || |n| n * n, |answers| {
///     answers.collect()
/// });
/// assert_eq!(squares, (1..=5000u64).map(|n| n * n).collect::<Vec<_>>());
/// ```
pub fn map_ordered<I, T, U, W, F, C, R>(input: I, jobs: Jobs, worker: W, consume: C) -> R
where
    I: IntoIterator<Item = T>,
    T: Send,
    U: Send,
    W: Fn() -> F + Sync,
    F: FnMut(T) -> U,
    C: FnOnce(&mut Ordered<U>) -> R + Send,
    R: Send,
{
    // Chunks read but not yet taken by the consumer: queued, being mapped, or answered early.
    let slots = 2 * jobs.get() + 2;
    std::thread::scope(|scope| {
        let (chunks_tx, chunks_rx) = mpsc::sync_channel::<(u64, Vec<T>)>(jobs.get());
        // Owned by the workers only: when the last one ends, reading stops instead of waiting.
        let chunks_rx = Arc::new(Mutex::new(chunks_rx));
        let (answers_tx, answers_rx) = mpsc::sync_channel::<Answer<U>>(slots);
        let (slots_tx, slots_rx) = mpsc::sync_channel::<()>(slots);
        for _ in 0..slots {
            // Cannot fail: the channel has room for every slot and its receiver is here.
            let _ = slots_tx.send(());
        }
        for _ in 0..jobs.get() {
            let chunks_rx = Arc::clone(&chunks_rx);
            let answers_tx = answers_tx.clone();
            let worker = &worker;
            scope.spawn(move || work(&chunks_rx, &answers_tx, worker()));
        }
        drop(chunks_rx);
        let consumer = scope.spawn(move || {
            let mut ordered = Ordered {
                answers: answers_rx,
                slots: slots_tx,
                early: BTreeMap::new(),
                next: 0,
                current: Vec::new().into_iter(),
            };
            consume(&mut ordered)
        });
        read(input, &chunks_tx, (answers_tx, &slots_rx), &worker);
        drop(chunks_tx);
        consumer
            .join()
            .unwrap_or_else(|panicked| panic::resume_unwind(panicked))
    })
}

/// Cuts `input` into chunks; stops when the consumer has ended or every worker has.
///
/// When every worker is busy and the queue is full, the reading thread maps the chunk itself
/// instead of waiting: on a machine with fewer cores than threads, the checking costs more than
/// the reading, and a reader that only waited would leave its core idle half the time.
fn read<T, U, F: FnMut(T) -> U>(
    input: impl IntoIterator<Item = T>,
    chunks: &SyncSender<(u64, Vec<T>)>,
    (answers, slots): (SyncSender<Answer<U>>, &Receiver<()>),
    worker: impl Fn() -> F,
) {
    // Made the first time the reader lends a hand: most runs never need it.
    let mut own_map = None;
    let mut seq = 0u64;
    let mut chunk = Vec::with_capacity(CHUNK_ROWS);
    let mut send = |seq: u64, chunk: Vec<T>| {
        if slots.recv().is_err() {
            return false;
        }
        let chunk = match chunks.try_send((seq, chunk)) {
            Ok(()) => return true,
            Err(TrySendError::Disconnected(_)) => return false,
            Err(TrySendError::Full((_, chunk))) => chunk,
        };
        let mapped = map_chunk(chunk, own_map.get_or_insert_with(&worker));
        let panicked = mapped.is_err();
        answers.send((seq, mapped)).is_ok() && !panicked
    };
    for item in input {
        chunk.push(item);
        if chunk.len() == CHUNK_ROWS {
            let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK_ROWS));
            if !send(seq, full) {
                return;
            }
            seq += 1;
        }
    }
    if !chunk.is_empty() {
        send(seq, chunk);
    }
}

/// Maps one chunk, catching a panic so that it reaches the caller of [`map_ordered`] once every
/// thread has ended.
fn map_chunk<T, U>(chunk: Vec<T>, map: &mut impl FnMut(T) -> U) -> std::thread::Result<Vec<U>> {
    panic::catch_unwind(AssertUnwindSafe(|| chunk.into_iter().map(map).collect()))
}

fn work<T, U>(
    chunks: &Mutex<Receiver<(u64, Vec<T>)>>,
    answers: &SyncSender<Answer<U>>,
    mut map: impl FnMut(T) -> U,
) {
    loop {
        let next = chunks
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .recv();
        let Ok((seq, chunk)) = next else { return };
        let mapped = map_chunk(chunk, &mut map);
        let panicked = mapped.is_err();
        if answers.send((seq, mapped)).is_err() || panicked {
            return;
        }
    }
}

/// The answers of [`map_ordered`], in input order.
pub struct Ordered<U> {
    answers: Receiver<Answer<U>>,
    slots: SyncSender<()>,
    /// Chunks answered before an earlier one, by sequence number.
    early: BTreeMap<u64, Vec<U>>,
    next: u64,
    current: std::vec::IntoIter<U>,
}

impl<U> Ordered<U> {
    /// The next chunk in order, waiting for it; `None` once every chunk has been taken.
    fn next_chunk(&mut self) -> Option<Vec<U>> {
        let chunk = match self.early.remove(&self.next) {
            Some(chunk) => chunk,
            None => loop {
                let (seq, answer) = match self.answers.recv() {
                    Ok(answer) => answer,
                    Err(_) => {
                        // Every worker has ended: every chunk read was answered.
                        assert!(self.early.is_empty(), "a chunk of the input was lost");
                        return None;
                    }
                };
                let chunk = answer.unwrap_or_else(|panicked| panic::resume_unwind(panicked));
                if seq == self.next {
                    break chunk;
                }
                self.early.insert(seq, chunk);
            },
        };
        self.next += 1;
        // The chunk is the consumer's now: the reader may read another. Never blocks, as each
        // chunk took a slot; fails only once reading is over.
        let _ = self.slots.try_send(());
        Some(chunk)
    }
}

impl<U> Iterator for Ordered<U> {
    type Item = U;

    fn next(&mut self) -> Option<U> {
        loop {
            if let Some(item) = self.current.next() {
                return Some(item);
            }
            self.current = self.next_chunk()?.into_iter();
        }
    }
}

impl<U> fmt::Debug for Ordered<U> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ordered")
            .field("next_chunk", &self.next)
            .field("early_chunks", &self.early.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    fn jobs(n: usize) -> Jobs {
        Jobs::new(NonZeroUsize::new(n).unwrap())
    }

    #[test]
    fn answers_come_in_input_order_for_any_number_of_jobs() {
        let rows = 10 * CHUNK_ROWS + 7;
        for n in [1, 2, 3, 8] {
            // Uneven work, so chunks finish out of order.
            let got: Vec<usize> = map_ordered(
                0..rows,
                jobs(n),
                || {
                    |i: usize| {
                        if (i / CHUNK_ROWS).is_multiple_of(3) {
                            std::hint::black_box((0..200).sum::<usize>());
                        }
                        i
                    }
                },
                |answers| answers.collect(),
            );
            assert_eq!(got, (0..rows).collect::<Vec<_>>(), "{n} jobs");
        }
    }

    #[test]
    fn the_reading_thread_maps_chunks_while_every_worker_is_busy() {
        let reader = std::thread::current().id();
        let (helped_tx, helped_rx) = mpsc::channel::<()>();
        let helped_rx = Mutex::new(helped_rx);
        let rows = 8 * CHUNK_ROWS;
        let mapped_by: Vec<(usize, bool)> = map_ordered(
            0..rows,
            jobs(1),
            || {
                let helped_tx = helped_tx.clone();
                let helped_rx = &helped_rx;
                let mut first = true;
                move |i: usize| {
                    let on_reader = std::thread::current().id() == reader;
                    if on_reader {
                        let _ = helped_tx.send(());
                    } else if std::mem::take(&mut first) {
                        // The worker holds its first chunk until the reader has mapped one.
                        let waited = helped_rx
                            .lock()
                            .unwrap()
                            .recv_timeout(Duration::from_secs(60));
                        assert!(waited.is_ok(), "the reader never mapped a chunk itself");
                    }
                    (i, on_reader)
                }
            },
            |answers| answers.collect(),
        );
        let order: Vec<usize> = mapped_by.iter().map(|&(i, _)| i).collect();
        assert_eq!(order, (0..rows).collect::<Vec<_>>());
        let by_reader = mapped_by
            .iter()
            .filter(|&&(_, on_reader)| on_reader)
            .count();
        assert!(
            by_reader >= CHUNK_ROWS,
            "{by_reader} items mapped by the reader"
        );
    }

    #[test]
    fn an_empty_input_gives_no_answer() {
        let got: Vec<u8> = map_ordered(Vec::<u8>::new(), jobs(2), || |b| b, |a| a.collect());
        assert!(got.is_empty());
    }

    #[test]
    fn a_consumer_that_stops_early_stops_the_reading() {
        let read = AtomicUsize::new(0);
        let input = (0..).inspect(|_| {
            read.fetch_add(1, Ordering::Relaxed);
        });
        let first: Vec<u64> = map_ordered(input, jobs(2), || |i: u64| i, |a| a.take(3).collect());
        assert_eq!(first, [0, 1, 2]);
        // The endless input stopped after the chunks the slots allow, and a little more.
        assert!(read.load(Ordering::Relaxed) <= (2 * 2 + 2 + 3) * CHUNK_ROWS);
    }

    #[test]
    fn a_workers_panic_reaches_the_caller() {
        let result = panic::catch_unwind(|| {
            map_ordered(
                0..5 * CHUNK_ROWS,
                jobs(2),
                || {
                    |i: usize| {
                        assert!(i != 3 * CHUNK_ROWS + 1, "worker failed on purpose");
                        i
                    }
                },
                |answers| answers.count(),
            )
        });
        assert!(result.is_err());
    }

    #[test]
    fn jobs_are_read_from_text() {
        assert_eq!("3".parse::<Jobs>(), Ok(jobs(3)));
        for bad in ["0", "-1", "two", ""] {
            let err = bad.parse::<Jobs>().unwrap_err();
            assert!(err.to_string().contains("at least 1"), "{err}");
        }
    }
}
