//! Epoch-millisecond timestamps: the API's only notion of time.
//!
//! Inputs may hold integer milliseconds or RFC 3339 text; both become [`Millis`].

use crate::diagnostic::excerpt;
use crate::input::Scalar;
use crate::rules::Code;
use std::fmt;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Milliseconds since the Unix epoch, UTC.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(transparent)]
pub struct Millis(pub i64);

/// The longest display window the API accepts: 24 hours.
pub const MAX_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

/// Below this an integer timestamp is taken for epoch seconds given by mistake
/// (100,000,000,000 ms is March 1973; as seconds it is the year 5138).
pub const SECONDS_MISTAKE_BELOW: i64 = 100_000_000_000;

/// 9999-12-31T23:59:59.999Z: nothing later is a date a person meant.
pub const LATEST: i64 = 253_402_300_799_999;

impl Millis {
    pub const fn as_i64(self) -> i64 {
        self.0
    }

    /// `self + ms`, saturating instead of overflowing.
    pub const fn plus(self, ms: i64) -> Millis {
        Millis(self.0.saturating_add(ms))
    }

    /// Parses an RFC 3339 date-time or a whole number of milliseconds.
    pub fn parse(text: &str) -> Result<Millis, String> {
        parse_text(text).map_err(|(_, message)| message)
    }

    /// The RFC 3339 form, for messages and reports.
    pub fn to_rfc3339(self) -> String {
        OffsetDateTime::from_unix_timestamp_nanos(self.0 as i128 * 1_000_000)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_else(|| format!("{} ms", self.0))
    }
}

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Reads a timestamp field. Errors carry the code and a message for the user.
pub(crate) fn from_scalar(value: &Scalar) -> Result<Millis, (Code, String)> {
    match value {
        Scalar::Int(ms) => from_integer(*ms),
        Scalar::Float(f) if f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15 => {
            from_integer(*f as i64)
        }
        Scalar::Float(f) if f.is_finite() && f.fract() == 0.0 => Err(out_of_range()),
        Scalar::Float(f) => Err((
            Code::TimestampInvalid,
            format!(
                "{} is not a whole number of epoch milliseconds; drop the fraction",
                excerpt(&f.to_string())
            ),
        )),
        Scalar::BigInt(_) => Err(out_of_range()),
        Scalar::Text(text) => parse_text(text),
        other => Err((
            Code::WrongType,
            format!(
                "expected epoch milliseconds or an RFC 3339 date-time, found {}",
                other.kind()
            ),
        )),
    }
}

fn parse_text(text: &str) -> Result<Millis, (Code, String)> {
    let text = text.trim();
    let digits = text.strip_prefix('-').unwrap_or(text);
    // Spreadsheets write whole numbers as `1753246858000.0`: the same number, so the same answer
    // as the JSON number 1753246858000.0.
    let whole = match digits.split_once('.') {
        Some((_, zeros)) if !zeros.is_empty() && zeros.bytes().all(|b| b == b'0') => {
            &text[..text.len() - zeros.len() - 1]
        }
        _ => text,
    };
    let whole_digits = whole.strip_prefix('-').unwrap_or(whole);
    if !whole_digits.is_empty() && whole_digits.bytes().all(|b| b.is_ascii_digit()) {
        return match whole.parse::<i64>() {
            Ok(ms) => from_integer(ms),
            Err(_) => Err(out_of_range()),
        };
    }
    if is_scientific(digits) {
        return Err((
            Code::TimestampInvalid,
            format!(
                "`{}` is in scientific notation, which loses the last digits (a spreadsheet \
                 does this); format the column as a whole number and export again",
                excerpt(text)
            ),
        ));
    }
    match OffsetDateTime::parse(text, &Rfc3339) {
        Ok(t) => {
            let ms = t.unix_timestamp_nanos().div_euclid(1_000_000);
            from_integer(i64::try_from(ms).map_err(|_| out_of_range())?)
        }
        Err(_) => Err((
            Code::TimestampInvalid,
            format!(
                "`{}` is neither epoch milliseconds nor an RFC 3339 date-time; write it as \
                 1753246858000 or 2025-07-23T05:00:58Z",
                excerpt(text)
            ),
        )),
    }
}

/// `1.753246858E+12`
fn is_scientific(text: &str) -> bool {
    let Some((mantissa, exponent)) = text.split_once(['e', 'E']) else {
        return false;
    };
    let exponent = exponent.strip_prefix('+').unwrap_or(exponent);
    !mantissa.is_empty()
        && mantissa.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && !exponent.is_empty()
        && exponent.bytes().all(|b| b.is_ascii_digit())
}

fn from_integer(ms: i64) -> Result<Millis, (Code, String)> {
    if ms < 0 {
        return Err((
            Code::TimestampInvalid,
            format!("{ms} is before 1970; give epoch milliseconds of the intended time"),
        ));
    }
    if ms < SECONDS_MISTAKE_BELOW {
        return Err((Code::TimestampInSeconds, too_small(ms)));
    }
    if ms > LATEST {
        return Err(out_of_range());
    }
    Ok(Millis(ms))
}

