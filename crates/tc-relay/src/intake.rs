//! Reading a producer's post: one record, or the API's own body `{"call_records": [...]}` (a
//! bare array is read too), each record's keys matched to fields the way `tcbatch`'s JSON
//! readers match them (surrounding white space and ASCII case do not matter), plus the relay's
//! own `external_id`. A broken record costs only itself: its neighbours are still read.

use serde::de::{self, DeserializeSeed, MapAccess, Visitor};
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::fmt;
use tc_core::diagnostic::excerpt;
use tc_core::{Code, Diagnostic, Field, RawRecord, Scalar};

/// The key of a record that names it for deduplication, besides its call record fields.
pub const EXTERNAL_ID_KEY: &str = "external_id";

/// Longest external id kept, in characters.
pub const MAX_EXTERNAL_ID_CHARS: usize = 200;

/// One problem of one record of a post, in the shape `tcbatch validate --output json` prints.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct Problem {
    /// The record's place in the post, from 1.
    pub record: usize,
    /// The line of the post's body the record starts on, from 1.
    pub line: usize,
    /// The wire field at fault; `null` when the record could not be read at all.
    #[schema(value_type = Option<String>, example = "receiver_number")]
    pub field: Option<Field>,
    /// The stable code of the rule, as in the project's rules table.
    #[schema(value_type = String, example = "phone_invalid")]
    pub code: Code,
    pub message: String,
}

impl Problem {
    pub(crate) fn new(record: usize, line: usize, diagnostic: Diagnostic) -> Problem {
        Problem {
            record,
            line,
            field: diagnostic.field,
            code: diagnostic.code,
            message: diagnostic.message,
        }
    }
}

/// A record of a post that could be read (it may still break a rule).
#[derive(Debug, Clone)]
pub(crate) struct Incoming {
    pub number: usize,
    pub line: usize,
    pub raw: RawRecord,
    pub external_id: Option<String>,
}

/// What a post's body held.
#[derive(Debug, Default)]
pub(crate) struct Intake {
    pub records: Vec<Incoming>,
    pub problems: Vec<Problem>,
    /// Keys that name no field, each said once.
    pub ignored_keys: Vec<String>,
}

/// Why a body could not be read as records at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unreadable(pub String);

/// Reads a post's body.
pub(crate) fn read_post(body: &[u8]) -> Result<Intake, Unreadable> {
    let top: &RawValue = serde_json::from_slice(body)
        .map_err(|e| Unreadable(format!("the body is not JSON: {e}")))?;
    let text = top.get();
    let elements: Vec<&RawValue> = match text.as_bytes().first() {
        Some(b'[') => serde_json::from_str(text)
            .map_err(|e| Unreadable(format!("the records array is not JSON: {e}")))?,
        Some(b'{') => {
            let members: HashMap<String, &RawValue> = serde_json::from_str(text)
                .map_err(|e| Unreadable(format!("the body is not a JSON object: {e}")))?;
            match members.iter().find(|(k, _)| is_records_key(k)) {
                Some((_, records)) => serde_json::from_str(records.get()).map_err(|_| {
                    Unreadable("`call_records` must be an array of record objects".into())
                })?,
                None => vec![top],
            }
        }
        _ => {
            return Err(Unreadable(
                "expected a record object, {\"call_records\": [...]} or an array of records".into(),
            ))
        }
    };
    let mut intake = Intake::default();
    for (index, element) in elements.into_iter().enumerate() {
        let number = index + 1;
        let line = line_of(body, element);
        match read_record(element) {
            Ok((raw, external_id, unknown)) => {
                for key in unknown {
                    if !intake.ignored_keys.contains(&key) {
                        intake.ignored_keys.push(key);
                    }
                }
                intake.records.push(Incoming {
                    number,
                    line,
                    raw,
                    external_id,
                });
            }
            Err(diagnostic) => intake.problems.push(Problem::new(number, line, diagnostic)),
        }
    }
    Ok(intake)
}

fn is_records_key(key: &str) -> bool {
    key.trim().eq_ignore_ascii_case("call_records")
}

/// The line of `body` on which `element` (a slice of it) starts.
fn line_of(body: &[u8], element: &RawValue) -> usize {
    let start = element.get().as_ptr() as usize;
    let offset = start.saturating_sub(body.as_ptr() as usize).min(body.len());
    1 + body[..offset].iter().filter(|&&b| b == b'\n').count()
}

/// The field a JSON key names: white space around it and ASCII case do not matter.
fn field_named(name: &str) -> Option<Field> {
    Field::from_wire_name(&name.trim().to_ascii_lowercase())
}

type ReadRecord = (RawRecord, Option<String>, Vec<String>);

