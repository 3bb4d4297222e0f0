//! Local date-times, as spreadsheets and CRM exports write them (`2030-07-23 10:30`,
//! `23/07/2030 10:30`), read in the operator's time zone (`--timezone Asia/Kolkata`, from the
//! IANA database bundled with `jiff`), and windows derived from one planned call time
//! (`--call-time`, `--show-before`, `--show-after`).
//!
//! Times with an offset (`...Z`, `...+05:30`) and epoch milliseconds are instants already: they
//! are left to tc-core as they are. A local time that a daylight-saving change skips or repeats
//! names no single instant, so it is an error naming both candidates, never a guess.

use crate::SettingError;
use jiff::civil::DateTime;
use jiff::tz::{AmbiguousOffset, TimeZone};
use jiff::{SignedDuration, Timestamp};
use std::fmt;
use std::str::FromStr;
use tc_core::diagnostic::excerpt;
use tc_core::{Code, Diagnostic, Field, RawRecord, Scalar};

/// An IANA time zone, with the name it was given by.
#[derive(Debug, Clone)]
pub struct Zone {
    name: String,
    zone: TimeZone,
}

impl FromStr for Zone {
    type Err = SettingError;

    fn from_str(name: &str) -> Result<Zone, SettingError> {
        let name = name.trim();
        TimeZone::get(name)
            .map(|zone| Zone {
                name: name.to_owned(),
                zone,
            })
            .map_err(|_| SettingError::UnknownZone {
                given: name.to_owned(),
            })
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

/// A `strftime` pattern for local date-times, such as `%d/%m/%Y %H:%M`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DateFormat(String);

impl FromStr for DateFormat {
    type Err = SettingError;

    /// Accepts a pattern only if a date-time written with it reads back to the same minute: a
    /// pattern without a day, month, year, hour or minute, or with an unknown `%` directive,
    /// could never read a whole time.
    fn from_str(pattern: &str) -> Result<DateFormat, SettingError> {
        let sample = jiff::civil::date(2030, 7, 23).at(10, 30, 0, 0);
        let round_trip = jiff::fmt::strtime::format(pattern, sample)
            .ok()
            .and_then(|text| DateTime::strptime(pattern, &text).ok());
        if round_trip.is_some_and(|read| read == sample) {
            return Ok(DateFormat(pattern.to_owned()));
        }
        Err(SettingError::DateFormat {
            given: pattern.to_owned(),
        })
    }
}

impl fmt::Display for DateFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl DateFormat {
    fn parse(&self, text: &str) -> Option<DateTime> {
        DateTime::strptime(&self.0, text)
            .or_else(|_| DateTime::strptime(format!("{}:%S", self.0), text))
            .ok()
    }
}

/// A length of time such as `15m`, `2h`, `1h30m` or `PT15M`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span(SignedDuration);

impl FromStr for Span {
    type Err = SettingError;

    fn from_str(text: &str) -> Result<Span, SettingError> {
        match text.trim().parse::<SignedDuration>() {
            Ok(duration) if !duration.is_negative() => Ok(Span(duration)),
            _ => Err(SettingError::Span {
                given: text.to_owned(),
            }),
        }
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#}", self.0)
    }
}

impl Span {
    fn millis(self) -> i64 {
        i64::try_from(self.0.as_millis()).unwrap_or(i64::MAX)
    }
}

/// The display window around one planned call: `starts_at` is the call time less `before`,
/// `ends_at` the call time plus `after`.
#[derive(Debug, Clone)]
pub struct Window {
    /// The header of the call-time column, as the operator named it.
    pub(crate) call_time: String,
    pub(crate) before: Span,
    pub(crate) after: Span,
}

impl Window {
    /// The window from `before` the time in the column `call_time` to `after` it. Refuses a
    /// window the API would refuse for every row: empty, or longer than 24 hours.
    pub fn new(
        call_time: impl Into<String>,
        before: Span,
        after: Span,
    ) -> Result<Window, SettingError> {
        let window = Window {
            call_time: call_time.into(),
            before,
            after,
        };
        window.check()?;
        Ok(window)
    }

    /// The header of the call-time column, as it was given.
    pub fn call_time(&self) -> &str {
        &self.call_time
    }

    /// How long before the call time the window starts.
    pub fn before(&self) -> Span {
        self.before
    }

    /// How long after the call time the window ends.
    pub fn after(&self) -> Span {
        self.after
    }

    /// Refuses a window the API would refuse for every row: empty, or longer than 24 hours.
    fn check(&self) -> Result<(), SettingError> {
        let length = self.before.millis().saturating_add(self.after.millis());
        if length == 0 {
            return Err(SettingError::EmptyWindow);
        }
        if length > tc_core::timestamp::MAX_WINDOW_MS {
            return Err(SettingError::WindowTooLong {
                before: self.before,
                after: self.after,
                length: Span(SignedDuration::from_millis(length)),
            });
        }
        Ok(())
    }
}

/// How the times of an input are read. The default reads them as tc-core does, untouched;
/// [`ReadOptionsBuilder`](crate::options::ReadOptionsBuilder) sets the rest.
#[derive(Debug, Clone, Default)]
pub struct TimeReading {
    pub(crate) zone: Option<Zone>,
    pub(crate) date_format: Option<DateFormat>,
    pub(crate) window: Option<Window>,
}

impl TimeReading {
    /// The time zone local times are read in, if any.
    pub fn zone(&self) -> Option<&Zone> {
        self.zone.as_ref()
    }

    /// The form local times are read in besides ISO 8601, if any.
    pub fn date_format(&self) -> Option<&DateFormat> {
        self.date_format.as_ref()
    }

    /// The window derived from a call time, if any.
    pub fn window(&self) -> Option<&Window> {
        self.window.as_ref()
    }

    /// Whether records need [`TimeReading::apply`] at all.
    pub fn is_active(&self) -> bool {
        self.zone.is_some() || self.date_format.is_some() || self.window.is_some()
    }

    /// Turns the record's local times into epoch milliseconds and, with a window, derives
    /// `starts_at` and `ends_at` from the call time (which the reader put in both). A time that
    /// cannot be placed is a diagnostic on `starts_at` or `ends_at` naming its column.
    pub fn apply(&self, raw: &mut RawRecord) -> Result<(), Diagnostic> {
        if let Some(window) = &self.window {
            let Some(value) = raw.get(Field::StartsAt) else {
                return Ok(()); // tc-core reports the missing time.
            };
            let at = self
                .instant(value)
                .map_err(|why| time_problem(Field::StartsAt, &window.call_time, &why))?;
            let Some(at) = at else { return Ok(()) };
            set_millis(raw, Field::StartsAt, at - window.before.millis());
            set_millis(raw, Field::EndsAt, at + window.after.millis());
            return Ok(());
        }
        for field in [Field::StartsAt, Field::EndsAt] {
            if let Some(Scalar::Text(text)) = raw.get(field) {
                if let Some(ms) = self
                    .local(text)
                    .map_err(|why| Diagnostic::new(field, Code::TimestampInvalid, why))?
                {
                    set_millis(raw, field, ms);
                }
            }
        }
        Ok(())
    }

    /// The instant a call time names: epoch milliseconds, a time with an offset, or a local
    /// time. `None` for a value of another type, for tc-core to explain.
    fn instant(&self, value: &Scalar) -> Result<Option<i64>, String> {
        match value {
            Scalar::Int(ms) => Ok(Some(*ms)),
            Scalar::Text(text) => {
                let text = text.trim();
                if let Ok(ms) = text.parse::<i64>() {
                    return Ok(Some(ms));
                }
                if let Ok(at) = text.parse::<Timestamp>() {
                    return Ok(Some(at.as_millisecond()));
                }
                match self.local(text)? {
                    Some(ms) => Ok(Some(ms)),
                    None => Err(format!(
                        "`{}` is not a date and time; write the call time as 2030-07-23 10:30{}, \
                         with its offset (2030-07-23T10:30:00+05:30) or as epoch milliseconds",
                        excerpt(text),
                        match &self.date_format {
                            Some(format) => format!(" or as --date-format `{format}` reads it"),
                            None => String::new(),
                        }
                    )),
                }
            }
            _ => Ok(None),
        }
    }

    /// Epoch milliseconds for `text` if it is a local date-time (ISO `2030-07-23 10:30` or the
    /// `--date-format`); `None` for anything else, an instant included, for tc-core to read.
    fn local(&self, text: &str) -> Result<Option<i64>, String> {
        let text = text.trim();
        let Some(first) = text.bytes().next() else {
            return Ok(None);
        };
        if text.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(None);
        }
        let iso = first.is_ascii_digit()
            && !has_offset(text)
            && text.len() >= 16
            && text.as_bytes()[4] == b'-';
        let civil = if iso {
            spreadsheet_form(text).or_else(|| text.parse::<DateTime>().ok())
        } else {
            None
        };
        let Some(civil) = civil.or_else(|| self.date_format.as_ref()?.parse(text)) else {
            return Ok(None);
        };
        let Some(zone) = &self.zone else {
            return Err(format!(
                "`{}` has no UTC offset, so it is a local time: give --timezone (such as \
                 --timezone Asia/Kolkata) to say where, or write it with its offset",
                excerpt(text)
            ));
        };
        zone.instant(civil).map(Some)
    }
}

/// Puts `ms` in `field` as its digits, which tc-core reads as it reads the number, in the
/// string the field holds: a record the validating threads refill row after row keeps it.
fn set_millis(raw: &mut RawRecord, field: Field, ms: i64) {
    use std::io::Write;
    // The longest i64, `-9223372036854775808`, is 20 characters.
    let mut digits = [0u8; 20];
    let mut out = std::io::Cursor::new(&mut digits[..]);
    let written = write!(out, "{ms}").is_ok();
    let len = usize::try_from(out.position()).unwrap_or(0);
    match std::str::from_utf8(&digits[..len]) {
        Ok(text) if written => raw.set_text(field, text),
        _ => raw.set(field, Some(Scalar::Int(ms))),
    }
}

/// `2030-07-23 10:30` or `2030-07-23 10:30:00` (or with a `T`), the forms spreadsheets and
/// exports write, read digit by digit: a million rows of them cost less than through the
/// general ISO 8601 parser, which reads whatever this does not.
fn spreadsheet_form(text: &str) -> Option<DateTime> {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<i16> {
        b.get(range)?.iter().try_fold(0i16, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + i16::from(d - b'0'))
        })
    };
    let shape = matches!(b.len(), 16 | 19)
        && b[4] == b'-'
        && b[7] == b'-'
        && matches!(b[10], b' ' | b'T')
        && b[13] == b':'
        && (b.len() == 16 || b[16] == b':');
    if !shape {
        return None;
    }
    let seconds = if b.len() == 19 { digits(17..19)? } else { 0 };
    DateTime::new(
        digits(0..4)?,
        digits(5..7)? as i8,
        digits(8..10)? as i8,
        digits(11..13)? as i8,
        digits(14..16)? as i8,
        seconds as i8,
        0,
    )
    .ok()
}

