//! Epoch-millisecond timestamps: the API's only notion of time.
//!
//! Inputs may hold integer milliseconds or RFC 3339 text; both become [`EpochMillis`].

use crate::diagnostic::excerpt;
use crate::input::Scalar;
use crate::rules::Code;
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// A wall-clock time: milliseconds since the Unix epoch, UTC, the API's only notion of time.
///
/// Every value is a time a call record can hold: from 1973-03-03 (below that an integer is
/// taken for epoch seconds given by mistake) to the end of the year 9999. Build one from
/// milliseconds with [`TryFrom<i64>`], from a [`SystemTime`], or from text with
/// [`FromStr`] (RFC 3339 or whole milliseconds), each with the rules a
/// record's `starts_at` and `ends_at` follow.
///
/// ```
/// use tc_core::EpochMillis;
///
/// let from_text: EpochMillis = "2030-07-23T10:30:00+05:30".parse()?;
/// let from_ms = EpochMillis::try_from(1_911_013_200_000)?;
/// assert_eq!(from_text, from_ms);
/// assert_eq!(from_ms.to_rfc3339(), "2030-07-23T05:00:00Z");
///
/// // Epoch seconds are caught, with the fix in the message.
/// let err = EpochMillis::try_from(1_911_013_200).unwrap_err();
/// assert_eq!(err.code(), tc_core::Code::TimestampInSeconds);
/// # Ok::<(), tc_core::TimestampError>(())
/// ```
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "i64", into = "i64")]
pub struct EpochMillis(pub(crate) i64);

/// The longest display window the API accepts: 24 hours.
pub const MAX_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

/// Below this an integer timestamp is taken for epoch seconds given by mistake
/// (100,000,000,000 ms is March 1973; as seconds it is the year 5138).
pub const SECONDS_MISTAKE_BELOW: i64 = 100_000_000_000;

/// 9999-12-31T23:59:59.999Z: nothing later is a date a person meant.
pub const LATEST: i64 = 253_402_300_799_999;

impl EpochMillis {
    /// The earliest time a record can hold (1973-03-03T09:46:40Z).
    pub const MIN: EpochMillis = EpochMillis(SECONDS_MISTAKE_BELOW);
    /// The latest time a record can hold (9999-12-31T23:59:59.999Z).
    pub const MAX: EpochMillis = EpochMillis(LATEST);

    /// Milliseconds since the Unix epoch.
    pub const fn as_i64(self) -> i64 {
        self.0
    }

    /// `self + ms` (`ms` may be negative), kept within [`MIN`](Self::MIN) and [`MAX`](Self::MAX).
    pub const fn plus(self, ms: i64) -> EpochMillis {
        let sum = self.0.saturating_add(ms);
        EpochMillis(if sum < SECONDS_MISTAKE_BELOW {
            SECONDS_MISTAKE_BELOW
        } else if sum > LATEST {
            LATEST
        } else {
            sum
        })
    }

    /// The RFC 3339 form in UTC, for messages and reports: `2030-07-23T05:00:00Z`.
    pub fn to_rfc3339(self) -> String {
        rfc3339(self.0)
    }
}

/// `ms` as RFC 3339, or as a count when it is no calendar date.
fn rfc3339(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("{ms} ms"))
}

/// Whole milliseconds, as the API's JSON carries them.
impl fmt::Display for EpochMillis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The rules of a record's time field: at least [`EpochMillis::MIN`] (a smaller number is
/// epoch seconds or no time at all), at most [`EpochMillis::MAX`].
impl TryFrom<i64> for EpochMillis {
    type Error = TimestampError;

    fn try_from(ms: i64) -> Result<EpochMillis, TimestampError> {
        from_integer(ms).map_err(TimestampError::from)
    }
}

impl From<EpochMillis> for i64 {
    fn from(time: EpochMillis) -> i64 {
        time.0
    }
}

/// Truncates to the millisecond; fails for a time outside [`EpochMillis::MIN`] to
/// [`EpochMillis::MAX`] (a clock set to 1970, say).
impl TryFrom<SystemTime> for EpochMillis {
    type Error = TimestampError;

