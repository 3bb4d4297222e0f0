//! Which column of a CSV file or a sheet holds which field: the API's own names by default, or
//! the operator's column map (`--map FIELD=HEADER`, or a profile's `[profiles.NAME.map]`) for an
//! export whose headers are its own (`Customer Mobile`, `Agent Line`).
//!
//! Mapped headers match whatever their letter case and spacing (`customer  MOBILE` is
//! `Customer Mobile`); a mapped header the file lacks is an error that lists the file's headers
//! and the closest one. A call-time column (`--call-time`) feeds both `starts_at` and `ends_at`,
//! which [`super::local_time`] then moves apart by the window around the call.

use super::{edit_distance, field_named, ReadError, SettingError};
use std::fmt;
use std::str::FromStr;
use tc_core::diagnostic::{escape_control_characters, excerpt};
use tc_core::Field;

/// One `FIELD=HEADER` pair of a column map, read from text such as
/// `receiver_number=Customer Mobile` (the field's letter case and the spaces around either
/// side do not matter).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MapEntry {
    pub(crate) field: Field,
    pub(crate) header: String,
}

impl MapEntry {
    /// The field the column feeds.
    pub fn field(&self) -> Field {
        self.field
    }

    /// The header of the column, as it was given (trimmed).
    pub fn header(&self) -> &str {
        &self.header
    }
}

impl FromStr for MapEntry {
    type Err = SettingError;

    fn from_str(text: &str) -> Result<MapEntry, SettingError> {
        let Some((field, header)) = text.split_once('=') else {
            return Err(SettingError::MapEntry);
        };
        let field = field_named(field).ok_or_else(|| SettingError::UnknownField {
            given: field.trim().to_owned(),
        })?;
        let header = header.trim();
        if header.is_empty() {
            return Err(SettingError::NoHeader { field });
        }
        Ok(MapEntry {
            field,
            header: header.to_owned(),
        })
    }
}

/// The operator's column map: at most one header per field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnMap {
    entries: Vec<MapEntry>,
}

impl ColumnMap {
    /// Adds `entry`, replacing an earlier header for the same field: a flag given after a
    /// profile's map overrides it.
    pub fn insert(&mut self, entry: MapEntry) {
        self.entries.retain(|e| e.field != entry.field);
        self.entries.push(entry);
    }

    /// Whether the map names no column at all.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entries, in the order they were first given for their field.
    pub fn entries(&self) -> &[MapEntry] {
        &self.entries
    }

    fn header_of(&self, field: Field) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| e.field == field)
            .map(|e| e.header.as_str())
    }
}

/// A profile's `[profiles.NAME.map]` table: `FIELD = "HEADER"` lines. A key that is no field
/// is an error on its own line.
impl<'de> serde::Deserialize<'de> for ColumnMap {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ColumnMap, D::Error> {
        struct Visitor;

        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = ColumnMap;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a table of FIELD = \"HEADER\" lines")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut table: A,
            ) -> Result<ColumnMap, A::Error> {
                let mut map = ColumnMap::default();
                while let Some(FieldKey(field)) = table.next_key()? {
                    let header: String = table.next_value()?;
                    let entry = format!("{field}={header}")
                        .parse::<MapEntry>()
                        .map_err(serde::de::Error::custom)?;
                    map.insert(entry);
                }
                Ok(map)
            }
        }

        d.deserialize_map(Visitor)
    }
}

/// A field named by a key of a profile's map.
struct FieldKey(Field);

impl<'de> serde::Deserialize<'de> for FieldKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<FieldKey, D::Error> {
        let name = <String as serde::Deserialize>::deserialize(d)?;
        field_named(&name)
            .map(FieldKey)
            .ok_or_else(|| serde::de::Error::custom(SettingError::UnknownField { given: name }))
    }
}

/// What a column of the input feeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Column {
    Field(Field),
    /// The planned call time: both ends of the window are derived from it.
    CallTime,
    Ignored,
}