/// Whether ISO-looking text ends in an offset (`Z`, `+05:30`, `-04:00`).
fn has_offset(text: &str) -> bool {
    let tail = &text.as_bytes()[text.len().saturating_sub(6)..];
    text.ends_with(['Z', 'z']) || tail.contains(&b'+') || (text.len() > 19 && tail.contains(&b'-'))
}

impl Zone {
    /// The one instant `civil` names in this zone; a time a clock change skips or repeats is an
    /// error naming both candidates and the offset to write to choose one.
    fn instant(&self, civil: DateTime) -> Result<i64, String> {
        let candidates = |before: jiff::tz::Offset, after: jiff::tz::Offset| {
            let at = |offset: jiff::tz::Offset| {
                offset
                    .to_timestamp(civil)
                    .map(|t| format!("{t} (offset {})", hours_minutes(offset)))
                    .unwrap_or_else(|_| format!("offset {}", hours_minutes(offset)))
            };
            format!("{} or {}", at(before), at(after))
        };
        let shown = civil.strftime("%Y-%m-%d %H:%M:%S");
        match self.zone.to_ambiguous_timestamp(civil).offset() {
            AmbiguousOffset::Unambiguous { offset } => offset
                .to_timestamp(civil)
                .map(|t| t.as_millisecond())
                .map_err(|_| format!("{shown} is out of the range of times a record can hold")),
            AmbiguousOffset::Gap { before, after } => Err(format!(
                "{shown} does not exist in {}: the clocks skip it at a daylight-saving change. \
                 It could mean {}; write the time with the offset you mean",
                self.name,
                candidates(before, after)
            )),
            AmbiguousOffset::Fold { before, after } => Err(format!(
                "{shown} happens twice in {}: the clocks go back over it at a daylight-saving \
                 change. It could mean {}; write the time with the offset you mean",
                self.name,
                candidates(before, after)
            )),
        }
    }
}