/// Epoch seconds from September 2001 on: a date a file of calls can mean.
const PLAUSIBLE_SECONDS_FROM: i64 = 1_000_000_000;

/// The message for an integer below [`SECONDS_MISTAKE_BELOW`]. Multiplying by 1000 is advised
/// only when the value read as seconds is a date a file of calls can mean: `0` or `5` are no
/// times at all, and 5000 ms would be no better.
fn too_small(ms: i64) -> String {
    if ms >= PLAUSIBLE_SECONDS_FROM {
        let as_seconds = Millis(ms.saturating_mul(1000));
        format!(
            "{ms} looks like epoch seconds ({}); the API wants milliseconds, so multiply by 1000 \
             ({ms}000)",
            as_seconds.to_rfc3339()
        )
    } else if ms == 0 {
        "0 is no time (an empty cell exported as 0?); give the time in epoch milliseconds, such \
         as 1753246858000, or an RFC 3339 date-time"
            .to_owned()
    } else {
        format!(
            "{ms} is too small to be a time, in epoch milliseconds or in seconds (as seconds it is \
             {}); give the time in epoch milliseconds, such as 1753246858000, or an RFC 3339 \
             date-time",
            Millis(ms.saturating_mul(1000)).to_rfc3339()
        )
    }
}

fn out_of_range() -> (Code, String) {
    (
        Code::TimestampInvalid,
        "the timestamp is beyond the year 9999; give epoch milliseconds".to_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_and_millis_agree() {
        let a = from_scalar(&Scalar::Text("2025-07-23T05:00:58Z".into())).unwrap();
        let b = from_scalar(&Scalar::Int(1_753_246_858_000)).unwrap();
        let c = from_scalar(&Scalar::Text("2025-07-23T10:30:58+05:30".into())).unwrap();
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(a.to_rfc3339(), "2025-07-23T05:00:58Z");
    }

    #[test]
    fn spreadsheet_forms_of_whole_numbers() {
        let ms = Millis(1_753_246_858_000);
        assert_eq!(from_scalar(&Scalar::Text("1753246858000.0".into())), Ok(ms));
        assert_eq!(
            from_scalar(&Scalar::Text("1753246858000.00".into())),
            Ok(ms)
        );
        let (code, message) = from_scalar(&Scalar::Text("1.753246858E+12".into())).unwrap_err();
        assert_eq!(code, Code::TimestampInvalid);
        assert!(message.contains("scientific notation"), "{message}");
        assert!(from_scalar(&Scalar::Text("1753246858000.5".into())).is_err());
        assert!(from_scalar(&Scalar::Text(".0".into())).is_err());
        let (_, message) = from_scalar(&Scalar::Float(1e300)).unwrap_err();
        assert!(message.contains("beyond the year 9999"), "{message}");
    }

    #[test]
    fn seconds_are_caught() {
        let (code, message) = from_scalar(&Scalar::Text("1753246858".into())).unwrap_err();
        assert_eq!(code, Code::TimestampInSeconds);
        assert!(message.contains("1753246858000"), "{message}");
        assert_eq!(
            from_scalar(&Scalar::Int(99_999_999_999)).unwrap_err().0,
            Code::TimestampInSeconds
        );
        assert!(from_scalar(&Scalar::Int(100_000_000_000)).is_ok());
    }

    #[test]
    fn the_seconds_advice_is_given_only_where_it_makes_sense() {
        let message = |ms: i64| from_scalar(&Scalar::Int(ms)).unwrap_err().1;
        assert!(message(1_753_246_858).contains("(2025-07-23T05:00:58Z)"));
        for nonsense in [0, 5, 999_999_999] {
            let text = message(nonsense);
            assert!(!text.contains("multiply"), "{text}");
            assert!(!text.contains(&format!("{nonsense}000")), "{text}");
            assert!(text.contains("1753246858000"), "{text}");
        }
        assert!(message(0).starts_with("0 is no time"));
    }

    #[test]
    fn garbage_is_invalid_not_a_panic() {
        for text in ["", "-", "tomorrow", "99999999999999999999999", "1.5", "-1"] {
            assert!(from_scalar(&Scalar::Text(text.into())).is_err(), "{text}");
        }
        assert_eq!(
            from_scalar(&Scalar::Float(1.5)).unwrap_err().0,
            Code::TimestampInvalid
        );
        assert_eq!(
            from_scalar(&Scalar::Bool(true)).unwrap_err().0,
            Code::WrongType
        );
        assert_eq!(
            from_scalar(&Scalar::Float(1_753_246_858_000.0)).unwrap(),
            Millis(1_753_246_858_000)
        );
    }
}