impl Column {
    /// Whether a row's value in this column sets `field`.
    pub fn sets(self, field: Field) -> bool {
        match self {
            Column::Field(own) => own == field,
            Column::CallTime => matches!(field, Field::StartsAt | Field::EndsAt),
            Column::Ignored => false,
        }
    }
}

/// How the columns of one input are read, as worked out from its header.
#[derive(Debug, Clone, Default)]
pub(crate) struct Layout {
    /// The column map of the command line and profile, and the call-time header if any.
    pub map: ColumnMap,
    pub call_time: Option<String>,
}

/// A header compared the way mapped headers are matched: letter case and white space ignored.
fn header_key(header: &str) -> String {
    header
        .chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The file's headers as a message lists them.
struct HeaderList<'a>(&'a [String]);

impl fmt::Display for HeaderList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quoted: Vec<String> = self.0.iter().map(|h| format!("`{}`", excerpt(h))).collect();
        f.write_str(&escape_control_characters(&quoted.join(", ")))
    }
}

impl Layout {
    /// Works out what each of `headers` (as written in the input `name`) feeds. Errors: a mapped
    /// or call-time header the input lacks, a field named by two columns, required fields that
    /// no column feeds (all named in one message). Also gives a warning naming the columns that
    /// feed nothing.
    pub fn columns(
        &self,
        name: &str,
        headers: &[String],
    ) -> Result<(Vec<Column>, Option<String>), ReadError> {
        let keys: Vec<String> = headers.iter().map(|h| header_key(h)).collect();
        let find = |wanted: &str, what: &str| -> Result<usize, ReadError> {
            let key = header_key(wanted);
            keys.iter()
                .position(|k| *k == key)
                .ok_or_else(|| missing_header(name, headers, wanted, what))
        };
        let mut columns = vec![Column::Ignored; headers.len()];
        for entry in self.map.entries() {
            let at = find(&entry.header, &format!("--map {}", entry.field))?;
            claim(name, headers, &mut columns, at, Column::Field(entry.field))?;
        }
        if let Some(call_time) = &self.call_time {
            if let Some(field) = [Field::StartsAt, Field::EndsAt]
                .into_iter()
                .find(|&f| self.map.header_of(f).is_some())
            {
                return Err(ReadError::options(format!(
                    "--call-time derives starts_at and ends_at, and the column map names a column \
                     for {field} too: drop one of them"
                )));
            }
            let at = find(call_time, "--call-time")?;
            claim(name, headers, &mut columns, at, Column::CallTime)?;
        }
        for (i, header) in headers.iter().enumerate() {
            let field = field_named(header).filter(|&f| self.map.header_of(f).is_none());
            if let (Column::Ignored, Some(field)) = (columns[i], field) {
                let derived =
                    self.call_time.is_some() && matches!(field, Field::StartsAt | Field::EndsAt);
                if !derived {
                    claim(name, headers, &mut columns, i, Column::Field(field))?;
                }
            }
        }
        self.check_required(name, headers, &columns)?;
        Ok((columns.clone(), unused_warning(name, headers, &columns)))
    }