    fn try_from(time: SystemTime) -> Result<EpochMillis, TimestampError> {
        let ms = match time.duration_since(UNIX_EPOCH) {
            Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
            Err(before) => i64::try_from(before.duration().as_millis()).map_or(i64::MIN, |ms| -ms),
        };
        EpochMillis::try_from(ms)
    }
}

impl From<EpochMillis> for SystemTime {
    fn from(time: EpochMillis) -> SystemTime {
        // Every EpochMillis is after 1973, so the cast cannot lose a sign.
        UNIX_EPOCH + Duration::from_millis(time.0 as u64)
    }
}

/// Parses an RFC 3339 date-time or a whole number of milliseconds, with the rules of a record's
/// time field.
impl FromStr for EpochMillis {
    type Err = TimestampError;

    fn from_str(text: &str) -> Result<EpochMillis, TimestampError> {
        parse_text(text).map_err(TimestampError::from)
    }
}

/// Why a time was refused: the rule's [`Code`] and a sentence that says what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimestampError {
    code: Code,
    message: String,
}

impl TimestampError {
    /// The rule the time broke: [`Code::TimestampInvalid`] or [`Code::TimestampInSeconds`].
    pub fn code(&self) -> Code {
        self.code
    }
}

impl From<(Code, String)> for TimestampError {
    fn from((code, message): (Code, String)) -> TimestampError {
        TimestampError { code, message }
    }
}

impl fmt::Display for TimestampError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TimestampError {}

