//! What the relay says about a record: its id, where it is on its way, and its delivery.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The relay's id of an acknowledged record, given in the answer to the post: `r` and the
/// record's number in the queue, then `-` and a random tag (`r17-9f86d081884c7d65`), so that
/// ids cannot be guessed from one another.
///
/// The number alone names the record inside the relay: two ids are equal, ordered and hashed
/// by it (the queue's order is the order of arrival). The tag is what a reader must show:
/// `GET /v1/call-records/{id}` answers only an id whose tag is the record's. Records queued
/// before tags were kept have none, and their ids are `r17`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(into = "String", try_from = "String")]
pub struct RecordId {
    number: i64,
    /// 0: no tag.
    tag: u64,
}

impl RecordId {
    /// The record numbered `number`, as the relay names it inside (no tag).
    pub(crate) fn new(number: i64) -> RecordId {
        RecordId { number, tag: 0 }
    }

    /// The record numbered `number` with its tag, as a reader is shown it.
    #[cfg(test)]
    fn tagged(number: i64, tag: u64) -> RecordId {
        RecordId { number, tag }
    }

    /// A fresh random tag for a new record (never 0).
    fn new_tag() -> u64 {
        rand::random::<u64>().max(1)
    }

    pub(crate) fn get(self) -> i64 {
        self.number
    }

    /// The id a store read back: its number, and its tag's column (a signed integer holding
    /// the tag's bits; none for a record queued before tags).
    pub(crate) fn from_columns(number: i64, tag: Option<i64>) -> RecordId {
        let tag = tag.map_or(0, |bits| u64::from_ne_bytes(bits.to_ne_bytes()));
        RecordId { number, tag }
    }

    /// A fresh random tag for a new record, as its column holds it.
    pub(crate) fn new_tag_column() -> i64 {
        i64::from_ne_bytes(RecordId::new_tag().to_ne_bytes())
    }

    /// Whether `self`, as a reader gave it, shows the tag of `stored`, the record's own: in
    /// constant time, so a reader learns nothing of a tag from how long a refusal takes.
    pub(crate) fn shows_tag_of(self, stored: RecordId) -> bool {
        use subtle::ConstantTimeEq;
        self.number == stored.number && bool::from(self.tag.ct_eq(&stored.tag))
    }
}

impl PartialEq for RecordId {
    fn eq(&self, other: &RecordId) -> bool {
        self.number == other.number
    }
}

impl Eq for RecordId {}

impl std::hash::Hash for RecordId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.number.hash(state);
    }
}

impl PartialOrd for RecordId {
    fn partial_cmp(&self, other: &RecordId) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for RecordId {
    fn cmp(&self, other: &RecordId) -> std::cmp::Ordering {
        self.number.cmp(&other.number)
    }
}

impl fmt::Display for RecordId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.tag {
            0 => write!(f, "r{}", self.number),
            tag => write!(f, "r{}-{tag:016x}", self.number),
        }
    }
}

/// A text that is not a record id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a record id (ids look like r123-9f86d081884c7d65)")]
pub struct InvalidRecordId(String);

/// Most digits of an id's number. Every number of 18 digits fits the store's 64-bit column, so
/// an id of the form always names a number a record could have, and one of more digits is no
/// id at all (the queue's numbers count from 1 and never come near).
pub(crate) const MAX_NUMBER_DIGITS: usize = 18;

/// Hex digits of an id's tag, as [`RecordId`]'s `Display` writes them.
pub(crate) const TAG_HEX_DIGITS: usize = 16;

impl RecordId {
    /// The form of an id as a regular expression (ECMA 262, as OpenAPI's `pattern`): exactly
    /// the texts [`FromStr`] reads, so a generated client and the relay agree on which path is
    /// an id (answered `404` when no record has it) and which is not (`400`).
    pub(crate) fn pattern() -> String {
        format!(
            "^r[1-9][0-9]{{0,{}}}(-[0-9a-fA-F]{{{TAG_HEX_DIGITS}}})?$",
            MAX_NUMBER_DIGITS - 1
        )
    }
}

impl FromStr for RecordId {
    type Err = InvalidRecordId;

    /// Reads [`RecordId::pattern`]'s form and nothing else: the integer parsers alone would take
    /// a sign (`r17-+9f86d081884c7d6`) or a number beyond any record's.
    fn from_str(text: &str) -> Result<RecordId, InvalidRecordId> {
        let invalid = || InvalidRecordId(tc_core::diagnostic::excerpt(text));
        let rest = text.strip_prefix('r').ok_or_else(invalid)?;
        let (number, tag) = match rest.split_once('-') {
            Some((number, tag)) => (number, Some(tag)),
            None => (rest, None),
        };
        let number_of_the_form = (1..=MAX_NUMBER_DIGITS).contains(&number.len())
            && number.bytes().all(|b| b.is_ascii_digit())
            && !number.starts_with('0');
        if !number_of_the_form {
            return Err(invalid());
        }
        let number = number.parse::<i64>().map_err(|_| invalid())?;
        let tag = match tag {
            None => 0,
            Some(tag)
                if tag.len() == TAG_HEX_DIGITS && tag.bytes().all(|b| b.is_ascii_hexdigit()) =>
            {
                u64::from_str_radix(tag, 16).map_err(|_| invalid())?
            }
            Some(_) => return Err(invalid()),
        };
        Ok(RecordId { number, tag })
    }
}

