//! Reading HTTP outcomes: transport errors classified for retries, error bodies, `Retry-After`,
//! and the base URL check that keeps credentials off plain HTTP to other machines.

use crate::error::{AttemptFailure, Cause, ConfigError, Setting};
use reqwest::header::{HeaderMap, LOCATION, RETRY_AFTER};
use reqwest::Url;
use std::time::SystemTime;
use tc_core::transport::{is_success, Endpoint, TransportError};
use tc_core::wire::ApiErrorBody;

/// What came back for one request.
pub(crate) enum Reply {
    Answer(Answer),
    /// No answer: how it failed, and the underlying error.
    Lost(TransportError, Cause),
}

/// An HTTP answer, its body read up to the endpoint's limit.
pub(crate) struct Answer {
    pub status: u16,
    pub retry_after_ms: Option<i64>,
    pub location: Option<String>,
    pub body: Vec<u8>,
    /// The whole body was read: it was within the limit.
    pub complete: bool,
}

impl Answer {
    pub fn is_success(&self) -> bool {
        is_success(self.status)
    }

    /// What this failed answer says, for the error that may end the call.
    pub fn failure(&self) -> AttemptFailure {
        if let Some(location) = &self.location {
            return AttemptFailure::Status {
                status: self.status,
                slug: String::new(),
                message: location.clone(),
            };
        }
        let (slug, message) = error_body(&self.body);
        AttemptFailure::Status {
            status: self.status,
            slug,
            message,
        }
    }
}

/// Sends a request and reads its answer, at most `endpoint`'s limit of a success body and a
/// few kilobytes of an error body: a server that answers 20 MB is not buffered whole.
pub(crate) async fn exchange(request: reqwest::RequestBuilder, endpoint: Endpoint) -> Reply {
    let mut response = match request.send().await {
        Ok(response) => response,
        Err(error) => return lost(error),
    };
    let status = response.status().as_u16();
    let limit = endpoint.limit_for(status);
    let headers = response.headers();
    let mut answer = Answer {
        status,
        retry_after_ms: retry_after_ms(headers),
        location: location(headers, response.status().is_redirection()),
        body: Vec::new(),
        complete: true,
    };
    if response.content_length().is_some_and(|n| n > limit as u64) {
        answer.complete = false;
        return Reply::Answer(answer);
    }
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) if answer.body.len() + chunk.len() > limit => {
                let room = limit - answer.body.len();
                answer.body.extend_from_slice(&chunk[..room]);
                answer.complete = false;
                return Reply::Answer(answer);
            }
            Ok(Some(chunk)) => answer.body.extend_from_slice(&chunk),
            Ok(None) => return Reply::Answer(answer),
            // The status arrived but not the whole body: the outcome is unknown.
            Err(error) => return lost(error),
        }
    }
}

/// The `Location` of a redirect, shortened for messages.
fn location(headers: &HeaderMap, redirect: bool) -> Option<String> {
    if !redirect {
        return None;
    }
    let value = headers.get(LOCATION).map_or("(no Location)".into(), |v| {
        String::from_utf8_lossy(v.as_bytes()).into_owned()
    });
    Some(value.chars().take(200).collect())
}

/// What a reqwest error means: nothing sent (connect), or an unknown outcome.
fn lost(error: reqwest::Error) -> Reply {
    let kind = if error.is_connect() {
        TransportError::Connect
    } else if error.is_timeout() {
        TransportError::Timeout
    } else {
        TransportError::ConnectionLost
    };
    Reply::Lost(kind, Cause::new(error))
}

impl Reply {
    /// The failure this reply stands for, if it is one.
    pub fn failure(&self) -> Option<AttemptFailure> {
        match self {
            Reply::Answer(answer) if answer.is_success() => None,
            Reply::Answer(answer) => Some(answer.failure()),
            Reply::Lost(TransportError::Connect, cause) => {
                Some(AttemptFailure::Connect(cause.clone()))
            }
            Reply::Lost(TransportError::Timeout, _) => Some(AttemptFailure::Timeout),
            Reply::Lost(_, cause) => Some(AttemptFailure::ConnectionLost(cause.clone())),
        }
    }
}