    /// Every required field no column feeds, in one message.
    fn check_required(
        &self,
        name: &str,
        headers: &[String],
        columns: &[Column],
    ) -> Result<(), ReadError> {
        let fed = |field: Field| {
            columns.iter().any(|c| match c {
                Column::Field(f) => *f == field,
                Column::CallTime => matches!(field, Field::StartsAt | Field::EndsAt),
                Column::Ignored => false,
            })
        };
        let mut missing: Vec<Field> = [
            Field::CallerNumber,
            Field::ReceiverNumber,
            Field::StartsAt,
            Field::EndsAt,
        ]
        .into_iter()
        .filter(|&f| !fed(f))
        .collect();
        if !fed(Field::DynamicLabelName) && !fed(Field::LabelId) {
            missing.push(Field::DynamicLabelName);
        }
        if missing.is_empty() {
            return Ok(());
        }
        if let Some(separated) = separated_otherwise(name, headers) {
            return Err(separated);
        }
        let unmatched: Vec<&str> = headers
            .iter()
            .zip(columns)
            .filter(|(h, c)| **c == Column::Ignored && !h.trim().is_empty())
            .map(|(h, _)| h.as_str())
            .collect();
        let list: Vec<String> = missing
            .iter()
            .map(|&f| {
                match unmatched
                    .iter()
                    .find(|u| edit_distance(&u.trim().to_ascii_lowercase(), f.wire_name()) <= 2)
                {
                    Some(typo) => format!("`{f}` (is `{}` a misspelling of it?)", excerpt(typo)),
                    None => format!("`{f}`"),
                }
            })
            .collect();
        let derived = if self.call_time.is_some() {
            ""
        } else {
            " (or --call-time HEADER with --show-before and --show-after for starts_at and ends_at)"
        };
        Err(ReadError::header(format!(
            "no column of {name} holds {}; its headers are {}. Name the column of each with \
             --map FIELD=HEADER{derived}, or rename the header to the field's name; \
             dynamic_label_name may be left out when label_id is given",
            list.join(", "),
            HeaderList(headers),
        )))
    }
}

/// The error for a header that is one column holding another separator than the one read.
fn separated_otherwise(name: &str, headers: &[String]) -> Option<ReadError> {
    let [only] = headers else { return None };
    let sep = [';', '\t', '|'].into_iter().find(|&c| only.contains(c))?;
    Some(ReadError::header(format!(
        "the header of {name} looks separated by `{}`, not by commas; give --delimiter '{}' or \
         save the file as comma-separated CSV",
        sep.escape_debug(),
        sep.escape_debug()
    )))
}

/// Gives column `at` to `column`, unless another column already feeds the same field.
fn claim(
    name: &str,
    headers: &[String],
    columns: &mut [Column],
    at: usize,
    column: Column,
) -> Result<(), ReadError> {
    if let Some(before) = columns.iter().position(|c| *c == column) {
        let what = match column {
            Column::Field(field) => format!("`{field}`"),
            _ => "the call time".to_owned(),
        };
        return Err(ReadError::header(format!(
            "two columns of {name} hold {what}: `{}` (column {}) and `{}` (column {}); keep one, \
             or map the field to one of them with --map",
            excerpt(&headers[before]),
            before + 1,
            excerpt(&headers[at]),
            at + 1
        )));
    }
    if columns[at] != Column::Ignored {
        return Err(ReadError::header(format!(
            "the column `{}` of {name} is mapped twice; give each field its own column",
            excerpt(&headers[at])
        )));
    }
    columns[at] = column;
    Ok(())
}

/// The error for a mapped header the input does not have: its headers, and the closest one.
fn missing_header(name: &str, headers: &[String], wanted: &str, what: &str) -> ReadError {
    let key = header_key(wanted);
    let closest = headers
        .iter()
        .filter(|h| !h.trim().is_empty())
        .min_by_key(|h| edit_distance(&header_key(h), &key));
    let hint = match closest {
        Some(closest) => format!("; the closest is `{}`", excerpt(closest)),
        None => String::new(),
    };
    let mut message = format!(
        "{what} names the column `{}`, and {name} has no such header (letter case and spaces do \
         not matter); its headers are {}{hint}",
        excerpt(wanted),
        HeaderList(headers),
    );
    if let [only] = headers {
        if let Some(sep) = [';', '\t', '|', ',']
            .into_iter()
            .find(|&c| only.contains(c))
        {
            message += &format!(
                ". The header is one column that holds `{}`: the file is separated by it, so give \
                 --delimiter '{}', or leave --delimiter out for `;` and tab to be found",
                sep.escape_debug(),
                sep.escape_debug()
            );
        }
    }
    ReadError::header(message)
}

