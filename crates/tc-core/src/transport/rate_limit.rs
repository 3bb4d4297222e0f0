//! Exact sliding-window limits: never more than `limit` events in any `window_ms`.
//!
//! A token bucket with burst 60 admits a full burst plus a minute's refill, about 119 requests in
//! the first minute, and the API answers the surplus with 429. This keeps the times of the last
//! `limit` events instead, so the next event is allowed exactly when the oldest of them leaves the
//! window, and a saturated sender gets exactly `limit` per window, no more and no less.

use super::MonotonicMillis;
use std::collections::VecDeque;

/// A limit of `limit` events per `window_ms` milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowLimit {
    /// The most events allowed in any window; [`WindowLimit::new`] makes it at least 1.
    pub limit: u32,
    /// The window's length in milliseconds; [`WindowLimit::new`] makes it at least 1.
    pub window_ms: i64,
}

impl WindowLimit {
    /// The API's rate limit: 60 requests per minute per token.
    pub const REQUESTS_PER_TOKEN: WindowLimit = WindowLimit {
        limit: 60,
        window_ms: 60_000,
    };
    /// The API's token-creation limit: 10 tokens per 30 minutes per account.
    pub const TOKEN_CREATIONS: WindowLimit = WindowLimit {
        limit: 10,
        window_ms: 30 * 60_000,
    };

    /// A limit with at least one event and a window of at least one millisecond, so a bad
    /// setting degrades to "very slow" rather than to a panic or to no limit at all.
    pub fn new(limit: u32, window_ms: i64) -> WindowLimit {
        WindowLimit {
            limit: limit.max(1),
            window_ms: window_ms.max(1),
        }
    }
}

/// The times of the most recent events, enough to enforce a [`WindowLimit`] exactly.
///
/// Windows are half-open: events at `t` and `t + window_ms` are in different windows, so with
/// limit 60 the 61st event may happen exactly `window_ms` after the first.
///
/// Twice the limit of events are kept, not just the limit: places reserved ahead of time sit
/// at the back, and an answer that moves an earlier place later must still find its company
/// when a reserved send checks its place again ([`SlidingWindow::earliest_looking_back`]).
#[derive(Debug, Clone)]
pub struct SlidingWindow {
    limit: WindowLimit,
    /// The last `2 * limit` event times, oldest first.
    recent: VecDeque<MonotonicMillis>,
}

impl SlidingWindow {
    /// An empty window enforcing `limit`, first passed through [`WindowLimit::new`] so a zero
    /// limit or window still limits.
    pub fn new(limit: WindowLimit) -> SlidingWindow {
        let limit = WindowLimit::new(limit.limit, limit.window_ms);
        SlidingWindow {
            limit,
            recent: VecDeque::with_capacity(limit.limit as usize),
        }
    }

    /// The limit enforced, after the clamping of [`SlidingWindow::new`].
    pub fn limit(&self) -> WindowLimit {
        self.limit
    }

    /// `now` if an event is allowed now, else the instant the oldest of the last `limit` events
    /// leaves the window.
    pub fn earliest(&self, now: MonotonicMillis) -> MonotonicMillis {
        let limit = self.limit.limit as usize;
        if self.recent.len() < limit {
            return now;
        }
        match self.recent.get(self.recent.len() - limit) {
            Some(oldest) => now.max(oldest.plus(self.limit.window_ms)),
            None => now,
        }
    }

    /// The first instant from `now` at which fewer than `limit` of the events at or before it
    /// lie in the window ending there. Events after `now` are not counted: a send checking its
    /// reserved place when it is due looks back only, and every later send checks its own place
    /// when its turn comes, so the sends that leave never exceed the limit.
    pub fn earliest_looking_back(&self, now: MonotonicMillis) -> MonotonicMillis {
        let limit = self.limit.limit as usize;
        let mut at = now;
        loop {
            // The events kept are in time order: those in `(at - window, at]` are one run.
            let start = at.plus(-self.limit.window_ms);
            let first = self.recent.partition_point(|t| *t <= start);
            let end = self.recent.partition_point(|t| *t <= at);
            if end - first < limit {
                return at;
            }
            // The window must slide past enough of its oldest events to make room for one.
            at = self.recent[end - limit].plus(self.limit.window_ms);
        }
    }