impl From<RecordId> for String {
    fn from(id: RecordId) -> String {
        id.to_string()
    }
}

impl TryFrom<String> for RecordId {
    type Error = InvalidRecordId;

    fn try_from(text: String) -> Result<RecordId, InvalidRecordId> {
        text.parse()
    }
}

/// Where an acknowledged record is on its way to the API: the lifecycle the push shares.
pub use tc_engine::{InvalidRecordState, RecordState};

/// Everything the relay knows about one record: the answer of `GET /v1/call-records/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[non_exhaustive]
pub struct TrackedRecord {
    #[schema(value_type = String, example = "r17-9f86d081884c7d65")]
    pub id: RecordId,
    /// `queued`, `in_flight`, `accepted`, `rejected`, `failed` or `unknown`.
    #[schema(value_type = String, example = "accepted")]
    pub state: RecordState,
    /// When the relay acknowledged it, RFC 3339.
    pub received_at: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub external_id: Option<String>,
    /// The API's id of the batch that carried it, once accepted.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schema(value_type = Option<String>)]
    pub batch_id: Option<tc_core::BatchId>,
    /// Why it was rejected, failed or is unknown: a rule code (`window_expired`), the API's
    /// error slug, `http_NNN` or `outcome_unknown`, as the push's report says it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schema(value_type = Option<String>)]
    pub code: Option<tc_engine::ReportCode>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub message: Option<String>,
    /// The API may hold this record twice: a batch that carried it had an unknown outcome and
    /// it was sent again.
    pub possibly_duplicated: bool,
    /// Its delivery, from the status endpoint, once the relay has asked.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[schema(value_type = Option<String>)]
    pub delivery: Option<tc_core::wire::DeliveryStatus>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub delivery_message: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_states_read_back_what_they_write() {
        let id = RecordId::new(42);
        assert_eq!(id.to_string().parse::<RecordId>(), Ok(id));
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"r42\"");
        assert!("42".parse::<RecordId>().is_err());
        assert!("r-1".parse::<RecordId>().is_err());
        assert!("r007".parse::<RecordId>().is_err());
    }

    #[test]
    fn a_tagged_id_reads_back_and_only_its_tag_opens_it() {
        let id = RecordId::tagged(17, 0x9f86_d081_884c_7d65);
        assert_eq!(id.to_string(), "r17-9f86d081884c7d65");
        let read: RecordId = "r17-9f86d081884c7d65".parse().unwrap();
        assert!(read.shows_tag_of(id));
        let guessed: RecordId = "r17-0000000000000001".parse().unwrap();
        assert!(!guessed.shows_tag_of(id));
        assert!(!"r17".parse::<RecordId>().unwrap().shows_tag_of(id));
        // Inside the relay the number names the record.
        assert_eq!(guessed, id);
        assert!("r17-9f86".parse::<RecordId>().is_err());
        assert!("r17-zzzzzzzzzzzzzzzz".parse::<RecordId>().is_err());
    }

    #[test]
    fn an_id_is_its_form_and_nothing_else() {
        // u64's parser takes a sign, and a tag of 16 characters may hold one.
        assert!("r17-+9f86d081884c7d6".parse::<RecordId>().is_err());
        assert!("r+17".parse::<RecordId>().is_err());
        // 18 digits are the most an id's number has; 19 fit an i64 but are no id.
        assert!("r999999999999999999".parse::<RecordId>().is_ok());
        assert!("r1000000000000000000".parse::<RecordId>().is_err());
        assert!("r9223372036854775807".parse::<RecordId>().is_err());
        assert!("r17-9F86D081884C7D65".parse::<RecordId>().is_ok());
    }

    proptest::proptest! {
        /// The pattern the OpenAPI document states for an id is exactly what the relay reads.
        #[test]
        fn the_documented_pattern_is_what_the_parser_reads(
            text in "r?[0-9]{0,20}(-[0-9a-fA-F+g-]{0,18})?|r[1-9][0-9]{0,19}(-[0-9a-f]{16})?|.{0,24}"
        ) {
            let pattern = regex::Regex::new(&RecordId::pattern()).unwrap();
            proptest::prop_assert_eq!(
                text.parse::<RecordId>().is_ok(),
                pattern.is_match(&text),
                "{:?}",
                text
            );
        }
    }
}