/// Reads a timestamp field. Errors carry the code and a message for the user.
pub(crate) fn from_scalar(value: &Scalar) -> Result<EpochMillis, (Code, String)> {
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

fn parse_text(text: &str) -> Result<EpochMillis, (Code, String)> {
    let text = crate::input::trim(text);
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
    if let Some(ms) = common_rfc3339(text) {
        return from_integer(ms);
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

/// Epoch milliseconds of RFC 3339 text in the shape exports write it,
/// `2025-07-23T05:00:58Z` or `2025-07-23T10:30:58.372+05:30` (upper-case `T` and `Z`, one to nine
/// fraction digits, a real date, seconds below 60), read digit by digit: the `time` crate's
/// general parser was about a twentieth of `validate`'s time. `None` for anything else, which
/// the general parser reads; a test holds the two to the same answers.
fn common_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        b.get(range)?.iter().try_fold(0i64, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0'))
        })
    };
    let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if b.len() < 20 || separators.iter().any(|&(at, c)| b[at] != c) {
        return None;
    }
    // The calendar is the time crate's: a date it would refuse is left to its parser.
    let month = time::Month::try_from(u8::try_from(number(5..7)?).ok()?).ok()?;
    let day = u8::try_from(number(8..10)?).ok()?;
    let date =
        time::Date::from_calendar_date(i32::try_from(number(0..4)?).ok()?, month, day).ok()?;
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let (millis, rest) = match b[19] {
        b'.' => {
            let digits = b[20..].iter().take_while(|d| d.is_ascii_digit()).count();
            if !(1..=9).contains(&digits) {
                return None;
            }
            let first_three = number(20..20 + digits.min(3))? * 10i64.pow(3 - digits.min(3) as u32);
            (first_three, &b[20 + digits..])
        }
        _ => (0, &b[19..]),
    };
    let offset_minutes = match rest {
        [b'Z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digits = [*h1, *h2, *m1, *m2];
            if !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let value = |pair: [u8; 2]| i64::from(pair[0] - b'0') * 10 + i64::from(pair[1] - b'0');
            let (hours, minutes) = (value([*h1, *h2]), value([*m1, *m2]));
            if hours > 23 || minutes > 59 || (*sign == b'-' && hours == 0 && minutes == 0) {
                return None;
            }
            let total = hours * 60 + minutes;
            if *sign == b'-' {
                -total
            } else {
                total
            }
        }
        _ => return None,
    };
    let days = i64::from(date.to_julian_day() - OffsetDateTime::UNIX_EPOCH.date().to_julian_day());
    let seconds = ((days * 24 + hour) * 60 + minute - offset_minutes) * 60 + second;
    Some(seconds * 1000 + millis)
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

fn from_integer(ms: i64) -> Result<EpochMillis, (Code, String)> {
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
    Ok(EpochMillis(ms))
}

/// Epoch seconds from September 2001 on: a date a file of calls can mean.
const PLAUSIBLE_SECONDS_FROM: i64 = 1_000_000_000;

/// The message for an integer below [`SECONDS_MISTAKE_BELOW`]. Multiplying by 1000 is advised
/// only when the value read as seconds is a date a file of calls can mean: `0` or `5` are no
/// times at all, and 5000 ms would be no better.
fn too_small(ms: i64) -> String {
    if ms >= PLAUSIBLE_SECONDS_FROM {
        format!(
            "{ms} looks like epoch seconds ({}); the API wants milliseconds, so multiply by 1000 \
             ({ms}000)",
            rfc3339(ms.saturating_mul(1000))
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
            rfc3339(ms.saturating_mul(1000))
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

    /// What the `time` crate's RFC 3339 parser makes of `text`, in epoch milliseconds.
    fn by_the_time_crate(text: &str) -> Option<i64> {
        let t = OffsetDateTime::parse(text, &Rfc3339).ok()?;
        i64::try_from(t.unix_timestamp_nanos().div_euclid(1_000_000)).ok()
    }

    #[test]
    fn the_common_shape_is_read_as_the_time_crate_reads_it() {
        let fixed = [
            "2025-07-23T05:00:58Z",
            "2025-07-23T10:30:58.372+05:30",
            "1970-01-01T00:00:00Z",
            "1969-12-31T23:59:59.999Z",
            "0000-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999999-23:59",
            "2024-02-29T12:00:00Z",
            "2000-02-29T12:00:00Z",
            "2100-02-29T12:00:00Z",
            "2023-02-29T12:00:00Z",
            "2025-04-31T00:00:00Z",
            "2025-07-23T24:00:00Z",
            "2025-07-23T23:60:00Z",
            "2025-07-23T23:59:60Z",
            "2025-07-23t05:00:58z",
            "2025-07-23 05:00:58Z",
            "2025-07-23T05:00:58.Z",
            "2025-07-23T05:00:58.1234567890Z",
            "2025-07-23T05:00:58+24:00",
            "2025-07-23T05:00:58-00:00",
            "2025-07-23T05:00:58+0530",
            "2025-07-23T05:00:58",
            "+2025-07-23T05:00:58Z",
            "2025-13-01T00:00:00Z",
            "2025-00-10T00:00:00Z",
            "2025-07-00T00:00:00Z",
        ];
        for text in fixed {
            if let Some(ms) = common_rfc3339(text) {
                assert_eq!(Some(ms), by_the_time_crate(text), "{text}");
            }
        }
        assert_eq!(common_rfc3339(fixed[0]), Some(1_753_246_858_000));
        assert_eq!(common_rfc3339(fixed[1]), Some(1_753_246_858_372));

        // Dates and times across the whole range, with and without fractions and offsets.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = |n: u64| {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (x >> 33) % n
        };
        let mut read = 0;
        for _ in 0..200_000 {
            let fraction = match next(4) {
                0 => String::new(),
                _ => format!(".{}", "123456789"[..1 + next(9) as usize].to_owned()),
            };
            let offset = match next(3) {
                0 => "Z".to_owned(),
                sign => format!(
                    "{}{:02}:{:02}",
                    if sign == 1 { '+' } else { '-' },
                    next(25),
                    next(61)
                ),
            };
            let text = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{fraction}{offset}",
                next(10_000),
                next(14),
                next(33),
                next(25),
                next(61),
                next(61)
            );
            let fast = common_rfc3339(&text);
            if fast.is_some() {
                read += 1;
                assert_eq!(fast, by_the_time_crate(&text), "{text}");
            } else if by_the_time_crate(&text).is_some() {
                // Left to the general parser: only shapes the fast path does not take.
                assert!(
                    text.contains(":60") || text.ends_with("-00:00"),
                    "{text} should have been read"
                );
            }
        }
        assert!(read > 100_000, "only {read} read by the fast path");
    }

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
        let ms = EpochMillis(1_753_246_858_000);
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
            EpochMillis(1_753_246_858_000)
        );
    }
}