    /// Records an event. Events should be recorded at or after [`SlidingWindow::earliest`];
    /// one recorded out of order is still placed in time order so later answers stay exact.
    pub fn record(&mut self, at: MonotonicMillis) {
        let position = self.recent.partition_point(|t| *t <= at);
        self.recent.insert(position, at);
        while self.recent.len() > 2 * self.limit.limit as usize {
            self.recent.pop_front();
        }
    }

    /// Takes back one event recorded at `at` that did not happen after all (a request that never
    /// left the machine). Does nothing if no such event is still held.
    pub fn forget(&mut self, at: MonotonicMillis) {
        if let Some(position) = self.recent.iter().rposition(|t| *t == at) {
            self.recent.remove(position);
        }
    }

    /// How many recorded events lie in the window that ends at `now` (`(now - window, now]`).
    pub fn in_window(&self, now: MonotonicMillis) -> usize {
        let start = now.plus(-self.limit.window_ms);
        self.recent
            .iter()
            .filter(|t| **t > start && **t <= now)
            .count()
    }
}

/// The request limiter of one token: an exact [`SlidingWindow`] of sends, plus any block the
/// server asked for with a 429 `Retry-After`.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    sends: SlidingWindow,
    blocked_until: Option<MonotonicMillis>,
}

impl RateLimiter {
    /// A limiter with no sends recorded and no block, enforcing `limit` per token.
    pub fn new(limit: WindowLimit) -> RateLimiter {
        RateLimiter {
            sends: SlidingWindow::new(limit),
            blocked_until: None,
        }
    }

    /// The API's 60 requests per minute.
    pub fn per_token() -> RateLimiter {
        RateLimiter::new(WindowLimit::REQUESTS_PER_TOKEN)
    }

    /// The sends-per-window limit enforced.
    pub fn limit(&self) -> WindowLimit {
        self.sends.limit()
    }

    /// `now` if a send is allowed now, else the first instant one is.
    pub fn earliest_send(&self, now: MonotonicMillis) -> MonotonicMillis {
        let by_window = self.sends.earliest(now);
        match self.blocked_until {
            Some(until) => by_window.max(until),
            None => by_window,
        }
    }

    /// As [`RateLimiter::earliest_send`], counting only the sends at or before each instant
    /// considered: for a reserved send checking its place when it is due (see
    /// [`SlidingWindow::earliest_looking_back`]).
    pub fn earliest_send_looking_back(&self, now: MonotonicMillis) -> MonotonicMillis {
        let by_window = self.sends.earliest_looking_back(now);
        match self.blocked_until {
            Some(until) => by_window.max(until),
            None => by_window,
        }
    }

    /// Records a send (or a reservation of one) at `at`.
    pub fn record_send(&mut self, at: MonotonicMillis) {
        self.sends.record(at);
    }

    /// The request reserved at `reserved_at` got its answer (or failed) at `finished_at`. The
    /// server counted it on arrival, somewhere between the two; the client cannot see when. The
    /// send is moved to `finished_at`, the latest it can have arrived, so the request that
    /// reuses its place in the window leaves a full window after the server saw it, however
    /// long it sat in queues on the way. This costs one request's latency per window, and makes
    /// a 429 from latency jitter impossible.
    pub fn send_finished(&mut self, reserved_at: MonotonicMillis, finished_at: MonotonicMillis) {
        self.sends.forget(reserved_at);
        self.sends.record(finished_at.max(reserved_at));
    }

