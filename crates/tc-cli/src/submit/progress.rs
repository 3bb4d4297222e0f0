//! The operator's view of a push, from the engine's events: a progress line on a terminal,
//! nothing when stderr is a file; with `--events`, every event as a JSON line on stderr.

use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tc_push::{Event, Observer, OutcomeStatus};

/// Cheap to clone: clones share one display.
#[derive(Clone)]
pub struct Progress {
    inner: Arc<Inner>,
}

struct Inner {
    bar: Option<ProgressBar>,
    print_events: bool,
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
    pub fn start(
        requests_per_second: f64,
        estimated_rows: Option<u64>,
        print_events: bool,
    ) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::new(estimated_rows.unwrap_or(0));
            bar.set_style(
                ProgressStyle::with_template("{spinner} [{elapsed_precise}] {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        let inner = Inner {
            bar,
            print_events,
            started: Instant::now(),
            requests_per_second,
            estimated_rows,
            read: AtomicU64::new(0),
            valid: AtomicU64::new(0),
            invalid: AtomicU64::new(0),
            batches: AtomicU64::new(0),
            accepted: AtomicU64::new(0),
        };
        Progress {
            inner: Arc::new(inner),
        }
    }

    pub fn finish(&self) {
        if let Some(bar) = &self.inner.bar {
            self.inner.redraw();
            bar.finish();
        }
    }
}

impl Observer for Progress {
    fn on_event(&self, event: &Event) {
        let inner = &self.inner;
        if inner.print_events && !matches!(event, Event::Valid { .. }) {
            if let Ok(line) = serde_json::to_string(event) {
                eprintln!("{line}");
            }
        }
        match event {
            Event::Valid { .. } => {
                inner.read.fetch_add(1, Relaxed);
                inner.valid.fetch_add(1, Relaxed);
                inner.redraw_every(1024);
            }
            Event::Rejected { .. } => {
                inner.read.fetch_add(1, Relaxed);
                inner.invalid.fetch_add(1, Relaxed);
                inner.redraw_every(1024);
            }
            Event::Expired { .. } => {
                inner.invalid.fetch_add(1, Relaxed);
            }
            Event::BatchAnswered { rows, status, .. } => {
                inner.batches.fetch_add(1, Relaxed);
                if *status == OutcomeStatus::Accepted {
                    inner.accepted.fetch_add(*rows as u64, Relaxed);
                }
                inner.redraw();
            }
            _ => {}
        }
    }
}

impl Inner {
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
        bar.set_position(read);
        bar.set_message(format!(
            "read {read}, valid {valid}, invalid {invalid}, batches sent {batches}, \
             {per_minute:.0} req/min{}",
            self.eta_seconds(read, valid)
                .map(|s| format!(", ETA {}:{:02}", (s as u64) / 60, (s as u64) % 60))
                .unwrap_or_default()
        ));
    }

    /// What is left, at the rate limit: the API, not this machine, sets the pace.
    fn eta_seconds(&self, read: u64, valid: u64) -> Option<f64> {
        self.estimated_rows.map(|total| {
            let valid_share = if read > 0 {
                valid as f64 / read as f64
            } else {
                1.0
            };
            let left_rows = total.saturating_sub(read) as f64 * valid_share
                + (valid as f64 - self.accepted.load(Relaxed) as f64).max(0.0);
            let left_batches = (left_rows / 500.0).ceil();
            left_batches / self.requests_per_second
        })
    }
}