fn unused_warning(name: &str, headers: &[String], columns: &[Column]) -> Option<String> {
    let fed: Vec<Field> = columns
        .iter()
        .filter_map(|c| match c {
            Column::Field(f) => Some(*f),
            _ => None,
        })
        .collect();
    let unused: Vec<String> = headers
        .iter()
        .zip(columns)
        .filter(|(h, c)| **c == Column::Ignored && !h.trim().is_empty())
        .map(|(h, _)| {
            let lower = h.trim().to_ascii_lowercase();
            match Field::ALL
                .into_iter()
                .find(|f| !fed.contains(f) && edit_distance(&lower, f.wire_name()) <= 2)
            {
                Some(f) => format!("`{}` (did you mean `{f}`?)", excerpt(h)),
                None => format!("`{}`", excerpt(h)),
            }
        })
        .collect();
    (!unused.is_empty()).then(|| {
        format!(
            "{name}: ignoring column(s) that are not call record fields: {}",
            unused.join(", ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    fn bank_layout() -> Layout {
        let mut map = ColumnMap::default();
        for entry in [
            "caller_number=Agent Line",
            "receiver_number=customer  MOBILE",
            "dynamic_call_reason=Call Reason",
        ] {
            map.insert(entry.parse().unwrap());
        }
        Layout {
            map,
            call_time: Some("scheduled (ist)".to_owned()),
        }
    }

    #[test]
    fn mapped_headers_match_whatever_their_case_and_spacing() {
        let file = headers(&[
            "Customer Mobile",
            "Agent Line",
            "dynamic_label_name",
            "Call Reason",
            "Scheduled (IST)",
            "Branch",
        ]);
        let (columns, warning) = bank_layout().columns("`x.csv`", &file).unwrap();
        assert_eq!(
            columns,
            vec![
                Column::Field(Field::ReceiverNumber),
                Column::Field(Field::CallerNumber),
                Column::Field(Field::DynamicLabelName),
                Column::Field(Field::DynamicCallReason),
                Column::CallTime,
                Column::Ignored,
            ]
        );
        assert_eq!(
            warning.as_deref(),
            Some("`x.csv`: ignoring column(s) that are not call record fields: `Branch`")
        );
    }

    #[test]
    fn an_unknown_mapped_header_lists_the_headers_and_the_closest() {
        let file = headers(&["Customer Mobil", "Agent Line", "Scheduled (IST)"]);
        let err = bank_layout().columns("`x.csv`", &file).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("--map receiver_number names the column `customer  MOBILE`"));
        assert!(text.contains("`Customer Mobil`, `Agent Line`, `Scheduled (IST)`"));
        assert!(text.ends_with("the closest is `Customer Mobil`"), "{text}");
    }

    #[test]
    fn every_missing_required_field_is_named_in_one_message() {
        let file = headers(&["Phone", "When"]);
        let err = Layout::default().columns("`x.csv`", &file).unwrap_err();
        let text = err.to_string();
        for field in [
            "caller_number",
            "receiver_number",
            "starts_at",
            "ends_at",
            "dynamic_label_name",
        ] {
            assert!(text.contains(&format!("`{field}`")), "{field}: {text}");
        }
        assert!(text.contains("--map FIELD=HEADER"));
    }

    #[test]
    fn a_map_entry_names_a_field_and_a_header() {
        assert!("receiver=Phone".parse::<MapEntry>().is_err());
        assert!("receiver_number=".parse::<MapEntry>().is_err());
        assert!("receiver_number".parse::<MapEntry>().is_err());
        let entry: MapEntry = " Receiver_Number = Customer Mobile ".parse().unwrap();
        assert_eq!(entry.field, Field::ReceiverNumber);
        assert_eq!(entry.header, "Customer Mobile");
    }

    #[test]
    fn a_later_entry_for_a_field_replaces_the_earlier() {
        let mut map = ColumnMap::default();
        map.insert("caller_number=A".parse().unwrap());
        map.insert("caller_number=B".parse().unwrap());
        assert_eq!(map.header_of(Field::CallerNumber), Some("B"));
        assert_eq!(map.entries().len(), 1);
    }
}