fn read_record(element: &RawValue) -> Result<ReadRecord, Diagnostic> {
    let text = element.get();
    if !text.starts_with('{') {
        let kind = match text.as_bytes().first() {
            Some(b'[') => "an array",
            Some(b'"') => "a string",
            Some(b't' | b'f') => "a boolean",
            Some(b'n') => "null",
            _ => "a number",
        };
        return Err(unreadable(format!(
            "expected a JSON object {{\"caller_number\": ...}}, found {kind}"
        )));
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let mut read = RecordSeed
        .deserialize(&mut de)
        .map_err(|e| unreadable(format!("invalid record: {e}")))?;
    for field in Field::ALL {
        if matches!(read.0.get(field), Some(Scalar::Text(t)) if t.trim().is_empty()) {
            read.0.set(field, None);
        }
    }
    Ok(read)
}

fn unreadable(message: String) -> Diagnostic {
    Diagnostic::new(None, Code::RecordUnreadable, message)
}

struct RecordSeed;

impl<'de> DeserializeSeed<'de> for RecordSeed {
    type Value = ReadRecord;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<ReadRecord, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RecordSeed {
    type Value = ReadRecord;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object of call record fields")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ReadRecord, A::Error> {
        let mut raw = RawRecord::default();
        let mut seen: [Option<String>; Field::ALL.len()] = Default::default();
        let mut external_id = None;
        let mut unknown = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if key.trim().eq_ignore_ascii_case(EXTERNAL_ID_KEY) {
                external_id = read_external_id(map.next_value()?)?;
                continue;
            }
            let Some(field) = field_named(&key) else {
                map.next_value::<de::IgnoredAny>()?;
                unknown.push(excerpt(&key));
                continue;
            };
            let at = Field::ALL.iter().position(|f| *f == field).unwrap_or(0);
            if let Some(before) = &seen[at] {
                return Err(de::Error::custom(format!(
                    "the record has `{field}` twice (as `{}` and `{}`); keep one",
                    excerpt(before),
                    excerpt(&key)
                )));
            }
            seen[at] = Some(key);
            raw.set(field, map.next_value::<Option<Scalar>>()?);
        }
        Ok((raw, external_id, unknown))
    }
}

fn read_external_id<E: de::Error>(value: Option<Scalar>) -> Result<Option<String>, E> {
    match value {
        None => Ok(None),
        Some(Scalar::Text(text)) if text.trim().is_empty() => Ok(None),
        Some(Scalar::Text(text)) if text.trim().chars().count() <= MAX_EXTERNAL_ID_CHARS => {
            Ok(Some(text.trim().to_owned()))
        }
        Some(Scalar::Text(_)) => Err(E::custom(format!(
            "`{EXTERNAL_ID_KEY}` is longer than {MAX_EXTERNAL_ID_CHARS} characters"
        ))),
        Some(Scalar::Int(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(E::custom(format!(
            "`{EXTERNAL_ID_KEY}` must be a string, not {}",
            other.kind()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_record_an_api_body_and_an_array_are_all_read() {
        let one = br#"{"caller_number": "+919876543210", "external_id": "crm-1"}"#;
        let intake = read_post(one).unwrap();
        assert_eq!(intake.records.len(), 1);
        assert_eq!(intake.records[0].external_id.as_deref(), Some("crm-1"));

        let body = b"{\"call_records\": [\n{\"Caller_Number \": \"1\"},\n{\"ends_at\": 5}\n]}";
        let intake = read_post(body).unwrap();
        assert_eq!(intake.records.len(), 2);
        assert_eq!(
            intake.records[0].raw.get(Field::CallerNumber),
            Some(&Scalar::Text("1".into()))
        );
        assert_eq!(
            (intake.records[0].line, intake.records[1].line),
            (2, 3),
            "each record names the line it starts on"
        );
        let array = read_post(br#"[{"ends_at": 1}, {"ends_at": 2}]"#).unwrap();
        assert_eq!(array.records.len(), 2);
    }

    #[test]
    fn a_broken_record_costs_only_itself() {
        let body = b"{\"call_records\": [\n{\"ends_at\": 1, \"ENDS_AT\": 2},\n7,\n{\"ends_at\": 3, \"colour\": 1}\n]}";
        let intake = read_post(body).unwrap();
        assert_eq!(intake.records.len(), 1);
        assert_eq!(intake.records[0].number, 3);
        assert_eq!(intake.ignored_keys, ["colour"]);
        let codes: Vec<(usize, usize, Code)> = intake
            .problems
            .iter()
            .map(|p| (p.record, p.line, p.code))
            .collect();
        assert_eq!(
            codes,
            [
                (1, 2, Code::RecordUnreadable),
                (2, 3, Code::RecordUnreadable)
            ]
        );
        assert!(intake.problems[0].message.contains("twice"));
        assert!(intake.problems[1].message.contains("found a number"));
    }

    #[test]
    fn a_body_that_is_not_records_is_refused_with_a_reason() {
        assert!(read_post(b"not json").unwrap_err().0.contains("not JSON"));
        assert!(read_post(b"\"text\"").unwrap_err().0.contains("expected"));
        assert!(read_post(br#"{"call_records": 5}"#)
            .unwrap_err()
            .0
            .contains("array"));
    }

    #[test]
    fn an_external_id_must_be_short_text() {
        let body = br#"{"ends_at": 1, "external_id": true}"#;
        let intake = read_post(body).unwrap();
        assert!(intake.problems[0].message.contains("must be a string"));
        let long = format!(r#"{{"external_id": "{}"}}"#, "x".repeat(201));
        let intake = read_post(long.as_bytes()).unwrap();
        assert!(intake.problems[0].message.contains("longer than 200"));
    }
}
