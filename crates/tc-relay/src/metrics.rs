//! The relay's Prometheus metrics, through the `metrics` crates. Each relay keeps its own
//! recorder (no process-wide one), so two relays in one process, as in tests, count apart.

use crate::health::{Reason, Snapshot};
use crate::status::RecordState;
use metrics::{counter, gauge, histogram, with_local_recorder};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusRecorder};
use std::time::Duration;

/// How a post was answered, for `tc_relay_requests_total{outcome}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestOutcome {
    Accepted,
    Replayed,
    Invalid,
    Unreadable,
    NotDeclaredJson,
    Unauthorized,
    Overloaded,
    Unavailable,
}

impl RequestOutcome {
    fn as_str(self) -> &'static str {
        match self {
            RequestOutcome::Accepted => "accepted",
            RequestOutcome::Replayed => "replayed",
            RequestOutcome::Invalid => "invalid",
            RequestOutcome::Unreadable => "unreadable",
            RequestOutcome::NotDeclaredJson => "unsupported_media_type",
            RequestOutcome::Unauthorized => "unauthorized",
            RequestOutcome::Overloaded => "overloaded",
            RequestOutcome::Unavailable => "unavailable",
        }
    }
}

pub(crate) struct Metrics {
    recorder: PrometheusRecorder,
}

/// Seconds, the buckets of the acknowledgement-to-send histogram: around the default linger.
const ACK_TO_SEND_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.1, 1.25, 1.5, 2.0, 5.0, 10.0, 30.0, 60.0,
];

impl Metrics {
    pub fn new() -> Metrics {
        let recorder = PrometheusBuilder::new()
            .set_buckets(ACK_TO_SEND_BUCKETS)
            .map(PrometheusBuilder::build_recorder)
            .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
        Metrics { recorder }
    }

    pub fn queue_depth(&self, depth: usize) {
        with_local_recorder(&self.recorder, || {
            gauge!("tc_relay_queue_depth").set(depth as f64)
        });
    }

    pub fn request(&self, outcome: RequestOutcome) {
        with_local_recorder(&self.recorder, || {
            counter!("tc_relay_requests_total", "outcome" => outcome.as_str()).increment(1)
        });
    }

    /// `records` reached `status` (acknowledged, accepted, rejected, failed, unknown, requeued).
    pub fn records(&self, status: &'static str, records: usize) {
        with_local_recorder(&self.recorder, || {
            counter!("tc_relay_records_total", "status" => status).increment(records as u64)
        });
    }

    /// Records in the store per state, as of now.
    pub fn records_by_state(&self, counts: &[(RecordState, u64)]) {
        with_local_recorder(&self.recorder, || {
            for state in RecordState::ALL {
                let n = counts.iter().find(|(s, _)| *s == state).map_or(0, |c| c.1);
                gauge!("tc_relay_stored_records", "state" => state.as_str()).set(n as f64);
            }
        });
    }

    pub fn ack_to_send(&self, waited: Duration) {
        with_local_recorder(&self.recorder, || {
            histogram!("tc_relay_ack_to_send_seconds").record(waited.as_secs_f64())
        });
    }

    pub fn commit(&self, took: Duration, posts: usize) {
        with_local_recorder(&self.recorder, || {
            histogram!("tc_relay_group_commit_seconds").record(took.as_secs_f64());
            counter!("tc_relay_group_commits_total").increment(1);
            counter!("tc_relay_committed_posts_total").increment(posts as u64);
        });
    }

    /// One error of the relay, by its reason: `tc_relay_errors_total{reason}`.
    pub fn error(&self, reason: Reason) {
        with_local_recorder(&self.recorder, || {
            counter!("tc_relay_errors_total", "reason" => reason.as_str()).increment(1)
        });
    }

    /// Whether sending is paused (`tc_relay_paused`, 0 or 1), and the reason of the latest
    /// error (`tc_relay_last_error{reason}`: 1 for it, 0 for every other reason, so every
    /// reason is always shown).
    pub fn health(&self, paused: Option<Reason>, health: &Snapshot) {
        with_local_recorder(&self.recorder, || {
            gauge!("tc_relay_paused").set(if paused.is_some() { 1.0 } else { 0.0 });
            for reason in Reason::ALL {
                let last = if health.last == Some(reason) {
                    1.0
                } else {
                    0.0
                };
                gauge!("tc_relay_last_error", "reason" => reason.as_str()).set(last);
            }
        });
    }

    /// The text exposition, with the API client's counters (429s, tokens) as of now.
    pub fn render(&self, client: &tc_http::Stats) -> String {
        with_local_recorder(&self.recorder, || {
            gauge!("tc_relay_api_rate_limited").set(client.rate_limited as f64);
            gauge!("tc_relay_api_tokens_created").set(client.tokens_created as f64);
            gauge!("tc_relay_api_requests").set(client.requests as f64);
            gauge!("tc_relay_api_batches_created").set(client.batches_created as f64);
        });
        self.recorder.handle().render()
    }
}