/// `{slug, message}` of an error answer, or the status's reason when the body is not that.
pub(crate) fn error_body(body: &[u8]) -> (String, String) {
    match serde_json::from_slice::<ApiErrorBody>(body) {
        Ok(error) if !error.slug.is_empty() || !error.message.is_empty() => {
            (error.slug, error.message)
        }
        _ => (
            String::new(),
            String::from_utf8_lossy(&body[..body.len().min(200)])
                .trim()
                .to_owned(),
        ),
    }
}

/// `Retry-After` as milliseconds from now: delta-seconds, or an HTTP date.
pub(crate) fn retry_after_ms(headers: &HeaderMap) -> Option<i64> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<f64>() {
        return (seconds.is_finite() && seconds >= 0.0)
            .then(|| (seconds * 1000.0).min(i64::MAX as f64) as i64);
    }
    let format = time::format_description::well_known::Rfc2822;
    let date = time::OffsetDateTime::parse(&value.replace("GMT", "+0000"), &format).ok()?;
    let now = time::OffsetDateTime::from(SystemTime::now());
    Some(((date - now).whole_milliseconds().max(0)).min(i64::MAX as i128) as i64)
}

/// Refuses a base URL that would send credentials in clear to another machine.
pub(crate) fn parse_base_url(text: &str) -> Result<Url, ConfigError> {
    let invalid = |problem: String| ConfigError::invalid(Setting::BaseUrl, problem);
    let url = Url::parse(text.trim()).map_err(|e| ConfigError::Invalid {
        setting: Setting::BaseUrl,
        problem: format!(
            "`{text}` is not a URL; use e.g. {}",
            crate::config::DEFAULT_BASE_URL
        ),
        cause: Some(Cause::new(e)),
    })?;
    if url.query().is_some() || url.fragment().is_some() || url.cannot_be_a_base() {
        return Err(invalid(format!(
            "`{text}` must be scheme://host[:port][/path] only"
        )));
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(invalid(format!(
            "`{text}` is plain http to another machine: the API key and tokens would cross the \
             network unencrypted; use https:// (plain http is allowed only for 127.0.0.1, ::1 \
             and localhost, e.g. the simulator)"
        ))),
        other => Err(invalid(format!(
            "`{text}` has scheme `{other}`; use https://"
        ))),
    }
}

fn is_loopback(url: &Url) -> bool {
    let host = url.host_str().unwrap_or("");
    let ip = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || ip
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn retry_after(value: &str) -> Option<i64> {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_str(value).unwrap());
        retry_after_ms(&headers)
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_date() {
        assert_eq!(retry_after("1"), Some(1_000));
        assert_eq!(retry_after(" 2.5 "), Some(2_500));
        assert_eq!(retry_after("-3"), None);
        assert_eq!(retry_after("soon"), None);
        assert_eq!(retry_after_ms(&HeaderMap::new()), None);
        // A date in the past means "now"; one in the future, the time until it.
        assert_eq!(retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(0));
        let later = time::OffsetDateTime::now_utc() + time::Duration::seconds(30);
        let text = later
            .format(&time::format_description::well_known::Rfc2822)
            .unwrap();
        let ms = retry_after(&text).unwrap();
        assert!((27_000..=30_000).contains(&ms), "{ms}");
    }

    #[test]
    fn error_bodies_with_or_without_the_documented_shape() {
        let (slug, message) =
            error_body(br#"{"slug":"invalid-input","message":"api_key is required"}"#);
        assert_eq!(
            (slug.as_str(), message.as_str()),
            ("invalid-input", "api_key is required")
        );
        let (slug, message) = error_body(b"<html>Bad Gateway</html>");
        assert_eq!(
            (slug.as_str(), message.as_str()),
            ("", "<html>Bad Gateway</html>")
        );
        let long = vec![b'x'; 10_000];
        assert_eq!(error_body(&long).1.len(), 200, "a huge body is cut");
    }
}