/// An offset as RFC 3339 writes it: `-05:00`, `+05:30`.
fn hours_minutes(offset: jiff::tz::Offset) -> String {
    let seconds = offset.seconds();
    let sign = if seconds < 0 { '-' } else { '+' };
    let minutes = seconds.unsigned_abs() / 60;
    format!("{sign}{:02}:{:02}", minutes / 60, minutes % 60)
}

/// The settings a config file holds as text are read as their flags are.
macro_rules! deserialize_from_str {
    ($($type:ty),*) => {$(
        impl<'de> serde::Deserialize<'de> for $type {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <String as serde::Deserialize>::deserialize(d)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    )*};
}

deserialize_from_str!(Zone, DateFormat, Span);

fn time_problem(field: Field, column: &str, why: &str) -> Diagnostic {
    Diagnostic::new(
        field,
        Code::TimestampInvalid,
        format!("column `{}`: {why}", excerpt(column)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(name: &str) -> TimeReading {
        TimeReading {
            zone: Some(name.parse().unwrap()),
            ..TimeReading::default()
        }
    }

    fn record(starts_at: &str, ends_at: &str) -> RawRecord {
        RawRecord::from_text_fields([("starts_at", starts_at), ("ends_at", ends_at)])
    }

    fn millis(raw: &RawRecord, field: Field) -> Option<i64> {
        match raw.get(field) {
            Some(Scalar::Text(digits)) => digits.parse().ok(),
            _ => None,
        }
    }

    #[test]
    fn placed_times_are_what_tc_core_reads_as_those_milliseconds() {
        for ms in [0, 1_753_246_858_000, -1, i64::MIN, i64::MAX] {
            let mut raw = RawRecord::default();
            set_millis(&mut raw, Field::StartsAt, ms);
            let mut as_number = RawRecord::default();
            as_number.set(Field::StartsAt, Some(Scalar::Int(ms)));
            let now = tc_core::EpochMillis::try_from(1_753_246_000_000).unwrap();
            let problems = |raw: &RawRecord| {
                tc_core::Validator::new(now)
                    .validate(raw)
                    .err()
                    .map(|e| format!("{e:?}"))
            };
            assert_eq!(problems(&raw), problems(&as_number), "{ms}");
            assert_eq!(millis(&raw, Field::StartsAt), Some(ms));
        }
    }

    #[test]
    fn spreadsheet_forms_are_read_in_the_zone() {
        let kolkata = zone("Asia/Kolkata");
        // 2030-07-23 10:30 IST is 05:00 UTC.
        let expected = "2030-07-23T05:00:00Z".parse::<Timestamp>().unwrap();
        for form in [
            "2030-07-23 10:30",
            "2030-07-23 10:30:00",
            "2030-07-23T10:30",
        ] {
            let mut raw = record(form, form);
            kolkata.apply(&mut raw).unwrap();
            assert_eq!(
                millis(&raw, Field::StartsAt),
                Some(expected.as_millisecond()),
                "{form}"
            );
        }
    }

    #[test]
    fn the_quick_reading_of_spreadsheet_forms_agrees_with_the_iso_parser() {
        for text in [
            "2030-07-23 10:30",
            "2030-07-23T10:30",
            "2030-07-23 10:30:59",
            "2030-12-31 23:59:00",
            "2032-02-29 00:00",
        ] {
            assert_eq!(
                spreadsheet_form(text),
                Some(text.parse::<DateTime>().unwrap()),
                "{text}"
            );
        }
        for text in [
            "2030-02-30 10:30",
            "2030-07-23 24:30",
            "2030-07-23 10:3x",
            "2030-07-23",
        ] {
            assert_eq!(spreadsheet_form(text), None, "{text}");
        }
    }

    #[test]
    fn instants_and_epoch_millis_are_left_to_tc_core() {
        let mut raw = record("2030-07-23T10:30:00+05:30", "1911024000000");
        zone("Asia/Kolkata").apply(&mut raw).unwrap();
        assert_eq!(raw, record("2030-07-23T10:30:00+05:30", "1911024000000"));
    }

    #[test]
    fn a_day_first_format_reads_day_first_times() {
        let reading = TimeReading {
            date_format: Some("%d/%m/%Y %H:%M".parse().unwrap()),
            ..zone("Europe/London")
        };
        let mut raw = record("23/07/2030 10:30", "23/07/2030 11:30:30");
        reading.apply(&mut raw).unwrap();
        let at = |text: &str| text.parse::<Timestamp>().unwrap().as_millisecond();
        assert_eq!(
            millis(&raw, Field::StartsAt),
            Some(at("2030-07-23T09:30:00Z"))
        );
        assert_eq!(
            millis(&raw, Field::EndsAt),
            Some(at("2030-07-23T10:30:30Z"))
        );
    }

    #[test]
    fn date_formats_that_cannot_read_a_whole_time_are_refused() {
        for bad in [
            "%d/%m/%Y",
            "%H:%M",
            "%d/%m %H:%M",
            "%Q/%m/%Y %H:%M",
            "dd/mm/yyyy",
        ] {
            assert!(bad.parse::<DateFormat>().is_err(), "{bad}");
        }
        assert!("%m/%d/%Y %I:%M %p".parse::<DateFormat>().is_ok());
    }

    #[test]
    fn times_a_clock_change_skips_or_repeats_name_both_candidates() {
        let new_york = zone("America/New_York");
        let mut gap = record("2030-03-10 02:30", "2030-03-10 05:00");
        let message = new_york.apply(&mut gap).unwrap_err().message;
        assert!(
            message.contains("does not exist in America/New_York"),
            "{message}"
        );
        assert!(message.contains("2030-03-10T07:30:00Z"), "{message}");
        assert!(message.contains("2030-03-10T06:30:00Z"), "{message}");
        let mut fold = record("2030-11-03 01:30", "2030-11-03 05:00");
        let message = new_york.apply(&mut fold).unwrap_err().message;
        assert!(message.contains("happens twice"), "{message}");
        assert!(message.contains("2030-11-03T05:30:00Z"), "{message}");
        assert!(message.contains("2030-11-03T06:30:00Z"), "{message}");
    }

    #[test]
    fn a_window_is_derived_from_the_call_time() {
        let reading = TimeReading {
            window: Some(Window {
                call_time: "Scheduled (IST)".into(),
                before: "15m".parse().unwrap(),
                after: "2h".parse().unwrap(),
            }),
            ..zone("Asia/Kolkata")
        };
        let mut raw = record("2030-07-23 10:30", "2030-07-23 10:30");
        reading.apply(&mut raw).unwrap();
        let call = "2030-07-23T05:00:00Z"
            .parse::<Timestamp>()
            .unwrap()
            .as_millisecond();
        assert_eq!(millis(&raw, Field::StartsAt), Some(call - 15 * 60_000));
        assert_eq!(millis(&raw, Field::EndsAt), Some(call + 2 * 3_600_000));
        let mut nowhere = record("2030-07-23 10:30", "2030-07-23 10:30");
        let problem = TimeReading {
            zone: None,
            ..reading
        }
        .apply(&mut nowhere)
        .unwrap_err();
        assert!(problem.message.starts_with("column `Scheduled (IST)`: "));
        assert!(problem.message.contains("--timezone"));
    }

    #[test]
    fn windows_longer_than_a_day_or_empty_are_refused() {
        let window = |before: &str, after: &str| Window {
            call_time: "t".into(),
            before: before.parse().unwrap(),
            after: after.parse().unwrap(),
        };
        assert!(window("15m", "2h").check().is_ok());
        assert!(window("0s", "24h").check().is_ok());
        assert!(window("1m", "24h").check().is_err());
        assert!(window("0s", "0s").check().is_err());
        assert!("-5m".parse::<Span>().is_err());
        assert!("soon".parse::<Span>().is_err());
    }

    #[test]
    fn unknown_zones_are_refused() {
        assert!("Asia/Kolkatta".parse::<Zone>().is_err());
        assert!("IST+5".parse::<Zone>().is_err());
    }

    #[test]
    fn iso_times_with_milliseconds_are_read_too() {
        let mut raw = record("2030-07-23T10:30:00.500", "2030-07-23T10:30:00.500");
        zone("Asia/Kolkata").apply(&mut raw).unwrap();
        let expected = "2030-07-23T05:00:00.5Z".parse::<Timestamp>().unwrap();
        assert_eq!(
            millis(&raw, Field::StartsAt),
            Some(expected.as_millisecond())
        );
    }
}