    /// Replaces the record of sends with `sends` (the window as every process sharing the
    /// token recorded it); a 429's block is kept.
    pub fn replace_sends(&mut self, sends: impl IntoIterator<Item = MonotonicMillis>) {
        self.sends = SlidingWindow::new(self.sends.limit());
        for at in sends {
            self.sends.record(at);
        }
    }

    /// Takes back a send reserved at `at` that never left the machine.
    pub fn forget_send(&mut self, at: MonotonicMillis) {
        self.sends.forget(at);
    }

    /// The server answered 429 with `Retry-After`: send nothing on this token before `until`.
    /// A later, shorter block never shortens an earlier, longer one.
    pub fn block_until(&mut self, until: MonotonicMillis) {
        self.blocked_until = Some(self.blocked_until.map_or(until, |b| b.max(until)));
    }

    /// The latest instant a 429 asked this token to wait for, if any; kept after it passes,
    /// when it no longer holds anything back.
    pub fn blocked_until(&self) -> Option<MonotonicMillis> {
        self.blocked_until
    }

    /// Sends recorded in the window ending at `now`.
    pub fn sends_in_window(&self, now: MonotonicMillis) -> usize {
        self.sends.in_window(now)
    }
}

/// The account-wide limit on token creations (10 per 30 minutes), counted on every creation
/// request sent, successful or not, because the server may have counted a request whose answer
/// was lost.
#[derive(Debug, Clone)]
pub struct CreationBudget {
    creations: SlidingWindow,
    blocked_until: Option<MonotonicMillis>,
}

impl CreationBudget {
    /// A budget with no creations recorded and no hold, enforcing `limit` on the account.
    pub fn new(limit: WindowLimit) -> CreationBudget {
        CreationBudget {
            creations: SlidingWindow::new(limit),
            blocked_until: None,
        }
    }

    /// The creations-per-window limit enforced.
    pub fn limit(&self) -> WindowLimit {
        self.creations.limit()
    }

    /// `now` if a creation is allowed now, else the first instant one is.
    pub fn earliest_creation(&self, now: MonotonicMillis) -> MonotonicMillis {
        let by_window = self.creations.earliest(now);
        self.blocked_until.map_or(by_window, |b| by_window.max(b))
    }

    /// Charges a creation request sent at `at`, whatever its outcome; see
    /// [`CreationBudget::refund`] for one that never reached the server.
    pub fn record_creation(&mut self, at: MonotonicMillis) {
        self.creations.record(at);
    }

    /// A creation request recorded at `at` never reached the server (connection refused): it
    /// does not count against the budget.
    pub fn refund(&mut self, at: MonotonicMillis) {
        self.creations.forget(at);
    }

    /// Create nothing before `until`: the token endpoint answered 429 (someone else may share
    /// the account) or is failing and needs a rest.
    pub fn block_until(&mut self, until: MonotonicMillis) {
        self.blocked_until = Some(self.blocked_until.map_or(until, |b| b.max(until)));
    }

    /// Creations charged in the window ending at `now` (`(now - window, now]`).
    pub fn creations_in_window(&self, now: MonotonicMillis) -> usize {
        self.creations.in_window(now)
    }
}

