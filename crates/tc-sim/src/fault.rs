//! The dropped-connection fault: the batch is stored, then the client gets no answer at all.
//!
//! The handler returns a response whose body fails on its first poll. Hyper queues the status
//! line in its write buffer and only flushes once it has body bytes or the body ends, so the
//! body error aborts the connection before a single byte leaves: the client sees the connection
//! close with no response (reqwest: "connection closed before message completed"), exactly what
//! a real timeout or reset after a server-side commit looks like. The integration tests check
//! this with a raw TCP socket as well as with reqwest.

use axum::body::{Body, Bytes};
use axum::response::Response;
use http_body::Frame;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Marks a response that must not be counted as answered.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Dropped;

/// A response that is never delivered: the connection is aborted instead.
pub(crate) fn dropped_response() -> Response {
    let mut response = Response::new(Body::new(AbortingBody));
    response.extensions_mut().insert(Dropped);
    response
}

struct AbortingBody;

impl http_body::Body for AbortingBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        Poll::Ready(Some(Err(io::Error::new(
            io::ErrorKind::ConnectionAborted,
            "simulated connection drop after the batch was stored",
        ))))
    }

    fn is_end_stream(&self) -> bool {
        false
    }
}
