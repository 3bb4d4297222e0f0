//! The operator's view of a push: a progress line on a terminal, nothing when stderr is a file.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

pub struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
    /// Requests per second all tokens together may send: the pace the ETA assumes.
    requests_per_second: f64,
    estimated_rows: Option<u64>,
    read: AtomicU64,
    valid: AtomicU64,
    invalid: AtomicU64,
    batches: AtomicU64,
    accepted: AtomicU64,
}

impl Progress {
    pub fn start(requests_per_second: f64, estimated_rows: Option<u64>) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(estimated_rows.unwrap_or(0));
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress {
            bar,
            started: Instant::now(),
            requests_per_second,
            estimated_rows,
            read: AtomicU64::new(0),
            valid: AtomicU64::new(0),
            invalid: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
        }
    }

    pub fn read(&self) {
        self.read.fetch_add(1, Relaxed);
    }
    pub fn valid(&self) {
        self.valid.fetch_add(1, Relaxed);
        self.redraw_every(1024);
    }
    pub fn invalid(&self) {
        self.invalid.fetch_add(1, Relaxed);
        self.redraw_every(1024);
    }
    pub fn expired(&self, n: u64) {
        self.invalid.fetch_add(n, Relaxed);
    }
    pub fn sent(&self, records: u64, accepted: bool) {
        self.batches.fetch_add(1, Relaxed);
        if accepted {
            self.accepted.fetch_add(records, Relaxed);
        }
        self.redraw_every(1);
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            self.redraw();
            bar.finish();
        }
    }

    fn redraw_every(&self, n: u64) {
        if self.bar.is_some() && self.read.load(Relaxed).is_multiple_of(n) {
            self.redraw();
        }
    }

    fn redraw(&self) {
        let Some(bar) = &self.bar else { return };
        let (read, valid, invalid) = (
            self.read.load(Relaxed),
            self.valid.load(Relaxed),
            self.invalid.load(Relaxed),
        );
        let batches = self.batches.load(Relaxed);
        let minutes = self.started.elapsed().as_secs_f64() / 60.0;
        let per_minute = if minutes > 0.0 {
            batches as f64 / minutes
        } else {
            0.0
        };
        // What is left, at the rate limit: the API, not this machine, sets the pace.
        let eta = self.estimated_rows.map(|total| {
            let valid_share = if read > 0 {
                valid as f64 / read as f64
            } else {
                1.0
            };
            let left_rows = total.saturating_sub(read) as f64 * valid_share
                + (valid as f64 - self.accepted.load(Relaxed) as f64).max(0.0);
            let left_batches = (left_rows / 500.0).ceil();
            left_batches / self.requests_per_second
        });
        bar.set_position(read);
        bar.set_message(format!(
            "read {read}, valid {valid}, invalid {invalid}, batches sent {batches}, \
             {per_minute:.0} req/min{}",
            eta.map(|s| format!(", ETA {}:{:02}", (s as u64) / 60, (s as u64) % 60))
                .unwrap_or_default()
        ));
    }
}