impl Default for CreationBudget {
    fn default() -> Self {
        CreationBudget::new(WindowLimit::TOKEN_CREATIONS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slow_answer_moves_its_send_to_when_it_ended() {
        let mut limiter = RateLimiter::new(WindowLimit::new(2, 1_000));
        limiter.record_send(MonotonicMillis(0));
        limiter.record_send(MonotonicMillis(0));
        // The first request sat 300 ms in queues: the server may have seen it as late as 300.
        limiter.send_finished(MonotonicMillis(0), MonotonicMillis(300));
        limiter.send_finished(MonotonicMillis(0), MonotonicMillis(5));
        assert_eq!(
            limiter.earliest_send(MonotonicMillis(10)),
            MonotonicMillis(1_005)
        );
        limiter.record_send(MonotonicMillis(1_005));
        assert_eq!(
            limiter.earliest_send(MonotonicMillis(1_005)),
            MonotonicMillis(1_300)
        );
        // An answer can never move a send earlier than its reservation.
        limiter.send_finished(MonotonicMillis(1_005), MonotonicMillis(900));
        assert_eq!(limiter.sends_in_window(MonotonicMillis(1_005)), 2);
    }

    #[test]
    fn sixty_first_send_waits_for_the_oldest_to_leave() {
        let mut limiter = RateLimiter::per_token();
        for i in 0..60 {
            let now = MonotonicMillis(i * 10);
            assert_eq!(limiter.earliest_send(now), now);
            limiter.record_send(now);
        }
        assert_eq!(
            limiter.earliest_send(MonotonicMillis(600)),
            MonotonicMillis(60_000)
        );
        limiter.record_send(MonotonicMillis(60_000));
        assert_eq!(
            limiter.earliest_send(MonotonicMillis(60_000)),
            MonotonicMillis(60_010)
        );
        assert_eq!(limiter.sends_in_window(MonotonicMillis(60_000)), 60);
    }

    #[test]
    fn not_a_token_bucket_no_double_burst() {
        // A burst-60 bucket would admit 60 at t=0 and ~59 more before t=60s. The window admits
        // exactly 60 in [0, 60s).
        let mut limiter = RateLimiter::per_token();
        let mut now = MonotonicMillis(0);
        let mut sent = 0;
        while now < MonotonicMillis(60_000) {
            now = limiter.earliest_send(now);
            if now >= MonotonicMillis(60_000) {
                break;
            }
            limiter.record_send(now);
            sent += 1;
        }
        assert_eq!(sent, 60);
    }

    #[test]
    fn retry_after_blocks_and_is_never_shortened() {
        let mut limiter = RateLimiter::per_token();
        limiter.block_until(MonotonicMillis(5_000));
        limiter.block_until(MonotonicMillis(2_000));
        assert_eq!(
            limiter.earliest_send(MonotonicMillis(0)),
            MonotonicMillis(5_000)
        );
        assert_eq!(
            limiter.earliest_send(MonotonicMillis(7_000)),
            MonotonicMillis(7_000)
        );
    }

    #[test]
    fn out_of_order_records_are_kept_in_time_order() {
        let mut window = SlidingWindow::new(WindowLimit::new(2, 100));
        window.record(MonotonicMillis(50));
        window.record(MonotonicMillis(10));
        assert_eq!(window.earliest(MonotonicMillis(60)), MonotonicMillis(110));
        window.record(MonotonicMillis(5));
        assert_eq!(
            window.earliest(MonotonicMillis(60)),
            MonotonicMillis(110),
            "the older event is dropped"
        );
    }

    #[test]
    fn degenerate_limits_still_limit() {
        let mut window = SlidingWindow::new(WindowLimit::new(0, 0));
        assert_eq!(
            window.limit(),
            WindowLimit {
                limit: 1,
                window_ms: 1
            }
        );
        window.record(MonotonicMillis(3));
        assert_eq!(window.earliest(MonotonicMillis(3)), MonotonicMillis(4));
    }

    #[test]
    fn creation_budget_is_ten_per_half_hour() {
        let mut budget = CreationBudget::default();
        for i in 0..10 {
            assert_eq!(
                budget.earliest_creation(MonotonicMillis(i)),
                MonotonicMillis(i)
            );
            budget.record_creation(MonotonicMillis(i));
        }
        assert_eq!(
            budget.earliest_creation(MonotonicMillis(10)),
            MonotonicMillis(1_800_000)
        );
        budget.block_until(MonotonicMillis(2_000_000));
        assert_eq!(
            budget.earliest_creation(MonotonicMillis(10)),
            MonotonicMillis(2_000_000)
        );
    }
}
