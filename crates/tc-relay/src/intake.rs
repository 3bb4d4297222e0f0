//! Reading a producer's post: one record, or the API's own body `{"call_records": [...]}` (a
//! bare array is read too), through tc-input's JSON reader, the one `tcbatch validate` reads a
//! `.json` file with: the same keys matched to the same fields, and each problem with the same
//! record number, line, field, code and message. The relay's own `external_id` is the key the
//! reader keeps aside. A broken record costs only itself: its neighbours are still read. The
//! reader reports each record's line as it passes it, so reading is linear in the body's size.

use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use std::fmt;
use tc_core::{Code, Diagnostic, Field, RawRecord, Scalar};
use tc_input::{Format, ReadOptions};

/// The key of a record that names it for deduplication, besides its call record fields.
pub const EXTERNAL_ID_KEY: &str = "external_id";

/// Longest external id kept, in characters.
pub const MAX_EXTERNAL_ID_CHARS: usize = 200;

/// UTF-8's byte order mark, which a body may start with.
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// What the reader calls a post's body in its messages.
const BODY_NAME: &str = "the request body";

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
    let options = ReadOptions::builder()
        .keep_key(EXTERNAL_ID_KEY.to_owned())
        .build();
    // A single record object is read as the array of it: `[` and `]` on the lines the object
    // starts and ends on, so every line stays where the producer wrote it.
    // A byte order mark goes before the `[`, where the reader looks for one.
    let text = body.strip_prefix(BOM).unwrap_or(body);
    let bytes = if is_one_record(text) {
        let mut wrapped = Vec::with_capacity(text.len() + 2);
        wrapped.push(b'[');
        wrapped.extend_from_slice(text);
        wrapped.push(b']');
        wrapped
    } else {
        body.to_vec()
    };
    let mut read = tc_input::from_reader(
        std::io::Cursor::new(bytes),
        BODY_NAME,
        Format::Json,
        &options,
    )
    .map_err(|error| match serde_json::from_slice::<IgnoredAny>(text) {
        // The reader's message, unless the body is not JSON at all: then serde's, with its
        // line and column.
        Err(not_json) if not_json.is_syntax() || not_json.is_eof() => {
            Unreadable(format!("the body is not JSON: {not_json}"))
        }
        _ => Unreadable(error.to_string()),
    })?;
    let mut intake = Intake::default();
    for input in read.by_ref() {
        let (number, line) = (input.record, input.line);
        let external_id = match read_external_id(input.kept) {
            Ok(id) => id,
            Err(diagnostic) => {
                intake.problems.push(Problem::new(number, line, diagnostic));
                continue;
            }
        };
        match input.raw {
            Ok(raw) => intake.records.push(Incoming {
                number,
                line,
                raw,
                external_id,
            }),
            Err(diagnostic) => intake.problems.push(Problem::new(number, line, diagnostic)),
        }
    }
    // A body is in memory: reading it cannot fail part way, but say so if it ever does.
    read.finish()
        .map_err(|error| Unreadable(error.to_string()))?;
    intake.ignored_keys = read.unknown_keys();
    Ok(intake)
}

/// Whether `text` (a body without its byte order mark) is one record object rather than a
/// records array or the API body: an object with no `call_records` key. An object that is not
/// JSON is left to the reader, which says where it breaks.
fn is_one_record(text: &[u8]) -> bool {
    let first = text.iter().find(|b| !b.is_ascii_whitespace());
    first == Some(&b'{')
        && serde_json::from_slice::<TopKeys>(text).is_ok_and(|keys| !keys.has_records)
}

/// The keys of a JSON object, read only for whether one is the API body's `call_records`;
/// values are skipped, never built.
struct TopKeys {
    has_records: bool,
}

impl<'de> serde::Deserialize<'de> for TopKeys {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<TopKeys, D::Error> {
        d.deserialize_map(TopKeysVisitor)
    }
}

struct TopKeysVisitor;

impl<'de> Visitor<'de> for TopKeysVisitor {
    type Value = TopKeys;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TopKeys, A::Error> {
        let mut has_records = false;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            // Matched as the reader matches it: white space and ASCII case do not matter.
            has_records |= key.trim().eq_ignore_ascii_case("call_records");
            map.next_value::<IgnoredAny>()?;
        }
        Ok(TopKeys { has_records })
    }
}

/// The record's `external_id`, as the relay keeps it: trimmed text up to
/// [`MAX_EXTERNAL_ID_CHARS`] or a whole number; blank is none.
fn read_external_id(value: Option<Scalar>) -> Result<Option<String>, Diagnostic> {
    match value {
        None => Ok(None),
        Some(Scalar::Text(text)) if text.trim().is_empty() => Ok(None),
        Some(Scalar::Text(text)) if text.trim().chars().count() <= MAX_EXTERNAL_ID_CHARS => {
            Ok(Some(text.trim().to_owned()))
        }
        Some(Scalar::Text(_)) => Err(unreadable(format!(
            "`{EXTERNAL_ID_KEY}` is longer than {MAX_EXTERNAL_ID_CHARS} characters"
        ))),
        Some(Scalar::Int(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(unreadable(format!(
            "`{EXTERNAL_ID_KEY}` must be a string, not {}",
            other.kind()
        ))),
    }
}

fn unreadable(message: String) -> Diagnostic {
    Diagnostic::new(None, Code::RecordUnreadable, message)
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
    fn a_records_key_in_another_case_is_the_records_not_one_record() {
        let intake = read_post(br#"{" Call_Records": [{"ends_at": 1}, {"ends_at": 2}]}"#).unwrap();
        assert_eq!(intake.records.len(), 2, "{intake:?}");
        assert!(intake.ignored_keys.is_empty(), "{intake:?}");
    }

    #[test]
    fn one_record_after_a_byte_order_mark_is_read() {
        let intake = read_post(b"\xEF\xBB\xBF\n{\"ends_at\": 1, \"external_id\": 7}").unwrap();
        assert_eq!(intake.records.len(), 1, "{intake:?}");
        assert_eq!(intake.records[0].line, 2);
        assert_eq!(intake.records[0].external_id.as_deref(), Some("7"));
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
