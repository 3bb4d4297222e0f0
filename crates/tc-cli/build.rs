//! `tcbatch serve`'s tests of relays sharing a PostgreSQL queue are gated as tc-relay's own:
//! the same script, so the two can never disagree on when they run.

include!("../tc-relay/build.rs");
